#!/usr/bin/env bash
# Runs every native Go fuzz target of the module, one after the other, for
# FUZZTIME each (go test -fuzz accepts one target in one package per run).
#
# Usage: .ci/fuzz.sh [package patterns...]       (default ./...)
# Environment:
#   GO           go command (default: go)
#   FUZZTIME     time per target, as go test -fuzztime takes it (default: 30s)
#   FUZZ_DRYRUN  1: list the go test commands it would run, run none of them
#
# Stops at the first failing target and exits non-zero. go test writes the
# failing input to <package dir>/testdata/fuzz/<FuzzTarget>/<hash>; the script
# prints that path. Commit it: it then runs as an ordinary test case.
#
# One failure is not the target's: before Go 1.27, go test -fuzz can report a
# bare "context deadline exceeded" when -fuzztime ends while a worker is
# busy (a race in the fuzzing coordinator, go.dev/issue/75804), with no input
# written. A target that fails exactly that way is run once more, and that
# run decides; any other failure, or a second one, fails.
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ_DRYRUN=${FUZZ_DRYRUN:-0}

cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
	set -- ./...
fi

log() { printf 'fuzz: %s\n' "$*"; }

# Packages that have test files; only those can hold fuzz targets.
listing=$("$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "$@")

targets=() # "importpath FuzzName dir" (dir last: it may hold spaces)
while read -r pkg dir; do
	[ -n "$pkg" ] || continue
	# go test -list compiles the test binary and prints matching names, one a
	# line, then an "ok" line.
	if ! names=$("$GO" test -list '^Fuzz' "$pkg" 2>&1); then
		log "FAIL listing fuzz targets of $pkg:"
		printf '%s\n' "$names"
		exit 1
	fi
	while read -r name; do
		if [[ $name =~ ^Fuzz[A-Za-z0-9_]*$ ]]; then
			targets+=("$pkg $name $dir")
		fi
	done <<<"$names"
done <<<"$listing"

if [ "${#targets[@]}" -eq 0 ]; then
	log "no fuzz targets found in $*"
	exit 0
fi

if [ "$FUZZ_DRYRUN" = 1 ]; then
	log "dry run: ${#targets[@]} target(s), FUZZTIME=$FUZZTIME"
	for t in "${targets[@]}"; do
		read -r pkg name _ <<<"$t"
		printf "%s test -run '^\$' -fuzz '^%s\$' -fuzztime %s %s\n" "$GO" "$name" "$FUZZTIME" "$pkg"
	done
	exit 0
fi

output=$(mktemp)
trap 'rm -f "$output"' EXIT

# run_target fuzzes one target for FUZZTIME, its output in $output.
run_target() {
	"$GO" test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1 | tee "$output"
}

# coordinator_race reports whether the run in $output failed only with the
# coordinator's "context deadline exceeded" (the line right after the
# target's FAIL line) and wrote no input.
coordinator_race() {
	if grep -q 'Failing input written to' "$output"; then
		return 1
	fi
	local reason
	reason=$(sed -n "/^--- FAIL: $1 /{n;p;q}" "$output" | sed 's/^[[:space:]]*//')
	if [ "$reason" = "context deadline exceeded" ]; then
		log "$1: 'context deadline exceeded' with no input written: the go test -fuzz coordinator race (go.dev/issue/75804, fixed in Go 1.27); running it once more"
		return 0
	fi
	return 1
}

log "${#targets[@]} target(s), FUZZTIME=$FUZZTIME each"
passed=0
for t in "${targets[@]}"; do
	read -r pkg name dir <<<"$t"
	start=$SECONDS
	if run_target "$pkg" "$name"; then
		passed=$((passed + 1))
		log "ok   $pkg $name ($((SECONDS - start))s)"
		continue
	fi
	if coordinator_race "$name" && run_target "$pkg" "$name"; then
		passed=$((passed + 1))
		log "ok   $pkg $name ($((SECONDS - start))s, second run: the first hit go.dev/issue/75804)"
		continue
	fi
	log "FAIL $pkg $name ($((SECONDS - start))s)"
	# go test prints "Failing input written to testdata/fuzz/<name>/<hash>",
	# relative to the package directory.
	crasher=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^[:space:]]*\).*/\1/p' "$output" | tail -n 1)
	if [ -n "$crasher" ]; then
		log "crasher written to $dir/$crasher"
		log "reproduce: $GO test -run '^${name}\$/$(basename "$crasher")\$' $pkg"
	else
		log "no crasher was written (build failure, or a seed corpus entry failed); see the output above"
	fi
	log "$passed of ${#targets[@]} target(s) passed before the failure"
	exit 1
done
log "all ${#targets[@]} target(s) passed"
