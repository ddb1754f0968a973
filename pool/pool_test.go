package pool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/pool"
	"github.com/pgstrict/pgstrict/wire"
)

func TestAcquireReusesCleanConnection(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	p := mustNew(t, cfg)
	ctx := boundedCtx(t)

	h := mustAcquire(t, p)
	pid := h.PID()
	got, err := queryInt(ctx, h, "41")
	require.NoError(t, err)
	assert.Equal(t, "41", got)
	h.Release()

	h = mustAcquire(t, p)
	assert.Equal(t, pid, h.PID(), "a clean connection is reused")
	h.Release()

	st := p.Stat()
	assert.Equal(t, 1, st.TotalConns)
	assert.Equal(t, 1, st.IdleConns)
	assert.Equal(t, 0, st.BorrowedConns)
	assert.Equal(t, int64(2), st.AcquireCount)
	assert.Equal(t, int64(1), st.NewConnCount)
	assert.Equal(t, int64(1), st.WaitedAcquireCount, "only the acquire that opened a connection waited")
	assert.Zero(t, st.QuarantineCount)
	assert.Empty(t, st.Quarantined)
}

// quarantineCase dirties a borrowed connection in one way and names the
// reason the pool must give.
type quarantineCase struct {
	// name names the case.
	name string
	// dirty leaves h in the state under test; it may use d to act on the
	// server.
	dirty func(t *testing.T, d *testDB, h *pool.Conn)
	// reason is the quarantine reason expected at Release.
	reason string
	// statement is the expected fingerprint of the last statement, if
	// not empty.
	statement string
}

var quarantineCases = []quarantineCase{
	{
		name: "open transaction",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			require.NoError(t, h.Exec(boundedCtx(t), "begin").Close())
			require.Equal(t, wire.TxInBlock, h.Conn().TxStatus())
		},
		reason:    pool.ReasonInTransaction,
		statement: "begin",
	},
	{
		name: "failed transaction",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			err := h.Exec(boundedCtx(t), "begin; select 1/0").Close()
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "22012", pe.Code)
			require.Equal(t, wire.TxFailed, h.Conn().TxStatus())
		},
		reason:    pool.ReasonFailedTransaction,
		statement: "begin; select ?/?",
	},
	{
		name: "abandoned simple result set",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			mrr := h.Exec(boundedCtx(t), "select generate_series(1, 100000)")
			require.True(t, mrr.NextResult())
			require.True(t, mrr.ResultReader().NextRow())
		},
		reason:    pool.ReasonBusy,
		statement: "select generate_series(?, ?)",
	},
	{
		name: "abandoned extended result set",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			rr := h.ExecParams(boundedCtx(t), "select generate_series(1, $1::int)", [][]byte{[]byte("100000")}, nil, nil, nil)
			require.True(t, rr.NextRow())
		},
		reason:    pool.ReasonBusy,
		statement: "select generate_series(?, $1::int)",
	},
	{
		name: "unread copy out",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			ctx := boundedCtx(t)
			_, err := h.Prepare(ctx, "cp", "copy (select generate_series(1, 1000)) to stdout", nil)
			require.NoError(t, err)
			h.ExecPrepared(ctx, "cp", nil, nil, nil)
			require.Equal(t, wire.StateCopyOut, h.Conn().State())
		},
		reason:    pool.ReasonCopy,
		statement: "prepared:cp",
	},
	{
		name: "client_encoding changed",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			err := h.Exec(boundedCtx(t), "set client_encoding = 'LATIN1'").Close()
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, wire.ReasonParameterChange, pe.Reason)
			require.Equal(t, wire.StateDesynced, h.Conn().State())
		},
		reason:    pool.ReasonDesyncedPrefix + "parameter_change",
		statement: "set client_encoding = ?",
	},
	{
		name: "backend terminated while borrowed",
		dirty: func(t *testing.T, d *testDB, h *pool.Conn) {
			d.terminate(t, h.PID())
			_, err := queryInt(boundedCtx(t), h, "1")
			require.ErrorIs(t, err, conn.ErrClosed)
		},
		reason:    pool.ReasonClosedByServer,
		statement: "select $1::int",
	},
	{
		name: "closed by the borrower",
		dirty: func(t *testing.T, _ *testDB, h *pool.Conn) {
			require.NoError(t, h.Conn().Close(boundedCtx(t)))
		},
		reason: pool.ReasonClosedByClient,
	},
}

