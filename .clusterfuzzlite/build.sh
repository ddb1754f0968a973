#!/bin/bash -eu
# ClusterFuzzLite build: compiles every native Go fuzz target of the module
# into a libFuzzer binary in $OUT with compile_native_go_fuzzer_v2, the
# current form of the base-builder-go helper compile_native_go_fuzzer
# (both wrap go-118-fuzz-build; v2 also handles helpers in test files).
# It runs in the builder image on the image's copy of the source and builds
# each target in a scratch copy of its own, which it rewrites freely.
#
# TARGETS lists every target as "<package dir> <FuzzName>". The test
# TestClusterFuzzLiteBuildListsEveryTarget (fuzz/targets_test.go) fails when
# a Fuzz function of the module is missing here, or when an entry here no
# longer exists: add new targets to this list.
#
# go-118-fuzz-build turns the file that declares a target into a regular
# source file whose "testing" is a shim, and builds the package without
# `go test`. Two preparations make that possible for this module:
#   1. A target of an external test package (package x_test, which imports
#      x) cannot be built inside x: the external test files of that
#      directory are copied into a package of their own, <dir>/ossfuzzext.
#   2. In the target's package only the file of the target stays a _test.go
#      file; the other test files (helpers, table tests, other targets,
#      export_test.go hooks) become regular files, so that every version of
#      the tool sees them. Each target is built in a copy of its own.
# Helpers a target shares with other files must therefore not take
# testing types (the stateful targets in fuzz/ take a small interface),
# and a target's own file uses only what the shim has (no testing.TB, no
# T.Context); see fuzz/README.md. check.sh (make fuzz-oss, run by CI) runs
# this script without Docker and runs every fuzzer it builds.
#
# Seed corpora: the committed testdata/fuzz/<FuzzName> files use the go test
# fuzz format, which libFuzzer does not read; the fuzzers start from f.Add's
# seeds only in go test, so ClusterFuzzLite builds its own corpus (kept by
# the workflow's storage).

TARGETS=(
	"conn FuzzParseConfig"
	"copy FuzzDecoder"
	"copy FuzzEncodeDecodeRow"
	"fuzz FuzzConnStream"
	"fuzz FuzzPoolSchedule"
	"fuzz FuzzReplicationStream"
	"fuzz FuzzWireDifferential"
	"internal/scram FuzzServerFirst"
	"replication FuzzDecoder"
	"replication FuzzParseHotStandbyFeedback"
	"replication FuzzParseLSN"
	"replication FuzzParsePrimaryKeepalive"
	"replication FuzzParseStandbyStatusUpdate"
	"replication FuzzParseXLogData"
	"replication FuzzStreamState"
	"wire FuzzDecodeAuthentication"
	"wire FuzzDecodeBackendKeyData"
	"wire FuzzDecodeCommandComplete"
	"wire FuzzDecodeCopyBothResponse"
	"wire FuzzDecodeCopyInResponse"
	"wire FuzzDecodeCopyOutResponse"
	"wire FuzzDecodeDataRow"
	"wire FuzzDecodeErrorResponse"
	"wire FuzzDecodeFunctionCallResponse"
	"wire FuzzDecodeNegotiateProtocolVersion"
	"wire FuzzDecodeNoticeResponse"
	"wire FuzzDecodeNotificationResponse"
	"wire FuzzDecodeParameterDescription"
	"wire FuzzDecodeParameterStatus"
	"wire FuzzDecodeReadyForQuery"
	"wire FuzzDecodeRowDescription"
	"wire FuzzFrontendStream"
	"wire FuzzNextRow"
	"wire FuzzReader"
	"wire FuzzScanRow"
	"wire FuzzTracker"
	"wire FuzzValidText"
)

if ! command -v compile_native_go_fuzzer_v2 >/dev/null 2>&1; then
	echo "build.sh: compile_native_go_fuzzer_v2 not found: use gcr.io/oss-fuzz-base/base-builder-go" >&2
	exit 1
fi

SRC_ROOT=${SRC_ROOT:-$SRC/pgstrict}
SCRATCH=${SCRATCH:-$WORK/pgstrict-fuzz}
cd "$SRC_ROOT"
module=$(go list -m)

# The shim the rewritten targets import.
go get github.com/AdamKorcz/go-118-fuzz-build/testing

# package_of prints the package clause of a Go file.
package_of() { sed -n 's/^package \([A-Za-z0-9_]*\).*/\1/p' "$1" | head -n 1; }

# prepare_ext moves the external test package of dir into dir/ossfuzzext
# and prints the new directory.
prepare_ext() {
	local dir=$1 ext=$1/ossfuzzext f
	mkdir "$ext"
	for f in "$dir"/*_test.go; do
		case "$(package_of "$f")" in
		*_test)
			sed '0,/^package [A-Za-z0-9_]*/s//package ossfuzzext/' "$f" >"$ext/$(basename "$f")"
			rm "$f"
			;;
		esac
	done
	echo "$ext"
}

# prepare_pkg turns every test file of dir's package except keep (the file
# of the target being built, if it is in dir) into a regular file. Other
# target files become regular too: they share helpers and constants.
prepare_pkg() {
	local dir=$1 keep=${2:-} f
	for f in "$dir"/*_test.go; do
		[ -e "$f" ] || continue
		[ "$f" = "$keep" ] && continue
		case "$(package_of "$f")" in
		*_test) continue ;; # the external test package: see prepare_ext
		esac
		mv "$f" "${f%_test.go}_ossfuzz.go"
	done
}

for entry in "${TARGETS[@]}"; do
	read -r dir name <<<"$entry"
	# Binary names carry the package (two packages have a FuzzDecoder).
	fuzzer="${dir//\//_}_${name}"
	# Each target is prepared and built in a copy of its own, so that no
	# rewrite of one build leaks into the next.
	work="$SCRATCH/$fuzzer"
	rm -rf "$work"
	mkdir -p "$work"
	(cd "$SRC_ROOT" && tar --exclude=.git -cf - .) | tar -C "$work" -xf -
	(
		cd "$work"
		file=$(grep -El "^func ${name}\([a-z]+ \*testing\.F\)" "$dir"/*_test.go | head -n 1)
		if [ -z "$file" ]; then
			echo "build.sh: $name not found in $dir" >&2
			exit 1
		fi
		case "$(package_of "$file")" in
		*_test)
			# The external tests may use hooks of the package's own test
			# files (export_test.go): make those part of the package.
			prepare_pkg "$dir"
			dir=$(prepare_ext "$dir")
			file="$dir/$(basename "$file")"
			;;
		esac
		prepare_pkg "$dir" "$file"
		compile_native_go_fuzzer_v2 "$module/$dir" "$name" "$fuzzer"
	)
	rm -rf "$work"
done
