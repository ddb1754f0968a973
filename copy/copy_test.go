package pgcopy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	pgcopy "github.com/pgstrict/pgstrict/copy"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// formats are the three COPY formats; conformance tests run in each.
var formats = []pgcopy.Format{pgcopy.FormatText, pgcopy.FormatCSV, pgcopy.FormatBinary}

// connect opens a connection as the superuser to db (no TLS) and closes it
// when the test ends.
func connect(tb testing.TB, db *pgtest.Database) *conn.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(tb, c.Close(ctx))
	})
	return c
}

// guard returns a context that ends after d, only as a guard against hangs,
// canceled when the test ends.
func guard(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// exec runs sql and fails the test on error.
func exec(tb testing.TB, c *conn.Conn, sql string) {
	tb.Helper()
	_, err := c.Exec(context.Background(), sql).ReadAll()
	require.NoError(tb, err, sql)
}

// value runs sql, which returns one value, and returns it as text
// ("<NULL>" for NULL).
func value(tb testing.TB, c *conn.Conn, sql string) string {
	tb.Helper()
	res, err := c.Exec(context.Background(), sql).ReadAll()
	require.NoError(tb, err, sql)
	require.Len(tb, res, 1, sql)
	require.Len(tb, res[0].Rows, 1, sql)
	if res[0].Rows[0][0] == nil {
		return "<NULL>"
	}
	return string(res[0].Rows[0][0])
}

// requireIdle checks that the connection survived an operation and runs a
// query to prove it carries nothing of the earlier exchange.
func requireIdle(tb testing.TB, c *conn.Conn) {
	tb.Helper()
	require.NoError(tb, c.Err())
	require.Equal(tb, wire.StateIdle, c.State())
	require.False(tb, c.IsBusy())
	assert.Equal(tb, "usable", value(tb, c, "select 'usable'"))
}

// ---- the 1M-row round trip ---------------------------------------------

// roundTripRows is the row count of TestRoundTrip1M.
const roundTripRows = 1_000_000

// expectedRow returns row i of the round trip: an int, a text that is NULL
// or tricky now and then, and a float that needs every digit.
func expectedRow(i int) (id int32, text *string, f float64) {
	s := "row " + strconv.Itoa(i)
	switch i % 1000 {
	case 7:
		return int32(i), nil, float64(i) / 7
	case 8:
		s = "tab\there, nl\nthere, cr\r, back\\slash, \"quote\", \\N, é"
	case 9:
		s = ""
	}
	return int32(i), &s, float64(i) / 7
}

// genRows is a RowSource producing expectedRow(1) … expectedRow(n).
type genRows struct {
	i, n int
	vals []any
}

func (g *genRows) Next() bool { g.i++; return g.i <= g.n }

func (g *genRows) Values() ([]any, error) {
	id, text, f := expectedRow(g.i)
	g.vals = append(g.vals[:0], id, nil, f)
	if text != nil {
		g.vals[1] = *text
	}
	return g.vals, nil
}

func (g *genRows) Err() error { return nil }

var _ pgcopy.RowSource = (*genRows)(nil)

// checkRow compares one decoded row with expectedRow and returns its id.
func checkRow(format pgcopy.Format, fields [][]byte) (int, error) {
	if len(fields) != 3 || fields[0] == nil || fields[2] == nil {
		return 0, fmt.Errorf("row %q", fields)
	}
	var id int
	var f float64
	if format == pgcopy.FormatBinary {
		if len(fields[0]) != 4 || len(fields[2]) != 8 {
			return 0, fmt.Errorf("binary row %q", fields)
		}
		id = int(int32(binary.BigEndian.Uint32(fields[0])))
		f = math.Float64frombits(binary.BigEndian.Uint64(fields[2]))
	} else {
		var err error
		if id, err = strconv.Atoi(string(fields[0])); err != nil {
			return 0, err
		}
		if f, err = strconv.ParseFloat(string(fields[2]), 64); err != nil {
			return 0, err
		}
	}
	wantID, wantText, wantF := expectedRow(id)
	switch {
	case int32(id) != wantID || id < 1 || id > roundTripRows:
		return 0, fmt.Errorf("id %d", id)
	case f != wantF:
		return 0, fmt.Errorf("row %d: float %v, want %v", id, f, wantF)
	case wantText == nil && fields[1] != nil:
		return 0, fmt.Errorf("row %d: text %q, want NULL", id, fields[1])
	case wantText != nil && (fields[1] == nil || string(fields[1]) != *wantText):
		return 0, fmt.Errorf("row %d: text %q, want %q", id, fields[1], *wantText)
	}
	return id, nil
}

// TestRoundTrip1M copies a million rows in with FromRows and out with
// ToRows in each format, and compares every value.
func TestRoundTrip1M(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, 5*time.Minute)
			table := "rt_" + format.String()
			exec(t, c, "create unlogged table "+table+" (id int4, t text, f float8)")

			n, err := pgcopy.FromRows(ctx, c, table, nil, &genRows{n: roundTripRows}, format)
			require.NoError(t, err)
			require.Equal(t, int64(roundTripRows), n)

			seen := make([]bool, roundTripRows+1)
			sql := "copy " + table + " to stdout with (format " + format.String() + ")"
			n, err = pgcopy.ToRows(ctx, c, sql, format, func(row [][]byte) error {
				id, err := checkRow(format, row)
				if err != nil {
					return err
				}
				if seen[id] {
					return fmt.Errorf("row %d twice", id)
				}
				seen[id] = true
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, int64(roundTripRows), n)
			for id := 1; id <= roundTripRows; id++ {
				if !seen[id] {
					t.Fatalf("row %d missing", id)
				}
			}
			requireIdle(t, c)
		})
	}
}

