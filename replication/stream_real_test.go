package replication_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

// Real-server tests: a workload is written with a superuser connection and
// read back through a logical (or physical) stream, and every change is
// compared with what was written.

const mixedDDL = `
CREATE TABLE t (
	id int PRIMARY KEY, i2 smallint, i8 bigint, num numeric(12,3), f8 float8, b bool,
	txt text, vc varchar(10), by bytea, d date, tstz timestamptz, u uuid, j jsonb, arr int[], big text);
ALTER TABLE t REPLICA IDENTITY FULL;
ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE k (id int PRIMARY KEY, v text);
CREATE PUBLICATION pub FOR TABLE t, k;`

// mixedWorkload is four transactions: inserts, updates, deletes, a truncate.
var mixedWorkload = []string{
	`BEGIN;
	INSERT INTO t VALUES
		(1, 1, 10000000000, 123.456, 1.5, true, 'héllo wörld', 'short', '\xdeadbeef', '2024-02-29',
		 '2024-05-06 07:08:09.123456+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{1,2,3}',
		 repeat(md5('x'), 100)),
		(2, -2, -1, -0.5, 'NaN', false, E'tab\there "quoted" \\ back', '', '\x', '0001-01-01 BC', 'infinity',
		 '00000000-0000-0000-0000-000000000000', '[]', '{}', repeat(md5('y'), 100)),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	INSERT INTO k VALUES (1, 'a'), (2, 'b');
	COMMIT`,
	`BEGIN;
	UPDATE t SET txt = 'changed', i2 = i2 + 1 WHERE id = 2;
	UPDATE k SET id = 20 WHERE id = 2;
	COMMIT`,
	`BEGIN;
	DELETE FROM t WHERE id = 3;
	DELETE FROM k WHERE id = 1;
	COMMIT`,
	`TRUNCATE t, k`,
}

// textRows returns the rows of sql in text format as columns.
func textRows(tb testing.TB, c *conn.Conn, sql string) [][]col {
	tb.Helper()
	var out [][]col
	for _, r := range query(tb, c, sql) {
		row := make([]col, len(r))
		for i, v := range r {
			if v == nil {
				row[i] = col{kind: replication.ColumnNull}
			} else {
				row[i] = col{kind: replication.ColumnText, val: *v}
			}
		}
		out = append(out, row)
	}
	return out
}

// binaryRows returns the rows of sql in binary format (the types' send
// functions, as pgoutput's binary option sends them).
func binaryRows(tb testing.TB, c *conn.Conn, sql string) [][]col {
	tb.Helper()
	r := c.ExecParams(realCtx(tb), sql, nil, nil, nil, []int16{1}).Read()
	require.NoError(tb, r.Err)
	var out [][]col
	for _, vals := range r.Rows {
		row := make([]col, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = col{kind: replication.ColumnNull}
			} else {
				row[i] = col{kind: replication.ColumnBinary, val: string(v)}
			}
		}
		out = append(out, row)
	}
	return out
}

