package fuzz

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// connStreamTarget names FuzzConnStream's seed directory for the recorder.
// (The name appears only in this file: ClusterFuzzLite's build script
// finds a target's file by searching for its name.)
const connStreamTarget = "FuzzConnStream"

// Flags of FuzzConnStream, the first byte of its script.
const (
	// streamUnpaced writes the stream as fast as the client reads it,
	// without waiting for requests: replies arrive before the request
	// that they answer is sent, which conn must refuse.
	streamUnpaced = 1 << iota
	// streamRawStartup makes the stream the whole conversation, startup
	// and authentication included; otherwise the server first plays a
	// valid startup.
	streamRawStartup
	// streamNotices sets Config.OnNotice.
	streamNotices
	// streamSkipValidation sets Config.SkipValueValidation.
	streamSkipValidation
	// streamProtocol30 requests protocol 3.0 instead of 3.2.
	streamProtocol30
	// streamTinyQueue sets a notification queue of one.
	streamTinyQueue
)

// maxOps bounds the operations of a session: more repeat what fewer do.
const maxOps = 32

// FuzzConnStream connects a conn.Conn to a server whose side of the
// connection is fuzzed bytes, and runs a fuzzed session on it.
//
// The input is script and stream. script[0] holds the stream flags,
// script[1] the write split (0: each segment in one write; n: writes of 1
// to n bytes, pseudo-random), and the rest is the session (session_test.go).
// The server answers the StartupMessage with a valid startup (unless
// streamRawStartup), then serves stream cut into segments at each
// ReadyForQuery, CopyInResponse and authentication request, releasing each
// segment only when the client has sent a request that asks for a reply
// (Query, Sync, CopyDone, CopyFail, a password); a run of asynchronous
// messages (notices, notifications, parameter changes) at the start of a
// segment goes out without waiting. At the end of the stream the server
// closes the connection.
//
// Properties:
//   - no panic, and no hang: every call returns within hangLimit;
//   - memory stays bounded: no value is longer than its cap in
//     sessionLimits, and the whole run allocates a bounded amount;
//   - every value a call returns (row values, column names, command tags,
//     COPY data, notification channels and payloads, error messages) is
//     found in the stream the server sent;
//   - a *wire.ProtocolError closes the connection, and once the connection
//     is unusable every later call fails with an error matching
//     conn.ErrClosed and returns nothing;
//   - a usable connection is idle and not busy after each operation, a call
//     on a busy connection fails with a retryable conn.ErrBusy, and a Copy
//     releases the connection when it ends.
func FuzzConnStream(f *testing.F) {
	for _, s := range connStreamSeeds() {
		f.Add(s.script, s.stream)
	}
	f.Fuzz(func(t *testing.T, script, stream []byte) {
		if len(script) < 2 || len(stream) > maxStream || len(script) > 2+maxOps {
			return
		}
		fuzzConnStream(t, script[0], script[1], script[2:], stream)
	})
}

func fuzzConnStream(t *testing.T, flags, split byte, ops, stream []byte) {
	meter := newAllocMeter()
	var g goroutines
	srv := &streamServer{segs: segments(stream), paced: flags&streamUnpaced == 0, split: split,
		tokens: make(chan struct{}, 1024), stop: make(chan struct{})}
	if flags&streamRawStartup == 0 {
		srv.startup = startupBytes(7)
	}
	d := &pipeDialer{g: &g, serve: srv.serve}
	defer func() {
		close(srv.stop)
		d.closeAll()
		if !g.wait() {
			t.Fatalf("hang: the server goroutines did not end")
		}
		// The bound: a fixed part for the connection's buffers and the
		// goroutines, and a generous multiple of the input, which no
		// honest use of the caps comes near; an allocation sized by a
		// length the server claims would pass it.
		meter.check(t, 2<<20+64*uint64(len(stream)+len(ops)))
	}()

	cfg := baseConfig(d.Dial)
	cfg.Password = "secret"
	cfg.Limits = sessionLimits
	cfg.SkipValueValidation = flags&streamSkipValidation != 0
	if flags&streamProtocol30 != 0 {
		cfg.MaxProtocolVersion = wire.ProtocolVersion30
	}
	if flags&streamTinyQueue != 0 {
		cfg.NotificationBuffer = 1
	}
	k := &streamCheck{r: t, stream: stream, caps: sessionLimits}
	if flags&streamNotices != 0 {
		cfg.OnNotice = k.notice
	}

	watchdog(t, hangLimit, func(step func(string)) {
		step("ConnectConfig")
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		c, err := conn.ConnectConfig(ctx, cfg)
		cancel()
		if err != nil {
			var ce *conn.ConnectError
			if !errors.As(err, &ce) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("ConnectConfig: error %T is not a *conn.ConnectError: %v", err, err)
			}
			return
		}
		runSession(c, ops, k, step)
		step("Close")
		ctx, cancel = context.WithTimeout(context.Background(), callTimeout)
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
		if !errors.Is(c.Err(), conn.ErrClosed) {
			t.Errorf("after Close, Err() = %v", c.Err())
		}
	})
}

