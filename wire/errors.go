package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// Reason classifies a protocol violation. Its String form is a stable
// snake_case token suitable for metrics labels (the pool counts quarantined
// connections as "desynced:<reason>").
type Reason uint8

// Reasons for a desynchronized stream. The framing rules F1 to F5 are those
// of the client-side protocol reference; the rest come from the state
// machine.
const (
	// ReasonUnknown is never produced; it is the zero value.
	ReasonUnknown Reason = iota
	// ReasonBadLength: a length word below 4, or a length that a
	// fixed-size message type cannot have (F1).
	ReasonBadLength
	// ReasonMessageTooLarge: the declared body is over the cap for its
	// type (F2). The error also wraps a *MessageTooLargeError.
	ReasonMessageTooLarge
	// ReasonTruncated: the stream ended inside a message header or body (F3).
	ReasonTruncated
	// ReasonUnexpectedEOF: the stream ended at a message boundary while
	// replies were still expected; the outcome of in-flight work is unknown.
	ReasonUnexpectedEOF
	// ReasonUnknownMessageType: a type byte that no backend message has (F4).
	ReasonUnknownMessageType
	// ReasonFrontendMessageType: a type byte only a frontend sends (F4).
	ReasonFrontendMessageType
	// ReasonMalformed: a field runs past the end of the body (F5).
	ReasonMalformed
	// ReasonUnterminatedString: a string has no terminator inside the body (F5).
	ReasonUnterminatedString
	// ReasonTrailingBytes: bytes are left after the last field (F5).
	ReasonTrailingBytes
	// ReasonInvalidValue: a field holds a value its type forbids (a status
	// byte, a format code, a negative length, a malformed SQLSTATE).
	ReasonInvalidValue
	// ReasonMissingField: an ErrorResponse or NoticeResponse without the
	// V, C or M field, or with a field twice.
	ReasonMissingField
	// ReasonInvalidUTF8: a text field or text-format value is not UTF-8.
	ReasonInvalidUTF8
	// ReasonNULInText: a text-format value holds a NUL byte.
	ReasonNULInText
	// ReasonUnexpectedMessage: the message is not legal in the current state.
	ReasonUnexpectedMessage
	// ReasonFieldCountMismatch: a DataRow's column count differs from the
	// row description in force.
	ReasonFieldCountMismatch
	// ReasonParameterChange: a watched ParameterStatus (client_encoding,
	// server_encoding, standard_conforming_strings, integer_datetimes,
	// server_version) left its safe value.
	ReasonParameterChange
	// ReasonCopyState: a COPY sub-state rule was broken.
	ReasonCopyState
	// ReasonAuthentication: the authentication exchange broke a rule (an
	// AuthenticationOk before a started SASL exchange was verified, a second
	// challenge, an unsupported method).
	ReasonAuthentication
	// ReasonProtocolVersion: an invalid NegotiateProtocolVersion or a
	// BackendKeyData that does not fit the negotiated version.
	ReasonProtocolVersion
	// ReasonReplicationState: a replication sub-state rule was broken.
	ReasonReplicationState
	// ReasonLSNBackwards: a WAL position went backwards.
	ReasonLSNBackwards
	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonUnknown:             "unknown",
	ReasonBadLength:           "bad_length",
	ReasonMessageTooLarge:     "message_too_large",
	ReasonTruncated:           "truncated",
	ReasonUnexpectedEOF:       "unexpected_eof",
	ReasonUnknownMessageType:  "unknown_message_type",
	ReasonFrontendMessageType: "frontend_message_type",
	ReasonMalformed:           "malformed",
	ReasonUnterminatedString:  "unterminated_string",
	ReasonTrailingBytes:       "trailing_bytes",
	ReasonInvalidValue:        "invalid_value",
	ReasonMissingField:        "missing_field",
	ReasonInvalidUTF8:         "invalid_utf8",
	ReasonNULInText:           "nul_in_text",
	ReasonUnexpectedMessage:   "unexpected_message",
	ReasonFieldCountMismatch:  "field_count_mismatch",
	ReasonParameterChange:     "parameter_change",
	ReasonCopyState:           "copy_state",
	ReasonAuthentication:      "authentication",
	ReasonProtocolVersion:     "protocol_version",
	ReasonReplicationState:    "replication_state",
	ReasonLSNBackwards:        "lsn_backwards",
}