// TestRawRoundTrip streams data in with From and out with To, in both
// protocols, and compares the bytes.
func TestRawRoundTrip(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, cp := range []pgcopy.Copier{{}, {Extended: true, ChunkSize: 1000}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, time.Minute)
			table := fmt.Sprintf("raw_%t", cp.Extended)
			exec(t, c, "create table "+table+" (a int, b text)")
			var data bytes.Buffer
			for i := 1; i <= 10000; i++ {
				fmt.Fprintf(&data, "%d,\"row, %d\"\n", i, i)
			}
			n, err := cp.From(ctx, c, "copy "+table+" from stdin with (format csv)", bytes.NewReader(data.Bytes()))
			require.NoError(t, err)
			assert.Equal(t, int64(10000), n)
			var out bytes.Buffer
			n, err = cp.To(ctx, c, "copy (select * from "+table+" order by a) to stdout with (format csv, force_quote (b))", &out)
			require.NoError(t, err)
			assert.Equal(t, int64(10000), n)
			assert.Equal(t, data.String(), out.String())
			requireIdle(t, c)
		})
	}
}

// TestEscaping sends values that need escaping or quoting in each format
// and reads them back, through FromRows and ToRows and through the raw
// stream.
func TestEscaping(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	values := []any{"", nil, `\N`, `\.`, "a\tb", "l1\nl2", "cr\rlf\r\n", `"q"`, "a,b", `back\slash`,
		"é日本", " padded ", "\x01\x7f", strings.Repeat("long,\"\\\t\n", 5000)}
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, time.Minute)
			table := "esc_" + format.String()
			exec(t, c, "create table "+table+" (id int, v text)")
			rows := make([][]any, len(values))
			for i, v := range values {
				rows[i] = []any{i, v}
			}
			n, err := pgcopy.FromRows(ctx, c, table, []string{"id", "v"}, pgcopy.SliceRows(rows), format)
			require.NoError(t, err)
			require.Equal(t, int64(len(values)), n)
			for i, v := range values {
				want := "<NULL>"
				if v != nil {
					want = v.(string)
				}
				assert.Equal(t, want, value(t, c, fmt.Sprintf("select v from %s where id = %d", table, i)), "value %d", i)
			}

			got := make([]any, len(values))
			sql := "copy (select id, v from " + table + " order by id) to stdout with (format " + format.String() + ")"
			_, err = pgcopy.ToRows(ctx, c, sql, format, func(row [][]byte) error {
				var id int
				if format == pgcopy.FormatBinary {
					id = int(binary.BigEndian.Uint32(row[0]))
				} else if id, err = strconv.Atoi(string(row[0])); err != nil {
					return err
				}
				if row[1] != nil {
					got[id] = string(row[1])
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, values, got)

			// The encoder's bytes as a raw stream.
			enc := pgcopy.NewEncoder(format, []pgcopy.Column{{Name: "id"}, {Name: "v"}})
			raw := enc.AppendHeader(nil)
			for i, v := range values {
				raw, err = enc.AppendRow(raw, []any{int32(i + 100), v})
				require.NoError(t, err)
			}
			raw = enc.AppendTrailer(raw)
			_, err = pgcopy.From(ctx, c, "copy "+table+" from stdin with (format "+format.String()+")", bytes.NewReader(raw))
			require.NoError(t, err)
			assert.Equal(t, "0", value(t, c, "select count(*) from "+table+" a join "+table+
				" b on b.id = a.id + 100 where a.v is distinct from b.v"))
			requireIdle(t, c)
		})
	}
}

