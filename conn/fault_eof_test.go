package conn_test

import (
	"errors"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// End of stream at every offset of a reference conversation (F3, §2.8,
// §5.2): the startup reply, a simple query returning three rows, and an
// ExecParams. The server sends its part up to the cut and closes.

// faultQueryReply is the reference reply to the simple query.
func faultQueryReply() []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{fmRowDesc("n"), fmDataRow("1"), fmDataRow("2"), fmDataRow("3"), fmCmd("SELECT 3"), fmReady('I')}
}

// faultParamsReply is the reference reply to ExecParams.
func faultParamsReply() []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("v"), fmDataRow("42"),
		fmCmd("SELECT 1"), fmReady('I')}
}

// faultCuts returns the cuts of msgs.
func faultCuts(tb testing.TB, msgs []pgproto3.BackendMessage) []pgtest.FakeCut {
	tb.Helper()
	cuts, err := pgtest.FakeCuts(msgs...)
	require.NoError(tb, err)
	return cuts
}

// faultSendUpTo sends what comes before the cut and closes.
func faultSendUpTo(s *pgtest.Script, cut pgtest.FakeCut) *pgtest.Script {
	if cut.Offset > 0 {
		s = s.SendRaw(cut.Data[:cut.Offset])
	}
	return s.Close()
}

// faultCheckCut checks the error of a call whose reply was cut: at a
// message boundary the stream ended with replies outstanding
// (ReasonUnexpectedEOF), inside a message it was truncated
// (ReasonTruncated, wrapping io.ErrUnexpectedEOF).
func faultCheckCut(tb testing.TB, err error, cut pgtest.FakeCut) {
	tb.Helper()
	if cut.Inside == 0 {
		faultRequireReason(tb, err, wire.ReasonUnexpectedEOF)
		return
	}
	faultRequireReason(tb, err, wire.ReasonTruncated)
	assert.ErrorIs(tb, err, io.ErrUnexpectedEOF)
}

// faultCheckIdleEOF checks the next call after the server closed the
// connection at a message boundary while it was idle: it fails with
// ErrClosed, and the cause is the end of the stream, not a violation of
// the protocol. The client does not read while idle, so the end is seen
// only once the next request was sent: over TCP it is then reported as
// ReasonUnexpectedEOF (the outcome of that request is unknown), over
// net.Pipe as the failed write.
func faultCheckIdleEOF(tb testing.TB, c *conn.Conn, err error) {
	tb.Helper()
	require.Error(tb, err)
	assert.False(tb, faultIsCtxErr(err), "want an end-of-stream error, got %v", err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		assert.Equal(tb, wire.ReasonUnexpectedEOF.String(), pe.Reason.String(), "a clean end of stream is no protocol violation: %v", pe)
	} else {
		assert.True(tb, faultIsConnEnd(err), "want an end-of-stream error, got %v", err)
	}
	faultAssertUnusable(tb, c)
}

// TestFaultEOFStartup cuts the startup reply at every offset: the
// connection attempt must fail, never hang.
func TestFaultEOFStartup(t *testing.T) {
	t.Parallel()
	for _, cut := range faultCuts(t, pgtest.StartupReply{}.Messages(nil)) {
		if cut.Offset == len(cut.Data) {
			continue // the whole reply: the connection succeeds
		}
		t.Run(cut.Name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				err := faultConnectErr(t, tr, faultSendUpTo(pgtest.NewScript().ExpectStartup(), cut), nil)
				faultCheckCut(t, err, cut)
			})
		})
	}
}

