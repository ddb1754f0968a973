package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/pgstrict/pgstrict/conn"
)

const (
	// closeTimeout bounds the Terminate written when a connection is
	// quarantined or the pool closes.
	closeTimeout = time.Second
	// backgroundConnectTimeout bounds each connection the background
	// goroutine opens to keep MinConns.
	backgroundConnectTimeout = 30 * time.Second
	// lookupRetries bounds how often a coalesced lookup is retried after the
	// caller that ran it gave up.
	lookupRetries = 3
)

// Pool is a set of connections to one database that reuses a connection
// only when it can prove it clean, and quarantines every other one. A Pool is
// safe for concurrent use by multiple goroutines.
//
// Acquire hands out a connection (a *Conn) and Release takes it back. At
// Release the connection returns to the idle set only if it is usable (never
// desynchronized, not closed), idle with transaction status I, with no
// reader or pipeline open, not in COPY, and passes the configured reset;
// otherwise it is quarantined: closed, never handed out again, and counted
// by reason in Stat.
type Pool struct {
	cfg     *Config      // defaulted copy; read-only after New
	connCfg *conn.Config // cfg.ConnConfig with the coalescing LookupFunc
	sem     *semaphore.Weighted
	lookups singleflight.Group

	// bgCtx is the one context a Pool keeps: it belongs to the background
	// goroutine, bounds the work the Pool does on its own, and ends in
	// Close.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgDone   chan struct{} // closed when the background goroutine returned
	kick     chan struct{} // capacity 1: asks for a round of MinConns maintenance
	drained  chan struct{} // closed once closed and nothing is borrowed, opening or being checked

	// tripped mirrors breaker.tripped() so that Acquire can skip the
	// breaker while it is closed without taking mu.
	tripped atomic.Bool

	mu sync.Mutex
	// guards following fields
	closed        bool
	drainedClosed bool
	idle          []idleConn // a stack: the most recently released last
	borrowed      int        // handed out (held by a *Conn or in an acquire's checks)
	constructing  int        // being opened
	checking      int        // taken out of idle by the pool itself (health check, Close)
	acquireCount  int64
	waitCount     int64
	waitTotal     time.Duration
	canceledCount int64
	newCount      int64
	connectErrs   int64
	quarantines   quarantineLog
	breaker       breaker
}

// idleConn is an entry of the idle set.
type idleConn struct {
	m *member
	c *conn.Conn
}

type memberState uint8

const (
	stateIdle memberState = iota
	stateBorrowed
	stateChecking
	stateGone
)

// stmtKind says what lastSQL of a member holds.
type stmtKind uint8

const (
	stmtNone stmtKind = iota
	stmtSQL
	stmtPrepared // lastSQL is a prepared statement name
	stmtPipeline
)

// member is the pool's record of one connection. It never references the
// *conn.Conn, so that a borrowed connection whose handle is dropped becomes
// unreachable and its cleanup reports the leak.
type member struct {
	// written once before publication
	pid     uint32
	created time.Time
	expires time.Time // zero: never

	// guarded by Pool.mu while the member is idle; owned by the borrower
	// (or the goroutine checking it) otherwise
	idleSince time.Time
	provenAt  time.Time // last time the connection was seen clean
	lastSQL   string
	lastKind  stmtKind

	state memberState // guarded by Pool.mu
}

func (m *member) expired(now time.Time) bool {
	return !m.expires.IsZero() && !now.Before(m.expires)
}

func (m *member) fingerprint() (string, uint64) {
	switch m.lastKind {
	case stmtSQL:
		return fingerprint(m.lastSQL)
	case stmtPrepared:
		return cutFingerprint("prepared:" + m.lastSQL)
	case stmtPipeline:
		return "pipeline", 0
	}
	return "", 0
}

// origin says which count a connection leaves when it is quarantined.
type origin uint8

const (
	fromBorrowed origin = iota
	fromChecking
	fromConstructing
)

