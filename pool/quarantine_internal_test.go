package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// closedLike wraps cause the way conn.Conn.Err does: it matches
// conn.ErrClosed and unwraps to the cause.
type closedLike struct{ cause error }

func (e *closedLike) Error() string { return "conn: closed" }
func (e *closedLike) Unwrap() []error {
	if e.cause == nil {
		return []error{conn.ErrClosed}
	}
	return []error{conn.ErrClosed, e.cause}
}

func TestErrReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// cause is what made the connection unusable.
		cause error
		// want is the quarantine reason.
		want string
	}{
		{name: "protocol violation", cause: &wire.ProtocolError{Reason: wire.ReasonTrailingBytes}, want: "desynced:trailing_bytes"},
		{name: "parameter change", cause: &wire.ProtocolError{Reason: wire.ReasonParameterChange}, want: "desynced:parameter_change"},
		{name: "EOF while busy", cause: &wire.ProtocolError{Reason: wire.ReasonUnexpectedEOF, Err: io.ErrUnexpectedEOF}, want: ReasonClosedByServer},
		{name: "truncated message", cause: &wire.ProtocolError{Reason: wire.ReasonTruncated, Err: io.ErrUnexpectedEOF}, want: "desynced:truncated"},
		{name: "FATAL", cause: &conn.PgError{SeverityUnlocalized: "FATAL", Code: "57P01"}, want: ReasonClosedByServer},
		{name: "non-fatal error", cause: &conn.PgError{SeverityUnlocalized: "ERROR", Code: "42601"}, want: ReasonIOError},
		{name: "EOF", cause: io.ErrUnexpectedEOF, want: ReasonClosedByServer},
		{name: "reset", cause: &net.OpError{Op: "read", Err: syscall.ECONNRESET}, want: ReasonClosedByServer},
		{name: "write after close", cause: &net.OpError{Op: "write", Err: syscall.EPIPE}, want: ReasonClosedByServer},
		{name: "interrupted write", cause: errors.Join(context.DeadlineExceeded, errors.New("i/o timeout")), want: ReasonInterrupted},
		{name: "drain failed", cause: errors.Join(context.Canceled, fmt.Errorf("cancel: %w", errors.New("refused"))), want: ReasonInterrupted},
		{name: "closed by the client", cause: nil, want: ReasonClosedByClient},
		{name: "other network error", cause: errors.New("no route to host"), want: ReasonIOError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errReason(&closedLike{cause: tc.cause}))
		})
	}
}

func TestRoutineReasons(t *testing.T) {
	t.Parallel()
	for _, r := range []string{ReasonLifetime, ReasonIdleTimeout, ReasonClosed} {
		assert.True(t, routine(r), r)
	}
	for _, r := range []string{ReasonBusy, ReasonLeaked, ReasonHealthCheckFailed, "desynced:truncated"} {
		assert.False(t, routine(r), r)
	}
}