// TestFaultEOFQuery cuts the reply to a simple query at every offset.
func TestFaultEOFQuery(t *testing.T) {
	t.Parallel()
	for _, cut := range faultCuts(t, faultQueryReply()) {
		t.Run(cut.Name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				script := faultSendUpTo(pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select n"}), cut)
				c, _ := faultConnect(t, tr, script, nil)
				ctx := faultCtx(t)
				res, err := c.Exec(ctx, "select n").ReadAll()
				var rows [][][]byte
				for _, r := range res {
					rows = append(rows, r.Rows...)
				}
				all := [][][]byte{{[]byte("1")}, {[]byte("2")}, {[]byte("3")}}
				if cut.Offset == len(cut.Data) {
					require.NoError(t, err)
					assert.Equal(t, all, rows)
					// Closed at a boundary while idle.
					r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
					assert.Empty(t, r.Rows)
					faultCheckIdleEOF(t, c, r.Err)
					return
				}
				if len(rows) > 0 {
					assert.Equal(t, all[:len(rows)], rows, "only the rows complete before the cut")
				}
				faultCheckCut(t, err, cut)
				assert.Equal(t, wire.StateDesynced.String(), c.State().String())
				faultAssertUnusable(t, c)
			})
		})
	}
}

// TestFaultEOFExtended cuts the reply to ExecParams at every offset, after
// a complete simple query.
func TestFaultEOFExtended(t *testing.T) {
	t.Parallel()
	for _, cut := range faultCuts(t, faultParamsReply()) {
		t.Run(cut.Name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				s := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select n"}).Send(faultQueryReply()...)
				c, _ := faultConnect(t, tr, faultSendUpTo(faultExpectExtended(s), cut), nil)
				ctx := faultCtx(t)
				res, err := c.Exec(ctx, "select n").ReadAll()
				require.NoError(t, err)
				require.Len(t, res, 1)
				require.Len(t, res[0].Rows, 3)
				r := c.ExecParams(ctx, "select $1::int", nil, nil, nil, nil).Read()
				if cut.Offset == len(cut.Data) {
					require.NoError(t, r.Err)
					assert.Equal(t, [][][]byte{{[]byte("42")}}, r.Rows)
					next, err := c.Exec(ctx, "select 1").ReadAll()
					assert.Empty(t, next)
					faultCheckIdleEOF(t, c, err)
					return
				}
				if len(r.Rows) > 0 {
					assert.Equal(t, [][][]byte{{[]byte("42")}}, r.Rows, "only the row complete before the cut")
				}
				faultCheckCut(t, r.Err, cut)
				assert.Equal(t, wire.StateDesynced.String(), c.State().String())
				faultAssertUnusable(t, c)
			})
		})
	}
}

// TestFaultResetQuery aborts the TCP connection (RST) at each message
// boundary of the reply to a simple query: the client may lose what it has
// not read, so only the kind of failure is checked. Over TCP only: a
// net.Pipe cannot be reset.
func TestFaultResetQuery(t *testing.T) {
	t.Parallel()
	for _, cut := range faultCuts(t, faultQueryReply()) {
		if cut.Inside != 0 {
			continue
		}
		t.Run(cut.Name, func(t *testing.T) {
			t.Parallel()
			s := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select n"})
			if cut.Offset > 0 {
				s = s.SendRaw(cut.Data[:cut.Offset])
			}
			c, _ := faultConnect(t, pgtest.FakeTCP, s.Reset(), nil)
			res, err := c.Exec(faultCtx(t), "select n").ReadAll()
			if cut.Offset == len(cut.Data) && err == nil {
				// Everything arrived before the reset.
				require.Len(t, res, 1)
				r := c.ExecParams(faultCtx(t), "select 1", nil, nil, nil, nil).Read()
				faultCheckIdleEOF(t, c, r.Err)
				return
			}
			require.Error(t, err)
			assert.False(t, faultIsCtxErr(err), "want a connection error, got %v", err)
			assert.ErrorIs(t, err, conn.ErrClosed)
			var pe *wire.ProtocolError
			if errors.As(err, &pe) {
				assert.Contains(t, []string{wire.ReasonUnexpectedEOF.String(), wire.ReasonTruncated.String()}, pe.Reason.String())
			} else {
				assert.True(t, faultIsConnEnd(err), "want a connection reset, got %v", err)
			}
			faultAssertUnusable(t, c)
		})
	}
}