// TestLogicalMixedWorkload decodes inserts, updates, deletes and a truncate
// over many types with each protocol version, in text and binary, and
// compares every value with what the server returns for the same rows.
func TestLogicalMixedWorkload(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, mixedDDL)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	// Each run streams on a connection of its own: PostgreSQL does not
	// reset a logical walsender's end-of-stream state (see the package
	// documentation), so a connection runs one logical stream.
	slot, err := replication.CreateSlot(ctx, rc, slotName(db, "mixed"), replication.CreateSlotOptions{Plugin: "pgoutput", Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)
	assert.Equal(t, slotName(db, "mixed"), slot.SlotName)
	assert.Equal(t, "pgoutput", slot.OutputPlugin)
	assert.Empty(t, slot.SnapshotName)

	const all = "SELECT * FROM t ORDER BY id"
	exec(t, su, mixedWorkload[0])
	text1, bin1 := textRows(t, su, all), binaryRows(t, su, all)
	exec(t, su, mixedWorkload[1])
	text2, bin2 := textRows(t, su, all), binaryRows(t, su, all)
	for _, sql := range mixedWorkload[2:] {
		exec(t, su, sql)
	}
	attrs := query(t, su, "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
	tOID := queryValue(t, su, "SELECT 't'::regclass::oid")

	v, err := replication.ServerVersion(rc)
	require.NoError(t, err)
	runs := []struct {
		name   string
		proto  int
		binary bool
	}{
		{name: "v1 text", proto: 1},
		{name: "v2 binary", proto: 2, binary: true},
		{name: "v3 text", proto: 3},
		{name: "v4 binary", proto: 4, binary: true},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			sc := replConn(t, db, "database")
			if run.proto > 3 && v < 16 {
				// Older servers: the version is refused before anything is
				// sent, and the connection stays usable (no skip in CI).
				_, err := replication.StartLogical(ctx, sc, slotName(db, "mixed"), 0, replication.LogicalOptions{
					ProtoVersion: run.proto, Publications: []string{"pub"}, Binary: run.binary})
				var ve *replication.VersionError
				require.ErrorAs(t, err, &ve, "protocol %d on PostgreSQL %d", run.proto, v)
				assert.Equal(t, 16, ve.Need)
				assert.Equal(t, wire.StateIdle, sc.State())
				_, err = replication.IdentifySystem(ctx, sc)
				require.NoError(t, err, "the connection is still usable")
				return
			}
			st, err := replication.StartLogical(ctx, sc, slotName(db, "mixed"), 0, replication.LogicalOptions{
				ProtoVersion: run.proto, Publications: []string{"pub"}, Binary: run.binary})
			require.NoError(t, err)
			events := collect(t, st, countEnds(4))
			require.NoError(t, st.Close(ctx))
			assert.Equal(t, wire.StateIdle, sc.State())
			require.NoError(t, sc.Close(ctx))

			rows1, rows2 := text1, text2
			if run.binary {
				rows1, rows2 = bin1, bin2
			}
			// Relations are sent before the first change to each table.
			var got []event
			for _, e := range events {
				if e.typ == 'R' {
					rel := e.relation
					switch rel.Name {
					case "t":
						assert.Equal(t, tOID, strconv.FormatUint(uint64(rel.ID), 10))
						assert.Equal(t, "public", rel.Namespace)
						assert.Equal(t, replication.ReplicaIdentityFull, rel.ReplicaIdentity)
						require.Len(t, rel.Columns, len(attrs))
						for i, a := range attrs {
							assert.Equal(t, *a[0], rel.Columns[i].Name)
							assert.Equal(t, *a[1], strconv.FormatUint(uint64(rel.Columns[i].TypeOID), 10))
							assert.True(t, rel.Columns[i].Key(), "REPLICA IDENTITY FULL flags every column")
						}
					case "k":
						require.Len(t, rel.Columns, 2)
						assert.True(t, rel.Columns[0].Key())
						assert.False(t, rel.Columns[1].Key())
					}
					continue
				}
				got = append(got, e)
			}
			require.Equal(t, "BIIIIICBUUCBDDCBTC", types(got), "message sequence")

			kv := func(kind replication.ColumnKind, s string) col {
				if run.binary && kind == replication.ColumnText {
					return col{kind: replication.ColumnBinary, val: s}
				}
				return col{kind: kind, val: s}
			}
			be32 := func(n int) string { return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) }
			str := func(n int, s string) col {
				if run.binary {
					return col{kind: replication.ColumnBinary, val: be32(n)}
				}
				return col{kind: replication.ColumnText, val: s}
			}
			nul := col{kind: replication.ColumnNull}

			// Transaction 1: three rows of t, two of k.
			for i := 0; i < 3; i++ {
				assert.Equal(t, "t", got[1+i].rel)
				assert.Equal(t, rows1[i], got[1+i].new, "insert of row %d", i+1)
			}
			assert.Equal(t, [][]col{{str(1, "1"), kv(replication.ColumnText, "a")}, {str(2, "2"), kv(replication.ColumnText, "b")}},
				[][]col{got[4].new, got[5].new}, "inserts into k")
			assert.NotZero(t, got[6].end)

			// Transaction 2: the whole old row (FULL), the new row with the
			// unchanged TOASTed value not sent; a key-only old tuple of k.
			upd := got[8]
			assert.Equal(t, byte('O'), upd.oldKind)
			assert.Equal(t, rows1[1], upd.old, "old row of the update")
			want := slices.Clone(rows2[1])
			want[len(want)-1] = col{kind: replication.ColumnUnchanged}
			assert.Equal(t, want, upd.new, "new row of the update")
			ku := got[9]
			assert.Equal(t, byte('K'), ku.oldKind)
			assert.Equal(t, []col{str(2, "2"), nul}, ku.old)
			assert.Equal(t, []col{str(20, "20"), kv(replication.ColumnText, "b")}, ku.new)

			// Transaction 3: deletes.
			assert.Equal(t, byte('O'), got[12].oldKind)
			assert.Equal(t, rows2[2], got[12].old, "old row of the delete")
			assert.Equal(t, byte('K'), got[13].oldKind)
			assert.Equal(t, []col{str(1, "1"), nul}, got[13].old)

			// Transaction 4: truncate of both tables.
			assert.ElementsMatch(t, []string{"t", "k"}, got[16].rels)
			assert.Zero(t, got[16].flags)
			// Commits are in order.
			assert.Less(t, uint64(got[6].end), uint64(got[10].end))
			assert.Less(t, uint64(got[14].end), uint64(got[17].end))
		})
	}
	require.NoError(t, replication.DropSlot(ctx, rc, slotName(db, "mixed"), replication.DropSlotOptions{}))
}

