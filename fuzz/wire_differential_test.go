package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// wireDifferentialTarget names FuzzWireDifferential's seed directory for the
// recorder.
const wireDifferentialTarget = "FuzzWireDifferential"

// FuzzWireDifferential reads a stream of backend messages with wire's
// framing reader and, in lockstep, with pgproto3's Frontend, the decoder
// of pgx. wire may refuse what pgproto3 accepts (it is stricter), never the
// reverse, and where both accept they must agree.
//
// Properties, for every message wire.Reader.Receive accepts:
//   - pgproto3.Frontend.Receive, reading the same bytes, accepts it too,
//     as the same message type;
//   - a fresh pgproto3 message of that type decodes the body on its own;
//   - the three re-encode to the same bytes, which are the bytes read
//     (ErrorResponse and NoticeResponse: the same field values, since
//     their field order is free);
//   - Reader.Next of a second reader returns the same type and body.
//
// And wire's errors are io.EOF at a message boundary or a
// *wire.ProtocolError whose offset lies inside the input.
func FuzzWireDifferential(f *testing.F) {
	for _, s := range wireDifferentialSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small buffers and caps, so that growing and capping are
		// exercised by small inputs; pgproto3 gets no cap.
		opts := wire.ReaderOptions{BufferSize: 16, Limits: sessionLimits}
		rd := wire.NewReader(&chunkReader{b: data}, opts)
		raw := wire.NewReader(bytes.NewReader(data), opts)
		theirs := pgproto3.NewFrontend(bytes.NewReader(data), io.Discard)
		off := 0
		for n := 0; n <= len(data)/5; n++ {
			msg, err := rd.Receive()
			if err != nil {
				checkReaderEnd(t, err, off, len(data))
				return
			}
			typ, body, rerr := raw.Next()
			if rerr != nil {
				t.Fatalf("message %d: Next refuses what Receive accepted: %v", n, rerr)
			}
			if want := data[off]; typ != want {
				t.Fatalf("message %d: Next returns type %q, the stream has %q", n, typ, want)
			}
			size := int(binary.BigEndian.Uint32(data[off+1:]))
			in := data[off : off+1+size]
			if !bytes.Equal(body, in[5:]) {
				t.Fatalf("message %d: Next returns body %q, the stream has %q", n, body, in[5:])
			}
			off += 1 + size
			compareDecoders(t, n, msg, in, theirs)
		}
		t.Fatalf("Receive did not stop after %d bytes", len(data))
	})
}

// compareDecoders checks one message wire accepted against pgproto3.
func compareDecoders(t *testing.T, n int, ours pgproto3.BackendMessage, in []byte, fe *pgproto3.Frontend) {
	t.Helper()
	mine, err := ours.Encode(nil)
	if err != nil {
		t.Fatalf("message %d: wire accepted a %T that does not re-encode: %v", n, ours, err)
	}
	theirs, err := fe.Receive()
	if err != nil {
		t.Fatalf("message %d: wire accepted %T %q, pgproto3.Frontend refuses it: %v", n, ours, in, err)
	}
	if reflect.TypeOf(theirs) != reflect.TypeOf(ours) {
		t.Fatalf("message %d: wire decodes %q as %T, pgproto3 as %T", n, in, ours, theirs)
	}
	fresh := reflect.New(reflect.TypeOf(ours).Elem()).Interface().(pgproto3.BackendMessage)
	if err := fresh.Decode(in[5:]); err != nil {
		t.Fatalf("message %d: wire accepted %T %q, a fresh pgproto3 message refuses it: %v", n, ours, in, err)
	}
	if in[0] == 'E' || in[0] == 'N' {
		// Field order is free and unknown fields live in a map: compare
		// the values.
		if !reflect.DeepEqual(ours, theirs) || !reflect.DeepEqual(ours, fresh) {
			t.Fatalf("message %d: wire and pgproto3 disagree on %T:\n wire     %+v\n frontend %+v\n fresh    %+v",
				n, ours, ours, theirs, fresh)
		}
		return
	}
	if !bytes.Equal(mine, in) {
		t.Fatalf("message %d: wire's %T re-encodes differently:\n in  %q\n out %q", n, ours, in, mine)
	}
	for _, m := range []pgproto3.BackendMessage{theirs, fresh} {
		out, err := m.Encode(nil)
		if err != nil {
			t.Fatalf("message %d: pgproto3's %T does not re-encode: %v", n, m, err)
		}
		if !bytes.Equal(out, mine) {
			t.Fatalf("message %d: wire and pgproto3 disagree on %T:\n wire     %q\n pgproto3 %q", n, ours, mine, out)
		}
	}
}