func TestReleaseQuarantines(t *testing.T) {
	t.Parallel()
	for _, tc := range quarantineCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := mustDB(t)
			cfg := d.newConfig(t)
			cfg.MaxConns = 1
			p := mustNew(t, cfg)

			h := mustAcquire(t, p)
			pid, c := h.PID(), h.Conn()
			tc.dirty(t, d, h)
			h.Release()

			st := p.Stat()
			assert.Equal(t, map[string]int64{tc.reason: 1}, st.Quarantined)
			assert.Equal(t, int64(1), st.QuarantineCount)
			assert.Equal(t, 0, st.TotalConns)
			require.Len(t, st.RecentQuarantines, 1)
			ev := st.RecentQuarantines[0]
			assert.Equal(t, tc.reason, ev.Reason)
			assert.Equal(t, pid, ev.PID)
			if tc.statement != "" {
				assert.Equal(t, tc.statement, ev.Statement)
				assert.NotZero(t, ev.StatementHash)
			}

			assert.ErrorIs(t, c.Err(), conn.ErrClosed, "a quarantined connection is closed")
			d.waitBackendGone(t, pid)

			h = mustAcquire(t, p)
			assert.NotSame(t, c, h.Conn(), "a quarantined connection is never handed out again")
			assert.NotEqual(t, pid, h.PID())
			got, err := queryInt(boundedCtx(t), h, "7")
			require.NoError(t, err)
			assert.Equal(t, "7", got)
			h.Release()
		})
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// mutate configures the reset.
		mutate func(*pool.Config)
		// reason is the expected quarantine reason, "" when the
		// connection must be reused.
		reason string
		// cause is the expected QuarantineEvent.Cause.
		cause string
	}{
		{name: "discard all reuses", mutate: func(c *pool.Config) { c.ResetQuery = "DISCARD ALL" }},
		{name: "failing reset query", mutate: func(c *pool.Config) { c.ResetQuery = "select 1/0" },
			reason: pool.ReasonResetFailed, cause: "sqlstate:22012"},
		{name: "reset query leaves a transaction", mutate: func(c *pool.Config) { c.ResetQuery = "begin" },
			reason: pool.ReasonResetFailed, cause: pool.ReasonInTransaction},
		{name: "BeforeRelease refuses", mutate: func(c *pool.Config) {
			c.BeforeRelease = func(context.Context, *conn.Conn) bool { return false }
		}, reason: pool.ReasonResetFailed, cause: "before_release"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := mustDB(t)
			cfg := d.newConfig(t)
			cfg.MaxConns = 1
			tc.mutate(cfg)
			p := mustNew(t, cfg)
			ctx := boundedCtx(t)

			h := mustAcquire(t, p)
			pid := h.PID()
			require.NoError(t, h.Exec(ctx, "set application_name = 'changed'").Close())
			h.Release()

			h = mustAcquire(t, p)
			defer h.Release()
			st := p.Stat()
			if tc.reason == "" {
				assert.Equal(t, pid, h.PID())
				assert.Empty(t, st.Quarantined)
				res, err := h.Exec(ctx, "show application_name").ReadAll()
				require.NoError(t, err)
				assert.Equal(t, d.appName, string(res[0].Rows[0][0]), "DISCARD ALL restored the session")
				return
			}
			assert.NotEqual(t, pid, h.PID())
			assert.Equal(t, map[string]int64{tc.reason: 1}, st.Quarantined)
			require.Len(t, st.RecentQuarantines, 1)
			assert.Equal(t, tc.cause, st.RecentQuarantines[0].Cause)
		})
	}
}

