package pool_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/pool"
)

// stressLedger is what the stress workers did, to be compared with Stat.
type stressLedger struct {
	acquired   atomic.Int64 // successful acquires
	answered   atomic.Int64 // queries that returned a value (always their own)
	canceled   atomic.Int64 // queries that ended with their context
	openTx     atomic.Int64 // connections released inside a transaction
	abandoned  atomic.Int64 // connections released with a result set unread
	terminated atomic.Int64 // connections whose backend was terminated while borrowed

	mu          sync.Mutex // guards following fields
	quarantined map[*conn.Conn]bool
	wrong       []string
}

// quarantine remembers a connection the worker made the pool quarantine.
func (l *stressLedger) quarantine(c *conn.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quarantined[c] = true
}

// checkFresh records a failure if c was quarantined before.
func (l *stressLedger) checkFresh(c *conn.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.quarantined[c] {
		l.wrong = append(l.wrong, "a quarantined connection was handed out again: "+c.String())
	}
}

func (l *stressLedger) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wrong = append(l.wrong, msg)
}

// TestStress runs many goroutines that acquire, query with a unique token,
// cancel at random, leave connections dirty on purpose and have backends
// terminated, for a few seconds. No goroutine may ever read a value that is
// not its own, no quarantined connection may come back, and the pool's
// counts must match what the workers did.
func TestStress(t *testing.T) {
	t.Parallel()
	const (
		workers  = 16
		maxConns = 4
	)
	duration := 3 * time.Second
	if testing.Short() {
		duration = 500 * time.Millisecond
	}
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = maxConns
	cfg.PingAfterIdle = 50 * time.Millisecond
	cfg.HealthCheckPeriod = 100 * time.Millisecond
	p, err := pool.New(boundedCtx(t), cfg)
	require.NoError(t, err)

	l := &stressLedger{quarantined: map[*conn.Conn]bool{}}
	var token atomic.Int64
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(stop) {
				stressStep(d, p, l, rng, token.Add(1))
			}
		})
	}
	// Sample the counts while the workers run.
	sampled := make(chan struct{})
	wg.Go(func() {
		defer close(sampled)
		for time.Now().Before(stop) {
			st := p.Stat()
			if st.TotalConns > maxConns || st.TotalConns != st.IdleConns+st.BorrowedConns+st.ConstructingConns {
				l.fail("inconsistent counts: " + strconv.Itoa(st.TotalConns) + " total, " + strconv.Itoa(st.IdleConns) + " idle, " +
					strconv.Itoa(st.BorrowedConns) + " borrowed, " + strconv.Itoa(st.ConstructingConns) + " constructing")
			}
			time.Sleep(time.Millisecond) // a sampling period, not a wait for an event
		}
	})
	wg.Wait()
	<-sampled

	ctx := boundedCtx(t)
	require.NoError(t, p.Close(ctx))
	st := p.Stat()
	assert.Empty(t, l.wrong)
	assert.Equal(t, 0, st.TotalConns)
	assert.Equal(t, l.acquired.Load(), st.AcquireCount)
	assert.Equal(t, l.openTx.Load(), st.Quarantined[pool.ReasonInTransaction])
	assert.Equal(t, l.abandoned.Load(), st.Quarantined[pool.ReasonBusy])
	assert.Equal(t, l.terminated.Load(), st.Quarantined[pool.ReasonClosedByServer])
	var sum int64
	for reason, n := range st.Quarantined {
		sum += n
		switch reason {
		case pool.ReasonInTransaction, pool.ReasonBusy, pool.ReasonClosedByServer, pool.ReasonClosed,
			pool.ReasonInterrupted: // a context that ended while the request was written
		default:
			t.Errorf("unexpected quarantine reason %q (%d)", reason, n)
		}
	}
	assert.Equal(t, st.QuarantineCount, sum)
	assert.Equal(t, st.NewConnCount, st.QuarantineCount, "every connection opened was quarantined exactly once by the end")
	assert.Positive(t, l.answered.Load())
	assert.Positive(t, l.canceled.Load(), "some cancellations hit a query")
	t.Logf("acquires %d, answers %d, canceled %d, new connections %d, quarantined %v",
		st.AcquireCount, l.answered.Load(), l.canceled.Load(), st.NewConnCount, st.Quarantined)
	d.waitNoBackends(t)
}

