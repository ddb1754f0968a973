package pgtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"syscall"

	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	// fakeReadBufSize is the size of the server's read buffer. A stall can
	// hold this many bytes sent by the client while it watches for the end
	// of the connection.
	fakeReadBufSize = 64 << 10
	// fakeMaxFrontendBody caps the body length of a frontend message the
	// server agrees to decode, so that a client bug cannot make it allocate
	// without bound.
	fakeMaxFrontendBody = 64 << 20
)

// fakeRun is the per-connection state of a running script. Only the runner
// goroutine uses it.
type fakeRun struct {
	srv    *FakeServer
	raw    net.Conn      // transport connection, for Reset
	conn   net.Conn      // current stream: raw, or TLS over it after StartTLS
	br     *bufio.Reader // reads conn; all reads go through it
	fr     *fakeFrameReader
	be     *pgproto3.Backend
	closed bool // a Close or Reset step ran

	// startup is the last StartupMessage received, for AcceptStartup.
	startup *pgproto3.StartupMessage
}

func newFakeRun(srv *FakeServer, conn net.Conn) *fakeRun {
	r := &fakeRun{srv: srv, raw: conn, conn: conn}
	r.br = bufio.NewReaderSize(conn, fakeReadBufSize)
	r.fr = &fakeFrameReader{br: r.br}
	r.be = pgproto3.NewBackend(r.fr, fakeRunWriter{r})
	r.be.SetMaxBodyLen(fakeMaxFrontendBody)
	return r
}

// setStream makes conn the stream that later steps read and write.
func (r *fakeRun) setStream(conn net.Conn) {
	r.conn = conn
	r.br = bufio.NewReaderSize(conn, fakeReadBufSize)
	r.fr.br = r.br
}

// bufConn returns the current stream as a net.Conn whose reads first return
// the bytes the server has buffered but not consumed.
func (r *fakeRun) bufConn() net.Conn { return &fakeBufConn{Conn: r.conn, br: r.br} }

// receive decodes the next frontend message, untyped (startup packet) or
// typed, and records and returns a private copy of it.
func (r *fakeRun) receive(ctx context.Context, untyped bool) (pgproto3.FrontendMessage, error) {
	r.fr.untyped = untyped
	var (
		msg pgproto3.FrontendMessage
		err error
	)
	if untyped {
		msg, err = r.be.ReceiveStartupMessage()
	} else {
		msg, err = r.be.Receive()
	}
	if err != nil {
		return nil, fakeIOError(ctx, "receive", err)
	}
	cp, err := fakeCopyFrontend(msg)
	if err != nil {
		return nil, fmt.Errorf("copy received %T: %w", msg, err)
	}
	r.srv.record(cp)
	if sm, ok := cp.(*pgproto3.StartupMessage); ok {
		r.startup = sm
	}
	return cp, nil
}

// write sends b in one Write on the current stream.
func (r *fakeRun) write(ctx context.Context, b []byte) error {
	if _, err := r.conn.Write(b); err != nil {
		return fakeIOError(ctx, "write", err)
	}
	return nil
}

// drain reads and discards until the connection ends.
func (r *fakeRun) drain() { _, _ = io.Copy(io.Discard, r.br) }

// fakeRunWriter lets the Backend write to whatever the current stream is.
// The fake server writes bytes itself and never calls Backend.Send, but the
// Backend wants a writer.
type fakeRunWriter struct{ r *fakeRun }

func (w fakeRunWriter) Write(p []byte) (int, error) { return w.r.conn.Write(p) }

// fakeBufConn is a net.Conn that reads through the server's buffer.
type fakeBufConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *fakeBufConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// fakeFrameReader is the reader given to pgproto3.NewBackend. The Backend
// reads ahead as far as its buffer allows; this reader never hands it more
// than the rest of the current frame, as the frame's own header says, so the
// bytes after a message stay in br for raw steps (ExpectEOF, Do, StartTLS,
// stalls) to see.
type fakeFrameReader struct {
	br      *bufio.Reader
	untyped bool // the next frame is a startup packet: no type byte
	left    int  // bytes of the current frame not yet handed out
}

func (f *fakeFrameReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.left == 0 {
		f.left = f.nextFrameLen()
		if f.left == 0 {
			// Nothing buffered and the header could not be read: let the
			// read below report why.
			f.left = 1
		}
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	f.left -= n
	if err != nil {
		f.left = 0
	}
	return n, err
}

// nextFrameLen peeks at the next frame's header and returns how many bytes
// to hand out for it: the whole frame when its length is plausible, only the
// header when it is not (the Backend then rejects it), or what is there when
// the stream ends inside the header.
func (f *fakeFrameReader) nextFrameLen() int {
	hdr := 5
	if f.untyped {
		hdr = 4
	}
	b, err := f.br.Peek(hdr)
	if err != nil {
		return len(b)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[hdr-4:])))
	if n < 4 || n-4 > fakeMaxFrontendBody {
		return hdr
	}
	return int(n) + hdr - 4
}

// fakeIsConnEnd reports whether err means the connection is gone.
func fakeIsConnEnd(err error) bool {
	for _, target := range []error{
		io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, net.ErrClosed,
		syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// fakeIOError wraps an I/O error of operation op, marking it as
// ErrScriptIncomplete when the connection ended or the server is closing.
func fakeIOError(ctx context.Context, op string, err error) error {
	if fakeIsConnEnd(err) || ctx.Err() != nil {
		return fmt.Errorf("%s: %w: %w", op, ErrScriptIncomplete, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// fakeIsUntyped reports whether msg travels as a startup packet, without a
// type byte.
func fakeIsUntyped(msg pgproto3.FrontendMessage) bool {
	switch msg.(type) {
	case *pgproto3.StartupMessage, *pgproto3.SSLRequest, *pgproto3.GSSEncRequest, *pgproto3.CancelRequest:
		return true
	default:
		return false
	}
}

// fakeCopyFrontend returns a deep copy of msg in canonical form: msg encoded
// and decoded into a fresh value of the same type. Two messages that encode to
// the same bytes (up to the order of startup parameters) have reflect.DeepEqual
// canonical forms.
func fakeCopyFrontend(msg pgproto3.FrontendMessage) (pgproto3.FrontendMessage, error) {
	if fakeIsNil(msg) {
		return nil, errors.New("nil message")
	}
	t := reflect.TypeOf(msg)
	if t.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("%T is not a pointer", msg)
	}
	b, err := msg.Encode(nil)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	hdr := 5
	if fakeIsUntyped(msg) {
		hdr = 4
	}
	if len(b) < hdr {
		return nil, fmt.Errorf("encoding of %T is %d bytes long", msg, len(b))
	}
	cp, ok := reflect.New(t.Elem()).Interface().(pgproto3.FrontendMessage)
	if !ok {
		return nil, fmt.Errorf("%T cannot be copied", msg)
	}
	if err := cp.Decode(b[hdr:]); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return cp, nil
}

// fakeFormat renders a message for error messages.
func fakeFormat(msg pgproto3.Message) string {
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Sprintf("%T%+v", msg, msg)
	}
	return string(b)
}