// New creates a pool from cfg (nil means the zero Config) and opens
// cfg.MinConns connections before it returns, bounded by ctx; if one of them
// fails, the pool is closed and the error returned. New starts one
// background goroutine, which Close stops.
func New(ctx context.Context, cfg *Config) (*Pool, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	d, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:     d,
		sem:     semaphore.NewWeighted(int64(d.MaxConns)),
		bgDone:  make(chan struct{}),
		kick:    make(chan struct{}, 1),
		drained: make(chan struct{}),
		breaker: newBreaker(d.CircuitBreaker),
	}
	p.quarantines.init(d.RecentQuarantines)
	p.connCfg = d.ConnConfig.Copy()
	p.connCfg.LookupFunc = p.coalesceLookups(d.ConnConfig.LookupFunc)
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	if err := p.fillMinConns(ctx); err != nil {
		close(p.bgDone)
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		p.Close(cctx)
		return nil, err
	}
	go p.background()
	return p, nil
}

// coalesceLookups wraps next (nil: the resolver conn uses by default) so
// that concurrent connection attempts to the same host share one lookup.
func (p *Pool) coalesceLookups(next conn.LookupFunc) conn.LookupFunc {
	if next == nil {
		next = netLookup
	}
	return func(ctx context.Context, host string) ([]string, error) {
		for try := 0; ; try++ {
			v, err, shared := p.lookups.Do(host, func() (any, error) { return next(ctx, host) })
			if err != nil && shared && ctx.Err() == nil && try < lookupRetries &&
				(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				continue // the caller that ran the lookup gave up, this one did not
			}
			if err != nil {
				return nil, err
			}
			return slices.Clone(v.([]string)), nil
		}
	}
}

// netLookup is the resolver conn uses when Config.LookupFunc is nil.
func netLookup(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}

// Acquire returns a connection from the idle set, or opens a new one when
// none is idle and fewer than MaxConns exist; otherwise it waits until one
// is released. A connection that has been idle for PingAfterIdle is pinged
// first, and one that fails the ping or has outlived MaxConnLifetime is
// quarantined and the next one tried.
//
// Acquire fails with ErrClosed after Close, with a *CircuitOpenError while
// the circuit breaker is open, with the context's error (wrapped) when ctx
// or AcquireTimeout ends first, and with the connection error when a new
// connection cannot be opened. The returned Conn must be released with
// Release.
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) {
	if p.tripped.Load() {
		if err := p.allowAcquire(); err != nil {
			return nil, err
		}
	}
	if !p.sem.TryAcquire(1) {
		return p.acquireSlow(ctx)
	}
	return p.acquireSlot(ctx, time.Time{}, false)
}

// allowAcquire asks the circuit breaker.
func (p *Pool) allowAcquire() error {
	now := p.cfg.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	err := p.breaker.allow(now)
	p.tripped.Store(p.breaker.tripped())
	return err
}

// bound returns ctx bounded by AcquireTimeout and by Close.
func (p *Pool) bound(ctx context.Context) (context.Context, func()) {
	var cancelTimeout context.CancelFunc
	if p.cfg.AcquireTimeout > 0 {
		ctx, cancelTimeout = context.WithTimeout(ctx, p.cfg.AcquireTimeout)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.bgCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
		if cancelTimeout != nil {
			cancelTimeout()
		}
	}
}

// acquireSlow waits for a slot.
func (p *Pool) acquireSlow(ctx context.Context) (*Conn, error) {
	start := time.Now()
	ctx, done := p.bound(ctx)
	defer done()
	if err := p.sem.Acquire(ctx, 1); err != nil {
		p.mu.Lock()
		p.canceledCount++
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("pool: acquire: %w", err)
	}
	return p.acquireSlot(ctx, start, true)
}

