package conn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// copyModes are the two ways a COPY statement is sent; every real-server
// COPY test runs in both.
var copyModes = []struct {
	name     string // subtest name
	extended bool   // CopyOptions.Extended
}{
	{"simple", false},
	{"extended", true},
}

// copyConnect connects as the superuser (pg_terminate_backend and triggers
// need no other role) to a fresh database without TLS.
func copyConnect(tb testing.TB, db *pgtest.Database) *conn.Conn {
	tb.Helper()
	return mustConnect(tb, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
}

// copyData returns n rows of text COPY data for a table (a int, b text):
// "i\trow i\n" for i in 1..n.
func copyData(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\trow %d\n", i, i)
	}
	return b.Bytes()
}

// copyBulk returns about n*20 bytes of text COPY data for a table (a int,
// b text) quickly: one row with a = 1, then n rows with a = 2.
func copyBulk(n int) []byte {
	return append([]byte("1\tfirst\n"), bytes.Repeat([]byte("2\tbulk row, padding\n"), n)...)
}

// copyReadAll reads a COPY TO STDOUT to its end.
func copyReadAll(tb testing.TB, cp *conn.Copy) []byte {
	tb.Helper()
	var out bytes.Buffer
	for {
		data, err := cp.Read()
		if errors.Is(err, io.EOF) {
			return out.Bytes()
		}
		require.NoError(tb, err)
		out.Write(data)
	}
}

// copyRequireIdle checks that an operation that failed left the connection
// idle, not busy, and usable.
func copyRequireIdle(tb testing.TB, c *conn.Conn) {
	tb.Helper()
	require.NoError(tb, c.Err(), "the connection must survive")
	requireUsable(tb, c)
}

// copyRequireClosed checks that err and the connection report a closed
// connection and that the next call fails at once.
func copyRequireClosed(tb testing.TB, c *conn.Conn, err error) {
	tb.Helper()
	require.Error(tb, err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	assert.ErrorIs(tb, c.Err(), conn.ErrClosed)
	assert.True(tb, c.State().Terminal(), "state %v", c.State())
	assert.False(tb, c.IsBusy())
	_, err = c.Exec(context.Background(), "select 1").ReadAll()
	assert.ErrorIs(tb, err, conn.ErrClosed)
}

func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "rt_" + mode.name
			mustExec(t, c, "create table "+table+" (a int primary key, b text)")
			data := copyData(5000)

			// A small chunk size makes Write send many CopyData messages.
			cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", conn.CopyOptions{ChunkSize: 4096, Extended: mode.extended})
			require.NoError(t, err)
			assert.Equal(t, conn.CopyIn, cp.Direction())
			assert.Equal(t, int16(0), cp.Format())
			assert.Equal(t, []int16{0, 0}, cp.ColumnFormats())
			assert.True(t, c.IsBusy())
			n, err := cp.Write(data)
			require.NoError(t, err)
			assert.Equal(t, len(data), n)
			tag, err := cp.Finish()
			require.NoError(t, err)
			assert.Equal(t, "COPY 5000", tag.String())
			assert.Equal(t, int64(5000), tag.RowsAffected())
			assert.True(t, cp.Done())
			assert.False(t, c.IsBusy())
			assert.Equal(t, wire.StateIdle, c.State())

			cp, err = c.CopyStart(ctx, "copy (select * from "+table+" order by a) to stdout", conn.CopyOptions{Extended: mode.extended})
			require.NoError(t, err)
			assert.Equal(t, conn.CopyOut, cp.Direction())
			assert.Equal(t, data, copyReadAll(t, cp))
			assert.Equal(t, "COPY 5000", cp.Tag().String())
			_, err = cp.Read()
			assert.ErrorIs(t, err, io.EOF, "Read after the end keeps returning io.EOF")

			cp, err = c.CopyStart(ctx, "copy "+table+" to stdout (format binary)", conn.CopyOptions{Extended: mode.extended})
			require.NoError(t, err)
			assert.Equal(t, int16(1), cp.Format())
			assert.Equal(t, []int16{1, 1}, cp.ColumnFormats())
			bin := copyReadAll(t, cp)
			assert.True(t, bytes.HasPrefix(bin, []byte("PGCOPY\n\xff\r\n\x00")), "binary signature")
			assert.True(t, bytes.HasSuffix(bin, []byte{0xff, 0xff}), "binary trailer")
			copyRequireIdle(t, c)
		})
	}
}

