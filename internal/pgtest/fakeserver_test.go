package pgtest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// fakeTestTimeout bounds every blocking operation of these tests, so that a
// bug shows up as a failure instead of a hang.
const fakeTestTimeout = 10 * time.Second

// fakeTransports lists the transports every step is proven over.
var fakeTransports = []pgtest.FakeTransport{pgtest.FakePipe, pgtest.FakeTCP}

// forEachFakeTransport runs fn as a parallel subtest per transport.
func forEachFakeTransport(t *testing.T, fn func(t *testing.T, tr pgtest.FakeTransport)) {
	t.Helper()
	for _, tr := range fakeTransports {
		t.Run(tr.String(), func(t *testing.T) {
			t.Parallel()
			fn(t, tr)
		})
	}
}

// fakeWait waits for the script's outcome with a bounded context.
func fakeWait(tb testing.TB, srv *pgtest.FakeServer) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), fakeTestTimeout)
	defer cancel()
	return srv.Wait(ctx)
}

// fakeRecorderTB stands in for the test's testing.TB when a server is
// expected to fail: it records what the server's cleanup reports instead of
// failing the test. Everything else goes to the real test.
type fakeRecorderTB struct {
	testing.TB
	once sync.Once

	mu sync.Mutex
	// guards following fields
	errs     []string
	cleanups []func()
}

// newFakeRecorderTB returns a recorder whose cleanups also run when the real
// test ends, should the test not call reported.
func newFakeRecorderTB(t *testing.T) *fakeRecorderTB {
	t.Helper()
	r := &fakeRecorderTB{TB: t}
	t.Cleanup(func() { r.reported() })
	return r
}

func (r *fakeRecorderTB) Helper() {}

func (r *fakeRecorderTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *fakeRecorderTB) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

func (r *fakeRecorderTB) Cleanup(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, fn)
}

// reported runs the registered cleanups, last first, once, and returns what
// they reported.
func (r *fakeRecorderTB) reported() []string {
	r.once.Do(func() {
		r.mu.Lock()
		fns := r.cleanups
		r.mu.Unlock()
		for i := len(fns) - 1; i >= 0; i-- {
			fns[i]()
		}
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// fakeTestClient is the frontend side of these tests: a pgproto3.Frontend
// over a connection from FakeServer.Dial, with every read and write bounded
// by fakeTestTimeout.
type fakeTestClient struct {
	tb   testing.TB
	conn net.Conn
	fe   *pgproto3.Frontend
}

func fakeDial(tb testing.TB, srv *pgtest.FakeServer) *fakeTestClient {
	tb.Helper()
	conn, err := srv.Dial(tb.Context(), "tcp", "ignored.invalid:5432")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	return fakeClientOn(tb, conn)
}

func fakeClientOn(tb testing.TB, conn net.Conn) *fakeTestClient {
	tb.Helper()
	// A pipe refuses deadlines once the server has closed its end, which a
	// script may do at once; reads then fail anyway.
	if err := conn.SetDeadline(time.Now().Add(fakeTestTimeout)); !errors.Is(err, io.ErrClosedPipe) {
		require.NoError(tb, err)
	}
	return &fakeTestClient{tb: tb, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
}

func (c *fakeTestClient) trySend(msgs ...pgproto3.FrontendMessage) error {
	for _, m := range msgs {
		c.fe.Send(m)
	}
	return c.fe.Flush()
}

func (c *fakeTestClient) send(msgs ...pgproto3.FrontendMessage) {
	c.tb.Helper()
	require.NoError(c.tb, c.trySend(msgs...))
}

func (c *fakeTestClient) sendRaw(b []byte) {
	c.tb.Helper()
	_, err := c.conn.Write(b)
	require.NoError(c.tb, err)
}

// receiveUntilReady returns the JSON form of every message up to and
// including ReadyForQuery.
func (c *fakeTestClient) receiveUntilReady() []string {
	c.tb.Helper()
	var got []string
	for {
		msg, err := c.fe.Receive()
		require.NoError(c.tb, err, "after %q", got)
		got = append(got, fakeJSON(c.tb, msg))
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return got
		}
	}
}

// readChunks reads raw bytes until the stream ends, with a buffer of bufSize
// bytes, and returns the size of every read, the bytes and the final error.
func (c *fakeTestClient) readChunks(bufSize int) ([]int, []byte, error) {
	var (
		sizes []int
		all   []byte
	)
	buf := make([]byte, bufSize)
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			sizes = append(sizes, n)
			all = append(all, buf[:n]...)
		}
		if err != nil {
			return sizes, all, err
		}
	}
}

func fakeJSON(tb testing.TB, msg pgproto3.Message) string {
	tb.Helper()
	b, err := json.Marshal(msg)
	require.NoError(tb, err)
	return string(b)
}

func fakeJSONs(tb testing.TB, msgs ...pgproto3.Message) []string {
	tb.Helper()
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, fakeJSON(tb, m))
	}
	return out
}

