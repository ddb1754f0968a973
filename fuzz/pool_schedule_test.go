package fuzz

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/pool"
	"github.com/pgstrict/pgstrict/wire"
)

// Flags of FuzzPoolSchedule, the first byte of the schedule.
const (
	// poolConnsMask: MaxConns is 1 + flags&poolConnsMask.
	poolConnsMask = 3
	// poolPing makes Acquire ping every idle connection.
	poolPing = 1 << 2
	// poolReset sets ResetQuery to DISCARD ALL.
	poolReset = 1 << 3
	// poolBreaker enables a circuit breaker that opens after 3 faults.
	poolBreaker = 1 << 4
	// poolShortLife makes every connection expire at once.
	poolShortLife = 1 << 5
)

// Operations of a schedule, one byte each: the low three bits choose the
// operation, the next two the handle slot, the top three its argument.
const (
	schedAcquire    = iota // Acquire into the slot (argument 0: an already cancelled context)
	schedRelease           // Release the slot
	schedQuery             // a query on the slot's handle
	schedLeaveOpen         // a query whose reader is left open, then Release
	schedBegin             // BEGIN on the slot's handle (released in a transaction, it must be quarantined)
	schedPoolExec          // Pool.Exec
	schedBurst             // 1 + argument goroutines at once, each Acquire, a query, Release
	schedReleaseAll        // Release every slot
)

// Faults a backend injects, one byte per dial (cycled): the low three bits
// are the fault, the next three how many replies come before it.
const (
	faultNone         = iota
	faultGarbage      // a message of unknown type: desync
	faultFatal        // a FATAL ErrorResponse, then the end of the connection
	faultEOF          // the end of the connection
	faultEncoding     // ParameterStatus client_encoding SQL_ASCII: desync
	faultStall        // no reply until a CancelRequest; then 57014 and ReadyForQuery
	faultStallForever // no reply, cancel ignored: the drain fails
	faultInTx         // ReadyForQuery with status T: clean, but not reusable
)

// poolQueryTimeout bounds the queries of a schedule: a stalled backend
// costs this plus the drain.
const poolQueryTimeout = 10 * time.Millisecond

// FuzzPoolSchedule runs a pool.Pool over fake backends under a fuzzed
// schedule of acquires, releases, queries, cancellations (contexts that
// end) and injected faults.
//
// Every dial opens a new backend (net.Pipe) with a unique process ID in
// BackendKeyData. A backend answers "select N" with one row "<pid>:N",
// an empty query (a ping) with EmptyQueryResponse, DISCARD ALL and BEGIN
// with their tags, until its fault (from faults) is due. A dial that
// carries a CancelRequest reaches the backend it names.
//
// Properties:
//   - no panic, no hang: every call returns within hangLimit, Close
//     completes and every backend ends;
//   - no handle ever gets an answer that is not its own: the row of
//     "select N" is "<the handle's pid>:N";
//   - a connection that a fault made unusable or unfit for reuse (a
//     desync, the end of the stream, a failed drain, a transaction left
//     open), or that was released busy, dirty or closed, is never handed
//     out again; a handed-out connection is clean (usable, idle, status I);
//   - Stat stays consistent: Total = Idle + Borrowed + Constructing ≤
//     MaxConns, Borrowed is the number of handles held, the quarantine
//     counts add up and cover every connection the schedule retired,
//     AcquireCount counts the successful acquires, and after Close the
//     pool holds nothing.
func FuzzPoolSchedule(f *testing.F) {
	op := func(o, slot, arg int) byte { return byte(o) | byte(slot)<<3 | byte(arg)<<5 }
	f.Add([]byte{1, op(schedAcquire, 0, 1), op(schedQuery, 0, 0), op(schedRelease, 0, 0), op(schedAcquire, 1, 1),
		op(schedQuery, 1, 0), op(schedReleaseAll, 0, 0)}, []byte{faultNone})
	f.Add([]byte{poolPing | 1, op(schedAcquire, 0, 1), op(schedQuery, 0, 0), op(schedQuery, 0, 0), op(schedRelease, 0, 0),
		op(schedAcquire, 0, 1), op(schedQuery, 0, 0)}, []byte{faultGarbage | 1<<3, faultNone})
	f.Add([]byte{3, op(schedBurst, 0, 3), op(schedPoolExec, 0, 0), op(schedAcquire, 2, 1), op(schedBegin, 2, 0),
		op(schedRelease, 2, 0), op(schedBurst, 0, 7)}, []byte{faultNone, faultStall | 1<<3, faultInTx | 2<<3})
	f.Add([]byte{poolReset | poolBreaker, op(schedAcquire, 0, 1), op(schedLeaveOpen, 0, 0), op(schedAcquire, 0, 1),
		op(schedQuery, 0, 0), op(schedRelease, 0, 0), op(schedPoolExec, 0, 0), op(schedPoolExec, 0, 0)},
		[]byte{faultFatal, faultEOF, faultEncoding, faultStallForever})
	f.Add([]byte{poolShortLife | 2, op(schedAcquire, 0, 0), op(schedAcquire, 1, 1), op(schedAcquire, 2, 1),
		op(schedAcquire, 3, 1), op(schedQuery, 3, 0), op(schedReleaseAll, 0, 0)}, []byte{faultNone})
	f.Fuzz(func(t *testing.T, schedule, faults []byte) {
		if len(schedule) < 1 || len(schedule) > 48 {
			return
		}
		fuzzPoolSchedule(t, schedule[0], schedule[1:], faults)
	})
}