// segment is a piece of the stream the server sends in one go.
type segment struct {
	b      []byte
	async  bool // only asynchronous messages: sent without waiting
	copyIn bool // ends with CopyInResponse: only CopyDone or CopyFail release the next
}

// segments cuts stream where a server waits for the client: after each
// ReadyForQuery, CopyInResponse and authentication request that expects a
// response, and around runs of asynchronous messages at the start of a
// segment. Where the framing breaks (a bad length, a truncated message)
// the rest is one last segment.
func segments(stream []byte) []segment {
	var out []segment
	start, asyncRun := 0, true
	off := 0
	for off+5 <= len(stream) {
		typ := stream[off]
		n := int(binary.BigEndian.Uint32(stream[off+1:]))
		if n < 4 || n > len(stream)-off-1 {
			break
		}
		end := off + 1 + n
		async := typ == 'A' || typ == 'N' || typ == 'S'
		switch {
		case asyncRun && async:
			off = end
			continue
		case asyncRun && off > start:
			out = append(out, segment{b: stream[start:off], async: true})
			start = off
		}
		asyncRun = false
		if typ == 'Z' || typ == 'G' || (typ == 'R' && authWaits(stream[off+5:end])) {
			out = append(out, segment{b: stream[start:end], copyIn: typ == 'G'})
			start, asyncRun = end, true
		}
		off = end
	}
	if start < len(stream) {
		out = append(out, segment{b: stream[start:], async: asyncRun && off == len(stream)})
	}
	return out
}

// authWaits reports whether an Authentication message body asks the client
// for a response (cleartext, MD5, SASL, SASLContinue).
func authWaits(body []byte) bool {
	if len(body) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(body) {
	case 3, 5, 10, 11:
		return true
	}
	return false
}

// streamServer is the server side of FuzzConnStream's connection.
type streamServer struct {
	startup []byte // sent in reply to the StartupMessage; nil: the stream does it
	segs    []segment
	paced   bool
	split   byte
	tokens  chan struct{} // one per client message that asks for a reply
	stop    chan struct{} // closed when the test ends

	mu     sync.Mutex // guards following fields
	copyIn bool       // in COPY FROM STDIN: Sync does not ask for a reply
}

// serve runs the server on nc: a goroutine reads the client's messages and
// counts requests, this one writes. At the end of the stream the server
// ends its direction and reads on until the client closes.
func (s *streamServer) serve(nc *duplex) {
	defer nc.Close()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.read(nc)
	}()
	s.write(nc)
	nc.CloseWrite()
	<-readDone
}

func (s *streamServer) read(nc net.Conn) {
	fr := newFrontendReader(nc)
	if _, _, err := fr.startup(); err != nil {
		return
	}
	s.token()
	var buf []byte
	for {
		typ, body, err := fr.next(buf)
		if err != nil {
			return
		}
		buf = body
		s.mu.Lock()
		inCopy := s.copyIn
		if typ == 'c' || typ == 'f' {
			s.copyIn = false
		}
		s.mu.Unlock()
		switch typ {
		case 'Q', 'p', 'c', 'f':
			s.token()
		case 'S':
			if !inCopy {
				s.token()
			}
		}
	}
}

func (s *streamServer) token() {
	select {
	case s.tokens <- struct{}{}:
	default: // more requests than any stream has segments: drop
	}
}

// await waits for a request, or reports false when the test ended.
func (s *streamServer) await() bool {
	select {
	case <-s.tokens:
		return true
	case <-s.stop:
		return false
	}
}

