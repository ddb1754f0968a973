package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

// frame builds a backend message with a correct length word.
func frame(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

// header builds only a type byte and a raw length word.
func header(typ byte, length int32) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(length))
	return b
}

func encode(t testing.TB, msgs ...pgproto3.BackendMessage) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		out, err = m.Encode(out)
		require.NoError(t, err)
	}
	return out
}

func requireProtocolError(t *testing.T, err error, reason wire.Reason) *wire.ProtocolError {
	t.Helper()
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe, "want a *wire.ProtocolError with reason %v", reason)
	require.Equal(t, reason, pe.Reason, "reason; error: %v", err)
	return pe
}

// headerOnly serves the given header and fails the test's expectation if the
// Reader asks for more: a cap must be enforced before the body is read.
type headerOnly struct {
	hdr  []byte
	more bool
}

var errReadPastHeader = errors.New("reader asked for the body of a message it should have refused")

func (h *headerOnly) Read(p []byte) (int, error) {
	if len(h.hdr) == 0 {
		h.more = true
		return 0, errReadPastHeader
	}
	n := copy(p, h.hdr)
	h.hdr = h.hdr[n:]
	return n, nil
}

func TestReaderFramingLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		in     []byte
		reason wire.Reason
	}{
		// F1: a length word below 4, including values that are negative as Int32.
		{name: "length 0", in: header('D', 0), reason: wire.ReasonBadLength},
		{name: "length 3", in: header('C', 3), reason: wire.ReasonBadLength},
		{name: "length -1", in: header('D', -1), reason: wire.ReasonBadLength},
		{name: "length 2^31", in: header('d', -0x80000000), reason: wire.ReasonBadLength},
		// F2 for fixed-size messages: any other size is a bad length.
		{name: "ReadyForQuery empty", in: header('Z', 4), reason: wire.ReasonBadLength},
		{name: "ReadyForQuery two bytes", in: header('Z', 6), reason: wire.ReasonBadLength},
		{name: "ParseComplete with body", in: header('1', 5), reason: wire.ReasonBadLength},
		{name: "BindComplete with body", in: header('2', 5), reason: wire.ReasonBadLength},
		{name: "CloseComplete with body", in: header('3', 5), reason: wire.ReasonBadLength},
		{name: "NoData with body", in: header('n', 5), reason: wire.ReasonBadLength},
		{name: "PortalSuspended with body", in: header('s', 5), reason: wire.ReasonBadLength},
		{name: "EmptyQueryResponse with body", in: header('I', 5), reason: wire.ReasonBadLength},
		{name: "CopyDone with body", in: header('c', 5), reason: wire.ReasonBadLength},
		{name: "BackendKeyData short", in: header('K', 4+7), reason: wire.ReasonBadLength},
		{name: "Authentication short", in: header('R', 4+3), reason: wire.ReasonBadLength},
		{name: "NegotiateProtocolVersion short", in: header('v', 4+7), reason: wire.ReasonBadLength},
		{name: "CopyInResponse short", in: header('G', 4+2), reason: wire.ReasonBadLength},
		{name: "DataRow short", in: header('D', 4+1), reason: wire.ReasonBadLength},
		{name: "FunctionCallResponse short", in: header('V', 4+3), reason: wire.ReasonBadLength},
		// F2 caps (protocol reference §4.3 defaults).
		{name: "BackendKeyData key over 256", in: header('K', 4+261), reason: wire.ReasonMessageTooLarge},
		{name: "Authentication over 2000", in: header('R', 4+2001), reason: wire.ReasonMessageTooLarge},
		{name: "NegotiateProtocolVersion over 2000", in: header('v', 4+2001), reason: wire.ReasonMessageTooLarge},
		{name: "CommandComplete over 256", in: header('C', 4+257), reason: wire.ReasonMessageTooLarge},
		{name: "ParameterStatus over 30000", in: header('S', 4+30001), reason: wire.ReasonMessageTooLarge},
		{name: "NotificationResponse over 8256", in: header('A', 4+8257), reason: wire.ReasonMessageTooLarge},
		{name: "ErrorResponse over 1 MiB", in: header('E', 4+1<<20+1), reason: wire.ReasonMessageTooLarge},
		{name: "NoticeResponse over 1 MiB", in: header('N', 4+1<<20+1), reason: wire.ReasonMessageTooLarge},
		{name: "RowDescription over 512 KiB", in: header('T', 4+512<<10+1), reason: wire.ReasonMessageTooLarge},
		{name: "ParameterDescription over 65535 params", in: header('t', 4+2+4*65536), reason: wire.ReasonMessageTooLarge},
		{name: "CopyOutResponse over 1664 columns", in: header('H', 4+3+2*1665), reason: wire.ReasonMessageTooLarge},
		{name: "DataRow over 1 GiB", in: header('D', 0x3FFFFFFF+5), reason: wire.ReasonMessageTooLarge},
		{name: "CopyData over 1 GiB", in: header('d', 0x7FFFFFFF), reason: wire.ReasonMessageTooLarge},
		// F4: unknown and frontend-only type bytes.
		{name: "unknown type x", in: header('x', 4), reason: wire.ReasonUnknownMessageType},
		{name: "unknown type NUL", in: header(0, 4), reason: wire.ReasonUnknownMessageType},
		{name: "frontend Query", in: header('Q', 5), reason: wire.ReasonFrontendMessageType},
		{name: "frontend Parse", in: header('P', 5), reason: wire.ReasonFrontendMessageType},
		{name: "frontend Bind", in: header('B', 5), reason: wire.ReasonFrontendMessageType},
		{name: "frontend FunctionCall", in: header('F', 5), reason: wire.ReasonFrontendMessageType},
		{name: "frontend Terminate", in: header('X', 4), reason: wire.ReasonFrontendMessageType},
		{name: "frontend CopyFail", in: header('f', 5), reason: wire.ReasonFrontendMessageType},
		{name: "frontend PasswordMessage", in: header('p', 5), reason: wire.ReasonFrontendMessageType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &headerOnly{hdr: tc.in}
			rd := wire.NewReader(src, wire.ReaderOptions{})
			_, _, err := rd.Next()
			requireProtocolError(t, err, tc.reason)
			assert.False(t, src.more, "the Reader read past the header of a message it refused")
			// The error is sticky.
			_, _, err2 := rd.Next()
			assert.Same(t, err, err2)
			_, err3 := rd.Receive()
			assert.Same(t, err, err3)
		})
	}
}

