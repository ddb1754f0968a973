package conn_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// benchConn is an in-memory server for micro benchmarks: each Write (a
// request) releases the next reply, the scripted ones first and then loop
// forever; Read serves the released reply and blocks at its end until the
// next Write, as a socket does. Written bytes are discarded. The macro
// benchmarks of package bench use the same idea (bench.ReplayConn).
type benchConn struct {
	mu       sync.Mutex // guards following fields
	wake     *sync.Cond
	script   [][]byte // replies still to serve before loop
	loop     []byte
	cur      []byte
	off      int
	released bool
	closed   bool
}

func newBenchConn(loop []byte, script ...[]byte) *benchConn {
	c := &benchConn{script: script, loop: loop}
	c.wake = sync.NewCond(&c.mu)
	return c
}

func (c *benchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.off < len(c.cur):
			n := copy(p, c.cur[c.off:])
			c.off += n
			return n, nil
		case c.released:
			c.released, c.off, c.cur = false, 0, c.loop
			if len(c.script) > 0 {
				c.cur, c.script = c.script[0], c.script[1:]
			}
		default:
			c.wake.Wait()
		}
	}
}

func (c *benchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.released = true
	c.wake.Broadcast()
	return len(p), nil
}

func (c *benchConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.wake.Broadcast()
	return nil
}

func benchAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432} }

func (c *benchConn) LocalAddr() net.Addr              { return benchAddr() }
func (c *benchConn) RemoteAddr() net.Addr             { return benchAddr() }
func (c *benchConn) SetDeadline(time.Time) error      { return nil }
func (c *benchConn) SetReadDeadline(time.Time) error  { return nil }
func (c *benchConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*benchConn)(nil)

// benchStartup is a server's reply to a trust-authenticated protocol 3.0
// StartupMessage.
func benchStartup(tb testing.TB) []byte {
	return pgtest.MustEncodeBackend(tb,
		&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.ParameterStatus{Name: "server_encoding", Value: "UTF8"},
		&pgproto3.ParameterStatus{Name: "server_version", Value: "18.0"},
		&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"},
		&pgproto3.ParameterStatus{Name: "integer_datetimes", Value: "on"},
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
}

// benchConnect connects over a benchConn serving the startup reply, then
// script, then loop forever.
func benchConnect(tb testing.TB, trusted bool, loop []byte, script ...[]byte) *conn.Conn {
	tb.Helper()
	bc := newBenchConn(loop, append([][]byte{benchStartup(tb)}, script...)...)
	cfg := mustParseConfig(tb, "host=127.0.0.1 user=bench sslmode=disable max_protocol_version=3.0")
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return bc, nil }
	cfg.SkipValueValidation = trusted
	return mustConnectConfig(tb, cfg)
}

// benchField is a text-format column description.
func benchField(name string, oid uint32) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: oid, DataTypeSize: -1, TypeModifier: -1}
}

// benchResult encodes the reply to a simple Query: RowDescription, n copies
// of row, CommandComplete and ReadyForQuery.
func benchResult(tb testing.TB, fields []pgproto3.FieldDescription, row [][]byte, n int) []byte {
	tb.Helper()
	out := pgtest.MustEncodeBackend(tb, &pgproto3.RowDescription{Fields: fields})
	one := pgtest.MustEncodeBackend(tb, &pgproto3.DataRow{Values: row})
	for range n {
		out = append(out, one...)
	}
	return append(out, pgtest.MustEncodeBackend(tb,
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(n))},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})...)
}

// readAll reads every row of one simple Query through the streaming API,
// touching each value's length, and returns the row count and value bytes.
func readAll(ctx context.Context, c *conn.Conn, sql string) (rows, size int, err error) {
	mrr := c.Exec(ctx, sql)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			rows++
			for _, v := range rr.Values() {
				size += len(v)
			}
		}
	}
	return rows, size, mrr.Close()
}

