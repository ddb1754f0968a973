package conn_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// The fault matrix of package conn: every test here runs a Conn against the
// scripted fake server of internal/pgtest (no database needed) and checks
// that a fault fails the call that hits it, leaves the connection
// desynchronized (or closed, for EOF and FATAL), and that every later call
// fails at once with ErrClosed and never returns stale data. Section numbers
// (§), framing rules (F1-F5) and G-rules refer to
// shared/reference/protocol.md.
//
// This file holds the shared helpers and the framing (§2.0), stale data,
// watched parameter (§4.6), FATAL (§2.1) and stall/cancel (§5.1) tests;
// fault_cases_test.go holds the legality matrix (§2.9), fault_auth_test.go the
// authentication exchanges (§2.2, §2.3, §5.5, §5.6) and fault_eof_test.go
// the end-of-stream cuts (F3).

// faultTimeout bounds every fault case: a hang shows up as a context error,
// which the assertions reject where a protocol error is expected. It is
// generous because the cases run in parallel under -race on small CI
// machines; a correct case ends in milliseconds.
const faultTimeout = 15 * time.Second

// faultTransports are the fake server's transports every case runs over.
var faultTransports = []pgtest.FakeTransport{pgtest.FakePipe, pgtest.FakeTCP}

// faultEachTransport runs fn as a parallel subtest per transport.
func faultEachTransport(t *testing.T, fn func(t *testing.T, tr pgtest.FakeTransport)) {
	t.Helper()
	for _, tr := range faultTransports {
		t.Run(tr.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, tr)
		})
	}
}

// faultCtx returns a context bounded by faultTimeout, canceled when the test
// ends.
func faultCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), faultTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// faultConfig returns a configuration whose dials all go to dial, without
// TLS, password file or extra hosts; mutate, if set, adjusts it.
func faultConfig(tb testing.TB, dial conn.DialFunc, mutate func(*conn.Config)) *conn.Config {
	tb.Helper()
	cfg, err := conn.ParseConfig("host=127.0.0.1 port=5432 user=u dbname=d sslmode=disable")
	require.NoError(tb, err)
	cfg.DialFunc = dial
	cfg.Passfile = ""
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

// faultServer starts a fake server running script. The client under test may
// hang up before the script ends (that is what it must do on a fault); any
// other script failure, such as an unexpected frontend message, fails the
// test.
func faultServer(tb testing.TB, tr pgtest.FakeTransport, script *pgtest.Script) *pgtest.FakeServer {
	tb.Helper()
	return pgtest.NewFakeServer(tb, script, pgtest.WithFakeTransport(tr), pgtest.AllowIncomplete())
}

// faultConnect connects to a fake server running script; the connection must
// succeed. It is closed when the test ends.
func faultConnect(tb testing.TB, tr pgtest.FakeTransport, script *pgtest.Script, mutate func(*conn.Config)) (*conn.Conn, *pgtest.FakeServer) {
	tb.Helper()
	srv := faultServer(tb, tr, script)
	c, err := conn.ConnectConfig(faultCtx(tb), faultConfig(tb, srv.Dial, mutate))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, srv
}

// faultConnectErr connects to a fake server running script; the connection
// must fail, within faultTimeout, with a *conn.ConnectError of exactly one
// attempt. It returns the attempt's error.
func faultConnectErr(tb testing.TB, tr pgtest.FakeTransport, script *pgtest.Script, mutate func(*conn.Config)) error {
	tb.Helper()
	srv := faultServer(tb, tr, script)
	ctx := faultCtx(tb)
	c, err := conn.ConnectConfig(ctx, faultConfig(tb, srv.Dial, mutate))
	if c != nil {
		_ = c.Close(context.Background())
	}
	require.Error(tb, err, "the connection must fail")
	require.Nil(tb, c)
	require.NoError(tb, ctx.Err(), "the connection attempt must end before the deadline")
	var ce *conn.ConnectError
	require.ErrorAs(tb, err, &ce)
	require.Len(tb, ce.Attempts, 1)
	return ce.Attempts[0].Err
}

// faultIsCtxErr reports whether err is a context error.
func faultIsCtxErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// faultRequireReason checks that err carries a *wire.ProtocolError with reason
// and is no context error (a hang would be one), and returns it.
func faultRequireReason(tb testing.TB, err error, reason wire.Reason) *wire.ProtocolError {
	tb.Helper()
	require.Error(tb, err)
	assert.False(tb, faultIsCtxErr(err), "want a protocol error, got a context error: %v", err)
	var pe *wire.ProtocolError
	require.ErrorAs(tb, err, &pe, "want a *wire.ProtocolError, got %v", err)
	assert.Equal(tb, reason.String(), pe.Reason.String(), "reason of %v", pe)
	return pe
}

// faultAssertDesynced checks the call that hit a protocol violation: its error
// wraps ErrClosed and the *wire.ProtocolError with reason, the connection is
// desynchronized, and it is unusable from then on.
func faultAssertDesynced(tb testing.TB, c *conn.Conn, err error, reason wire.Reason) *wire.ProtocolError {
	tb.Helper()
	pe := faultRequireReason(tb, err, reason)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.Equal(tb, wire.StateDesynced.String(), c.State().String())
	var cause *wire.ProtocolError
	if assert.ErrorAs(tb, c.Err(), &cause) {
		assert.Equal(tb, reason.String(), cause.Reason.String())
	}
	faultAssertUnusable(tb, c)
	return pe
}

// faultAssertUnusable checks that the connection reports itself closed and that
// later calls fail at once with ErrClosed, without any row.
func faultAssertUnusable(tb testing.TB, c *conn.Conn) {
	tb.Helper()
	require.Error(tb, c.Err())
	assert.ErrorIs(tb, c.Err(), conn.ErrClosed)
	assert.True(tb, c.State().Terminal(), "state %v", c.State())
	assert.False(tb, c.IsBusy())
	ctx := faultCtx(tb)
	start := time.Now()
	res, err := c.Exec(ctx, "select 1").ReadAll()
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.Empty(tb, res, "Exec after the connection died returned results")
	r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
	assert.ErrorIs(tb, r.Err, conn.ErrClosed)
	assert.Empty(tb, r.Rows, "ExecParams after the connection died returned rows")
	assert.Empty(tb, r.FieldDescriptions)
	_, err = c.Prepare(ctx, "s", "select 1", nil)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	_, err = c.WaitForNotification(ctx)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.Less(tb, time.Since(start), time.Second, "calls on a dead connection must fail at once")
	assert.NoError(tb, ctx.Err())
}

// ---- message builders --------------------------------------------------------

// frame returns a backend message: the type byte, a length word that counts
// itself and the body, and the body pieces.
func fbFrame(typ byte, body ...[]byte) []byte {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	out := fbHeader(typ, int32(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// header returns a message header with the given length word and no body.
func fbHeader(typ byte, length int32) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(length))
	return b
}

// cat concatenates byte slices.
func fbCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func fbI16(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func fbI32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func fbStr(s string) []byte {
	return append([]byte(s), 0)
}

// fieldBytes returns one RowDescription field: a text column of type text
// with the given name and format.
func fbField(name string, format int16) []byte {
	return fbCat(fbStr(name), fbI32(0), fbI16(0), fbI32(25), fbI16(-1), fbI32(-1), fbI16(format))
}

// errBody returns the body of an ErrorResponse or NoticeResponse: each
// field is its code byte followed by its value, then the terminator.
func fbErrBody(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
		b = append(b, 0)
	}
	return append(b, 0)
}

// enc encodes backend messages back to back.
func fmEnc(tb testing.TB, msgs ...pgproto3.BackendMessage) []byte {
	tb.Helper()
	return pgtest.MustEncodeBackend(tb, msgs...)
}

// textField describes a text column.
func fmTextField(name string) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
}

func fmRowDesc(names ...string) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{}
	for _, n := range names {
		rd.Fields = append(rd.Fields, fmTextField(n))
	}
	return rd
}