func TestFakeServerExpectSendRoundTrip(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		reply := []pgproto3.BackendMessage{
			&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
				Name: []byte("n"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1,
			}}},
			&pgproto3.DataRow{Values: [][]byte{[]byte("1")}},
			&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
			&pgproto3.ReadyForQuery{TxStatus: 'I'},
		}
		script := pgtest.NewScript().
			Expect(&pgproto3.Query{String: "select 1 as n"}).
			Send(reply...).
			ExpectTerminate().
			ExpectEOF()
		srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
		assert.Equal(t, tr, srv.Transport())

		c := fakeDial(t, srv)
		c.send(&pgproto3.Query{String: "select 1 as n"})
		got := c.receiveUntilReady()
		want := make([]pgproto3.Message, 0, len(reply))
		for _, m := range reply {
			want = append(want, m)
		}
		assert.Equal(t, fakeJSONs(t, want...), got)
		c.send(&pgproto3.Terminate{})
		require.NoError(t, c.conn.Close())

		require.NoError(t, fakeWait(t, srv))
		assert.Equal(t,
			[]pgproto3.FrontendMessage{&pgproto3.Query{String: "select 1 as n"}, &pgproto3.Terminate{}},
			srv.Received())
	})
}

func TestFakeServerExpectKinds(t *testing.T) {
	t.Parallel()
	startup := &pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": "alice", "database": "db"},
	}
	errNo := errors.New("no such query")
	cases := []struct {
		name string
		// step adds the one step under test.
		step func(s *pgtest.Script) *pgtest.Script
		// send is what the client sends, then it closes.
		send []pgproto3.FrontendMessage
		// raw, if set, is sent after send.
		raw []byte
		// wantErr lists substrings of the step error; nil means success.
		wantErr []string
	}{
		{
			name: "exact startup",
			step: func(s *pgtest.Script) *pgtest.Script { return s.Expect(startup) },
			send: []pgproto3.FrontendMessage{&pgproto3.StartupMessage{
				ProtocolVersion: pgproto3.ProtocolVersion30,
				Parameters:      map[string]string{"database": "db", "user": "alice"},
			}},
		},
		{
			name: "exact startup mismatch",
			step: func(s *pgtest.Script) *pgtest.Script { return s.Expect(startup) },
			send: []pgproto3.FrontendMessage{&pgproto3.StartupMessage{
				ProtocolVersion: pgproto3.ProtocolVersion30,
				Parameters:      map[string]string{"user": "bob", "database": "db"},
			}},
			wantErr: []string{"step 0 (expect *pgproto3.StartupMessage)", "message mismatch", "-want", `"user":"alice"`, "+got", `"user":"bob"`},
		},
		{
			name: "any startup",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectStartup() },
			send: []pgproto3.FrontendMessage{startup},
		},
		{
			name: "ssl request",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectSSLRequest() },
			send: []pgproto3.FrontendMessage{&pgproto3.SSLRequest{}},
		},
		{
			name:    "ssl request but startup",
			step:    func(s *pgtest.Script) *pgtest.Script { return s.ExpectSSLRequest() },
			send:    []pgproto3.FrontendMessage{startup},
			wantErr: []string{"got *pgproto3.StartupMessage, want *pgproto3.SSLRequest"},
		},
		{
			name: "gss enc request",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectGSSEncRequest() },
			send: []pgproto3.FrontendMessage{&pgproto3.GSSEncRequest{}},
		},
		{
			name: "cancel request exact",
			step: func(s *pgtest.Script) *pgtest.Script {
				return s.Expect(&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}})
			},
			send: []pgproto3.FrontendMessage{&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}},
		},
		{
			name: "cancel request wrong key",
			step: func(s *pgtest.Script) *pgtest.Script {
				return s.Expect(&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}})
			},
			send:    []pgproto3.FrontendMessage{&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 5}}},
			wantErr: []string{"message mismatch", `"SecretKey":"01020304"`, `"SecretKey":"01020305"`},
		},
		{
			name: "any cancel request",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectCancelRequest() },
			send: []pgproto3.FrontendMessage{&pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{9, 9, 9, 9}}},
		},
		{
			name: "type only",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectType(&pgproto3.Parse{}) },
			send: []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "s1", Query: "select $1", ParameterOIDs: []uint32{23}}},
		},
		{
			name:    "type mismatch",
			step:    func(s *pgtest.Script) *pgtest.Script { return s.ExpectType(&pgproto3.Parse{}) },
			send:    []pgproto3.FrontendMessage{&pgproto3.Query{String: "select 1"}},
			wantErr: []string{"step 0 (expect type *pgproto3.Parse)", "got *pgproto3.Query, want *pgproto3.Parse", `"String":"select 1"`},
		},
		{
			name: "predicate passes",
			step: func(s *pgtest.Script) *pgtest.Script {
				return s.ExpectFunc(func(m pgproto3.FrontendMessage) error {
					if q, ok := m.(*pgproto3.Query); !ok || !strings.HasPrefix(q.String, "select") {
						return errNo
					}
					return nil
				})
			},
			send: []pgproto3.FrontendMessage{&pgproto3.Query{String: "select 2"}},
		},
		{
			name: "predicate fails",
			step: func(s *pgtest.Script) *pgtest.Script {
				return s.ExpectFunc(func(pgproto3.FrontendMessage) error { return errNo })
			},
			send:    []pgproto3.FrontendMessage{&pgproto3.Query{String: "select 2"}},
			wantErr: []string{"step 0 (expect func)", "no such query", `"String":"select 2"`},
		},
		{
			name: "startup predicate",
			step: func(s *pgtest.Script) *pgtest.Script {
				return s.ExpectStartupFunc(func(m pgproto3.FrontendMessage) error {
					if sm, ok := m.(*pgproto3.StartupMessage); !ok || sm.Parameters["user"] != "alice" {
						return errNo
					}
					return nil
				})
			},
			send: []pgproto3.FrontendMessage{startup},
		},
		{
			name: "terminate",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectTerminate() },
			send: []pgproto3.FrontendMessage{&pgproto3.Terminate{}},
		},
		{
			name: "eof",
			step: func(s *pgtest.Script) *pgtest.Script { return s.ExpectEOF() },
		},
		{
			name:    "eof but a message",
			step:    func(s *pgtest.Script) *pgtest.Script { return s.ExpectEOF() },
			send:    []pgproto3.FrontendMessage{&pgproto3.Sync{}},
			wantErr: []string{"step 0 (expect EOF)", "want end of stream", "53 00 00 00 04"},
		},
		{
			name:    "typed expect reads a startup packet",
			step:    func(s *pgtest.Script) *pgtest.Script { return s.Expect(&pgproto3.Query{String: "x"}) },
			send:    []pgproto3.FrontendMessage{startup},
			wantErr: []string{"step 0 (expect *pgproto3.Query)", "receive"},
		},
		{
			name:    "bad frame length",
			step:    func(s *pgtest.Script) *pgtest.Script { return s.ExpectType(&pgproto3.Query{}) },
			raw:     []byte{'Q', 0, 0, 0, 2},
			wantErr: []string{"step 0 (expect type *pgproto3.Query)", "invalid message length"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				rec := newFakeRecorderTB(t)
				srv := pgtest.NewFakeServer(rec, tc.step(pgtest.NewScript()), pgtest.WithFakeTransport(tr))
				c := fakeDial(t, srv)
				sendErr := c.trySend(tc.send...)
				if sendErr == nil && tc.raw != nil {
					_, sendErr = c.conn.Write(tc.raw)
				}
				if tc.wantErr == nil {
					require.NoError(t, sendErr)
				}
				_ = c.conn.Close()

				err := fakeWait(t, srv)
				reported := rec.reported()
				if tc.wantErr == nil {
					require.NoError(t, err)
					assert.Empty(t, reported)
					return
				}
				var stepErr *pgtest.FakeStepError
				require.ErrorAs(t, err, &stepErr)
				assert.Equal(t, 0, stepErr.Index)
				assert.NotErrorIs(t, err, pgtest.ErrScriptIncomplete)
				for _, want := range tc.wantErr {
					assert.ErrorContains(t, err, want)
				}
				if assert.Len(t, reported, 1) {
					assert.Equal(t, err.Error(), reported[0])
				}
			})
		})
	}
}