func TestCopyReadFromWriteTo(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "rw_" + mode.name
			mustExec(t, c, "create table "+table+" (a int, b text)")
			data := copyData(20000)
			opts := conn.CopyOptions{ChunkSize: 10000, Extended: mode.extended}

			cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", opts)
			require.NoError(t, err)
			// A reader that returns one byte at a time still fills whole
			// chunks.
			n, err := cp.ReadFrom(iotest.HalfReader(bytes.NewReader(data)))
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), n)
			tag, err := cp.Finish()
			require.NoError(t, err)
			assert.Equal(t, "COPY 20000", tag.String())

			cp, err = c.CopyStart(ctx, "copy (select * from "+table+" order by a) to stdout", opts)
			require.NoError(t, err)
			var out bytes.Buffer
			m, err := cp.WriteTo(&out)
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), m)
			assert.Equal(t, data, out.Bytes())
			assert.Equal(t, "COPY 20000", cp.Tag().String())
			copyRequireIdle(t, c)
		})
	}
}

// copyFailingWriter accepts limit bytes, then fails.
type copyFailingWriter struct {
	limit int
	err   error
}

func (w *copyFailingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		return 0, w.err
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestCopySourceAndDestinationFail(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	errSource := errors.New("source broke")
	errDest := errors.New("destination broke")
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "sf_" + mode.name
			mustExec(t, c, "create table "+table+" (a int, b text)")
			opts := conn.CopyOptions{ChunkSize: 4096, Extended: mode.extended}

			t.Run("reader", func(t *testing.T) {
				cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", opts)
				require.NoError(t, err)
				src := io.MultiReader(bytes.NewReader(copyData(2000)), iotest.ErrReader(errSource))
				_, err = cp.ReadFrom(src)
				require.ErrorIs(t, err, errSource)
				assert.True(t, cp.Done())
				_, err = cp.Write([]byte("1\tx\n"))
				assert.Error(t, err, "a failed Copy refuses more data")
				assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+table), "nothing of a failed COPY is committed")
				copyRequireIdle(t, c)
			})
			t.Run("writer", func(t *testing.T) {
				cp, err := c.CopyStart(ctx, "copy (select generate_series(1, 100000000)) to stdout", opts)
				require.NoError(t, err)
				_, err = cp.WriteTo(&copyFailingWriter{limit: 1000, err: errDest})
				require.ErrorIs(t, err, errDest)
				assert.True(t, cp.Done())
				copyRequireIdle(t, c)
			})
		})
	}
}

func TestCopyStartNotCopy(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	cases := []struct {
		name    string // what the statement is
		sql     string // the statement
		code    string // the SQLSTATE expected, or "" for ErrNotCopy
		message string // a substring of the error, if not ""
	}{
		{name: "select", sql: "select 1", message: "returns rows"},
		// Draining a billion rows would take minutes: the statement must
		// be cancelled instead (boundedCtx turns a drain into a failure).
		{name: "huge select", sql: "select generate_series(1, 1000000000)", message: "returns rows"},
		{name: "utility", sql: "create table nc_made (a int)", message: "CREATE TABLE"},
		{name: "empty", sql: " -- nothing", message: "empty"},
		{name: "missing table", sql: "copy nc_missing from stdin", code: "42P01"},
		{name: "syntax error", sql: "copyy x from stdin", code: "42601"},
	}
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if mode.extended && tc.name == "utility" {
						tc.sql = strings.Replace(tc.sql, "nc_made", "nc_made_x", 1)
					}
					ctx := boundedCtx(t, 30*time.Second)
					cp, err := c.CopyStart(ctx, tc.sql, conn.CopyOptions{Extended: mode.extended})
					require.Error(t, err)
					assert.Nil(t, cp)
					require.NoError(t, ctx.Err(), "CopyStart must fail promptly, not when the context ends")
					if tc.code != "" {
						var pe *conn.PgError
						require.ErrorAs(t, err, &pe)
						assert.Equal(t, tc.code, pe.Code)
						assert.NotErrorIs(t, err, conn.ErrNotCopy)
					} else {
						assert.ErrorIs(t, err, conn.ErrNotCopy)
					}
					if tc.message != "" {
						assert.Contains(t, err.Error(), tc.message)
					}
					copyRequireIdle(t, c)
				})
			}
		})
	}
}

func TestCopyStartDirection(t *testing.T) {
	t.Parallel()
	c := copyConnect(t, pgtest.MustDatabase(t))
	mustExec(t, c, "create table d (a int)")
	cases := []struct {
		name string             // the mismatch
		sql  string             // the statement
		want conn.CopyDirection // what the caller asks for
	}{
		{"from stdin for an out copy", "copy d from stdin", conn.CopyOut},
		{"to stdout for an in copy", "COPY (select 1) TO STDOUT", conn.CopyIn},
		{"binary in, commented", "/* x */ copy binary d from stdin with (format binary)", conn.CopyOut},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := c.CopyStart(t.Context(), tc.sql, conn.CopyOptions{Direction: tc.want})
			require.Error(t, err)
			assert.Nil(t, cp)
			var ie *wire.InputError
			assert.ErrorAs(t, err, &ie)
			assert.True(t, conn.SafeToRetry(err), "refused before anything was sent")
			copyRequireIdle(t, c)
		})
	}
}

