package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/golden"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// execResult is what one run of pgstrict left behind.
type execResult struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runWith runs pgstrict with args and the environment env.
func runWith(ctx context.Context, env []string, args ...string) execResult {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, env)
	return execResult{code: code, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
}

// render shows a run the way a terminal would: the command line (shell
// quoted), the exit code, stdout and stderr.
func (r execResult) render(args []string) []byte {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return fmt.Appendf(nil, "$ pgstrict %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s",
		strings.Join(quoted, " "), r.code, r.stdout, r.stderr)
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// goldenPath is the golden file of an exec test case.
func goldenPath(name string) string {
	return filepath.Join("testdata", "cli", "exec_"+name+".golden")
}

// TestExecGolden runs exec against a real server and compares transcripts
// with testdata/cli/exec_<name>.golden. The connection comes from
// DATABASE_URL so that the volatile URL stays out of the command line.
func TestExecGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string   // golden file: exec_<name>.golden
		args []string // command line without the program name
	}{
		{name: "table", args: []string{"exec",
			"select n as id, 'user ' || n as name, n * 1.5 as score, n % 2 = 0 as even from generate_series(1, 3) as n"}},
		{name: "json", args: []string{"exec", "--json",
			"select n as id, 'user ' || n as name, case when n = 2 then null else 'x' end as maybe, '\"q\"\\' as quoted from generate_series(1, 3) as n",
			"create temporary table t (id int)"}},
		{name: "multi", args: []string{"exec",
			"create table fruit (id int primary key, name text not null)",
			"insert into fruit values (1, 'apple'), (2, 'pear')",
			"select * from fruit order by id; select count(*) as fruits from fruit",
			"update fruit set name = upper(name) returning *",
			"drop table fruit"}},
		{name: "empty", args: []string{"exec", "", "select where false", "select"}},
		{name: "error_position", args: []string{"exec",
			"select 'first' as ran",
			"select *\n  from nosuchtable",
			"select 'never' as ran"}},
		{name: "syntax_error", args: []string{"exec", "selec 1"}},
		{name: "syntax_error_end", args: []string{"exec", "select 1 +"}},
		{name: "syntax_error_long_line", args: []string{"exec",
			"select 'a rather long string literal' as first_column, 'another string literal' as second_column, 3 as third_column frm somewhere_else where it_does_not_matter"}},
		{name: "error_detail", args: []string{"exec",
			"create table uniq (id int primary key)",
			"insert into uniq values (1); insert into uniq values (1)"}},
		{name: "error_hint", args: []string{"exec", "select 1 as one,\n       nosuchfunction(1, 'two')"}},
		{name: "error_mid_result", args: []string{"exec",
			"select 10 / (3 - n) as q from generate_series(1, 5) as n"}},
		{name: "null_unicode", args: []string{"exec",
			"select null::text as nothing, '' as empty, 'héllo wörld' as latin, '日本語テキスト' as wide, " +
				"'e' || chr(769) || 'x' as combining, 'fire 🔥' as emoji, E'two\\nlines' as multiline, E'tab\\there' as tab, " +
				"E'back\\\\slash' as backslash, 'bell' || chr(7) as control, 'abc' || chr(8238) || 'def' as bidi"}},
		{name: "null_unicode_json", args: []string{"exec", "--json",
			"select null::text as nothing, '' as empty, '日本語' as wide, 'fire 🔥' as emoji, E'two\\nlines' as multiline, " +
				"'bell' || chr(7) as control, chr(8232) as line_separator, '\\x00ff'::bytea as bytes"}},
		{name: "binary_cursor", args: []string{"exec",
			"begin; declare c binary cursor for select 258::int4 as n, 'hi'::text as t, null::int as z; fetch all from c; commit"}},
		{name: "binary_cursor_json", args: []string{"exec", "--json",
			"begin; declare c binary cursor for select 258::int4 as n, 'hi'::text as t, null::int as z; fetch all from c; commit"}},
		{name: "notice", args: []string{"exec",
			"do $$ begin raise notice 'hello %', 'world' using detail = 'some detail', hint = 'a hint'; end $$",
			"select 1 as after_notice"}},
		{name: "wide_values", args: []string{"exec",
			"select n, repeat('x', n * 30) as long, 'end' as tail from generate_series(1, 3) as n"}},
	}
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the cases share the database and some create tables.
			r := runWith(t.Context(), env, tc.args...)
			golden.Check(t, goldenPath(tc.name), r.render(tc.args))
		})
	}
}

