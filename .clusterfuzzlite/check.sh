#!/usr/bin/env bash
# Checks the ClusterFuzzLite build without Docker: runs build.sh the way the
# builder image (gcr.io/oss-fuzz-base/base-builder-go) runs it, on a copy of
# this work tree, then runs every fuzzer it built for FUZZ_OSS_TIME seconds
# and fails unless each one starts, executes inputs and finds nothing.
#
# What stands in for the image: clang++ with libFuzzer (Debian's clang; the
# image has its own), go-118-fuzz-build installed from the Go module proxy
# at the version below, and a compile_native_go_fuzzer_v2 that performs the
# two steps of the image's helper (oss-fuzz infra/base-images/base-builder/
# go_utils.sh, build_native_go_fuzzer): go-118-fuzz-build_v2 -tags gofuzz
# -o <fuzzer>.a -func <Fuzz> <package dir>, then $CXX $CXXFLAGS
# $LIB_FUZZING_ENGINE <fuzzer>.a -o $OUT/<fuzzer>. The image builds only
# the libFuzzer engine with this; sanitizers do not apply to Go code.
#
# The tool version matters: the one here (the newest of the module on the
# proxy) compiles a target's file against its own "testing" shim, which has
# T and F but no TB, T.Context and the like, so it is the stricter of the two
# the image may use (its pinned "v2" checkout overlays the real testing
# package instead). A target that builds here builds there.
#
# Environment: FUZZ_OSS_TIME (seconds per fuzzer, default 3), FUZZ_OSS_ONLY
# (an extended regular expression: build and run only the fuzzers whose
# name, <package>_<Fuzz>, matches), GO (default go).
#
# check.sh --probe only checks that clang++ links a libFuzzer binary (exit
# status 0 or 1, no output): .ci/run asks it whether to install clang.
set -euo pipefail

tool_version=v0.0.0-20250520111509-a70c2aa677fa
seconds=${FUZZ_OSS_TIME:-3}
only=${FUZZ_OSS_ONLY:-}
GO=${GO:-go}

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/src/pgstrict" "$tmp/work" "$tmp/out"

# clang++ that links libFuzzer.
: >"$tmp/probe.err"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >"$tmp/probe.cc"
if ! command -v clang++ >/dev/null 2>&1 ||
	! clang++ -fsanitize=fuzzer "$tmp/probe.cc" -o "$tmp/probe" 2>"$tmp/probe.err"; then
	[ "${1:-}" = --probe ] && exit 1
	echo "check.sh: clang++ cannot link libFuzzer (Debian: apt-get install clang libclang-rt-dev):" >&2
	cat "$tmp/probe.err" >&2
	exit 1
fi
[ "${1:-}" = --probe ] && exit 0

GOBIN="$tmp/bin" GOFLAGS= "$GO" install "github.com/AdamKorcz/go-118-fuzz-build@$tool_version"
ln -s go-118-fuzz-build "$tmp/bin/go-118-fuzz-build_v2"
cat >"$tmp/bin/compile_native_go_fuzzer_v2" <<'EOF'
#!/usr/bin/env bash
# Stand-in for the builder image's helper: <package path> <Fuzz> <fuzzer>.
set -euo pipefail
dir=$(go list -tags gofuzz -f '{{.Dir}}' "$1")
go-118-fuzz-build_v2 -tags gofuzz -o "$3.a" -func "$2" "$dir"
$CXX $CXXFLAGS $LIB_FUZZING_ENGINE "$3.a" -o "$OUT/$3"
EOF
chmod +x "$tmp/bin/compile_native_go_fuzzer_v2"

# The image's copy of the source (Dockerfile: COPY . $SRC/pgstrict), which
# build.sh changes (go get, rewritten test files); this tree stays as it is.
(cd "$root" && tar --exclude=.git -cf - .) | tar -C "$tmp/src/pgstrict" -xf -
build="$tmp/src/pgstrict/.clusterfuzzlite/build.sh"
if [ -n "$only" ]; then
	# Keep the TARGETS entries whose fuzzer name matches.
	awk -v re="$only" '
		/^TARGETS=\(/ { in_list = 1; print; next }
		in_list && /^\)/ { in_list = 0 }
		in_list { split($0, f, "\""); split(f[2], p, " "); name = p[1] "_" p[2]; gsub("/", "_", name); if (name !~ re) next }
		{ print }' "$build" >"$tmp/build.sh"
	build="$tmp/build.sh"
fi

echo "check.sh: building the fuzzers (build.sh)"
env PATH="$tmp/bin:$PATH" GOFLAGS= SRC="$tmp/src" WORK="$tmp/work" OUT="$tmp/out" \
	CXX=clang++ CXXFLAGS= LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
	bash -eu "$build"

# build.sh adds the shim with a plain go get, which takes the newest
# version: it must be the pinned tool's, or the fuzzers were built against
# a shim this check did not mean to test.
shim=$(cd "$tmp/src/pgstrict" && "$GO" list -m -f '{{.Version}}' github.com/AdamKorcz/go-118-fuzz-build)
if [ "$shim" != "$tool_version" ]; then
	echo "check.sh: build.sh took go-118-fuzz-build $shim for the testing shim, the tool is $tool_version: set tool_version in $0 to $shim" >&2
	exit 1
fi

shopt -s nullglob
fuzzers=("$tmp"/out/*)
if [ "${#fuzzers[@]}" -eq 0 ]; then
	echo "check.sh: build.sh built no fuzzer" >&2
	exit 1
fi
echo "check.sh: running ${#fuzzers[@]} fuzzers for ${seconds}s each"
failed=0
for f in "${fuzzers[@]}"; do
	name=$(basename "$f")
	log="$tmp/$name.log"
	if (cd "$tmp" && "$f" -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1); then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		if [ -z "$execs" ] || [ "$execs" -eq 0 ]; then
			echo "FAIL $name: executed no input" >&2
			cat "$log" >&2
			failed=1
			continue
		fi
		printf 'ok   %-48s %10s execs in %ss\n' "$name" "$execs" "$seconds"
	else
		echo "FAIL $name:" >&2
		tail -n 40 "$log" >&2
		failed=1
	fi
done
exit "$failed"
