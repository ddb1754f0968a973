package conn_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// TestCancelRequest cancels a long query from another goroutine while the
// query's results are being waited for: the query fails with 57014 and the
// connection stays usable.
func TestCancelRequest(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	for _, mode := range []string{"disable", "require"} {
		t.Run("sslmode="+mode, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, db.URL(pgtest.RoleSCRAM, "sslmode="+mode))
			// Only a superuser (or the same role) sees the query of another
			// session in pg_stat_activity.
			observer := mustConnect(t, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
			// The guard ends the test if the cancel is lost; the test never
			// waits for it otherwise.
			guard := boundedCtx(t, 25*time.Second)
			mrr := c.Exec(guard, "select pg_sleep(30)")
			require.NoError(t, waitActive(guard, observer, c.PID(), "select pg_sleep"))

			cancelErr := make(chan error, 1)
			go func() { cancelErr <- c.CancelRequest(guard) }()
			res, err := mrr.ReadAll()
			require.NoError(t, <-cancelErr)
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe, "the hang guard fired? %v", err)
			assert.Equal(t, "57014", pe.Code, "query_canceled")
			assert.NoError(t, guard.Err())
			for _, r := range res {
				assert.Empty(t, r.Rows)
			}
			requireUsable(t, c)
		})
	}
}

// TestCancelRequestIdle checks that a CancelRequest while nothing runs is
// harmless: the next query is not canceled.
func TestCancelRequestIdle(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	require.NoError(t, c.CancelRequest(boundedCtx(t, 10*time.Second)))
	requireUsable(t, c)
}

// TestCancelRequestClosed checks that CancelRequest on a closed connection
// fails with ErrClosed and never connects: nothing runs there to cancel.
func TestCancelRequestClosed(t *testing.T) {
	t.Parallel()
	cfg := mustParseConfig(t, managedDB(t).URL(pgtest.RoleTrust, "sslmode=disable"))
	var dials atomic.Int32
	var d net.Dialer
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	c := mustConnectConfig(t, cfg)
	require.EqualValues(t, 1, dials.Load())
	require.NoError(t, c.Close(boundedCtx(t, 10*time.Second)))
	err := c.CancelRequest(boundedCtx(t, 10*time.Second))
	require.ErrorIs(t, err, conn.ErrClosed)
	assert.EqualValues(t, 1, dials.Load(), "CancelRequest on a closed connection dialed the server")
}

// TestContextEndsDuringQuery checks that a context ending while a query
// runs cancels it: the call returns the context's error, the connection is
// idle again, and the next request gets its own result.
func TestContextEndsDuringQuery(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name string
		// inTx runs the query inside a transaction block.
		inTx bool
		run  func(ctx context.Context, c *conn.Conn) error
	}{
		{name: "simple", run: func(ctx context.Context, c *conn.Conn) error {
			return c.Exec(ctx, "select 1; select pg_sleep(30); select 2").Close()
		}},
		{name: "simple, rows first", run: func(ctx context.Context, c *conn.Conn) error {
			return c.Exec(ctx, "select g, pg_sleep(case when g = 3 then 30 else 0 end) from generate_series(1, 5) g").Close()
		}},
		{name: "extended", run: func(ctx context.Context, c *conn.Conn) error {
			return c.ExecParams(ctx, "select pg_sleep($1::float8)", [][]byte{[]byte("30")}, nil, nil, nil).Read().Err
		}},
		{name: "prepared", run: func(ctx context.Context, c *conn.Conn) error {
			if _, err := c.Prepare(ctx, "sleep", "select pg_sleep($1::float8)", nil); err != nil {
				return err
			}
			return c.ExecPrepared(ctx, "sleep", [][]byte{[]byte("30")}, nil, nil).Read().Err
		}},
		{name: "pipeline", run: func(ctx context.Context, c *conn.Conn) error {
			p := c.StartPipeline(ctx)
			if err := p.SendQueryParams("select 1", nil, nil, nil, nil); err != nil {
				return err
			}
			if err := p.SendQueryParams("select pg_sleep(30)", nil, nil, nil, nil); err != nil {
				return err
			}
			if err := p.Sync(); err != nil {
				return err
			}
			var err error
			for err == nil {
				var res any
				res, err = p.GetResults()
				if rr, ok := res.(*conn.ResultReader); ok {
					_, err = rr.Close()
				}
				if res == nil && err == nil {
					return errors.New("the pipeline ended without an error")
				}
			}
			if cerr := p.Close(); !errors.Is(cerr, err) && cerr != nil {
				return errors.Join(err, cerr)
			}
			return err
		}},
		{name: "in a transaction block", inTx: true, run: func(ctx context.Context, c *conn.Conn) error {
			return c.Exec(ctx, "select pg_sleep(30)").Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			if tc.inTx {
				mustExec(t, c, "begin")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := tc.run(ctx, c)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.True(t, conn.Timeout(err))
			var pe *conn.PgError
			assert.False(t, errors.As(err, &pe), "the 57014 is drained, not returned: %v", err)
			require.NoError(t, c.Err())
			require.Equal(t, wire.StateIdle, c.State())
			if tc.inTx {
				assert.Equal(t, wire.TxFailed, c.TxStatus())
				mustExec(t, c, "rollback")
			}
			assert.Equal(t, wire.TxIdle, c.TxStatus())
			requireUsable(t, c)
		})
	}
}