// TestExecUsageGolden covers the command lines that never reach a server.
func TestExecUsageGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string   // golden file: exec_<name>.golden
		args     []string // command line without the program name
		wantCode int
	}{
		{name: "help", args: []string{"exec", "--help"}, wantCode: exitOK},
		{name: "no_sql", args: []string{"exec"}, wantCode: exitUsage},
		{name: "no_sql_with_flags", args: []string{"exec", "--json", "--url", "postgres://h/db"}, wantCode: exitUsage},
		{name: "bad_flag", args: []string{"exec", "--frobnicate", "select 1"}, wantCode: exitUsage},
		{name: "bad_timeout", args: []string{"exec", "--timeout", "soon", "select 1"}, wantCode: exitUsage},
		{name: "negative_timeout", args: []string{"exec", "--timeout", "-1s", "select 1"}, wantCode: exitUsage},
		{name: "bad_url", args: []string{"exec", "--url", "postgres://u:secret@h:notaport/db", "select 1"}, wantCode: exitUsage},
		{name: "unknown_parameter", args: []string{"exec", "--url", "host=h frobnicate=1", "select 1"}, wantCode: exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runWith(t.Context(), nil, tc.args...)
			assert.Equal(t, tc.wantCode, r.code)
			assert.NotContains(t, r.stderr, "secret", "the password never reaches the output")
			golden.Check(t, goldenPath(tc.name), r.render(tc.args))
		})
	}
}

// traceLength matches the length field of the trace lines whose length
// varies between runs or server versions.
var traceLength = regexp.MustCompile(`^([FB]\t)\d+(\t(?:StartupMessage|ErrorResponse) )`)

// TestExecTraceGolden checks --trace with the tracer's regress mode. It needs
// the managed cluster for a role that logs in without a password exchange;
// the startup is pinned to protocol 3.0 without TLS so that the trace does
// not depend on the server version or the TLS setup.
func TestExecTraceGolden(t *testing.T) {
	t.Parallel()
	pgtest.RequireManaged(t)
	db := pgtest.MustDatabase(t)
	env := []string{
		"DATABASE_URL=" + db.URL(pgtest.RoleTrust, "sslmode=disable", "max_protocol_version=3.0"),
		envTraceRegress + "=1",
	}
	args := []string{"exec", "--trace", "select 1 as one, null as two", "select * from nosuchtable"}
	r := runWith(t.Context(), env, args...)
	require.Equal(t, exitFailure, r.code, "stderr: %s", r.stderr)
	// The database name is made up per test (and so is the length of the
	// StartupMessage that carries it); the ParameterStatus messages of the
	// startup vary with the server version, and so does the length of an
	// ErrorResponse, whose hidden fields locate the error in the server's
	// source.
	var kept []string
	for line := range strings.Lines(r.stderr) {
		if strings.Contains(line, "\tParameterStatus ") {
			continue
		}
		line = traceLength.ReplaceAllString(line, "$1<len>$2")
		kept = append(kept, line)
	}
	r.stderr = strings.ReplaceAll(strings.Join(kept, ""), strconv.Quote(db.Name()), `"<database>"`)
	golden.Check(t, goldenPath("trace"), r.render(args))
}