func (s *streamServer) write(nc net.Conn) {
	// Nothing goes out before the StartupMessage.
	if !s.await() {
		return
	}
	rng := uint32(s.split) | 1
	if !s.paced {
		// Everything at once, cut only by the split: replies reach the
		// client's buffer before it sends their requests.
		all := append([]byte(nil), s.startup...)
		for _, seg := range s.segs {
			all = append(all, seg.b...)
		}
		s.send(nc, all, &rng)
		return
	}
	waited := true
	if s.startup != nil {
		if !s.send(nc, s.startup, &rng) {
			return
		}
		waited = false
	}
	for _, seg := range s.segs {
		if !waited && !seg.async && !s.await() {
			return
		}
		waited = false
		if seg.copyIn {
			s.mu.Lock()
			s.copyIn = true
			s.mu.Unlock()
		}
		if !s.send(nc, seg.b, &rng) {
			return
		}
	}
}

// send writes b in pieces cut by the split, and reports whether every
// write succeeded.
func (s *streamServer) send(nc net.Conn, b []byte, rng *uint32) bool {
	for len(b) > 0 {
		n := len(b)
		if s.split != 0 {
			// xorshift32: a deterministic cut for a given split byte.
			*rng ^= *rng << 13
			*rng ^= *rng >> 17
			*rng ^= *rng << 5
			n = min(n, 1+int(*rng%uint32(s.split)))
		}
		if _, err := nc.Write(b[:n]); err != nil {
			return false
		}
		b = b[n:]
	}
	return true
}

// streamSeed is one input of FuzzConnStream.
type streamSeed struct {
	script, stream []byte
}

// connStreamSeeds are hand-made inputs; the recorded conversations with a
// real server are in testdata/fuzz (see record_test.go).
func connStreamSeeds() []streamSeed {
	rowDesc := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("v"), DataTypeOID: 25,
		DataTypeSize: -1, TypeModifier: -1}}}
	ready := &pgproto3.ReadyForQuery{TxStatus: 'I'}
	selectOne := encodeBackend(rowDesc, &pgproto3.DataRow{Values: [][]byte{[]byte("1")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, ready)
	extended := encodeBackend(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, rowDesc,
		&pgproto3.DataRow{Values: [][]byte{[]byte("seven")}}, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, ready)
	notify := encodeBackend(&pgproto3.NotificationResponse{PID: 7, Channel: "c", Payload: "payload"})
	copyIn := encodeBackend(&pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0, 0}})
	copyInDone := encodeBackend(&pgproto3.CommandComplete{CommandTag: []byte("COPY 1")}, ready)
	copyOut := encodeBackend(&pgproto3.CopyOutResponse{ColumnFormatCodes: []uint16{0, 0}},
		&pgproto3.CopyData{Data: []byte("1\tx\n")}, &pgproto3.CopyDone{}, &pgproto3.CommandComplete{CommandTag: []byte("COPY 1")}, ready)
	pgErr := encodeBackend(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "22012",
		Message: "division by zero"}, ready)
	fatal := encodeBackend(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01",
		Message: "terminating connection due to administrator command"})
	script := func(flags, split byte, ops ...byte) []byte { return append([]byte{flags, split}, ops...) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	exec0 := encodeOp(opExec, false, 0)
	return []streamSeed{
		{script(0, 0, exec0, exec0), cat(selectOne, selectOne)},
		{script(0, 3, exec0, encodeOp(opExecParams, false, 0)), cat(selectOne, extended)},
		{script(streamUnpaced, 0, exec0, exec0), cat(selectOne, selectOne)},
		{script(0, 0, exec0, encodeOp(opWait, false, 1), exec0), cat(selectOne, notify, selectOne)},
		{script(0, 0, encodeOp(opCopyIn, false, 0), encodeOp(opCopyOut, false, 0)), cat(copyIn, copyInDone, copyOut)},
		{script(streamNotices, 1, exec0, exec0), cat(pgErr, selectOne)},
		{script(0, 0, exec0, exec0, encodeOp(opPrepare, false, 0)), cat(selectOne, fatal)},
		// A DataRow before its RowDescription: desync, then every call fails.
		{script(0, 0, exec0, exec0, encodeOp(opPipeline, false, 0), encodeOp(opWait, false, 0)),
			cat(encodeBackend(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}}), selectOne)},
		// The whole conversation, authentication included (MD5).
		{script(streamRawStartup, 0, exec0), cat(encodeBackend(&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}}),
			startupBytes(9), selectOne)},
	}
}
