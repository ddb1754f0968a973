package pool

import "time"

// CircuitState is the state of the churn circuit breaker.
type CircuitState string

// Circuit breaker states.
const (
	// CircuitClosed: acquires proceed normally.
	CircuitClosed CircuitState = "closed"
	// CircuitOpen: acquires fail with a *CircuitOpenError until the
	// cooldown ends.
	CircuitOpen CircuitState = "open"
	// CircuitHalfOpen: the cooldown ended; acquires proceed, and the next
	// fault opens the circuit again while the next clean release closes it.
	CircuitHalfOpen CircuitState = "half_open"
)

// breaker is the churn circuit breaker. It is not safe for concurrent use:
// the Pool calls it with its mutex held.
type breaker struct {
	threshold int // < 1: disabled
	window    time.Duration
	cooldown  time.Duration

	times []time.Time // ring of the last (up to threshold) fault times
	head  int         // index of the oldest entry when the ring is full
	n     int

	state    CircuitState
	until    time.Time // end of the cooldown while open
	faults   int       // faults that opened the circuit last
	opened   int64     // times the circuit opened
	rejected int64     // acquires refused while open
}

func newBreaker(cfg CircuitBreakerConfig) breaker {
	b := breaker{threshold: cfg.Threshold, window: cfg.Window, cooldown: cfg.Cooldown, state: CircuitClosed}
	if b.threshold > 0 {
		b.times = make([]time.Time, b.threshold)
	}
	return b
}

// tripped reports whether the breaker is not closed.
func (b *breaker) tripped() bool { return b.state != CircuitClosed }

// fault records a fault at now and reports whether it opened the circuit.
func (b *breaker) fault(now time.Time) bool {
	switch {
	case b.threshold < 1:
		return false
	case b.state == CircuitHalfOpen:
		b.faults = 1
		b.open(now)
		return true
	case b.state == CircuitOpen:
		// Faults while open (releases of connections borrowed before)
		// do not extend the cooldown.
		return false
	}
	if b.n < b.threshold {
		b.times[(b.head+b.n)%b.threshold] = now
		b.n++
	} else {
		b.times[b.head] = now
		b.head = (b.head + 1) % b.threshold
	}
	if b.n == b.threshold && now.Sub(b.times[b.head]) <= b.window {
		b.faults = b.threshold
		b.open(now)
		return true
	}
	return false
}

func (b *breaker) open(now time.Time) {
	b.state = CircuitOpen
	b.until = now.Add(b.cooldown)
	b.opened++
	b.head, b.n = 0, 0
}

// allow decides whether an acquire may proceed at now: it moves an open
// circuit whose cooldown ended to half-open, and returns a
// *CircuitOpenError while it is open.
func (b *breaker) allow(now time.Time) error {
	if b.state != CircuitOpen {
		return nil
	}
	if now.Before(b.until) {
		b.rejected++
		return &CircuitOpenError{Faults: b.faults, Window: b.window, Until: b.until}
	}
	b.state = CircuitHalfOpen
	return nil
}

// openAt reports whether the circuit is open at now, without counting a
// rejection or changing state.
func (b *breaker) openAt(now time.Time) bool {
	return b.state == CircuitOpen && now.Before(b.until)
}

// success records a connection released clean: it closes a half-open
// circuit.
func (b *breaker) success() {
	if b.state == CircuitHalfOpen {
		b.state = CircuitClosed
	}
}
