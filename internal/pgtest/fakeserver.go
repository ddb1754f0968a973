package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ErrScriptIncomplete is wrapped by the error of a script that stopped before
// its last step because the connection ended: the client closed or reset it,
// no client ever connected, or the server was closed while a step was still
// waiting. A server built with AllowIncomplete does not report such an
// outcome as a test error.
var ErrScriptIncomplete = errors.New("pgtest: connection ended before the script finished")

// ErrExtraConnection is wrapped by the error recorded when a FakeServer gets
// a second client connection: each server serves exactly one.
var ErrExtraConnection = errors.New("pgtest: fake server accepts one connection only")

// fakeCloseTimeout bounds how long the cleanup registered by NewFakeServer
// waits for the server's goroutines, which only outlive it when a Do step
// ignores its context.
const fakeCloseTimeout = 10 * time.Second

// FakeTransport selects how a FakeServer and its client are connected.
type FakeTransport int

const (
	// FakePipe connects client and server with net.Pipe: synchronous and
	// unbuffered, so every Write of the server is seen by the client's reads
	// as a separate piece. It is the default.
	FakePipe FakeTransport = iota
	// FakeTCP connects them over TCP on 127.0.0.1 with a port chosen by the
	// kernel; the listener never binds any other address.
	FakeTCP
)

// String returns "pipe" or "tcp", suitable as a subtest name.
func (t FakeTransport) String() string {
	switch t {
	case FakePipe:
		return "pipe"
	case FakeTCP:
		return "tcp"
	default:
		return fmt.Sprintf("FakeTransport(%d)", int(t))
	}
}

// FakeOption configures a FakeServer; pass options to NewFakeServer or
// StartFakeServer.
type FakeOption func(*fakeConfig)

type fakeConfig struct {
	transport       FakeTransport
	allowIncomplete bool
}

// WithFakeTransport selects the transport; the default is FakePipe.
func WithFakeTransport(t FakeTransport) FakeOption {
	return func(c *fakeConfig) { c.transport = t }
}

// AllowIncomplete declares that the script may legitimately stop early
// because the connection ended (see ErrScriptIncomplete), for example when the
// client under test hangs up as soon as it sees an illegal message. Such an
// outcome is then not reported as a test error; Wait still returns it. Every
// other failure is reported as usual.
func AllowIncomplete() FakeOption {
	return func(c *fakeConfig) { c.allowIncomplete = true }
}

// FakeServer is a scripted PostgreSQL backend for fault tests. It serves
// exactly one client connection, over net.Pipe or 127.0.0.1, and runs its
// Script against it step by step in a goroutine that it owns.
//
// FakeServer is safe for concurrent use by multiple goroutines.
//
// After the last step the server neither writes nor fails: it reads and
// discards whatever the client still sends until the client closes the
// connection or the server is closed. After a failed step it closes the
// connection at once.
type FakeServer struct {
	cfg    fakeConfig
	steps  []fakeStep
	ctx    context.Context // canceled by Close; the server owns background work
	cancel context.CancelFunc
	ln     net.Listener // nil for FakePipe; set before publication

	connCh     chan net.Conn // the one accepted server-side connection
	done       chan struct{} // closed once the script outcome is set
	runDone    chan struct{} // closed when the runner goroutine has exited
	acceptDone chan struct{} // closed when the accept goroutine has exited
	closeOnce  sync.Once

	mu sync.Mutex
	// guards following fields
	closed   bool
	accepted bool       // a client connection was handed to the runner
	conn     net.Conn   // server side of the connection, once the runner has it
	clients  []net.Conn // client sides made by Dial and Pipe, closed by Close
	received []pgproto3.FrontendMessage
	result   error   // script outcome, set before done is closed
	extra    []error // failures outside the steps, such as a second connection
}

// NewFakeServer starts a fake server that runs script and registers a
// tb.Cleanup that closes it: the cleanup closes every connection, stops the
// server's goroutines and reports, with tb.Errorf, a failed script, an
// unfinished one (unless AllowIncomplete was given) and any extra connection.
//
// NewFakeServer calls tb.Fatalf when the script has a build error (see
// Script.Err) or the listener cannot be opened, so it must be called from the
// goroutine running the test.
func NewFakeServer(tb testing.TB, script *Script, opts ...FakeOption) *FakeServer {
	tb.Helper()
	s, err := StartFakeServer(script, opts...)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		// tb.Context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), fakeCloseTimeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return s
}

// StartFakeServer is NewFakeServer without a testing.TB, for examples and
// harnesses that have none: the caller must call Close, which returns what
// the cleanup of NewFakeServer would report.
func StartFakeServer(script *Script, opts ...FakeOption) (*FakeServer, error) {
	if script == nil {
		return nil, errors.New("pgtest: fake server: nil script")
	}
	if err := script.Err(); err != nil {
		return nil, fmt.Errorf("pgtest: fake server: %w", err)
	}
	var cfg fakeConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &FakeServer{
		cfg:        cfg,
		steps:      slices.Clone(script.steps),
		connCh:     make(chan net.Conn, 1),
		done:       make(chan struct{}),
		runDone:    make(chan struct{}),
		acceptDone: make(chan struct{}),
	}
	switch cfg.transport {
	case FakePipe:
		close(s.acceptDone)
	case FakeTCP:
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pgtest: fake server: listen: %w", err)
		}
		s.ln = ln
	default:
		return nil, fmt.Errorf("pgtest: fake server: unknown transport %v", cfg.transport)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.ln != nil {
		go s.acceptLoop()
	}
	go s.run()
	return s, nil
}

// Transport reports the transport the server uses.
func (s *FakeServer) Transport() FakeTransport { return s.cfg.transport }

// Addr returns the "127.0.0.1:port" address a FakeTCP server listens on, and
// "pipe" for a FakePipe server (which has no address to dial).
func (s *FakeServer) Addr() string {
	if s.ln == nil {
		return "pipe"
	}
	return s.ln.Addr().String()
}

// Pipe returns the client side of a new net.Pipe connected to a FakePipe
// server. The connection is closed when the server is closed. A second call
// records an ErrExtraConnection failure and returns a connection the server
// has already closed. Pipe panics on a FakeTCP server: use Dial there.
func (s *FakeServer) Pipe() net.Conn {
	if s.cfg.transport != FakePipe {
		panic("pgtest: FakeServer.Pipe called on a " + s.cfg.transport.String() + " server; use Dial")
	}
	c, err := s.dialPipe()
	if err != nil {
		// Only a closed server fails here: hand out a dead connection so
		// that the caller sees the failure on first use.
		server, client := net.Pipe()
		_ = server.Close()
		_ = client.Close()
		return client
	}
	return c
}

// Dial connects a new client to the server, whatever network and addr say, so
// that it can stand in for a driver's dial function (pgconn's DialFunc
// signature). On a FakePipe server it returns the client side of a net.Pipe,
// on a FakeTCP server a TCP connection to Addr. The connection is closed when
// the server is closed. A second connection is accepted and closed at once by
// the server, which records an ErrExtraConnection failure.
func (s *FakeServer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.cfg.transport == FakePipe {
		return s.dialPipe()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("pgtest: fake server: dial: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, fmt.Errorf("pgtest: fake server: dial: %w", net.ErrClosed)
	}
	s.clients = append(s.clients, c)
	return c, nil
}

func (s *FakeServer) dialPipe() (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("pgtest: fake server: dial: %w", net.ErrClosed)
	}
	server, client := net.Pipe()
	s.clients = append(s.clients, client)
	if s.accepted {
		s.extra = append(s.extra, fmt.Errorf("%w: second net.Pipe connection", ErrExtraConnection))
		_ = server.Close()
		return client, nil
	}
	s.accepted = true
	s.connCh <- server // capacity 1 and sent at most once: never blocks
	return client, nil
}

func (s *FakeServer) acceptLoop() {
	defer close(s.acceptDone)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			if !s.closed {
				s.extra = append(s.extra, fmt.Errorf("pgtest: fake server: accept: %w", err))
			}
			s.mu.Unlock()
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		s.mu.Lock()
		switch {
		case s.closed:
			_ = c.Close()
		case s.accepted:
			s.extra = append(s.extra, fmt.Errorf("%w: second connection from %s", ErrExtraConnection, c.RemoteAddr()))
			_ = c.Close()
		default:
			s.accepted = true
			s.connCh <- c // capacity 1 and sent at most once: never blocks
		}
		s.mu.Unlock()
	}
}

// run is the runner goroutine: it waits for the connection, runs every step
// and then drains the connection until it ends.
func (s *FakeServer) run() {
	defer close(s.runDone)
	var conn net.Conn
	select {
	case conn = <-s.connCh:
	case <-s.ctx.Done():
		s.finish(fmt.Errorf("pgtest: fake server: %w: no client connected", ErrScriptIncomplete))
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		s.finish(fmt.Errorf("pgtest: fake server: %w: closed before the script started", ErrScriptIncomplete))
		return
	}
	s.conn = conn
	s.mu.Unlock()

	r := newFakeRun(s, conn)
	for i, st := range s.steps {
		if err := st.run(s.ctx, r); err != nil {
			s.finish(&FakeStepError{Index: i, Step: st.name, Err: err})
			_ = conn.Close()
			return
		}
	}
	s.finish(nil)
	if !r.closed {
		r.drain()
		_ = conn.Close()
	}
}

func (s *FakeServer) finish(err error) {
	s.mu.Lock()
	s.result = err
	s.mu.Unlock()
	close(s.done)
}

func (s *FakeServer) record(msg pgproto3.FrontendMessage) {
	s.mu.Lock()
	s.received = append(s.received, msg)
	s.mu.Unlock()
}

// Received returns a copy of every frontend message the server has decoded so
// far, in order, including one that failed its expectation. The messages are
// deep copies that no later read modifies.
func (s *FakeServer) Received() []pgproto3.FrontendMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Done returns a channel that is closed once the script has finished, with
// every step run or at its first failure.
func (s *FakeServer) Done() <-chan struct{} { return s.done }

// Wait blocks until the script has finished and returns its outcome: nil when
// every step ran, a *FakeStepError naming the failed step otherwise (wrapping
// ErrScriptIncomplete when the connection ended early), joined with any
// failure outside the steps such as ErrExtraConnection. Wait does not close
// the server; if ctx ends first it returns the context's error, wrapped.
func (s *FakeServer) Wait(ctx context.Context) error {
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("pgtest: fake server: wait: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(append([]error{s.result}, s.extra...)...)
}

// Close closes the listener and every connection, which ends any step still
// waiting, waits for the server's goroutines to exit and returns what a test
// must be told: the script's failure (an unfinished script counts, unless
// AllowIncomplete was given) joined with failures outside the steps. Close is
// idempotent; if ctx ends before the goroutines exit it returns the context's
// error, wrapped.
func (s *FakeServer) Close(ctx context.Context) error {
	s.closeOnce.Do(s.shutdown)
	for _, ch := range []<-chan struct{}{s.runDone, s.acceptDone} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("pgtest: fake server: close: %w", ctx.Err())
		}
	}
	// A connection accepted while the runner was giving up is still queued.
	select {
	case c := <-s.connCh:
		_ = c.Close()
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.result != nil && !(s.cfg.allowIncomplete && errors.Is(s.result, ErrScriptIncomplete)) {
		errs = append(errs, s.result)
	}
	return errors.Join(append(errs, s.extra...)...)
}

func (s *FakeServer) shutdown() {
	s.mu.Lock()
	s.closed = true
	conns := slices.Clone(s.clients)
	if s.conn != nil {
		conns = append(conns, s.conn)
	}
	s.mu.Unlock()
	s.cancel()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// FakeStepError reports the step at which a script failed.
type FakeStepError struct {
	// Index is the zero-based position of the step in the script.
	Index int
	// Step describes the step, e.g. "expect *pgproto3.Query".
	Step string
	// Err is what went wrong.
	Err error
}

// Error names the step and says what went wrong.
func (e *FakeStepError) Error() string {
	return fmt.Sprintf("pgtest: fake server: step %d (%s): %v", e.Index, e.Step, e.Err)
}

// Unwrap returns Err.
func (e *FakeStepError) Unwrap() error { return e.Err }