func TestCopyServerErrorMidStream(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "se_" + mode.name
			mustExec(t, c, "create table "+table+" (a int primary key, b text)")
			// Line 5 repeats the key of line 2; about 20 MB follow it.
			data := append(copyData(4), []byte("2\tduplicate\n")...)
			data = append(data, copyBulk(1000000)...)

			cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", conn.CopyOptions{ChunkSize: 16 << 10, Extended: mode.extended})
			require.NoError(t, err)
			n, err := cp.Write(data)
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe, "Write notices the server's error")
			assert.Less(t, n, len(data), "sending stops once the server reported the error")
			assert.Equal(t, "23505", pe.Code)
			assert.Contains(t, pe.Where, "line 5")
			assert.True(t, cp.Done())
			tag, ferr := cp.Finish()
			assert.Equal(t, err, ferr, "Finish reports the same outcome")
			assert.Empty(t, tag.String())
			assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+table))
			copyRequireIdle(t, c)
		})
	}
}

func TestCopyFail(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "cf_" + mode.name
			mustExec(t, c, "create table "+table+" (a int, b text)")

			t.Run("copy in", func(t *testing.T) {
				cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", conn.CopyOptions{Extended: mode.extended})
				require.NoError(t, err)
				_, err = cp.Write(copyData(100))
				require.NoError(t, err)
				// The reason is made sendable: NUL and invalid UTF-8 go.
				require.NoError(t, cp.Fail("giving up \x00 \xff"))
				assert.True(t, cp.Done())
				assert.NoError(t, cp.Fail("again"), "Fail on an ended Copy does nothing")
				_, err = cp.Finish()
				assert.ErrorContains(t, err, "failed by the client")
				assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+table))
				copyRequireIdle(t, c)
			})
			t.Run("copy out", func(t *testing.T) {
				cp, err := c.CopyStart(ctx, "copy (select generate_series(1, 100000000)) to stdout", conn.CopyOptions{Extended: mode.extended})
				require.NoError(t, err)
				_, err = cp.Read()
				require.NoError(t, err)
				require.NoError(t, cp.Fail("enough"))
				assert.True(t, cp.Done())
				copyRequireIdle(t, c)
			})
		})
	}
}

func TestCopyContextEnds(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			table := "cx_" + mode.name
			mustExec(t, c, "create table "+table+" (a int, b text)")
			opts := conn.CopyOptions{ChunkSize: 8192, Extended: mode.extended}

			t.Run("between writes", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", opts)
				require.NoError(t, err)
				_, err = cp.Write(copyData(1000))
				require.NoError(t, err)
				cancel()
				_, err = cp.Write(copyData(1000))
				require.ErrorIs(t, err, context.Canceled)
				assert.True(t, cp.Done())
				assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+table))
				copyRequireIdle(t, c)
			})
			t.Run("while a write blocks", func(t *testing.T) {
				// The server sleeps in a trigger on the first row and reads
				// nothing: the client's writes fill the socket buffers and
				// block until the deadline.
				slow := table + "_slow"
				mustExec(t, c, "create table "+slow+" (a int, b text)")
				mustExec(t, c, `create function `+slow+`_sleep() returns trigger language plpgsql as $$
					begin if new.a = 1 then perform pg_sleep(60); end if; return new; end $$`)
				mustExec(t, c, "create trigger s before insert on "+slow+" for each row execute function "+slow+"_sleep()")
				data := copyBulk(2000000) // about 40 MB
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				cp, err := c.CopyStart(ctx, "copy "+slow+" from stdin", opts)
				require.NoError(t, err)
				start := time.Now()
				n, err := cp.Write(data)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Less(t, n, len(data), "the write was interrupted")
				assert.Less(t, time.Since(start), 30*time.Second, "the sleeping trigger was interrupted")
				assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+slow))
				copyRequireIdle(t, c)
			})
			t.Run("copy out", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cp, err := c.CopyStart(ctx, "copy (select generate_series(1, 100000000)) to stdout", opts)
				require.NoError(t, err)
				_, err = cp.Read()
				require.NoError(t, err)
				cancel()
				_, err = cp.Read()
				require.ErrorIs(t, err, context.Canceled)
				assert.True(t, cp.Done())
				copyRequireIdle(t, c)
			})
			t.Run("awaiting the copy response", func(t *testing.T) {
				locked := table + "_locked"
				mustExec(t, c, "create table "+locked+" (a int)")
				holder := copyConnect(t, db)
				mustExec(t, holder, "begin; lock table "+locked+" in access exclusive mode")
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				cp, err := c.CopyStart(ctx, "copy "+locked+" from stdin", opts)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Nil(t, cp)
				mustExec(t, holder, "rollback")
				copyRequireIdle(t, c)
			})
		})
	}
}

