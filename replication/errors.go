package replication

import (
	"errors"
	"strconv"

	"github.com/pgstrict/pgstrict/wire"
)

// Sentinel errors of package replication.
var (
	// ErrStreamClosed is returned by a Stream's methods after Close, or
	// after the stream ended with an error (which the first failing call
	// returned).
	ErrStreamClosed = errors.New("replication: stream closed")
	// ErrServerDone is matched by the error Stream.Next returns when the
	// server ended the stream with CopyDone (a physical stream reaching the
	// end of a historic timeline returns a *TimelineEndError, which matches
	// it too). The stream is complete and the connection is idle.
	ErrServerDone = errors.New("replication: the server ended the stream")
	// ErrConfirmAhead is returned by Stream.Confirm for a position the server
	// has not reached in this stream: acknowledging it would tell the server
	// to discard WAL the client never received.
	ErrConfirmAhead = errors.New("replication: confirmed position is ahead of what the server sent")
)

// DecodeError reports replication data that violates the protocol: a
// malformed CopyData payload or pgoutput message, or a message that breaks
// the ordering invariants of the stream (a change outside a transaction, an
// unknown relation, a WAL position that goes backwards, …). On a Stream the
// connection is desynchronized with the same Reason, and the error
// errors.As finds is the connection's *wire.ProtocolError.
type DecodeError struct {
	// Reason classifies the violation: wire.ReasonMalformed,
	// ReasonTrailingBytes, ReasonUnterminatedString, ReasonInvalidValue,
	// ReasonInvalidUTF8, ReasonNULInText, ReasonUnknownMessageType,
	// ReasonFieldCountMismatch, ReasonReplicationState or
	// ReasonLSNBackwards.
	Reason wire.Reason
	// MsgType is the type byte of the message: a pgoutput type, or 'w',
	// 'k', 'r', 'h' for the CopyData payloads.
	MsgType byte
	// Offset is the byte offset in the message where the violation was
	// found, or -1 when it concerns the message as a whole.
	Offset int
	// Detail says what was wrong.
	Detail string
}

// Error implements error.
func (e *DecodeError) Error() string {
	s := "replication: " + e.Reason.String() + " in message " + strconv.QuoteRune(rune(e.MsgType))
	if e.Offset >= 0 {
		s += " at byte " + strconv.Itoa(e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// TimelineEndError is returned by Stream.Next when a physical stream reached
// the end of the historic timeline it was streaming: the server ended the
// stream and named the timeline that follows and where it starts. The
// connection is idle; start a new stream on Timeline at LSN. It matches
// ErrServerDone.
type TimelineEndError struct {
	// Timeline is the next timeline.
	Timeline int64
	// LSN is where the next timeline starts.
	LSN LSN
}

// Error implements error.
func (e *TimelineEndError) Error() string {
	return "replication: end of timeline: timeline " + strconv.FormatInt(e.Timeline, 10) + " starts at " + e.LSN.String()
}

// Unwrap returns ErrServerDone.
func (e *TimelineEndError) Unwrap() error { return ErrServerDone }

// VersionError reports a feature the connected server's version does not
// support. Nothing was sent.
type VersionError struct {
	// Feature names the option or command.
	Feature string
	// Need is the first PostgreSQL major version that supports it.
	Need int
	// Have is the server's major version.
	Have int
}

// Error implements error.
func (e *VersionError) Error() string {
	return "replication: " + e.Feature + " needs PostgreSQL " + strconv.Itoa(e.Need) + " or later; the server is version " + strconv.Itoa(e.Have)
}

// SafeToRetry reports true: the error is raised before anything is sent.
func (e *VersionError) SafeToRetry() bool { return true }
