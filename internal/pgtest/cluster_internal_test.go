package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterFakeTB records Skip and Fatal instead of ending the test. It embeds
// testing.TB only to satisfy the interface's unexported method.
type clusterFakeTB struct {
	testing.TB
	skipped string
	fatal   string
}

func (f *clusterFakeTB) Helper()           {}
func (f *clusterFakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *clusterFakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

func clusterEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestClusterRequireDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string // case
		value string // PGSTRICT_REQUIRE_DB
		want  bool   // fail instead of skip
	}{
		{name: "unset", value: "", want: false},
		{name: "zero", value: "0", want: false},
		{name: "false", value: "false", want: false},
		{name: "no_upper", value: "NO", want: false},
		{name: "off_padded", value: " off ", want: false},
		{name: "one", value: "1", want: true},
		{name: "true", value: "true", want: true},
		{name: "typo_fails_closed", value: "yse", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := clusterRequireDB(clusterEnv(map[string]string{EnvRequireDB: tc.value}))
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestClusterSkipOrFail(t *testing.T) {
	t.Parallel()
	msg := (&clusterUnavailableError{reasons: []string{"no binaries", "no docker"}}).Error()
	tests := []struct {
		name      string // case
		require   string // PGSTRICT_REQUIRE_DB
		wantFatal bool   // Fatal, not Skip
	}{
		{name: "skip_without_require", require: "", wantFatal: false},
		{name: "fatal_with_require", require: "1", wantFatal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := &clusterFakeTB{}
			clusterSkipOrFail(tb, clusterEnv(map[string]string{EnvRequireDB: tc.require}), msg)
			if tc.wantFatal {
				assert.Empty(t, tb.skipped)
				assert.Contains(t, tb.fatal, msg)
				assert.Contains(t, tb.fatal, EnvRequireDB)
			} else {
				assert.Empty(t, tb.fatal)
				assert.Equal(t, msg, tb.skipped)
			}
			got := tb.skipped + tb.fatal
			// The message must tell how to get a server.
			assert.Contains(t, got, "apt-get install postgresql")
			assert.Contains(t, got, "Docker")
			assert.Contains(t, got, EnvTestDSN+"=postgres://")
		})
	}
}

func TestClusterOpenChoosesSource(t *testing.T) {
	t.Parallel()
	dsnC, localC, containerC := &Cluster{source: clusterSourceDSN}, &Cluster{source: clusterSourceLocal}, &Cluster{source: clusterSourceContainer}
	noBinaries := fmt.Errorf("%w (nothing here)", ErrNoServerBinaries)
	noDocker := fmt.Errorf("%w: no socket", errClusterNoDocker)
	broken := errors.New("initdb: disk full")
	tests := []struct {
		name            string   // case
		dsn             string   // PGSTRICT_TEST_DSN
		localErr        error    // result of the local source
		containerErr    error    // result of the container source
		want            *Cluster // chosen cluster
		wantErr         error    // errors.Is target; nil = success
		wantUnavailable bool     // error is *clusterUnavailableError
		wantCalls       string   // sources consulted, in order
	}{
		{name: "dsn_wins", dsn: "postgres://u@h/d", want: dsnC, wantCalls: "dsn"},
		{name: "local_when_no_dsn", want: localC, wantCalls: "local"},
		{name: "container_when_no_binaries", localErr: noBinaries, want: containerC, wantCalls: "local,container"},
		{name: "broken_local_is_an_error", localErr: broken, wantErr: broken, wantCalls: "local"},
		{
			name: "nothing_available", localErr: noBinaries, containerErr: noDocker,
			wantUnavailable: true, wantCalls: "local,container",
		},
		{
			name: "broken_container_is_an_error", localErr: noBinaries, containerErr: broken,
			wantErr: broken, wantCalls: "local,container",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls []string
			src := clusterSources{
				dsn: func(_ context.Context, dsn string) (*Cluster, error) {
					calls = append(calls, "dsn")
					assert.Equal(t, tc.dsn, dsn)
					return dsnC, nil
				},
				local: func(context.Context) (*Cluster, error) {
					calls = append(calls, "local")
					if tc.localErr != nil {
						return nil, tc.localErr
					}
					return localC, nil
				},
				container: func(context.Context) (*Cluster, error) {
					calls = append(calls, "container")
					if tc.containerErr != nil {
						return nil, tc.containerErr
					}
					return containerC, nil
				},
			}
			got, err := clusterOpen(t.Context(), clusterEnv(map[string]string{EnvTestDSN: tc.dsn}), src)
			assert.Equal(t, tc.wantCalls, strings.Join(calls, ","))
			var unavailable *clusterUnavailableError
			switch {
			case tc.wantUnavailable:
				require.ErrorAs(t, err, &unavailable)
				assert.Contains(t, err.Error(), "nothing here")
				assert.Contains(t, err.Error(), "no socket")
				assert.Contains(t, err.Error(), clusterHowToGet)
			case tc.wantErr != nil:
				require.ErrorIs(t, err, tc.wantErr)
				assert.False(t, errors.As(err, &unavailable), "a broken source is not unavailability")
			default:
				require.NoError(t, err)
				assert.Same(t, tc.want, got)
			}
		})
	}
}

