package conn_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// Tests of COPY BOTH (StartCopyBoth, CopyBoth, Desync): the fake server plays
// a walsender (§6.3 of shared/reference/protocol.md); the last tests run
// against the real server.

const cbTimeout = 5 * time.Second

func cbCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), cbTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// cbConnect connects a replication connection (replication=database) to a
// fake server running script, which starts with AcceptStartup.
func cbConnect(tb testing.TB, script *pgtest.Script, mode conn.ReplicationMode) (*conn.Conn, *pgtest.FakeServer) {
	tb.Helper()
	srv := pgtest.NewFakeServer(tb, script, pgtest.WithFakeTransport(pgtest.FakeTCP), pgtest.AllowIncomplete())
	cfg, err := conn.ParseConfig("host=127.0.0.1 port=5432 user=u dbname=d sslmode=disable")
	require.NoError(tb, err)
	cfg.DialFunc = srv.Dial
	cfg.Passfile = ""
	cfg.Replication = mode
	c, err := conn.ConnectConfig(cbCtx(tb), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, srv
}

const cbStart = "START_REPLICATION SLOT s LOGICAL 0/0"

// cbQueryResult is the reply to "select 1" with value v.
func cbQueryResult(v string) []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("x"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(v)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
}

// cbRequireValue runs sql, which the fake answers with cbQueryResult, and
// checks that the connection returns exactly that value.
func cbRequireValue(tb testing.TB, c *conn.Conn, sql, want string) {
	tb.Helper()
	res, err := c.Exec(cbCtx(tb), sql).ReadAll()
	require.NoError(tb, err)
	require.Len(tb, res, 1)
	assert.Equal(tb, [][][]byte{{[]byte(want)}}, res[0].Rows)
	assert.Equal(tb, wire.StateIdle, c.State())
}

// cbRequireDesynced checks that err and the connection carry a protocol
// error with reason, and that the connection is unusable.
func cbRequireDesynced(tb testing.TB, c *conn.Conn, err error, reason wire.Reason) {
	tb.Helper()
	require.Error(tb, err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	var pe *wire.ProtocolError
	require.ErrorAs(tb, err, &pe)
	assert.Equal(tb, reason.String(), pe.Reason.String(), "%v", pe)
	assert.Equal(tb, wire.StateDesynced, c.State())
	res, err := c.Exec(cbCtx(tb), "select 1").ReadAll()
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.Empty(tb, res)
}

func TestStartCopyBothNeedsReplicationConnection(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationNone)
	cb, err := c.StartCopyBoth(cbCtx(t), cbStart)
	require.ErrorIs(t, err, conn.ErrNotReplication)
	assert.Nil(t, cb)
	assert.True(t, conn.SafeToRetry(err))
	assert.Equal(t, wire.StateIdle, c.State())
}

// TestStartCopyBothErrorThenQuery is pglogrepl's stale ReadyForQuery bug:
// an error before CopyBothResponse must be read up to its ReadyForQuery, so
// that the next query gets its own result.
func TestStartCopyBothErrorThenQuery(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42704",
			Message: `replication slot "s" does not exist`}, &pgproto3.ReadyForQuery{TxStatus: 'I'}).
		Expect(&pgproto3.Query{String: "select 'second'"}).
		Send(cbQueryResult("second")...).
		ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	cb, err := c.StartCopyBoth(cbCtx(t), cbStart)
	require.Nil(t, cb)
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42704", pgErr.Code)
	assert.Equal(t, wire.StateIdle, c.State())
	assert.False(t, c.IsBusy())
	cbRequireValue(t, c, "select 'second'", "second")
}

func TestStartCopyBothNotCopyBoth(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: "IDENTIFY_SYSTEM"}).
		Send(cbQueryResult("ignored")...).
		Expect(&pgproto3.Query{String: "select 'next'"}).
		Send(cbQueryResult("next")...).
		ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	_, err := c.StartCopyBoth(cbCtx(t), "IDENTIFY_SYSTEM")
	require.ErrorIs(t, err, conn.ErrNotCopyBoth)
	cbRequireValue(t, c, "select 'next'", "next")
}