func TestFakeServerUnexpectedMessageNamesStep(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		rec := newFakeRecorderTB(t)
		script := pgtest.NewScript().
			Expect(&pgproto3.Query{String: "select 1"}).
			Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}).
			Expect(&pgproto3.Query{String: "select 2"}).
			Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		srv := pgtest.NewFakeServer(rec, script, pgtest.WithFakeTransport(tr))
		c := fakeDial(t, srv)
		c.send(&pgproto3.Query{String: "select 1"})
		c.receiveUntilReady()
		c.send(&pgproto3.Query{String: "select 3"})

		err := fakeWait(t, srv)
		var stepErr *pgtest.FakeStepError
		require.ErrorAs(t, err, &stepErr)
		assert.Equal(t, 2, stepErr.Index)
		assert.Equal(t, "expect *pgproto3.Query", stepErr.Step)
		assert.Equal(t,
			"pgtest: fake server: step 2 (expect *pgproto3.Query): message mismatch\n"+
				"\t-want {\"Type\":\"Query\",\"String\":\"select 2\"}\n"+
				"\t+got  {\"Type\":\"Query\",\"String\":\"select 3\"}",
			err.Error())

		// A failed script closes the connection at once.
		_, err = c.fe.Receive()
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, []pgproto3.FrontendMessage{
			&pgproto3.Query{String: "select 1"},
			&pgproto3.Query{String: "select 3"},
		}, srv.Received())
		assert.Equal(t, []string{stepErr.Error()}, rec.reported())
	})
}

func TestFakeServerSendRawArrivesVerbatim(t *testing.T) {
	t.Parallel()
	// Bytes no encoder would produce: a ReadyForQuery with a length of 3, a
	// type byte 0xff, a NUL, and a length of 2^31-1 with no body.
	raw := []byte{'Z', 0, 0, 0, 3, 'I', 0xff, 0x00, 'E', 0x7f, 0xff, 0xff, 0xff}
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		srv := pgtest.NewFakeServer(t, pgtest.NewScript().SendRaw(raw).Close(), pgtest.WithFakeTransport(tr))
		c := fakeDial(t, srv)
		_, got, err := c.readChunks(64)
		require.ErrorIs(t, err, io.EOF)
		assert.Equal(t, raw, got)
		require.NoError(t, fakeWait(t, srv))
	})
}

func TestFakeServerSendSplit(t *testing.T) {
	t.Parallel()
	data := pgtest.MustEncodeBackend(t,
		&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
	cases := []struct {
		name string
		// step sends data.
		step func(s *pgtest.Script) *pgtest.Script
		// wantSizes are the read sizes the client must see over a pipe.
		wantSizes []int
	}{
		{
			name: "at offsets",
			step: func(s *pgtest.Script) *pgtest.Script { return s.SendSplit(data, 1, 5, 9, 18) },
			// The 0 and len(data) offsets make empty pieces, which are skipped.
			wantSizes: []int{1, 4, 4, 9, len(data) - 18},
		},
		{
			name:      "empty pieces skipped",
			step:      func(s *pgtest.Script) *pgtest.Script { return s.SendSplit(data, 0, 3, 3, len(data)) },
			wantSizes: []int{3, len(data) - 3},
		},
		{
			name:      "each byte",
			step:      func(s *pgtest.Script) *pgtest.Script { return s.SendEachByte(data) },
			wantSizes: slices.Repeat([]int{1}, len(data)),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				srv := pgtest.NewFakeServer(t, tc.step(pgtest.NewScript()).Close(), pgtest.WithFakeTransport(tr))
				c := fakeDial(t, srv)
				sizes, got, err := c.readChunks(64)
				require.ErrorIs(t, err, io.EOF)
				assert.Equal(t, data, got)
				if tr == pgtest.FakePipe {
					// TCP may coalesce pieces; a pipe never does.
					assert.Equal(t, tc.wantSizes, sizes)
				}
				require.NoError(t, fakeWait(t, srv))
			})
		})
	}
}

func TestFakeCuts(t *testing.T) {
	t.Parallel()
	msgs := []pgproto3.BackendMessage{
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
		&pgproto3.ParameterStatus{Name: "a", Value: "b"},
	}
	data := pgtest.MustEncodeBackend(t, msgs...)
	cuts, err := pgtest.FakeCuts(msgs...)
	require.NoError(t, err)
	require.Len(t, cuts, len(data)+1)
	for i, c := range cuts {
		assert.Equal(t, i, c.Offset)
		assert.Equal(t, data, c.Data)
	}
	assert.Equal(t, pgtest.FakeCut{Name: "0-ReadyForQuery+0", Data: data, Offset: 0, Message: 0, Inside: 0}, cuts[0])
	assert.Equal(t, pgtest.FakeCut{Name: "0-ReadyForQuery+5", Data: data, Offset: 5, Message: 0, Inside: 5}, cuts[5])
	assert.Equal(t, pgtest.FakeCut{Name: "1-ParameterStatus+0", Data: data, Offset: 6, Message: 1, Inside: 0}, cuts[6])
	assert.Equal(t, pgtest.FakeCut{Name: "1-ParameterStatus+2", Data: data, Offset: 8, Message: 1, Inside: 2}, cuts[8])
	assert.Equal(t, pgtest.FakeCut{Name: "end", Data: data, Offset: len(data), Message: 2}, cuts[len(data)])

	_, err = pgtest.FakeCuts(&pgproto3.ReadyForQuery{}, nil)
	require.ErrorContains(t, err, "message 1 is nil")

	// Every cut, sent split over a pipe, reaches the client as two reads
	// (one at the ends) and a Frontend decodes both messages whole.
	for _, c := range cuts {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().SendSplit(c.Data, c.Offset).ExpectTerminate())
			cl := fakeDial(t, srv)
			assert.Equal(t, fakeJSONs(t, msgs[0]), cl.receiveUntilReady())
			msg, err := cl.fe.Receive()
			require.NoError(t, err)
			assert.Equal(t, fakeJSON(t, msgs[1]), fakeJSON(t, msg))
			cl.send(&pgproto3.Terminate{})
			require.NoError(t, fakeWait(t, srv))
		})
	}
}

func TestFakeServerStall(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("then close", func(t *testing.T) {
			t.Parallel()
			const d = 50 * time.Millisecond
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().Stall(d).Close(), pgtest.WithFakeTransport(tr))
			start := time.Now()
			c := fakeDial(t, srv)
			_, got, err := c.readChunks(16)
			require.ErrorIs(t, err, io.EOF)
			assert.Empty(t, got)
			assert.GreaterOrEqual(t, time.Since(start), d)
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("keeps what the client sends", func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().
				Stall(30 * time.Millisecond).
				Expect(&pgproto3.Query{String: "select 1"}).
				Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.Query{String: "select 1"})
			assert.Equal(t, fakeJSONs(t, &pgproto3.ReadyForQuery{TxStatus: 'I'}), c.receiveUntilReady())
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("ends when the client closes", func(t *testing.T) {
			t.Parallel()
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().Stall(time.Hour), pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			require.NoError(t, c.conn.Close())
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("until closed", func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().
				StallUntilClosed().
				ExpectType(&pgproto3.Sync{}).
				ExpectEOF()
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.Sync{})
			select {
			case <-srv.Done():
				t.Fatal("stall ended before the client closed")
			default:
			}
			require.NoError(t, c.conn.Close())
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("until the test ends", func(t *testing.T) {
			t.Parallel()
			for _, allow := range []bool{false, true} {
				rec := newFakeRecorderTB(t)
				var opts []pgtest.FakeOption
				if allow {
					opts = append(opts, pgtest.AllowIncomplete())
				}
				script := pgtest.NewScript().
					Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}).
					StallUntilClosed()
				srv := pgtest.NewFakeServer(rec, script, append(opts, pgtest.WithFakeTransport(tr))...)
				fakeDial(t, srv).receiveUntilReady()
				reported := rec.reported()
				err := fakeWait(t, srv)
				require.ErrorIs(t, err, pgtest.ErrScriptIncomplete)
				assert.ErrorContains(t, err, "step 1 (stall until closed)")
				if allow {
					assert.Empty(t, reported)
				} else {
					assert.Equal(t, []string{err.Error()}, reported)
				}
			}
		})
	})
}

func TestFakeServerCloseAndReset(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("close", func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}).Close()
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			assert.Len(t, c.receiveUntilReady(), 1)
			_, _, err := c.readChunks(16)
			require.ErrorIs(t, err, io.EOF)
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("reset", func(t *testing.T) {
			t.Parallel()
			// The client speaks first, so that the reset cannot race its
			// connect.
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().ExpectType(&pgproto3.Sync{}).Reset(),
				pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.Sync{})
			require.NoError(t, fakeWait(t, srv))
			_, got, err := c.readChunks(16)
			assert.Empty(t, got)
			if tr == pgtest.FakeTCP {
				require.ErrorIs(t, err, syscall.ECONNRESET)
			} else {
				require.ErrorIs(t, err, io.EOF)
			}
		})
	})
}

func TestFakeServerDo(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("raw access between messages", func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().
				Expect(&pgproto3.Query{String: "q"}).
				Do(func(_ context.Context, conn net.Conn) error {
					buf := make([]byte, 3)
					if _, err := io.ReadFull(conn, buf); err != nil {
						return err
					}
					if string(buf) != "abc" {
						return fmt.Errorf("read %q", buf)
					}
					_, err := conn.Write([]byte("xyz"))
					return err
				}).
				ExpectType(&pgproto3.Sync{})
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			// One write: the raw bytes must not be swallowed by the
			// message decoder reading ahead.
			var out []byte
			out, err := (&pgproto3.Query{String: "q"}).Encode(out)
			require.NoError(t, err)
			out = append(out, "abc"...)
			out, err = (&pgproto3.Sync{}).Encode(out)
			require.NoError(t, err)
			c.sendRaw(out)
			buf := make([]byte, 3)
			_, err = io.ReadFull(c.conn, buf)
			require.NoError(t, err)
			assert.Equal(t, "xyz", string(buf))
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("error fails the step", func(t *testing.T) {
			t.Parallel()
			rec := newFakeRecorderTB(t)
			errBoom := errors.New("boom")
			script := pgtest.NewScript().Do(func(context.Context, net.Conn) error { return errBoom })
			srv := pgtest.NewFakeServer(rec, script, pgtest.WithFakeTransport(tr))
			fakeDial(t, srv)
			err := fakeWait(t, srv)
			require.ErrorIs(t, err, errBoom)
			assert.ErrorContains(t, err, "step 0 (do)")
			assert.Len(t, rec.reported(), 1)
		})
	})
}

func TestFakeServerAcceptStartup(t *testing.T) {
	t.Parallel()
	key32 := bytes.Repeat([]byte{0xab}, 32)
	errNotCarol := errors.New("user is not carol")
	cases := []struct {
		name string
		// reply configures AcceptStartupWith.
		reply pgtest.StartupReply
		// params are the client's startup parameters.
		params map[string]string
		// want is the sequence the client must receive.
		want []pgproto3.Message
		// wantErr, if set, is a substring of the step error.
		wantErr string
	}{
		{
			name:   "defaults",
			params: map[string]string{"user": "alice", "database": "db", "application_name": "app"},
			want: []pgproto3.Message{
				&pgproto3.AuthenticationOk{},
				&pgproto3.ParameterStatus{Name: "in_hot_standby", Value: "off"},
				&pgproto3.ParameterStatus{Name: "integer_datetimes", Value: "on"},
				&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"},
				&pgproto3.ParameterStatus{Name: "IntervalStyle", Value: "postgres"},
				&pgproto3.ParameterStatus{Name: "is_superuser", Value: "off"},
				&pgproto3.ParameterStatus{Name: "application_name", Value: "app"},
				&pgproto3.ParameterStatus{Name: "default_transaction_read_only", Value: "off"},
				&pgproto3.ParameterStatus{Name: "scram_iterations", Value: "4096"},
				&pgproto3.ParameterStatus{Name: "DateStyle", Value: "ISO, MDY"},
				&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"},
				&pgproto3.ParameterStatus{Name: "session_authorization", Value: "alice"},
				&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
				&pgproto3.ParameterStatus{Name: "server_version", Value: "16.4"},
				&pgproto3.ParameterStatus{Name: "server_encoding", Value: "UTF8"},
				&pgproto3.BackendKeyData{ProcessID: pgtest.FakeProcessID, SecretKey: pgtest.FakeSecretKey()},
				&pgproto3.ReadyForQuery{TxStatus: 'I'},
			},
		},
		{
			name: "overrides and omissions",
			reply: pgtest.StartupReply{
				Parameters: map[string]string{"server_version": "17.2", "zz_custom": "1", "client_encoding": "LATIN1"},
				Omit: []string{
					"in_hot_standby", "integer_datetimes", "TimeZone", "IntervalStyle", "is_superuser",
					"application_name", "default_transaction_read_only", "scram_iterations", "DateStyle",
					"standard_conforming_strings", "session_authorization", "server_encoding",
				},
				ProcessID: 99,
				SecretKey: key32,
				Check: func(sm *pgproto3.StartupMessage) error {
					if sm.Parameters["user"] != "carol" {
						return errNotCarol
					}
					return nil
				},
			},
			params: map[string]string{"user": "carol"},
			want: []pgproto3.Message{
				&pgproto3.AuthenticationOk{},
				&pgproto3.ParameterStatus{Name: "client_encoding", Value: "LATIN1"},
				&pgproto3.ParameterStatus{Name: "server_version", Value: "17.2"},
				&pgproto3.ParameterStatus{Name: "zz_custom", Value: "1"},
				&pgproto3.BackendKeyData{ProcessID: 99, SecretKey: key32},
				&pgproto3.ReadyForQuery{TxStatus: 'I'},
			},
		},
		{
			name: "no key data",
			reply: pgtest.StartupReply{
				OmitBackendKeyData: true,
				Omit:               []string{"in_hot_standby", "integer_datetimes", "TimeZone", "IntervalStyle", "is_superuser", "application_name", "default_transaction_read_only", "scram_iterations", "DateStyle", "standard_conforming_strings", "session_authorization", "client_encoding", "server_version", "server_encoding"},
			},
			params: map[string]string{"user": "dave"},
			want: []pgproto3.Message{
				&pgproto3.AuthenticationOk{},
				&pgproto3.ReadyForQuery{TxStatus: 'I'},
			},
		},
		{
			name:    "check fails",
			reply:   pgtest.StartupReply{Check: func(*pgproto3.StartupMessage) error { return errNotCarol }},
			params:  map[string]string{"user": "mallory"},
			wantErr: "step 0 (accept startup): check startup: user is not carol",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				rec := newFakeRecorderTB(t)
				script := pgtest.NewScript().AcceptStartupWith(tc.reply).ExpectTerminate()
				srv := pgtest.NewFakeServer(rec, script, pgtest.WithFakeTransport(tr))
				c := fakeDial(t, srv)
				startup := &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: tc.params}
				c.send(startup)
				if tc.wantErr != "" {
					err := fakeWait(t, srv)
					require.ErrorContains(t, err, tc.wantErr)
					assert.Len(t, rec.reported(), 1)
					return
				}
				got := c.receiveUntilReady()
				assert.Equal(t, fakeJSONs(t, tc.want...), got)
				// Messages tells a test what AcceptStartupWith sends.
				var fromMessages []pgproto3.Message
				for _, m := range tc.reply.Messages(startup) {
					fromMessages = append(fromMessages, m)
				}
				assert.Equal(t, got, fakeJSONs(t, fromMessages...))
				c.send(&pgproto3.Terminate{})
				require.NoError(t, fakeWait(t, srv))
				assert.Empty(t, rec.reported())
			})
		})
	}
}

