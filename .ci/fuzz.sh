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

log "${#targets[@]} target(s), FUZZTIME=$FUZZTIME each"
passed=0
for t in "${targets[@]}"; do
	read -r pkg name dir <<<"$t"
	start=$SECONDS
	if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$output"; then
		passed=$((passed + 1))
		log "ok   $pkg $name ($((SECONDS - start))s)"
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
