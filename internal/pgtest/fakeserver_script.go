package pgtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Script is the ordered list of steps a FakeServer runs against its one
// client connection. Build it with NewScript and the chained step methods;
// each method appends exactly one step, so the index in a FakeStepError is
// the position of the call in the chain, counting from zero.
//
// A builder method given invalid arguments records a build error instead of
// panicking: Err returns the first one, and NewFakeServer refuses a script
// that has one. No step may follow Close or Reset.
//
// Script is not safe for concurrent use. A FakeServer takes a snapshot of the
// steps when it starts, so a Script may be reused for several servers and
// extended afterwards without affecting running ones.
type Script struct {
	steps []fakeStep
	err   error
	ended bool // a Close or Reset step was added
}

// fakeStep is one step of a Script. run must not keep state between runs:
// the same step may run on several servers.
type fakeStep struct {
	name string
	run  func(ctx context.Context, r *fakeRun) error
}

// NewScript returns an empty script.
func NewScript() *Script { return &Script{} }

// Err returns the first build error of the script, or nil.
func (s *Script) Err() error { return s.err }

// Len returns the number of steps.
func (s *Script) Len() int { return len(s.steps) }

func (s *Script) add(name string, run func(ctx context.Context, r *fakeRun) error) *Script {
	if s.ended {
		s.failf(name, "no step may follow Close or Reset")
	}
	s.steps = append(s.steps, fakeStep{name: name, run: run})
	return s
}

// failf records a build error for the step about to be added.
func (s *Script) failf(name, format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("script: step %d (%s): %s", len(s.steps), name, fmt.Sprintf(format, args...))
	}
}

// Expect expects the next frontend message to equal want: same type and same
// encoding (startup parameters in any order). StartupMessage, SSLRequest,
// GSSEncRequest and CancelRequest are read as startup packets, without a type
// byte; every other message is read as a typed message. A mismatch fails the
// step with both messages shown.
//
// Password, SASL and GSS responses share the type byte 'p': the server decodes
// 'p' as the response to the last authentication request it sent with Send
// (PasswordMessage before any), or as SetAuthType says.
func (s *Script) Expect(want pgproto3.FrontendMessage) *Script {
	name := "expect " + fakeTypeName(want)
	canon, err := fakeCopyFrontend(want)
	if err != nil {
		s.failf(name, "invalid expected message: %v", err)
		return s.add(name, nil)
	}
	return s.expect(name, fakeIsUntyped(canon), func(got pgproto3.FrontendMessage) error {
		if err := fakeSameType(canon, got); err != nil {
			return err
		}
		if !reflect.DeepEqual(canon, got) {
			return fakeMismatch("message mismatch", canon, got)
		}
		return nil
	})
}

// ExpectType expects the next frontend message to have the type of example,
// whatever its contents, e.g. ExpectType(&pgproto3.Parse{}). Startup packets
// are read as Expect describes.
func (s *Script) ExpectType(example pgproto3.FrontendMessage) *Script {
	name := "expect type " + fakeTypeName(example)
	if example == nil {
		s.failf(name, "nil example")
		return s.add(name, nil)
	}
	return s.expect(name, fakeIsUntyped(example), func(got pgproto3.FrontendMessage) error {
		return fakeSameType(example, got)
	})
}

// ExpectFunc reads the next typed frontend message and fails the step with the
// error check returns. check gets a private copy it may keep.
func (s *Script) ExpectFunc(check func(pgproto3.FrontendMessage) error) *Script {
	return s.expectFunc("expect func", false, check)
}

// ExpectStartupFunc is ExpectFunc for a startup packet: StartupMessage,
// SSLRequest, GSSEncRequest or CancelRequest.
func (s *Script) ExpectStartupFunc(check func(pgproto3.FrontendMessage) error) *Script {
	return s.expectFunc("expect startup func", true, check)
}

func (s *Script) expectFunc(name string, untyped bool, check func(pgproto3.FrontendMessage) error) *Script {
	if check == nil {
		s.failf(name, "nil func")
		return s.add(name, nil)
	}
	return s.expect(name, untyped, func(got pgproto3.FrontendMessage) error {
		if err := check(got); err != nil {
			return fmt.Errorf("%w\n\tgot %s", err, fakeFormat(got))
		}
		return nil
	})
}

// ExpectStartup expects a StartupMessage with any contents.
func (s *Script) ExpectStartup() *Script { return s.ExpectType(&pgproto3.StartupMessage{}) }

// ExpectSSLRequest expects an SSLRequest.
func (s *Script) ExpectSSLRequest() *Script { return s.ExpectType(&pgproto3.SSLRequest{}) }

// ExpectGSSEncRequest expects a GSSEncRequest.
func (s *Script) ExpectGSSEncRequest() *Script { return s.ExpectType(&pgproto3.GSSEncRequest{}) }

