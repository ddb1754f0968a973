package wire_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

func textRowDescription(cols int, formats ...int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{}
	for i := range cols {
		var f int16
		if i < len(formats) {
			f = formats[i]
		}
		rd.Fields = append(rd.Fields, pgproto3.FieldDescription{Name: []byte{'c', byte('0' + i)}, DataTypeOID: 25,
			DataTypeSize: -1, TypeModifier: -1, Format: f})
	}
	return rd
}

func row(vals ...string) *pgproto3.DataRow {
	r := &pgproto3.DataRow{}
	for _, v := range vals {
		if v == "NULL" {
			r.Values = append(r.Values, nil)
			continue
		}
		r.Values = append(r.Values, []byte(v))
	}
	return r
}

// readRows reads one reply the way conn's ResultReader does, NextRow first
// and Receive when it declines, and returns the rows each path delivered
// and the error that ended the reply, if any.
func readRows(t *testing.T, f *wire.Frontend) (fast, slow [][]string, err error) {
	t.Helper()
	strs := func(vals [][]byte) []string {
		var out []string
		for _, v := range vals {
			if v == nil {
				out = append(out, "NULL")
				continue
			}
			out = append(out, string(v))
		}
		return out
	}
	for {
		if vals, ok := f.NextRow(); ok {
			fast = append(fast, strs(vals))
			continue
		}
		msg, _, err := f.Receive()
		if err != nil {
			return fast, slow, err
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			slow = append(slow, strs(m.Values))
		case *pgproto3.ReadyForQuery:
			return fast, slow, nil
		}
	}
}

// TestNextRowTakesTheRows checks that the fast path is taken: in reply to a
// simple Query, the RowDescription (read by Receive) arms it, and every
// buffered row of that result goes through NextRow; nothing else does.
func TestNextRowTakesTheRows(t *testing.T) {
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	_, err := f.SendQuery("select …; select …")
	require.NoError(t, err)
	in.Write(trEncodeAll(t, textRowDescription(2),
		row("1", "one"), row("2", "NULL"), row("3", ""), row("4", "héllo wörld, long enough for the vector path"),
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 4")},
		textRowDescription(1), row("x"), row("y"),
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'}))
	vals, ok := f.NextRow()
	assert.False(t, ok, "NextRow before the RowDescription")
	assert.Nil(t, vals)
	fast, slow, err := readRows(t, f)
	require.NoError(t, err)
	assert.Empty(t, slow)
	assert.Equal(t, [][]string{{"1", "one"}, {"2", "NULL"}, {"3", ""}, {"4", "héllo wörld, long enough for the vector path"},
		{"x"}, {"y"}}, fast)
	assert.Equal(t, wire.StateIdle, f.State())
	_, ok = f.NextRow()
	assert.False(t, ok, "NextRow while idle")
}

// TestNextRowDeclinesWhatReceiveRefuses puts one bad row after two good
// ones: NextRow must decline it, and Receive then refuses it with the
// reason a Frontend without the fast path gives.
func TestNextRowDeclinesWhatReceiveRefuses(t *testing.T) {
	long := "a value long enough for the vector path: "
	cases := []struct {
		name   string
		desc   *pgproto3.RowDescription
		bad    []byte // the bad DataRow, encoded
		reason wire.Reason
	}{
		{"NUL in a short value", textRowDescription(2), trEncodeAll(t, row("a", "b\x00c")), wire.ReasonNULInText},
		{"NUL in a long value", textRowDescription(2), trEncodeAll(t, row("a", long+"\x00")), wire.ReasonNULInText},
		{"invalid UTF-8 in a 1-byte value", textRowDescription(2), trEncodeAll(t, row("\xff", "b")), wire.ReasonInvalidUTF8},
		{"invalid UTF-8 in a 12-byte value", textRowDescription(2), trEncodeAll(t, row("a", "0123456789\xc3(")), wire.ReasonInvalidUTF8},
		{"invalid UTF-8 in a long value", textRowDescription(2), trEncodeAll(t, row("a", long+"\xe2\x82")), wire.ReasonInvalidUTF8},
		{"too many columns", textRowDescription(2), trEncodeAll(t, row("a", "b", "c")), wire.ReasonFieldCountMismatch},
		{"too few columns", textRowDescription(2), trEncodeAll(t, row("a")), wire.ReasonFieldCountMismatch},
		{"value past the body", textRowDescription(2), func() []byte {
			b := trEncodeAll(t, row("a", "bc"))
			b[len(b)-3] = 3 // length word of "bc" says 3
			return b
		}(), wire.ReasonMalformed},
		{"trailing bytes", textRowDescription(2), func() []byte {
			b := trEncodeAll(t, row("a", "bc"))
			b = append(b, 'z')
			b[4]++ // the message length covers the extra byte
			return b
		}(), wire.ReasonTrailingBytes},
		{"negative length", textRowDescription(2), func() []byte {
			b := trEncodeAll(t, row("a", "bc"))
			copy(b[len(b)-6:], []byte{0xff, 0xff, 0xff, 0xfe})
			b = b[:len(b)-2]
			binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
			return b
		}(), wire.ReasonInvalidValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := append(trEncodeAll(t, tc.desc, row("1", "one"), row("2", "two")), tc.bad...)
			var refs []error
			for _, useFast := range []bool{false, true} {
				f, in := trFrontendIdle(t, wire.FrontendOptions{})
				_, err := f.SendQuery("select …")
				require.NoError(t, err)
				in.Write(stream)
				if useFast {
					fast, slow, err := readRows(t, f)
					assert.Equal(t, [][]string{{"1", "one"}, {"2", "two"}}, fast)
					assert.Empty(t, slow)
					refs = append(refs, err)
				} else {
					var err error
					for err == nil {
						_, _, err = f.Receive()
					}
					refs = append(refs, err)
				}
				assert.Equal(t, wire.StateDesynced, f.State())
				_, ok := f.NextRow()
				assert.False(t, ok, "NextRow after a desync")
			}
			var slowErr, fastErr *wire.ProtocolError
			require.ErrorAs(t, refs[0], &slowErr)
			require.ErrorAs(t, refs[1], &fastErr)
			assert.Equal(t, tc.reason, slowErr.Reason)
			assert.Equal(t, slowErr.Error(), fastErr.Error())
			assert.Equal(t, slowErr.Offset, fastErr.Offset)
		})
	}
}

// TestNextRowBinaryColumnsAndRowLimit checks the two things the fast path
// takes from the request: binary result columns are not validated as text,
// and an Execute's row limit still holds.
func TestNextRowBinaryColumnsAndRowLimit(t *testing.T) {
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	sendPortalExecute(t, f, []int16{1, 0}, 3)
	// Column 0 is binary: bytes that are not UTF-8 are legal there.
	in.Write(trEncodeAll(t, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, textRowDescription(2, 1, 0),
		row("\xff\x00", "a"), row("\xfe\x00", "b"), row("\xfd\x00", "c"), row("\xfc\x00", "d")))
	fast, slow, err := readRows(t, f)
	// The portal's description armed the fast path: even the first row
	// takes it.
	assert.Empty(t, slow)
	assert.Equal(t, [][]string{{"\xff\x00", "a"}, {"\xfe\x00", "b"}, {"\xfd\x00", "c"}}, fast)
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, wire.ReasonUnexpectedMessage, pe.Reason)
	assert.Contains(t, pe.Error(), "row limit of 3")
}

