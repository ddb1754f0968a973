//go:build record

package fuzz

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/replication"
)

// record turns on TestRecordSeeds: go test ./fuzz -run TestRecordSeeds -record.
var record = flag.Bool("record", false, "record the seed corpora of the stateful fuzz targets from a real server")

// recordedSessions are the sessions the recorder runs against the real
// server, by name. Every operation of session_test.go appears in one.
var recordedSessions = []struct {
	// name names the seed files (rec-<name>).
	name string
	// ops is the session, one op a byte (see decodeOp).
	ops []byte
}{
	{name: "simple", ops: []byte{
		encodeOp(opExec, false, 0), encodeOp(opExec, false, 1), encodeOp(opExecParams, false, 0),
		encodeOp(opExecParams, false, 1), encodeOp(opPartial, false, 1), encodeOp(opBusy, false, 0),
	}},
	{name: "extended", ops: []byte{
		encodeOp(opPrepare, false, 0), encodeOp(opExecPrepared, false, 0), encodeOp(opExecPrepared, false, 1),
		encodeOp(opPrepare, false, 1), encodeOp(opExecPrepared, false, 1), encodeOp(opDeallocate, false, 0),
		encodeOp(opDeallocate, false, 1),
	}},
	{name: "pipeline", ops: []byte{
		encodeOp(opPipeline, false, 0), encodeOp(opPipeline, false, 1), encodeOp(opPipeline, false, 2),
		encodeOp(opPipeline, false, 3), encodeOp(opPipeline, false, 4), encodeOp(opPipeline, false, 5),
		encodeOp(opPipeline, false, 6), encodeOp(opPipeline, false, 7),
	}},
	{name: "copy", ops: []byte{
		encodeOp(opExec, false, 3), encodeOp(opCopyIn, false, 0), encodeOp(opCopyIn, false, 1),
		encodeOp(opCopyOut, false, 0), encodeOp(opCopyOut, false, 1), encodeOp(opCopyOut, false, 2),
		encodeOp(opCopyOut, false, 3), encodeOp(opCopyOut, false, 4), encodeOp(opExec, false, 7),
	}},
	{name: "async", ops: []byte{
		encodeOp(opExec, false, 2), encodeOp(opWait, false, 0), encodeOp(opExec, false, 6), encodeOp(opExec, false, 0),
		encodeOp(opExec, false, 4), encodeOp(opExec, false, 6), encodeOp(opExec, false, 5), encodeOp(opCancel, false, 0),
		encodeOp(opExec, false, 0),
	}},
}

// TestRecordSeeds records conversations with the throwaway server and
// writes them as seed corpora of the stateful targets (run it with
// -record; see README.md). For each session: the connection-stream target
// gets the session with the server's bytes after the startup (paced, and
// once cut in small writes), the wire differential target the whole server
// stream. A logical replication stream of a small workload becomes a seed
// of the replication-stream target.
//
// (This file names no target: ClusterFuzzLite's build helper finds a
// target's file by searching the package for its name.)
func TestRecordSeeds(t *testing.T) {
	if !*record {
		t.Skip("the recorder runs with -record")
	}
	pgtest.RequireManaged(t)
	db := pgtest.MustDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), sessionDeadline)
	defer cancel()
	for _, s := range recordedSessions {
		tee := &teeDialer{}
		cfg, err := conn.ParseConfig(db.URL(pgtest.RoleTrust, "sslmode=disable"))
		require.NoError(t, err)
		cfg.DialFunc = tee.Dial
		cfg.Limits = sessionLimits
		c, err := conn.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		startup := len(tee.bytes())
		k := &streamCheck{r: t}
		runSession(c, s.ops, k, func(string) {})
		require.NoError(t, c.Close(ctx))
		all := tee.bytes()
		stream := all[startup:]
		t.Logf("%s: %d bytes after a %d-byte startup", s.name, len(stream), startup)
		writeSeed(t, connStreamTarget, "rec-"+s.name, append([]byte{0, 0}, s.ops...), stream)
		writeSeed(t, connStreamTarget, "rec-"+s.name+"-split", append([]byte{0, 5}, s.ops...), stream)
		writeSeed(t, wireDifferentialTarget, "rec-"+s.name, all)
	}
	recordLogical(t, ctx, db)
}

