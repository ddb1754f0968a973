#!/bin/sh
# A short tour of "pgstrict exec" against the server named by DATABASE_URL.
# make demo runs it through pgsandbox, which starts a throwaway PostgreSQL
# and sets DATABASE_URL.
#
# Usage: .ci/demo.sh
# Environment:
#   DATABASE_URL  the server to use (required)
#   GO            go command (default: go)
#
# Exits non-zero if a step does not end as it should. The server-error step
# is expected to exit 1.
set -eu

GO=${GO:-go}
: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"

cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/pgstrict
"$GO" build -o "$bin" ./cmd/pgstrict

step() { printf '\n== %s\n' "$*"; }

# Each step sends stderr (diagnostics, the trace) to stdout, so that the two
# stay in order when the output is captured.

step 'pgstrict exec: a query with a few rows'
"$bin" exec "select n, n * n as square, repeat('*', n) as bar, case when n % 2 = 0 then 'even' end as parity from generate_series(1, 4) as n" 2>&1

step 'pgstrict exec: a server error with its position (exit 1 expected)'
status=0
"$bin" exec 'select * from nosuchtable' 2>&1 || status=$?
if [ "$status" -ne 1 ]; then
	echo "demo: expected exit status 1 from the server error, got $status" >&2
	exit 1
fi
echo "(exit status $status, as expected)"

step 'pgstrict exec --trace: the protocol messages of select 1'
"$bin" exec --trace 'select 1' 2>&1

step 'pgstrict exec --json: one object per row, then the command tag'
"$bin" exec --json "select n as id, 'item ' || n as name, nullif(n, 2) as maybe from generate_series(1, 3) as n" 2>&1

printf '\ndemo: done\n'
