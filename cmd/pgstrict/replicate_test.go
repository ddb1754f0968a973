package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/golden"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestReplicateGolden compares the help and the usage errors of replicate
// with testdata/cli/replicate_<name>.golden.
func TestReplicateGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string   // golden file: replicate_<name>.golden
		args []string // command line without the program name
	}{
		{name: "help", args: []string{"replicate", "--help"}},
		{name: "no_slot", args: []string{"replicate", "--publication", "p"}},
		{name: "no_publication", args: []string{"replicate", "--slot", "s"}},
		{name: "bad_streaming", args: []string{"replicate", "--slot", "s", "--publication", "p", "--streaming", "maybe"}},
		{name: "bad_start", args: []string{"replicate", "--slot", "s", "--publication", "p", "--start", "12"}},
		{name: "extra_argument", args: []string{"replicate", "--slot", "s", "--publication", "p", "extra"}},
		{name: "physical_url", args: []string{"replicate", "--slot", "s", "--publication", "p", "--url", "host=127.0.0.1 replication=true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden.Check(t, filepath.Join("testdata", "cli", "replicate_"+tc.name+".golden"), transcript(t, tc.args...))
		})
	}
}

// replicateSetup creates a table, a publication and a logical slot in a
// fresh database, and returns a superuser connection, the replication URL
// and the slot's name (slots are per cluster: the name is the database's).
func replicateSetup(t *testing.T) (*conn.Conn, string, string) {
	t.Helper()
	pgtest.RequireManaged(t)
	db := pgtest.MustDatabase(t)
	slot := db.Name()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	su, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	require.NoError(t, err)
	t.Cleanup(func() {
		// The slot must be inactive before the database is dropped; the
		// walsender of a finished run may still be exiting.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for cctx.Err() == nil {
			res, err := su.Exec(cctx, "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '"+slot+"'").ReadAll()
			if err != nil || string(res[0].Rows[0][0]) == "0" {
				break
			}
			select {
			case <-cctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		su.Exec(cctx, "SELECT pg_drop_replication_slot('"+slot+"')").ReadAll()
		su.Close(cctx)
	})
	_, err = su.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric);
		ALTER TABLE items REPLICA IDENTITY FULL;
		CREATE PUBLICATION cdc_pub FOR TABLE items`).ReadAll()
	require.NoError(t, err)
	_, err = su.Exec(ctx, "SELECT pg_create_logical_replication_slot('"+slot+"', 'pgoutput')").ReadAll()
	require.NoError(t, err)
	return su, db.URL(pgtest.RoleReplication, "sslmode=disable"), slot
}

// TestReplicateStreamsChanges writes a few transactions and reads them back
// as JSON lines; a second run resumes after the confirmed transactions.
func TestReplicateStreamsChanges(t *testing.T) {
	t.Parallel()
	su, url, slot := replicateSetup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, sql := range []string{
		`INSERT INTO items VALUES (1, 'pen', 1.50), (2, 'ink "blue"', NULL)`,
		`UPDATE items SET price = 2.00 WHERE id = 1`,
		`DELETE FROM items WHERE id = 2`,
	} {
		_, err := su.Exec(ctx, sql).ReadAll()
		require.NoError(t, err)
	}
	r := runWith(ctx, nil, "replicate", "--url", url, "--slot", slot, "--publication", "cdc_pub", "--max-changes", "3", "--timeout", "20s")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	var kinds []string
	for _, m := range lines {
		kinds = append(kinds, m["kind"].(string))
	}
	require.Equal(t, []string{"begin", "insert", "insert", "commit", "begin", "update", "commit"}, kinds,
		"stops at the end of the transaction of the third change")
	assert.Equal(t, map[string]any{"id": "1", "name": "pen", "price": "1.50"}, lines[1]["new"])
	assert.Equal(t, map[string]any{"id": "2", "name": `ink "blue"`, "price": nil}, lines[2]["new"])
	assert.Equal(t, "public", lines[1]["schema"])
	assert.Equal(t, "items", lines[1]["table"])
	assert.Equal(t, map[string]any{"id": "1", "name": "pen", "price": "1.50"}, lines[5]["old"])
	assert.Equal(t, map[string]any{"id": "1", "name": "pen", "price": "2.00"}, lines[5]["new"])
	assert.Contains(t, r.stderr, "replicate: done: 3 changes in 2 transactions, confirmed "+lines[6]["end_lsn"].(string))

	// The next run starts after the confirmed transactions.
	r = runWith(ctx, nil, "replicate", "--url", url, "--slot", slot, "--publication", "cdc_pub", "--max-changes", "1", "--timeout", "20s")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	first := strings.SplitN(r.stdout, "\n", 3)
	require.Len(t, first, 3)
	var del map[string]any
	require.NoError(t, json.Unmarshal([]byte(first[1]), &del))
	assert.Equal(t, "delete", del["kind"])
	assert.Equal(t, map[string]any{"id": "2", "name": `ink "blue"`, "price": nil}, del["old"])
}

// TestReplicateTimeout: with nothing to stream, --timeout ends the run
// cleanly.
func TestReplicateTimeout(t *testing.T) {
	t.Parallel()
	_, url, slot := replicateSetup(t)
	r := runWith(t.Context(), nil, "replicate", "--url", url, "--slot", slot, "--publication", "cdc_pub", "--timeout", "1s")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "replicate: done: 0 changes in 0 transactions")
}

// TestReplicateBadSlot: a slot that does not exist is a runtime failure.
func TestReplicateBadSlot(t *testing.T) {
	t.Parallel()
	_, url, _ := replicateSetup(t)
	r := runWith(t.Context(), nil, "replicate", "--url", url, "--slot", "nope", "--publication", "cdc_pub", "--timeout", "10s")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `replication slot "nope" does not exist`)
}