func fuzzPoolSchedule(t *testing.T, flags byte, ops, faults []byte) {
	w := &poolWorld{faults: faults, backends: map[uint32]*poolBackend{}, retired: map[uint32]bool{},
		stop: make(chan struct{})}
	defer func() {
		close(w.stop)
		w.closeAll()
		if !w.g.wait() {
			t.Fatalf("hang: backend goroutines did not end")
		}
	}()
	cc := baseConfig(w.Dial)
	cc.DrainTimeout = poolQueryTimeout
	cfg := &pool.Config{
		ConnConfig:        cc,
		MaxConns:          1 + int(flags&poolConnsMask),
		HealthCheckPeriod: -1,
		PingAfterIdle:     -1,
		PingTimeout:       poolQueryTimeout,
		MaxConnIdleTime:   -1,
		CircuitBreaker:    pool.CircuitBreakerConfig{Threshold: -1},
	}
	if flags&poolPing != 0 {
		cfg.PingAfterIdle = time.Nanosecond
	}
	if flags&poolReset != 0 {
		cfg.ResetQuery = "DISCARD ALL"
		cfg.ResetTimeout = poolQueryTimeout
	}
	if flags&poolBreaker != 0 {
		cfg.CircuitBreaker = pool.CircuitBreakerConfig{Threshold: 3, Window: time.Minute, Cooldown: time.Minute}
	}
	if flags&poolShortLife != 0 {
		cfg.MaxConnLifetime = time.Nanosecond
	}
	watchdog(t, hangLimit, func(step func(string)) {
		step("New")
		p, err := pool.New(context.Background(), cfg)
		if err != nil {
			t.Errorf("pool.New: %v", err)
			return
		}
		s := &scheduler{r: t, p: p, w: w, max: cfg.MaxConns}
		for _, b := range ops {
			s.run(step, int(b&7), int(b>>3&3), int(b>>5))
			s.checkStat()
		}
		step("release all")
		s.releaseAll()
		s.checkStat()
		step("Close")
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit/2)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		st := p.Stat()
		if st.TotalConns != 0 || st.IdleConns != 0 || st.BorrowedConns != 0 || st.ConstructingConns != 0 {
			t.Errorf("after Close the pool still holds connections: %+v", st)
		}
	})
}

// scheduler runs a schedule and keeps the model the properties are
// checked against.
type scheduler struct {
	r     reporter
	p     *pool.Pool
	w     *poolWorld
	max   int
	slots [4]*pool.Conn
	n     int // the N of the next "select N"

	mu       sync.Mutex // guards following fields
	acquires int64      // successful acquires
}