func TestReaderTooLargeError(t *testing.T) {
	t.Parallel()
	rd := wire.NewReader(&headerOnly{hdr: header('D', 4+1001)}, wire.ReaderOptions{Limits: wire.Limits{DataRow: 1000}})
	_, _, err := rd.Next()
	pe := requireProtocolError(t, err, wire.ReasonMessageTooLarge)
	var tl *wire.MessageTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, 1000, tl.Max)
	assert.Equal(t, int64(1001), tl.Got)
	assert.Equal(t, byte('D'), pe.MsgType)
	assert.Equal(t, int64(1), pe.Offset, "offset of the length word")
}

func TestReaderLimitsConfigurable(t *testing.T) {
	t.Parallel()
	body := make([]byte, 2+4+100)
	binary.BigEndian.PutUint16(body, 1)
	binary.BigEndian.PutUint32(body[2:], 100)
	in := frame('D', body)
	cases := []struct {
		name  string
		limit int
		ok    bool
	}{
		{name: "exactly at the cap", limit: len(body), ok: true},
		{name: "one below", limit: len(body) - 1, ok: false},
		{name: "zero means default", limit: 0, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rd := wire.NewReader(bytes.NewReader(in), wire.ReaderOptions{Limits: wire.Limits{DataRow: tc.limit}})
			_, err := rd.Receive()
			if tc.ok {
				require.NoError(t, err)
				return
			}
			requireProtocolError(t, err, wire.ReasonMessageTooLarge)
		})
	}
}

