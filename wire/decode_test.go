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

// be builds a body from big-endian fields: int16, int32, byte, []byte and
// string (written with its terminator).
func be(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case int16:
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		case int32:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case byte:
			b = append(b, v)
		case []byte:
			b = append(b, v...)
		case string:
			b = append(append(b, v...), 0)
		default:
			panic("be: unsupported field")
		}
	}
	return b
}

// validBackendMessages is one well-formed instance of every backend message;
// each must decode and re-encode to the same bytes.
func validBackendMessages() []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.AuthenticationOk{},
		&pgproto3.AuthenticationCleartextPassword{},
		&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}},
		&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}},
		&pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=c2FsdA==,i=4096")},
		&pgproto3.AuthenticationSASLFinal{Data: []byte("v=c2lnbmF0dXJl")},
		&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30, UnrecognizedOptions: []string{"_pq_.x"}},
		&pgproto3.BackendKeyData{ProcessID: 42, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.BackendKeyData{ProcessID: 42, SecretKey: bytes.Repeat([]byte{7}, 32)},
		&pgproto3.ParameterStatus{Name: "TimeZone", Value: "Europe/Zürich"},
		&pgproto3.ReadyForQuery{TxStatus: 'T'},
		&pgproto3.ErrorResponse{Severity: "ERREUR", SeverityUnlocalized: "ERROR", Code: "42P01", Message: "relation «x» does not exist",
			Position: 15, Detail: "d", Hint: "h", Where: "w", SchemaName: "s", TableName: "t", ColumnName: "c",
			DataTypeName: "dt", ConstraintName: "cn", File: "f.c", Line: 12, Routine: "r", InternalPosition: 3, InternalQuery: "iq"},
		&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "hi"},
		&pgproto3.NotificationResponse{PID: 7, Channel: "ch", Payload: "päyload"},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("id"), TableOID: 16384, TableAttributeNumber: 1, DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1},
			{Name: []byte("naïve"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1, Format: 1},
		}},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("1"), nil, {}, []byte("ünïcode")}},
		&pgproto3.DataRow{Values: [][]byte{}},
		&pgproto3.CommandComplete{CommandTag: []byte("INSERT 0 1")},
		&pgproto3.EmptyQueryResponse{},
		&pgproto3.ParseComplete{},
		&pgproto3.BindComplete{},
		&pgproto3.CloseComplete{},
		&pgproto3.NoData{},
		&pgproto3.PortalSuspended{},
		&pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}},
		&pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0, 0}},
		&pgproto3.CopyOutResponse{OverallFormat: 1, ColumnFormatCodes: []uint16{1}},
		&pgproto3.CopyBothResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{}},
		&pgproto3.CopyData{Data: []byte("1\tx\n")},
		&pgproto3.CopyDone{},
		&pgproto3.FunctionCallResponse{Result: []byte{0, 1}},
		&pgproto3.FunctionCallResponse{Result: nil},
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range validBackendMessages() {
		in := encode(t, m)
		rd := wire.NewReader(bytes.NewReader(in), wire.ReaderOptions{})
		got, err := rd.Receive()
		require.NoError(t, err, "%T", m)
		out, err := got.Encode(nil)
		require.NoError(t, err)
		assert.Equal(t, in, out, "%T re-encodes to the same bytes", m)
	}
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	bad := []byte{0xff, 0xfe}
	cases := []struct {
		name   string
		typ    byte
		body   []byte
		reason wire.Reason
	}{
		// F5: trailing bytes after the last field (pgproto3 ignores these).
		{"DataRow trailing", 'D', be(int16(1), int32(1), []byte("x"), byte(0)), wire.ReasonTrailingBytes},
		{"RowDescription trailing", 'T', append(be(int16(0)), 0), wire.ReasonTrailingBytes},
		{"ParameterStatus trailing", 'S', be("a", "b", "c"), wire.ReasonTrailingBytes},
		{"Notification trailing", 'A', be(int32(1), "c", "p", byte(9)), wire.ReasonTrailingBytes},
		{"ErrorResponse after terminator", 'E', append(be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), "m", byte(0)), 1), wire.ReasonTrailingBytes},
		{"NPV trailing", 'v', be(int32(0x30000), int32(0), byte(1)), wire.ReasonTrailingBytes},
		{"SASL trailing after list end", 'R', be(int32(10), "SCRAM-SHA-256", "", byte(1)), wire.ReasonTrailingBytes},
		{"CommandComplete trailing", 'C', be("SELECT 1", byte(1)), wire.ReasonTrailingBytes},
		{"ParameterDescription remainder", 't', be(int16(1), int32(23), int16(1)), wire.ReasonTrailingBytes},
		{"CopyInResponse remainder", 'G', be(byte(0), int16(1), int16(0), byte(0)), wire.ReasonTrailingBytes},
		{"FunctionCallResponse trailing", 'V', be(int32(1), byte(1), byte(2)), wire.ReasonTrailingBytes},
		{"FunctionCallResponse NULL with bytes", 'V', be(int32(-1), byte(2)), wire.ReasonTrailingBytes},
		{"AuthenticationOk with data", 'R', be(int32(0), byte(1)), wire.ReasonTrailingBytes},
		{"Cleartext with data", 'R', be(int32(3), byte(1)), wire.ReasonTrailingBytes},
		{"MD5 long salt", 'R', be(int32(5), int32(1), byte(1)), wire.ReasonTrailingBytes},
		// F5: strings must end inside the body.
		{"CommandComplete unterminated", 'C', []byte("SELECT 1"), wire.ReasonUnterminatedString},
		{"ParameterStatus value unterminated", 'S', append(be("a"), 'b'), wire.ReasonUnterminatedString},
		{"RowDescription name unterminated", 'T', append(be(int16(1)), bytes.Repeat([]byte("n"), 20)...), wire.ReasonUnterminatedString},
		{"Error field unterminated", 'E', append(be(byte('M')), 'x'), wire.ReasonUnterminatedString},
		{"SASL list without end", 'R', be(int32(10), "SCRAM-SHA-256"), wire.ReasonUnterminatedString},
		{"NPV option unterminated", 'v', append(be(int32(0x30000), int32(1)), 'x'), wire.ReasonUnterminatedString},
		// F5: counts bounded by the remaining bytes and by the protocol.
		{"DataRow count beyond body", 'D', be(int16(3), int32(-1)), wire.ReasonMalformed},
		{"DataRow value beyond body", 'D', be(int16(1), int32(10), []byte("abc")), wire.ReasonMalformed},
		{"DataRow negative count", 'D', be(int16(-1)), wire.ReasonInvalidValue},
		{"DataRow length -2", 'D', be(int16(1), int32(-2)), wire.ReasonInvalidValue},
		{"DataRow over 1664 columns", 'D', append(be(int16(1665)), make([]byte, 4*1665)...), wire.ReasonInvalidValue},
		{"RowDescription count beyond body", 'T', be(int16(2), "a", int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)), wire.ReasonMalformed},
		{"RowDescription bad format", 'T', be(int16(1), "a", int32(0), int16(0), int32(23), int16(4), int32(-1), int16(2)), wire.ReasonInvalidValue},
		{"ParameterDescription count beyond body", 't', be(int16(2), int32(23)), wire.ReasonMalformed},
		{"ParameterDescription negative", 't', be(int16(-1)), wire.ReasonInvalidValue},
		{"CopyInResponse count beyond body", 'G', be(byte(0), int16(2), int16(0)), wire.ReasonMalformed},
		{"CopyInResponse bad overall format", 'G', be(byte(2), int16(0)), wire.ReasonInvalidValue},
		{"CopyOutResponse text with binary column", 'H', be(byte(0), int16(1), int16(1)), wire.ReasonInvalidValue},
		{"CopyOutResponse binary with text column", 'H', be(byte(1), int16(1), int16(0)), wire.ReasonInvalidValue},
		{"NPV negative count", 'v', be(int32(0x30000), int32(-1)), wire.ReasonInvalidValue},
		{"NPV count beyond body strings", 'v', be(int32(0x30000), int32(5), "a"), wire.ReasonMalformed},
		{"NPV count beyond body", 'v', be(int32(0x30000), int32(0), int16(5)), wire.ReasonTrailingBytes},
		{"FunctionCallResponse length beyond body", 'V', be(int32(9), byte(1)), wire.ReasonMalformed},
		{"FunctionCallResponse length -2", 'V', be(int32(-2)), wire.ReasonInvalidValue},
		// Fixed values.
		{"ReadyForQuery status X", 'Z', []byte{'X'}, wire.ReasonInvalidValue},
		{"ReadyForQuery status NUL", 'Z', []byte{0}, wire.ReasonInvalidValue},
		{"unsupported auth Kerberos", 'R', be(int32(2)), wire.ReasonAuthentication},
		{"unsupported auth SCM", 'R', be(int32(6)), wire.ReasonAuthentication},
		{"unsupported auth SSPI", 'R', be(int32(9)), wire.ReasonAuthentication},
		{"unknown auth 99", 'R', be(int32(99)), wire.ReasonAuthentication},
		{"empty parameter name", 'S', be("", "v"), wire.ReasonInvalidValue},
		// ErrorResponse and NoticeResponse need V, C and M, once each.
		{"error without V", 'E', be(byte('C'), "XX000", byte('M'), "m", byte(0)), wire.ReasonMissingField},
		{"error without C", 'E', be(byte('V'), "ERROR", byte('M'), "m", byte(0)), wire.ReasonMissingField},
		{"error without M", 'E', be(byte('V'), "ERROR", byte('C'), "XX000", byte(0)), wire.ReasonMissingField},
		{"error with no fields", 'E', []byte{0}, wire.ReasonMissingField},
		{"error duplicate M", 'E', be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), "a", byte('M'), "b", byte(0)), wire.ReasonMissingField},
		{"error bad SQLSTATE", 'E', be(byte('V'), "ERROR", byte('C'), "4200", byte('M'), "m", byte(0)), wire.ReasonInvalidValue},
		{"error lowercase SQLSTATE", 'E', be(byte('V'), "ERROR", byte('C'), "42p01", byte('M'), "m", byte(0)), wire.ReasonInvalidValue},
		{"error position not a number", 'E', be(byte('V'), "ERROR", byte('C'), "42601", byte('M'), "m", byte('P'), "x1", byte(0)), wire.ReasonInvalidValue},
		{"error line negative", 'E', be(byte('V'), "ERROR", byte('C'), "42601", byte('M'), "m", byte('L'), "-4", byte(0)), wire.ReasonInvalidValue},
		{"error with notice severity", 'E', be(byte('V'), "NOTICE", byte('C'), "00000", byte('M'), "m", byte(0)), wire.ReasonInvalidValue},
		{"notice with error severity", 'N', be(byte('V'), "ERROR", byte('C'), "00000", byte('M'), "m", byte(0)), wire.ReasonInvalidValue},
		// UTF-8 in every text field (protocol reference §4.5).
		{"command tag invalid UTF-8", 'C', be(string(bad)), wire.ReasonInvalidUTF8},
		{"parameter name invalid UTF-8", 'S', be(string(bad), "v"), wire.ReasonInvalidUTF8},
		{"parameter value invalid UTF-8", 'S', be("n", "v"+string(bad)), wire.ReasonInvalidUTF8},
		{"notification channel invalid UTF-8", 'A', be(int32(1), string(bad), "p"), wire.ReasonInvalidUTF8},
		{"notification payload invalid UTF-8", 'A', be(int32(1), "c", string(bad)), wire.ReasonInvalidUTF8},
		{"column name invalid UTF-8", 'T', be(int16(1), string(bad), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)), wire.ReasonInvalidUTF8},
		{"error message invalid UTF-8", 'E', be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), string(bad), byte(0)), wire.ReasonInvalidUTF8},
		{"error detail invalid UTF-8", 'E', be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), "m", byte('D'), string(bad), byte(0)), wire.ReasonInvalidUTF8},
		{"notice hint invalid UTF-8", 'N', be(byte('V'), "NOTICE", byte('C'), "00000", byte('M'), "m", byte('H'), string(bad), byte(0)), wire.ReasonInvalidUTF8},
		{"SASL mechanism invalid UTF-8", 'R', be(int32(10), string(bad), ""), wire.ReasonInvalidUTF8},
		{"NPV option invalid UTF-8", 'v', be(int32(0x30000), int32(1), string(bad)), wire.ReasonInvalidUTF8},
		{"surrogate half in tag", 'C', be("\xed\xa0\x80"), wire.ReasonInvalidUTF8},
		{"overlong NUL in tag", 'C', be("\xc0\x80"), wire.ReasonInvalidUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rd := wire.NewReader(bytes.NewReader(frame(tc.typ, tc.body)), wire.ReaderOptions{})
			msg, err := rd.Receive()
			require.Nil(t, msg)
			pe := requireProtocolError(t, err, tc.reason)
			assert.Equal(t, tc.typ, pe.MsgType)
			assert.GreaterOrEqual(t, pe.Offset, int64(5), "offset points into the body")
			assert.LessOrEqual(t, pe.Offset, int64(5+len(tc.body)))
		})
	}
}

