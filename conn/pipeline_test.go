package conn_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// pipelineRows asserts that res is a *conn.ResultReader and returns its
// rows as text and its tag.
func pipelineRows(t *testing.T, res any, err error) ([]string, string, error) {
	t.Helper()
	require.NoError(t, err)
	rr, ok := res.(*conn.ResultReader)
	require.True(t, ok, "want a *conn.ResultReader, got %T", res)
	var rows []string
	for rr.NextRow() {
		rows = append(rows, string(rr.Values()[0]))
	}
	tag, err := rr.Close()
	return rows, tag.String(), err
}

// nextRows reads the next result of p, which must be a
// *conn.ResultReader, like pipelineRows.
func nextRows(t *testing.T, p *conn.Pipeline) ([]string, string, error) {
	t.Helper()
	res, err := p.GetResults()
	return pipelineRows(t, res, err)
}

// requirePipelineSync asserts that the next result is a *conn.PipelineSync
// and returns its error.
func requirePipelineSync(t *testing.T, p *conn.Pipeline) error {
	t.Helper()
	res, err := p.GetResults()
	require.IsType(t, &conn.PipelineSync{}, res, "err %v", err)
	return err
}

// TestPipelineSegments runs three segments with a failing request in the
// middle of the second: the failure is reported on that request, the rest
// of its segment is skipped, the segment's Sync succeeds and the third
// segment runs normally.
func TestPipelineSegments(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name string
		// fail queues the failing request.
		fail func(p *conn.Pipeline) error
		// check checks its result.
		check func(t *testing.T, res any, err error)
		code  string // its SQLSTATE
	}{
		{
			name: "run-time error in a query",
			fail: func(p *conn.Pipeline) error {
				return p.SendQueryParams("select 10 / x from (values (1), ($1::int)) v(x)", [][]byte{[]byte("0")}, nil, nil, nil)
			},
			check: func(t *testing.T, res any, err error) {
				rows, _, err := pipelineRows(t, res, err)
				assert.Equal(t, []string{"10"}, rows, "the row sent before the error")
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "22012", pe.Code)
			},
		},
		{
			name: "syntax error in a query",
			fail: func(p *conn.Pipeline) error { return p.SendQueryParams("select from from", nil, nil, nil, nil) },
			check: func(t *testing.T, res any, err error) {
				rows, _, err := pipelineRows(t, res, err)
				assert.Empty(t, rows)
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "42601", pe.Code)
			},
		},
		{
			name: "syntax error in a prepare",
			fail: func(p *conn.Pipeline) error { return p.SendPrepare("bad", "select from from", nil) },
			check: func(t *testing.T, res any, err error) {
				assert.Nil(t, res)
				var pe *conn.PgError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "42601", pe.Code)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			mustExec(t, c, "create temp table t (x int)")
			p := c.StartPipeline(boundedCtx(t, 30*time.Second))
			// Segment 1.
			require.NoError(t, p.SendQueryParams("select 1", nil, nil, nil, nil))
			require.NoError(t, p.SendPrepare("s", "select $1::int * 2", nil))
			require.NoError(t, p.Sync())
			// Segment 2: ok, failing, then three requests that are skipped
			// (one of them a write that must not happen).
			require.NoError(t, p.SendQueryPrepared("s", [][]byte{[]byte("21")}, nil, nil))
			require.NoError(t, tc.fail(p))
			require.NoError(t, p.SendQueryParams("insert into t values (1)", nil, nil, nil, nil))
			require.NoError(t, p.SendPrepare("skipped", "select 5", nil))
			require.NoError(t, p.SendDeallocate("s"))
			require.NoError(t, p.Sync())
			// Segment 3.
			require.NoError(t, p.SendQueryPrepared("s", [][]byte{[]byte("4")}, nil, nil))
			require.NoError(t, p.SendQueryParams("select count(*) from t", nil, nil, nil, nil))
			require.NoError(t, p.Sync())

			rows, tag, err := nextRows(t, p)
			require.NoError(t, err)
			assert.Equal(t, []string{"1"}, rows)
			assert.Equal(t, "SELECT 1", tag)
			res, err := p.GetResults()
			require.NoError(t, err)
			require.IsType(t, &conn.StatementDescription{}, res)
			assert.Equal(t, []uint32{oidInt4}, res.(*conn.StatementDescription).ParamOIDs)
			require.NoError(t, requirePipelineSync(t, p))

			rows, _, err = nextRows(t, p)
			require.NoError(t, err)
			assert.Equal(t, []string{"42"}, rows)
			res, err = p.GetResults()
			tc.check(t, res, err)
			for i := range 3 {
				res, err := p.GetResults()
				assert.Nil(t, res, "skipped request %d", i)
				assert.ErrorIs(t, err, conn.ErrPipelineSkipped, "skipped request %d", i)
			}
			require.NoError(t, requirePipelineSync(t, p), "the segment's Sync")

			rows, _, err = nextRows(t, p)
			require.NoError(t, err)
			assert.Equal(t, []string{"8"}, rows, "s was not deallocated: the Close was skipped")
			rows, _, err = nextRows(t, p)
			require.NoError(t, err)
			assert.Equal(t, []string{"0"}, rows, "the skipped insert did not run")
			require.NoError(t, requirePipelineSync(t, p))
			res, err = p.GetResults()
			assert.Nil(t, res)
			assert.NoError(t, err)
			require.NoError(t, p.Close())
			assert.Equal(t, wire.TxIdle, c.TxStatus())
			requireUsable(t, c)
		})
	}
}