func fmDataRow(vals ...string) *pgproto3.DataRow {
	dr := &pgproto3.DataRow{}
	for _, v := range vals {
		dr.Values = append(dr.Values, []byte(v))
	}
	return dr
}

func fmCmd(tag string) *pgproto3.CommandComplete {
	return &pgproto3.CommandComplete{CommandTag: []byte(tag)}
}

func fmReady(status byte) *pgproto3.ReadyForQuery { return &pgproto3.ReadyForQuery{TxStatus: status} }

func fmErr(severity, code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: msg}
}

func fmParam(name, value string) *pgproto3.ParameterStatus {
	return &pgproto3.ParameterStatus{Name: name, Value: value}
}

// startupBytes is what AcceptStartup sends: AuthenticationOk, the
// ParameterStatus messages of a PostgreSQL 16 server, BackendKeyData and
// ReadyForQuery(I).
func fmStartup(tb testing.TB) []byte {
	tb.Helper()
	return fmEnc(tb, pgtest.StartupReply{}.Messages(nil)...)
}

// selectOne is the reply to "select 1": one text column, one row "1".
func fmSelectOne(tb testing.TB) []byte {
	tb.Helper()
	return fmEnc(tb, fmRowDesc("c"), fmDataRow("1"), fmCmd("SELECT 1"), fmReady('I'))
}

// faultQueryScript accepts the startup, answers "select 1" with reply and
// expects the client to hang up without sending anything more.
func faultQueryScript(reply []byte) *pgtest.Script {
	return faultQueryPrefix(reply).ExpectEOF()
}

// faultQueryPrefix accepts the startup and answers "select 1" with reply.
func faultQueryPrefix(reply []byte) *pgtest.Script {
	return pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).SendRaw(reply)
}

// faultExpectExtended expects the five messages of ExecParams: Parse, Bind,
// Describe portal, Execute, Sync.
func faultExpectExtended(s *pgtest.Script) *pgtest.Script {
	return s.ExpectType(&pgproto3.Parse{}).ExpectType(&pgproto3.Bind{}).
		Expect(&pgproto3.Describe{ObjectType: 'P'}).Expect(&pgproto3.Execute{}).Expect(&pgproto3.Sync{})
}

// ---- §2.0 framing ----------------------------------------------------------

// faultFramingCase is one malformed reply to a simple query.
type faultFramingCase struct {
	name   string      // what is wrong
	reply  []byte      // the server's bytes after the Query
	reason wire.Reason // expected ProtocolError reason
	limits wire.Limits // receive caps (zero: the defaults)
}

