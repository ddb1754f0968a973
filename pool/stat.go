package pool

import (
	"maps"
	"time"
)

// Stat is a snapshot of a Pool's counters, taken by Pool.Stat: a value
// that shares nothing with the Pool and may be used freely. The connection
// counts satisfy TotalConns == IdleConns + BorrowedConns +
// ConstructingConns.
type Stat struct {
	// MaxConns is the configured maximum.
	MaxConns int
	// TotalConns is the number of connections the pool holds.
	TotalConns int
	// IdleConns are in the idle set, including those the health check or
	// Close is working on.
	IdleConns int
	// BorrowedConns are handed out and not yet released.
	BorrowedConns int
	// ConstructingConns are being opened.
	ConstructingConns int

	// AcquireCount is the number of successful acquires.
	AcquireCount int64
	// WaitedAcquireCount is the number of successful acquires that had to
	// wait for a free slot or for a new connection to open.
	WaitedAcquireCount int64
	// AcquireWaitTime is the total time those acquires waited. Acquires
	// served at once from the idle set count as zero.
	AcquireWaitTime time.Duration
	// CanceledAcquireCount is the number of acquires that ended with their
	// context (or AcquireTimeout) before they got a connection.
	CanceledAcquireCount int64
	// NewConnCount is the number of connections opened.
	NewConnCount int64
	// ConnectErrorCount is the number of failed connection attempts, other
	// than those ended by the acquiring context (counted as canceled).
	ConnectErrorCount int64

	// QuarantineCount is the number of connections quarantined, for any
	// reason.
	QuarantineCount int64
	// Quarantined counts quarantined connections by reason (the Reason
	// constants, and ReasonDesyncedPrefix plus a wire reason). The map is a
	// copy.
	Quarantined map[string]int64
	// RecentQuarantines are the last quarantine events, oldest first, at
	// most Config.RecentQuarantines of them.
	RecentQuarantines []QuarantineEvent

	// Circuit is the state of the churn circuit breaker.
	Circuit CircuitStat
}

// CircuitStat describes the churn circuit breaker.
type CircuitStat struct {
	// State is the current state. An open circuit whose cooldown has ended
	// is reported open until the next acquire moves it to half-open.
	State CircuitState
	// Until is the end of the cooldown of the last opening.
	Until time.Time
	// Opened is the number of times the circuit opened.
	Opened int64
	// Rejected is the number of acquires refused while it was open.
	Rejected int64
}

// AvgAcquireWait returns the mean wait per successful acquire
// (AcquireWaitTime / AcquireCount), or 0.
func (s *Stat) AvgAcquireWait() time.Duration {
	if s.AcquireCount == 0 {
		return 0
	}
	return s.AcquireWaitTime / time.Duration(s.AcquireCount)
}

// Stat returns a snapshot of the pool's counters.
func (p *Pool) Stat() Stat {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stat{
		MaxConns:             p.cfg.MaxConns,
		TotalConns:           p.totalLocked(),
		IdleConns:            len(p.idle) + p.checking,
		BorrowedConns:        p.borrowed,
		ConstructingConns:    p.constructing,
		AcquireCount:         p.acquireCount,
		WaitedAcquireCount:   p.waitCount,
		AcquireWaitTime:      p.waitTotal,
		CanceledAcquireCount: p.canceledCount,
		NewConnCount:         p.newCount,
		ConnectErrorCount:    p.connectErrs,
		QuarantineCount:      p.quarantines.total,
		Quarantined:          maps.Clone(p.quarantines.counts),
		RecentQuarantines:    p.quarantines.recent(),
		Circuit: CircuitStat{
			State:    p.breaker.state,
			Until:    p.breaker.until,
			Opened:   p.breaker.opened,
			Rejected: p.breaker.rejected,
		},
	}
}

// quarantineLog counts quarantines and keeps a ring of the recent ones. It
// is guarded by Pool.mu.
type quarantineLog struct {
	total  int64
	counts map[string]int64
	ring   []QuarantineEvent
	next   int // where the next event goes
	full   bool
}

func (q *quarantineLog) init(size int) {
	q.counts = make(map[string]int64)
	if size > 0 {
		q.ring = make([]QuarantineEvent, size)
	}
}

func (q *quarantineLog) add(ev QuarantineEvent) {
	q.total++
	q.counts[ev.Reason]++
	if len(q.ring) == 0 {
		return
	}
	q.ring[q.next] = ev
	q.next++
	if q.next == len(q.ring) {
		q.next = 0
		q.full = true
	}
}

// recent returns a copy of the ring, oldest first.
func (q *quarantineLog) recent() []QuarantineEvent {
	if !q.full {
		return append([]QuarantineEvent(nil), q.ring[:q.next]...)
	}
	out := make([]QuarantineEvent, 0, len(q.ring))
	out = append(out, q.ring[q.next:]...)
	return append(out, q.ring[:q.next]...)
}