// TestLogicalStreamingLargeTransaction streams a transaction larger than
// logical_decoding_work_mem (64kB, set for the walsender at startup) with
// protocol 2: it arrives in several StreamStart…StreamStop blocks before its
// StreamCommit, including a rolled-back subtransaction.
func TestLogicalStreamingLargeTransaction(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, `CREATE TABLE big (id int PRIMARY KEY, pad text); CREATE PUBLICATION pub FOR TABLE big`)
	rc := replConn(t, db, "database", "logical_decoding_work_mem=64kB")
	ctx := realCtx(t)
	assert.Equal(t, "64kB", queryValue(t, rc, "SHOW logical_decoding_work_mem"))
	_, err := replication.CreateSlot(ctx, rc, slotName(db, "stream"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)

	exec(t, su, `BEGIN;
		INSERT INTO big SELECT g, repeat('p', 200) FROM generate_series(1, 3000) g;
		SAVEPOINT s;
		INSERT INTO big SELECT g, repeat('q', 200) FROM generate_series(5001, 5600) g;
		ROLLBACK TO SAVEPOINT s;
		INSERT INTO big VALUES (9999, 'last');
		COMMIT`)

	st, err := replication.StartLogical(ctx, rc, slotName(db, "stream"), 0, replication.LogicalOptions{
		ProtoVersion: 2, Publications: []string{"pub"}, Streaming: replication.StreamingOn})
	require.NoError(t, err)
	events := collect(t, st, countEnds(1))
	require.NoError(t, st.Close(ctx))

	blocks, aborts := 0, 0
	var top uint32
	bySub := map[uint32][]int{}
	inBlock := false
	for _, e := range events {
		switch e.typ {
		case 'B', 'C':
			t.Fatalf("the large transaction was not streamed: %c", e.typ)
		case 'S':
			require.False(t, inBlock)
			inBlock = true
			if blocks == 0 {
				assert.True(t, e.first, "the first block is the first segment")
				top = e.xid
			} else {
				assert.False(t, e.first)
				assert.Equal(t, top, e.xid)
			}
			blocks++
		case 'E':
			inBlock = false
		case 'I':
			require.True(t, inBlock, "changes arrive inside blocks")
			require.NotZero(t, e.xid, "streamed changes carry their transaction ID")
			id, err := strconv.Atoi(e.new[0].val)
			require.NoError(t, err)
			bySub[e.xid] = append(bySub[e.xid], id)
		case 'A':
			assert.Equal(t, top, e.xid)
			assert.NotEqual(t, top, e.subXid, "only the subtransaction aborts")
			delete(bySub, e.subXid)
			aborts++
		case 'c':
			assert.Equal(t, top, e.xid)
		}
	}
	assert.GreaterOrEqual(t, blocks, 2, "the transaction came in several blocks")
	var ids []int
	for _, s := range bySub {
		ids = append(ids, s...)
	}
	slices.Sort(ids)
	want := make([]int, 0, 3001)
	for i := 1; i <= 3000; i++ {
		want = append(want, i)
	}
	want = append(want, 9999)
	assert.Equal(t, want, ids, "the committed rows, without the rolled-back subtransaction")
	t.Logf("%d messages in %d blocks, %d subtransaction aborts", len(events), blocks, aborts)
}