func TestIdleTerminatedCaughtByHealthCheck(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 2
	p := mustNew(t, cfg)

	h1, h2 := mustAcquire(t, p), mustAcquire(t, p)
	dead, alive := h1.PID(), h2.PID()
	h1.Release()
	h2.Release()
	d.terminate(t, dead)

	p.HealthCheck(boundedCtx(t))
	st := p.Stat()
	assert.Equal(t, map[string]int64{pool.ReasonHealthCheckFailed: 1}, st.Quarantined)
	require.Len(t, st.RecentQuarantines, 1)
	assert.Equal(t, dead, st.RecentQuarantines[0].PID)
	assert.Equal(t, pool.ReasonClosedByServer, st.RecentQuarantines[0].Cause)
	assert.Equal(t, 1, st.IdleConns)

	h := mustAcquire(t, p)
	defer h.Release()
	assert.Equal(t, alive, h.PID(), "the live connection passed the check and stayed")
}

func TestIdleTerminatedCaughtAtAcquire(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	clock := newFakeClock()
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	cfg.PingAfterIdle = time.Second
	pool.SetClock(cfg, clock.Now)
	p := mustNew(t, cfg)

	h := mustAcquire(t, p)
	dead := h.PID()
	h.Release()
	d.terminate(t, dead)

	clock.Advance(500 * time.Millisecond)
	h = mustAcquire(t, p)
	assert.Equal(t, dead, h.PID(), "recently proven: handed out without a ping")
	_, err := queryInt(boundedCtx(t), h, "1")
	require.Error(t, err, "the backend is gone")
	h.Release()
	assert.Equal(t, map[string]int64{pool.ReasonClosedByServer: 1}, p.Stat().Quarantined)

	h = mustAcquire(t, p)
	second := h.PID()
	h.Release()
	d.terminate(t, second)
	clock.Advance(2 * time.Second)
	h = mustAcquire(t, p)
	defer h.Release()
	assert.NotEqual(t, second, h.PID(), "the ping at acquire found the dead connection")
	got, err := queryInt(boundedCtx(t), h, "5")
	require.NoError(t, err)
	assert.Equal(t, "5", got)
	st := p.Stat()
	assert.Equal(t, map[string]int64{pool.ReasonClosedByServer: 1, pool.ReasonHealthCheckFailed: 1}, st.Quarantined)
}

func TestLifetimeAndIdleTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// minConns is Config.MinConns.
		minConns int
		// idleTime is Config.MaxConnIdleTime; zero means 10 minutes.
		idleTime time.Duration
		// run borrows, advances the clock and triggers the check.
		run func(t *testing.T, p *pool.Pool, clock *fakeClock)
		// want is the expected Stat.Quarantined.
		want map[string]int64
	}{
		{name: "lifetime at release", run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			h := mustAcquire(t, p)
			clock.Advance(61 * time.Minute)
			h.Release()
		}, want: map[string]int64{pool.ReasonLifetime: 1}},
		{name: "lifetime at acquire", run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			h := mustAcquire(t, p)
			pid := h.PID()
			h.Release()
			clock.Advance(61 * time.Minute)
			h = mustAcquire(t, p)
			assert.NotEqual(t, pid, h.PID())
			h.Release()
		}, want: map[string]int64{pool.ReasonLifetime: 1}},
		{name: "lifetime by health check", run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			mustAcquire(t, p).Release()
			clock.Advance(61 * time.Minute)
			p.HealthCheck(boundedCtx(t))
		}, want: map[string]int64{pool.ReasonLifetime: 1}},
		{name: "not yet expired", idleTime: -1, run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			mustAcquire(t, p).Release()
			clock.Advance(59 * time.Minute)
			p.HealthCheck(boundedCtx(t))
		}, want: map[string]int64{}},
		{name: "idle timeout", run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			mustAcquire(t, p).Release()
			clock.Advance(11 * time.Minute)
			p.HealthCheck(boundedCtx(t))
		}, want: map[string]int64{pool.ReasonIdleTimeout: 1}},
		{name: "idle timeout keeps MinConns", minConns: 1, run: func(t *testing.T, p *pool.Pool, clock *fakeClock) {
			clock.Advance(11 * time.Minute)
			p.HealthCheck(boundedCtx(t))
		}, want: map[string]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := mustDB(t)
			clock := newFakeClock()
			cfg := d.newConfig(t)
			cfg.MaxConns = 1
			cfg.MinConns = tc.minConns
			cfg.MaxConnLifetime = time.Hour
			cfg.MaxConnIdleTime = 10 * time.Minute
			if tc.idleTime != 0 {
				cfg.MaxConnIdleTime = tc.idleTime
			}
			pool.SetClock(cfg, clock.Now)
			p := mustNew(t, cfg)
			tc.run(t, p, clock)
			st := p.Stat()
			assert.Equal(t, tc.want, st.Quarantined)
			assert.Equal(t, st.TotalConns, st.IdleConns+st.BorrowedConns+st.ConstructingConns)
		})
	}
}