// ExpectCancelRequest expects a CancelRequest with any process ID and key;
// use Expect to check them.
func (s *Script) ExpectCancelRequest() *Script { return s.ExpectType(&pgproto3.CancelRequest{}) }

// ExpectTerminate expects a Terminate message.
func (s *Script) ExpectTerminate() *Script { return s.Expect(&pgproto3.Terminate{}) }

// ExpectEOF expects the client to end the connection: the step succeeds when
// the stream ends (a TCP reset counts, since a client that closes with unread
// data resets the connection) and fails if the client sends any byte first.
func (s *Script) ExpectEOF() *Script {
	return s.add("expect EOF", func(ctx context.Context, r *fakeRun) error {
		b, err := r.br.Peek(1)
		switch {
		case len(b) > 0:
			n := r.br.Buffered()
			b, _ = r.br.Peek(min(n, 16))
			return fmt.Errorf("want end of stream, got at least %d more bytes starting % x", n, b)
		case ctx.Err() != nil:
			return fakeIOError(ctx, "expect EOF", err)
		case fakeIsConnEnd(err):
			return nil
		default:
			return fmt.Errorf("expect EOF: %w", err)
		}
	})
}

// DenySSL expects an SSLRequest and answers 'N', as a server without TLS does.
// It is one step.
func (s *Script) DenySSL() *Script {
	return s.add("deny SSL", func(ctx context.Context, r *fakeRun) error {
		got, err := r.receive(ctx, true)
		if err != nil {
			return err
		}
		if err := fakeSameType(&pgproto3.SSLRequest{}, got); err != nil {
			return err
		}
		return r.write(ctx, []byte{'N'})
	})
}

func (s *Script) expect(name string, untyped bool, check func(pgproto3.FrontendMessage) error) *Script {
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		got, err := r.receive(ctx, untyped)
		if err != nil {
			return err
		}
		return check(got)
	})
}

// Send writes msgs, encoded back to back with their Encode methods, in one
// Write. The messages are encoded when Send is called, so later changes to
// them have no effect. An authentication request among msgs sets how later
// 'p' messages are decoded (see Expect).
func (s *Script) Send(msgs ...pgproto3.BackendMessage) *Script {
	names := make([]string, 0, len(msgs))
	for _, m := range msgs {
		names = append(names, fakeTypeName(m))
	}
	name := "send " + fakeNameList(names)
	data, err := fakeEncodeBackend(msgs)
	if err != nil {
		s.failf(name, "%v", err)
		return s.add(name, nil)
	}
	authType, hasAuth := uint32(0), false
	for _, m := range msgs {
		if t, ok := fakeAuthType(m); ok {
			authType, hasAuth = t, true
		}
	}
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		if err := r.write(ctx, data); err != nil {
			return err
		}
		if hasAuth {
			return r.be.SetAuthType(authType)
		}
		return nil
	})
}

// SendRaw writes a copy of b in one Write, whatever it contains.
func (s *Script) SendRaw(b []byte) *Script {
	data := append([]byte(nil), b...)
	return s.add(fmt.Sprintf("send raw (%d bytes)", len(data)), func(ctx context.Context, r *fakeRun) error {
		return r.write(ctx, data)
	})
}

// SendSplit writes a copy of b in pieces cut at offsets, one Write per piece
// and a scheduler yield between them. Offsets must be non-decreasing and
// within [0, len(b)]; empty pieces are skipped, so offsets from FakeCuts can
// be passed as they are. Over FakePipe the client's reads never span two
// pieces; over FakeTCP the kernel may still merge them.
func (s *Script) SendSplit(b []byte, offsets ...int) *Script {
	name := fmt.Sprintf("send split (%d bytes at %v)", len(b), offsets)
	chunks, err := fakeChunks(b, offsets)
	if err != nil {
		s.failf(name, "%v", err)
		return s.add(name, nil)
	}
	return s.addChunks(name, chunks)
}

// SendEachByte writes a copy of b one byte per Write, so that the client reads
// every message of it cut at every offset.
func (s *Script) SendEachByte(b []byte) *Script {
	offsets := make([]int, 0, len(b))
	for i := 1; i < len(b); i++ {
		offsets = append(offsets, i)
	}
	chunks, _ := fakeChunks(b, offsets) // offsets are valid by construction
	return s.addChunks(fmt.Sprintf("send each byte (%d bytes)", len(b)), chunks)
}

func (s *Script) addChunks(name string, chunks [][]byte) *Script {
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		for i, c := range chunks {
			if i > 0 {
				runtime.Gosched()
			}
			if err := r.write(ctx, c); err != nil {
				return fmt.Errorf("piece %d: %w", i, err)
			}
		}
		return nil
	})
}