// BenchmarkReadResult reads a 1,000-row result from memory through
// Exec/NextResult/NextRow/Values. One op is one query; ns/row is reported
// too. The row shapes:
//   - int4: one short column, so the fixed per-row cost (framing, decode,
//     state tracking) dominates;
//   - mixed: an int, a short text, a NULL and a 100-byte text, a typical
//     row;
//   - text1k: one 1 KiB text value, so the per-byte cost (the UTF-8 and NUL
//     check of text values) dominates;
//   - text1k-trusted: the same with Config.SkipValueValidation, to show
//     what that check costs.
func BenchmarkReadResult(b *testing.B) {
	const n = 1000
	kib := bytes.Repeat([]byte("x"), 1024)
	tests := []struct {
		name    string
		fields  []pgproto3.FieldDescription
		row     [][]byte
		trusted bool
	}{
		{name: "int4", fields: []pgproto3.FieldDescription{benchField("id", 23)}, row: [][]byte{[]byte("42")}},
		{name: "mixed", fields: []pgproto3.FieldDescription{benchField("id", 23), benchField("name", 25), benchField("note", 25), benchField("payload", 25)},
			row: [][]byte{[]byte("123456"), []byte("row 123456"), nil, kib[:100]}},
		{name: "text1k", fields: []pgproto3.FieldDescription{benchField("doc", 25)}, row: [][]byte{kib}},
		{name: "text1k-trusted", fields: []pgproto3.FieldDescription{benchField("doc", 25)}, row: [][]byte{kib}, trusted: true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			reply := benchResult(b, tt.fields, tt.row, n)
			want := 0
			for _, v := range tt.row {
				want += len(v)
			}
			want *= n
			c := benchConnect(b, tt.trusted, reply)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			for b.Loop() {
				rows, size, err := readAll(ctx, c, "select")
				if err != nil || rows != n || size != want {
					b.Fatalf("read %d rows of %d bytes (%v), want %d of %d", rows, size, err, n, want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}

// BenchmarkRequestOverhead measures the fixed cost of one request that
// returns one one-column row, through each way of sending it: a simple
// Query, ExecParams (Parse, Bind, Describe, Execute, Sync) and ExecPrepared
// of a statement whose description is cached (Bind, Execute, Sync).
func BenchmarkRequestOverhead(b *testing.B) {
	ctx := context.Background()
	field := []pgproto3.FieldDescription{benchField("v", 23)}
	row := &pgproto3.DataRow{Values: [][]byte{[]byte("1")}}
	done := []pgproto3.BackendMessage{&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'}}
	b.Run("simple", func(b *testing.B) {
		c := benchConnect(b, false, benchResult(b, field, [][]byte{[]byte("1")}, 1))
		b.ReportAllocs()
		for b.Loop() {
			if rows, _, err := readAll(ctx, c, "select 1"); err != nil || rows != 1 {
				b.Fatalf("%d rows, %v", rows, err)
			}
		}
	})
	b.Run("extended", func(b *testing.B) {
		reply := pgtest.MustEncodeBackend(b, append([]pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{},
			&pgproto3.RowDescription{Fields: field}, row}, done...)...)
		c := benchConnect(b, false, reply)
		b.ReportAllocs()
		for b.Loop() {
			r := c.ExecParams(ctx, "select $1::int", [][]byte{[]byte("1")}, nil, nil, nil).Read()
			if r.Err != nil || len(r.Rows) != 1 {
				b.Fatalf("%d rows, %v", len(r.Rows), r.Err)
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		prepare := pgtest.MustEncodeBackend(b, &pgproto3.ParseComplete{}, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23}},
			&pgproto3.RowDescription{Fields: field}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
		reply := pgtest.MustEncodeBackend(b, append([]pgproto3.BackendMessage{&pgproto3.BindComplete{}, row}, done...)...)
		c := benchConnect(b, false, reply, prepare)
		if _, err := c.Prepare(ctx, "s", "select $1::int", nil); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			r := c.ExecPrepared(ctx, "s", [][]byte{[]byte("1")}, nil, nil).Read()
			if r.Err != nil || len(r.Rows) != 1 {
				b.Fatalf("%d rows, %v", len(r.Rows), r.Err)
			}
		}
	})
}