// TestCopyBothStreamAndFinish runs a whole logical stream: data both ways,
// the client's CopyDone, data still in flight, the server's CopyDone, the
// two CommandCompletes and ReadyForQuery.
func TestCopyBothStreamAndFinish(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.CopyBothResponse{}, &pgproto3.CopyData{Data: []byte("one")}, &pgproto3.CopyData{Data: []byte("two")}).
		Expect(&pgproto3.CopyData{Data: []byte("status")}).
		Expect(&pgproto3.CopyDone{}).
		Send(&pgproto3.CopyData{Data: []byte("in flight")}, &pgproto3.CopyDone{},
			// A walsender sends a keepalive after its CopyDone when the
			// client's last status is behind its send position.
			&pgproto3.CopyData{Data: []byte("keepalive after CopyDone")},
			&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")},
			&pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}).
		Expect(&pgproto3.Query{String: "select 'after'"}).
		Send(cbQueryResult("after")...).
		ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	ctx := cbCtx(t)
	cb, err := c.StartCopyBoth(ctx, cbStart)
	require.NoError(t, err)
	assert.Equal(t, wire.StateCopyBoth, c.State())
	assert.True(t, c.IsBusy())
	_, err = c.Exec(ctx, "select 1").ReadAll()
	assert.ErrorIs(t, err, conn.ErrBusy, "the connection is busy while COPY BOTH is open")

	for _, want := range []string{"one", "two"} {
		got, err := cb.Receive(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
	require.NoError(t, cb.Send(ctx, []byte("status")))
	require.NoError(t, cb.CloseSend(ctx))
	assert.True(t, cb.ClientDone())
	assert.ErrorContains(t, cb.Send(ctx, []byte("late")), "not copying", "no CopyData after the client's CopyDone")

	res, err := cb.Finish(ctx)
	require.NoError(t, err)
	assert.Nil(t, res.Row)
	require.Len(t, res.Tags, 2)
	assert.Equal(t, "COPY 0", res.Tags[0].String())
	assert.Equal(t, "START_REPLICATION", res.Tags[1].String())
	assert.False(t, c.IsBusy())
	_, err = cb.Receive(ctx)
	assert.Error(t, err, "the CopyBoth is over")
	cbRequireValue(t, c, "select 'after'", "after")
}

// TestCopyBothTimelineEnd is a physical stream at the end of a historic
// timeline: the server's CopyDone comes first and a one-row result set
// precedes the CommandCompletes.
func TestCopyBothTimelineEnd(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: "START_REPLICATION 0/3000000 TIMELINE 1"}).
		Send(&pgproto3.CopyBothResponse{}, &pgproto3.CopyData{Data: []byte("wal")}, &pgproto3.CopyDone{}).
		Expect(&pgproto3.CopyDone{}).
		Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("next_tli"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1},
			{Name: []byte("next_tli_startpos"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte("2"), []byte("0/3000100")}},
			&pgproto3.CommandComplete{CommandTag: []byte("START_STREAMING")},
			&pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}).
		ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationPhysical)
	ctx := cbCtx(t)
	cb, err := c.StartCopyBoth(ctx, "START_REPLICATION 0/3000000 TIMELINE 1")
	require.NoError(t, err)
	got, err := cb.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "wal", string(got))
	_, err = cb.Receive(ctx)
	require.ErrorIs(t, err, conn.ErrCopyDone)
	assert.True(t, cb.ServerDone())
	_, err = cb.Receive(ctx)
	require.ErrorIs(t, err, conn.ErrCopyDone, "ErrCopyDone is repeated")
	res, err := cb.Finish(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"next_tli", "next_tli_startpos"}, res.Fields)
	assert.Equal(t, [][]byte{[]byte("2"), []byte("0/3000100")}, res.Row)
	assert.Equal(t, "START_STREAMING", res.Tags[0].String())
	assert.Equal(t, wire.StateIdle, c.State())
}

func TestCopyBothServerShutdown(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.CopyBothResponse{}, &pgproto3.CopyData{Data: []byte("last")},
			&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")}).
		Close()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	ctx := cbCtx(t)
	cb, err := c.StartCopyBoth(ctx, cbStart)
	require.NoError(t, err)
	got, err := cb.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "last", string(got))
	_, err = cb.Receive(ctx)
	require.ErrorIs(t, err, conn.ErrStreamEnded)
	assert.ErrorIs(t, err, conn.ErrClosed)
	assert.Equal(t, wire.StateClosed, c.State())
	_, err = c.Exec(ctx, "select 1").ReadAll()
	assert.ErrorIs(t, err, conn.ErrClosed)
}