// TestExecTraceRegressOnlyWhenAsked checks that without PGSTRICT_TRACE_REGRESS
// the trace shows what regress mode hides.
func TestExecTraceRegressOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	url := db.URL(pgtest.RoleSuperuser, "sslmode=disable")
	tests := []struct {
		name       string
		env        []string
		wantHidden bool
	}{
		{name: "regress", env: []string{"DATABASE_URL=" + url, envTraceRegress + "=1"}, wantHidden: true},
		{name: "plain", env: []string{"DATABASE_URL=" + url}, wantHidden: false},
		{name: "other value", env: []string{"DATABASE_URL=" + url, envTraceRegress + "=yes"}, wantHidden: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runWith(t.Context(), tc.env, "exec", "--trace", "select 1")
			require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, "\tQuery \"select 1\"\n")
			assert.Equal(t, tc.wantHidden, strings.Contains(r.stderr, "BackendKeyData <hidden>"), "stderr: %s", r.stderr)
		})
	}
}

// TestExecConnectFailureGolden covers the two kinds of connection failure: no
// server at the address, and a server that refuses the session (FATAL).
func TestExecConnectFailureGolden(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		env := []string{"DATABASE_URL=postgres://u@127.0.0.1:" + deadPort + "/db?sslmode=disable"}
		args := []string{"exec", "select 1"}
		r := runWith(t.Context(), env, args...)
		assert.Equal(t, exitFailure, r.code)
		assert.Empty(t, r.stdout)
		r.stderr = strings.ReplaceAll(r.stderr, deadPort, "<port>")
		golden.Check(t, goldenPath("connect_refused"), r.render(args))
	})
	t.Run("fatal", func(t *testing.T) {
		t.Parallel()
		cluster := pgtest.MustCluster(t)
		u, err := url.Parse(cluster.URL(pgtest.RoleSuperuser, "postgres", "sslmode=disable"))
		require.NoError(t, err)
		u.Path = "/pgstrict_no_such_database"
		env := []string{"DATABASE_URL=" + u.String()}
		args := []string{"exec", "select 1"}
		r := runWith(t.Context(), env, args...)
		assert.Equal(t, exitFailure, r.code)
		assert.Empty(t, r.stdout)
		r.stderr = strings.ReplaceAll(r.stderr, "host "+cluster.Host()+" port "+strconv.Itoa(cluster.Port()), "host <host> port <port>")
		golden.Check(t, goldenPath("connect_fatal"), r.render(args))
	})
}

// TestExecConnectionSource checks the order in which exec looks for the
// connection: --url, then DATABASE_URL from the injected environment.
func TestExecConnectionSource(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	good := db.URL(pgtest.RoleSuperuser, "sslmode=disable")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	bad := "postgres://u@" + ln.Addr().String() + "/db?sslmode=disable&connect_timeout=2"
	require.NoError(t, ln.Close())

	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
	}{
		{name: "url flag", args: []string{"--url", good}, wantCode: exitOK},
		{name: "url flag beats DATABASE_URL", env: []string{"DATABASE_URL=" + bad}, args: []string{"--url", good}, wantCode: exitOK},
		{name: "DATABASE_URL", env: []string{"DATABASE_URL=" + good}, wantCode: exitOK},
		{name: "last DATABASE_URL wins", env: []string{"DATABASE_URL=" + bad, "DATABASE_URL=" + good}, wantCode: exitOK},
		{name: "DATABASE_URL is used", env: []string{"DATABASE_URL=" + bad}, wantCode: exitFailure},
		{name: "url flag is used", env: []string{"DATABASE_URL=" + good}, args: []string{"--url", bad}, wantCode: exitFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"exec"}, tc.args...), "select current_database()")
			r := runWith(t.Context(), tc.env, args...)
			assert.Equal(t, tc.wantCode, r.code, "stderr: %s", r.stderr)
			if tc.wantCode == exitOK {
				assert.Contains(t, r.stdout, db.Name())
			} else {
				assert.Contains(t, r.stderr, "connection refused")
			}
		})
	}
}