// stressStep is one iteration of a stress worker.
func stressStep(d *testDB, p *pool.Pool, l *stressLedger, rng *rand.Rand, tok int64) {
	ctx := context.Background()
	h, err := p.Acquire(ctx)
	if err != nil {
		l.fail("acquire: " + err.Error())
		return
	}
	l.acquired.Add(1)
	c := h.Conn()
	l.checkFresh(c)
	defer h.Release()

	want := strconv.FormatInt(tok, 10)
	switch n := rng.IntN(100); {
	case n < 4: // leave a transaction open
		if err := h.Exec(ctx, "begin").Close(); err != nil {
			l.fail("begin: " + err.Error())
			return
		}
		l.openTx.Add(1)
		l.quarantine(c)
	case n < 8: // abandon a result set
		rr := h.ExecParams(ctx, "select generate_series(1, 1000) + $1::int", [][]byte{[]byte(want)}, nil, nil, nil)
		if !rr.NextRow() {
			_, err := rr.Close()
			l.fail("abandon: no row: " + errString(err))
			return
		}
		l.abandoned.Add(1)
		l.quarantine(c)
	case n < 10: // the backend is terminated while borrowed
		if err := d.terminateErr(h.PID()); err != nil {
			l.fail(err.Error())
			return
		}
		if _, err := queryInt(ctx, h, want); err == nil {
			l.fail("a query on a terminated backend succeeded")
		}
		l.terminated.Add(1)
		l.quarantine(c)
	case n < 55: // a query whose context may end at any point
		qctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
		defer cancel()
		r := h.ExecParams(qctx, "select $1::int from pg_sleep($2::float8)",
			[][]byte{[]byte(want), []byte("0.00" + strconv.Itoa(rng.IntN(3)))}, nil, nil, nil).Read()
		stressCheck(l, r, want, qctx)
	default: // a plain query
		r := h.ExecParams(ctx, "select $1::int", [][]byte{[]byte(want)}, nil, nil, nil).Read()
		stressCheck(l, r, want, nil)
	}
}

// stressCheck checks a result: its own token, or an error caused by qctx.
func stressCheck(l *stressLedger, r *conn.Result, want string, qctx context.Context) {
	if r.Err != nil {
		if qctx != nil && qctx.Err() != nil && (errors.Is(r.Err, context.DeadlineExceeded) || errors.Is(r.Err, conn.ErrClosed)) {
			l.canceled.Add(1)
			return
		}
		l.fail("query: " + r.Err.Error())
		return
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 || string(r.Rows[0][0]) != want {
		l.fail("cross-talk: want " + want + ", got " + strconv.Quote(string(flatten(r.Rows))))
		return
	}
	l.answered.Add(1)
}

func flatten(rows [][][]byte) []byte {
	var out []byte
	for _, row := range rows {
		for _, v := range row {
			out = append(out, v...)
			out = append(out, '|')
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestStressTerminations runs workers that query with unique tokens while
// another goroutine terminates random backends of the pool, idle or
// borrowed. No worker may read a value that is not its own, no connection
// that failed may be handed out again, and every terminated backend must
// be quarantined exactly once, as closed_by_server (found by a query) or
// health_check_failed (found by a ping).
func TestStressTerminations(t *testing.T) {
	t.Parallel()
	const workers = 8
	duration := 2 * time.Second
	if testing.Short() {
		duration = 500 * time.Millisecond
	}
	d := mustDB(t)
	cfg := d.newConfig(t)
	cfg.MaxConns = 4
	cfg.PingAfterIdle = time.Nanosecond // every idle connection is pinged before use
	p, err := pool.New(boundedCtx(t), cfg)
	require.NoError(t, err)

	l := &stressLedger{quarantined: map[*conn.Conn]bool{}}
	var token, terminations atomic.Int64
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				h, err := p.Acquire(context.Background())
				if err != nil {
					l.fail("acquire: " + err.Error())
					return
				}
				l.acquired.Add(1)
				c := h.Conn()
				l.checkFresh(c)
				want := strconv.FormatInt(token.Add(1), 10)
				got, err := queryInt(context.Background(), h, want)
				switch {
				case err != nil && errors.Is(err, conn.ErrClosed):
					l.quarantine(c) // its backend was terminated
				case err != nil:
					l.fail("query: " + err.Error())
				case got != want:
					l.fail("cross-talk: want " + want + ", got " + got)
				default:
					l.answered.Add(1)
				}
				h.Release()
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		for time.Now().Before(stop) {
			rows, err := d.queryErr("select pid from pg_stat_activity where application_name = '" + d.appName + "'")
			if err != nil {
				l.fail(err.Error())
				return
			}
			if len(rows) == 0 {
				continue
			}
			pid, err := strconv.ParseUint(rows[rng.IntN(len(rows))][0], 10, 32)
			if err != nil {
				l.fail(err.Error())
				return
			}
			if err := d.terminateErr(uint32(pid)); err != nil {
				l.fail(err.Error())
				return
			}
			terminations.Add(1)
		}
	})
	wg.Wait()

	ctx := boundedCtx(t)
	p.HealthCheck(ctx) // finds the terminated backends no worker touched again
	st := p.Stat()
	require.NoError(t, p.Close(ctx))
	assert.Empty(t, l.wrong)
	assert.Positive(t, terminations.Load())
	assert.Positive(t, l.answered.Load())
	assert.Equal(t, terminations.Load(), st.Quarantined[pool.ReasonClosedByServer]+st.Quarantined[pool.ReasonHealthCheckFailed],
		"every terminated backend is quarantined once: %v", st.Quarantined)
	for reason := range st.Quarantined {
		if reason != pool.ReasonClosedByServer && reason != pool.ReasonHealthCheckFailed {
			t.Errorf("unexpected quarantine reason %q", reason)
		}
	}
	t.Logf("acquires %d, answers %d, terminations %d, quarantined %v",
		l.acquired.Load(), l.answered.Load(), terminations.Load(), st.Quarantined)
	d.waitNoBackends(t)
}