func faultFramingCases(tb testing.TB) []faultFramingCase {
	tb.Helper()
	t1 := fmEnc(tb, fmRowDesc("c"))
	h1 := fmEnc(tb, &pgproto3.CopyOutResponse{ColumnFormatCodes: []uint16{0}})
	over := func(typ byte, capBody int) []byte { return fbHeader(typ, int32(4+capBody+1)) }
	errHdr := func(typ byte, fields ...string) []byte { return fbFrame(typ, fbErrBody(fields...)) }
	cases := []faultFramingCase{
		// F1: length word below 4 (0 and values >= 2^31 included).
		{name: "F1 length 3", reply: fbHeader('C', 3), reason: wire.ReasonBadLength},
		{name: "F1 length 0", reply: fbHeader('Z', 0), reason: wire.ReasonBadLength},
		{name: "F1 length -1", reply: fbHeader('D', -1), reason: wire.ReasonBadLength},
		{name: "F1 length 2^31", reply: fbHeader('T', -1<<31), reason: wire.ReasonBadLength},

		// F2: over the default cap of each capped type (§4.3); only the
		// header is sent, so a client that waited for the body would hang.
		{name: "F2 CommandComplete over 256", reply: over('C', wire.DefaultMaxCommandTag), reason: wire.ReasonMessageTooLarge},
		{name: "F2 ParameterStatus over 30000", reply: over('S', wire.DefaultMaxParameterStatus), reason: wire.ReasonMessageTooLarge},
		{name: "F2 NotificationResponse over 8256", reply: over('A', wire.DefaultMaxNotificationBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 RowDescription over 512KiB", reply: over('T', wire.DefaultMaxRowDescriptionBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 ErrorResponse over 1MiB", reply: over('E', wire.DefaultMaxErrorBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 NoticeResponse over 1MiB", reply: over('N', wire.DefaultMaxErrorBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 DataRow over 1GiB", reply: fbCat(t1, over('D', wire.MaxBody)), reason: wire.ReasonMessageTooLarge},
		{name: "F2 CopyData over 1GiB", reply: fbCat(h1, over('d', wire.MaxBody)), reason: wire.ReasonMessageTooLarge},
		{name: "F2 FunctionCallResponse over 1GiB", reply: over('V', wire.MaxBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 Authentication over 2000", reply: over('R', wire.DefaultMaxAuthBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 NegotiateProtocolVersion over 2000", reply: over('v', wire.DefaultMaxAuthBody), reason: wire.ReasonMessageTooLarge},
		{name: "F2 BackendKeyData over 260", reply: over('K', 260), reason: wire.ReasonMessageTooLarge},
		{name: "F2 CopyInResponse over 1664 columns", reply: over('G', 3+2*wire.MaxColumns), reason: wire.ReasonMessageTooLarge},
		{name: "F2 CopyOutResponse over 1664 columns", reply: over('H', 3+2*wire.MaxColumns), reason: wire.ReasonMessageTooLarge},
		{name: "F2 CopyBothResponse over 1664 columns", reply: over('W', 3+2*wire.MaxColumns), reason: wire.ReasonMessageTooLarge},
		{name: "F2 ParameterDescription over 65535 parameters", reply: over('t', 2+4*65535), reason: wire.ReasonMessageTooLarge},

		// F2 with caps set small through Config.Limits.
		{name: "F2 DataRow over Limits.DataRow", reply: fbCat(t1, over('D', 64)), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{DataRow: 64}},
		{name: "F2 CopyData over Limits.CopyData", reply: fbCat(h1, over('d', 64)), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{CopyData: 64}},
		{name: "F2 FunctionCallResponse over Limits", reply: over('V', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{FunctionCallResponse: 64}},
		{name: "F2 ErrorResponse over Limits.ErrorResponse", reply: over('E', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{ErrorResponse: 64}},
		{name: "F2 NoticeResponse over Limits.ErrorResponse", reply: over('N', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{ErrorResponse: 64}},
		{name: "F2 RowDescription over Limits.RowDescription", reply: over('T', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{RowDescription: 64}},
		{name: "F2 ParameterStatus over Limits.ParameterStatus", reply: over('S', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{ParameterStatus: 64}},
		{name: "F2 CommandComplete over Limits.CommandComplete", reply: over('C', 16), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{CommandComplete: 16}},
		{name: "F2 NotificationResponse over Limits", reply: over('A', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{NotificationResponse: 64}},
		{name: "F2 Authentication over Limits.Authentication", reply: over('R', 64), reason: wire.ReasonMessageTooLarge, limits: wire.Limits{Authentication: 64}},

		// F1: fixed-size messages with another size, and bodies below
		// the minimum of their type.
		{name: "F1 ReadyForQuery body 0", reply: fbFrame('Z'), reason: wire.ReasonBadLength},
		{name: "F1 ReadyForQuery body 2", reply: fbFrame('Z', []byte("II")), reason: wire.ReasonBadLength},
		{name: "F1 ParseComplete body 1", reply: fbFrame('1', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 BindComplete body 1", reply: fbFrame('2', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 CloseComplete body 1", reply: fbFrame('3', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 NoData body 1", reply: fbFrame('n', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 PortalSuspended body 1", reply: fbFrame('s', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 EmptyQueryResponse body 1", reply: fbFrame('I', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 CopyDone body 1", reply: fbCat(h1, fbFrame('c', []byte{0})), reason: wire.ReasonBadLength},
		{name: "F1 BackendKeyData body 7", reply: fbFrame('K', make([]byte, 7)), reason: wire.ReasonBadLength},
		{name: "F1 Authentication body 3", reply: fbFrame('R', make([]byte, 3)), reason: wire.ReasonBadLength},
		{name: "F1 NegotiateProtocolVersion body 7", reply: fbFrame('v', make([]byte, 7)), reason: wire.ReasonBadLength},
		{name: "F1 RowDescription body 1", reply: fbFrame('T', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 DataRow body 1", reply: fbCat(t1, fbFrame('D', []byte{0})), reason: wire.ReasonBadLength},
		{name: "F1 CommandComplete body 0", reply: fbFrame('C'), reason: wire.ReasonBadLength},
		{name: "F1 ErrorResponse body 0", reply: fbFrame('E'), reason: wire.ReasonBadLength},
		{name: "F1 ParameterStatus body 1", reply: fbFrame('S', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 NotificationResponse body 5", reply: fbFrame('A', make([]byte, 5)), reason: wire.ReasonBadLength},
		{name: "F1 CopyOutResponse body 2", reply: fbFrame('H', []byte{0, 0}), reason: wire.ReasonBadLength},
		{name: "F1 ParameterDescription body 1", reply: fbFrame('t', []byte{0}), reason: wire.ReasonBadLength},
		{name: "F1 FunctionCallResponse body 3", reply: fbFrame('V', make([]byte, 3)), reason: wire.ReasonBadLength},

		// F4: type bytes no backend message has, and frontend-only ones.
		{name: "F4 unknown type 0x00", reply: fbFrame(0, []byte{0}), reason: wire.ReasonUnknownMessageType},
		{name: "F4 unknown type a", reply: fbFrame('a'), reason: wire.ReasonUnknownMessageType},
		{name: "F4 unknown type Y", reply: fbFrame('Y'), reason: wire.ReasonUnknownMessageType},
		{name: "F4 unknown type M", reply: fbFrame('M', fbStr("x")), reason: wire.ReasonUnknownMessageType},
		{name: "F4 unknown type 0xff", reply: fbFrame(0xff), reason: wire.ReasonUnknownMessageType},
		{name: "F4 frontend type Q", reply: fbFrame('Q', fbStr("select 1")), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type P", reply: fbFrame('P', fbStr(""), fbStr("select 1"), fbI16(0)), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type B", reply: fbFrame('B', fbStr(""), fbStr(""), fbI16(0), fbI16(0), fbI16(0)), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type F", reply: fbFrame('F', fbI32(1), fbI16(0), fbI16(0), fbI16(0)), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type X", reply: fbFrame('X'), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type f", reply: fbFrame('f', fbStr("no")), reason: wire.ReasonFrontendMessageType},
		{name: "F4 frontend type p", reply: fbFrame('p', fbStr("secret")), reason: wire.ReasonFrontendMessageType},

		// F5: trailing bytes after the last field.
		{name: "F5 trailing CommandComplete", reply: fbFrame('C', fbStr("SELECT 1"), []byte("x")), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing RowDescription", reply: fbFrame('T', fbI16(1), fbField("c", 0), []byte{0}), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing DataRow", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(1), []byte("1"), []byte("x"))), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing ParameterStatus", reply: fbFrame('S', fbStr("a"), fbStr("b"), []byte("x")), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing ErrorResponse", reply: fbFrame('E', fbErrBody("SERROR", "VERROR", "C42000", "Mboom"), []byte{0}), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing NoticeResponse", reply: fbFrame('N', fbErrBody("SNOTICE", "VNOTICE", "C00000", "Mhi"), []byte("x")), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing NotificationResponse", reply: fbFrame('A', fbI32(1), fbStr("ch"), fbStr("p"), []byte("x")), reason: wire.ReasonTrailingBytes},
		{name: "F5 trailing CopyOutResponse", reply: fbFrame('H', []byte{0}, fbI16(1), fbI16(0), []byte{0}), reason: wire.ReasonTrailingBytes},

		// F5: strings without their terminator inside the body.
		{name: "F5 unterminated command tag", reply: fbFrame('C', []byte("SELECT 1")), reason: wire.ReasonUnterminatedString},
		{name: "F5 unterminated column name", reply: fbFrame('T', fbI16(1), []byte(strings.Repeat("a", 19))), reason: wire.ReasonUnterminatedString},
		{name: "F5 unterminated parameter value", reply: fbFrame('S', fbStr("a"), []byte("b")), reason: wire.ReasonUnterminatedString},
		{name: "F5 unterminated error field", reply: fbFrame('E', []byte("SERROR")), reason: wire.ReasonUnterminatedString},
		{name: "F5 unterminated notification payload", reply: fbFrame('A', fbI32(1), fbStr("ch"), []byte("p")), reason: wire.ReasonUnterminatedString},

		// F5: counts and lengths beyond the body.
		{name: "F5 RowDescription count 2 with 1 field", reply: fbFrame('T', fbI16(2), fbField("c", 0)), reason: wire.ReasonMalformed},
		{name: "F5 RowDescription count -1", reply: fbFrame('T', fbI16(-1)), reason: wire.ReasonInvalidValue},
		{name: "F5 RowDescription format code 2", reply: fbFrame('T', fbI16(1), fbField("c", 2)), reason: wire.ReasonInvalidValue},
		{name: "F5 DataRow count 3 with 1 column", reply: fbCat(t1, fbFrame('D', fbI16(3), fbI32(1), []byte("1"))), reason: wire.ReasonMalformed},
		{name: "F5 DataRow count over 1664", reply: fbCat(t1, fbFrame('D', fbI16(1665), make([]byte, 4*1665))), reason: wire.ReasonInvalidValue},
		{name: "F5 DataRow value beyond body", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(10), []byte("12"))), reason: wire.ReasonMalformed},
		{name: "F5 DataRow length -2", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(-2))), reason: wire.ReasonInvalidValue},
		{name: "F5 CopyOutResponse count beyond body", reply: fbFrame('H', []byte{0}, fbI16(3), fbI16(0)), reason: wire.ReasonMalformed},
		{name: "F5 CopyOutResponse text with binary column", reply: fbFrame('H', []byte{0}, fbI16(1), fbI16(1)), reason: wire.ReasonInvalidValue},
		{name: "F5 ParameterDescription count beyond body", reply: fbFrame('t', fbI16(2), fbI32(23)), reason: wire.ReasonMalformed},
		{name: "F5 NotificationResponse without payload", reply: fbFrame('A', fbI32(1), fbStr("c")), reason: wire.ReasonUnterminatedString},

		// ReadyForQuery with a status other than I, T, E.
		{name: "ReadyForQuery status X", reply: fmEnc(tb, fmRowDesc("c"), fmCmd("SELECT 0"), fmReady('X')), reason: wire.ReasonInvalidValue},
		{name: "ReadyForQuery status NUL", reply: fbCat(fmEnc(tb, fmCmd("SET")), fbFrame('Z', []byte{0})), reason: wire.ReasonInvalidValue},

		// §4.7: ErrorResponse and NoticeResponse fields.
		{name: "ErrorResponse without V", reply: errHdr('E', "SERROR", "C42000", "Mboom"), reason: wire.ReasonMissingField},
		{name: "ErrorResponse without C", reply: errHdr('E', "SERROR", "VERROR", "Mboom"), reason: wire.ReasonMissingField},
		{name: "ErrorResponse without M", reply: errHdr('E', "SERROR", "VERROR", "C42000"), reason: wire.ReasonMissingField},
		{name: "ErrorResponse without any field", reply: errHdr('E'), reason: wire.ReasonMissingField},
		{name: "ErrorResponse with M twice", reply: errHdr('E', "SERROR", "VERROR", "C42000", "Mboom", "Mbang"), reason: wire.ReasonMissingField},
		{name: "ErrorResponse SQLSTATE lowercase", reply: errHdr('E', "SERROR", "VERROR", "C42p01", "Mboom"), reason: wire.ReasonInvalidValue},
		{name: "ErrorResponse SQLSTATE 4 chars", reply: errHdr('E', "SERROR", "VERROR", "C4200", "Mboom"), reason: wire.ReasonInvalidValue},
		{name: "ErrorResponse severity NOTICE", reply: errHdr('E', "SNOTICE", "VNOTICE", "C42000", "Mboom"), reason: wire.ReasonInvalidValue},
		{name: "ErrorResponse position not a number", reply: errHdr('E', "SERROR", "VERROR", "C42000", "Mboom", "Pten"), reason: wire.ReasonInvalidValue},
		{name: "NoticeResponse without M", reply: errHdr('N', "SNOTICE", "VNOTICE", "C00000"), reason: wire.ReasonMissingField},
		{name: "NoticeResponse severity ERROR", reply: errHdr('N', "SERROR", "VERROR", "C42000", "Mboom"), reason: wire.ReasonInvalidValue},

		// §4.6: invalid UTF-8 in text fields, and NUL in a text value.
		{name: "UTF-8 command tag", reply: fbFrame('C', fbStr("SELECT \xff")), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 column name", reply: fbFrame('T', fbI16(1), fbField("c\xc3\x28", 0)), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 error message", reply: errHdr('E', "SERROR", "VERROR", "C42000", "Mbo\xffom"), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 error detail", reply: errHdr('E', "SERROR", "VERROR", "C42000", "Mboom", "D\xe2\x82"), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 notice message", reply: errHdr('N', "SNOTICE", "VNOTICE", "C00000", "M\xc0\xaf"), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 parameter value", reply: fbFrame('S', fbStr("application_name"), fbStr("\xed\xa0\x80")), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 notification payload", reply: fbFrame('A', fbI32(1), fbStr("ch"), fbStr("\xff")), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 text value", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(2), []byte("\xc3\x28"))), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 text value truncated sequence", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(3), []byte("a\xe2\x82"))), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 text value surrogate", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(3), []byte("\xed\xa0\x80"))), reason: wire.ReasonInvalidUTF8},
		{name: "UTF-8 long text value", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(40), []byte(strings.Repeat("a", 39)+"\xff"))), reason: wire.ReasonInvalidUTF8},
		{name: "NUL in text value", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(3), []byte("a\x00b"))), reason: wire.ReasonNULInText},
		{name: "NUL in long text value", reply: fbCat(t1, fbFrame('D', fbI16(1), fbI32(40), []byte(strings.Repeat("a", 20)+"\x00"+strings.Repeat("b", 19)))), reason: wire.ReasonNULInText},
	}
	return cases
}

// TestFaultFraming delivers each framing violation (F1-F5, §4.3, §4.6,
// §4.7) while a simple query runs.
func TestFaultFraming(t *testing.T) {
	t.Parallel()
	for _, tc := range faultFramingCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				c, _ := faultConnect(t, tr, faultQueryScript(tc.reply), func(cfg *conn.Config) { cfg.Limits = tc.limits })
				res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
				for _, r := range res {
					assert.Empty(t, r.Rows, "no row may come from a malformed reply")
				}
				pe := faultAssertDesynced(t, c, err, tc.reason)
				if tc.reason == wire.ReasonMessageTooLarge {
					var tl *wire.MessageTooLargeError
					if assert.ErrorAs(t, pe, &tl) {
						assert.Equal(t, int64(tl.Max)+1, tl.Got)
					}
				}
			})
		})
	}
}

// TestFaultFramingAtCap checks the other side of each configured cap: a
// body exactly at the cap is accepted.
func TestFaultFramingAtCap(t *testing.T) {
	t.Parallel()
	faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		val := strings.Repeat("v", 64-2-4)
		tag := strings.Repeat("T", 15)
		reply := fmEnc(t, fmRowDesc("c"), fmDataRow(val), fmCmd(tag), fmReady('I'))
		limits := wire.Limits{DataRow: 64, CommandComplete: 16}
		c, _ := faultConnect(t, tr, pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).SendRaw(reply),
			func(cfg *conn.Config) { cfg.Limits = limits })
		res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, [][][]byte{{[]byte(val)}}, res[0].Rows)
		assert.Equal(t, tag, res[0].CommandTag.String())
		assert.Equal(t, wire.StateIdle, c.State())
	})
}