// TestPipelineDeferredConstraint checks that a deferred constraint that
// fails at the segment's implicit COMMIT is reported on its Sync.
func TestPipelineDeferredConstraint(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	mustExec(t, c, "create table t (x int unique deferrable initially deferred)")
	p := c.StartPipeline(boundedCtx(t, 30*time.Second))
	require.NoError(t, p.SendQueryParams("insert into t values (1)", nil, nil, nil, nil))
	require.NoError(t, p.SendQueryParams("insert into t values (1)", nil, nil, nil, nil))
	require.NoError(t, p.Sync())
	require.NoError(t, p.SendQueryParams("select count(*) from t", nil, nil, nil, nil))
	require.NoError(t, p.Sync())

	for range 2 {
		_, tag, err := nextRows(t, p)
		require.NoError(t, err, "the insert itself succeeds; the check is deferred")
		assert.Equal(t, "INSERT 0 1", tag)
	}
	err := requirePipelineSync(t, p)
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "23505", pe.Code, "unique_violation at COMMIT")
	rows, _, err := nextRows(t, p)
	require.NoError(t, err)
	assert.Equal(t, []string{"0"}, rows, "the segment was rolled back")
	require.NoError(t, requirePipelineSync(t, p))
	require.NoError(t, p.Close())
	requireUsable(t, c)
}

// TestPipelineLarge queues 10,000 requests before reading any result: the
// pipeline's writer must keep writing while the server's replies pile up,
// or both ends would block on full socket buffers. The context bounds the
// test if that ever deadlocks.
func TestPipelineLarge(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	const n = 10000
	p := c.StartPipeline(boundedCtx(t, 60*time.Second))
	for i := range n {
		require.NoError(t, p.SendQueryParams("select $1::int4, repeat('x', 50)", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil, []int16{1, 0}))
	}
	require.NoError(t, p.Sync())
	for i := range n {
		res, err := p.GetResults()
		require.NoError(t, err, i)
		rr := res.(*conn.ResultReader)
		require.True(t, rr.NextRow(), i)
		require.Equal(t, uint32(i), beUint32(rr.Values()[0]), i)
		_, err = rr.Close()
		require.NoError(t, err, i)
	}
	require.NoError(t, requirePipelineSync(t, p))
	require.NoError(t, p.Close())
	requireUsable(t, c)
}

func beUint32(b []byte) uint32 {
	if len(b) != 4 {
		return ^uint32(0)
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestPipelineCloseDrains checks that Close discards every unread result
// and leaves the connection idle and usable.
func TestPipelineCloseDrains(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name string
		// run queues requests and reads some results.
		run func(t *testing.T, p *conn.Pipeline)
	}{
		{name: "nothing queued", run: func(t *testing.T, p *conn.Pipeline) {}},
		{name: "unread results after Sync", run: func(t *testing.T, p *conn.Pipeline) {
			for range 100 {
				require.NoError(t, p.SendQueryParams("select g from generate_series(1, 100) g", nil, nil, nil, nil))
			}
			require.NoError(t, p.Sync())
		}},
		{name: "no Sync queued", run: func(t *testing.T, p *conn.Pipeline) {
			require.NoError(t, p.SendQueryParams("select 1", nil, nil, nil, nil))
			require.NoError(t, p.SendPrepare("s", "select 2", nil))
			require.NoError(t, p.Flush())
		}},
		{name: "nothing flushed", run: func(t *testing.T, p *conn.Pipeline) {
			require.NoError(t, p.SendQueryParams("select 1", nil, nil, nil, nil))
		}},
		{name: "partly read large result", run: func(t *testing.T, p *conn.Pipeline) {
			require.NoError(t, p.SendQueryParams("select g, repeat('y', 100) from generate_series(1, 50000) g", nil, nil, nil, nil))
			require.NoError(t, p.SendQueryParams("select 'second'", nil, nil, nil, nil))
			require.NoError(t, p.Sync())
			res, err := p.GetResults()
			require.NoError(t, err)
			rr := res.(*conn.ResultReader)
			require.True(t, rr.NextRow())
			require.Equal(t, "1", string(rr.Values()[0]))
		}},
		{name: "failed segment unread", run: func(t *testing.T, p *conn.Pipeline) {
			require.NoError(t, p.SendQueryParams("select 1/0", nil, nil, nil, nil))
			require.NoError(t, p.SendQueryParams("select 2", nil, nil, nil, nil))
			require.NoError(t, p.Sync())
			require.NoError(t, p.SendQueryParams("select 3", nil, nil, nil, nil))
			require.NoError(t, p.Sync())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			p := c.StartPipeline(boundedCtx(t, 30*time.Second))
			tc.run(t, p)
			require.NoError(t, p.Close())
			require.NoError(t, p.Close(), "Close is idempotent")
			assert.Equal(t, wire.TxIdle, c.TxStatus())
			requireUsable(t, c)
			// The pipeline's prepared statement exists if its segment ran.
			if tc.name == "no Sync queued" {
				r := c.ExecPrepared(t.Context(), "s", nil, nil, nil).Read()
				require.NoError(t, r.Err)
				assert.Equal(t, [][][]byte{{[]byte("2")}}, r.Rows)
			}
		})
	}
}