func TestDecodeErrorFields(t *testing.T) {
	t.Parallel()
	body := be(byte('S'), "FEHLER", byte('V'), "ERROR", byte('C'), "22P02", byte('M'), "bad input",
		byte('P'), "42", byte('Z'), "future field", byte(0))
	rd := wire.NewReader(bytes.NewReader(frame('E', body)), wire.ReaderOptions{})
	msg, err := rd.Receive()
	require.NoError(t, err)
	e := msg.(*pgproto3.ErrorResponse)
	assert.Equal(t, "FEHLER", e.Severity)
	assert.Equal(t, "ERROR", e.SeverityUnlocalized)
	assert.Equal(t, "22P02", e.Code)
	assert.Equal(t, int32(42), e.Position)
	assert.Equal(t, map[byte]string{'Z': "future field"}, e.UnknownFields, "unknown fields are kept, not rejected")

	// The flyweight is reset between messages: no field leaks from the last one.
	body2 := be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), "second", byte(0))
	rd = wire.NewReader(bytes.NewReader(append(frame('E', body), frame('E', body2)...)), wire.ReaderOptions{})
	_, err = rd.Receive()
	require.NoError(t, err)
	msg, err = rd.Receive()
	require.NoError(t, err)
	e = msg.(*pgproto3.ErrorResponse)
	assert.Equal(t, "second", e.Message)
	assert.Zero(t, e.Position)
	assert.Empty(t, e.Severity)
	assert.Nil(t, e.UnknownFields)
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		in     string
		ok     bool
		off    int
		reason wire.Reason
	}{
		{"empty", "", true, -1, wire.ReasonUnknown},
		{"ascii", "hello, world; long enough for the word loop", true, -1, wire.ReasonUnknown},
		{"multibyte", "grüße 日本語 🎉", true, -1, wire.ReasonUnknown},
		{"NUL in word loop", "abcdefgh\x00ijklmnop", false, 8, wire.ReasonNULInText},
		{"NUL first", "\x00", false, 0, wire.ReasonNULInText},
		{"NUL at byte 3 of a word", "abc\x00efghijk", false, 3, wire.ReasonNULInText},
		{"NUL after multibyte", "ü\x00", false, 2, wire.ReasonNULInText},
		{"invalid byte", "abcdefghij\xff", false, 10, wire.ReasonInvalidUTF8},
		{"truncated sequence", "ab\xe6\x97", false, 2, wire.ReasonInvalidUTF8},
		{"surrogate", "\xed\xb0\x80", false, 0, wire.ReasonInvalidUTF8},
		{"overlong", "\xe0\x80\xaf", false, 0, wire.ReasonInvalidUTF8},
		{"above U+10FFFF", "\xf4\x90\x80\x80", false, 0, wire.ReasonInvalidUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, off, r := wire.CheckText([]byte(tc.in))
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.off, off)
			assert.Equal(t, tc.reason, r)
			err := wire.CheckString("query", tc.in)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			var ie *wire.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, "query", ie.Field)
			assert.Equal(t, tc.off, ie.Offset)
		})
	}
}

// TestDecodeRepeatedRowDescription checks the decoder's reuse of a
// RowDescription whose bytes repeat: the same values each time, names that
// stay intact after the read buffer was overwritten by later messages, a
// different description decoded afresh, and a malformed one refused after
// an identical-looking good one.
func TestDecodeRepeatedRowDescription(t *testing.T) {
	desc := func(names ...string) *pgproto3.RowDescription {
		rd := &pgproto3.RowDescription{}
		for _, n := range names {
			rd.Fields = append(rd.Fields, pgproto3.FieldDescription{Name: []byte(n), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1})
		}
		return rd
	}
	var in []byte
	for _, m := range []pgproto3.BackendMessage{desc("a", "bb"), &pgproto3.DataRow{Values: [][]byte{[]byte("xx"), []byte("yyy")}},
		desc("a", "bb"), desc("a", "bc"), desc("a", "bb")} {
		var err error
		in, err = m.Encode(in)
		require.NoError(t, err)
	}
	// A one-byte buffer makes every message overwrite the previous one's bytes.
	rd := wire.NewReader(bytes.NewReader(in), wire.ReaderOptions{BufferSize: 1})
	names := func(m pgproto3.BackendMessage) []string {
		var out []string
		for _, f := range m.(*pgproto3.RowDescription).Fields {
			out = append(out, string(f.Name))
		}
		return out
	}
	first, err := rd.Receive()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "bb"}, names(first))
	_, err = rd.Receive() // the DataRow reuses the read buffer
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "bb"}, names(first), "names of the kept description after the buffer was reused")
	for _, want := range [][]string{{"a", "bb"}, {"a", "bc"}, {"a", "bb"}} {
		m, err := rd.Receive()
		require.NoError(t, err)
		assert.Equal(t, want, names(m))
	}

	// A description with a bad format code, after a good one of the same
	// length: refused, not taken for the good one.
	good, err := desc("a").Encode(nil)
	require.NoError(t, err)
	bad := bytes.Clone(good)
	bad[len(bad)-1] = 7 // format code 7
	rd = wire.NewReader(bytes.NewReader(append(good, bad...)), wire.ReaderOptions{})
	_, err = rd.Receive()
	require.NoError(t, err)
	_, err = rd.Receive()
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, wire.ReasonInvalidValue, pe.Reason)
}