func (s *scheduler) run(step func(string), op, slot, arg int) {
	h := s.slots[slot]
	switch op {
	case schedAcquire:
		if h != nil {
			step("Release")
			s.release(slot)
		}
		step("Acquire")
		ctx, cancel := context.WithTimeout(context.Background(), poolQueryTimeout)
		if arg == 0 {
			cancel()
		}
		h, err := s.p.Acquire(ctx)
		cancel()
		if err == nil {
			s.acquired(h)
			s.slots[slot] = h
		}
	case schedRelease:
		if h != nil {
			step("Release")
			s.release(slot)
		}
	case schedReleaseAll:
		step("release all")
		s.releaseAll()
	case schedQuery:
		if h != nil {
			step("query")
			s.query(h, s.next())
		}
	case schedLeaveOpen:
		if h != nil {
			step("query left open")
			ctx, cancel := context.WithTimeout(context.Background(), poolQueryTimeout)
			rr := h.Exec(ctx, "select "+strconv.Itoa(s.next()))
			s.release(slot)
			cancel()
			rr.Close()
		}
	case schedBegin:
		if h != nil {
			step("BEGIN")
			ctx, cancel := context.WithTimeout(context.Background(), poolQueryTimeout)
			h.Exec(ctx, "begin").Close()
			cancel()
		}
	case schedPoolExec:
		step("Pool.Exec")
		n := s.next()
		ctx, cancel := context.WithTimeout(context.Background(), poolQueryTimeout)
		before := s.p.Stat().AcquireCount
		res, err := s.p.Exec(ctx, "select "+strconv.Itoa(n))
		cancel()
		// Whether the acquire inside succeeded is not visible in err when
		// the query failed: take it from the counter, which must move by
		// one at most, and by one on success.
		d := s.p.Stat().AcquireCount - before
		if d < 0 || d > 1 || (err == nil && d != 1) {
			s.r.Errorf("Pool.Exec moved AcquireCount by %d (error %v)", d, err)
		}
		s.mu.Lock()
		s.acquires += d
		s.mu.Unlock()
		if err == nil {
			s.checkAnswer(res, 0, n)
		}
	case schedBurst:
		step("burst")
		s.burst(arg + 1)
	}
}

func (s *scheduler) next() int {
	s.n++
	return s.n
}

func (s *scheduler) count() {
	s.mu.Lock()
	s.acquires++
	s.mu.Unlock()
}

// acquired checks a connection the pool handed out.
func (s *scheduler) acquired(h *pool.Conn) {
	s.r.Helper()
	s.count()
	c := h.Conn()
	if s.w.isRetired(h.PID()) {
		s.r.Errorf("Acquire handed out the connection of pid %d, which was retired", h.PID())
	}
	if c.Err() != nil || c.State() != wire.StateIdle || c.TxStatus() != wire.TxIdle || c.IsBusy() {
		s.r.Errorf("Acquire handed out a connection that is not clean: err %v, state %s, status %q, busy %v",
			c.Err(), c.State(), byte(c.TxStatus()), c.IsBusy())
	}
}

// release releases a slot's handle and retires its connection if the
// pool must not reuse it.
func (s *scheduler) release(slot int) {
	h := s.slots[slot]
	s.slots[slot] = nil
	s.retireIfDirty(h)
	h.Release()
}

func (s *scheduler) retireIfDirty(h *pool.Conn) {
	c := h.Conn()
	if c.Err() != nil || c.State() != wire.StateIdle || c.TxStatus() != wire.TxIdle || c.IsBusy() {
		s.w.retire(h.PID())
	}
}

func (s *scheduler) releaseAll() {
	for i := range s.slots {
		if s.slots[i] != nil {
			s.release(i)
		}
	}
}

// query runs "select n" on h and checks the answer.
func (s *scheduler) query(h *pool.Conn, n int) {
	s.r.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), poolQueryTimeout)
	defer cancel()
	res, err := h.Exec(ctx, "select "+strconv.Itoa(n)).ReadAll()
	if err == nil {
		s.checkAnswer(res, h.PID(), n)
	}
}