func TestClusterFromDSNRejectsBadURL(t *testing.T) {
	t.Parallel()
	_, err := clusterFromDSN(t.Context(), "mysql://u:secret@h/d")
	require.Error(t, err)
	assert.Contains(t, err.Error(), EnvTestDSN)
	assert.NotContains(t, err.Error(), "secret")
}

func TestDatabaseName(t *testing.T) {
	t.Parallel()
	suffix := bytes.Repeat([]byte{0xab}, 4)
	tests := []struct {
		name     string // case
		testName string // tb.Name()
		want     string // database name
	}{
		{name: "simple", testName: "TestFoo", want: "t_testfoo_abababab"},
		{name: "subtest_and_symbols", testName: "TestFoo/bar-baz#01", want: "t_testfoo_bar_baz_01_abababab"},
		{name: "non_ascii", testName: "TestÄ", want: "t_test___abababab"},
		{
			name:     "truncated",
			testName: "Test" + strings.Repeat("x", 100),
			want:     "t_test" + strings.Repeat("x", 63-len("t_test")-len("_abababab")) + "_abababab",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := databaseName(tc.testName, bytes.NewReader(suffix))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), databaseMaxName)
		})
	}
}

func TestClusterFindBinDir(t *testing.T) {
	t.Parallel()
	type probe struct {
		pgConfig string          // pg_config --bindir output; "" = pg_config missing
		globbed  []string        // /usr/lib/postgresql/*/bin matches
		onPath   string          // initdb on PATH; "" = not found
		servers  map[string]bool // directories that hold server binaries
	}
	tests := []struct {
		name    string // case
		probe   probe  // environment
		want    string // chosen directory
		wantErr bool   // ErrNoServerBinaries
	}{
		{
			name: "pg_config_first",
			probe: probe{
				pgConfig: "/opt/pg/bin", globbed: []string{"/usr/lib/postgresql/16/bin"},
				servers: map[string]bool{"/opt/pg/bin": true, "/usr/lib/postgresql/16/bin": true},
			},
			want: "/opt/pg/bin",
		},
		{
			name: "pg_config_client_only_falls_through_to_highest_version",
			probe: probe{
				pgConfig: "/usr/lib/postgresql/15/bin",
				globbed:  []string{"/usr/lib/postgresql/9/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/13/bin"},
				servers:  map[string]bool{"/usr/lib/postgresql/9/bin": true, "/usr/lib/postgresql/16/bin": true, "/usr/lib/postgresql/13/bin": true},
			},
			want: "/usr/lib/postgresql/16/bin",
		},
		{
			name:  "path_last",
			probe: probe{onPath: "/somewhere/bin/initdb", servers: map[string]bool{"/somewhere/bin": true}},
			want:  "/somewhere/bin",
		},
		{name: "nothing", probe: probe{}, wantErr: true},
		{
			name:    "only_incomplete",
			probe:   probe{pgConfig: "/usr/bin", onPath: "/x/initdb"},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			look := clusterLookups{
				pgConfig: func(context.Context) (string, error) {
					if tc.probe.pgConfig == "" {
						return "", errors.New("not found")
					}
					return tc.probe.pgConfig, nil
				},
				glob: func(string) ([]string, error) { return append([]string(nil), tc.probe.globbed...), nil },
				lookPath: func(string) (string, error) {
					if tc.probe.onPath == "" {
						return "", errors.New("not found")
					}
					return tc.probe.onPath, nil
				},
				isServer: func(dir string) bool { return tc.probe.servers[dir] },
			}
			got, err := clusterFindBinDir(t.Context(), look)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrNoServerBinaries)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestClusterTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string // case
		text string // input
		n    int    // lines kept
		want string // output
	}{
		{name: "short", text: "a\nb\n", n: 5, want: "a\nb"},
		{name: "cut", text: "a\nb\nc\nd\n", n: 2, want: "c\nd"},
		{name: "empty", text: "", n: 3, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, clusterTail([]byte(tc.text), tc.n))
		})
	}
}