// sendPortalExecute sends an extended query whose portal's Describe arms
// the fast path: Parse, Bind (with resultFormats), Describe portal, Execute
// of at most maxRows rows (0: all), Sync.
func sendPortalExecute(t *testing.T, f *wire.Frontend, resultFormats []int16, maxRows int32) {
	t.Helper()
	_, err := f.SendParse("", "select …", nil)
	require.NoError(t, err)
	_, err = f.SendBind("p", "", nil, nil, resultFormats)
	require.NoError(t, err)
	_, err = f.SendDescribePortal("p")
	require.NoError(t, err)
	_, err = f.SendExecute("p", maxRows)
	require.NoError(t, err)
	_, err = f.SendSync()
	require.NoError(t, err)
}

// TestNextRowNeedsTheWholeMessage checks that a row only partly read is
// left to Receive (NextRow never reads from the source).
func TestNextRowNeedsTheWholeMessage(t *testing.T) {
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	_, err := f.SendQuery("select …")
	require.NoError(t, err)
	second := trEncodeAll(t, row("2"))
	in.Write(trEncodeAll(t, textRowDescription(1), row("1")))
	in.Write(second[:len(second)-1])
	for range 2 {
		_, _, err := f.Receive()
		require.NoError(t, err)
	}
	_, ok := f.NextRow()
	assert.False(t, ok, "NextRow with a partial row buffered")
	in.WriteByte(second[len(second)-1])
	msg, _, err := f.Receive()
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("2")}, msg.(*pgproto3.DataRow).Values)
}