// acquireSlot hands out a connection once the caller holds a slot of the
// semaphore; the slot passes to the returned Conn, or is released on error.
// start is when the caller began to wait (zero if it did not); bounded
// says whether ctx is already bounded by p.bound.
func (p *Pool) acquireSlot(ctx context.Context, start time.Time, bounded bool) (*Conn, error) {
	for {
		now := p.cfg.now()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			p.sem.Release(1)
			return nil, ErrClosed
		}
		if n := len(p.idle); n > 0 {
			ic := p.idle[n-1]
			p.idle[n-1] = idleConn{}
			p.idle = p.idle[:n-1]
			ic.m.state = stateBorrowed
			p.borrowed++
			expired := ic.m.expired(now)
			stale := p.cfg.PingAfterIdle >= 0 && now.Sub(ic.m.provenAt) >= p.cfg.PingAfterIdle
			if !expired && !stale {
				// The common case: counted under the same lock.
				p.countAcquireLocked(start)
				p.mu.Unlock()
				return &Conn{p: p, m: ic.m, c: ic.c}, nil
			}
			p.mu.Unlock()
			if expired {
				p.discard(ic.m, ic.c, fromBorrowed, ReasonLifetime, "")
				continue
			}
			ok, err := p.pingBorrowed(ctx, ic)
			if err != nil {
				p.sem.Release(1)
				p.countCanceled()
				return nil, err
			}
			if !ok {
				continue
			}
			p.countAcquire(start)
			return &Conn{p: p, m: ic.m, c: ic.c}, nil
		}
		if err := p.breaker.allow(now); err != nil {
			p.tripped.Store(p.breaker.tripped())
			p.mu.Unlock()
			p.sem.Release(1)
			return nil, err
		}
		p.constructing++
		p.mu.Unlock()

		if start.IsZero() {
			start = time.Now()
		}
		if !bounded {
			var done func()
			ctx, done = p.bound(ctx)
			defer done()
			bounded = true
		}
		m, c, err := p.connect(ctx)
		if err != nil {
			p.connectFailed(ctx, err, true)
			p.sem.Release(1)
			if p.isClosed() {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("pool: connect: %w", err)
		}
		p.mu.Lock()
		p.newCount++
		if p.closed {
			p.mu.Unlock()
			p.discard(m, c, fromConstructing, ReasonClosed, "")
			p.sem.Release(1)
			return nil, ErrClosed
		}
		p.constructing--
		m.state = stateBorrowed
		p.borrowed++
		p.acquireCount++
		p.waitCount++
		p.waitTotal += time.Since(start)
		p.mu.Unlock()
		return &Conn{p: p, m: m, c: c}, nil
	}
}

func (p *Pool) countAcquire(start time.Time) {
	p.mu.Lock()
	p.countAcquireLocked(start)
	p.mu.Unlock()
}

func (p *Pool) countAcquireLocked(start time.Time) {
	p.acquireCount++
	if !start.IsZero() {
		p.waitCount++
		p.waitTotal += time.Since(start)
	}
}

