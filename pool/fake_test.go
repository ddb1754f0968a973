package pool_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/pool"
	"github.com/pgstrict/pgstrict/wire"
)

// fakeDialer hands out one scripted fake server per dial, in order.
type fakeDialer struct {
	mu      sync.Mutex // guards following fields
	servers []*pgtest.FakeServer
	dials   int
}

// newFakeDialer starts one fake server per script; the servers report
// their outcome when the test ends.
func newFakeDialer(tb testing.TB, scripts ...*pgtest.Script) *fakeDialer {
	tb.Helper()
	d := &fakeDialer{}
	for _, s := range scripts {
		d.servers = append(d.servers, pgtest.NewFakeServer(tb, s, pgtest.WithFakeTransport(pgtest.FakeTCP)))
	}
	return d
}

func (d *fakeDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.dials >= len(d.servers) {
		d.mu.Unlock()
		return nil, errors.New("fake dialer: no server left")
	}
	srv := d.servers[d.dials]
	d.dials++
	d.mu.Unlock()
	return srv.Dial(ctx, network, addr)
}

// closeAndWait closes p and waits until every server's script has finished.
func (d *fakeDialer) closeAndWait(tb testing.TB, p *pool.Pool) {
	tb.Helper()
	ctx := boundedCtx(tb)
	require.NoError(tb, p.Close(ctx))
	for i, srv := range d.servers {
		require.NoError(tb, srv.Wait(ctx), "fake server %d", i)
	}
}

func (d *fakeDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// fakePoolConfig is a pool over d that never sends a query of its own.
func fakePoolConfig(tb testing.TB, d *fakeDialer) *pool.Config {
	tb.Helper()
	cc, err := conn.ParseConfig("host=127.0.0.1 port=5432 user=u sslmode=disable")
	require.NoError(tb, err)
	cc.DialFunc = d.Dial
	return &pool.Config{
		ConnConfig:        cc,
		MaxConns:          1,
		HealthCheckPeriod: -1,
		PingAfterIdle:     -1,
	}
}

// answerSelect1 is the reply of a server to "select 1".
func answerSelect1() []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("?column?"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("1")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
}

func TestDesyncWhileBorrowedIsNeverHandedOutAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// reply is what the first server answers to "select 1".
		reply []byte
		// reason is the expected wire reason.
		reason wire.Reason
	}{
		{name: "DataRow before RowDescription", reason: wire.ReasonUnexpectedMessage,
			reply: pgtest.MustEncodeBackend(t, &pgproto3.DataRow{Values: [][]byte{[]byte("1")}})},
		{name: "unknown message type", reason: wire.ReasonUnknownMessageType,
			reply: []byte{'!', 0, 0, 0, 4}},
		{name: "trailing bytes in CommandComplete", reason: wire.ReasonTrailingBytes,
			reply: append(pgtest.MustEncodeBackend(t, answerSelect1()[0], answerSelect1()[1]),
				'C', 0, 0, 0, 14, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0, 'x')},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := pgtest.NewScript().
				AcceptStartupWith(pgtest.StartupReply{ProcessID: 101}).
				Expect(&pgproto3.Query{String: "select 1"}).
				SendRaw(tc.reply).
				ExpectEOF()
			good := pgtest.NewScript().
				AcceptStartupWith(pgtest.StartupReply{ProcessID: 102}).
				Expect(&pgproto3.Query{String: "select 1"}).
				Send(answerSelect1()...).
				Expect(&pgproto3.Query{String: "select 1"}).
				Send(answerSelect1()...).
				ExpectTerminate()
			d := newFakeDialer(t, bad, good)
			p := mustNew(t, fakePoolConfig(t, d))
			ctx := boundedCtx(t)

			h := mustAcquire(t, p)
			require.Equal(t, uint32(101), h.PID())
			desynced := h.Conn()
			_, err := h.Exec(ctx, "select 1").ReadAll()
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.reason, pe.Reason)
			h.Release()

			st := p.Stat()
			want := pool.ReasonDesyncedPrefix + tc.reason.String()
			assert.Equal(t, map[string]int64{want: 1}, st.Quarantined)
			require.Len(t, st.RecentQuarantines, 1)
			assert.Equal(t, uint32(101), st.RecentQuarantines[0].PID)
			assert.Equal(t, "select ?", st.RecentQuarantines[0].Statement)

			for i := range 2 {
				h = mustAcquire(t, p)
				assert.NotSame(t, desynced, h.Conn(), "acquire %d", i)
				assert.Equal(t, uint32(102), h.PID(), "acquire %d", i)
				res, err := h.Exec(ctx, "select 1").ReadAll()
				require.NoError(t, err)
				assert.Equal(t, "1", string(res[0].Rows[0][0]))
				h.Release()
			}
			assert.Equal(t, 2, d.count(), "the clean connection was reused, the desynced one never")
			assert.Equal(t, int64(1), p.Stat().QuarantineCount)
			d.closeAndWait(t, p)
		})
	}
}

func TestPingAtAcquireDetectsDesync(t *testing.T) {
	t.Parallel()
	// The first server answers the acquire-time ping (an empty Query) with
	// a ParseComplete, which no simple Query can produce.
	bad := pgtest.NewScript().
		AcceptStartupWith(pgtest.StartupReply{ProcessID: 201}).
		Expect(&pgproto3.Query{String: ""}).
		Send(&pgproto3.ParseComplete{}).
		ExpectEOF()
	good := pgtest.NewScript().
		AcceptStartupWith(pgtest.StartupReply{ProcessID: 202}).
		Expect(&pgproto3.Query{String: ""}).
		Send(&pgproto3.EmptyQueryResponse{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}).
		ExpectTerminate()
	d := newFakeDialer(t, bad, good)
	cfg := fakePoolConfig(t, d)
	cfg.PingAfterIdle = time.Nanosecond // ping at every acquire of an idle connection
	p := mustNew(t, cfg)

	mustAcquire(t, p).Release() // opened fresh: no ping
	h := mustAcquire(t, p)      // idle: pinged, desync, quarantined; a new one opened without a ping
	assert.Equal(t, uint32(202), h.PID())
	h.Release()

	st := p.Stat()
	assert.Equal(t, map[string]int64{pool.ReasonHealthCheckFailed: 1}, st.Quarantined)
	require.Len(t, st.RecentQuarantines, 1)
	assert.Equal(t, "desynced:unexpected_message", st.RecentQuarantines[0].Cause)

	h = mustAcquire(t, p) // pinged, clean
	assert.Equal(t, uint32(202), h.PID())
	h.Release()
	d.closeAndWait(t, p)
}