func TestLifetimeJitter(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	clock := newFakeClock()
	cfg := d.newConfig(t)
	cfg.MaxConns = 4
	cfg.MaxConnLifetime = time.Hour
	cfg.MaxConnLifetimeJitter = 10 * time.Minute
	cfg.MaxConnIdleTime = -1
	pool.SetClock(cfg, clock.Now)
	p := mustNew(t, cfg)

	var hs []*pool.Conn
	for range 4 {
		hs = append(hs, mustAcquire(t, p))
	}
	for _, h := range hs {
		h.Release()
	}
	clock.Advance(time.Hour - time.Second)
	p.HealthCheck(boundedCtx(t))
	assert.Empty(t, p.Stat().Quarantined, "no connection expires before MaxConnLifetime")
	clock.Advance(10*time.Minute + time.Second)
	p.HealthCheck(boundedCtx(t))
	assert.Equal(t, map[string]int64{pool.ReasonLifetime: 4}, p.Stat().Quarantined,
		"every connection expires by MaxConnLifetime + MaxConnLifetimeJitter")
}

func TestMinConns(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 3
	cfg.MinConns = 2
	p := mustNew(t, cfg)

	st := p.Stat()
	assert.Equal(t, 2, st.TotalConns, "New opens MinConns")
	assert.Equal(t, 2, st.IdleConns)
	assert.Len(t, d.backendPIDs(t), 2)

	h := mustAcquire(t, p)
	require.NoError(t, h.Exec(boundedCtx(t), "begin").Close())
	h.Release()
	assert.Equal(t, int64(1), p.Stat().Quarantined[pool.ReasonInTransaction])

	// The background goroutine refills; poll for it.
	deadline := time.Now().Add(testTimeout)
	for p.Stat().IdleConns < 2 {
		require.False(t, time.Now().After(deadline), "MinConns not restored")
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, int64(3), p.Stat().NewConnCount)
}