func TestCopyBothErrorMidStream(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.CopyBothResponse{}, &pgproto3.CopyData{Data: []byte("x")},
			&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "57014", Message: "canceling statement due to user request"},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}).
		Expect(&pgproto3.Query{String: "select 'own'"}).
		Send(cbQueryResult("own")...).
		ExpectTerminate()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	ctx := cbCtx(t)
	cb, err := c.StartCopyBoth(ctx, cbStart)
	require.NoError(t, err)
	_, err = cb.Receive(ctx)
	require.NoError(t, err)
	_, err = cb.Receive(ctx)
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "57014", pgErr.Code)
	assert.False(t, c.IsBusy())
	cbRequireValue(t, c, "select 'own'", "own")
}

// TestCopyBothViolations checks that what is not legal in COPY BOTH or in
// its completion desynchronizes the connection.
func TestCopyBothViolations(t *testing.T) {
	t.Parallel()
	done := func(msgs ...pgproto3.BackendMessage) []pgproto3.BackendMessage {
		return append([]pgproto3.BackendMessage{&pgproto3.CopyDone{}}, msgs...)
	}
	tests := []struct {
		name string
		// stream is what the server sends after CopyBothResponse; the
		// client receives until an error.
		stream []pgproto3.BackendMessage
		// finish: the violation shows in Finish, after the server's
		// CopyDone (the client ends its half, then reads).
		finish bool
		// reason is the expected desync reason.
		reason wire.Reason
	}{
		{name: "second CopyDone", finish: true, stream: done(&pgproto3.CopyDone{}), reason: wire.ReasonCopyState},
		{name: "ReadyForQuery without CommandComplete", finish: true, stream: done(&pgproto3.ReadyForQuery{TxStatus: 'I'}),
			reason: wire.ReasonCopyState},
		{name: "DataRow while streaming", stream: []pgproto3.BackendMessage{&pgproto3.DataRow{}}, reason: wire.ReasonCopyState},
		{name: "ReadyForQuery while streaming", stream: []pgproto3.BackendMessage{&pgproto3.ReadyForQuery{TxStatus: 'I'}}, reason: wire.ReasonCopyState},
		{name: "CopyInResponse while streaming", stream: []pgproto3.BackendMessage{&pgproto3.CopyInResponse{}}, reason: wire.ReasonCopyState},
		{name: "one CommandComplete", finish: true, reason: wire.ReasonReplicationState,
			stream: done(&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})},
		{name: "three CommandCompletes", finish: true, reason: wire.ReasonReplicationState,
			stream: done(&pgproto3.CommandComplete{CommandTag: []byte("A")}, &pgproto3.CommandComplete{CommandTag: []byte("B")},
				&pgproto3.CommandComplete{CommandTag: []byte("C")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})},
		{name: "two rows", finish: true, reason: wire.ReasonReplicationState,
			stream: done(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25}}},
				&pgproto3.DataRow{Values: [][]byte{[]byte("1")}}, &pgproto3.DataRow{Values: [][]byte{[]byte("2")}})},
		{name: "result set without its row", finish: true, reason: wire.ReasonReplicationState,
			stream: done(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25}}},
				&pgproto3.CommandComplete{CommandTag: []byte("A")}, &pgproto3.CommandComplete{CommandTag: []byte("B")},
				&pgproto3.ReadyForQuery{TxStatus: 'I'})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().AcceptStartup().
				Expect(&pgproto3.Query{String: cbStart}).
				Send(append([]pgproto3.BackendMessage{&pgproto3.CopyBothResponse{}}, tc.stream...)...)
			if tc.finish {
				script = script.Expect(&pgproto3.CopyDone{})
			}
			c, _ := cbConnect(t, script, conn.ReplicationLogical)
			ctx := cbCtx(t)
			cb, err := c.StartCopyBoth(ctx, cbStart)
			require.NoError(t, err)
			for {
				_, err = cb.Receive(ctx)
				if err != nil {
					break
				}
			}
			if tc.finish {
				require.ErrorIs(t, err, conn.ErrCopyDone)
				_, err = cb.Finish(ctx)
			}
			cbRequireDesynced(t, c, err, tc.reason)
		})
	}
}