func TestClusterSettingsContainRequiredValues(t *testing.T) {
	t.Parallel()
	conf := clusterSettings("/tmp/c", 5433, certsFiles{caFile: "/tmp/c/ca.crt", serverCertFile: "/tmp/c/s.crt", serverKeyFile: "/tmp/c/s.key"})
	for _, line := range []string{
		"listen_addresses = '127.0.0.1'", "port = 5433", "unix_socket_directories = '/tmp/c'",
		"fsync = off", "synchronous_commit = off", "full_page_writes = off", "wal_level = logical",
		"max_wal_senders = 10", "max_replication_slots = 10", "max_prepared_transactions = 10",
		"max_connections = 200", "ssl = on", "ssl_cert_file = '/tmp/c/s.crt'", "ssl_key_file = '/tmp/c/s.key'",
		"ssl_ca_file = '/tmp/c/ca.crt'",
	} {
		assert.Contains(t, conf, "\n"+line+"\n")
	}
}

func TestClusterSharedStateOpensOnceAndStops(t *testing.T) {
	t.Parallel()
	t.Run("success_is_shared_and_stopped", func(t *testing.T) {
		t.Parallel()
		var s clusterSharedState
		stopped := 0
		calls := 0
		open := func(context.Context) (*Cluster, error) {
			calls++
			return &Cluster{stopFunc: func(context.Context) error { stopped++; return nil }}, nil
		}
		c1, err := s.get(open)
		require.NoError(t, err)
		c2, err := s.get(open)
		require.NoError(t, err)
		assert.Same(t, c1, c2)
		assert.Equal(t, 1, calls)

		require.NoError(t, s.stop(t.Context()))
		assert.Equal(t, 1, stopped)
		_, err = s.get(open)
		assert.ErrorContains(t, err, "already stopped")
		assert.Equal(t, 1, calls, "no new cluster after Main stopped it")
	})
	t.Run("failure_is_remembered", func(t *testing.T) {
		t.Parallel()
		var s clusterSharedState
		calls := 0
		boom := errors.New("boom")
		open := func(context.Context) (*Cluster, error) { calls++; return nil, boom }
		_, err1 := s.get(open)
		_, err2 := s.get(open)
		assert.ErrorIs(t, err1, boom)
		assert.ErrorIs(t, err2, boom)
		assert.Equal(t, 1, calls, "a failed start is not retried by every test")
		assert.NoError(t, s.stop(t.Context()))
	})
}
