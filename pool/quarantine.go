package pool

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// Quarantine reasons: the keys of Stat.Quarantined and the Reason of a
// QuarantineEvent. A desynchronized connection is counted as
// ReasonDesyncedPrefix followed by the wire.Reason (String form) of its
// *wire.ProtocolError, for example "desynced:parameter_change".
const (
	// ReasonDesyncedPrefix starts the reason of a connection that broke the
	// protocol (conn.Err wraps a *wire.ProtocolError).
	ReasonDesyncedPrefix = "desynced:"
	// ReasonInTransaction: released inside a transaction block (status T).
	ReasonInTransaction = "in_transaction"
	// ReasonFailedTransaction: released inside a failed transaction block
	// (status E).
	ReasonFailedTransaction = "failed_transaction"
	// ReasonBusy: released with replies outstanding or a result reader or
	// pipeline still open.
	ReasonBusy = "busy"
	// ReasonCopy: released in the middle of a COPY.
	ReasonCopy = "copy"
	// ReasonReplication: released in a replication (CopyBoth) stream.
	ReasonReplication = "replication"
	// ReasonResetFailed: ResetQuery or BeforeRelease failed, or did not
	// leave the connection idle outside a transaction.
	ReasonResetFailed = "reset_failed"
	// ReasonHealthCheckFailed: a ping (at acquire or by the background
	// health check) failed.
	ReasonHealthCheckFailed = "health_check_failed"
	// ReasonLifetime: the connection outlived MaxConnLifetime.
	ReasonLifetime = "lifetime"
	// ReasonIdleTimeout: the connection stayed idle for MaxConnIdleTime.
	ReasonIdleTimeout = "idle_timeout"
	// ReasonClosedByServer: the server ended the session while the
	// connection was borrowed (a FATAL error such as 57P01 after
	// pg_terminate_backend, end of stream, connection reset).
	ReasonClosedByServer = "closed_by_server"
	// ReasonClosedByClient: the borrower closed the connection itself.
	ReasonClosedByClient = "closed_by_client"
	// ReasonInterrupted: a context ended during a request and the
	// connection could not be brought back to ReadyForQuery: the context
	// ended while the request was being written, or the CancelRequest and
	// drain did not finish within conn.Config.DrainTimeout.
	ReasonInterrupted = "interrupted"
	// ReasonIOError: the connection failed with another network error.
	ReasonIOError = "io_error"
	// ReasonLeaked: the borrowed connection became unreachable without
	// Release.
	ReasonLeaked = "leaked"
	// ReasonClosed: the pool was closed.
	ReasonClosed = "closed"
)

// routine reports whether a quarantine reason is part of normal operation
// and therefore not a fault for the circuit breaker.
func routine(reason string) bool {
	return reason == ReasonLifetime || reason == ReasonIdleTimeout || reason == ReasonClosed
}

// QuarantineEvent describes one quarantined connection; it is a plain
// value. It never holds parameter values or error messages: only a
// fingerprint of the statement.
type QuarantineEvent struct {
	// Time is when the connection was quarantined (the pool's clock).
	Time time.Time
	// Reason is one of the Reason constants, or ReasonDesyncedPrefix plus a
	// wire reason.
	Reason string
	// Cause refines Reason where the reason has a cause of its own: for
	// ReasonHealthCheckFailed and ReasonResetFailed the classification of
	// the failure ("closed_by_server", "sqlstate:42601", "timeout", …).
	// Empty otherwise.
	Cause string
	// PID is the server process ID of the connection.
	PID uint32
	// Age is how long the connection had existed.
	Age time.Duration
	// Statement is the fingerprint of the last statement issued through
	// the pool handle: the SQL with comments removed, whitespace collapsed
	// and every literal replaced by "?", cut to at most 64 bytes; or
	// "prepared:<name>" or "pipeline". Empty when none was issued.
	Statement string
	// StatementHash is the 64-bit FNV-1a hash of the whole normalized
	// statement (0 when Statement is empty), to group events whose
	// Statement was cut.
	StatementHash uint64
}

// verdict decides whether c may be reused: it returns "" when c is usable,
// idle, outside any transaction and has nothing open, and the quarantine
// reason otherwise.
func verdict(c *conn.Conn) string {
	if err := c.Err(); err != nil {
		return errReason(err)
	}
	switch st := c.State(); st {
	case wire.StateIdle:
	case wire.StateCopyIn, wire.StateCopyOut:
		return ReasonCopy
	case wire.StateCopyBoth:
		return ReasonReplication
	case wire.StateBusy:
		return ReasonBusy
	default:
		// Terminal states always come with Err; anything else (a state
		// of startup) cannot be reused either.
		return "state:" + st.String()
	}
	if c.IsBusy() {
		return ReasonBusy
	}
	switch c.TxStatus() {
	case wire.TxIdle:
		return ""
	case wire.TxInBlock:
		return ReasonInTransaction
	case wire.TxFailed:
		return ReasonFailedTransaction
	}
	return "tx_status:" + c.TxStatus().String()
}

// errReason classifies the error that made a connection unusable (the
// value of conn.Conn.Err).
func errReason(err error) string {
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		if pe.Reason == wire.ReasonUnexpectedEOF {
			// The server hung up between messages while replies were
			// expected: a server-side end, not a corrupted stream.
			return ReasonClosedByServer
		}
		return ReasonDesyncedPrefix + pe.Reason.String()
	}
	var pg *conn.PgError
	if errors.As(err, &pg) && pg.Fatal() {
		return ReasonClosedByServer
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ReasonClosedByServer
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ReasonInterrupted
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) == 1 && errs[0] == conn.ErrClosed {
			return ReasonClosedByClient
		}
	}
	return ReasonIOError
}

// causeOf classifies the error of a failed ping or reset for
// QuarantineEvent.Cause: the connection's own failure if it broke, else the
// SQLSTATE of a server error, else "timeout", "canceled" or "error".
func causeOf(c *conn.Conn, err error) string {
	if cerr := c.Err(); cerr != nil {
		return errReason(cerr)
	}
	var pg *conn.PgError
	switch {
	case errors.As(err, &pg):
		return "sqlstate:" + pg.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}
