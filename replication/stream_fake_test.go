package replication_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

// Stream tests against the scripted fake server playing a walsender: every
// fault ends with the connection desynchronized with the typed reason, and
// the status updates, keepalive answers and stream endings are checked on
// the wire.

const fakeTimeout = 5 * time.Second

func fakeCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), fakeTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// walScript accepts the startup like a PostgreSQL 16 server and answers a
// START_REPLICATION with CopyBothResponse.
func walScript() *pgtest.Script {
	return pgtest.NewScript().AcceptStartup().
		ExpectFunc(func(m pgproto3.FrontendMessage) error {
			if q, ok := m.(*pgproto3.Query); !ok || !strings.HasPrefix(q.String, "START_REPLICATION") {
				return errors.New("want START_REPLICATION")
			}
			return nil
		}).
		Send(&pgproto3.CopyBothResponse{})
}

// fakeConnect connects a replication connection of mode to a fake server.
func fakeConnect(tb testing.TB, script *pgtest.Script, mode conn.ReplicationMode) (*conn.Conn, *pgtest.FakeServer) {
	tb.Helper()
	srv := pgtest.NewFakeServer(tb, script, pgtest.WithFakeTransport(pgtest.FakeTCP), pgtest.AllowIncomplete())
	cfg, err := conn.ParseConfig("host=127.0.0.1 port=5432 user=u dbname=d sslmode=disable")
	require.NoError(tb, err)
	cfg.DialFunc = srv.Dial
	cfg.Passfile = ""
	cfg.Replication = mode
	c, err := replication.ConnectConfig(fakeCtx(tb), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, srv
}

// logicalStream starts a logical stream (protocol 4, every option) on a fake
// server running script after walScript.
func logicalStream(tb testing.TB, script *pgtest.Script, opts replication.StreamOptions) (*conn.Conn, *replication.Stream) {
	tb.Helper()
	c, _ := fakeConnect(tb, script, conn.ReplicationLogical)
	st, err := replication.StartLogical(fakeCtx(tb), c, "s", 0x500, replication.LogicalOptions{
		Publications: []string{"p"}, Binary: true, Messages: true, Streaming: replication.StreamingParallel, TwoPhase: true,
		Stream: opts})
	require.NoError(tb, err)
	return c, st
}

func physicalStream(tb testing.TB, script *pgtest.Script, start replication.LSN) (*conn.Conn, *replication.Stream) {
	tb.Helper()
	c, _ := fakeConnect(tb, script, conn.ReplicationPhysical)
	st, err := replication.StartPhysical(fakeCtx(tb), c, start, replication.PhysicalOptions{})
	require.NoError(tb, err)
	return c, st
}

// cd wraps payloads in CopyData messages.
func cd(payloads ...[]byte) []pgproto3.BackendMessage {
	out := make([]pgproto3.BackendMessage, len(payloads))
	for i, p := range payloads {
		out[i] = &pgproto3.CopyData{Data: p}
	}
	return out
}

// w is the XLogData of a logical message at lsn.
func w(lsn replication.LSN, m replication.Message) []byte {
	return (&replication.XLogData{WALStart: lsn, ServerWALEnd: lsn, ServerTime: ts, Data: m.Encode(nil)}).Encode(nil)
}

// wal is a physical XLogData.
func wal(start, end replication.LSN, data string) []byte {
	return (&replication.XLogData{WALStart: start, ServerWALEnd: end, ServerTime: ts, Data: []byte(data)}).Encode(nil)
}

func keepalive(end replication.LSN, reply bool) []byte {
	return (&replication.PrimaryKeepalive{ServerWALEnd: end, ServerTime: ts, ReplyRequested: reply}).Encode(nil)
}

// expectStatus expects a standby status update and checks its positions.
func expectStatus(flushed replication.LSN) func(pgproto3.FrontendMessage) error {
	return func(m pgproto3.FrontendMessage) error {
		d, ok := m.(*pgproto3.CopyData)
		if !ok {
			return fmt.Errorf("want CopyData, got %T", m)
		}
		u, err := replication.ParseStandbyStatusUpdate(d.Data)
		if err != nil {
			return err
		}
		if u.WALFlushed != flushed || u.WALWritten != flushed || u.WALApplied != flushed {
			return fmt.Errorf("status update %+v, want every position %v", u, flushed)
		}
		return nil
	}
}

// requireDesynced checks that err and the connection carry reason, and that
// the stream and the connection refuse every later call.
func requireDesynced(tb testing.TB, c *conn.Conn, st *replication.Stream, err error, reason wire.Reason) {
	tb.Helper()
	require.Error(tb, err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	var pe *wire.ProtocolError
	require.ErrorAs(tb, err, &pe, "%v", err)
	assert.Equal(tb, reason.String(), pe.Reason.String(), "%v", pe)
	assert.Equal(tb, wire.StateDesynced, c.State())
	m, again := st.Next(fakeCtx(tb))
	assert.Nil(tb, m)
	assert.ErrorIs(tb, again, conn.ErrClosed)
	assert.ErrorIs(tb, st.SendStatus(fakeCtx(tb), false), conn.ErrClosed)
	res, err := c.Exec(fakeCtx(tb), "select 1").ReadAll()
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.Empty(tb, res)
}

var (
	fBegin = func(final replication.LSN) replication.Message {
		return &replication.Begin{FinalLSN: final, CommitTime: ts, Xid: 7}
	}
	fRel    = testRel(16384)
	fInsert = &replication.Insert{RelationID: 16384, New: row(txt("1"), txt("a"))}
)

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		physical bool
		// stream is what the server sends after CopyBothResponse.
		stream [][]byte
		// after is sent after stream; the server then expects the
		// client's CopyDone (the client answers the server's CopyDone).
		after  []pgproto3.BackendMessage
		reason wire.Reason
	}{
		{name: "keepalive LSN backwards", stream: [][]byte{keepalive(0x600, false), keepalive(0x5ff, false)}, reason: wire.ReasonLSNBackwards},
		{name: "physical keepalive behind the data", physical: true,
			stream: [][]byte{wal(0x100, 0x200, "abcd"), keepalive(0x102, false)}, reason: wire.ReasonLSNBackwards},
		{name: "physical data backwards", physical: true,
			stream: [][]byte{wal(0x100, 0x200, "abcd"), wal(0x102, 0x200, "x")}, reason: wire.ReasonLSNBackwards},
		{name: "physical data not contiguous", physical: true,
			stream: [][]byte{wal(0x100, 0x200, "abcd"), wal(0x105, 0x200, "x")}, reason: wire.ReasonReplicationState},
		{name: "physical data not at the start position", physical: true,
			stream: [][]byte{wal(0x80, 0x200, "abcd")}, reason: wire.ReasonLSNBackwards},
		{name: "physical WAL end backwards", physical: true,
			stream: [][]byte{wal(0x100, 0x200, "abcd"), wal(0x104, 0x1ff, "x")}, reason: wire.ReasonLSNBackwards},
		{name: "physical WAL end before the data", physical: true,
			stream: [][]byte{wal(0x100, 0x102, "abcd")}, reason: wire.ReasonReplicationState},
		{name: "logical WAL end differs from start", stream: [][]byte{
			(&replication.XLogData{WALStart: 0x600, ServerWALEnd: 0x700, Data: fBegin(0x600).Encode(nil)}).Encode(nil)},
			reason: wire.ReasonReplicationState},
		{name: "change outside a transaction", stream: [][]byte{w(0x600, fInsert)}, reason: wire.ReasonReplicationState},
		{name: "unknown relation", stream: [][]byte{w(0x600, fBegin(0x700)), w(0x610, fInsert)}, reason: wire.ReasonReplicationState},
		{name: "column count mismatch", stream: [][]byte{w(0x600, fBegin(0x700)), w(0, fRel),
			w(0x610, &replication.Insert{RelationID: 16384, New: row(txt("1"))})}, reason: wire.ReasonFieldCountMismatch},
		{name: "nested Begin", stream: [][]byte{w(0x600, fBegin(0x700)), w(0x600, fBegin(0x700))}, reason: wire.ReasonReplicationState},
		{name: "commit flags not 0", stream: [][]byte{w(0x600, fBegin(0x700)),
			w(0x710, &replication.Commit{Flags: 2, CommitLSN: 0x700, EndLSN: 0x710})}, reason: wire.ReasonInvalidValue},
		{name: "WAL position backwards in a transaction", stream: [][]byte{w(0x600, fBegin(0x700)), w(0, fRel), w(0x650, fInsert),
			w(0x640, fInsert)}, reason: wire.ReasonLSNBackwards},
		{name: "truncated message", stream: [][]byte{w(0x600, fBegin(0x700))[:30]}, reason: wire.ReasonMalformed},
		{name: "truncated XLogData header", stream: [][]byte{[]byte("w\x00\x00")}, reason: wire.ReasonMalformed},
		{name: "keepalive too short", stream: [][]byte{keepalive(0x600, false)[:17]}, reason: wire.ReasonMalformed},
		{name: "keepalive too long", stream: [][]byte{append(keepalive(0x600, false), 0)}, reason: wire.ReasonTrailingBytes},
		{name: "unknown sub-type", stream: [][]byte{[]byte("x123")}, reason: wire.ReasonReplicationState},
		{name: "empty CopyData", stream: [][]byte{{}}, reason: wire.ReasonMalformed},
		{name: "second CopyDone from the server", stream: [][]byte{keepalive(0x600, false)},
			after: []pgproto3.BackendMessage{&pgproto3.CopyDone{}, &pgproto3.CopyDone{}}, reason: wire.ReasonCopyState},
		{name: "ReadyForQuery without CommandComplete after CopyDone", stream: [][]byte{keepalive(0x600, false)},
			after: []pgproto3.BackendMessage{&pgproto3.CopyDone{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}}, reason: wire.ReasonCopyState},
		{name: "one CommandComplete after CopyDone", stream: [][]byte{keepalive(0x600, false)},
			after: []pgproto3.BackendMessage{&pgproto3.CopyDone{}, &pgproto3.CommandComplete{CommandTag: []byte("COPY 0")},
				&pgproto3.ReadyForQuery{TxStatus: 'I'}}, reason: wire.ReasonReplicationState},
		{name: "logical stream completed with a result row", stream: [][]byte{keepalive(0x600, false)},
			after: []pgproto3.BackendMessage{&pgproto3.CopyDone{},
				&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25}}},
				&pgproto3.DataRow{Values: [][]byte{[]byte("1")}},
				&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")}, &pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
				&pgproto3.ReadyForQuery{TxStatus: 'I'}}, reason: wire.ReasonReplicationState},
		{name: "wrong completion tags", stream: [][]byte{keepalive(0x600, false)},
			after: []pgproto3.BackendMessage{&pgproto3.CopyDone{},
				&pgproto3.CommandComplete{CommandTag: []byte("START_STREAMING")}, &pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
				&pgproto3.ReadyForQuery{TxStatus: 'I'}}, reason: wire.ReasonReplicationState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := walScript().Send(cd(tc.stream...)...)
			if tc.after != nil {
				script = script.Send(tc.after...).ExpectType(&pgproto3.CopyData{}).Expect(&pgproto3.CopyDone{})
			}
			var c *conn.Conn
			var st *replication.Stream
			if tc.physical {
				c, st = physicalStream(t, script, 0x100)
			} else {
				c, st = logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
			}
			var err error
			for {
				if _, err = st.Next(fakeCtx(t)); err != nil {
					break
				}
			}
			requireDesynced(t, c, st, err, tc.reason)
		})
	}
}