// ---- failures -------------------------------------------------------------

func TestNotCopyStatement(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	c := connect(t, db)
	exec(t, c, "create table nc (a int)")
	for _, cp := range []pgcopy.Copier{{}, {Extended: true}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			cases := []struct {
				name string                          // the call
				run  func(ctx context.Context) error // the call
				want func(t *testing.T, err error)   // checks its error
			}{
				{"From with a query", func(ctx context.Context) error {
					_, err := cp.From(ctx, c, "select generate_series(1, 1000000000)", strings.NewReader("1\n"))
					return err
				}, func(t *testing.T, err error) { assert.ErrorIs(t, err, conn.ErrNotCopy) }},
				{"From with an update", func(ctx context.Context) error {
					_, err := cp.From(ctx, c, "update nc set a = 1", strings.NewReader("1\n"))
					return err
				}, func(t *testing.T, err error) { assert.ErrorIs(t, err, conn.ErrNotCopy) }},
				{"To with a query", func(ctx context.Context) error {
					_, err := cp.To(ctx, c, "select 1", io.Discard)
					return err
				}, func(t *testing.T, err error) { assert.ErrorIs(t, err, conn.ErrNotCopy) }},
				{"From with COPY TO", func(ctx context.Context) error {
					_, err := cp.From(ctx, c, "copy nc to stdout", strings.NewReader("1\n"))
					return err
				}, func(t *testing.T, err error) {
					assert.True(t, conn.SafeToRetry(err), "refused before sending: %v", err)
				}},
				{"To with COPY FROM", func(ctx context.Context) error {
					_, err := cp.To(ctx, c, "copy nc from stdin", io.Discard)
					return err
				}, func(t *testing.T, err error) {
					assert.True(t, conn.SafeToRetry(err), "refused before sending: %v", err)
				}},
				{"From with a syntax error", func(ctx context.Context) error {
					_, err := cp.From(ctx, c, "copy nc frm stdin", strings.NewReader("1\n"))
					return err
				}, func(t *testing.T, err error) {
					var pe *conn.PgError
					require.ErrorAs(t, err, &pe)
					assert.Equal(t, "42601", pe.Code)
				}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := guard(t, 30*time.Second)
					err := tc.run(ctx)
					require.Error(t, err)
					require.NoError(t, ctx.Err(), "the call must fail at once: %v", err)
					tc.want(t, err)
					requireIdle(t, c)
					assert.Equal(t, "0", value(t, c, "select count(*) from nc"))
				})
			}
		})
	}
}

func TestServerErrorNamesTheRow(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, cp := range []pgcopy.Copier{{ChunkSize: 4096}, {ChunkSize: 4096, Extended: true}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, time.Minute)
			table := fmt.Sprintf("sv_%t", cp.Extended)
			exec(t, c, "create table "+table+" (a int primary key, b text)")

			t.Run("constraint violation mid-stream", func(t *testing.T) {
				// Line 7 repeats the key of line 3; about 20 MB follow.
				data := bytes.NewBufferString("1\tr\n2\tr\n3\tr\n4\tr\n5\tr\n6\tr\n3\tduplicate\n")
				data.Write(bytes.Repeat([]byte("8\trow after the error\n"), 1000000))
				_, err := cp.From(ctx, c, "copy "+table+" from stdin", data)
				var re *pgcopy.RowError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, int64(7), re.Row)
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "23505", pe.Code)
				assert.Positive(t, data.Len(), "sending stopped before the end of the data")
				assert.Equal(t, "0", value(t, c, "select count(*) from "+table))
				requireIdle(t, c)
			})
			t.Run("bad value", func(t *testing.T) {
				src := pgcopy.SliceRows([][]any{{1, "x"}, {2, "y"}, {"three", "z"}})
				_, err := cp.FromRows(ctx, c, table, nil, src, pgcopy.FormatText)
				var re *pgcopy.RowError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, int64(3), re.Row)
				assert.Equal(t, "a", re.Column)
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "22P02", pe.Code)
				requireIdle(t, c)
			})
		})
	}
}

// failReader yields data, then fails with err.
type failReader struct {
	data *bytes.Reader
	err  error
}

func (r *failReader) Read(p []byte) (int, error) {
	if r.data.Len() == 0 {
		return 0, r.err
	}
	return r.data.Read(p)
}

// failWriter accepts n bytes, then fails with err.
type failWriter struct {
	n   int
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

// failSource yields rows of (int, text) and fails as told.
type failSource struct {
	i, n      int
	valuesErr error // returned by Values for row n
	err       error // returned by Err after row n
	bad       any   // the text value of row n, if not nil
}

func (s *failSource) Next() bool {
	s.i++
	return s.i <= s.n && !(s.err != nil && s.i == s.n)
}

func (s *failSource) Values() ([]any, error) {
	if s.i == s.n {
		if s.valuesErr != nil {
			return nil, s.valuesErr
		}
		if s.bad != nil {
			return []any{s.i, s.bad}, nil
		}
	}
	return []any{s.i, "ok"}, nil
}

func (s *failSource) Err() error { return s.err }

func TestSourceAndDestinationErrors(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	c := connect(t, db)
	exec(t, c, "create table sd (a int, b text)")
	errBoom := errors.New("boom")
	count := func(t *testing.T) string { t.Helper(); return value(t, c, "select count(*) from sd") }

	t.Run("reader", func(t *testing.T) {
		r := &failReader{data: bytes.NewReader(bytes.Repeat([]byte("1\tx\n"), 100000)), err: errBoom}
		_, err := pgcopy.From(guard(t, time.Minute), c, "copy sd from stdin", r)
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, "0", count(t))
		requireIdle(t, c)
	})
	t.Run("writer", func(t *testing.T) {
		_, err := pgcopy.To(guard(t, time.Minute), c, "copy (select generate_series(1, 100000000)) to stdout", &failWriter{n: 1 << 20, err: errBoom})
		require.ErrorIs(t, err, errBoom)
		requireIdle(t, c)
	})
	t.Run("row callback", func(t *testing.T) {
		calls := 0
		_, err := pgcopy.ToRows(guard(t, time.Minute), c, "copy (select generate_series(1, 100000000)) to stdout", pgcopy.FormatText,
			func([][]byte) error {
				calls++
				if calls == 10 {
					return errBoom
				}
				return nil
			})
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, 10, calls)
		requireIdle(t, c)
	})
	for _, format := range formats {
		t.Run("invalid value/"+format.String(), func(t *testing.T) {
			_, err := pgcopy.FromRows(guard(t, time.Minute), c, "sd", nil, &failSource{n: 50000, bad: "bad \xff"}, format)
			var re *pgcopy.RowError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, int64(50000), re.Row)
			assert.Equal(t, "b", re.Column)
			var ie *wire.InputError
			assert.ErrorAs(t, err, &ie)
			assert.Equal(t, "0", count(t))
			requireIdle(t, c)
		})
	}
	t.Run("source Values", func(t *testing.T) {
		_, err := pgcopy.FromRows(guard(t, time.Minute), c, "sd", nil, &failSource{n: 5, valuesErr: errBoom}, pgcopy.FormatText)
		require.ErrorIs(t, err, errBoom)
		var re *pgcopy.RowError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, int64(5), re.Row)
		assert.Equal(t, "0", count(t))
		requireIdle(t, c)
	})
	t.Run("source Err", func(t *testing.T) {
		_, err := pgcopy.FromRows(guard(t, time.Minute), c, "sd", nil, &failSource{n: 5, err: errBoom}, pgcopy.FormatBinary)
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, "0", count(t))
		requireIdle(t, c)
	})
	t.Run("unknown table", func(t *testing.T) {
		_, err := pgcopy.FromRows(guard(t, time.Minute), c, "no_such_table", nil, &failSource{n: 5}, pgcopy.FormatText)
		var pe *conn.PgError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "42P01", pe.Code)
		requireIdle(t, c)
	})
	t.Run("binary format mismatch", func(t *testing.T) {
		_, err := pgcopy.ToRows(guard(t, time.Minute), c, "copy sd to stdout", pgcopy.FormatBinary, func([][]byte) error { return nil })
		require.ErrorContains(t, err, "not binary")
		requireIdle(t, c)
	})
}

// ctxReader yields data and cancels its context after limit bytes.
type ctxReader struct {
	data   *bytes.Reader
	limit  int
	cancel context.CancelFunc
}

func (r *ctxReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	r.limit -= n
	if r.limit <= 0 {
		r.cancel()
	}
	return n, err
}

// ctxWriter cancels its context at the first write.
type ctxWriter struct{ cancel context.CancelFunc }

func (w ctxWriter) Write(p []byte) (int, error) { w.cancel(); return len(p), nil }

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, cp := range []pgcopy.Copier{{ChunkSize: 8192}, {ChunkSize: 8192, Extended: true}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			table := fmt.Sprintf("cc_%t", cp.Extended)
			exec(t, c, "create table "+table+" (a int, b text)")

			t.Run("From", func(t *testing.T) {
				ctx, cancel := context.WithCancel(guard(t, time.Minute))
				defer cancel()
				r := &ctxReader{data: bytes.NewReader(bytes.Repeat([]byte("1\tx\n"), 100000)), limit: 50000, cancel: cancel}
				_, err := cp.From(ctx, c, "copy "+table+" from stdin", r)
				require.ErrorIs(t, err, context.Canceled)
				assert.Positive(t, r.data.Len(), "sending stopped at the cancellation")
				assert.Equal(t, "0", value(t, c, "select count(*) from "+table))
				requireIdle(t, c)
			})
			t.Run("To", func(t *testing.T) {
				ctx, cancel := context.WithCancel(guard(t, time.Minute))
				defer cancel()
				_, err := cp.To(ctx, c, "copy (select generate_series(1, 100000000)) to stdout", ctxWriter{cancel})
				require.ErrorIs(t, err, context.Canceled)
				requireIdle(t, c)
			})
			t.Run("deadline", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				_, err := cp.To(ctx, c, "copy (select generate_series(1, 100000000)) to stdout", io.Discard)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				requireIdle(t, c)
			})
		})
	}
}

// killReader yields data and terminates the connection's backend once it
// has yielded limit bytes.
type killReader struct {
	data  *bytes.Reader
	limit int
	kill  func()
}

func (r *killReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	r.limit -= n
	if r.limit <= 0 && r.kill != nil {
		r.kill()
		r.kill = nil
	}
	return n, err
}

func TestTerminateBackend(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	admin := connect(t, db)
	exec(t, admin, "create table kb (a int, b text)")
	killer := func(t *testing.T, victim *conn.Conn) func() {
		return func() {
			assert.Equal(t, "t", value(t, admin, fmt.Sprintf("select pg_terminate_backend(%d)", victim.PID())))
		}
	}
	requireClosed := func(t *testing.T, c *conn.Conn, err error) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, conn.ErrClosed)
		var pe *conn.PgError
		if assert.ErrorAs(t, err, &pe, "the error names the server's reason") {
			assert.Equal(t, "57P01", pe.Code)
		}
		assert.True(t, c.State().Terminal())
		_, err = c.Exec(context.Background(), "select 1").ReadAll()
		assert.ErrorIs(t, err, conn.ErrClosed)
	}
	for _, cp := range []pgcopy.Copier{{ChunkSize: 8192}, {ChunkSize: 8192, Extended: true}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			t.Run("From", func(t *testing.T) {
				c := connect(t, db)
				r := &killReader{data: bytes.NewReader(bytes.Repeat([]byte("1\tx\n"), 1000000)), limit: 100000}
				r.kill = killer(t, c)
				_, err := cp.From(guard(t, time.Minute), c, "copy kb from stdin", r)
				requireClosed(t, c, err)
			})
			t.Run("To", func(t *testing.T) {
				c := connect(t, db)
				calls := 0
				kill := killer(t, c)
				_, err := cp.ToRows(guard(t, time.Minute), c, "copy (select generate_series(1, 100000000)) to stdout", pgcopy.FormatText,
					func([][]byte) error {
						if calls++; calls == 1 {
							kill()
						}
						return nil
					})
				requireClosed(t, c, err)
			})
		})
	}
}

