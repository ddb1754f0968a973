//go:build unix

package bench

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgstrict/pgstrict/conn"
	pgcopy "github.com/pgstrict/pgstrict/copy"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// copyRows is the row count of the COPY benchmarks: 2M rows of an int, a
// text and a float, about 75 MB of text COPY data.
const copyRows = 2_000_000

// copyClientPgx is pgx's top-level CopyFrom, the baseline of row encoding.
const copyClientPgx = "pgx"

// copyDSN returns the URL of a fresh database (no TLS: over loopback it
// would dominate the client costs compared here).
func copyDSN(b *testing.B) string {
	b.Helper()
	return pgtest.MustDatabase(b).URL(pgtest.RoleSuperuser, "sslmode=disable")
}

// copyValue returns row i of the benchmark data.
func copyValue(i int) (int32, string, float64) {
	return int32(i), "row " + strconv.Itoa(i) + " of text", float64(i) + 0.25
}

// copyText returns the benchmark rows as text COPY data, as the server
// prints them (the rows of CopyOutQuery).
func copyText() []byte {
	buf := make([]byte, 0, 80<<20)
	for i := 1; i <= copyRows; i++ {
		buf = CopyOutRow(buf, i)
	}
	return buf
}

// copyMeter reports the client's CPU time (user and system, from
// getrusage: the server is another process) per op and per MB moved.
type copyMeter struct {
	b     *testing.B
	bytes int64
	ops   int
	start syscall.Rusage
}

func newCopyMeter(b *testing.B, bytes int64) *copyMeter {
	b.ReportAllocs()
	b.SetBytes(bytes)
	// Collect the garbage of the setup (the 75 MB of data) now, so that
	// its cost does not land on whichever client runs first.
	runtime.GC()
	m := &copyMeter{b: b, bytes: bytes}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &m.start); err != nil {
		b.Fatal(err)
	}
	return m
}

func (m *copyMeter) op() { m.ops++ }

func rusageCPU(r *syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func (m *copyMeter) done() {
	var end syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &end); err != nil {
		m.b.Fatal(err)
	}
	if m.ops == 0 {
		return
	}
	cpu := rusageCPU(&end) - rusageCPU(&m.start)
	m.b.ReportMetric(float64(cpu.Milliseconds())/float64(m.ops), "cpu-ms/op")
	m.b.ReportMetric(float64(cpu.Nanoseconds())/float64(m.ops)/(float64(m.bytes)/1e6), "cpu-ns/MB")
}

// copyClients opens one connection per client to dsn.
type copyClients struct {
	strict *conn.Conn
	pgconn *pgconn.PgConn
}

func openCopyClients(b *testing.B, dsn string) copyClients {
	b.Helper()
	ctx := context.Background()
	c, err := conn.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	pc, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close(context.Background()) })
	return copyClients{strict: c, pgconn: pc}
}

func mustExecCopy(b *testing.B, c *conn.Conn, sql string) {
	b.Helper()
	if _, err := c.Exec(context.Background(), sql).ReadAll(); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

// BenchmarkCopyFrom75MB streams 2M rows (about 75 MB of text COPY data)
// from memory into an unlogged table: pgcopy.From against pgconn.CopyFrom.
// The table is truncated before each op, in the timed loop for both.
func BenchmarkCopyFrom75MB(b *testing.B) {
	dsn := copyDSN(b)
	data := copyText()
	cl := openCopyClients(b, dsn)
	mustExecCopy(b, cl.strict, "create unlogged table copy_from (a int4, b text, c float8)")
	const sql = "copy copy_from from stdin"
	for _, client := range serverClients() {
		b.Run(client, func(b *testing.B) {
			ctx := context.Background()
			m := newCopyMeter(b, int64(len(data)))
			for b.Loop() {
				mustExecCopy(b, cl.strict, "truncate copy_from")
				var n int64
				var err error
				switch client {
				case clientPgstrict:
					n, err = pgcopy.From(ctx, cl.strict, sql, bytes.NewReader(data))
				case clientPgconn:
					var tag pgconn.CommandTag
					tag, err = cl.pgconn.CopyFrom(ctx, bytes.NewReader(data), sql)
					n = tag.RowsAffected()
				}
				if err != nil || n != copyRows {
					b.Fatalf("%s: %d rows, %v", client, n, err)
				}
				m.op()
			}
			m.done()
		})
	}
}

// copyDestinations are the writers of BenchmarkCopyTo75MB: a counting
// discard (the client's own cost only) and a file in memory-backed storage
// where there is one (what an export does: every Write is a system call).
func copyDestinations(b *testing.B) []string {
	dests := []string{"discard"}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dests = append(dests, "file")
	} else {
		b.Logf("no /dev/shm: the file destination is skipped")
	}
	return dests
}