func (p *Pool) countCanceled() {
	p.mu.Lock()
	p.canceledCount++
	p.mu.Unlock()
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// pingBorrowed proves an idle connection alive before it is handed out. It
// reports true when the connection may be used; false when it was
// quarantined; and an error when ctx ended, in which case the connection
// went back to the idle set if it was still clean.
func (p *Pool) pingBorrowed(ctx context.Context, ic idleConn) (bool, error) {
	pctx, cancel := context.WithTimeout(ctx, p.cfg.PingTimeout)
	err := ping(pctx, ic.c)
	cancel()
	if err == nil {
		ic.m.provenAt = p.cfg.now()
		return true, nil
	}
	if ctx.Err() != nil {
		if verdict(ic.c) == "" {
			p.putIdle(ic.m, ic.c, fromBorrowed, false)
		} else {
			p.discard(ic.m, ic.c, fromBorrowed, ReasonHealthCheckFailed, causeOf(ic.c, err))
		}
		if p.isClosed() {
			return false, ErrClosed
		}
		return false, fmt.Errorf("pool: acquire: %w", ctx.Err())
	}
	p.discard(ic.m, ic.c, fromBorrowed, ReasonHealthCheckFailed, causeOf(ic.c, err))
	return false, nil
}

// ping runs an empty Query: one round trip through the protocol tracker.
func ping(ctx context.Context, c *conn.Conn) error {
	if err := c.Exec(ctx, "").Close(); err != nil {
		return err
	}
	if r := verdict(c); r != "" {
		return errors.New("pool: ping left the connection " + r)
	}
	return nil
}

// connect opens and checks a new connection. The caller has counted it in
// constructing and holds a slot.
func (p *Pool) connect(ctx context.Context) (*member, *conn.Conn, error) {
	c, err := conn.ConnectConfig(ctx, p.connCfg)
	if err != nil {
		return nil, nil, err
	}
	if f := p.cfg.AfterConnect; f != nil {
		if err := f(ctx, c); err != nil {
			closeConn(c)
			return nil, nil, fmt.Errorf("after connect: %w", err)
		}
	}
	if r := verdict(c); r != "" {
		closeConn(c)
		return nil, nil, errors.New("new connection is not clean: " + r)
	}
	now := p.cfg.now()
	m := &member{pid: c.PID(), created: now, idleSince: now, provenAt: now, state: stateChecking}
	if lt := p.cfg.MaxConnLifetime; lt > 0 {
		if j := p.cfg.MaxConnLifetimeJitter; j > 0 {
			lt += rand.N(j)
		}
		m.expires = now.Add(lt)
	}
	// The cleanup runs once c is unreachable. The pool references c only
	// while it is idle, so that happens after a quarantine (state gone:
	// nothing to do) or when a borrower dropped its Conn without Release.
	runtime.AddCleanup(c, p.unreachable, m)
	return m, c, nil
}

// connectFailed accounts for a failed connection attempt: one ended by
// ctx counts as a canceled acquire when acquiring, any other one as a
// connect error and a fault for the circuit breaker.
func (p *Pool) connectFailed(ctx context.Context, err error, acquiring bool) {
	now := p.cfg.now()
	fault := ctx.Err() == nil
	p.mu.Lock()
	p.constructing--
	switch {
	case fault:
		p.connectErrs++
	case acquiring:
		p.canceledCount++
	}
	opened := fault && p.breaker.fault(now)
	p.tripped.Store(p.breaker.tripped())
	p.maybeDrainedLocked()
	faults, until := p.breaker.faults, p.breaker.until
	p.mu.Unlock()
	if opened {
		p.cfg.Logger.Warn("pool: circuit breaker opened", logKeyFaults, faults, logKeyUntil, until, logKeyError, err)
	}
}

// unreachable is the cleanup of a connection: a borrowed one was leaked.
func (p *Pool) unreachable(m *member) {
	p.mu.Lock()
	leaked := m.state == stateBorrowed
	p.mu.Unlock()
	if !leaked {
		return
	}
	// The socket is closed by the runtime with the unreachable connection.
	p.discard(m, nil, fromBorrowed, ReasonLeaked, "")
	p.sem.Release(1)
}

// release takes a connection back from a borrower.
func (p *Pool) release(m *member, c *conn.Conn) {
	reason, cause := verdict(c), ""
	if reason == "" && (p.cfg.ResetQuery != "" || p.cfg.BeforeRelease != nil) {
		reason, cause = p.reset(c)
	}
	if reason != "" {
		p.discard(m, c, fromBorrowed, reason, cause)
		p.sem.Release(1)
		return
	}
	p.putIdle(m, c, fromBorrowed, true)
	p.sem.Release(1)
}

// reset runs ResetQuery and BeforeRelease.
func (p *Pool) reset(c *conn.Conn) (reason, cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ResetTimeout)
	defer cancel()
	if q := p.cfg.ResetQuery; q != "" {
		if err := c.Exec(ctx, q).Close(); err != nil {
			return ReasonResetFailed, causeOf(c, err)
		}
	}
	if f := p.cfg.BeforeRelease; f != nil && !f(ctx, c) {
		return ReasonResetFailed, "before_release"
	}
	if r := verdict(c); r != "" {
		return ReasonResetFailed, r
	}
	return "", ""
}

// putIdle returns a clean connection to the idle set, or quarantines it if
// it expired or the pool closed. proven says whether the connection was just
// seen clean (a release) rather than merely not used (a canceled ping).
// The caller keeps its slot.
func (p *Pool) putIdle(m *member, c *conn.Conn, from origin, proven bool) {
	now := p.cfg.now()
	if m.expired(now) {
		p.discard(m, c, from, ReasonLifetime, "")
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(m, c, from, ReasonClosed, "")
		return
	}
	p.leaveLocked(from)
	m.state = stateIdle
	if from != fromChecking {
		m.idleSince = now
	}
	if proven {
		m.provenAt = now
	}
	if proven && from == fromBorrowed {
		p.breaker.success()
		p.tripped.Store(p.breaker.tripped())
	}
	p.idle = append(p.idle, idleConn{m: m, c: c})
	p.mu.Unlock()
}