// TestExecPGEnvironment checks the fallback to the libpq PG* variables when
// neither --url nor DATABASE_URL is given. conn.ParseConfig reads them from
// the process environment (it has no way to take another one), so this test
// sets them with t.Setenv and cannot run in parallel.
func TestExecPGEnvironment(t *testing.T) {
	db := pgtest.MustDatabase(t)
	u, err := url.Parse(db.URL(pgtest.RoleSuperuser))
	require.NoError(t, err)
	password, _ := u.User.Password()
	for k, v := range map[string]string{
		"PGHOST": u.Hostname(), "PGPORT": u.Port(), "PGUSER": u.User.Username(), "PGPASSWORD": password,
		"PGDATABASE": db.Name(), "PGSSLMODE": "disable",
	} {
		t.Setenv(k, v)
	}
	r := runWith(t.Context(), []string{"DATABASE_URL="}, "exec", "select current_database() as db")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Contains(t, r.stdout, db.Name())
}

// TestExecStopsAtFirstFailure checks that no SQL argument after a failing one
// runs, by looking at the database afterwards.
func TestExecStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	r := runWith(t.Context(), env, "exec",
		"create table log (step int)", "insert into log values (1)", "select 1/0", "insert into log values (3)")
	require.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "pgstrict: exec: SQL argument 3 of 4: server error 22012\n")

	r = runWith(t.Context(), env, "exec", "--json", "select array_agg(step order by step)::text as steps from log")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, "{\"steps\":\"{1}\"}\n{\"command_tag\":\"SELECT 1\"}\n", r.stdout)
}

// TestExecJSONKeepsColumnOrder decodes the --json output token by token and
// checks that the keys come in result order, duplicates included.
func TestExecJSONKeepsColumnOrder(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	r := runWith(t.Context(), env, "exec", "--json", "select 1 as zeta, 2 as alpha, 3 as mid, 4 as alpha")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 2)
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	var keys, values []string
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		v, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		values = append(values, v.(string))
	}
	assert.Equal(t, []string{"zeta", "alpha", "mid", "alpha"}, keys)
	assert.Equal(t, []string{"1", "2", "3", "4"}, values)
	assert.JSONEq(t, `{"command_tag":"SELECT 1"}`, lines[1])
}

// TestExecJSONIsValid checks that every line of --json output is valid JSON
// whose values round-trip, whatever the text holds.
func TestExecJSONIsValid(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	r := runWith(t.Context(), env, "exec", "--json",
		"select string_agg(chr(c), '' order by c) as s from generate_series(1, 1000) as c")
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	require.True(t, sc.Scan())
	var row map[string]string
	require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
	var want strings.Builder
	for c := rune(1); c <= 1000; c++ {
		want.WriteRune(c)
	}
	assert.Equal(t, want.String(), row["s"])
}

// TestExecTimeout checks that --timeout cancels a running statement on a
// real server, promptly.
func TestExecTimeout(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	r := runWith(t.Context(), env, "exec", "--timeout", "300ms", "select 'before' as a", "select pg_sleep(60)")
	assert.Equal(t, exitFailure, r.code)
	assert.Less(t, r.elapsed, 5*time.Second)
	assert.Contains(t, r.stdout, "before")
	assert.Equal(t, "pgstrict: exec: SQL argument 2 of 2: timed out after 300ms\n", r.stderr)
}

// cancelOnWrite is a stderr that cancels a context as soon as a write
// contains marker: with --trace, that is the moment a given protocol message
// goes out or comes in.
type cancelOnWrite struct {
	mu     sync.Mutex // guards buf
	buf    bytes.Buffer
	marker string
	once   sync.Once
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(b, []byte(w.marker)) {
		w.once.Do(w.cancel)
	}
	return w.buf.Write(b)
}

func (w *cancelOnWrite) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestExecInterrupt cancels the context of run, as Ctrl-C does, while the
// server sleeps in a statement. The server flushes a notice at once (unlike
// rows, which it may hold back until the end of the Query), so the notice
// raised just before the sleep is the signal that the statement is running.
// exec must send a CancelRequest, read the server's answer to it and exit 1
// well before the sleep ends.
func TestExecInterrupt(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &cancelOnWrite{marker: "NOTICE: sleeping", cancel: cancel}
	var stdout bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"exec", "--trace", "do $$ begin raise notice 'sleeping'; perform pg_sleep(60); end $$", "select 'never' as a"},
		strings.NewReader(""), &stdout, stderr, env)
	elapsed := time.Since(start)
	assert.Equal(t, exitFailure, code)
	assert.Less(t, elapsed, 10*time.Second)
	assert.Empty(t, stdout.String())
	assert.Contains(t, stderr.String(), "NOTICE: sleeping\n")
	assert.Regexp(t, `B\t\d+\tErrorResponse .*"57014"`, stderr.String(), "the server reported the cancellation")
	assert.True(t, strings.HasSuffix(stderr.String(), "pgstrict: exec: SQL argument 1 of 2: canceled\n"), "stderr: %s", stderr.String())
}

// TestExecWriteFailure checks that a broken stdout ends exec with exit 1.
func TestExecWriteFailure(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	env := []string{"DATABASE_URL=" + db.URL(pgtest.RoleSuperuser, "sslmode=disable")}
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"exec", "select generate_series(1, 100000)", "select 'never'"},
		strings.NewReader(""), failingWriter{}, &stderr, env)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "pgstrict: exec: write output: broken pipe\n", stderr.String())
}

// fields builds FieldDescriptions for printer tests: text columns, or int4
// where the name starts with "n".
func fields(names ...string) []conn.FieldDescription {
	fs := make([]conn.FieldDescription, len(names))
	for i, n := range names {
		fs[i] = conn.FieldDescription{Name: n, DataTypeOID: 25}
		if strings.HasPrefix(n, "n") {
			fs[i].DataTypeOID = 23
		}
	}
	return fs
}

func TestTablePrinter(t *testing.T) {
	t.Parallel()
	wide := strings.Repeat("w", maxColumnWidth+10)
	tests := []struct {
		name   string
		fields []conn.FieldDescription
		rows   [][][]byte
		abort  bool // the result fails instead of ending with a tag
		want   string
	}{
		{
			name:   "aligned with numbers on the right",
			fields: fields("num", "text"),
			rows:   [][][]byte{{[]byte("1"), []byte("a")}, {[]byte("100"), nil}},
			want:   "num | text\n----+-------\n  1 | a\n100 | (null)\nSELECT 2\n",
		},
		{
			name:   "no rows",
			fields: fields("a"),
			want:   "a\n-\nSELECT 2\n",
		},
		{
			name: "no columns",
			rows: [][][]byte{{}},
			want: "SELECT 2\n",
		},
		{
			name:   "wide value overflows its capped column",
			fields: fields("a", "b"),
			rows:   [][][]byte{{[]byte(wide), []byte("x")}, {[]byte("y"), []byte("z")}},
			want: "a" + strings.Repeat(" ", maxColumnWidth-1) + " | b\n" + strings.Repeat("-", maxColumnWidth) + "-+--\n" +
				wide + " | x\ny" + strings.Repeat(" ", maxColumnWidth-1) + " | z\nSELECT 2\n",
		},
		{
			name:   "east asian wide characters count twice",
			fields: fields("a", "b"),
			rows:   [][][]byte{{[]byte("日本"), []byte("1")}, {[]byte("abc"), []byte("2")}},
			want:   "a    | b\n-----+--\n日本 | 1\nabc  | 2\nSELECT 2\n",
		},
		{
			name:   "binary format in hex",
			fields: []conn.FieldDescription{{Name: "b", Format: 1}},
			rows:   [][][]byte{{{0x00, 0xff}}},
			want:   "b\n------\n\\x00ff\nSELECT 2\n",
		},
		{
			name:   "failed result prints nothing",
			fields: fields("a"),
			rows:   [][][]byte{{[]byte("partial")}},
			abort:  true,
			want:   "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			p := &tablePrinter{w: w}
			p.begin(tc.fields)
			for _, r := range tc.rows {
				p.row(r)
			}
			if tc.abort {
				p.abort()
			} else {
				p.end(conn.ParseCommandTag("SELECT 2"))
			}
			require.NoError(t, w.Flush())
			assert.Equal(t, tc.want, out.String())
		})
	}
}

// TestTablePrinterStreamsAfterSample checks that rows past the width sample
// are printed as they come, with the widths measured on the sample.
func TestTablePrinterStreamsAfterSample(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	p := &tablePrinter{w: w}
	p.begin(fields("a", "b"))
	for range widthSampleRows - 1 {
		p.row([][]byte{[]byte("x"), []byte("y")})
	}
	require.NoError(t, w.Flush())
	assert.Empty(t, out.String(), "rows of the sample are held back")
	p.row([][]byte{[]byte("x"), []byte("y")})
	p.row([][]byte{[]byte("longer"), []byte("y")})
	p.abort() // too late to take back what was printed
	require.NoError(t, w.Flush())
	lines := strings.Split(out.String(), "\n")
	require.Len(t, lines, 2+widthSampleRows+2)
	assert.Equal(t, "a | b", lines[0])
	assert.Equal(t, "longer | y", lines[len(lines)-2])
}

// caretAt is a caret line with the caret in column n (0-based).
func caretAt(n int) string { return strings.Repeat(" ", n) + "^" }

func TestCaretLines(t *testing.T) {
	t.Parallel()
	long := "select " + strings.Repeat("aaaa, ", 30) + "oops " + strings.Repeat("bbbb, ", 30)
	tests := []struct {
		name      string
		sql       string
		pos       int
		wantLine  string
		wantCaret string
		wantOK    bool
	}{
		{name: "first character", sql: "selec 1", pos: 1, wantLine: "LINE 1: selec 1", wantCaret: caretAt(8), wantOK: true},
		{name: "end of input", sql: "select 1 +", pos: 11, wantLine: "LINE 1: select 1 +", wantCaret: caretAt(18), wantOK: true},
		{name: "second line", sql: "select *\nfrom nope", pos: 15, wantLine: "LINE 2: from nope", wantCaret: caretAt(13), wantOK: true},
		{name: "wide characters before", sql: "select '日本' frm", pos: 13, wantLine: "LINE 1: select '日本' frm", wantCaret: caretAt(22), wantOK: true},
		{name: "tab shown as a space", sql: "select\t1 frm", pos: 10, wantLine: "LINE 1: select 1 frm", wantCaret: caretAt(17), wantOK: true},
		{name: "control character escaped", sql: "select '\x01' frm", pos: 12, wantLine: `LINE 1: select '\x01' frm`, wantCaret: caretAt(22), wantOK: true},
		{name: "position is characters not bytes", sql: "select 'é' frm", pos: 12, wantLine: "LINE 1: select 'é' frm", wantCaret: caretAt(19), wantOK: true},
		{name: "long line is cut", sql: long, pos: strings.Index(long, "oops") + 1, wantOK: true},
		{name: "position zero", sql: "select", pos: 0},
		{name: "position past the end", sql: "select", pos: 8},
		{name: "no sql", sql: "", pos: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line, caret, ok := caretLines(tc.sql, tc.pos)
			require.Equal(t, tc.wantOK, ok)
			if !ok {
				return
			}
			if tc.wantLine == "" {
				// The cut line: the caret must still sit under the first
				// character of "oops", and the line must fit the limit.
				assert.True(t, strings.HasPrefix(line, "LINE 1: ..."), line)
				assert.True(t, strings.HasSuffix(line, "..."), line)
				assert.LessOrEqual(t, stringWidth(line), len("LINE 1: ")+3+maxCaretLine+3)
				assert.Equal(t, "oops", line[len(caret)-1:len(caret)+3])
				return
			}
			assert.Equal(t, tc.wantLine, line)
			assert.Equal(t, tc.wantCaret, caret)
		})
	}
}