// TestFaultNULInBinaryValue checks §4.5 the other way round: a NUL byte is
// legal in a binary-format value, which ExecParams returns as it came.
func TestFaultNULInBinaryValue(t *testing.T) {
	t.Parallel()
	faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		bin := fmTextField("b")
		bin.DataTypeOID, bin.DataTypeSize, bin.Format = 17, -1, 1
		value := []byte("a\x00b\xff")
		script := faultExpectExtended(pgtest.NewScript().AcceptStartup()).
			Send(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{bin}},
				&pgproto3.DataRow{Values: [][]byte{value}}, fmCmd("SELECT 1"), fmReady('I'))
		c, _ := faultConnect(t, tr, script, nil)
		r := c.ExecParams(faultCtx(t), "select $1::bytea", nil, nil, nil, []int16{1}).Read()
		require.NoError(t, r.Err)
		assert.Equal(t, [][][]byte{{value}}, r.Rows)
		assert.Equal(t, wire.StateIdle, c.State())
		assert.NoError(t, c.Err())
	})
}

// ---- stale data ------------------------------------------------------------

// TestFaultStaleData runs the classic desynchronization attacks: a reply
// that carries more than the request asked for must never be returned as
// the answer to a later request.
func TestFaultStaleData(t *testing.T) {
	t.Parallel()
	type next func(ctx context.Context, c *conn.Conn) ([][][]byte, error)
	execNext := func(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
		res, err := c.Exec(ctx, "select 2").ReadAll()
		var rows [][][]byte
		for _, r := range res {
			rows = append(rows, r.Rows...)
		}
		return rows, err
	}
	paramsNext := func(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
		r := c.ExecParams(ctx, "select 2", nil, nil, nil, nil).Read()
		return r.Rows, r.Err
	}
	for _, nc := range []struct {
		name string
		call next
	}{{"Exec", execNext}, {"ExecParams", paramsNext}} {
		t.Run("two results for one query/"+nc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				// §2.4: the second T D C Z arrives while the client is idle.
				reply := fbCat(fmSelectOne(t), fmEnc(t, fmRowDesc("c"), fmDataRow("STALE"), fmCmd("SELECT 1"), fmReady('I')))
				c, _ := faultConnect(t, tr, faultQueryScript(reply), nil)
				ctx := faultCtx(t)
				res, err := c.Exec(ctx, "select 1").ReadAll()
				require.NoError(t, err, "the first query got its own answer")
				require.Len(t, res, 1)
				assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
				rows, err := nc.call(ctx, c)
				assert.Empty(t, rows, "the stale second result was returned for the next query")
				faultAssertDesynced(t, c, err, wire.ReasonUnexpectedMessage)
			})
		})
	}
	t.Run("ReadyForQuery before CommandComplete", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			// §2.6: Z in Q.Rows.
			reply := fmEnc(t, fmRowDesc("c"), fmDataRow("1"), fmReady('I'), fmCmd("SELECT 1"))
			c, _ := faultConnect(t, tr, faultQueryScript(reply), nil)
			_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			faultAssertDesynced(t, c, err, wire.ReasonUnexpectedMessage)
		})
	})
	t.Run("DataRow after CommandComplete", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			// §2.6: D in Q.Start.
			reply := fmEnc(t, fmRowDesc("c"), fmDataRow("1"), fmCmd("SELECT 1"), fmDataRow("2"), fmReady('I'))
			c, _ := faultConnect(t, tr, faultQueryScript(reply), nil)
			_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			faultAssertDesynced(t, c, err, wire.ReasonUnexpectedMessage)
		})
	})
	t.Run("extra DataRow with another column count", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			reply := fmEnc(t, fmRowDesc("c"), fmDataRow("1"), fmDataRow("1", "2"), fmCmd("SELECT 2"), fmReady('I'))
			c, _ := faultConnect(t, tr, faultQueryScript(reply), nil)
			_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			faultAssertDesynced(t, c, err, wire.ReasonFieldCountMismatch)
		})
	})
	t.Run("extended reply followed by a second one", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			one := []pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("1"), fmCmd("SELECT 1"), fmReady('I')}
			stale := []pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("STALE"), fmCmd("SELECT 1"), fmReady('I')}
			script := faultExpectExtended(pgtest.NewScript().AcceptStartup()).SendRaw(fbCat(fmEnc(t, one...), fmEnc(t, stale...))).ExpectEOF()
			c, _ := faultConnect(t, tr, script, nil)
			ctx := faultCtx(t)
			r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
			require.NoError(t, r.Err)
			assert.Equal(t, [][][]byte{{[]byte("1")}}, r.Rows)
			r = c.ExecParams(ctx, "select 2", nil, nil, nil, nil).Read()
			assert.Empty(t, r.Rows, "the stale second result was returned for the next query")
			faultAssertDesynced(t, c, r.Err, wire.ReasonUnexpectedMessage)
		})
	})
}