// TestStreamAnswersKeepalive: a keepalive that requests a reply is answered
// with the confirmed positions before Next returns the next message.
func TestStreamAnswersKeepalive(t *testing.T) {
	t.Parallel()
	script := walScript().
		Send(cd(keepalive(0x500, true))...).
		ExpectFunc(expectStatus(0x500)).
		Send(cd(w(0x600, fBegin(0x700)))...)
	_, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	require.NoError(t, st.Confirm(0x500))
	m, err := st.Next(fakeCtx(t))
	require.NoError(t, err)
	assert.IsType(t, &replication.Begin{}, m)
	assert.Equal(t, replication.LSN(0x600), st.XLogData().WALStart)
}

// TestStreamStatusCadence: with no traffic, Next sends a status update when
// the interval has passed, then goes on waiting.
func TestStreamStatusCadence(t *testing.T) {
	t.Parallel()
	script := walScript().
		ExpectFunc(expectStatus(0)).
		ExpectFunc(expectStatus(0)).
		Send(cd(w(0x600, fBegin(0x700)))...)
	_, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: 20 * time.Millisecond})
	m, err := st.Next(fakeCtx(t))
	require.NoError(t, err)
	assert.IsType(t, &replication.Begin{}, m, "returned once the server got two timed status updates")
}