func TestFailure(t *testing.T) {
	t.Parallel()
	pgErr := &conn.PgError{Severity: "ERROR", Code: "57014", Message: "canceling statement due to user request"}
	protoErr := &wire.ProtocolError{Reason: wire.ReasonTrailingBytes, MsgType: 'D'}
	tests := []struct {
		name    string
		err     error
		timeout time.Duration
		want    string
	}{
		{name: "server error", err: fmt.Errorf("x: %w", pgErr), want: "server error 57014"},
		{name: "protocol violation", err: fmt.Errorf("x: %w", protoErr), want: "protocol violation"},
		{name: "protocol violation beats the context", err: errors.Join(context.DeadlineExceeded, protoErr), timeout: time.Second, want: "protocol violation"},
		{name: "timeout beats the server error it caused", err: errors.Join(context.DeadlineExceeded, pgErr), timeout: time.Second, want: "timed out after 1s"},
		{name: "deadline of the caller", err: context.DeadlineExceeded, want: "timed out"},
		{name: "interrupt", err: errors.Join(context.Canceled, pgErr), want: "canceled"},
		{name: "other", err: errors.New("dial tcp: no route\x1b[2J"), want: `dial tcp: no route\x1b[2J`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, failure(tc.err, tc.timeout))
		})
	}
}

func TestEscapeValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "hello wörld", want: "hello wörld"},
		{name: "newline tab return", in: "a\nb\tc\rd", want: `a\nb\tc\rd`},
		{name: "backslash", in: `a\nb`, want: `a\\nb`},
		{name: "escape sequence", in: "\x1b[2J", want: `\x1b[2J`},
		{name: "delete and C1", in: "\x7f\u0085", want: `\x7f\u0085`},
		{name: "bidi override", in: "abc\u202edef", want: `abc\u202edef`},
		{name: "invalid UTF-8", in: "a\xffb", want: `a\xffb`},
		{name: "emoji with joiner", in: "👩\u200d💻", want: "👩\u200d💻"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, string(escapeValue(nil, []byte(tc.in))))
		})
	}
}

func TestSanitizeMessage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "two\nlines\tand a tab", sanitizeMessage("two\nlines\tand a tab"))
	assert.Equal(t, `back\slash \x1b[31mred`, sanitizeMessage("back\\slash \x1b[31mred"))
	assert.Equal(t, `bad \xfe byte`, sanitizeMessage("bad \xfe byte"))
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "abc", want: `"abc"`},
		{name: "quote and backslash", in: `a"b\c`, want: `"a\"b\\c"`},
		{name: "controls", in: "\n\r\t\x01\x1f", want: `"\n\r\t\u0001\u001f"`},
		{name: "html is not escaped", in: "<a>&", want: `"<a>&"`},
		{name: "line separators", in: "\u2028\u2029", want: `"\u2028\u2029"`},
		{name: "unicode kept", in: "日本 🔥", want: `"日本 🔥"`},
		{name: "invalid UTF-8 replaced", in: "a\xffb", want: `"a\ufffdb"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := appendJSONString(nil, []byte(tc.in))
			assert.Equal(t, tc.want, string(got))
			var back string
			require.NoError(t, json.Unmarshal(got, &back))
			if tc.name != "invalid UTF-8 replaced" {
				assert.Equal(t, tc.in, back)
			}
		})
	}
}

func TestStringWidth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "ascii", in: "abc", want: 3},
		{name: "latin", in: "héllo", want: 5},
		{name: "combining mark", in: "e\u0301", want: 1},
		{name: "cjk", in: "日本語", want: 6},
		{name: "hangul", in: "한국", want: 4},
		{name: "fullwidth", in: "ＡＢ", want: 4},
		{name: "emoji", in: "🔥", want: 2},
		{name: "zero width joiner", in: "\u200d", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, stringWidth(tc.in))
		})
	}
}

// Compile-time checks that the printers implement resultPrinter and that a
// failing writer stops the sticky writer.
var (
	_ resultPrinter = (*tablePrinter)(nil)
	_ resultPrinter = (*jsonPrinter)(nil)
	_ io.Writer     = (*stickyWriter)(nil)
)