func TestReaderTruncation(t *testing.T) {
	t.Parallel()
	full := encode(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	// F3: the stream ends inside the header or the body, at every offset.
	for cut := 1; cut < len(full); cut++ {
		rd := wire.NewReader(bytes.NewReader(full[:cut]), wire.ReaderOptions{})
		_, _, err := rd.Next()
		pe := requireProtocolError(t, err, wire.ReasonTruncated)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
		assert.Equal(t, int64(cut), pe.Offset, "cut at %d", cut)
	}
	// At a boundary the end of the stream is a clean io.EOF.
	rd := wire.NewReader(bytes.NewReader(full), wire.ReaderOptions{})
	_, err := rd.Receive()
	require.NoError(t, err)
	_, err = rd.Receive()
	assert.Equal(t, io.EOF, err)
	empty := wire.NewReader(bytes.NewReader(nil), wire.ReaderOptions{})
	_, _, err = empty.Next()
	assert.Equal(t, io.EOF, err)
}

func TestReaderSplitReads(t *testing.T) {
	t.Parallel()
	msgs := []pgproto3.BackendMessage{
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 70000)}},
		&pgproto3.DataRow{Values: [][]byte{nil}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
	in := encode(t, msgs...)
	readers := map[string]func() io.Reader{
		"one byte at a time": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(in)) },
		"half reads":         func() io.Reader { return iotest.HalfReader(bytes.NewReader(in)) },
		"data with EOF":      func() io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) },
		"whole":              func() io.Reader { return bytes.NewReader(in) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			rd := wire.NewReader(mk(), wire.ReaderOptions{BufferSize: 64})
			var got []byte
			for {
				msg, err := rd.Receive()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				got, err = msg.Encode(got)
				require.NoError(t, err)
			}
			assert.Equal(t, in, got)
		})
	}
}

// flaky fails with errTimeout once, after the given number of bytes.
type flaky struct {
	src   io.Reader
	after int
	fired bool
}

var errTimeout = errors.New("i/o timeout")

func (f *flaky) Read(p []byte) (int, error) {
	if !f.fired && f.after == 0 {
		f.fired = true
		return 0, errTimeout
	}
	if !f.fired && len(p) > f.after {
		p = p[:f.after]
	}
	n, err := f.src.Read(p)
	if !f.fired {
		f.after -= n
	}
	return n, err
}

func TestReaderResumesAfterReadError(t *testing.T) {
	t.Parallel()
	in := encode(t,
		&pgproto3.DataRow{Values: [][]byte{[]byte("hello"), nil, []byte("world")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
	)
	// Interrupt at every offset, as a read deadline would.
	for cut := 0; cut < len(in); cut++ {
		rd := wire.NewReader(&flaky{src: bytes.NewReader(in), after: cut}, wire.ReaderOptions{BufferSize: 8})
		var got []byte
		fails := 0
		for {
			msg, err := rd.Receive()
			if errors.Is(err, errTimeout) {
				fails++
				require.Nil(t, rd.Err(), "a read error must not stop the Reader")
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "cut %d", cut)
			got, err = msg.Encode(got)
			require.NoError(t, err)
		}
		assert.Equal(t, 1, fails, "cut %d", cut)
		assert.Equal(t, in, got, "cut %d", cut)
	}
}

func TestReaderOffsets(t *testing.T) {
	t.Parallel()
	first := encode(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	bad := frame('C', []byte("SELECT 1\x00junk"))
	rd := wire.NewReader(bytes.NewReader(append(first, bad...)), wire.ReaderOptions{BufferSize: 8})
	_, err := rd.Receive()
	require.NoError(t, err)
	assert.Equal(t, int64(0), rd.Offset())
	_, err = rd.Receive()
	pe := requireProtocolError(t, err, wire.ReasonTrailingBytes)
	assert.Equal(t, int64(len(first)), rd.Offset())
	assert.Equal(t, int64(len(first)+5+len("SELECT 1\x00")), pe.Offset, "offset of the first trailing byte")
	assert.Contains(t, pe.Error(), "trailing_bytes")
	assert.Contains(t, pe.Error(), "CommandComplete")
}

func TestReaderGate(t *testing.T) {
	t.Parallel()
	refused := &wire.ProtocolError{Reason: wire.ReasonUnexpectedMessage, Detail: "not now"}
	src := &headerOnly{hdr: header('D', 4+1000)}
	rd := wire.NewReader(src, wire.ReaderOptions{Gate: func(typ byte, n int) *wire.ProtocolError {
		assert.Equal(t, byte('D'), typ)
		assert.Equal(t, 1000, n)
		return refused
	}})
	_, _, err := rd.Next()
	assert.Same(t, refused, err)
	assert.False(t, src.more, "the gate must run before the body is read")
}

func TestReaderZeroAllocSteadyState(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count check skipped in -short mode")
	}
	row := encode(t, &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("two"), nil, bytes.Repeat([]byte("z"), 300)}})
	src := &cycle{b: row}
	rd := wire.NewReader(src, wire.ReaderOptions{})
	_, err := rd.Receive() // warm up: the values slice is allocated once
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := rd.Receive(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per DataRow")
}

// cycle serves b over and over.
type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], c.b[c.off:])
		n += m
		c.off = (c.off + m) % len(c.b)
	}
	return n, nil
}