func TestStreamConfirm(t *testing.T) {
	t.Parallel()
	script := walScript().Send(cd(keepalive(0x800, false), w(0x600, fBegin(0x900)))...)
	_, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	assert.Equal(t, replication.LSN(0x500), st.Received())
	require.ErrorIs(t, st.Confirm(0x501), replication.ErrConfirmAhead)
	_, err := st.Next(fakeCtx(t))
	require.NoError(t, err)
	assert.Equal(t, replication.LSN(0x800), st.Received())
	require.NoError(t, st.Confirm(0x700))
	require.NoError(t, st.Confirm(0x600), "an older position is ignored")
	assert.Equal(t, replication.LSN(0x700), st.Confirmed())
	assert.Error(t, st.ConfirmProgress(replication.Progress{Written: 1, Flushed: 2}), "written below flushed")
}

// TestStreamClose ends a stream cleanly: a last status update with the
// confirmed position, CopyDone, the server's completion; then the
// connection runs a query.
func TestStreamClose(t *testing.T) {
	t.Parallel()
	script := walScript().
		Send(cd(w(0x600, fBegin(0x700)), w(0x710, &replication.Commit{CommitLSN: 0x700, EndLSN: 0x710, CommitTime: ts}))...).
		ExpectFunc(expectStatus(0x710)).
		Expect(&pgproto3.CopyDone{}).
		Send(&pgproto3.CopyData{Data: keepalive(0x720, false)}, &pgproto3.CopyDone{},
			&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")},
			&pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}).
		Expect(&pgproto3.Query{String: "IDENTIFY_SYSTEM"}).
		Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("systemid"), DataTypeOID: 25}, {Name: []byte("timeline"), DataTypeOID: 23},
			{Name: []byte("xlogpos"), DataTypeOID: 25}, {Name: []byte("dbname"), DataTypeOID: 25}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte("7123"), []byte("1"), []byte("0/720"), []byte("d")}},
			&pgproto3.CommandComplete{CommandTag: []byte("IDENTIFY_SYSTEM")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'})
	c, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	ctx := fakeCtx(t)
	_, err := st.Next(ctx)
	require.NoError(t, err)
	m, err := st.Next(ctx)
	require.NoError(t, err)
	commit := m.(*replication.Commit)
	require.NoError(t, st.Confirm(commit.EndLSN))
	require.NoError(t, st.Close(ctx))
	require.NoError(t, st.Close(ctx), "Close is idempotent")
	_, err = st.Next(ctx)
	assert.ErrorIs(t, err, replication.ErrStreamClosed)
	assert.Equal(t, wire.StateIdle, c.State())
	id, err := replication.IdentifySystem(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, &replication.IdentifySystemResult{SystemID: "7123", Timeline: 1, XLogPos: 0x720, DBName: "d"}, id)
}