// String returns the stable snake_case name of r.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// ErrSessionEnded is returned by Send methods after the session ended
// (Terminate was sent, the server sent a FATAL error, or the stream ended).
// It is terminal: the connection cannot be used again.
var ErrSessionEnded = errors.New("wire: the session has ended")

// ProtocolError reports that the server sent something that is not legal
// where it arrived. It is terminal: the stream is desynchronized and the
// connection must be closed; nothing read after it can be trusted.
type ProtocolError struct {
	// Reason classifies the violation.
	Reason Reason
	// MsgType is the type byte of the offending message, or 0 when the
	// violation is not tied to one (EOF at a boundary).
	MsgType byte
	// State is the tracker state the message arrived in (StateUnknown when
	// only the Reader saw it).
	State State
	// Offset is the position in the received stream, counted in bytes from
	// the first byte the Reader read, where the violation was detected.
	Offset int64
	// Detail says what exactly was wrong, in words.
	Detail string
	// Err is the underlying error, if any (io.ErrUnexpectedEOF,
	// *MessageTooLargeError).
	Err error
}

// Error implements error.
func (e *ProtocolError) Error() string {
	s := "wire: protocol violation: " + e.Reason.String()
	if e.MsgType != 0 {
		s += " (" + MessageName(e.MsgType) + ")"
	}
	if e.State != StateUnknown {
		s += " in state " + e.State.String()
	}
	s += " at offset " + strconv.FormatInt(e.Offset, 10)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ProtocolError) Unwrap() error { return e.Err }

// MessageTooLargeError reports a declared message body larger than the cap for
// its type. It is wrapped by a ProtocolError with ReasonMessageTooLarge.
type MessageTooLargeError struct {
	// MsgType is the type byte of the message.
	MsgType byte
	// Max is the cap in body bytes.
	Max int
	// Got is the declared body length.
	Got int64
}

// Error implements error.
func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("wire: %s body of %d bytes exceeds the cap of %d", MessageName(e.MsgType), e.Got, e.Max)
}

// InputError reports a value the caller asked to send that cannot be sent
// safely (a NUL byte in a protocol string, invalid UTF-8 in text, too many
// parameters) or a message that is not legal in the current state. Nothing
// was encoded or sent and no state changed: the connection stays usable.
type InputError struct {
	// Field names what was rejected, e.g. "query", "statement name",
	// "parameter 3".
	Field string
	// Offset is the byte offset of the first offending byte inside the
	// value, or -1 when not applicable.
	Offset int
	// Problem says what is wrong.
	Problem string
}

// Error implements error.
func (e *InputError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("wire: %s: %s at byte %d", e.Field, e.Problem, e.Offset)
	}
	return fmt.Sprintf("wire: %s: %s", e.Field, e.Problem)
}

// SafeToRetry reports true: nothing was sent.
func (e *InputError) SafeToRetry() bool { return true }

// MessageName returns the protocol name of a backend message type byte, such
// as "DataRow" for 'D', or a quoted byte for unknown types.
func MessageName(t byte) string {
	if n := backendNames[t]; n != "" {
		return n
	}
	return "type " + strconv.QuoteRune(rune(t))
}

var backendNames = [256]string{
	'R': "Authentication",
	'v': "NegotiateProtocolVersion",
	'K': "BackendKeyData",
	'S': "ParameterStatus",
	'Z': "ReadyForQuery",
	'E': "ErrorResponse",
	'N': "NoticeResponse",
	'A': "NotificationResponse",
	'T': "RowDescription",
	'D': "DataRow",
	'C': "CommandComplete",
	'I': "EmptyQueryResponse",
	'1': "ParseComplete",
	'2': "BindComplete",
	'3': "CloseComplete",
	'n': "NoData",
	's': "PortalSuspended",
	't': "ParameterDescription",
	'G': "CopyInResponse",
	'H': "CopyOutResponse",
	'W': "CopyBothResponse",
	'd': "CopyData",
	'c': "CopyDone",
	'V': "FunctionCallResponse",
}