func TestFakeServerAcceptStartupAfterDenySSL(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("deny then accept", func(t *testing.T) {
			t.Parallel()
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().DenySSL().AcceptStartup(), pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.SSLRequest{})
			b := make([]byte, 1)
			_, err := io.ReadFull(c.conn, b)
			require.NoError(t, err)
			assert.Equal(t, "N", string(b))
			c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}})
			got := c.receiveUntilReady()
			assert.Len(t, got, 17)
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("ssl request without deny", func(t *testing.T) {
			t.Parallel()
			rec := newFakeRecorderTB(t)
			srv := pgtest.NewFakeServer(rec, pgtest.NewScript().AcceptStartup(), pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.SSLRequest{})
			err := fakeWait(t, srv)
			require.ErrorContains(t, err, "got *pgproto3.SSLRequest, want *pgproto3.StartupMessage")
			assert.ErrorContains(t, err, "DenySSL")
			assert.Len(t, rec.reported(), 1)
		})
	})
}

func TestFakeServerAuthTypeDecodesPasswordMessages(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("follows sent requests", func(t *testing.T) {
			t.Parallel()
			script := pgtest.NewScript().
				ExpectStartup().
				Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}).
				Expect(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abc")}).
				Send(&pgproto3.AuthenticationSASLContinue{Data: []byte("r=abcdef,s=c2FsdA==,i=4096")}).
				Expect(&pgproto3.SASLResponse{Data: []byte("c=biws,r=abcdef,p=x")}).
				SendRaw(pgtest.MustEncodeBackend(t, &pgproto3.AuthenticationCleartextPassword{})).
				SetAuthType(pgproto3.AuthTypeCleartextPassword).
				Expect(&pgproto3.PasswordMessage{Password: "secret"})
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}})
			_, err := c.fe.Receive()
			require.NoError(t, err)
			c.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abc")})
			_, err = c.fe.Receive()
			require.NoError(t, err)
			c.send(&pgproto3.SASLResponse{Data: []byte("c=biws,r=abcdef,p=x")})
			_, err = c.fe.Receive()
			require.NoError(t, err)
			c.send(&pgproto3.PasswordMessage{Password: "secret"})
			require.NoError(t, fakeWait(t, srv))
		})
		t.Run("hint on mismatch", func(t *testing.T) {
			t.Parallel()
			rec := newFakeRecorderTB(t)
			script := pgtest.NewScript().Expect(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256"})
			srv := pgtest.NewFakeServer(rec, script, pgtest.WithFakeTransport(tr))
			c := fakeDial(t, srv)
			c.send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256"})
			err := fakeWait(t, srv)
			require.ErrorContains(t, err, "got *pgproto3.PasswordMessage, want *pgproto3.SASLInitialResponse")
			assert.ErrorContains(t, err, "SetAuthType")
			assert.Len(t, rec.reported(), 1)
		})
	})
}