// TestContextCanceledDuringLargeRead cancels the context at a random row
// of a 2,000,000-row result and checks, each time, that the next query's
// result is exactly its own: never a row of the canceled query. The seed is
// logged so that a failure can be replayed.
func TestContextCanceledDuringLargeRead(t *testing.T) {
	t.Parallel()
	const (
		sql     = "select g, repeat('x', 20) from generate_series(1, 2000000) g"
		maxRows = 50000 // the latest cancel point
	)
	iterations := 20
	if testing.Short() {
		iterations = 5
	}
	c := trustConn(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	for i := range iterations {
		cancelAt := rng.IntN(maxRows + 1)
		if i == 0 {
			cancelAt = 0 // before the first row
		}
		extended := rng.IntN(2) == 1
		ctx, cancel := context.WithCancel(context.Background())
		var (
			mrr *conn.MultiResultReader
			rr  *conn.ResultReader
		)
		if extended {
			rr = c.ExecParams(ctx, sql, nil, nil, nil, nil)
		} else {
			mrr = c.Exec(ctx, sql)
			require.True(t, mrr.NextResult(), "iteration %d", i)
			rr = mrr.ResultReader()
		}
		n := 0
		for n < cancelAt && rr.NextRow() {
			n++
			if got := string(rr.Values()[0]); got != strconv.Itoa(n) {
				require.Equal(t, strconv.Itoa(n), got, "iteration %d", i)
			}
		}
		cancel()
		// Rows already buffered may still be returned, in order.
		for rr.NextRow() {
			n++
			if got := string(rr.Values()[0]); got != strconv.Itoa(n) {
				require.Equal(t, strconv.Itoa(n), got, "iteration %d", i)
			}
		}
		_, err := rr.Close()
		if mrr != nil {
			err = mrr.Close()
		}
		require.ErrorIs(t, err, context.Canceled, "iteration %d (cancel at row %d, extended %t)", i, cancelAt, extended)
		require.Less(t, n, 2000000, "iteration %d", i)
		require.NoError(t, c.Err(), "iteration %d", i)
		require.Equal(t, wire.StateIdle, c.State(), "iteration %d", i)

		res, err := c.Exec(context.Background(), "select 'mine' as mine").ReadAll()
		require.NoError(t, err, "iteration %d", i)
		require.Len(t, res, 1, "iteration %d", i)
		require.Len(t, res[0].FieldDescriptions, 1, "iteration %d", i)
		require.Equal(t, "mine", res[0].FieldDescriptions[0].Name, "iteration %d", i)
		require.Equal(t, [][][]byte{{[]byte("mine")}}, res[0].Rows, "iteration %d", i)
		require.Equal(t, "SELECT 1", res[0].CommandTag.String(), "iteration %d", i)
	}
	requireUsable(t, c)
}