// TestCopyBothWakeUp checks ReceiveBefore: with no data the call returns
// ErrWakeUp and leaves the stream intact, also when a message was cut in the
// middle, and the next call completes the message.
func TestCopyBothWakeUp(t *testing.T) {
	t.Parallel()
	woke := make(chan struct{})
	msg := pgtest.MustEncodeBackend(t, &pgproto3.CopyData{Data: []byte("split payload")})
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.CopyBothResponse{}).
		SendRaw(msg[:7]).
		Do(func(ctx context.Context, _ net.Conn) error {
			select {
			case <-woke:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}).
		SendRaw(msg[7:])
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	ctx := cbCtx(t)
	cb, err := c.StartCopyBoth(ctx, cbStart)
	require.NoError(t, err)
	_, err = cb.ReceiveBefore(ctx, time.Now().Add(50*time.Millisecond))
	require.ErrorIs(t, err, conn.ErrWakeUp)
	assert.Equal(t, wire.StateCopyBoth, c.State())
	assert.NoError(t, c.Err())
	close(woke)
	got, err := cb.ReceiveBefore(ctx, time.Now().Add(cbTimeout))
	require.NoError(t, err)
	assert.Equal(t, "split payload", string(got))
}

// TestCopyBothContextEndsWhileWaiting: a context that ends while Receive
// waits only stops the wait.
func TestCopyBothContextEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	resume := make(chan struct{})
	script := pgtest.NewScript().AcceptStartup().
		Expect(&pgproto3.Query{String: cbStart}).
		Send(&pgproto3.CopyBothResponse{}).
		Do(func(ctx context.Context, _ net.Conn) error {
			select {
			case <-resume:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}).
		Send(&pgproto3.CopyData{Data: []byte("after the wait")})
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	cb, err := c.StartCopyBoth(cbCtx(t), cbStart)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = cb.Receive(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, wire.StateCopyBoth, c.State())
	_, err = cb.Receive(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "an ended context fails at once")
	close(resume)
	got, err := cb.Receive(cbCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "after the wait", string(got))
}

func TestDesyncHook(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup()
	c, _ := cbConnect(t, script, conn.ReplicationLogical)
	err := c.Desync(wire.ReasonLSNBackwards, 'd', "the stream went back")
	cbRequireDesynced(t, c, err, wire.ReasonLSNBackwards)
	assert.ErrorContains(t, err, "the stream went back")
	again := c.Desync(wire.ReasonMalformed, 0, "second")
	assert.Equal(t, err, again, "the first cause is kept")
}

// ---- real server ----------------------------------------------------------------

// TestCopyBothRealServer streams physical WAL from the real server, ends the
// stream and checks that the connection runs the next command.
func TestCopyBothRealServer(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	c := mustConnect(t, db.URL(pgtest.RoleReplication, "replication=true", "sslmode=disable"))
	ctx := cbCtx(t)
	res, err := c.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Len(t, res[0].Rows, 1)
	pos := string(res[0].Rows[0][2])

	cb, err := c.StartCopyBoth(ctx, "START_REPLICATION PHYSICAL "+pos)
	require.NoError(t, err)
	// A standby status update ('r', three zero positions, a zero client
	// time) that requests a reply: the server answers with a keepalive even
	// when no WAL is written.
	status := make([]byte, 34)
	status[0], status[33] = 'r', 1
	require.NoError(t, cb.Send(ctx, status))
	for {
		got, err := cb.Receive(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, got)
		require.Contains(t, "wk", string(got[:1]), "XLogData or keepalive")
		if got[0] == 'k' {
			break
		}
	}
	require.NoError(t, cb.CloseSend(ctx))
	fin, err := cb.Finish(ctx)
	require.NoError(t, err)
	assert.Nil(t, fin.Row)
	assert.Equal(t, "START_STREAMING", fin.Tags[0].String())
	assert.Equal(t, "START_REPLICATION", fin.Tags[1].String())
	res, err = c.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Len(t, res[0].Rows, 1)
}

// TestCopyBothRealServerBadSlot: START_REPLICATION of a slot that does not
// exist fails, and the next query returns its own result.
func TestCopyBothRealServerBadSlot(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	c := mustConnect(t, db.URL(pgtest.RoleReplication, "replication=database", "sslmode=disable"))
	ctx := cbCtx(t)
	_, err := c.StartCopyBoth(ctx, `START_REPLICATION SLOT "no_such_slot" LOGICAL 0/0 (proto_version '1', publication_names '"p"')`)
	var pgErr *conn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42704", pgErr.Code)
	assert.True(t, strings.Contains(pgErr.Message, "no_such_slot"), pgErr.Message)
	assert.Equal(t, "own-result", mustQueryValue(t, c, "select 'own-result'"))
	assert.False(t, errors.Is(c.Err(), conn.ErrClosed))
}