// TestNextRowAfterAnAsyncMessage checks that a notice between rows sends the
// next row through Receive again (the fast path is disarmed by every other
// message, and rearmed by that row) and the rows after it through NextRow.
func TestNextRowAfterAnAsyncMessage(t *testing.T) {
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	_, err := f.SendQuery("select …")
	require.NoError(t, err)
	in.Write(trEncodeAll(t, textRowDescription(1), row("1"), row("2"),
		&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "hi"},
		row("3"), row("4"), &pgproto3.CommandComplete{CommandTag: []byte("SELECT 4")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'}))
	fast, slow, err := readRows(t, f)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"3"}}, slow)
	assert.Equal(t, [][]string{{"1"}, {"2"}, {"4"}}, fast)
}

// TestNextRowSkipValueValidation checks that the option reaches the fast
// path: with it, text values are handed over unchecked there too.
func TestNextRowSkipValueValidation(t *testing.T) {
	f, in := trFrontendIdle(t, wire.FrontendOptions{Tracker: wire.TrackerOptions{SkipValueValidation: true}})
	_, err := f.SendQuery("select …")
	require.NoError(t, err)
	in.Write(trEncodeAll(t, textRowDescription(1), row("a\x00"), row("\xff"),
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	fast, slow, err := readRows(t, f)
	require.NoError(t, err)
	assert.Empty(t, slow)
	assert.Equal(t, [][]string{{"a\x00"}, {"\xff"}}, fast)
}

// TestNextCopyData checks the CopyData fast path: it takes every buffered
// CopyData of a COPY TO STDOUT, and declines the CopyDone, a CopyData after
// it (which Receive refuses) and a CopyData over the cap.
func TestNextCopyData(t *testing.T) {
	start := func(t *testing.T, opts wire.FrontendOptions) (*wire.Frontend, *bytes.Buffer) {
		f, in := trFrontendIdle(t, opts)
		_, err := f.SendQuery("copy t to stdout")
		require.NoError(t, err)
		in.Write(trEncodeAll(t, &pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}}))
		_, _, err = f.Receive()
		require.NoError(t, err)
		require.Equal(t, wire.StateCopyOut, f.State())
		return f, in
	}
	t.Run("stream", func(t *testing.T) {
		f, in := start(t, wire.FrontendOptions{})
		in.Write(trEncodeAll(t, &pgproto3.CopyData{Data: []byte("1\tone\n")}, &pgproto3.CopyData{Data: []byte("2\ttwo\n")},
			&pgproto3.CopyData{Data: nil}, &pgproto3.CopyDone{}, &pgproto3.CopyData{Data: []byte("late\n")}))
		_, _, err := f.Receive() // fills the buffer with the whole stream
		require.NoError(t, err)
		var got []string
		for {
			data, ok := f.NextCopyData()
			if !ok {
				break
			}
			got = append(got, string(data))
		}
		assert.Equal(t, []string{"2\ttwo\n", ""}, got)
		msg, _, err := f.Receive()
		require.NoError(t, err)
		assert.IsType(t, &pgproto3.CopyDone{}, msg)
		_, ok := f.NextCopyData()
		assert.False(t, ok, "NextCopyData after the server's CopyDone")
		_, _, err = f.Receive()
		var pe *wire.ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, wire.ReasonCopyState, pe.Reason)
	})
	t.Run("cap", func(t *testing.T) {
		f, in := start(t, wire.FrontendOptions{Reader: wire.ReaderOptions{Limits: wire.Limits{CopyData: 8}}})
		in.Write(trEncodeAll(t, &pgproto3.CopyData{Data: []byte("12345678")}, &pgproto3.CopyData{Data: []byte("123456789")}))
		_, _, err := f.Receive()
		require.NoError(t, err)
		_, ok := f.NextCopyData()
		assert.False(t, ok, "NextCopyData over the cap")
		_, _, err = f.Receive()
		var pe *wire.ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, wire.ReasonMessageTooLarge, pe.Reason)
	})
	t.Run("idle", func(t *testing.T) {
		// A notice (legal while idle) read by Receive pulls the CopyData
		// behind it into the buffer: NextCopyData must decline it for the
		// state, not for want of bytes, and Receive then refuses it.
		f, in := trFrontendIdle(t, wire.FrontendOptions{})
		in.Write(trEncodeAll(t, &pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "hi"},
			&pgproto3.CopyData{Data: []byte("x")}))
		_, _, err := f.Receive()
		require.NoError(t, err)
		require.Positive(t, f.Buffered(), "the CopyData is buffered")
		_, ok := f.NextCopyData()
		assert.False(t, ok, "NextCopyData while idle")
		_, _, err = f.Receive()
		var pe *wire.ProtocolError
		require.ErrorAs(t, err, &pe)
	})
}
