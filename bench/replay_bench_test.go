package bench

import (
	"context"
	"strconv"
	"testing"
)

// replayClients are the clients a replay benchmark compares: pgstrict, the
// pgconn baseline and the pgproto3 floor.
func replayClients() []string { return clientOrder(clientPgstrict, clientPgconn, clientPgproto3) }

// openReplay connects client to a ReplayConn serving the startup reply and
// then loop; the session is closed in tb.Cleanup.
func openReplay(tb testing.TB, client string, loop []byte) session {
	tb.Helper()
	rc := NewReplayConn(StartupReply(), loop)
	return mustOpen(tb, client, ReplayDSN, rc.Dial)
}

// verify fails the benchmark when a request failed or did not read
// exactly the rows and value bytes the stream holds.
func verify(tb testing.TB, rows, size int, err error, wantRows, wantSize int) {
	if err == nil && rows == wantRows && size == wantSize {
		return // before tb.Helper, which costs a stack walk on every call
	}
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Fatalf("read %d rows of %d value bytes, want %d rows of %d", rows, size, wantRows, wantSize)
}

// replaySizes are the row counts of the replayed results: 1 row measures
// the fixed cost of a query (send, result set-up, command tag, ready), 100
// rows a typical page of an OLTP read, and 1,000,000 rows (about 190 MB) a
// streaming read where the per-row cost is all that matters.
func replaySizes() []int { return []int{1, 100, 1_000_000} }

// BenchmarkReplayQuery reads the reply to one simple Query of MixedRowsQuery
// (four columns: int, short text, NULL, 100-byte text, 1 KiB on every 16th
// row) from memory through each client. One op is one query; ns/row,
// allocs/row and B/row divide by its rows, MB/s counts the wire bytes.
func BenchmarkReplayQuery(b *testing.B) {
	for _, n := range replaySizes() {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			// Built here, not before b.Run: a filtered-out size costs nothing.
			sql, reply, want := MixedRowsQuery(n), MixedRowsReply(n, false), MixedRowsValueBytes(n)
			for _, client := range replayClients() {
				b.Run(client, func(b *testing.B) {
					s := openReplay(b, client, reply)
					ctx := context.Background()
					m := newMeter(b, "row", n, len(reply))
					for b.Loop() {
						rows, size, err := s.query(ctx, sql, nil)
						verify(b, rows, size, err, n, want)
						m.op()
					}
					m.done()
				})
			}
		})
	}
}

// BenchmarkReplayExecParams is BenchmarkReplayQuery through the extended
// protocol (Parse, Bind, Describe portal, Execute, Sync): one row shows the
// fixed cost of an extended round trip, 100 rows a typical read.
func BenchmarkReplayExecParams(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			sql, reply, want := MixedRowsQuery(n), MixedRowsReply(n, true), MixedRowsValueBytes(n)
			for _, client := range replayClients() {
				b.Run(client, func(b *testing.B) {
					s := openReplay(b, client, reply)
					ctx := context.Background()
					m := newMeter(b, "row", n, len(reply))
					for b.Loop() {
						rows, size, err := s.execParams(ctx, sql, nil)
						verify(b, rows, size, err, n, want)
						m.op()
					}
					m.done()
				})
			}
		})
	}
}

// replayPipelineDepth is the number of queries of one replayed pipeline.
const replayPipelineDepth = 10_000

// BenchmarkReplayPipeline reads the replies to a pipeline of 10,000
// one-row queries (PipelineQuery) and one Sync. One op is the whole
// pipeline: queue, write (discarded), read every result; ns/query and
// allocs/query divide by its queries.
func BenchmarkReplayPipeline(b *testing.B) {
	k := replayPipelineDepth
	reply := PipelineReply(k)
	params := [][]byte{[]byte(PipelineValue)}
	for _, client := range replayClients() {
		b.Run(client, func(b *testing.B) {
			s := openReplay(b, client, reply)
			ctx := context.Background()
			m := newMeter(b, "query", k, len(reply))
			for b.Loop() {
				rows, size, err := s.pipeline(ctx, PipelineQuery, params, k)
				verify(b, rows, size, err, k, k*len(PipelineValue))
				m.op()
			}
			m.done()
		})
	}
}

// BenchmarkReplayCopyTo reads the reply to a COPY TO STDOUT of 2M rows of an
// int, a text and a float (CopyOutQuery: about 75 MB of COPY data in 2M
// CopyData messages, the data of the real-server COPY benchmarks) and
// writes the data to a counting discard: pgcopy.To, pgconn's CopyTo and a
// bare pgproto3 loop. One op is the whole COPY; ns/row and allocs/row
// divide by its rows, MB/s counts the wire bytes.
func BenchmarkReplayCopyTo(b *testing.B) {
	sql, reply, want := CopyOutQuery(copyRows), CopyOutReply(copyRows), CopyOutDataBytes(copyRows)
	for _, client := range replayClients() {
		b.Run(client, func(b *testing.B) {
			s := openReplay(b, client, reply)
			ctx := context.Background()
			m := newMeter(b, "row", copyRows, len(reply))
			for b.Loop() {
				w := &countingDiscard{}
				rows, err := s.copyTo(ctx, sql, w)
				verify(b, int(rows), int(w.n), err, copyRows, want)
				m.op()
			}
			m.done()
		})
	}
}
