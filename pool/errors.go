package pool

import (
	"errors"
	"strconv"
	"time"
)

// Sentinel errors of package pool.
var (
	// ErrClosed is returned by Acquire (and the convenience methods) once
	// Close has been called.
	ErrClosed = errors.New("pool: closed")
	// ErrCircuitOpen is matched (errors.Is) by every *CircuitOpenError.
	ErrCircuitOpen = errors.New("pool: circuit open")
)

// CircuitOpenError is returned by Acquire while the churn circuit breaker is
// open: too many connections were quarantined (or failed to connect) within
// the breaker's window, and the pool refuses to open new ones until Until.
// Nothing was sent to the server; SafeToRetry reports true. It matches
// ErrCircuitOpen.
type CircuitOpenError struct {
	// Faults is the number of faults (quarantines and failed connection
	// attempts) that opened the circuit.
	Faults int
	// Window is the period in which they happened.
	Window time.Duration
	// Until is when the circuit becomes half-open and acquires are tried
	// again.
	Until time.Time
}

// Error implements error.
func (e *CircuitOpenError) Error() string {
	return "pool: circuit open: " + strconv.Itoa(e.Faults) + " connection faults within " + e.Window.String() +
		"; acquires fail until " + e.Until.Format(time.RFC3339Nano)
}

// Unwrap returns ErrCircuitOpen.
func (e *CircuitOpenError) Unwrap() error { return ErrCircuitOpen }

// SafeToRetry reports true: the acquire failed before anything was sent.
func (e *CircuitOpenError) SafeToRetry() bool { return true }

// ConfigError reports an invalid pool configuration or a pool_* keyword
// that ParseConfig cannot accept.
type ConfigError struct {
	// Field is the Config field or the connection string keyword.
	Field string
	// Problem says what is wrong.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *ConfigError) Error() string {
	s := "pool: config: " + e.Field + ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }
