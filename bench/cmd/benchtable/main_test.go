package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/pgstrict/pgstrict/bench
cpu: AMD EPYC
BenchmarkReplayQuery/rows=100/pgstrict-2   100  20000 ns/op  500.00 MB/s  200.0 ns/row  0.08 allocs/row  8 allocs/op
BenchmarkReplayQuery/rows=100/pgconn-2     100  10000 ns/op 1000.00 MB/s  100.0 ns/row  0.05 allocs/row  5 allocs/op
BenchmarkReplayQuery/rows=100/pgproto3-2   100   5000 ns/op 2000.00 MB/s   50.0 ns/row  0.00 allocs/row  0 allocs/op
BenchmarkReplayQuery/rows=100/pgstrict-2   100  20400 ns/op  490.00 MB/s  204.0 ns/row  0.08 allocs/row  8 allocs/op
BenchmarkReplayQuery/rows=100/pgconn-2     100  10100 ns/op  990.00 MB/s  101.0 ns/row  0.05 allocs/row  5 allocs/op
BenchmarkReplayQuery/rows=100/pgproto3-2   100   5050 ns/op 1980.00 MB/s   50.5 ns/row  0.00 allocs/row  0 allocs/op
BenchmarkLonely/pgconn-2                   100   5000 ns/op
BenchmarkNoClient-2                        100   5000 ns/op
PASS
`

func TestParse(t *testing.T) {
	set := parse(strings.NewReader(sample))
	require.Len(t, set.groups, 1, "groups without pgstrict and a baseline are dropped")
	g := set.groups[0]
	assert.Equal(t, "ReplayQuery/rows=100", g.name)
	assert.Equal(t, []string{"pgstrict", "pgconn", "pgproto3"}, g.clients)
	assert.Equal(t, []string{"ns/row", "MB/s", "allocs/row"}, g.units, "per-row units replace per-op ones")
	assert.Equal(t, []float64{200, 204}, g.values["pgstrict"]["ns/row"])
	assert.Equal(t, []string{"goos: linux", "goarch: amd64", "pkg: github.com/pgstrict/pgstrict/bench", "cpu: AMD EPYC"}, set.header)
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name         string
		in           []float64
		median, l, h float64
	}{
		{name: "one run", in: []float64{5}, median: 5, l: 5, h: 5},
		{name: "even count", in: []float64{4, 1, 3, 2}, median: 2.5, l: 1, h: 4},
		{name: "six runs: min and max", in: []float64{6, 1, 5, 2, 4, 3}, median: 3.5, l: 1, h: 6},
		{name: "ten runs: second smallest and largest", in: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, median: 5.5, l: 2, h: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.in)
			assert.Equal(t, tt.median, s.median)
			assert.Equal(t, tt.l, s.l)
			assert.Equal(t, tt.h, s.h)
		})
	}
}

func TestUDistribution(t *testing.T) {
	tests := []struct {
		name  string
		m, n  int
		total float64
	}{
		{name: "1x1", m: 1, n: 1, total: 2},
		{name: "2x3", m: 2, n: 3, total: 10},
		{name: "6x6", m: 6, n: 6, total: 924},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := uDistribution(tt.m, tt.n)
			require.Len(t, d, tt.m*tt.n+1)
			sum := 0.0
			for i, c := range d {
				sum += c
				assert.Equal(t, c, d[len(d)-1-i], "symmetric")
			}
			assert.Equal(t, tt.total, sum, "C(m+n, m) orderings")
		})
	}
}

func TestCompare(t *testing.T) {
	a := []float64{200, 201, 202, 203, 204, 205}
	b := []float64{100, 101, 102, 103, 104, 105}
	c := compare(a, b)
	require.True(t, c.ok)
	assert.InDelta(t, 202.5/102.5, c.ratio, 0.005, "about the ratio of the medians")
	assert.Less(t, c.lo, c.ratio)
	assert.Greater(t, c.hi, c.ratio)
	assert.InDelta(t, 2.0/924, c.p, 1e-9, "complete separation of 6 and 6 runs: the smallest two-sided p")

	same := compare(a, a)
	assert.InDelta(t, 1.0, same.ratio, 1e-9)
	assert.Greater(t, same.p, alpha, "identical samples do not differ")
	assert.LessOrEqual(t, same.lo, 1.0)
	assert.GreaterOrEqual(t, same.hi, 1.0)

	// For 6 and 6 runs the 95% interval runs from the 6th smallest to the
	// 6th largest of the 36 pairwise ratios (P(U <= 5) = 0.0206).
	x := []float64{1, 2, 3, 4, 5, 6}
	y := []float64{1, 1, 1, 1, 1, 1}
	iv := compare(x, y)
	assert.InDelta(t, 1.0, iv.lo, 1e-9)
	assert.InDelta(t, 6.0, iv.hi, 1e-9)
	assert.False(t, compare(nil, b).ok)
	assert.False(t, math.IsNaN(iv.ratio))
}

func TestRunFromSavedOutput(t *testing.T) {
	in := filepath.Join(t.TempDir(), "out.txt")
	require.NoError(t, os.WriteFile(in, []byte(sample), 0o600))
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "text", args: []string{"-in", in}, want: []string{
			"cpu: AMD EPYC",
			"pgstrict/baseline",
			"ReplayQuery/rows=100",
			"2.01 [1.98,2.04] p=0.333 ~",
		}},
		{name: "markdown", args: []string{"-in", in, "-md"}, want: []string{
			"| benchmark | unit | pgstrict | baseline | baseline value | pgstrict/baseline |",
			"| ReplayQuery/rows=100 | ns/row | 202 ±1% | pgconn | 100 ±0% | 2.01 [1.98,2.04] p=0.333 ~ |",
			"| ReplayQuery/rows=100 | ns/row | 202 ±1% | pgproto3 | 50.25 ±0% | 4.02 [3.96,4.08] p=0.333 ~ |",
			"| ReplayQuery/rows=100 | allocs/row | 0.08 ±0% | pgproto3 | 0 | n/a (baseline ~0) |",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			require.Equal(t, 0, code, stderr.String())
			for _, w := range tt.want {
				assert.Contains(t, stdout.String(), w)
			}
		})
	}
}

func TestRunWithoutPairs(t *testing.T) {
	in := filepath.Join(t.TempDir(), "out.txt")
	require.NoError(t, os.WriteFile(in, []byte("BenchmarkX/pgconn-2 1 5 ns/op\n"), 0o600))
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 1, run(context.Background(), []string{"-in", in}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "no side-by-side results")
}

func TestFmtComparison(t *testing.T) {
	tests := []struct {
		name string
		c    comparison
		unit string
		n    int
		want string
	}{
		{name: "slower", c: comparison{ratio: 2, lo: 1.9, hi: 2.1, p: 0.002, ok: true}, unit: "ns/row", n: 6, want: "2.00 [1.90,2.10] p=0.002 worse"},
		{name: "faster", c: comparison{ratio: 0.5, lo: 0.4, hi: 0.6, p: 0.002, ok: true}, unit: "ns/op", n: 6, want: "0.50 [0.40,0.60] p=0.002 better"},
		{name: "less throughput", c: comparison{ratio: 0.5, lo: 0.4, hi: 0.6, p: 0.002, ok: true}, unit: "MB/s", n: 6, want: "0.50 [0.40,0.60] p=0.002 worse"},
		{name: "not significant", c: comparison{ratio: 1.01, lo: 0.9, hi: 1.1, p: 0.4, ok: true}, unit: "ns/op", n: 6, want: "1.01 [0.90,1.10] p=0.400 ~"},
		{name: "one run", c: comparison{ratio: 1.5, ok: true}, unit: "ns/op", n: 1, want: "1.50 worse"},
		{name: "no ratio", c: comparison{}, unit: "ns/op", n: 6, want: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, fmtComparison(tt.c, tt.unit, tt.n))
		})
	}
}