// ---- §4.6 watched ParameterStatus -----------------------------------------

// faultWatched are ParameterStatus values a fail-closed client must not
// accept after startup (§4.6).
var faultWatched = []struct {
	name, value string
}{
	{"client_encoding", "LATIN1"},
	{"client_encoding", "SQL_ASCII"},
	{"client_encoding", "utf8"},
	{"server_encoding", "LATIN1"},
	{"server_encoding", "SQL_ASCII"},
	{"standard_conforming_strings", "off"},
	{"integer_datetimes", "off"},
	{"server_version", "17.0"},
}

// TestFaultWatchedParameter sends each watched parameter change while the
// connection is idle (detected by the next call) and while a query runs.
func TestFaultWatchedParameter(t *testing.T) {
	t.Parallel()
	for _, w := range faultWatched {
		ps := fmParam(w.name, w.value)
		t.Run("idle/"+w.name+"="+w.value, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				script := pgtest.NewScript().ExpectStartup().SendRaw(fbCat(fmStartup(t), fmEnc(t, ps))).ExpectEOF()
				c, _ := faultConnect(t, tr, script, nil)
				res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
				assert.Empty(t, res)
				faultAssertDesynced(t, c, err, wire.ReasonParameterChange)
			})
		})
		t.Run("busy/"+w.name+"="+w.value, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				reply := fmEnc(t, fmRowDesc("c"), ps, fmDataRow("1"), fmCmd("SELECT 1"), fmReady('I'))
				c, _ := faultConnect(t, tr, faultQueryScript(reply), nil)
				_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
				faultAssertDesynced(t, c, err, wire.ReasonParameterChange)
			})
		})
		t.Run("startup/"+w.name+"="+w.value, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				// The first report of a watched parameter must already be
				// safe; a change of a fixed one after its first report too.
				msgs := pgtest.StartupReply{}.Messages(nil)
				msgs = append(msgs[:len(msgs)-2:len(msgs)-2], ps, msgs[len(msgs)-2], msgs[len(msgs)-1])
				script := pgtest.NewScript().ExpectStartup().Send(msgs...).ExpectEOF()
				err := faultConnectErr(t, tr, script, nil)
				faultRequireReason(t, err, wire.ReasonParameterChange)
			})
		})
	}
	t.Run("startup without client_encoding", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().AcceptStartupWith(pgtest.StartupReply{Omit: []string{"client_encoding"}}).ExpectEOF()
			err := faultConnectErr(t, tr, script, nil)
			faultRequireReason(t, err, wire.ReasonParameterChange)
		})
	})
}