// fakeChunks copies b and cuts the copy at offsets, dropping empty pieces.
func fakeChunks(b []byte, offsets []int) ([][]byte, error) {
	data := append([]byte(nil), b...)
	var chunks [][]byte
	prev := 0
	for _, off := range append(offsets, len(data)) {
		if off < prev || off > len(data) {
			return nil, fmt.Errorf("offset %d out of order or outside [0, %d]", off, len(data))
		}
		if off > prev {
			chunks = append(chunks, data[prev:off])
		}
		prev = off
	}
	return chunks, nil
}

// SetAuthType sets how later 'p' messages are decoded, as if the server had
// sent an authentication request of type t (pgproto3.AuthTypeSASL and so
// on). Use it after sending an authentication request with SendRaw or
// SendSplit.
func (s *Script) SetAuthType(t uint32) *Script {
	name := fmt.Sprintf("set auth type %d", t)
	if err := pgproto3.NewBackend(nil, nil).SetAuthType(t); err != nil {
		s.failf(name, "%v", err)
		return s.add(name, nil)
	}
	return s.add(name, func(_ context.Context, r *fakeRun) error {
		return r.be.SetAuthType(t)
	})
}

// Stall does nothing for d, unless the client closes the connection first,
// which ends the stall (and lets the next step fail as ErrScriptIncomplete),
// or the server is closed. Bytes the client sends meanwhile are kept for the
// next steps.
func (s *Script) Stall(d time.Duration) *Script {
	name := fmt.Sprintf("stall %v", d)
	if d < 0 {
		s.failf(name, "negative duration")
	}
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		return r.stall(ctx, time.Now().Add(d))
	})
}

// StallUntilClosed does nothing until the client closes the connection, and
// then succeeds. If the server is closed first the script is incomplete.
// Bytes the client sends meanwhile are kept.
func (s *Script) StallUntilClosed() *Script {
	return s.add("stall until closed", func(ctx context.Context, r *fakeRun) error {
		return r.stall(ctx, time.Time{})
	})
}

// stall waits until deadline (forever if zero), the client closes, or the
// server is closed, watching the connection by reading ahead into the
// buffer.
func (r *fakeRun) stall(ctx context.Context, deadline time.Time) error {
	if err := r.conn.SetReadDeadline(deadline); err != nil {
		if ctx.Err() == nil && fakeIsConnEnd(err) {
			return nil // the client has already closed
		}
		return fakeIOError(ctx, "stall", err)
	}
	// Clearing the deadline fails only on a dead connection, which the next
	// step reports.
	defer func() { _ = r.conn.SetReadDeadline(time.Time{}) }()
	for {
		n := r.br.Buffered()
		if n >= r.br.Size() {
			// The buffer is full: the end of the connection can no longer
			// be seen, so only time or Close ends the stall.
			return fakeWait(ctx, deadline)
		}
		_, err := r.br.Peek(n + 1)
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case ctx.Err() != nil:
			return fakeIOError(ctx, "stall", err)
		case fakeIsConnEnd(err):
			return nil
		default:
			return fmt.Errorf("stall: %w", err)
		}
	}
}

// fakeWait waits until deadline (forever if zero) or until ctx ends.
func fakeWait(ctx context.Context, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stall: %w: %w", ErrScriptIncomplete, ctx.Err())
	}
}

// Close closes the connection: a FIN over TCP (without a TLS close_notify
// after StartTLS), a close of the server end over net.Pipe. The client reads
// end of stream once it has read what was sent before. It must be the last
// step.
func (s *Script) Close() *Script {
	st := s.add("close", func(ctx context.Context, r *fakeRun) error {
		r.closed = true
		if err := r.raw.Close(); err != nil {
			return fakeIOError(ctx, "close", err)
		}
		return nil
	})
	s.ended = true
	return st
}

// Reset aborts the connection: over TCP it sets SO_LINGER to zero and closes,
// so the kernel sends RST and the client's next read fails with ECONNRESET,
// losing whatever it had not read yet; over net.Pipe, which cannot reset, it
// closes like Close. It must be the last step.
func (s *Script) Reset() *Script {
	st := s.add("reset", func(ctx context.Context, r *fakeRun) error {
		r.closed = true
		if tc, ok := r.raw.(*net.TCPConn); ok {
			if err := tc.SetLinger(0); err != nil {
				_ = tc.Close()
				return fakeIOError(ctx, "reset", err)
			}
		}
		if err := r.raw.Close(); err != nil {
			return fakeIOError(ctx, "reset", err)
		}
		return nil
	})
	s.ended = true
	return st
}