func TestStreamTimelineEnd(t *testing.T) {
	t.Parallel()
	script := walScript().
		Send(cd(wal(0x100, 0x200, "abcd"))...).
		Send(&pgproto3.CopyDone{}).
		ExpectFunc(expectStatus(0x104)).
		Expect(&pgproto3.CopyDone{}).
		Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("next_tli"), DataTypeOID: 20}, {Name: []byte("next_tli_startpos"), DataTypeOID: 25}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte("3"), []byte("0/104")}},
			&pgproto3.CommandComplete{CommandTag: []byte("START_STREAMING")},
			&pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'})
	c, st := physicalStream(t, script, 0x100)
	ctx := fakeCtx(t)
	m, err := st.Next(ctx)
	require.NoError(t, err)
	x := m.(*replication.XLogData)
	assert.Equal(t, "abcd", string(x.Data))
	require.NoError(t, st.Confirm(x.WALStart+replication.LSN(len(x.Data))))
	_, err = st.Next(ctx)
	var te *replication.TimelineEndError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, int64(3), te.Timeline)
	assert.Equal(t, replication.LSN(0x104), te.LSN)
	assert.ErrorIs(t, err, replication.ErrServerDone)
	assert.Equal(t, wire.StateIdle, c.State())
	require.NoError(t, st.Close(ctx))
}

