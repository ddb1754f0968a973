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

step 'pgstrict replicate: the changes of a logical replication slot as JSON lines'
# A replication connection needs a role with REPLICATION: the sandbox's
# pgstrict_repl (its fixed test password), on the same server and database.
repl_url=$(printf '%s' "$DATABASE_URL" | sed 's#://[^@]*@#://pgstrict_repl:pgstrict-repl-secret@#')
"$bin" exec 'create table demo_cdc (id int primary key, item text, qty int)' \
	'create publication demo_cdc_pub for table demo_cdc' \
	"select slot_name from pg_create_logical_replication_slot('demo_cdc', 'pgoutput')" 2>&1
"$bin" exec "insert into demo_cdc values (1, 'apple', 3), (2, 'pear', null)" \
	'update demo_cdc set qty = 5 where id = 1' \
	'delete from demo_cdc where id = 2' 2>&1
"$bin" replicate --url "$repl_url" --slot demo_cdc --publication demo_cdc_pub --max-changes 4 --timeout 30s 2>&1
# DROP_REPLICATION_SLOT ... WAIT on a replication connection waits until the
# walsender of the run above has released the slot.
case $repl_url in
*\?*) drop_url="$repl_url&replication=database" ;;
*) drop_url="$repl_url?replication=database" ;;
esac
"$bin" exec --url "$drop_url" 'DROP_REPLICATION_SLOT demo_cdc WAIT' 2>&1
"$bin" exec 'drop publication demo_cdc_pub' 'drop table demo_cdc' 2>&1

printf '\ndemo: done\n'