// TestFaultUnwatchedParameter checks that parameters outside the watch
// list may change at any time and are visible through ParameterStatus.
func TestFaultUnwatchedParameter(t *testing.T) {
	t.Parallel()
	faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		script := pgtest.NewScript().
			ExpectStartup().
			// Idle: a change pushed after ReadyForQuery.
			SendRaw(fbCat(fmStartup(t), fmEnc(t, fmParam("TimeZone", "Europe/Berlin")))).
			Expect(&pgproto3.Query{String: "set application_name = 'x'"}).
			Send(fmParam("application_name", "x"), fmCmd("SET"), fmParam("in_hot_standby", "on"), fmReady('I')).
			Expect(&pgproto3.Query{String: "select 1"}).
			SendRaw(fmSelectOne(t))
		c, _ := faultConnect(t, tr, script, nil)
		ctx := faultCtx(t)
		assert.Equal(t, "UTC", c.ParameterStatus("TimeZone"), "nothing read yet")
		_, err := c.Exec(ctx, "set application_name = 'x'").ReadAll()
		require.NoError(t, err)
		assert.Equal(t, "Europe/Berlin", c.ParameterStatus("TimeZone"))
		assert.Equal(t, "x", c.ParameterStatus("application_name"))
		assert.Equal(t, "on", c.ParameterStatus("in_hot_standby"))
		res, err := c.Exec(ctx, "select 1").ReadAll()
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
		assert.Equal(t, wire.StateIdle, c.State())
	})
}

// ---- §2.1 FATAL ------------------------------------------------------------