func TestCopyTerminateBackend(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	admin := copyConnect(t, db)
	mustExec(t, admin, "create table tb (a int, b text)")
	kill := func(t *testing.T, victim *conn.Conn) {
		t.Helper()
		assert.Equal(t, "t", mustQueryValue(t, admin, fmt.Sprintf("select pg_terminate_backend(%d)", victim.PID())))
	}
	requireTerminated := func(t *testing.T, c *conn.Conn, err error) {
		t.Helper()
		copyRequireClosed(t, c, err)
		var pe *conn.PgError
		if errors.As(err, &pe) {
			assert.Equal(t, "57P01", pe.Code)
			assert.True(t, pe.Fatal())
		} else {
			t.Logf("the FATAL error was lost with the socket: %v", err)
		}
	}
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Run("copy in", func(t *testing.T) {
				c := copyConnect(t, db)
				ctx := boundedCtx(t, time.Minute)
				cp, err := c.CopyStart(ctx, "copy tb from stdin", conn.CopyOptions{ChunkSize: 8192, Extended: mode.extended})
				require.NoError(t, err)
				chunk := copyData(500)
				_, err = cp.Write(chunk)
				require.NoError(t, err)
				kill(t, c)
				for i := 0; err == nil && i < 100000; i++ {
					_, err = cp.Write(chunk)
				}
				if err == nil {
					_, err = cp.Finish()
				}
				requireTerminated(t, c, err)
			})
			t.Run("copy out", func(t *testing.T) {
				c := copyConnect(t, db)
				ctx := boundedCtx(t, time.Minute)
				cp, err := c.CopyStart(ctx, "copy (select generate_series(1, 100000000)) to stdout", conn.CopyOptions{Extended: mode.extended})
				require.NoError(t, err)
				_, err = cp.Read()
				require.NoError(t, err)
				kill(t, c)
				for err == nil {
					_, err = cp.Read()
				}
				requireTerminated(t, c, err)
			})
		})
	}
}

func TestCopyInTransaction(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	for _, mode := range copyModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c := copyConnect(t, db)
			ctx := boundedCtx(t, time.Minute)
			table := "tx_" + mode.name
			mustExec(t, c, "create table "+table+" (a int primary key, b text)")
			opts := conn.CopyOptions{Extended: mode.extended}

			mustExec(t, c, "begin")
			cp, err := c.CopyStart(ctx, "copy "+table+" from stdin", opts)
			require.NoError(t, err)
			_, err = cp.Write(copyData(10))
			require.NoError(t, err)
			tag, err := cp.Finish()
			require.NoError(t, err)
			assert.Equal(t, "COPY 10", tag.String())
			assert.Equal(t, wire.TxInBlock, c.TxStatus(), "the COPY ran inside the open transaction")
			assert.Equal(t, "10", mustQueryValue(t, c, "select count(*) from "+table))

			cp, err = c.CopyStart(ctx, "copy "+table+" from stdin", opts)
			require.NoError(t, err)
			_, err = cp.Write([]byte("1\tagain\n"))
			if err == nil {
				_, err = cp.Finish()
			}
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "23505", pe.Code)
			assert.Equal(t, wire.TxFailed, c.TxStatus())
			mustExec(t, c, "rollback")
			assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from "+table))
			copyRequireIdle(t, c)
		})
	}
}

// TestCopyMultiStatement runs a COPY that shares its Query with other
// statements: later results are read past, a second COPY FROM STDIN is
// failed (there is one data source), and the implicit transaction decides
// what is kept.
func TestCopyMultiStatement(t *testing.T) {
	t.Parallel()
	c := copyConnect(t, pgtest.MustDatabase(t))
	mustExec(t, c, "create table ms (a int, b text)")
	ctx := boundedCtx(t, time.Minute)

	cp, err := c.CopyStart(ctx, "copy ms from stdin; select 'later'; update ms set b = 'x'", conn.CopyOptions{})
	require.NoError(t, err)
	_, err = cp.Write(copyData(3))
	require.NoError(t, err)
	tag, err := cp.Finish()
	require.NoError(t, err)
	assert.Equal(t, "COPY 3", tag.String(), "the tag is the COPY's")
	assert.Equal(t, "3", mustQueryValue(t, c, "select count(*) from ms where b = 'x'"))

	cp, err = c.CopyStart(ctx, "copy ms from stdin; copy ms from stdin", conn.CopyOptions{})
	require.NoError(t, err)
	_, err = cp.Write(copyData(3))
	require.NoError(t, err)
	_, err = cp.Finish()
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "57014", pe.Code, "the second COPY was failed")
	assert.Equal(t, "3", mustQueryValue(t, c, "select count(*) from ms"), "the whole Query was rolled back")
	copyRequireIdle(t, c)
}

