package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// readReply reads from c until n bytes arrived.
func readReply(tb testing.TB, c net.Conn, n, chunk int) []byte {
	tb.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for len(out) < n {
		m, err := c.Read(buf)
		require.NoError(tb, err)
		out = append(out, buf[:m]...)
	}
	return out
}

func TestReplayConn(t *testing.T) {
	head, loop := []byte("startup-reply"), []byte("one-reply")
	tests := []struct {
		name  string
		chunk int
	}{
		{name: "whole replies", chunk: 1024},
		{name: "small reads", chunk: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := NewReplayConn(head, loop)
			_, err := rc.Write([]byte("startup"))
			require.NoError(t, err)
			assert.Equal(t, head, readReply(t, rc, len(head), tt.chunk), "the first write is answered with head")
			for i := range 3 {
				_, err := rc.Write([]byte("query"))
				require.NoError(t, err)
				assert.Equal(t, loop, readReply(t, rc, len(loop), tt.chunk), "reply %d", i)
			}
			assert.Equal(t, int64(len(head)+3*len(loop)), rc.Served())
		})
	}
}

func TestReplayConnNeverReadsAhead(t *testing.T) {
	rc := NewReplayConn([]byte("head"), []byte("loop"))
	_, err := rc.Write([]byte("x"))
	require.NoError(t, err)
	// One read asks for more than the reply: it gets the reply only, not
	// the start of the next one, which has not been asked for.
	buf := make([]byte, 64)
	n, err := rc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "head", string(buf[:n]))

	// Two writes before a read release one reply, not two.
	_, err = rc.Write([]byte("a"))
	require.NoError(t, err)
	_, err = rc.Write([]byte("b"))
	require.NoError(t, err)
	n, err = rc.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "loop", string(buf[:n]))

	// Nothing is released now: a blocked read ends with Close.
	done := make(chan error, 1)
	go func() {
		_, err := rc.Read(buf)
		done <- err
	}()
	require.NoError(t, rc.Close())
	err = <-done
	assert.ErrorIs(t, err, ErrReplayClosed)
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestReplayConnEdges(t *testing.T) {
	t.Run("empty loop is the end of the stream", func(t *testing.T) {
		rc := NewReplayConn([]byte("head"), nil)
		_, err := rc.Write([]byte("x"))
		require.NoError(t, err)
		assert.Equal(t, []byte("head"), readReply(t, rc, 4, 16))
		_, err = rc.Write([]byte("x"))
		require.NoError(t, err)
		_, err = rc.Read(make([]byte, 16))
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("closed", func(t *testing.T) {
		rc := NewReplayConn([]byte("head"), []byte("loop"))
		require.NoError(t, rc.Close())
		require.NoError(t, rc.Close(), "Close is idempotent")
		_, err := rc.Write([]byte("x"))
		assert.ErrorIs(t, err, ErrReplayClosed)
		_, err = rc.Read(make([]byte, 4))
		assert.ErrorIs(t, err, ErrReplayClosed)
	})
	t.Run("one dial", func(t *testing.T) {
		rc := NewReplayConn(nil, []byte("loop"))
		nc, err := rc.Dial(context.Background(), "tcp", "x")
		require.NoError(t, err)
		assert.Same(t, rc, nc)
		_, err = rc.Dial(context.Background(), "tcp", "x")
		assert.ErrorIs(t, err, errRedial)
	})
}

func TestMixedRowsValueBytes(t *testing.T) {
	// 3 rows: "1" "row 1" NULL 100 x, "2" ..., "3" ...
	assert.Equal(t, 3*(1+5+100), MixedRowsValueBytes(3))
	// Row 16 carries the 1 KiB payload.
	assert.Equal(t, MixedRowsValueBytes(15)+2+6+1024, MixedRowsValueBytes(16))
}

// TestReplayClients runs every client of the replay benchmarks over each
// replayed stream several times and checks that it reads every row and
// value byte: the benchmarks compare equal work.
func TestReplayClients(t *testing.T) {
	params := [][]byte{[]byte(PipelineValue)}
	tests := []struct {
		name     string
		reply    []byte
		run      func(s session) (int, int, error)
		rows     int
		valBytes int
	}{
		{name: "query 1 row", reply: MixedRowsReply(1, false),
			run:  func(s session) (int, int, error) { return s.query(context.Background(), MixedRowsQuery(1), nil) },
			rows: 1, valBytes: MixedRowsValueBytes(1)},
		{name: "query 37 rows", reply: MixedRowsReply(37, false),
			run:  func(s session) (int, int, error) { return s.query(context.Background(), MixedRowsQuery(37), nil) },
			rows: 37, valBytes: MixedRowsValueBytes(37)},
		{name: "exec params 37 rows", reply: MixedRowsReply(37, true),
			run:  func(s session) (int, int, error) { return s.execParams(context.Background(), MixedRowsQuery(37), nil) },
			rows: 37, valBytes: MixedRowsValueBytes(37)},
		{name: "pipeline of 5", reply: PipelineReply(5),
			run:  func(s session) (int, int, error) { return s.pipeline(context.Background(), PipelineQuery, params, 5) },
			rows: 5, valBytes: 5 * len(PipelineValue)},
		{name: "copy out 37 rows", reply: CopyOutReply(37), run: copyOutRun(37),
			rows: 37, valBytes: CopyOutDataBytes(37)},
	}
	for _, tt := range tests {
		for _, client := range replayClients() {
			t.Run(tt.name+"/"+client, func(t *testing.T) {
				s := openReplay(t, client, tt.reply)
				for i := range 3 {
					rows, size, err := tt.run(s)
					require.NoError(t, err, "request %d", i)
					assert.Equal(t, tt.rows, rows, "rows of request %d", i)
					assert.Equal(t, tt.valBytes, size, "value bytes of request %d", i)
				}
			})
		}
	}
}

// recordingConn keeps a copy of what is read while on is set. It is used
// from the goroutine that reads only.
type recordingConn struct {
	net.Conn
	on  bool
	got bytes.Buffer
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if r.on {
		r.got.Write(p[:n])
	}
	return n, err
}

// TestReplayMatchesServer checks that the synthesized replies are, byte for
// byte, what PostgreSQL sends for the same requests.
func TestReplayMatchesServer(t *testing.T) {
	db := pgtest.MustDatabase(t)
	params := [][]byte{[]byte(PipelineValue)}
	tests := []struct {
		name string
		want []byte
		run  func(s session) (int, int, error)
	}{
		{name: "simple query", want: MixedRowsReply(40, false),
			run: func(s session) (int, int, error) { return s.query(context.Background(), MixedRowsQuery(40), nil) }},
		{name: "extended query", want: MixedRowsReply(40, true),
			run: func(s session) (int, int, error) { return s.execParams(context.Background(), MixedRowsQuery(40), nil) }},
		{name: "pipeline", want: PipelineReply(3),
			run: func(s session) (int, int, error) { return s.pipeline(context.Background(), PipelineQuery, params, 3) }},
		{name: "copy out", want: CopyOutReply(40), run: copyOutRun(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingConn{}
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				rec.Conn = nc
				return rec, nil
			}
			s := mustOpen(t, clientPgstrict, db.URL(pgtest.RoleSuperuser, "sslmode=disable"), dial)
			rec.on = true
			_, _, err := tt.run(s)
			rec.on = false
			require.NoError(t, err)
			got := rec.got.Bytes()
			if !bytes.Equal(tt.want, got) {
				i := firstDiff(tt.want, got)
				t.Errorf("the server sent %d bytes, the replay has %d; first difference at byte %d:\nserver %s\nreplay %s",
					len(got), len(tt.want), i, window(got, i), window(tt.want, i))
			}
		})
	}
}

// copyOutRun runs CopyOutQuery(n) into a counting discard and returns the
// tag's row count and the bytes written.
func copyOutRun(n int) func(s session) (int, int, error) {
	return func(s session) (int, int, error) {
		w := &countingDiscard{}
		rows, err := s.copyTo(context.Background(), CopyOutQuery(n), w)
		return int(rows), int(w.n), err
	}
}

func TestStartupReplyIsAccepted(t *testing.T) {
	// A pgstrict connection over the replay reports the replayed session.
	s := openReplay(t, clientPgstrict, MixedRowsReply(1, false))
	c := s.(*pgstrictSession).c
	assert.Equal(t, uint32(4242), c.PID())
	assert.Equal(t, "15.18 (Debian 15.18-0+deb12u1)", c.ParameterStatus("server_version"))
	assert.Equal(t, wire.TxStatus('I'), c.TxStatus())
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func window(b []byte, i int) string {
	lo, hi := max(0, i-16), min(len(b), i+16)
	return fmt.Sprintf("[%d:%d] %q", lo, hi, b[lo:hi])
}

func TestClientOrder(t *testing.T) {
	t.Setenv(ClientOrderEnv, "")
	assert.Equal(t, []string{clientPgstrict, clientPgconn, clientPgproto3}, replayClients())
	t.Setenv(ClientOrderEnv, "1")
	assert.Equal(t, []string{clientPgproto3, clientPgconn, clientPgstrict}, replayClients())
	assert.Equal(t, []string{clientPgconn, clientPgstrict}, serverClients())
}