// TestLogicalTwoPhase decodes prepared transactions with protocol 3: one
// committed, one rolled back.
func TestLogicalTwoPhase(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, `CREATE TABLE tp (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE tp`)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	_, err := replication.CreateSlot(ctx, rc, slotName(db, "twophase"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing, TwoPhase: true})
	require.NoError(t, err)
	gidA, gidB := "gid_a_"+db.Name(), "gid_b_"+db.Name()
	exec(t, su, "BEGIN; INSERT INTO tp VALUES (1, 'prepared then committed'); PREPARE TRANSACTION "+replication.QuoteLiteral(gidA))
	exec(t, su, "COMMIT PREPARED "+replication.QuoteLiteral(gidA))
	exec(t, su, "BEGIN; INSERT INTO tp VALUES (2, 'prepared then rolled back'); PREPARE TRANSACTION "+replication.QuoteLiteral(gidB))
	exec(t, su, "ROLLBACK PREPARED "+replication.QuoteLiteral(gidB))

	st, err := replication.StartLogical(ctx, rc, slotName(db, "twophase"), 0, replication.LogicalOptions{
		ProtoVersion: 3, Publications: []string{"pub"}, TwoPhase: true})
	require.NoError(t, err)
	events := collect(t, st, countEnds(4))
	require.NoError(t, st.Close(ctx))
	assert.Equal(t, "bRIPKbIPr", types(events))
	assert.Equal(t, gidA, events[0].gid)
	assert.Equal(t, []col{{replication.ColumnText, "1"}, {replication.ColumnText, "prepared then committed"}}, events[2].new)
	assert.Equal(t, gidA, events[3].gid)
	assert.Equal(t, events[0].xid, events[3].xid)
	assert.Equal(t, gidA, events[4].gid)
	assert.Equal(t, gidB, events[5].gid)
	assert.Equal(t, []col{{replication.ColumnText, "2"}, {replication.ColumnText, "prepared then rolled back"}}, events[6].new)
	assert.Equal(t, gidB, events[8].gid)
}

// TestLogicalMessages decodes pg_logical_emit_message, transactional and
// not.
func TestLogicalMessages(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, `CREATE TABLE m (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE m`)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	_, err := replication.CreateSlot(ctx, rc, slotName(db, "msgs"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)
	exec(t, su, `SELECT pg_logical_emit_message(false, 'pfx', 'outside')`)
	exec(t, su, `BEGIN; INSERT INTO m VALUES (1); SELECT pg_logical_emit_message(true, 'pfx', decode('696e0073696465', 'hex')); COMMIT`)

	st, err := replication.StartLogical(ctx, rc, slotName(db, "msgs"), 0, replication.LogicalOptions{
		Publications: []string{"pub"}, Messages: true})
	require.NoError(t, err)
	events := collect(t, st, countEnds(1))
	require.NoError(t, st.Close(ctx))
	require.Equal(t, "MBRIMC", types(events))
	assert.Equal(t, event{typ: 'M', flags: 0, prefix: "pfx", content: "outside"}, events[0])
	assert.Equal(t, uint8(1), events[4].flags)
	assert.Equal(t, "pfx", events[4].prefix)
	assert.Equal(t, "in\x00side", events[4].content, "binary content is passed as is")
}