// faultAssertFatal checks a call that met a FATAL ErrorResponse: the connection
// is closed (not desynchronized), its error unwraps to the *conn.PgError,
// and later calls fail at once.
func faultAssertFatal(tb testing.TB, c *conn.Conn, err error, severity, code string) {
	tb.Helper()
	require.Error(tb, err)
	assert.False(tb, faultIsCtxErr(err), "want the server's error, got %v", err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	var pg *conn.PgError
	if assert.ErrorAs(tb, err, &pg) {
		assert.Equal(tb, severity, pg.SeverityUnlocalized)
		assert.Equal(tb, code, pg.Code)
		assert.True(tb, pg.Fatal())
	}
	var pe *wire.ProtocolError
	assert.False(tb, errors.As(err, &pe), "a FATAL error is no protocol violation: %v", pe)
	assert.Equal(tb, wire.StateClosed.String(), c.State().String())
	var cause *conn.PgError
	if assert.ErrorAs(tb, c.Err(), &cause) {
		assert.Equal(tb, code, cause.Code)
	}
	faultAssertUnusable(tb, c)
}

// TestFaultFatal sends a FATAL error (57P01 admin shutdown) while idle and
// while busy.
func TestFaultFatal(t *testing.T) {
	t.Parallel()
	fatal := fmErr("FATAL", "57P01", "terminating connection due to administrator command")
	panicErr := fmErr("PANIC", "XX000", "boom")
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().ExpectStartup().SendRaw(fbCat(fmStartup(t), fmEnc(t, fatal))).Close()
			c, _ := faultConnect(t, tr, script, nil)
			res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			assert.Empty(t, res)
			faultAssertFatal(t, c, err, "FATAL", "57P01")
		})
	})
	t.Run("idle after a query", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).
				SendRaw(fbCat(fmSelectOne(t), fmEnc(t, fatal))).Close()
			c, _ := faultConnect(t, tr, script, nil)
			ctx := faultCtx(t)
			_, err := c.Exec(ctx, "select 1").ReadAll()
			require.NoError(t, err)
			r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
			assert.Empty(t, r.Rows)
			faultAssertFatal(t, c, r.Err, "FATAL", "57P01")
		})
	})
	for _, tc := range []struct {
		name  string
		reply []pgproto3.BackendMessage
		sev   string
		code  string
	}{
		{"Q.Start", []pgproto3.BackendMessage{fatal}, "FATAL", "57P01"},
		{"Q.Rows", []pgproto3.BackendMessage{fmRowDesc("c"), fmDataRow("1"), fatal}, "FATAL", "57P01"},
		{"Q.Start after CommandComplete", []pgproto3.BackendMessage{fmCmd("SET"), fatal}, "FATAL", "57P01"},
		{"PANIC in Q.Rows", []pgproto3.BackendMessage{fmRowDesc("c"), panicErr}, "PANIC", "XX000"},
	} {
		t.Run("busy/"+tc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				script := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).Send(tc.reply...).Close()
				c, _ := faultConnect(t, tr, script, nil)
				_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
				faultAssertFatal(t, c, err, tc.sev, tc.code)
			})
		})
	}
	t.Run("busy/Q.Err", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			// The statement's own error comes first (MultiResultReader
			// reports the first error); the FATAL that follows still
			// closes the connection.
			script := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).
				Send(fmErr("ERROR", "57014", "canceling statement due to user request"), fatal).Close()
			c, _ := faultConnect(t, tr, script, nil)
			_, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			var pg *conn.PgError
			require.ErrorAs(t, err, &pg)
			assert.Equal(t, "57014", pg.Code)
			assert.ErrorIs(t, err, conn.ErrClosed, "the call must also say that the connection is gone")
			assert.Equal(t, wire.StateClosed.String(), c.State().String())
			var cause *conn.PgError
			if assert.ErrorAs(t, c.Err(), &cause) {
				assert.Equal(t, "57P01", cause.Code)
			}
			faultAssertUnusable(t, c)
		})
	})
	t.Run("busy/extended", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := faultExpectExtended(pgtest.NewScript().AcceptStartup()).
				Send(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("1"), fatal).Close()
			c, _ := faultConnect(t, tr, script, nil)
			r := c.ExecParams(faultCtx(t), "select 1", nil, nil, nil, nil).Read()
			faultAssertFatal(t, c, r.Err, "FATAL", "57P01")
		})
	})
	t.Run("busy/FATAL then more bytes", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			// Nothing may follow a FATAL error; the client must not read on.
			script := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).
				SendRaw(fbCat(fmEnc(t, fatal), fmSelectOne(t))).ExpectEOF()
			c, _ := faultConnect(t, tr, script, nil)
			res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
			for _, r := range res {
				assert.Empty(t, r.Rows)
			}
			faultAssertFatal(t, c, err, "FATAL", "57P01")
		})
	})
	t.Run("wait for notification", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().AcceptStartup().Send(fatal).Close()
			c, _ := faultConnect(t, tr, script, nil)
			n, err := c.WaitForNotification(faultCtx(t))
			assert.Nil(t, n)
			faultAssertFatal(t, c, err, "FATAL", "57P01")
		})
	})
}

// ---- §5.1 stall, cancel and drain --------------------------------------------

// faultCancelDial routes the first dial to the main fake server and the second
// (the CancelRequest's connection) to the cancel server; a third dial fails
// the test.
func faultCancelDial(tb testing.TB, main, cancel *pgtest.FakeServer) conn.DialFunc {
	var n atomic.Int32
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch n.Add(1) {
		case 1:
			return main.Dial(ctx, network, addr)
		case 2:
			return cancel.Dial(ctx, network, addr)
		}
		tb.Errorf("unexpected dial %s %s", network, addr)
		return nil, errors.New("unexpected dial")
	}
}