// BenchmarkCopyTo75MB streams the same 2M rows out of the table to a
// writer: pgcopy.To against pgconn.CopyTo. pgconn writes each row (one
// CopyData) to the writer as it comes; pgcopy.To gathers rows into writes
// of up to 256 KiB.
func BenchmarkCopyTo75MB(b *testing.B) {
	dsn := copyDSN(b)
	data := copyText()
	cl := openCopyClients(b, dsn)
	mustExecCopy(b, cl.strict, "create unlogged table copy_to (a int4, b text, c float8)")
	if _, err := pgcopy.From(context.Background(), cl.strict, "copy copy_to from stdin", bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	mustExecCopy(b, cl.strict, "vacuum analyze copy_to")
	const sql = "copy copy_to to stdout"
	for _, dest := range copyDestinations(b) {
		for _, client := range serverClients() {
			b.Run(dest+"/"+client, func(b *testing.B) {
				ctx := context.Background()
				var f *os.File
				if dest == "file" {
					var err error
					if f, err = os.CreateTemp("/dev/shm", "pgstrict-copy-bench-*"); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
				}
				m := newCopyMeter(b, int64(len(data)))
				for b.Loop() {
					count := &countingDiscard{}
					var w io.Writer = count
					if f != nil {
						if _, err := f.Seek(0, io.SeekStart); err != nil {
							b.Fatal(err)
						}
						w = io.MultiWriter(f, count)
					}
					var n int64
					var err error
					switch client {
					case clientPgstrict:
						n, err = pgcopy.To(ctx, cl.strict, sql, w)
					case clientPgconn:
						var tag pgconn.CommandTag
						tag, err = cl.pgconn.CopyTo(ctx, w, sql)
						n = tag.RowsAffected()
					}
					if err != nil || n != copyRows || count.n != int64(len(data)) {
						b.Fatalf("%s: %d rows, %d bytes (want %d), %v", client, n, count.n, len(data), err)
					}
					m.op()
				}
				m.done()
			})
		}
	}
}

// BenchmarkCopyFromRowsBinary copies 2M rows of Go values (int32, string,
// float64) in the binary format: pgcopy.FromRows against pgx's CopyFrom with
// CopyFromRows, both reading the same [][]any. Both encode with pgtype
// codecs; the difference is in how rows reach the socket.
func BenchmarkCopyFromRowsBinary(b *testing.B) {
	dsn := copyDSN(b)
	rows := make([][]any, copyRows)
	for i := range rows {
		id, s, f := copyValue(i + 1)
		rows[i] = []any{id, s, f}
	}
	cl := openCopyClients(b, dsn)
	mustExecCopy(b, cl.strict, "create unlogged table copy_rows (a int4, b text, c float8)")
	px, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { px.Close(context.Background()) })
	// The binary data is about 68 MB: 2M rows of 2 + 8 + 4 + 4 + ~30 + 4 + 8
	// bytes.
	var size int64
	for _, r := range rows {
		size += 2 + 3*4 + 4 + int64(len(r[1].(string))) + 8
	}
	for _, client := range clientOrder(clientPgstrict, copyClientPgx) {
		b.Run(client, func(b *testing.B) {
			ctx := context.Background()
			m := newCopyMeter(b, size)
			for b.Loop() {
				mustExecCopy(b, cl.strict, "truncate copy_rows")
				var n int64
				var err error
				switch client {
				case clientPgstrict:
					n, err = pgcopy.FromRows(ctx, cl.strict, "copy_rows", []string{"a", "b", "c"}, pgcopy.SliceRows(rows), pgcopy.FormatBinary)
				case copyClientPgx:
					n, err = px.CopyFrom(ctx, pgx.Identifier{"copy_rows"}, []string{"a", "b", "c"}, pgx.CopyFromRows(rows))
				}
				if err != nil || n != copyRows {
					b.Fatalf("%s: %d rows, %v", client, n, err)
				}
				m.op()
			}
			m.done()
		})
	}
}