func TestAcquireTimeout(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	cfg.MinConns = 1 // opened by New, which AcquireTimeout does not bound
	cfg.AcquireTimeout = 20 * time.Millisecond
	p := mustNew(t, cfg)

	h := mustAcquire(t, p)
	defer h.Release()
	_, err := p.Acquire(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Acquire(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(2), p.Stat().CanceledAcquireCount)
}

func TestClose(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 2
	p, err := pool.New(boundedCtx(t), cfg)
	require.NoError(t, err)

	borrowed := mustAcquire(t, p)
	mustAcquire(t, p).Release() // one idle, one borrowed
	require.Len(t, d.backendPIDs(t), 2)

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = p.Close(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Close waits for the borrowed connection")

	_, err = p.Acquire(boundedCtx(t))
	require.ErrorIs(t, err, pool.ErrClosed)
	_, err = p.Exec(boundedCtx(t), "select 1")
	require.ErrorIs(t, err, pool.ErrClosed)
	got, err := queryInt(boundedCtx(t), borrowed, "3")
	require.NoError(t, err, "a borrowed connection stays usable until released")
	assert.Equal(t, "3", got)

	done := make(chan error, 1)
	go func() { done <- p.Close(boundedCtx(t)) }()
	borrowed.Release()
	require.NoError(t, <-done)
	require.NoError(t, p.Close(boundedCtx(t)), "Close is idempotent")

	st := p.Stat()
	assert.Equal(t, 0, st.TotalConns)
	assert.Equal(t, map[string]int64{pool.ReasonClosed: 2}, st.Quarantined)
	d.waitNoBackends(t)
}

func TestCloseEndsWaitingAcquire(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	p, err := pool.New(boundedCtx(t), cfg)
	require.NoError(t, err)
	h := mustAcquire(t, p)

	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(boundedCtx(t))
		errc <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(boundedCtx(t)) }()
	require.ErrorIs(t, <-errc, pool.ErrClosed)
	h.Release()
	require.NoError(t, <-closed)
}

func TestLeakedConnectionIsQuarantined(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	p := mustNew(t, cfg)

	pid := leak(t, p)
	deadline := time.Now().Add(testTimeout)
	for p.Stat().Quarantined[pool.ReasonLeaked] == 0 {
		require.False(t, time.Now().After(deadline), "leak not detected")
		runtime.GC()
	}
	st := p.Stat()
	assert.Equal(t, map[string]int64{pool.ReasonLeaked: 1}, st.Quarantined)
	assert.Equal(t, 0, st.BorrowedConns)
	require.Len(t, st.RecentQuarantines, 1)
	assert.Equal(t, pid, st.RecentQuarantines[0].PID)
	assert.Equal(t, "select $1::int", st.RecentQuarantines[0].Statement)

	h := mustAcquire(t, p) // the slot came back
	defer h.Release()
	assert.NotEqual(t, pid, h.PID())
}

// leak borrows a connection, uses it and drops it without Release.
//
//go:noinline
func leak(t *testing.T, p *pool.Pool) uint32 {
	h := mustAcquire(t, p)
	_, err := queryInt(boundedCtx(t), h, "1")
	require.NoError(t, err)
	return h.PID()
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	clock := newFakeClock()
	cfg := d.newConfig(t)
	cfg.MaxConns = 2
	cfg.CircuitBreaker = pool.CircuitBreakerConfig{Threshold: 3, Window: time.Minute, Cooldown: 30 * time.Second}
	pool.SetClock(cfg, clock.Now)
	p := mustNew(t, cfg)

	dirty := func() {
		t.Helper()
		h := mustAcquire(t, p)
		require.NoError(t, h.Exec(boundedCtx(t), "begin").Close())
		h.Release()
	}
	dirty()
	clock.Advance(2 * time.Minute) // the first fault leaves the window
	dirty()
	dirty()
	assert.Equal(t, pool.CircuitClosed, p.Stat().Circuit.State, "2 faults within the window")
	held := mustAcquire(t, p) // borrowed before the circuit opens
	dirty()

	_, err := p.Acquire(boundedCtx(t))
	var coe *pool.CircuitOpenError
	require.ErrorAs(t, err, &coe)
	require.ErrorIs(t, err, pool.ErrCircuitOpen)
	assert.True(t, conn.SafeToRetry(err))
	assert.Equal(t, 3, coe.Faults)
	assert.Equal(t, clock.Now().Add(30*time.Second), coe.Until)
	st := p.Stat()
	assert.Equal(t, pool.CircuitOpen, st.Circuit.State)
	assert.Equal(t, int64(1), st.Circuit.Opened)
	assert.Equal(t, int64(1), st.Circuit.Rejected)
	_, err = p.Exec(boundedCtx(t), "select 1")
	require.ErrorIs(t, err, pool.ErrCircuitOpen, "the convenience methods fail fast too")

	clock.Advance(31 * time.Second)
	dirty() // half-open: acquires proceed, the first fault opens it again
	_, err = p.Acquire(boundedCtx(t))
	require.ErrorIs(t, err, pool.ErrCircuitOpen)
	assert.Equal(t, int64(2), p.Stat().Circuit.Opened)

	clock.Advance(31 * time.Second)
	h := mustAcquire(t, p)
	assert.Equal(t, pool.CircuitHalfOpen, p.Stat().Circuit.State)
	h.Release() // clean: closes the circuit
	assert.Equal(t, pool.CircuitClosed, p.Stat().Circuit.State)
	held.Release()
	mustAcquire(t, p).Release()
}

func TestNewRefusesReplication(t *testing.T) {
	t.Parallel()
	cc, err := conn.ParseConfig("host=127.0.0.1 user=u replication=database sslmode=disable")
	require.NoError(t, err)
	_, err = pool.New(context.Background(), &pool.Config{ConnConfig: cc})
	var ce *pool.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ConnConfig.Replication", ce.Field)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cc, err := conn.ParseConfig("host=127.0.0.1 user=u sslmode=disable")
	require.NoError(t, err)
	tests := []struct {
		// name names the case.
		name string
		// cfg is the invalid configuration.
		cfg pool.Config
		// field is the expected ConfigError.Field.
		field string
	}{
		{name: "negative max", cfg: pool.Config{MaxConns: -1}, field: "MaxConns"},
		{name: "min above max", cfg: pool.Config{MaxConns: 2, MinConns: 3}, field: "MinConns"},
		{name: "negative jitter", cfg: pool.Config{MaxConnLifetimeJitter: -time.Second}, field: "MaxConnLifetimeJitter"},
		{name: "NUL in reset query", cfg: pool.Config{ResetQuery: "discard\x00all"}, field: "ResetQuery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.ConnConfig = cc
			_, err := pool.New(context.Background(), &cfg)
			var ce *pool.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
}

func TestConvenienceMethods(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	p := mustNew(t, cfg)
	ctx := boundedCtx(t)

	res, err := p.Exec(ctx, "select 1; select 2")
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, "2", string(res[1].Rows[0][0]))

	r, err := p.ExecParams(ctx, "select $1::text", [][]byte{[]byte("x")}, nil, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "x", string(r.Rows[0][0]))

	_, err = p.ExecParams(ctx, "select 1/0", nil, nil, nil, nil)
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)

	sentinel := errors.New("from f")
	err = p.AcquireFunc(ctx, func(h *pool.Conn) error {
		return errors.Join(h.Exec(ctx, "begin").Close(), sentinel)
	})
	require.ErrorIs(t, err, sentinel)
	st := p.Stat()
	assert.Equal(t, map[string]int64{pool.ReasonInTransaction: 1}, st.Quarantined, "AcquireFunc released the dirty connection")
	assert.Equal(t, 0, st.BorrowedConns)
}

func TestUseAfterReleasePanics(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	p := mustNew(t, d.newConfig(t))
	h := mustAcquire(t, p)
	h.Release()
	h.Release() // a second Release does nothing
	assert.Panics(t, func() { h.Exec(context.Background(), "select 1") })
	assert.Panics(t, func() { h.Conn() })
}

func TestQuarantineIsLoggedAtWarn(t *testing.T) {
	t.Parallel()
	d := mustDB(t)
	var buf syncBuffer
	cfg := d.newConfig(t)
	cfg.MaxConns = 1
	cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := mustNew(t, cfg)

	h := mustAcquire(t, p)
	pid := h.PID()
	require.NoError(t, h.Exec(boundedCtx(t), "begin isolation level serializable").Close())
	h.Release()

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
	assert.Equal(t, "WARN", rec["level"])
	assert.Equal(t, pool.ReasonInTransaction, rec["reason"])
	assert.Equal(t, float64(pid), rec["pid"])
	assert.Equal(t, "begin isolation level serializable", rec["statement"])
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex // guards following fields
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }
