package fuzz

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// Shared pieces of the stateful targets: duplex pipes and a dialer over
// them, a sink for cancel requests, a reader of frontend messages, the
// per-call watchdog and the memory meter.
//
// Nothing in this file mentions package testing: ClusterFuzzLite's
// go-118-fuzz-build rewrites the testing import of the files that declare a
// Fuzz target only, so helpers shared between files take a reporter, which
// both *testing.T and its shim satisfy. For the same reason the target files
// never call t.Cleanup (the shim runs the function at once) and clean up
// with defer.

// reporter is the part of *testing.T the shared helpers use.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

const (
	// callTimeout bounds each client call that waits for the server.
	callTimeout = 100 * time.Millisecond
	// shortTimeout is the context of calls meant to be cut short: a
	// WaitForNotification with nothing to wait for, an operation whose
	// context ends while replies are outstanding.
	shortTimeout = time.Millisecond
	// hangLimit is how long one call may take before the target reports a
	// hang. It is far above every bound the calls are given (callTimeout
	// plus the drain timeout), so that only a call that ignores its
	// context trips it, even on a loaded machine under -race.
	hangLimit = 2 * time.Second
	// drainTimeout is conn.Config.DrainTimeout in the targets.
	drainTimeout = 50 * time.Millisecond
)

// maxStream bounds the server bytes of the inputs the stateful targets
// run: larger ones say nothing new and only slow the fuzzer down.
const maxStream = 64 << 10

// cancelRequestCode is the protocol code of a CancelRequest packet.
const cancelRequestCode = 80877102

// startupBytes is the reply of a trusting PostgreSQL 16 server to a
// StartupMessage: AuthenticationOk, the ParameterStatus set conn checks
// (client_encoding, server_encoding, standard_conforming_strings,
// integer_datetimes, server_version, …), BackendKeyData with pid and
// ReadyForQuery.
func startupBytes(pid uint32) []byte {
	return encodeBackend(pgtest.StartupReply{ProcessID: pid}.Messages(nil)...)
}

// encodeBackend encodes msgs back to back. The messages are built by the
// harness, so an encoding error is a bug of the harness: it panics.
func encodeBackend(msgs ...pgproto3.BackendMessage) []byte {
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			panic("fuzz harness: encode " + err.Error())
		}
	}
	return out
}

// frame returns one backend message of type typ with body.
func frame(typ byte, body []byte) []byte {
	out := make([]byte, 5, 5+len(body))
	out[0] = typ
	binary.BigEndian.PutUint32(out[1:], uint32(4+len(body)))
	return append(out, body...)
}

// frontendReader reads what a client sends, message by message: first the
// startup packet (length, code), then typed messages. It reads through a
// bufio.Reader so that a message cut across writes is reassembled.
type frontendReader struct {
	r *bufio.Reader
}

func newFrontendReader(nc net.Conn) *frontendReader {
	return &frontendReader{r: bufio.NewReaderSize(nc, 4096)}
}

// startup reads the startup packet and returns its protocol code and body.
func (fr *frontendReader) startup() (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 8 || n > 10000 {
		return 0, nil, errors.New("bad startup packet length")
	}
	body := make([]byte, n-8)
	if _, err := io.ReadFull(fr.r, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(hdr[4:]), body, nil
}

// next reads one typed message; the body is valid until the next call.
func (fr *frontendReader) next(buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > 1<<24 {
		return 0, nil, errors.New("bad message length")
	}
	if cap(buf) < int(n-4) {
		buf = make([]byte, n-4)
	}
	buf = buf[:n-4]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// goroutines tracks the goroutines a harness starts so that it can wait
// for them: every one must end once the harness closed its connections.
type goroutines struct {
	wg sync.WaitGroup
}

func (g *goroutines) Go(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// wait waits up to hangLimit for every goroutine and reports whether they
// all ended.
func (g *goroutines) wait() bool {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(hangLimit)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// sink answers cancel requests: it reads the packet and closes the
// connection, as a server does once it has signalled the backend. It
// returns what it read, for a caller that wants the process ID.
func sink(nc net.Conn) []byte {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(hangLimit))
	buf := make([]byte, 512)
	n, _ := io.ReadAtLeast(nc, buf, 8)
	return buf[:n]
}

// duplexPipe returns the two ends of a connection made of two net.Pipes,
// one per direction, so that the server can end its direction alone: the
// client then reads io.EOF once it has read everything, while what it
// writes is still read, as over TCP after the server's FIN.
func duplexPipe() (client, server *duplex) {
	c2sClient, c2sServer := net.Pipe()
	s2cServer, s2cClient := net.Pipe()
	return &duplex{in: s2cClient, out: c2sClient}, &duplex{in: c2sServer, out: s2cServer}
}

// duplex is one end of a duplexPipe: it reads from in and writes to out.
type duplex struct {
	in, out net.Conn
}

func (d *duplex) Read(p []byte) (int, error)  { return d.in.Read(p) }
func (d *duplex) Write(p []byte) (int, error) { return d.out.Write(p) }
func (d *duplex) LocalAddr() net.Addr         { return d.in.LocalAddr() }
func (d *duplex) RemoteAddr() net.Addr        { return d.in.RemoteAddr() }

// Close closes both directions.
func (d *duplex) Close() error {
	d.in.Close()
	return d.out.Close()
}

// CloseWrite ends the direction this end writes.
func (d *duplex) CloseWrite() error { return d.out.Close() }

func (d *duplex) SetDeadline(t time.Time) error {
	d.in.SetDeadline(t)
	return d.out.SetDeadline(t)
}
func (d *duplex) SetReadDeadline(t time.Time) error  { return d.in.SetReadDeadline(t) }
func (d *duplex) SetWriteDeadline(t time.Time) error { return d.out.SetWriteDeadline(t) }

var _ net.Conn = (*duplex)(nil)

// pipeDialer is a conn.DialFunc over duplex pipes: the first dial is
// connected to serve, every later dial (a CancelRequest) to a sink. Its
// goroutines belong to g.
type pipeDialer struct {
	g     *goroutines
	serve func(*duplex)

	mu      sync.Mutex // guards following fields
	dials   int
	clients []net.Conn
}

func (d *pipeDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := duplexPipe()
	d.mu.Lock()
	first := d.dials == 0
	d.dials++
	d.clients = append(d.clients, client, server)
	d.mu.Unlock()
	if first {
		d.g.Go(func() { d.serve(server) })
	} else {
		d.g.Go(func() { sink(server) })
	}
	return client, nil
}

// closeAll closes both ends of every connection dialled, which ends every
// goroutine blocked on one.
func (d *pipeDialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		c.Close()
	}
}

// watchdog runs fn on a goroutine and fails the test if a call inside it
// takes longer than limit: fn calls step before each call it makes. fn
// reports failures with Errorf only (it does not run on the test's
// goroutine); watchdog reports the hang with Fatalf on the test's goroutine
// and returns, leaving the hung goroutine behind.
func watchdog(r reporter, limit time.Duration, fn func(step func(what string))) {
	r.Helper()
	steps := make(chan string)
	done := make(chan struct{})
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(done)
		fn(func(what string) {
			select {
			case steps <- what:
			case <-quit: // the watchdog gave up on fn
			}
		})
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	current := "start"
	for {
		select {
		case <-done:
			return
		case what := <-steps:
			current = what
			if !timer.Stop() {
				<-timer.C
			}
			timer.Reset(limit)
		case <-timer.C:
			r.Fatalf("hang: %s did not return within %v", current, limit)
			return
		}
	}
}

// allocMeter measures the bytes allocated by the whole process while a
// fuzz input runs. TotalAlloc only grows, so unlike HeapAlloc it does not
// depend on when the collector ran; the fuzzer runs one input at a time
// per process, so what it counts is the input's.
type allocMeter struct{ start uint64 }

func newAllocMeter() allocMeter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return allocMeter{start: ms.TotalAlloc}
}

// check reports an input that made the process allocate more than limit
// bytes.
func (m allocMeter) check(r reporter, limit uint64) {
	r.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if got := ms.TotalAlloc - m.start; got > limit {
		r.Errorf("memory: the input made the process allocate %d bytes, more than the bound %d", got, limit)
	}
}

// baseConfig is the connection configuration of the targets: a fake host,
// no TLS, small caps, short drains.
func baseConfig(dial conn.DialFunc) *conn.Config {
	cfg, err := conn.ParseConfig("host=127.0.0.1 port=5432 user=u dbname=d sslmode=disable")
	if err != nil {
		panic("fuzz harness: " + err.Error())
	}
	cfg.Passfile = ""
	cfg.DialFunc = dial
	cfg.DrainTimeout = drainTimeout
	return cfg
}