// TestLogicalRestart confirms the end of the second of three transactions,
// closes the stream, writes a fourth, and restarts from the slot: exactly
// the third and fourth arrive.
func TestLogicalRestart(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, `CREATE TABLE r (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE r`)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	_, err := replication.CreateSlot(ctx, rc, slotName(db, "restart"), replication.CreateSlotOptions{Plugin: "pgoutput", Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		exec(t, su, fmt.Sprintf("INSERT INTO r VALUES (%d)", i))
	}
	opts := replication.LogicalOptions{ProtoVersion: 1, Publications: []string{"pub"}}
	st, err := replication.StartLogical(ctx, rc, slotName(db, "restart"), 0, opts)
	require.NoError(t, err)
	events := collect(t, st, countEnds(2))
	require.Equal(t, "BRICBIC", types(events))
	second := events[len(events)-1].end
	require.NoError(t, st.Confirm(second))
	require.NoError(t, st.Close(ctx))
	assert.Equal(t, second.String(), queryValue(t, su, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '"+slotName(db, "restart")+"'"),
		"the status update sent by Close moved the slot")
	exec(t, su, "INSERT INTO r VALUES (4)")

	// A new connection, as a restarted consumer would open.
	rc2 := replConn(t, db, "database")
	st, err = replication.StartLogical(ctx, rc2, slotName(db, "restart"), 0, opts)
	require.NoError(t, err)
	events = collect(t, st, countEnds(2))
	require.NoError(t, st.Close(ctx))
	var ids []string
	for _, e := range events {
		if e.typ == 'I' {
			ids = append(ids, e.new[0].val)
		}
	}
	assert.Equal(t, []string{"3", "4"}, ids, "resumed after the confirmed transaction, nothing lost or repeated")
	require.NoError(t, replication.DropSlot(ctx, rc, slotName(db, "restart"), replication.DropSlotOptions{Wait: true}))
}

// TestPhysicalStream streams WAL from a physical slot until past a write,
// with contiguity checked by the stream, and confirms it.
func TestPhysicalStream(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	rc := replConn(t, db, "true")
	ctx := realCtx(t)
	id, err := replication.IdentifySystem(ctx, rc)
	require.NoError(t, err)
	assert.Empty(t, id.DBName, "a physical connection has no database")
	assert.NotEmpty(t, id.SystemID)
	physSlot := slotName(db, "phys")
	slot, err := replication.CreateSlot(ctx, rc, physSlot, replication.CreateSlotOptions{Temporary: true, ReserveWAL: true})
	require.NoError(t, err)
	assert.Empty(t, slot.OutputPlugin)
	info, err := replication.ReadSlot(ctx, rc, physSlot)
	require.NoError(t, err)
	assert.True(t, info.Exists)
	assert.Equal(t, "physical", info.Type)

	exec(t, su, "CREATE TABLE w (id int); INSERT INTO w SELECT generate_series(1, 1000)")
	target, err := replication.ParseLSN(queryValue(t, su, "SELECT pg_current_wal_flush_lsn()"))
	require.NoError(t, err)

	st, err := replication.StartPhysical(ctx, rc, id.XLogPos, replication.PhysicalOptions{Slot: physSlot, Timeline: id.Timeline})
	require.NoError(t, err)
	assert.False(t, st.Logical())
	var bytes int
	for st.Received() < target {
		m, err := st.Next(ctx)
		require.NoError(t, err)
		x := m.(*replication.XLogData)
		require.Equal(t, id.XLogPos+replication.LSN(bytes), x.WALStart, "contiguous WAL")
		bytes += len(x.Data)
	}
	require.NoError(t, st.Confirm(st.Received()))
	require.NoError(t, st.SendStatus(ctx, false))
	require.NoError(t, st.Close(ctx))
	t.Logf("%d bytes of WAL from %v", bytes, id.XLogPos)
	info, err = replication.ReadSlot(ctx, rc, physSlot)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, uint64(info.RestartLSN), uint64(id.XLogPos))
	assert.Equal(t, id.Timeline, info.RestartTimeline)
}

// TestStartReplicationBadSlot: an error from START_REPLICATION leaves the
// connection idle and the next query returns its own result.
func TestStartReplicationBadSlot(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	st, err := replication.StartLogical(ctx, rc, "no_such_slot", 0, replication.LogicalOptions{Publications: []string{"pub"}})
	assert.Nil(t, st)
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42704", pgErr.Code)
	assert.Equal(t, "own result", queryValue(t, rc, "SELECT 'own result'"))
	assert.Equal(t, wire.StateIdle, rc.State())

	pc := replConn(t, db, "true")
	_, err = replication.StartPhysical(ctx, pc, 0x1000000, replication.PhysicalOptions{Slot: "no_such_slot"})
	require.ErrorAs(t, err, &pgErr)
	id, err := replication.IdentifySystem(ctx, pc)
	require.NoError(t, err, "the physical connection runs its next command")
	assert.NotZero(t, id.XLogPos)
}