// leaveLocked decrements the count a connection leaves.
func (p *Pool) leaveLocked(from origin) {
	switch from {
	case fromBorrowed:
		p.borrowed--
	case fromChecking:
		p.checking--
	case fromConstructing:
		p.constructing--
	}
}

// discard quarantines a connection: closes it (c may be nil when it is
// already unreachable), counts it, records the event and logs it. The
// caller keeps its slot.
func (p *Pool) discard(m *member, c *conn.Conn, from origin, reason, cause string) {
	if c != nil {
		closeConn(c)
	}
	now := p.cfg.now()
	ev := QuarantineEvent{Time: now, Reason: reason, Cause: cause, PID: m.pid, Age: now.Sub(m.created)}
	ev.Statement, ev.StatementHash = m.fingerprint()
	p.mu.Lock()
	p.leaveLocked(from)
	m.state = stateGone
	p.quarantines.add(ev)
	opened := !routine(reason) && p.breaker.fault(now)
	p.tripped.Store(p.breaker.tripped())
	p.maybeDrainedLocked()
	faults, until := p.breaker.faults, p.breaker.until
	refill := !p.closed && p.cfg.MinConns > 0
	p.mu.Unlock()

	attrs := []any{logKeyReason, reason, logKeyPID, ev.PID, logKeyAge, ev.Age}
	if cause != "" {
		attrs = append(attrs, logKeyCause, cause)
	}
	if ev.Statement != "" {
		attrs = append(attrs, logKeyStatement, ev.Statement, logKeyStatementHash, ev.StatementHash)
	}
	p.cfg.Logger.Warn("pool: connection quarantined", attrs...)
	if opened {
		p.cfg.Logger.Warn("pool: circuit breaker opened", logKeyFaults, faults, logKeyUntil, until)
	}
	if refill {
		p.kickBackground()
	}
}

func closeConn(c *conn.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	c.Close(ctx)
}

// maybeDrainedLocked closes drained once the pool is closed and holds no
// connection outside the idle set.
func (p *Pool) maybeDrainedLocked() {
	if p.closed && !p.drainedClosed && p.borrowed == 0 && p.constructing == 0 && p.checking == 0 {
		p.drainedClosed = true
		close(p.drained)
	}
}

func (p *Pool) kickBackground() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// background is the one goroutine a Pool owns: the periodic health check
// and the MinConns maintenance after quarantines. Close stops it.
func (p *Pool) background() {
	defer close(p.bgDone)
	var tick <-chan time.Time
	if p.cfg.HealthCheckPeriod > 0 {
		t := time.NewTicker(p.cfg.HealthCheckPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.bgCtx.Done():
			return
		case <-tick:
			p.healthCheck(p.bgCtx)
		case <-p.kick:
			if err := p.fillMinConns(p.bgCtx); err != nil && p.bgCtx.Err() == nil {
				p.cfg.Logger.Warn("pool: cannot open connections up to MinConns", logKeyError, err)
			}
		}
	}
}

// healthCheck quarantines expired and long-idle connections, pings the
// idle connections not proven for PingAfterIdle, and opens connections up
// to MinConns.
func (p *Pool) healthCheck(ctx context.Context) {
	p.evict()
	p.pingIdle(ctx)
	if err := p.fillMinConns(ctx); err != nil && ctx.Err() == nil {
		p.cfg.Logger.Warn("pool: cannot open connections up to MinConns", logKeyError, err)
	}
}

