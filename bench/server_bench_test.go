package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// serverClients are the clients a real-server benchmark compares.
func serverClients() []string { return clientOrder(clientPgstrict, clientPgconn) }

// serverDSN returns the URL of a fresh database of the test cluster, or
// skips (fails in CI) when no server can be had. TLS is off: over loopback
// it would dominate the client costs these benchmarks compare.
func serverDSN(b *testing.B) string {
	b.Helper()
	return pgtest.MustDatabase(b).URL(pgtest.RoleSuperuser, "sslmode=disable")
}

// warmUp runs op, unmeasured, for warmUpTime or warmUpOps ops, whichever
// ends first: the first requests of a session pay for the new server
// backend's caches, page faults and the scheduler's first wake-ups, which
// would otherwise land in the loop of whichever client a process measures
// first and widen both clients' intervals. Round-trip benchmarks, whose
// ops are short, call it before their meter starts.
func warmUp(b *testing.B, op func() error) {
	b.Helper()
	deadline := time.Now().Add(warmUpTime)
	for i := 0; i < warmUpOps && time.Now().Before(deadline); i++ {
		if err := op(); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
}

// The limits of warmUp.
const (
	warmUpTime = 200 * time.Millisecond
	warmUpOps  = 2000
)

// BenchmarkRoundTripSimple runs "select 1" as a simple Query: the latency
// of one round trip, dominated by the server and the loopback.
func BenchmarkRoundTripSimple(b *testing.B) {
	dsn := serverDSN(b)
	for _, client := range serverClients() {
		b.Run(client, func(b *testing.B) {
			s := mustOpen(b, client, dsn, nil)
			ctx := context.Background()
			warmUp(b, func() error {
				_, _, err := s.query(ctx, "select 1", nil)
				return err
			})
			m := newMeter(b, "", 1, 0)
			for b.Loop() {
				rows, size, err := s.query(ctx, "select 1", nil)
				verify(b, rows, size, err, 1, 1)
				m.op()
			}
			m.done()
		})
	}
}

// BenchmarkRoundTripExtended runs "select $1::int" through the extended
// protocol (Parse, Bind, Describe, Execute, Sync in one write).
func BenchmarkRoundTripExtended(b *testing.B) {
	dsn := serverDSN(b)
	params := [][]byte{[]byte("1")}
	for _, client := range serverClients() {
		b.Run(client, func(b *testing.B) {
			s := mustOpen(b, client, dsn, nil)
			ctx := context.Background()
			warmUp(b, func() error {
				_, _, err := s.execParams(ctx, "select $1::int", params)
				return err
			})
			m := newMeter(b, "", 1, 0)
			for b.Loop() {
				rows, size, err := s.execParams(ctx, "select $1::int", params)
				verify(b, rows, size, err, 1, 1)
				m.op()
			}
			m.done()
		})
	}
}

// read2MRows is the row count of BenchmarkRead2M.
const read2MRows = 2_000_000

// read2MValueBytes returns the value bytes of the 2M-row result: g, 'row '
// || g and g*1.5 (a numeric with one decimal) for g in 1..n.
func read2MValueBytes(n int) int {
	total := 0
	for g := 1; g <= n; g++ {
		digits := len(strconv.Itoa(g))
		total += digits + 4 + digits + len(strconv.Itoa(g*15/10)) + 2
	}
	return total
}

// BenchmarkRead2M reads a 2,000,000-row result of three columns from the
// server with a simple Query, row by row. It reports rows/s, ns/row,
// allocs/row, B/row (bytes allocated per row) and peak-heap-KiB, the
// largest growth of the heap (live and unswept objects, sampled every 65,536
// rows) over its size after a GC before the read: a streaming reader keeps
// it near zero whatever the result size.
func BenchmarkRead2M(b *testing.B) {
	dsn := serverDSN(b)
	const sql = "select g, 'row ' || g, g * 1.5 from generate_series(1, 2000000) g"
	want := read2MValueBytes(read2MRows)
	for _, client := range serverClients() {
		b.Run(client, func(b *testing.B) {
			s := mustOpen(b, client, dsn, nil)
			ctx := context.Background()
			m := newMeter(b, "row", read2MRows, 0)
			m.reportRate()
			m.watchHeap()
			for b.Loop() {
				rows, size, err := s.query(ctx, sql, m.probeHeap)
				verify(b, rows, size, err, read2MRows, want)
				m.op()
			}
			m.done()
		})
	}
}

// serverPipelineDepth is the number of queries of BenchmarkPipeline10k.
const serverPipelineDepth = 10_000

// BenchmarkPipeline10k queues 10,000 "select $1::int" and one Sync on a
// pipeline, then reads every result: pgstrict's Pipeline against pgconn's.
// One op is the whole pipeline; ns/query and allocs/query divide by 10,000.
func BenchmarkPipeline10k(b *testing.B) {
	dsn := serverDSN(b)
	k := serverPipelineDepth
	params := [][]byte{[]byte(PipelineValue)}
	for _, client := range serverClients() {
		b.Run(client, func(b *testing.B) {
			s := mustOpen(b, client, dsn, nil)
			ctx := context.Background()
			m := newMeter(b, "query", k, 0)
			for b.Loop() {
				rows, size, err := s.pipeline(ctx, PipelineQuery, params, k)
				verify(b, rows, size, err, k, k*len(PipelineValue))
				m.op()
			}
			m.done()
		})
	}
}