// TestReplicationCommands runs the commands and checks their results and
// errors on the real server.
func TestReplicationCommands(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	id, err := replication.IdentifySystem(ctx, rc)
	require.NoError(t, err)
	assert.Equal(t, db.Name(), id.DBName)
	assert.Equal(t, int64(1), id.Timeline)
	v, err := replication.ServerVersion(rc)
	require.NoError(t, err)

	lvl, err := replication.Show(ctx, rc, "wal_level")
	require.NoError(t, err)
	assert.Equal(t, "logical", lvl)

	var pgErr *conn.PgError
	res, err := replication.CreateSlot(ctx, rc, slotName(db, "cmd_export"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotExport})
	require.NoError(t, err)
	assert.NotEmpty(t, res.SnapshotName, "an exported snapshot is named")
	assert.NotZero(t, res.ConsistentPoint)

	require.NoError(t, replication.DropSlot(ctx, rc, slotName(db, "cmd_export"), replication.DropSlotOptions{}))
	_, err = replication.CreateSlot(ctx, rc, slotName(db, "cmd_logical"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)
	_, err = replication.ReadSlot(ctx, rc, slotName(db, "cmd_logical"))
	require.ErrorAs(t, err, &pgErr, "READ_REPLICATION_SLOT reads physical slots only")
	_, err = replication.CreateSlot(ctx, rc, slotName(db, "cmd_phys"), replication.CreateSlotOptions{Temporary: true, ReserveWAL: true})
	require.NoError(t, err)
	info, err := replication.ReadSlot(ctx, rc, slotName(db, "cmd_phys"))
	require.NoError(t, err)
	assert.Equal(t, &replication.SlotInfo{Exists: true, Type: "physical", RestartLSN: info.RestartLSN, RestartTimeline: 1}, info)
	assert.NotZero(t, info.RestartLSN, "RESERVE_WAL reserved WAL")
	missing, err := replication.ReadSlot(ctx, rc, slotName(db, "cmd_missing"))
	require.NoError(t, err)
	assert.Equal(t, &replication.SlotInfo{}, missing)

	err = replication.DropSlot(ctx, rc, slotName(db, "cmd_missing"), replication.DropSlotOptions{Wait: true})
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42704", pgErr.Code)

	_, err = replication.ReadTimelineHistory(ctx, rc, 1)
	require.ErrorAs(t, err, &pgErr, "timeline 1 has no history file")

	_, err = replication.CreateSlot(ctx, rc, slotName(db, "cmd_failover"), replication.CreateSlotOptions{Plugin: "pgoutput", Failover: true})
	if v < 17 {
		var ve *replication.VersionError
		require.ErrorAs(t, err, &ve)
		assert.True(t, conn.SafeToRetry(err))
	} else {
		require.NoError(t, err)
		require.NoError(t, replication.DropSlot(ctx, rc, slotName(db, "cmd_failover"), replication.DropSlotOptions{}))
	}
	_, err = replication.CreateSlot(ctx, rc, "UpperCase", replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true})
	require.ErrorAs(t, err, &pgErr, "quoted names keep their case, and the server refuses upper-case slot names")
	assert.Contains(t, pgErr.Message, "UpperCase")
	_, err = replication.CreateSlot(ctx, rc, `a"b`, replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true})
	var ie *wire.InputError
	require.ErrorAs(t, err, &ie, "a double quote cannot be quoted in the replication grammar: refused before sending")
	assert.Equal(t, wire.StateIdle, rc.State())
}

// TestLogicalSecondStreamOnOneConnection documents what a second logical
// stream on one walsender connection does: PostgreSQL does not reset its
// end-of-streaming state, completes the command at once without CopyDone,
// and the stream fails closed with conn.ErrStreamEnded; a server that does
// reset it streams normally. Either way no stale data is returned.
func TestLogicalSecondStreamOnOneConnection(t *testing.T) {
	t.Parallel()
	db := realDB(t)
	su := superConn(t, db)
	exec(t, su, `CREATE TABLE s2 (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE s2`)
	rc := replConn(t, db, "database")
	ctx := realCtx(t)
	_, err := replication.CreateSlot(ctx, rc, slotName(db, "second"), replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing})
	require.NoError(t, err)
	exec(t, su, "INSERT INTO s2 VALUES (1)")
	opts := replication.LogicalOptions{ProtoVersion: 1, Publications: []string{"pub"}}
	st, err := replication.StartLogical(ctx, rc, slotName(db, "second"), 0, opts)
	require.NoError(t, err)
	collect(t, st, countEnds(1))
	require.NoError(t, st.Close(ctx))

	st, err = replication.StartLogical(ctx, rc, slotName(db, "second"), 0, opts)
	require.NoError(t, err)
	m, err := st.Next(ctx)
	if err == nil {
		assert.IsType(t, &replication.Begin{}, m, "a server that resets its state streams the transaction again")
		return
	}
	require.ErrorIs(t, err, conn.ErrStreamEnded)
	assert.ErrorContains(t, err, "each logical stream needs a new connection")
	assert.ErrorIs(t, rc.Err(), conn.ErrClosed)
}
