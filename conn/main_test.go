package conn_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// closeTimeout bounds the Close run by the cleanup of mustConnect.
const closeTimeout = 5 * time.Second

// managedDB returns a fresh database on the shared cluster, which must be
// managed (our roles, pg_hba.conf and TLS files).
func managedDB(tb testing.TB) *pgtest.Database {
	tb.Helper()
	pgtest.RequireManaged(tb)
	return pgtest.MustDatabase(tb)
}

// mustParseConfig parses connString and fails the test on error.
func mustParseConfig(tb testing.TB, connString string) *conn.Config {
	tb.Helper()
	cfg, err := conn.ParseConfig(connString)
	require.NoError(tb, err)
	return cfg
}

// mustConnect connects with connString and closes the connection when the
// test ends.
func mustConnect(tb testing.TB, connString string) *conn.Conn {
	tb.Helper()
	return mustConnectConfig(tb, mustParseConfig(tb, connString))
}

// mustConnectConfig connects with cfg and closes the connection when the
// test ends.
func mustConnectConfig(tb testing.TB, cfg *conn.Config) *conn.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := conn.ConnectConfig(ctx, cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		assert.NoError(tb, c.Close(ctx))
	})
	return c
}

// mustExec runs sql with the simple protocol and fails the test on error.
func mustExec(tb testing.TB, c *conn.Conn, sql string) {
	tb.Helper()
	_, err := c.Exec(context.Background(), sql).ReadAll()
	require.NoError(tb, err, sql)
}

// mustQueryValue runs sql, which must return one row of one column, and
// returns that value as text ("<NULL>" for NULL).
func mustQueryValue(tb testing.TB, c *conn.Conn, sql string) string {
	tb.Helper()
	res, err := c.Exec(context.Background(), sql).ReadAll()
	require.NoError(tb, err, sql)
	require.Len(tb, res, 1, sql)
	require.Len(tb, res[0].Rows, 1, sql)
	require.Len(tb, res[0].Rows[0], 1, sql)
	if res[0].Rows[0][0] == nil {
		return "<NULL>"
	}
	return string(res[0].Rows[0][0])
}

// requireUsable asserts that c is idle and that a new query gets exactly
// its own result, once through each protocol: nothing of an earlier request
// may leak into it.
func requireUsable(tb testing.TB, c *conn.Conn) {
	tb.Helper()
	require.NoError(tb, c.Err())
	require.Equal(tb, wire.StateIdle, c.State())
	require.False(tb, c.IsBusy())
	ctx := context.Background()

	res, err := c.Exec(ctx, "select 'usable-simple' as probe").ReadAll()
	require.NoError(tb, err)
	require.Len(tb, res, 1)
	require.Len(tb, res[0].FieldDescriptions, 1)
	assert.Equal(tb, "probe", res[0].FieldDescriptions[0].Name)
	assert.Equal(tb, [][][]byte{{[]byte("usable-simple")}}, res[0].Rows)
	assert.Equal(tb, "SELECT 1", res[0].CommandTag.String())

	r := c.ExecParams(ctx, "select $1::text as probe", [][]byte{[]byte("usable-extended")}, nil, nil, nil).Read()
	require.NoError(tb, r.Err)
	assert.Equal(tb, [][][]byte{{[]byte("usable-extended")}}, r.Rows)
	assert.Equal(tb, "SELECT 1", r.CommandTag.String())
	assert.Equal(tb, wire.StateIdle, c.State())
}

// boundedCtx returns a context that ends after d, as a guard against hangs
// (never as a timing assertion), canceled when the test ends.
func boundedCtx(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// waitActive polls pg_stat_activity through observer until the backend pid
// runs a query that starts with prefix. There is no event to wait for; the
// loop is bounded by ctx.
func waitActive(ctx context.Context, observer *conn.Conn, pid uint32, prefix string) error {
	sql := "select count(*) from pg_stat_activity where pid = " + strconv.FormatUint(uint64(pid), 10) +
		" and state = 'active' and starts_with(query, '" + prefix + "')"
	for {
		res, err := observer.Exec(ctx, sql).ReadAll()
		if err != nil {
			return err
		}
		if len(res) == 1 && len(res[0].Rows) == 1 && string(res[0].Rows[0][0]) == "1" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
