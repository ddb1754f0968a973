package conn

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Sentinel errors of package conn.
var (
	// ErrClosed is returned by calls on a connection that was closed by
	// Close, by the server, or after a protocol violation; the error
	// returned wraps it together with the cause (see Conn.Err).
	ErrClosed = errors.New("conn: closed")
	// ErrBusy is returned when a call is made while a result reader or
	// pipeline is still open on the connection. Nothing was sent.
	ErrBusy = errors.New("conn: busy: an earlier result or pipeline is still open")

	// errInternal marks a bug in conn: a message the Tracker admitted that
	// a reader did not expect, or a send the Frontend refused after conn's
	// own checks passed. Every such error wraps it; the connection is
	// closed as on a desync.
	errInternal = errors.New("conn: internal error")
)

// PgError is an ErrorResponse from the server, with every field it carried.
type PgError struct {
	// Severity is the localized severity (S).
	Severity string
	// SeverityUnlocalized is the severity in English (V): ERROR, FATAL or
	// PANIC.
	SeverityUnlocalized string
	// Code is the SQLSTATE (C).
	Code string
	// Message is the primary message (M).
	Message string
	// Detail is the optional detail (D).
	Detail string
	// Hint is the optional hint (H).
	Hint string
	// Position is the 1-based character position in the query (P), or 0.
	Position int32
	// InternalPosition is the position in InternalQuery (p), or 0.
	InternalPosition int32
	// InternalQuery is the text of an internally generated query (q).
	InternalQuery string
	// Where is the context (W).
	Where string
	// SchemaName, TableName, ColumnName, DataTypeName and ConstraintName
	// name the object involved (s, t, c, d, n).
	SchemaName, TableName, ColumnName, DataTypeName, ConstraintName string
	// File, Line and Routine locate the error in the server's source (F, L, R).
	File    string
	Line    int32
	Routine string
}

func newPgError(m *pgproto3.ErrorResponse) *PgError {
	return &PgError{
		Severity: m.Severity, SeverityUnlocalized: m.SeverityUnlocalized, Code: m.Code, Message: m.Message,
		Detail: m.Detail, Hint: m.Hint, Position: m.Position, InternalPosition: m.InternalPosition,
		InternalQuery: m.InternalQuery, Where: m.Where, SchemaName: m.SchemaName, TableName: m.TableName,
		ColumnName: m.ColumnName, DataTypeName: m.DataTypeName, ConstraintName: m.ConstraintName,
		File: m.File, Line: m.Line, Routine: m.Routine,
	}
}

// Error implements error: "ERROR: message (SQLSTATE 42P01)".
func (e *PgError) Error() string {
	sev := e.Severity
	if sev == "" {
		sev = e.SeverityUnlocalized
	}
	return sev + ": " + e.Message + " (SQLSTATE " + e.Code + ")"
}

// SQLState returns the SQLSTATE code.
func (e *PgError) SQLState() string { return e.Code }

// Fatal reports whether the error ended the session (FATAL or PANIC).
func (e *PgError) Fatal() bool {
	return e.SeverityUnlocalized == "FATAL" || e.SeverityUnlocalized == "PANIC"
}

// Notice is a NoticeResponse from the server. It has the same fields as
// PgError.
type Notice PgError

// Notification is a NotificationResponse (the result of NOTIFY).
type Notification struct {
	// PID is the process ID of the notifying backend.
	PID uint32
	// Channel is the channel name.
	Channel string
	// Payload is the payload string.
	Payload string
}

// ConnectError reports a failed connection attempt. It holds one error per
// host tried, in order.
type ConnectError struct {
	// Attempts are the failures, one per host and address tried.
	Attempts []*HostError
}

// HostError is the failure of one connection attempt.
type HostError struct {
	// Host and Port name the target tried.
	Host string
	Port uint16
	// Err is why it failed.
	Err error
}

// Error implements error.
func (e *HostError) Error() string {
	return "host " + e.Host + " port " + strconv.Itoa(int(e.Port)) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *HostError) Unwrap() error { return e.Err }

// Error implements error.
func (e *ConnectError) Error() string {
	if len(e.Attempts) == 0 {
		return "conn: connect: no host to try"
	}
	parts := make([]string, len(e.Attempts))
	for i, a := range e.Attempts {
		parts[i] = a.Error()
	}
	return "conn: connect: " + strings.Join(parts, "; ")
}

// Unwrap returns the error of every attempt.
func (e *ConnectError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		errs[i] = a
	}
	return errs
}

// AuthError reports an authentication failure decided by the client: a
// method refused by require_auth, a SCRAM signature that does not verify,
// channel binding that was required but not used, an unsupported method.
type AuthError struct {
	// Method is the method the server asked for ("md5", "scram-sha-256", …).
	Method string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *AuthError) Error() string {
	if e.Method == "" {
		return "conn: authentication: " + e.Reason
	}
	return "conn: authentication (" + e.Method + "): " + e.Reason
}

// closedError is what every call returns once the connection is unusable:
// it matches ErrClosed and unwraps to the cause.
type closedError struct{ cause error }

func (e *closedError) Error() string {
	if e.cause == nil {
		return ErrClosed.Error()
	}
	return ErrClosed.Error() + ": " + e.cause.Error()
}

func (e *closedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrClosed}
	}
	return []error{ErrClosed, e.cause}
}

// notSent marks an error that occurred before anything reached the server.
type notSent struct{ err error }

func (e *notSent) Error() string     { return e.err.Error() }
func (e *notSent) Unwrap() error     { return e.err }
func (e *notSent) SafeToRetry() bool { return true }
func safeToRetry(err error) error    { return &notSent{err: err} }
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
func isTimeout(err error) bool { var ne net.Error; return errors.As(err, &ne) && ne.Timeout() }

// SafeToRetry reports whether err is known to have happened before anything
// was sent to the server, so that the call can be retried on any
// connection.
func SafeToRetry(err error) bool {
	var r interface{ SafeToRetry() bool }
	return errors.As(err, &r) && r.SafeToRetry()
}

// Timeout reports whether err was caused by a context deadline or a network
// timeout.
func Timeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
}
