// Command benchtable runs the side-by-side benchmarks of package bench and
// prints one table: for every benchmark and metric, the median of pgstrict
// and of each baseline (pgconn, pgxpool, the pgproto3 floor, …) with the
// spread of the runs, and the ratio pgstrict / baseline with a 95%
// confidence interval and the p-value of a Mann-Whitney U test, as benchstat
// computes them.
//
// Sub-benchmarks are paired by name: BenchmarkX/.../pgstrict is compared
// with every sibling BenchmarkX/.../<baseline>.
//
// Usage:
//
//	go run ./bench/cmd/benchtable [-count 6] [-bench regexp] [-benchtime d] [-raw file] [-md] [-- test binary flags]
//	go run ./bench/cmd/benchtable -in saved-output.txt
//
// Without -in it builds the test binary once (go test -c), so that every run
// measures the same code, and runs it -count times, each time with
//
//	-test.run='^$' -test.bench=<regexp> -test.benchmem -test.count=1 [-test.benchtime=d]
//
// in the package directory: the runs of pgstrict and of its baselines
// alternate, and a drift of the machine's speed (other work on a shared
// machine) hits both alike. Each result line is echoed to stderr as it
// arrives; the table goes to stdout. -raw keeps the raw output, which
// benchstat also reads.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// reference is the client every other client of a group is compared with.
const reference = "pgstrict"

// reverseEnv, set to 1, makes package bench run the clients of each
// benchmark in the opposite order (bench.ClientOrderEnv).
const reverseEnv = "PGSTRICT_BENCH_REVERSE"

// alpha is the significance level of the tests and intervals.
const alpha = 0.05

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 6, "runs of each benchmark")
	bench := fs.String("bench", ".", "benchmarks to run (-test.bench)")
	benchtime := fs.String("benchtime", "", "-test.benchtime (default: the testing package's, 1s)")
	pkg := fs.String("pkg", "./bench/", "package to benchmark")
	goTool := fs.String("go", "go", "go command")
	in := fs.String("in", "", "read this saved go test -bench output instead of running the benchmarks")
	raw := fs.String("raw", "", "also write the raw go test output to this file")
	md := fs.Bool("md", false, "print a Markdown table")
	interleave := fs.Bool("interleave", true, "run the benchmarks count times with -test.count=1 instead of once with -test.count=count,\n"+
		"so that the runs of pgstrict and its baselines alternate and a drift of the machine's speed hits both alike")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var out []byte
	if *in != "" {
		b, err := os.ReadFile(*in)
		if err != nil {
			fmt.Fprintln(stderr, "benchtable:", err)
			return 1
		}
		out = b
	} else {
		b, err := measure(ctx, *goTool, *pkg, *bench, *benchtime, *count, *interleave, fs.Args(), stderr)
		out = b
		if *raw != "" {
			if werr := os.WriteFile(*raw, out, 0o644); werr != nil {
				fmt.Fprintln(stderr, "benchtable:", werr)
				return 1
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "benchtable: %v\n", err)
			return 1
		}
	}
	set := parse(bytes.NewReader(out))
	if len(set.groups) == 0 {
		fmt.Fprintln(stderr, "benchtable: no side-by-side results (no BenchmarkX/.../pgstrict with a sibling)")
		return 1
	}
	if *md {
		writeMarkdown(stdout, set)
	} else {
		writeText(stdout, set)
	}
	return 0
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ^$*|") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// measure builds the test binary of pkg once (so that every run measures
// the same code, even if the tree changes meanwhile) and runs its
// benchmarks count times with -test.count=1 when interleave is set, else
// once with -test.count=count. It returns the concatenated output.
func measure(ctx context.Context, goTool, pkg, bench, benchtime string, count int, interleave bool, extra []string, progress io.Writer) ([]byte, error) {
	dirOut, err := exec.CommandContext(ctx, goTool, "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", pkg, err)
	}
	pkgDir := strings.TrimSpace(string(dirOut))
	tmp, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bench.test")
	build := exec.CommandContext(ctx, goTool, "test", "-c", "-o", bin, pkg)
	build.Stdout, build.Stderr = progress, progress
	fmt.Fprintf(progress, "benchtable: %s\n", strings.Join(quoteArgs(build.Args), " "))
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the benchmarks: %w", err)
	}
	runs, perRun := 1, count
	if interleave {
		runs, perRun = count, 1
	}
	args := []string{"-test.run=^$", "-test.bench=" + bench, "-test.benchmem", "-test.count=" + strconv.Itoa(perRun)}
	if benchtime != "" {
		args = append(args, "-test.benchtime="+benchtime)
	}
	args = append(args, extra...)
	var all []byte
	for i := range runs {
		// Every other run measures the clients in the opposite order: inside
		// a run, the client measured first pays for whatever warms up
		// (a new server backend, caches), which showed as a 1.2x wall-time
		// penalty on round trips for whichever client came first.
		reverse := "0"
		if interleave && i%2 == 1 {
			reverse = "1"
		}
		fmt.Fprintf(progress, "benchtable: run %d/%d (in %s, %s=%s): bench.test %s\n", i+1, runs, pkgDir, reverseEnv, reverse,
			strings.Join(quoteArgs(args), " "))
		b, err := runBenchmarks(ctx, bin, pkgDir, args, reverse, progress)
		all = append(all, b...)
		if err != nil {
			return all, fmt.Errorf("benchmarks failed: %w\n%s", err, b)
		}
	}
	return all, nil
}

