package conn_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/golden"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// stableParameters are the run-time parameters that every supported server
// (PostgreSQL 14 and later) reports at startup. Servers add others from
// version to version (scram_iterations in 16, ...) and, from 16 on, report
// them in another order; traceStartup keeps only these, sorted, so that
// the golden file does not depend on the server version.
var stableParameters = []string{
	"DateStyle", "IntervalStyle", "TimeZone", "application_name", "client_encoding",
	"default_transaction_read_only", "in_hot_standby", "integer_datetimes", "is_superuser",
	"server_encoding", "server_version", "session_authorization", "standard_conforming_strings",
}

// normalizeStartup keeps the ParameterStatus lines of stableParameters,
// sorted, in place of the server's ParameterStatus lines.
func normalizeStartup(trace string) string {
	var out, params []string
	flush := func() {
		slices.Sort(params)
		out = append(out, params...)
		params = nil
	}
	for _, l := range strings.SplitAfter(trace, "\n") {
		_, rest, ok := strings.Cut(l, "\tParameterStatus \"")
		if !ok {
			flush()
			out = append(out, l)
			continue
		}
		name, _, _ := strings.Cut(rest, "\"")
		if slices.Contains(stableParameters, name) {
			params = append(params, l)
		}
	}
	flush()
	return strings.Join(out, "")
}

// TestTraceGolden compares the protocol trace of a session, in regress
// mode, with golden files: the startup (per authentication method) and a
// fixed series of requests. Everything volatile must be hidden by the
// tracer, or the golden files break from one run to the next.
//
// Two things are normalized here, not in the tracer, because they come
// from the test rather than from the server: the database name (each test
// gets a fresh one; its length is constant) and the set and order of the
// ParameterStatus messages, which depend on the server version. The
// protocol version is pinned to 3.0, which every server speaks without a
// NegotiateProtocolVersion.
func TestTraceGolden(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name string
		role pgtest.Role
		// queries runs the requests whose trace goes to queries.golden.
		queries bool
	}{
		{name: "trust", role: pgtest.RoleTrust, queries: true},
		{name: "md5", role: pgtest.RoleMD5},
		{name: "scram", role: pgtest.RoleSCRAM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, db.URL(tc.role, "sslmode=disable", "application_name=pgstrict-trace"))
			cfg.MaxProtocolVersion = wire.ProtocolVersion30
			trace := &syncBuffer{}
			cfg.Tracer = trace
			cfg.TraceOptions = conn.TraceOptions{Regress: true}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := conn.ConnectConfig(ctx, cfg)
			require.NoError(t, err)
			defer c.Close(ctx)
			startup := strings.ReplaceAll(trace.String(), db.Name(), "<database>")
			golden.Check(t, "testdata/trace/startup_"+tc.name+".golden", []byte(normalizeStartup(startup)))
			if !tc.queries {
				return
			}

			mark := len(trace.String())
			runTracedQueries(t, c)
			require.NoError(t, c.Close(ctx))
			golden.Check(t, "testdata/trace/queries.golden", []byte(trace.String()[mark:]))
		})
	}
}

// runTracedQueries runs the requests of queries.golden: results with
// NULLs, multibyte text and binary values, a table column (its table OID is
// volatile), a notice (its source location is volatile), errors with a
// position, a prepared statement and a pipeline.
func runTracedQueries(t *testing.T, c *conn.Conn) {
	t.Helper()
	ctx := t.Context()
	_, err := c.Exec(ctx, "select 1 as one, null::text as nothing, 'é' as accent; create temp table t (x int primary key)").ReadAll()
	require.NoError(t, err)
	_, err = c.Exec(ctx, "insert into t values (1); drop table if exists missing; select 1/0").ReadAll()
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)

	r := c.ExecParams(ctx, "select $1::int4 + 1 as next, $2::text as label, x from t", [][]byte{[]byte("41"), nil}, nil, nil, []int16{1, 0, 0}).Read()
	require.NoError(t, r.Err)
	assert.Len(t, r.Rows, 0, "the insert was rolled back")
	r = c.ExecParams(ctx, "select 'a' from from", nil, nil, nil, nil).Read()
	require.ErrorAs(t, r.Err, &pe)

	_, err = c.Prepare(ctx, "s", "select $1::int8 * 2 as double", nil)
	require.NoError(t, err)
	r = c.ExecPrepared(ctx, "s", [][]byte{[]byte("21")}, nil, nil).Read()
	require.NoError(t, r.Err)
	require.NoError(t, c.Deallocate(ctx, "s"))

	p := c.StartPipeline(ctx)
	require.NoError(t, p.SendQueryParams("insert into t values ($1)", [][]byte{[]byte("7")}, nil, nil, nil))
	require.NoError(t, p.SendQueryParams("insert into t values ($1)", [][]byte{[]byte("7")}, nil, nil, nil))
	require.NoError(t, p.SendQueryParams("select 'skipped'", nil, nil, nil, nil))
	require.NoError(t, p.Sync())
	require.NoError(t, p.Close())
}