// checkAnswer checks the result of "select n": one row "<pid>:n" (any pid
// if pid is 0).
func (s *scheduler) checkAnswer(res []*conn.Result, pid uint32, n int) {
	s.r.Helper()
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		s.r.Errorf("select %d: unexpected result shape %+v", n, res)
		return
	}
	got := string(res[0].Rows[0][0])
	want := fmt.Sprintf("%d:%d", pid, n)
	if pid == 0 {
		want = fmt.Sprintf(":%d", n)
		if !strings.HasSuffix(got, want) {
			s.r.Errorf("select %d answered %q", n, got)
		}
		return
	}
	if got != want {
		s.r.Errorf("select %d on the connection of pid %d answered %q, not its own answer %q", n, pid, got, want)
	}
}

// burst runs k goroutines at once, each acquiring a connection, querying
// it and releasing it.
func (s *scheduler) burst(k int) {
	var wg sync.WaitGroup
	base := s.n
	s.n += k
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*poolQueryTimeout)
			defer cancel()
			h, err := s.p.Acquire(ctx)
			if err != nil {
				return
			}
			s.acquired(h)
			s.query(h, base+1+i)
			s.retireIfDirty(h)
			h.Release()
		}()
	}
	wg.Wait()
}

// heldPIDs returns the process IDs of the handles the schedule holds.
func (s *scheduler) heldPIDs() []uint32 {
	var out []uint32
	for _, h := range s.slots {
		if h != nil {
			out = append(out, h.PID())
		}
	}
	return out
}

// checkStat checks the pool's counters between operations.
func (s *scheduler) checkStat() {
	s.r.Helper()
	st := s.p.Stat()
	held := 0
	for _, h := range s.slots {
		if h != nil {
			held++
		}
	}
	if st.TotalConns != st.IdleConns+st.BorrowedConns+st.ConstructingConns {
		s.r.Errorf("Stat: total %d != idle %d + borrowed %d + constructing %d", st.TotalConns, st.IdleConns,
			st.BorrowedConns, st.ConstructingConns)
	}
	if st.TotalConns > s.max || st.MaxConns != s.max {
		s.r.Errorf("Stat: %d connections, max %d (configured %d)", st.TotalConns, st.MaxConns, s.max)
	}
	if st.BorrowedConns != held || st.ConstructingConns != 0 {
		s.r.Errorf("Stat: %d borrowed and %d constructing while the schedule holds %d", st.BorrowedConns,
			st.ConstructingConns, held)
	}
	var sum int64
	for _, n := range st.Quarantined {
		sum += n
	}
	if sum != st.QuarantineCount {
		s.r.Errorf("Stat: quarantines by reason add up to %d, QuarantineCount is %d", sum, st.QuarantineCount)
	}
	// A retired connection still held is quarantined at its release.
	if retired := int64(s.w.retiredCount(s.heldPIDs())); st.QuarantineCount < retired {
		s.r.Errorf("Stat: %d quarantines, but %d released connections had to be retired", st.QuarantineCount, retired)
	}
	s.mu.Lock()
	acquires := s.acquires
	s.mu.Unlock()
	if st.AcquireCount != acquires {
		s.r.Errorf("Stat: AcquireCount %d, the schedule acquired %d", st.AcquireCount, acquires)
	}
	if dials := int64(s.w.dialCount()); st.NewConnCount > dials {
		s.r.Errorf("Stat: %d new connections from %d dials", st.NewConnCount, dials)
	}
}

// poolWorld is the set of fake backends of one schedule.
type poolWorld struct {
	g      goroutines
	faults []byte
	stop   chan struct{}

	mu       sync.Mutex // guards following fields
	dials    int
	backends map[uint32]*poolBackend
	retired  map[uint32]bool // connections the pool must never hand out again
	conns    []net.Conn
}

type poolBackend struct {
	pid    uint32
	fault  byte
	cancel chan struct{} // a CancelRequest for this backend arrived
}

func (w *poolWorld) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	w.mu.Lock()
	w.conns = append(w.conns, client, server)
	w.mu.Unlock()
	w.g.Go(func() { w.serve(server) })
	return client, nil
}

func (w *poolWorld) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		c.Close()
	}
}

func (w *poolWorld) retire(pid uint32) {
	w.mu.Lock()
	w.retired[pid] = true
	w.mu.Unlock()
}

func (w *poolWorld) isRetired(pid uint32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.retired[pid]
}