// TestFaultStall stalls the server in the middle of a DataRow until the
// operation's context ends: the client must send a CancelRequest with the
// key from BackendKeyData, then drain within DrainTimeout.
func TestFaultStall(t *testing.T) {
	t.Parallel()
	row := fmEnc(t, fmDataRow("partial row value"))
	head := fbCat(fmEnc(t, fmRowDesc("c"), fmDataRow("1")), row[:len(row)/2])
	t.Run("drain times out", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			main := faultServer(t, tr, pgtest.NewScript().AcceptStartup().
				Expect(&pgproto3.Query{String: "select slow"}).SendRaw(head).StallUntilClosed())
			cancelSrv := faultServer(t, tr, pgtest.NewScript().
				Expect(&pgproto3.CancelRequest{ProcessID: pgtest.FakeProcessID, SecretKey: pgtest.FakeSecretKey()}).Close())
			cfg := faultConfig(t, faultCancelDial(t, main, cancelSrv), func(cfg *conn.Config) { cfg.DrainTimeout = 200 * time.Millisecond })
			c, err := conn.ConnectConfig(faultCtx(t), cfg)
			require.NoError(t, err)
			defer c.Close(context.Background())

			ctx, cancel := context.WithTimeout(faultCtx(t), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := c.Exec(ctx, "select slow").ReadAll()
			elapsed := time.Since(start)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, elapsed, 2*time.Second, "the drain must give up after DrainTimeout")
			if assert.Len(t, res, 1) {
				assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows, "only the complete row")
			}
			faultRequireCancel(t, cancelSrv)
			assert.Equal(t, wire.StateClosed.String(), c.State().String())
			faultAssertUnusable(t, c)
		})
	})
	t.Run("server resumes after the cancel", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			arrived := make(chan struct{})
			var once sync.Once
			cancelSrv := faultServer(t, tr, pgtest.NewScript().
				ExpectStartupFunc(func(m pgproto3.FrontendMessage) error {
					cr, ok := m.(*pgproto3.CancelRequest)
					if !ok || cr.ProcessID != pgtest.FakeProcessID || string(cr.SecretKey) != string(pgtest.FakeSecretKey()) {
						return errors.New("want the CancelRequest with the BackendKeyData of the connection")
					}
					once.Do(func() { close(arrived) })
					return nil
				}).Close())
			main := faultServer(t, tr, pgtest.NewScript().AcceptStartup().
				Expect(&pgproto3.Query{String: "select slow"}).SendRaw(head).
				Do(func(ctx context.Context, _ net.Conn) error {
					select {
					case <-arrived:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}).
				SendRaw(fbCat(row[len(row)/2:], fmEnc(t, fmDataRow("late"), fmErr("ERROR", "57014", "canceling statement due to user request"), fmReady('I')))).
				Expect(&pgproto3.Query{String: "select 2"}).
				Send(fmRowDesc("c"), fmDataRow("2"), fmCmd("SELECT 1"), fmReady('I')))
			cfg := faultConfig(t, faultCancelDial(t, main, cancelSrv), func(cfg *conn.Config) { cfg.DrainTimeout = 3 * time.Second })
			c, err := conn.ConnectConfig(faultCtx(t), cfg)
			require.NoError(t, err)
			defer c.Close(context.Background())

			ctx, cancel := context.WithTimeout(faultCtx(t), 300*time.Millisecond)
			defer cancel()
			_, err = c.Exec(ctx, "select slow").ReadAll()
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			var pg *conn.PgError
			assert.False(t, errors.As(err, &pg), "the late 57014 belongs to the drained query: %v", err)
			select {
			case <-arrived:
			default:
				t.Fatal("no CancelRequest reached the server")
			}
			assert.Equal(t, wire.StateIdle, c.State())
			require.NoError(t, c.Err())

			res, err := c.Exec(faultCtx(t), "select 2").ReadAll()
			require.NoError(t, err, "the next query gets its own answer")
			require.Len(t, res, 1)
			assert.Equal(t, [][][]byte{{[]byte("2")}}, res[0].Rows)
			assert.Equal(t, wire.StateIdle, c.State())
		})
	})
	t.Run("no cancel key", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			// Without BackendKeyData the client cannot cancel: it must
			// not invent a key, and the connection is closed.
			main := faultServer(t, tr, pgtest.NewScript().AcceptStartupWith(pgtest.StartupReply{OmitBackendKeyData: true}).
				Expect(&pgproto3.Query{String: "select slow"}).SendRaw(head).StallUntilClosed())
			var dials atomic.Int32
			cfg := faultConfig(t, func(ctx context.Context, network, addr string) (net.Conn, error) {
				if dials.Add(1) > 1 {
					return nil, errors.New("unexpected dial")
				}
				return main.Dial(ctx, network, addr)
			}, nil)
			c, err := conn.ConnectConfig(faultCtx(t), cfg)
			require.NoError(t, err)
			defer c.Close(context.Background())
			ctx, cancel := context.WithTimeout(faultCtx(t), 200*time.Millisecond)
			defer cancel()
			_, err = c.Exec(ctx, "select slow").ReadAll()
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorIs(t, err, conn.ErrNoCancelKey)
			assert.Equal(t, int32(1), dials.Load(), "no cancel connection without a key")
			faultAssertUnusable(t, c)
		})
	})
}

// faultRequireCancel checks that the cancel server received its
// CancelRequest (its script completed).
func faultRequireCancel(tb testing.TB, srv *pgtest.FakeServer) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
	defer cancel()
	require.NoError(tb, srv.Wait(ctx), "the cancel server must receive the CancelRequest with the connection's key")
	msgs := srv.Received()
	require.Len(tb, msgs, 1)
	assert.Equal(tb, &pgproto3.CancelRequest{ProcessID: pgtest.FakeProcessID, SecretKey: pgtest.FakeSecretKey()}, msgs[0])
}

// faultIsConnEnd reports whether err is how an I/O operation reports that the
// peer ended the connection.
func faultIsConnEnd(err error) bool {
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, net.ErrClosed, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// ---- §2.1 asynchronous messages while idle -------------------------------------

// TestFaultIdleAsync sends the asynchronous set right after ReadyForQuery:
// unlike the stale replies of TestFaultLegalityMatrix they are legal while
// idle and must be handled, not refused, by the next call.
func TestFaultIdleAsync(t *testing.T) {
	t.Parallel()
	async := func(tb testing.TB) []byte {
		return fmEnc(tb, &pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "01000", Message: "careful"},
			fmParam("TimeZone", "Asia/Tokyo"),
			&pgproto3.NotificationResponse{PID: 99, Channel: "jobs", Payload: "42"})
	}
	t.Run("next query", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			var notices []string
			script := pgtest.NewScript().ExpectStartup().SendRaw(fbCat(fmStartup(t), async(t))).
				Expect(&pgproto3.Query{String: "select 1"}).SendRaw(fmSelectOne(t))
			c, _ := faultConnect(t, tr, script, func(cfg *conn.Config) {
				cfg.OnNotice = func(n *conn.Notice) { notices = append(notices, n.Message) }
			})
			ctx := faultCtx(t)
			res, err := c.Exec(ctx, "select 1").ReadAll()
			require.NoError(t, err)
			require.Len(t, res, 1)
			assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
			assert.Equal(t, []string{"careful"}, notices)
			assert.Equal(t, "Asia/Tokyo", c.ParameterStatus("TimeZone"))
			n, err := c.WaitForNotification(ctx)
			require.NoError(t, err)
			assert.Equal(t, &conn.Notification{PID: 99, Channel: "jobs", Payload: "42"}, n)
			assert.Equal(t, wire.StateIdle, c.State())
		})
	})
	t.Run("wait for notification", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().ExpectStartup().SendRaw(fbCat(fmStartup(t), async(t)))
			c, _ := faultConnect(t, tr, script, nil)
			n, err := c.WaitForNotification(faultCtx(t))
			require.NoError(t, err, "the notification that arrived with ReadyForQuery must be returned, not waited for")
			assert.Equal(t, &conn.Notification{PID: 99, Channel: "jobs", Payload: "42"}, n)
			assert.Equal(t, "Asia/Tokyo", c.ParameterStatus("TimeZone"))
			assert.Equal(t, wire.StateIdle, c.State())
		})
	})
}