func TestInTransaction(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, cp := range []pgcopy.Copier{{}, {Extended: true}} {
		t.Run(fmt.Sprintf("extended=%t", cp.Extended), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, time.Minute)
			table := fmt.Sprintf("tx_%t", cp.Extended)
			exec(t, c, "create table "+table+" (a int, b text)")
			exec(t, c, "begin")
			n, err := cp.From(ctx, c, "copy "+table+" from stdin", strings.NewReader("1\ta\n2\tb\n"))
			require.NoError(t, err)
			assert.Equal(t, int64(2), n)
			n, err = cp.FromRows(ctx, c, table, []string{"b", "a"}, pgcopy.SliceRows([][]any{{"c", 3}}), pgcopy.FormatBinary)
			require.NoError(t, err)
			assert.Equal(t, int64(1), n)
			assert.Equal(t, wire.TxInBlock, c.TxStatus())
			var out bytes.Buffer
			_, err = cp.To(ctx, c, "copy (select * from "+table+" order by a) to stdout", &out)
			require.NoError(t, err)
			assert.Equal(t, "1\ta\n2\tb\n3\tc\n", out.String())
			exec(t, c, "rollback")
			assert.Equal(t, "0", value(t, c, "select count(*) from "+table))
			requireIdle(t, c)
		})
	}
}

// typeColumns are the columns of TestTypes: a name, its type and the text
// the server shows for typeValues.
var typeColumns = []struct {
	name, typ, want string
	value           any
}{
	{"i2", "int2", "-12", int16(-12)},
	{"i4", "int4", "123456", int32(123456)},
	{"i4go", "int4", "42", 42},
	{"i8", "int8", "1099511627776", int64(1) << 40},
	{"f4", "float4", "1.5", float32(1.5)},
	{"f8", "float8", "-2.25", -2.25},
	{"f8nan", "float8", "NaN", math.NaN()},
	{"b", "bool", "true", true},
	{"t", "text", "text ✓, \"q\"\t\\", "text ✓, \"q\"\t\\"},
	{"vc", "varchar(10)", "varchar", "varchar"},
	{"by", "bytea", `\x0001feff5c`, []byte{0, 1, 0xfe, 0xff, '\\'}},
	{"num", "numeric", "12345.678900", mustNumeric("12345.678900")},
	{"numf", "numeric", "0.5", 0.5},
	{"d", "date", "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	{"ts", "timestamp", "2024-02-29 13:04:05.123456", time.Date(2024, 2, 29, 13, 4, 5, 123456000, time.UTC)},
	{"tstz", "timestamptz", "2024-02-29 13:04:05.123456+00", time.Date(2024, 2, 29, 14, 4, 5, 123456000, time.FixedZone("CET", 3600))},
	{"iv", "interval", "1 year 2 mons 3 days 01:02:03.000001", pgtype.Interval{Months: 14, Days: 3, Microseconds: 3723000001, Valid: true}},
	{"u", "uuid", "00010203-0405-0607-0809-0a0b0c0d0e0f", [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	{"j", "json", `{"a":[1,"x"]}`, map[string]any{"a": []any{1, "x"}}},
	{"jb", "jsonb", `{"a": [1, "x"], "b": null}`, map[string]any{"a": []any{1, "x"}, "b": nil}},
	{"ai", "int4[]", "{1,2,NULL,3}", []*int32{ptr(int32(1)), ptr(int32(2)), nil, ptr(int32(3))}},
	{"at", "text[]", `{a,"b,c","q\"",NULL}`, []*string{ptr("a"), ptr("b,c"), ptr(`q"`), nil}},
	{"af", "float8[]", "{1.5,-2}", []float64{1.5, -2}},
	{"ab", "bool[]", "{t,f}", []bool{true, false}},
	{"an", "numeric[]", "{1.5,2}", []pgtype.Numeric{mustNumeric("1.5"), mustNumeric("2")}},
	{"ad", "date[]", "{2024-01-01}", []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
	{"au", "uuid[]", "{00000000-0000-0000-0000-000000000001}", [][16]byte{{15: 1}}},
	{"ajb", "jsonb[]", `{"{\"k\": 1}"}`, []map[string]any{{"k": 1}}},
}

func ptr[T any](v T) *T { return &v }

func mustNumeric(s string) pgtype.Numeric {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		panic(err)
	}
	return n
}

// TestTypes copies a row of every common type, and a row of NULLs, in each
// format, and checks what the server stored; it then reads the rows back
// through the decoder and compares them with the server's own rendering.
func TestTypes(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	var defs, names, sel []string
	values := make([]any, 0, len(typeColumns)+1)
	nulls := make([]any, len(typeColumns)+1)
	values = append(values, 1)
	nulls[0] = 2
	for _, col := range typeColumns {
		defs = append(defs, col.name+" "+col.typ)
		names = append(names, col.name)
		sel = append(sel, "coalesce("+col.name+"::text, '<NULL>')")
		values = append(values, col.value)
	}
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			c := connect(t, db)
			ctx := guard(t, time.Minute)
			table := "types_" + format.String()
			exec(t, c, "set timezone = 'UTC'")
			exec(t, c, "create table "+table+" (id int, "+strings.Join(defs, ", ")+")")
			n, err := pgcopy.FromRows(ctx, c, table, append([]string{"id"}, names...), pgcopy.SliceRows([][]any{values, nulls}), format)
			require.NoError(t, err)
			require.Equal(t, int64(2), n)

			res, err := c.Exec(ctx, "select "+strings.Join(sel, ", ")+" from "+table+" order by id").ReadAll()
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Len(t, res[0].Rows, 2)
			for i, col := range typeColumns {
				assert.Equal(t, col.want, string(res[0].Rows[0][i]), "%s %s", col.name, col.typ)
				assert.Equal(t, "<NULL>", string(res[0].Rows[1][i]), "%s %s", col.name, col.typ)
			}

			// Back out: text and CSV fields are the server's text; binary
			// fields decode with pgtype to the same text.
			m := pgtype.NewMap()
			var rows [][]string
			sql := "copy (select " + strings.Join(names, ", ") + " from " + table + " order by id) to stdout with (format " + format.String() + ")"
			_, err = pgcopy.ToRows(ctx, c, sql, format, func(row [][]byte) error {
				out := make([]string, len(row))
				for i, f := range row {
					switch {
					case f == nil:
						out[i] = "<NULL>"
					case format == pgcopy.FormatBinary:
						name := strings.TrimSuffix(typeColumns[i].typ, "(10)")
						if base, ok := strings.CutSuffix(name, "[]"); ok {
							name = "_" + base
						}
						typ, ok := m.TypeForName(name)
						if !ok {
							return fmt.Errorf("no pgtype for %s", typeColumns[i].typ)
						}
						v, err := typ.Codec.DecodeValue(m, typ.OID, pgtype.BinaryFormatCode, f)
						if err != nil {
							return fmt.Errorf("%s: %w", typeColumns[i].name, err)
						}
						out[i] = fmt.Sprint(v)
					default:
						out[i] = string(f)
					}
				}
				rows = append(rows, out)
				return nil
			})
			require.NoError(t, err)
			require.Len(t, rows, 2)
			for i, col := range typeColumns {
				assert.Equal(t, "<NULL>", rows[1][i], col.name)
				if format != pgcopy.FormatBinary {
					want := col.want
					if col.typ == "bool" {
						want = "t" // COPY shows booleans as t and f
					}
					assert.Equal(t, want, rows[0][i], "%s %s", col.name, col.typ)
				} else {
					assert.NotEmpty(t, rows[0][i], col.name)
				}
			}
			requireIdle(t, c)
		})
	}
}