// retiredCount returns the number of retired connections not in held.
func (w *poolWorld) retiredCount(held []uint32) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.retired)
	for _, pid := range held {
		if w.retired[pid] {
			n--
		}
	}
	return n
}

func (w *poolWorld) dialCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dials
}

// serve handles one dial: a CancelRequest, or a new backend.
func (w *poolWorld) serve(nc net.Conn) {
	defer nc.Close()
	fr := newFrontendReader(nc)
	code, body, err := fr.startup()
	if err != nil {
		return
	}
	if code == cancelRequestCode {
		if len(body) >= 4 {
			w.mu.Lock()
			b := w.backends[binary.BigEndian.Uint32(body)]
			w.mu.Unlock()
			if b != nil {
				select {
				case b.cancel <- struct{}{}:
				default:
				}
			}
		}
		return
	}
	w.mu.Lock()
	b := &poolBackend{pid: uint32(1000 + w.dials), cancel: make(chan struct{}, 1)}
	if len(w.faults) > 0 {
		b.fault = w.faults[w.dials%len(w.faults)]
	}
	w.dials++
	w.backends[b.pid] = b
	w.mu.Unlock()
	if _, err := nc.Write(startupBytes(b.pid)); err != nil {
		return
	}
	w.backend(nc, fr, b)
}

// backend answers queries until its fault is due.
func (w *poolWorld) backend(nc net.Conn, fr *frontendReader, b *poolBackend) {
	kind, after := b.fault&7, int(b.fault>>3&7)
	var buf []byte
	for replies := 0; ; replies++ {
		typ, body, err := fr.next(buf)
		if err != nil || typ == 'X' {
			return
		}
		buf = body
		if typ != 'Q' {
			continue // conn sends only simple queries here
		}
		sql := strings.TrimSuffix(string(body), "\x00")
		reply := w.answer(b.pid, sql)
		if kind == faultNone || replies < after {
			if _, err := nc.Write(reply); err != nil {
				return
			}
			continue
		}
		switch kind {
		case faultGarbage, faultFatal, faultEOF, faultEncoding, faultStallForever:
			// The connection cannot survive this: retire it before the
			// client can see the fault. (A transaction left open is
			// retired at release: a later reply may end it.)
			w.retire(b.pid)
		}
		switch kind {
		case faultGarbage:
			nc.Write(frame('!', nil))
		case faultFatal:
			nc.Write(encodeBackend(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL",
				Code: "57P01", Message: "terminating connection due to administrator command"}))
			return
		case faultEOF:
			return
		case faultEncoding:
			nc.Write(append(encodeBackend(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "SQL_ASCII"}), reply...))
		case faultStall:
			select {
			case <-b.cancel:
				nc.Write(encodeBackend(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR",
					Code: "57014", Message: "canceling statement due to user request"}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
				kind = faultNone
			case <-w.stop:
				return
			}
		case faultStallForever:
			<-w.stop
			return
		case faultInTx:
			reply[len(reply)-1] = 'T'
			nc.Write(reply)
			kind = faultNone
		}
	}
}

// answer is a backend's reply to sql.
func (w *poolWorld) answer(pid uint32, sql string) []byte {
	ready := &pgproto3.ReadyForQuery{TxStatus: 'I'}
	switch {
	case sql == "":
		return encodeBackend(&pgproto3.EmptyQueryResponse{}, ready)
	case sql == "DISCARD ALL":
		return encodeBackend(&pgproto3.CommandComplete{CommandTag: []byte("DISCARD ALL")}, ready)
	case sql == "begin":
		return encodeBackend(&pgproto3.CommandComplete{CommandTag: []byte("BEGIN")}, &pgproto3.ReadyForQuery{TxStatus: 'T'})
	case strings.HasPrefix(sql, "select "):
		return encodeBackend(
			&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("v"), DataTypeOID: 25, DataTypeSize: -1,
				TypeModifier: -1}}},
			&pgproto3.DataRow{Values: [][]byte{fmt.Appendf(nil, "%d:%s", pid, strings.TrimPrefix(sql, "select "))}},
			&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, ready)
	}
	return encodeBackend(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42601",
		Message: "syntax error"}, ready)
}