func TestFakeServerReceivedAreCopies(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		script := pgtest.NewScript().
			ExpectType(&pgproto3.CopyData{}).
			ExpectType(&pgproto3.CopyData{}).
			ExpectType(&pgproto3.Query{}).
			ExpectType(&pgproto3.Query{})
		srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
		c := fakeDial(t, srv)
		c.send(
			&pgproto3.CopyData{Data: []byte("first")},
			&pgproto3.CopyData{Data: []byte("second")},
			&pgproto3.Query{String: "one"},
			&pgproto3.Query{String: "two"},
		)
		require.NoError(t, fakeWait(t, srv))
		got := srv.Received()
		assert.Equal(t, []pgproto3.FrontendMessage{
			&pgproto3.CopyData{Data: []byte("first")},
			&pgproto3.CopyData{Data: []byte("second")},
			&pgproto3.Query{String: "one"},
			&pgproto3.Query{String: "two"},
		}, got)
		// Received returns a copy of the list too.
		got[0] = nil
		assert.NotNil(t, srv.Received()[0])
	})
}

// fakeTLSConfigs returns a server configuration with a fresh self-signed
// certificate for "localhost" and a client configuration that trusts it.
func fakeTLSConfigs(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(tb, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return server, client
}

func TestFakeServerStartTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := fakeTLSConfigs(t)
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		script := pgtest.NewScript().
			ExpectSSLRequest().
			SendRaw([]byte("S")).
			StartTLS(serverTLS).
			AcceptStartup().
			Expect(&pgproto3.Query{String: "select 1"}).
			Send(&pgproto3.EmptyQueryResponse{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}).
			ExpectTerminate().
			ExpectEOF()
		srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr))
		c := fakeDial(t, srv)
		c.send(&pgproto3.SSLRequest{})
		b := make([]byte, 1)
		_, err := io.ReadFull(c.conn, b)
		require.NoError(t, err)
		require.Equal(t, "S", string(b))

		tc := tls.Client(c.conn, clientTLS)
		require.NoError(t, tc.HandshakeContext(t.Context()))
		tlsClient := fakeClientOn(t, tc)
		tlsClient.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}})
		assert.Len(t, tlsClient.receiveUntilReady(), 17)
		tlsClient.send(&pgproto3.Query{String: "select 1"})
		assert.Equal(t,
			fakeJSONs(t, &pgproto3.EmptyQueryResponse{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
			tlsClient.receiveUntilReady())
		tlsClient.send(&pgproto3.Terminate{})
		require.NoError(t, tc.Close())
		require.NoError(t, fakeWait(t, srv))
	})
}

func TestFakeServerSecondConnectionFails(t *testing.T) {
	t.Parallel()
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		rec := newFakeRecorderTB(t)
		srv := pgtest.NewFakeServer(rec, pgtest.NewScript().Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}),
			pgtest.WithFakeTransport(tr))
		first := fakeDial(t, srv)
		second, err := srv.Dial(t.Context(), "tcp", "ignored.invalid:5432")
		require.NoError(t, err)
		// The server closes the second connection at once.
		n, err := second.Read(make([]byte, 16))
		assert.Zero(t, n)
		require.ErrorIs(t, err, io.EOF)
		assert.Len(t, first.receiveUntilReady(), 1)

		err = fakeWait(t, srv)
		require.ErrorIs(t, err, pgtest.ErrExtraConnection)
		reported := rec.reported()
		require.Len(t, reported, 1)
		assert.Contains(t, reported[0], pgtest.ErrExtraConnection.Error())
	})
}

func TestFakeServerAllowIncomplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// opts are the server options.
		opts []pgtest.FakeOption
		// secondQuery is what the client sends after the first reply
		// instead of hanging up, if set.
		secondQuery string
		// wantIncomplete says whether Wait must report ErrScriptIncomplete.
		wantIncomplete bool
		// wantReported says whether the cleanup must report an error.
		wantReported bool
	}{
		{name: "hang-up reported by default", wantIncomplete: true, wantReported: true},
		{name: "hang-up allowed", opts: []pgtest.FakeOption{pgtest.AllowIncomplete()}, wantIncomplete: true},
		{name: "mismatch still reported", opts: []pgtest.FakeOption{pgtest.AllowIncomplete()}, secondQuery: "wrong", wantReported: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				rec := newFakeRecorderTB(t)
				script := pgtest.NewScript().
					Expect(&pgproto3.Query{String: "select 1"}).
					Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}).
					Expect(&pgproto3.Query{String: "select 2"})
				srv := pgtest.NewFakeServer(rec, script, append(tc.opts, pgtest.WithFakeTransport(tr))...)
				c := fakeDial(t, srv)
				c.send(&pgproto3.Query{String: "select 1"})
				c.receiveUntilReady()
				if tc.secondQuery != "" {
					c.send(&pgproto3.Query{String: tc.secondQuery})
				} else {
					require.NoError(t, c.conn.Close())
				}

				err := fakeWait(t, srv)
				require.ErrorContains(t, err, "step 2 (expect *pgproto3.Query)")
				assert.Equal(t, tc.wantIncomplete, errors.Is(err, pgtest.ErrScriptIncomplete))
				if tc.wantReported {
					assert.Equal(t, []string{err.Error()}, rec.reported())
				} else {
					assert.Empty(t, rec.reported())
				}
			})
		})
	}
}

func TestFakeScriptBuildErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// build makes the faulty script.
		build func() *pgtest.Script
		// wantErr is a substring of Script.Err.
		wantErr string
	}{
		{
			name:    "split offsets out of order",
			build:   func() *pgtest.Script { return pgtest.NewScript().SendRaw(nil).SendSplit([]byte("abcd"), 3, 2) },
			wantErr: "step 1 (send split (4 bytes at [3 2])): offset 2 out of order",
		},
		{
			name:    "split offset past the end",
			build:   func() *pgtest.Script { return pgtest.NewScript().SendSplit([]byte("abcd"), 5) },
			wantErr: "offset 5 out of order or outside [0, 4]",
		},
		{
			name:    "nil message to send",
			build:   func() *pgtest.Script { return pgtest.NewScript().Send(&pgproto3.ReadyForQuery{}, nil) },
			wantErr: "message 1 is nil",
		},
		{
			name:    "nil expected message",
			build:   func() *pgtest.Script { return pgtest.NewScript().Expect(nil) },
			wantErr: "invalid expected message: nil message",
		},
		{
			name:    "step after close",
			build:   func() *pgtest.Script { return pgtest.NewScript().Close().ExpectEOF() },
			wantErr: "step 1 (expect EOF): no step may follow Close or Reset",
		},
		{
			name:    "step after reset",
			build:   func() *pgtest.Script { return pgtest.NewScript().Reset().Close() },
			wantErr: "step 1 (close): no step may follow",
		},
		{
			name:    "negative stall",
			build:   func() *pgtest.Script { return pgtest.NewScript().Stall(-time.Second) },
			wantErr: "negative duration",
		},
		{
			name:    "nil tls config",
			build:   func() *pgtest.Script { return pgtest.NewScript().StartTLS(nil) },
			wantErr: "nil tls.Config",
		},
		{
			name:    "nil do func",
			build:   func() *pgtest.Script { return pgtest.NewScript().Do(nil) },
			wantErr: "step 0 (do): nil func",
		},
		{
			name:    "unknown auth type",
			build:   func() *pgtest.Script { return pgtest.NewScript().SetAuthType(99) },
			wantErr: "authType not recognized",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := tc.build()
			require.ErrorContains(t, script.Err(), tc.wantErr)
			_, err := pgtest.StartFakeServer(script)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
	_, err := pgtest.StartFakeServer(nil)
	require.Error(t, err)
}

func TestFakeServerLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("addr and pipe", func(t *testing.T) {
		t.Parallel()
		tcp := pgtest.NewFakeServer(t, pgtest.NewScript(), pgtest.WithFakeTransport(pgtest.FakeTCP), pgtest.AllowIncomplete())
		host, _, err := net.SplitHostPort(tcp.Addr())
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", host)
		assert.Panics(t, func() { tcp.Pipe() })

		pipe := pgtest.NewFakeServer(t, pgtest.NewScript().Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}))
		assert.Equal(t, "pipe", pipe.Addr())
		c := fakeClientOn(t, pipe.Pipe())
		assert.Len(t, c.receiveUntilReady(), 1)
		require.NoError(t, fakeWait(t, pipe))
	})
	forEachFakeTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
		t.Run("close is idempotent and ends dialing", func(t *testing.T) {
			t.Parallel()
			srv, err := pgtest.StartFakeServer(pgtest.NewScript().ExpectTerminate(), pgtest.WithFakeTransport(tr))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), fakeTestTimeout)
			defer cancel()
			err = srv.Close(ctx)
			require.ErrorIs(t, err, pgtest.ErrScriptIncomplete)
			assert.ErrorContains(t, err, "no client connected")
			assert.Equal(t, err, srv.Close(ctx))
			_, err = srv.Dial(ctx, "tcp", "x:1")
			require.Error(t, err)
		})
		t.Run("wait honours its context", func(t *testing.T) {
			t.Parallel()
			srv := pgtest.NewFakeServer(t, pgtest.NewScript().ExpectTerminate(), pgtest.WithFakeTransport(tr), pgtest.AllowIncomplete())
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			require.ErrorIs(t, srv.Wait(ctx), context.Canceled)
		})
	})
}

// fakeServerGoroutines counts the goroutines running FakeServer code.
func fakeServerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "pgtest.(*FakeServer)") {
			count++
		}
	}
	return count
}

// fakePollGoroutines polls until fakeServerGoroutines returns want or the
// deadline passes, and returns the last count.
func fakePollGoroutines(want int) int {
	deadline := time.Now().Add(fakeTestTimeout)
	for {
		n := fakeServerGoroutines()
		if n == want || time.Now().After(deadline) {
			return n
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // bounded poll: goroutine exit has no event
	}
}

// TestFakeServerNoGoroutineLeak is not parallel: it counts goroutines, and
// parallel tests stay paused while it runs.
func TestFakeServerNoGoroutineLeak(t *testing.T) {
	require.Equal(t, 0, fakePollGoroutines(0), "fake server goroutines before the test")
	for _, tr := range fakeTransports {
		t.Run(tr.String(), func(t *testing.T) {
			// Blocked mid-script when the test ends: cleanup must stop it.
			script := pgtest.NewScript().
				Send(&pgproto3.ReadyForQuery{TxStatus: 'I'}).
				Expect(&pgproto3.Query{String: "never sent"})
			srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(tr), pgtest.AllowIncomplete())
			c := fakeDial(t, srv)
			c.receiveUntilReady()
			want := 1 // the runner
			if tr == pgtest.FakeTCP {
				want = 2 // and the accept loop
			}
			assert.Equal(t, want, fakeServerGoroutines())
		})
		assert.Equal(t, 0, fakePollGoroutines(0), "fake server goroutines left after the %s test", tr)
	}
}