func TestStreamServerShutdown(t *testing.T) {
	t.Parallel()
	script := walScript().
		Send(&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")}).
		Close()
	c, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	_, err := st.Next(fakeCtx(t))
	require.ErrorIs(t, err, conn.ErrStreamEnded)
	assert.Equal(t, wire.StateClosed, c.State())
	_, err = st.Next(fakeCtx(t))
	assert.ErrorIs(t, err, conn.ErrStreamEnded, "the stream stays failed")
}

func TestStreamServerError(t *testing.T) {
	t.Parallel()
	script := walScript().
		Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "XX000", Message: "boom"},
			&pgproto3.ReadyForQuery{TxStatus: 'I'})
	c, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	_, err := st.Next(fakeCtx(t))
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "XX000", pgErr.Code)
	assert.Equal(t, wire.StateIdle, c.State())
	assert.NoError(t, st.Close(fakeCtx(t)), "Close after a failed stream does nothing")
}

// TestStartLogicalErrorThenCommand: an error before CopyBothResponse leaves
// the connection idle with nothing stale: the next command gets its own
// result.
func TestStartLogicalErrorThenCommand(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		ExpectType(&pgproto3.Query{}).
		Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42704", Message: "replication slot \"s\" does not exist"},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}).
		Expect(&pgproto3.Query{String: `SHOW "wal_level"`}).
		Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("wal_level"), DataTypeOID: 25}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte("logical")}},
			&pgproto3.CommandComplete{CommandTag: []byte("SHOW")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'})
	c, _ := fakeConnect(t, script, conn.ReplicationLogical)
	st, err := replication.StartLogical(fakeCtx(t), c, "s", 0, replication.LogicalOptions{Publications: []string{"p"}})
	assert.Nil(t, st)
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42704", pgErr.Code)
	v, err := replication.Show(fakeCtx(t), c, "wal_level")
	require.NoError(t, err)
	assert.Equal(t, "logical", v)
}

// TestStreamContextEndsWhileWaiting: the context only stops the wait.
func TestStreamContextEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	resume := make(chan struct{})
	script := walScript().
		Do(func(ctx context.Context, _ net.Conn) error {
			select {
			case <-resume:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}).
		Send(cd(w(0x600, fBegin(0x700)))...)
	c, st := logicalStream(t, script, replication.StreamOptions{StatusInterval: -1})
	short, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := st.Next(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, wire.StateCopyBoth, c.State())
	close(resume)
	m, err := st.Next(fakeCtx(t))
	require.NoError(t, err)
	assert.IsType(t, &replication.Begin{}, m)
}

func TestConnectConfigNeedsReplicationMode(t *testing.T) {
	t.Parallel()
	cfg, err := conn.ParseConfig("host=127.0.0.1 user=u sslmode=disable")
	require.NoError(t, err)
	_, err = replication.ConnectConfig(t.Context(), cfg)
	assert.ErrorContains(t, err, "replication mode")
	_, err = replication.Connect(t.Context(), "host=127.0.0.1 user=u sslmode=disable")
	assert.ErrorContains(t, err, "replication mode")
}