// TestCopyInPipeline sends COPY FROM STDIN inside a pipeline, which has no
// data source for it. Alone in its segment, the copy is failed cleanly and
// the pipeline goes on. With another segment queued behind it, the server
// would swallow the Sync and abort the copy on the next message (G12), so
// the reply cannot be placed: the connection is closed at once rather than
// left to hang or guess.
func TestCopyInPipeline(t *testing.T) {
	t.Parallel()
	db := pgtest.MustDatabase(t)
	t.Run("alone in its segment", func(t *testing.T) {
		c := copyConnect(t, db)
		mustExec(t, c, "create table pl (a int)")
		p := c.StartPipeline(boundedCtx(t, time.Minute))
		require.NoError(t, p.SendQueryParams("copy pl from stdin", nil, nil, nil, nil))
		require.NoError(t, p.Sync())
		res, err := p.GetResults()
		require.NoError(t, err)
		rr, ok := res.(*conn.ResultReader)
		require.True(t, ok, "got %T", res)
		_, err = rr.Close()
		var pe *conn.PgError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "57014", pe.Code)
		res, err = p.GetResults()
		require.NoError(t, err)
		assert.IsType(t, &conn.PipelineSync{}, res)
		require.NoError(t, p.Close())
		copyRequireIdle(t, c)
	})
	t.Run("with a segment behind it", func(t *testing.T) {
		c := copyConnect(t, db)
		mustExec(t, c, "create table pl2 (a int)")
		ctx := boundedCtx(t, time.Minute)
		p := c.StartPipeline(ctx)
		require.NoError(t, p.SendQueryParams("copy pl2 from stdin", nil, nil, nil, nil))
		require.NoError(t, p.Sync())
		require.NoError(t, p.SendQueryParams("select 'after'", nil, nil, nil, nil))
		require.NoError(t, p.Sync())
		var err error
		for err == nil {
			var res any
			res, err = p.GetResults()
			if rr, ok := res.(*conn.ResultReader); ok {
				_, err = rr.Close()
			}
			if res == nil && err == nil {
				break
			}
		}
		perr := p.Close()
		require.NoError(t, ctx.Err(), "no hang")
		var pe *wire.ProtocolError
		require.ErrorAs(t, errors.Join(err, perr), &pe)
		assert.Equal(t, wire.ReasonCopyState, pe.Reason)
		copyRequireClosed(t, c, c.Err())
	})
}

// TestCopyZeroAllocs checks that a COPY allocates nothing per CopyData in
// steady state, in both directions.
func TestCopyZeroAllocs(t *testing.T) {
	c := copyConnect(t, pgtest.MustDatabase(t))
	mustExec(t, c, "create unlogged table za (a int, b text)")
	ctx := boundedCtx(t, time.Minute)
	chunk := copyData(4000) // about 60 KB, sent as one message

	cp, err := c.CopyStart(ctx, "copy za from stdin", conn.CopyOptions{ChunkSize: len(chunk)})
	require.NoError(t, err)
	_, err = cp.Write(chunk)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := cp.Write(chunk); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per Write of one chunk")
	_, err = cp.Finish()
	require.NoError(t, err)

	cp, err = c.CopyStart(ctx, "copy (select g, 'row ' || g from generate_series(1, 1000000) g) to stdout", conn.CopyOptions{})
	require.NoError(t, err)
	allocs = testing.AllocsPerRun(10000, func() {
		if _, err := cp.Read(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per Read of one row")
	require.NoError(t, cp.Fail("done"))
	copyRequireIdle(t, c)
}

// ---- fake-server faults -------------------------------------------------

// copyFakeConnect connects to a fake server running script over tr.
func copyFakeConnect(tb testing.TB, tr pgtest.FakeTransport, script *pgtest.Script) *conn.Conn {
	tb.Helper()
	srv := pgtest.NewFakeServer(tb, script, pgtest.WithFakeTransport(tr), pgtest.AllowIncomplete())
	cfg := mustParseConfig(tb, "host=127.0.0.1 port=5432 user=u dbname=d sslmode=disable")
	cfg.DialFunc = srv.Dial
	cfg.Passfile = ""
	cfg.DrainTimeout = 2 * time.Second
	ctx := boundedCtx(tb, 10*time.Second)
	c, err := conn.ConnectConfig(ctx, cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// copyFakeTransports are the transports of the fake-server tests: net.Pipe
// (the COPY poll reads with a near-zero deadline) and TCP (it peeks at the
// socket).
var copyFakeTransports = []pgtest.FakeTransport{pgtest.FakePipe, pgtest.FakeTCP}

// copyIn and copyOut are the server's answers that start a COPY of one
// text column.
var (
	copyIn  = &pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}}
	copyOut = &pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}}
)

func copyTag(tag string) *pgproto3.CommandComplete {
	return &pgproto3.CommandComplete{CommandTag: []byte(tag)}
}

func copyRow(s string) *pgproto3.CopyData { return &pgproto3.CopyData{Data: []byte(s)} }

// TestCopyFault feeds replies that break the COPY sub-state rules (§2.7):
// each must end in a desynchronized, closed connection with the right
// Reason, and the next call must fail.
func TestCopyFault(t *testing.T) {
	t.Parallel()
	const in, out = "copy t from stdin", "copy t to stdout"
	cases := []struct {
		name   string                    // the fault
		sql    string                    // the statement the client sends
		reply  []pgproto3.BackendMessage // the server's reply to it
		run    func(*conn.Copy) error    // what the client does after CopyStart (nil: CopyStart fails)
		reason wire.Reason               // the expected Reason
		admit  bool                      // the wire Admit gate refuses the type first (see copyReason)
		after  func(s *pgtest.Script)    // more script steps after the reply (nil: wait for the hang-up)
	}{
		{name: "CopyData when not copying", sql: in, reply: []pgproto3.BackendMessage{copyRow("1\n")},
			reason: wire.ReasonUnexpectedMessage},
		{name: "CopyData during COPY FROM STDIN", sql: in, reply: []pgproto3.BackendMessage{copyIn, copyRow("1\n")},
			run: copyWriteFinish, reason: wire.ReasonCopyState, admit: true},
		{name: "CommandComplete before the client's CopyDone", sql: in, reply: []pgproto3.BackendMessage{copyIn, copyTag("COPY 0")},
			run: copyWriteFinish, reason: wire.ReasonCopyState},
		{name: "ReadyForQuery inside COPY FROM STDIN", sql: in, reply: []pgproto3.BackendMessage{copyIn, &pgproto3.ReadyForQuery{TxStatus: 'I'}},
			run: copyWriteFinish, reason: wire.ReasonCopyState, admit: true},
		{name: "CommandComplete before CopyDone", sql: out, reply: []pgproto3.BackendMessage{copyOut, copyRow("1\n"), copyTag("COPY 1")},
			run: copyReadToEnd, reason: wire.ReasonCopyState},
		{name: "second CopyDone", sql: out, reply: []pgproto3.BackendMessage{copyOut, copyRow("1\n"), &pgproto3.CopyDone{}, &pgproto3.CopyDone{}},
			run: copyReadToEnd, reason: wire.ReasonCopyState},
		{name: "CopyData after CopyDone", sql: out, reply: []pgproto3.BackendMessage{copyOut, &pgproto3.CopyDone{}, copyRow("1\n")},
			run: copyReadToEnd, reason: wire.ReasonCopyState},
		{name: "ReadyForQuery inside COPY TO STDOUT", sql: out, reply: []pgproto3.BackendMessage{copyOut, copyRow("1\n"), &pgproto3.ReadyForQuery{TxStatus: 'I'}},
			run: copyReadToEnd, reason: wire.ReasonCopyState, admit: true},
		{name: "DataRow inside COPY TO STDOUT", sql: out, reply: []pgproto3.BackendMessage{copyOut, &pgproto3.DataRow{Values: [][]byte{[]byte("1")}}},
			run: copyReadToEnd, reason: wire.ReasonCopyState, admit: true},
		{name: "CopyOutResponse to COPY FROM STDIN", sql: in, reply: []pgproto3.BackendMessage{copyOut},
			reason: wire.ReasonCopyState},
		{name: "CopyInResponse to COPY TO STDOUT", sql: out, reply: []pgproto3.BackendMessage{copyIn},
			reason: wire.ReasonCopyState},
		{name: "CommandComplete after CopyFail", sql: in, reply: []pgproto3.BackendMessage{copyIn},
			run: func(cp *conn.Copy) error { return cp.Fail("stop") }, reason: wire.ReasonCopyState,
			after: func(s *pgtest.Script) {
				s.Expect(&pgproto3.CopyFail{Message: "stop"}).Send(copyTag("COPY 0"), &pgproto3.ReadyForQuery{TxStatus: 'I'})
			}},
	}
	for _, tc := range cases {
		for _, tr := range copyFakeTransports {
			t.Run(tc.name+"/"+tr.String(), func(t *testing.T) {
				t.Parallel()
				script := pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: tc.sql}).Send(tc.reply...)
				if tc.after != nil {
					tc.after(script)
				}
				script.StallUntilClosed()
				c := copyFakeConnect(t, tr, script)
				ctx := boundedCtx(t, 10*time.Second)
				cp, err := c.CopyStart(ctx, tc.sql, conn.CopyOptions{})
				if tc.run != nil {
					require.NoError(t, err)
					err = tc.run(cp)
					assert.True(t, cp.Done())
				} else {
					assert.Nil(t, cp)
				}
				require.NoError(t, ctx.Err(), "the fault must be found at once, not by a timeout")
				copyRequireReason(t, err, tc.reason, tc.admit)
				copyRequireReason(t, c.Err(), tc.reason, tc.admit)
				assert.Equal(t, wire.StateDesynced, c.State())
				copyRequireClosed(t, c, err)
			})
		}
	}
}

// copyRequireReason checks that err wraps ErrClosed and a
// *wire.ProtocolError with reason. When admit is set the message type is
// one the wire Tracker's Admit gate refuses in COPY states before Receive
// sees it, and Admit reports ReasonUnexpectedMessage where Receive reports
// ReasonCopyState (a known wire bug: trKnownBug in wire/tracker_test.go);
// either Reason is then accepted.
func copyRequireReason(tb testing.TB, err error, reason wire.Reason, admit bool) {
	tb.Helper()
	require.Error(tb, err)
	assert.ErrorIs(tb, err, conn.ErrClosed)
	var pe *wire.ProtocolError
	require.ErrorAs(tb, err, &pe, "want a *wire.ProtocolError, got %v", err)
	if admit && pe.Reason == wire.ReasonUnexpectedMessage {
		return
	}
	assert.Equal(tb, reason.String(), pe.Reason.String(), "%v", pe)
}

// copyWriteFinish sends one row and finishes; the first error is returned.
func copyWriteFinish(cp *conn.Copy) error {
	if _, err := cp.Write([]byte("1\n")); err != nil {
		return err
	}
	_, err := cp.Finish()
	return err
}

// copyReadToEnd reads a COPY TO STDOUT until Read fails or ends.
func copyReadToEnd(cp *conn.Copy) error {
	for {
		if _, err := cp.Read(); err != nil {
			return err
		}
	}
}

// TestCopyFakeProtocol checks the exact messages of a COPY against the
// scripted server: the extended protocol's fresh Sync after CopyDone and
// CopyFail (G12), the CopyFail of a cancelled context, and the recovery from
// a COPY in the unexpected direction.
func TestCopyFakeProtocol(t *testing.T) {
	t.Parallel()
	ready := &pgproto3.ReadyForQuery{TxStatus: 'I'}
	canceled := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "57014", Message: "COPY from stdin failed"}
	extended := func(s *pgtest.Script, sql string) *pgtest.Script {
		return s.Expect(&pgproto3.Parse{Query: sql}).Expect(&pgproto3.Bind{}).Expect(&pgproto3.Execute{}).Expect(&pgproto3.Sync{}).
			Send(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{})
	}
	cases := []struct {
		name   string                                        // the exchange
		script func(s *pgtest.Script) *pgtest.Script         // the server's side after startup
		run    func(ctx context.Context, c *conn.Conn) error // the client's side
		check  func(t *testing.T, err error)                 // checks the client's outcome
	}{
		{
			name: "extended copy in sends a fresh Sync after CopyDone",
			script: func(s *pgtest.Script) *pgtest.Script {
				return extended(s, "copy t from stdin").Send(copyIn).
					Expect(&pgproto3.CopyData{Data: []byte("1\n")}).Expect(&pgproto3.CopyDone{}).Expect(&pgproto3.Sync{}).
					Send(copyTag("COPY 1"), ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{Extended: true})
				if err != nil {
					return err
				}
				return copyWriteFinish(cp)
			},
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		{
			name: "extended copy in sends a fresh Sync after CopyFail",
			script: func(s *pgtest.Script) *pgtest.Script {
				return extended(s, "copy t from stdin").Send(copyIn).
					Expect(&pgproto3.CopyFail{Message: "no"}).Expect(&pgproto3.Sync{}).Send(canceled, ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{Extended: true})
				if err != nil {
					return err
				}
				return cp.Fail("no")
			},
			check: func(t *testing.T, err error) { assert.NoError(t, err, "the 57014 answering CopyFail is absorbed") },
		},
		{
			name: "extended copy out reads the Sync's ReadyForQuery",
			script: func(s *pgtest.Script) *pgtest.Script {
				return extended(s, "copy t to stdout").Send(copyOut, copyRow("1\n"), &pgproto3.CopyDone{}, copyTag("COPY 1"), ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				cp, err := c.CopyStart(ctx, "copy t to stdout", conn.CopyOptions{Extended: true})
				if err != nil {
					return err
				}
				if err := copyReadToEnd(cp); !errors.Is(err, io.EOF) {
					return err
				}
				if cp.Tag().String() != "COPY 1" {
					return fmt.Errorf("tag %q", cp.Tag())
				}
				return nil
			},
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		{
			name: "server error during extended copy in: a Sync ends the skip",
			script: func(s *pgtest.Script) *pgtest.Script {
				return extended(s, "copy t from stdin").Send(copyIn,
					&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "22P02", Message: "bad", Where: "COPY t, line 1"}).
					Expect(&pgproto3.Sync{}).Send(ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{Extended: true})
				if err != nil {
					return err
				}
				_, err = cp.Finish()
				return err
			},
			check: func(t *testing.T, err error) {
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "22P02", pe.Code)
			},
		},
		{
			name: "a cancelled context sends CopyFail with the reason",
			script: func(s *pgtest.Script) *pgtest.Script {
				return s.Expect(&pgproto3.Query{String: "copy t from stdin"}).Send(copyIn).
					Expect(&pgproto3.CopyFail{Message: context.Canceled.Error()}).Send(canceled, ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{})
				if err != nil {
					return err
				}
				cancel()
				_, err = cp.Write([]byte("1\n"))
				return err
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, context.Canceled) },
		},
		{
			name: "a CopyFail reason is made sendable",
			script: func(s *pgtest.Script) *pgtest.Script {
				return s.Expect(&pgproto3.Query{String: "copy t from stdin"}).Send(copyIn).
					ExpectFunc(func(m pgproto3.FrontendMessage) error {
						f, ok := m.(*pgproto3.CopyFail)
						switch {
						case !ok:
							return fmt.Errorf("want CopyFail, got %T", m)
						case !strings.HasPrefix(f.Message, "a\\0b\uFFFDc"):
							return fmt.Errorf("NUL and invalid UTF-8 not replaced: %q", f.Message[:10])
						case len(f.Message) > 8000 || !utf8.ValidString(f.Message):
							return fmt.Errorf("reason of %d bytes, valid UTF-8 %t", len(f.Message), utf8.ValidString(f.Message))
						}
						return nil
					}).Send(canceled, ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{})
				if err != nil {
					return err
				}
				return cp.Fail("a\x00b\xffc" + strings.Repeat("é", 6000))
			},
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		{
			name: "an unexpected direction the statement does not declare is failed",
			script: func(s *pgtest.Script) *pgtest.Script {
				return s.Expect(&pgproto3.Query{String: "execute copier"}).Send(copyIn).
					Expect(&pgproto3.CopyFail{Message: "the client expected COPY TO STDOUT"}).Send(canceled, ready)
			},
			run: func(ctx context.Context, c *conn.Conn) error {
				_, err := c.CopyStart(ctx, "execute copier", conn.CopyOptions{Direction: conn.CopyOut})
				return err
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, conn.ErrNotCopy) },
		},
	}
	for _, tc := range cases {
		for _, tr := range copyFakeTransports {
			t.Run(tc.name+"/"+tr.String(), func(t *testing.T) {
				t.Parallel()
				script := tc.script(pgtest.NewScript().AcceptStartup()).
					Expect(&pgproto3.Query{String: "select 1"}).
					Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("c"), DataTypeOID: 25, Format: 0}}},
						&pgproto3.DataRow{Values: [][]byte{[]byte("1")}}, copyTag("SELECT 1"), ready).
					StallUntilClosed()
				c := copyFakeConnect(t, tr, script)
				ctx := boundedCtx(t, 10*time.Second)
				tc.check(t, tc.run(ctx, c))
				require.NoError(t, c.Err())
				assert.Equal(t, wire.StateIdle, c.State())
				res, err := c.Exec(ctx, "select 1").ReadAll()
				require.NoError(t, err, "the connection is usable after the COPY")
				require.Len(t, res, 1)
				assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
			})
		}
	}
}