// checkReaderEnd checks how the reader stopped: io.EOF exactly at a message
// boundary at the end of the input, or a *wire.ProtocolError inside it.
func checkReaderEnd(t *testing.T, err error, off, size int) {
	t.Helper()
	if errors.Is(err, io.EOF) {
		if off != size {
			t.Fatalf("io.EOF after %d of %d bytes", off, size)
		}
		return
	}
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error is neither io.EOF nor a *wire.ProtocolError: %T %v", err, err)
	}
	if pe.Offset < int64(off) || pe.Offset > int64(size) {
		t.Fatalf("violation at offset %d, outside the message that starts at %d of %d bytes: %v", pe.Offset, off, size, pe)
	}
}

// chunkReader returns its bytes in reads of 1 to 7 bytes, so that every
// message is framed across reads.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	c.n = c.n%7 + 1
	k := min(c.n, len(p), len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// wireDifferentialSeeds are hand-made streams with every backend message
// type; the recorded conversations are in testdata/fuzz.
func wireDifferentialSeeds() [][]byte {
	all := encodeBackend(
		&pgproto3.AuthenticationOk{},
		&pgproto3.AuthenticationCleartextPassword{},
		&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}},
		&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}},
		&pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=c2FsdA==,i=4096")},
		&pgproto3.AuthenticationSASLFinal{Data: []byte("v=c2ln")},
		&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: []string{"_pq_.x"}},
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.BackendKeyData{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.BackendKeyData{ProcessID: 7, SecretKey: bytes.Repeat([]byte{9}, 32)},
		&pgproto3.ReadyForQuery{TxStatus: 'T'},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), TableOID: 1, TableAttributeNumber: 2,
			DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1, Format: 1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("x"), nil, {}}},
		&pgproto3.CommandComplete{CommandTag: []byte("INSERT 0 1")},
		&pgproto3.EmptyQueryResponse{},
		&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42P01", Message: "m", Detail: "d",
			Hint: "h", Position: 3, Where: "w", File: "f.c", Line: 1, Routine: "r", UnknownFields: map[byte]string{'Z': "z"}},
		&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "n"},
		&pgproto3.NotificationResponse{PID: 1, Channel: "c", Payload: "p"},
		&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.CloseComplete{}, &pgproto3.NoData{},
		&pgproto3.PortalSuspended{},
		&pgproto3.ParameterDescription{ParameterOIDs: []uint32{23, 25}},
		&pgproto3.CopyInResponse{OverallFormat: 1, ColumnFormatCodes: []uint16{1, 1}},
		&pgproto3.CopyOutResponse{ColumnFormatCodes: []uint16{0}},
		&pgproto3.CopyBothResponse{},
		&pgproto3.CopyData{Data: []byte("row\n")},
		&pgproto3.CopyDone{},
		&pgproto3.FunctionCallResponse{Result: []byte{1, 2}},
	)
	return [][]byte{
		all,
		frame('D', []byte{0, 1, 0xff, 0xff, 0xff, 0xff}),
		frame('C', []byte("SELECT 1\x00trailing")),
		append(frame('Z', []byte("I")), 'Z', 0, 0),
	}
}