// Do runs fn with the connection, an escape hatch for what no other step
// does. conn is the current stream (TLS after StartTLS); its reads return the
// bytes the server has already buffered first, so nothing is lost between
// steps, and since message reads never read past the current message, raw
// reads in fn see exactly what follows it. fn must return when ctx ends; it
// must not keep conn, and if it closes conn no step may follow. An error from
// fn fails the step. Do is outside any compatibility promise of the fake
// server: fn sees its internals.
func (s *Script) Do(fn func(ctx context.Context, conn net.Conn) error) *Script {
	const name = "do"
	if fn == nil {
		s.failf(name, "nil func")
		return s.add(name, nil)
	}
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		if err := fn(ctx, r.bufConn()); err != nil {
			return fakeIOError(ctx, "do", err)
		}
		return nil
	})
}

// StartTLS performs a server-side TLS handshake with a clone of config, taken
// now, and makes every later step read and write through TLS. Use it after
// answering an SSLRequest with 'S', or as the first step for direct TLS. Like
// PostgreSQL, it fails if the client sent any byte after its SSLRequest that
// the server had already read before the handshake.
func (s *Script) StartTLS(config *tls.Config) *Script {
	const name = "start TLS"
	if config == nil {
		s.failf(name, "nil tls.Config")
		return s.add(name, nil)
	}
	cfg := config.Clone()
	return s.add(name, func(ctx context.Context, r *fakeRun) error {
		if n := r.br.Buffered(); n > 0 {
			return fmt.Errorf("start TLS: %d bytes of unencrypted data arrived before the handshake", n)
		}
		tc := tls.Server(r.bufConn(), cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fakeIOError(ctx, "start TLS", err)
		}
		r.setStream(tc)
		return nil
	})
}

// fakeSameType fails when got does not have want's type.
func fakeSameType(want, got pgproto3.FrontendMessage) error {
	if reflect.TypeOf(want) == reflect.TypeOf(got) {
		return nil
	}
	err := fmt.Errorf("got %s, want %s\n\t+got %s", fakeTypeName(got), fakeTypeName(want), fakeFormat(got))
	if fakeIsPasswordLike(want) && fakeIsPasswordLike(got) {
		err = fmt.Errorf("%w\n\t(the server decodes 'p' by the last authentication request sent; see Script.SetAuthType)", err)
	}
	return err
}

func fakeIsPasswordLike(msg pgproto3.FrontendMessage) bool {
	switch msg.(type) {
	case *pgproto3.PasswordMessage, *pgproto3.SASLInitialResponse, *pgproto3.SASLResponse, *pgproto3.GSSResponse:
		return true
	default:
		return false
	}
}

// fakeMismatch renders a want/got pair in diff style.
func fakeMismatch(what string, want, got pgproto3.Message) error {
	return fmt.Errorf("%s\n\t-want %s\n\t+got  %s", what, fakeFormat(want), fakeFormat(got))
}

// fakeAuthType returns the authentication type that msg announces, if it is
// an authentication request.
func fakeAuthType(msg pgproto3.BackendMessage) (uint32, bool) {
	switch msg.(type) {
	case *pgproto3.AuthenticationOk:
		return pgproto3.AuthTypeOk, true
	case *pgproto3.AuthenticationCleartextPassword:
		return pgproto3.AuthTypeCleartextPassword, true
	case *pgproto3.AuthenticationMD5Password:
		return pgproto3.AuthTypeMD5Password, true
	case *pgproto3.AuthenticationGSS:
		return pgproto3.AuthTypeGSS, true
	case *pgproto3.AuthenticationGSSContinue:
		return pgproto3.AuthTypeGSSCont, true
	case *pgproto3.AuthenticationSASL:
		return pgproto3.AuthTypeSASL, true
	case *pgproto3.AuthenticationSASLContinue:
		return pgproto3.AuthTypeSASLContinue, true
	case *pgproto3.AuthenticationSASLFinal:
		return pgproto3.AuthTypeSASLFinal, true
	default:
		return 0, false
	}
}

// fakeEncodeBackend encodes msgs back to back.
func fakeEncodeBackend(msgs []pgproto3.BackendMessage) ([]byte, error) {
	var buf []byte
	for i, m := range msgs {
		if fakeIsNil(m) {
			return nil, fmt.Errorf("message %d is nil", i)
		}
		var err error
		if buf, err = m.Encode(buf); err != nil {
			return nil, fmt.Errorf("encode message %d (%s): %w", i, fakeTypeName(m), err)
		}
	}
	return buf, nil
}

func fakeTypeName(msg any) string {
	if msg == nil {
		return "<nil>"
	}
	return reflect.TypeOf(msg).String()
}

// fakeNameList joins names, eliding the middle of long lists.
func fakeNameList(names []string) string {
	const keep = 4
	if len(names) <= keep {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d more), %s", strings.Join(names[:keep-1], ", "), len(names)-keep, names[len(names)-1])
}

// fakeIsNil reports whether msg is nil or a nil pointer.
func fakeIsNil(msg any) bool {
	if msg == nil {
		return true
	}
	v := reflect.ValueOf(msg)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