// runBenchmarks runs the test binary bin in dir, echoing result and
// failure lines to progress, and returns its whole standard output.
func runBenchmarks(ctx context.Context, bin, dir string, args []string, reverse string, progress io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), reverseEnv+"="+reverse)
	cmd.Stderr = progress
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var all bytes.Buffer
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line)
		all.WriteByte('\n')
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "FAIL") ||
			strings.HasPrefix(line, "panic") || strings.Contains(line, "_test.go:") {
			fmt.Fprintln(progress, line)
		}
	}
	scanErr := sc.Err()
	err = cmd.Wait()
	return all.Bytes(), errors.Join(err, scanErr)
}

// ---- parsing ------------------------------------------------------------------

// resultSet is the parsed output: the header lines and, per group, per
// client, per unit, the value of every run.
type resultSet struct {
	header []string
	groups []*group
}

type group struct {
	name    string
	clients []string                        // in order of appearance; reference first
	values  map[string]map[string][]float64 // client -> unit -> runs
	units   []string                        // in order of appearance
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output. Groups without the reference client
// or without any baseline are dropped.
func parse(r io.Reader) *resultSet {
	set := &resultSet{}
	byName := map[string]*group{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, h := range []string{"goos:", "goarch:", "pkg:", "cpu:"} {
			if strings.HasPrefix(line, h) && !slices.Contains(set.header, line) {
				set.header = append(set.header, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			continue
		}
		gname, client := name[:i], name[i+1:]
		g := byName[gname]
		if g == nil {
			g = &group{name: gname, values: map[string]map[string][]float64{}}
			byName[gname] = g
			order = append(order, gname)
		}
		if g.values[client] == nil {
			g.values[client] = map[string][]float64{}
			g.clients = append(g.clients, client)
		}
		for j := 2; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				continue
			}
			unit := f[j+1]
			if !slices.Contains(g.units, unit) {
				g.units = append(g.units, unit)
			}
			g.values[client][unit] = append(g.values[client][unit], v)
		}
	}
	for _, name := range order {
		g := byName[name]
		if g.values[reference] == nil || len(g.clients) < 2 {
			continue
		}
		g.clients = append([]string{reference}, slices.DeleteFunc(g.clients, func(c string) bool { return c == reference })...)
		g.units = shownUnits(g.units)
		set.groups = append(set.groups, g)
	}
	return set
}

// shownUnits drops the per-op figures that a per-row or per-query figure
// of the same kind replaces, and orders time, throughput, allocations,
// bytes, then the rest.
func shownUnits(units []string) []string {
	has := func(prefix string) bool {
		for _, u := range units {
			if strings.HasPrefix(u, prefix) && u != prefix+"op" {
				return true
			}
		}
		return false
	}
	var out []string
	for _, u := range units {
		switch {
		case u == "ns/op" && has("ns/"), u == "allocs/op" && has("allocs/"), u == "B/op" && has("B/"):
			continue
		}
		out = append(out, u)
	}
	rank := func(u string) int {
		switch {
		case strings.HasPrefix(u, "ns/"):
			return 0
		case strings.HasPrefix(u, "cpu-ns/"):
			return 1
		case strings.HasSuffix(u, "/s"):
			return 2
		case strings.HasPrefix(u, "allocs/"):
			return 3
		case strings.HasPrefix(u, "B/"):
			return 4
		}
		return 5
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// ---- statistics -----------------------------------------------------------------

// summary is the median of a sample and a distribution-free confidence
// interval for it (order statistics; with 6 runs, the min and max, a 97%
// interval; with fewer runs the min and max, which is less than 95%).
type summary struct {
	n            int
	median, l, h float64
}

func summarize(xs []float64) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return summary{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	k := 0 // largest k with P(Binomial(n, 1/2) <= k-1) <= alpha/2, 0-based lower index
	for j := 1; j <= n/2; j++ {
		if binomCDF(n, j-1) <= alpha/2 {
			k = j - 1
		}
	}
	return summary{n: n, median: med, l: s[k], h: s[n-1-k]}
}

// binomCDF returns P(X <= k) for X ~ Binomial(n, 1/2).
func binomCDF(n, k int) float64 {
	p, c := 0.0, 1.0
	for i := 0; i <= k; i++ {
		if i > 0 {
			c = c * float64(n-i+1) / float64(i)
		}
		p += c
	}
	return p / math.Pow(2, float64(n))
}

// comparison is the ratio a/b: the Hodges-Lehmann estimate (the median of
// all pairwise ratios), its confidence interval from the Mann-Whitney
// distribution, and the two-sided p-value of the Mann-Whitney U test.
type comparison struct {
	ratio, lo, hi float64
	p             float64
	ok            bool // both samples non-empty and positive
}

func compare(a, b []float64) comparison {
	if len(a) == 0 || len(b) == 0 {
		return comparison{}
	}
	var d []float64
	for _, x := range a {
		for _, y := range b {
			if x <= 0 || y <= 0 {
				if x == y {
					d = append(d, 0)
					continue
				}
				return comparison{}
			}
			d = append(d, math.Log(x/y))
		}
	}
	slices.Sort(d)
	m, n := len(a), len(b)
	dist := uDistribution(m, n)
	total := 0.0
	for _, c := range dist {
		total += c
	}
	// Largest k with P(U <= k-1) <= alpha/2; the interval is the k-th
	// smallest and k-th largest pairwise difference.
	k, cum := 1, 0.0
	for u := 0; u < len(dist); u++ {
		cum += dist[u]
		if cum/total > alpha/2 {
			break
		}
		k = u + 1
	}
	if k > len(d)/2 {
		k = 1
	}
	mid := len(d) / 2
	est := d[mid]
	if len(d)%2 == 0 {
		est = (d[mid-1] + d[mid]) / 2
	}
	// U statistic: pairs with a > b, ties counted half.
	u := 0.0
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	lower, upper := 0.0, 0.0
	for i, c := range dist {
		if float64(i) <= u {
			lower += c
		}
		if float64(i) >= u {
			upper += c
		}
	}
	p := 2 * math.Min(lower, upper) / total
	return comparison{ratio: math.Exp(est), lo: math.Exp(d[k-1]), hi: math.Exp(d[len(d)-k]), p: math.Min(p, 1), ok: true}
}

// uDistribution returns, for U = 0..m*n, the number of orderings of m and n
// distinct values in which U pairs have the first sample's value larger.
func uDistribution(m, n int) []float64 {
	// f[i][j] is the distribution for samples of sizes i and j.
	f := make([][][]float64, m+1)
	for i := range f {
		f[i] = make([][]float64, n+1)
		for j := range f[i] {
			dist := make([]float64, i*j+1)
			switch {
			case i == 0 || j == 0:
				dist[0] = 1
			default:
				// The largest value is from the first sample (it beats all
				// j values of the second) or from the second.
				for u, c := range f[i-1][j] {
					dist[u+j] += c
				}
				for u, c := range f[i][j-1] {
					dist[u] += c
				}
			}
			f[i][j] = dist
		}
	}
	return f[m][n]
}

// ---- output ---------------------------------------------------------------------

// higherIsBetter reports whether a larger value of unit is an improvement.
func higherIsBetter(unit string) bool { return strings.HasSuffix(unit, "/s") }

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 3, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func fmtSummary(s summary) string {
	if s.n == 0 {
		return "-"
	}
	if s.n == 1 || s.median == 0 {
		return fmtNum(s.median)
	}
	spread := math.Max(s.h-s.median, s.median-s.l) / math.Abs(s.median) * 100
	return fmt.Sprintf("%s ±%.0f%%", fmtNum(s.median), spread)
}

// fmtComparison prints the ratio, its interval and p; "~" marks a
// difference that is not significant at alpha, as in benchstat.
func fmtComparison(c comparison, unit string, n int) string {
	if !c.ok {
		return "-"
	}
	s := fmt.Sprintf("%.2f", c.ratio)
	if n > 1 {
		s += fmt.Sprintf(" [%.2f,%.2f] p=%.3f", c.lo, c.hi, c.p)
	}
	switch {
	case n > 1 && c.p >= alpha:
		s += " ~"
	case c.ratio == 1:
	case (c.ratio < 1) != higherIsBetter(unit):
		s += " better"
	default:
		s += " worse"
	}
	return s
}

// rows lays the table out one line per benchmark, unit and baseline.
func rows(set *resultSet) (head []string, body [][]string) {
	head = []string{"benchmark", "unit", reference, "baseline", "baseline value", reference + "/baseline"}
	for _, g := range set.groups {
		for _, unit := range g.units {
			ref := g.values[reference][unit]
			rs := summarize(ref)
			for _, b := range g.clients[1:] {
				vals, ok := g.values[b][unit]
				if !ok {
					continue
				}
				bs := summarize(vals)
				cmp := fmtComparison(compare(ref, vals), unit, min(len(ref), len(vals)))
				if rs.median != 0 && math.Abs(bs.median/rs.median) < 1e-3 {
					cmp = "n/a (baseline ~0)"
				}
				body = append(body, []string{g.name, unit, fmtSummary(rs), b, fmtSummary(bs), cmp})
			}
		}
	}
	return head, body
}

func writeText(w io.Writer, set *resultSet) {
	for _, h := range set.header {
		fmt.Fprintln(w, h)
	}
	head, body := rows(set)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, line := range body {
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	tw.Flush()
	fmt.Fprint(w, legend)
}

func writeMarkdown(w io.Writer, set *resultSet) {
	for _, h := range set.header {
		fmt.Fprintf(w, "    %s\n", h)
	}
	fmt.Fprintln(w)
	head, body := rows(set)
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, line := range body {
		fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, legend)
}

const legend = `
Values: median of the runs ± the larger distance from it to the ends of its
confidence interval (order statistics; with 6 runs the min and max).
Ratios: pgstrict / baseline, Hodges-Lehmann estimate [95% interval] and the
Mann-Whitney p-value; "~" = not significant at p < 0.05; "better"/"worse"
read the ratio for the unit (lower is better except for .../s).
`