// recordLogical records a logical replication stream (pgoutput protocol 3,
// every option) of a small workload.
func recordLogical(t *testing.T, ctx context.Context, db *pgtest.Database) {
	su, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	require.NoError(t, err)
	defer su.Close(ctx)
	run := func(sql string) {
		t.Helper()
		_, err := su.Exec(ctx, sql).ReadAll()
		require.NoError(t, err, sql)
	}
	run("create table t (id int primary key, v text, n numeric); create publication pub for table t")

	tee := &teeDialer{}
	cfg, err := conn.ParseConfig(db.URL(pgtest.RoleReplication, "replication=database", "sslmode=disable"))
	require.NoError(t, err)
	cfg.DialFunc = tee.Dial
	rc, err := replication.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer rc.Close(ctx)
	slot := "fuzz_record_" + db.Name()[len(db.Name())-8:]
	_, err = replication.CreateSlot(ctx, rc, slot, replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing, TwoPhase: true})
	require.NoError(t, err)
	run("insert into t values (1, 'one', 1.5), (2, null, -2)")
	run("begin; update t set v = 'uno' where id = 1; delete from t where id = 2; commit")
	run("select pg_logical_emit_message(true, 'fuzz', 'message')")
	run("truncate t")
	mark := len(tee.bytes())
	st, err := replication.StartLogical(ctx, rc, slot, 0, replication.LogicalOptions{ProtoVersion: 3,
		Publications: []string{"pub"}, Binary: true, Messages: true, Streaming: replication.StreamingOn, TwoPhase: true,
		Stream: replication.StreamOptions{StatusInterval: -1}})
	require.NoError(t, err)
	commits := 0
	for commits < 4 {
		m, err := st.Next(ctx)
		require.NoError(t, err)
		if _, ok := m.(*replication.Commit); ok {
			commits++
		}
	}
	require.NoError(t, st.Close(ctx))
	records := copyDataRecords(tee.bytes()[mark:])
	require.NotEmpty(t, records)
	t.Logf("logical stream: %d bytes of records", len(records))
	writeSeed(t, replicationStreamTarget, "rec-logical", byte(replLogical|2<<replProtoShift), uint64(0), records)
	writeSeed(t, replicationStreamTarget, "rec-logical-complete", byte(replLogical|replComplete|2<<replProtoShift), uint64(0), records)
}

// copyDataRecords extracts the CopyData payloads the server sent between
// CopyBothResponse and CopyDone, as records of the replication-stream
// target.
func copyDataRecords(stream []byte) []byte {
	var out []byte
	started := false
	for len(stream) >= 5 {
		typ := stream[0]
		n := int(binary.BigEndian.Uint32(stream[1:]))
		if n < 4 || n+1 > len(stream) {
			break
		}
		body := stream[5 : 1+n]
		stream = stream[1+n:]
		switch {
		case typ == 'W':
			started = true
		case !started:
		case typ == 'd' && len(body) <= 0xffff:
			out = append(out, 0, byte(len(body)>>8), byte(len(body)))
			out = append(out, body...)
		case typ == 'c':
			return out
		}
	}
	return out
}

// writeSeed writes one seed file in the go test fuzz v1 format to
// testdata/fuzz/<target>/<name>.
func writeSeed(t *testing.T, target, name string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		default:
			t.Fatalf("writeSeed: unsupported argument type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644))
}

// teeDialer dials TCP and keeps a copy of every byte the server sends on
// the first connection (later dials are cancel requests).
type teeDialer struct {
	d net.Dialer

	mu    sync.Mutex // guards following fields
	dials int
	buf   bytes.Buffer
}

func (td *teeDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := td.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	td.mu.Lock()
	defer td.mu.Unlock()
	td.dials++
	if td.dials > 1 {
		return nc, nil
	}
	return &teeConn{Conn: nc, td: td}, nil
}

func (td *teeDialer) bytes() []byte {
	td.mu.Lock()
	defer td.mu.Unlock()
	return bytes.Clone(td.buf.Bytes())
}

// teeConn copies what it reads into its dialer's buffer.
type teeConn struct {
	net.Conn
	td *teeDialer
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.td.mu.Lock()
		c.td.buf.Write(p[:n])
		c.td.mu.Unlock()
	}
	return n, err
}