// TestCopyDirectionOfStatement checks which statements CopyStart takes to
// declare a direction (through the refusal before sending).
func TestCopyDirectionOfStatement(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string             // the statement's shape
		sql  string             // the statement
		dir  conn.CopyDirection // the direction it declares, 0 for none
	}{
		{"plain in", "COPY t FROM STDIN", conn.CopyIn},
		{"plain out", "copy t to stdout", conn.CopyOut},
		{"columns and options", `copy s."T" (a, "from") from stdin with (format csv, delimiter ';')`, conn.CopyIn},
		{"query", "copy (select 'to stdout' from t where x in (select 1)) to stdout", conn.CopyOut},
		{"comments", "-- copy t to stdout\n/* nested /* to stdout */ */ copy t from stdin", conn.CopyIn},
		{"dollar quote", "copy (select $q$ from stdin $q$) to stdout", conn.CopyOut},
		{"escape string", `copy (select E'\' from stdin') to stdout`, conn.CopyOut},
		{"old syntax", "COPY BINARY t FROM STDIN", conn.CopyIn},
		{"file", "copy t from '/tmp/x'", 0},
		{"program", "copy t to program 'cat'", 0},
		{"not copy", "select 1", 0},
		{"later statement", "select 1; copy t from stdin", 0},
	}
	// A closed connection answers every call with ErrClosed, but only
	// after the statement check: the check decides which error comes.
	c := copyFakeConnect(t, pgtest.FakePipe, pgtest.NewScript().AcceptStartup().ExpectTerminate())
	require.NoError(t, c.Close(t.Context()))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, want := range []conn.CopyDirection{conn.CopyIn, conn.CopyOut} {
				_, err := c.CopyStart(t.Context(), tc.sql, conn.CopyOptions{Direction: want})
				require.Error(t, err)
				var ie *wire.InputError
				refused := errors.As(err, &ie)
				assert.Equal(t, tc.dir != 0 && tc.dir != want, refused, "want %v: %v", want, err)
			}
		})
	}
}