// evict quarantines idle connections past their lifetime or idle time.
func (p *Pool) evict() {
	now := p.cfg.now()
	type out struct {
		ic     idleConn
		reason string
	}
	var outs []out
	p.mu.Lock()
	total := p.totalLocked()
	kept := p.idle[:0]
	for _, ic := range p.idle {
		switch {
		case ic.m.expired(now):
			outs = append(outs, out{ic, ReasonLifetime})
		case p.cfg.MaxConnIdleTime > 0 && now.Sub(ic.m.idleSince) >= p.cfg.MaxConnIdleTime && total > p.cfg.MinConns:
			outs = append(outs, out{ic, ReasonIdleTimeout})
			total--
		default:
			kept = append(kept, ic)
			continue
		}
		ic.m.state = stateChecking
		p.checking++
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.mu.Unlock()
	for _, o := range outs {
		p.discard(o.ic.m, o.ic.c, fromChecking, o.reason, "")
	}
}

// pingIdle pings every idle connection that has not been proven clean for
// PingAfterIdle (all of them when PingAfterIdle is negative), one at a
// time, each holding a slot so that the pool never exceeds MaxConns. It
// stops when the pool is fully busy.
func (p *Pool) pingIdle(ctx context.Context) {
	age := max(p.cfg.PingAfterIdle, 0)
	now := p.cfg.now()
	p.mu.Lock()
	var due []*member
	for _, ic := range p.idle {
		if now.Sub(ic.m.provenAt) >= age {
			due = append(due, ic.m)
		}
	}
	p.mu.Unlock()
	for _, m := range due {
		if ctx.Err() != nil || !p.sem.TryAcquire(1) {
			return
		}
		p.mu.Lock()
		i := slices.IndexFunc(p.idle, func(ic idleConn) bool { return ic.m == m })
		if i < 0 {
			p.mu.Unlock()
			p.sem.Release(1)
			continue // acquired meanwhile
		}
		ic := p.idle[i]
		p.idle = slices.Delete(p.idle, i, i+1)
		m.state = stateChecking
		p.checking++
		p.mu.Unlock()

		pctx, cancel := context.WithTimeout(ctx, p.cfg.PingTimeout)
		err := ping(pctx, ic.c)
		cancel()
		switch {
		case err == nil:
			m.provenAt = p.cfg.now()
			p.putIdle(m, ic.c, fromChecking, false)
		case ctx.Err() != nil && verdict(ic.c) == "":
			p.putIdle(m, ic.c, fromChecking, false) // the pool is closing
		default:
			p.discard(m, ic.c, fromChecking, ReasonHealthCheckFailed, causeOf(ic.c, err))
		}
		p.sem.Release(1)
	}
}

// fillMinConns opens connections until MinConns exist, the pool is full,
// closed or its circuit open, or a connection fails.
func (p *Pool) fillMinConns(ctx context.Context) error {
	for {
		now := p.cfg.now()
		p.mu.Lock()
		if p.closed || p.totalLocked() >= p.cfg.MinConns || p.breaker.openAt(now) {
			p.mu.Unlock()
			return nil
		}
		if !p.sem.TryAcquire(1) {
			p.mu.Unlock()
			return nil
		}
		p.constructing++
		p.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, backgroundConnectTimeout)
		m, c, err := p.connect(cctx)
		cancel()
		if err != nil {
			p.connectFailed(ctx, err, false)
			p.sem.Release(1)
			return fmt.Errorf("pool: connect: %w", err)
		}
		p.mu.Lock()
		p.newCount++
		p.mu.Unlock()
		p.putIdle(m, c, fromConstructing, true)
		p.sem.Release(1)
	}
}

func (p *Pool) totalLocked() int {
	return len(p.idle) + p.borrowed + p.constructing + p.checking
}

// Close closes the pool: Acquire fails with ErrClosed from now on, idle
// connections are closed at once, the background goroutine is stopped, and
// Close waits, bounded by ctx, until every borrowed connection has been
// released (and closed) and every connection being opened has been closed.
// If ctx ends first Close returns its error (wrapped); the connections still
// borrowed are closed when they are released. Close is idempotent: a later
// call waits in the same way.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	var idle []idleConn
	if !p.closed {
		p.closed = true
		idle = p.idle
		p.idle = nil
		for _, ic := range idle {
			ic.m.state = stateChecking
			p.checking++
		}
		p.maybeDrainedLocked()
	}
	p.mu.Unlock()
	p.bgCancel()
	for _, ic := range idle {
		p.discard(ic.m, ic.c, fromChecking, ReasonClosed, "")
	}
	select {
	case <-p.bgDone:
	case <-ctx.Done():
		return fmt.Errorf("pool: close: %w", ctx.Err())
	}
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool: close: %w", ctx.Err())
	}
}
