package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// fuzzLimits are small caps so that the framing target can check that no
// message larger than its cap is ever returned.
var fuzzLimits = wire.Limits{DataRow: 1 << 12, CopyData: 1 << 12, FunctionCallResponse: 1 << 12, ErrorResponse: 1 << 12,
	RowDescription: 1 << 12}

// FuzzReader feeds arbitrary bytes to the framing reader. Properties: no
// panic; every error is io.EOF or a *ProtocolError; once a ProtocolError is
// returned it is returned again; no body is larger than the cap for its
// type; every accepted message re-encodes to exactly the bytes it came from.
func FuzzReader(f *testing.F) {
	for _, m := range validBackendMessages() {
		b, _ := m.Encode(nil)
		f.Add(b)
	}
	f.Add(append(header('D', 4+2), 0, 1))
	f.Add(header('Z', 3))
	f.Add([]byte("Q\x00\x00\x00\x05x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := wire.NewReader(smallReads(data), wire.ReaderOptions{Limits: fuzzLimits, BufferSize: 16})
		off := 0
		for {
			msg, err := rd.Receive()
			if err != nil {
				if errors.Is(err, io.EOF) && rd.Err() == nil {
					if off != len(data) {
						t.Fatalf("clean EOF after %d of %d bytes", off, len(data))
					}
					return
				}
				var pe *wire.ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("error is neither io.EOF nor *ProtocolError: %T %v", err, err)
				}
				if _, err2 := rd.Receive(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				return
			}
			out, eerr := msg.Encode(nil)
			if eerr != nil {
				t.Fatalf("accepted %T does not re-encode: %v", msg, eerr)
			}
			if len(out) > 5+(1<<12) && (out[0] == 'D' || out[0] == 'd' || out[0] == 'E' || out[0] == 'N' || out[0] == 'T' || out[0] == 'V') {
				t.Fatalf("%T of %d bytes passed a cap of %d", msg, len(out)-5, 1<<12)
			}
			if out[0] != 'E' && out[0] != 'N' {
				if !bytes.Equal(out, data[off:off+len(out)]) {
					t.Fatalf("%T re-encodes differently:\n in  %q\n out %q", msg, data[off:off+len(out)], out)
				}
			}
			off += 5 + int(uint32(data[off+1])<<24|uint32(data[off+2])<<16|uint32(data[off+3])<<8|uint32(data[off+4])) - 4
		}
	})
}

// smallReads splits data into small reads so that framing across reads is
// exercised.
func smallReads(data []byte) io.Reader { return &chunked{b: data} }

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	c.n = c.n%7 + 1
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// fuzzDecode is the body of every FuzzDecode target: the body is framed as a
// message of type typ. Properties: no panic; every error is a
// *ProtocolError; an accepted message re-encodes canonically (to the same
// bytes, except ErrorResponse and NoticeResponse whose field order is free,
// which must decode to the same values); and pgproto3 accepts every message
// wire accepts and decodes it to the same values (wire may be stricter,
// never laxer).
func fuzzDecode(f *testing.F, typ byte, seeds ...[]byte) {
	for _, m := range validBackendMessages() {
		b, _ := m.Encode(nil)
		if b[0] == typ {
			f.Add(b[5:])
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := frame(typ, body)
		rd := wire.NewReader(bytes.NewReader(in), wire.ReaderOptions{})
		msg, err := rd.Receive()
		if err != nil {
			var pe *wire.ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ProtocolError: %T %v", err, err)
			}
			if pe.Offset < 0 || pe.Offset > int64(len(in)) {
				t.Fatalf("offset %d outside the %d-byte message", pe.Offset, len(in))
			}
			return
		}
		out, err := msg.Encode(nil)
		if err != nil {
			t.Fatalf("accepted %T does not re-encode: %v", msg, err)
		}
		if typ != 'E' && typ != 'N' && !bytes.Equal(in, out) {
			t.Fatalf("%T re-encodes differently:\n in  %q\n out %q", msg, in, out)
		}
		// Differential check against pgproto3's own decoder.
		theirs := reflect.New(reflect.TypeOf(msg).Elem()).Interface().(pgproto3.BackendMessage)
		if err := theirs.Decode(body); err != nil {
			t.Fatalf("wire accepted a %T that pgproto3 rejects: %v", msg, err)
		}
		out2, err := theirs.Encode(nil)
		if err != nil {
			t.Fatalf("pgproto3 %T does not re-encode: %v", theirs, err)
		}
		if typ == 'E' || typ == 'N' {
			// Unknown fields live in a map, so the field order of the
			// encodings may differ: compare the values.
			if !reflect.DeepEqual(msg, theirs) {
				t.Fatalf("wire and pgproto3 disagree on %T:\n wire     %+v\n pgproto3 %+v", msg, msg, theirs)
			}
			return
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("wire and pgproto3 disagree on %T:\n wire     %q\n pgproto3 %q", msg, out, out2)
		}
	})
}

func FuzzDecodeDataRow(f *testing.F) { fuzzDecode(f, 'D', be(int16(1), int32(-1))) }
func FuzzDecodeRowDescription(f *testing.F) {
	fuzzDecode(f, 'T', be(int16(1), "a", int32(0), int16(0), int32(23), int16(4), int32(-1), int16(1)))
}

func FuzzDecodeErrorResponse(f *testing.F) {
	fuzzDecode(f, 'E', be(byte('V'), "ERROR", byte('C'), "XX000", byte('M'), "m", byte('P'), "7", byte(0)))
}

func FuzzDecodeNoticeResponse(f *testing.F) {
	fuzzDecode(f, 'N', be(byte('V'), "WARNING", byte('C'), "01000", byte('M'), "m", byte(0)))
}

func FuzzDecodeAuthentication(f *testing.F) {
	fuzzDecode(f, 'R', be(int32(10), "SCRAM-SHA-256", ""), be(int32(5), int32(7)), be(int32(12), "v=x"))
}

func FuzzDecodeNegotiateProtocolVersion(f *testing.F) {
	fuzzDecode(f, 'v', be(int32(0x30000), int32(1), "_pq_.a"))
}
func FuzzDecodeParameterStatus(f *testing.F) { fuzzDecode(f, 'S', be("a", "b")) }
func FuzzDecodeNotificationResponse(f *testing.F) {
	fuzzDecode(f, 'A', be(int32(1), "c", "p"))
}
func FuzzDecodeCommandComplete(f *testing.F)      { fuzzDecode(f, 'C', be("UPDATE 3")) }
func FuzzDecodeParameterDescription(f *testing.F) { fuzzDecode(f, 't', be(int16(1), int32(25))) }
func FuzzDecodeCopyInResponse(f *testing.F)       { fuzzDecode(f, 'G', be(byte(1), int16(1), int16(1))) }
func FuzzDecodeCopyOutResponse(f *testing.F)      { fuzzDecode(f, 'H', be(byte(0), int16(1), int16(0))) }
func FuzzDecodeCopyBothResponse(f *testing.F)     { fuzzDecode(f, 'W', be(byte(0), int16(0))) }
func FuzzDecodeBackendKeyData(f *testing.F)       { fuzzDecode(f, 'K', be(int32(1), int32(2))) }
func FuzzDecodeReadyForQuery(f *testing.F)        { fuzzDecode(f, 'Z', []byte("E")) }
func FuzzDecodeFunctionCallResponse(f *testing.F) {
	fuzzDecode(f, 'V', be(int32(2), byte(1), byte(2)))
}
