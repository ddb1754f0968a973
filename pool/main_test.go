package pool_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/pool"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testTimeout bounds every blocking step of a test, as a guard against
// hangs (never as a timing assertion).
const testTimeout = 30 * time.Second

// boundedCtx returns a context that ends after testTimeout, canceled when
// the test ends.
func boundedCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// fakeClock is a settable clock for Config's test seam.
type fakeClock struct {
	mu sync.Mutex // guards following fields
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testDB is a database of the test cluster and an admin connection to it.
type testDB struct {
	db      *pgtest.Database
	url     string
	appName string // application_name of the pool's connections

	mu    sync.Mutex // guards following fields
	admin *conn.Conn
}

// mustDB returns a fresh database; the pool connections made from
// newConfig carry a unique application_name so that backendPIDs finds them.
func mustDB(tb testing.TB) *testDB {
	tb.Helper()
	db := pgtest.MustDatabase(tb)
	url := db.URL(pgtest.RoleSuperuser, "sslmode=disable")
	admin, err := conn.Connect(boundedCtx(tb), url)
	require.NoError(tb, err)
	tb.Cleanup(func() { admin.Close(context.Background()) })
	return &testDB{db: db, url: url, appName: "pooltest_" + strconv.FormatInt(time.Now().UnixNano(), 36), admin: admin}
}

// newConfig returns a Config for the database with quiet defaults for
// tests: no periodic health check, no ping at acquire, breaker disabled.
func (d *testDB) newConfig(tb testing.TB) *pool.Config {
	tb.Helper()
	cfg, err := pool.ParseConfig(d.url)
	require.NoError(tb, err)
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = d.appName
	cfg.HealthCheckPeriod = -1
	cfg.PingAfterIdle = -1
	cfg.CircuitBreaker.Threshold = -1
	return cfg
}

// query runs sql on the admin connection and returns the rows as text.
func (d *testDB) query(tb testing.TB, sql string) [][]string {
	tb.Helper()
	rows, err := d.queryErr(sql)
	require.NoError(tb, err, sql)
	return rows
}

// queryErr is query for goroutines other than the test's.
func (d *testDB) queryErr(sql string) ([][]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := d.admin.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, r := range res {
		for _, row := range r.Rows {
			var s []string
			for _, v := range row {
				s = append(s, string(v))
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// terminate ends the backend pid and waits until it has exited.
func (d *testDB) terminate(tb testing.TB, pid uint32) {
	tb.Helper()
	require.NoError(tb, d.terminateErr(pid))
}

// terminateErr is terminate for goroutines other than the test's.
func (d *testDB) terminateErr(pid uint32) error {
	rows, err := d.queryErr(fmt.Sprintf("select pg_terminate_backend(%d, 10000)", pid))
	if err != nil {
		return err
	}
	if len(rows) != 1 || rows[0][0] != "t" {
		return fmt.Errorf("terminate %d: got %v", pid, rows)
	}
	return nil
}

// backendPIDs returns the server PIDs of the pool's connections.
func (d *testDB) backendPIDs(tb testing.TB) map[uint32]bool {
	tb.Helper()
	rows := d.query(tb, "select pid from pg_stat_activity where application_name = '"+d.appName+"'")
	out := map[uint32]bool{}
	for _, r := range rows {
		n, err := strconv.ParseUint(r[0], 10, 32)
		require.NoError(tb, err)
		out[uint32(n)] = true
	}
	return out
}

// waitBackendGone polls until the backend pid has left pg_stat_activity
// (a backend exits asynchronously after its client hung up).
func (d *testDB) waitBackendGone(tb testing.TB, pid uint32) {
	tb.Helper()
	deadline := time.Now().Add(testTimeout)
	for d.backendPIDs(tb)[pid] {
		if time.Now().After(deadline) {
			tb.Fatalf("backend %d still alive after %v", pid, testTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNoBackends polls until no connection of the pool remains on the
// server.
func (d *testDB) waitNoBackends(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		pids := d.backendPIDs(tb)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("backends still alive after %v: %v", testTimeout, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustNew creates a pool and closes it when the test ends.
func mustNew(tb testing.TB, cfg *pool.Config) *pool.Pool {
	tb.Helper()
	p, err := pool.New(boundedCtx(tb), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			tb.Errorf("pool close: %v", err)
		}
	})
	return p
}

// mustAcquire acquires a connection.
func mustAcquire(tb testing.TB, p *pool.Pool) *pool.Conn {
	tb.Helper()
	h, err := p.Acquire(boundedCtx(tb))
	require.NoError(tb, err)
	return h
}

// queryInt runs "select $1::int" on h and returns the text of the value.
func queryInt(ctx context.Context, h *pool.Conn, v string) (string, error) {
	r := h.ExecParams(ctx, "select $1::int", [][]byte{[]byte(v)}, nil, nil, nil).Read()
	if r.Err != nil {
		return "", r.Err
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		return "", fmt.Errorf("unexpected result shape: %d rows", len(r.Rows))
	}
	return string(r.Rows[0][0]), nil
}
