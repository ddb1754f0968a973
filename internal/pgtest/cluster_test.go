package pgtest_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// clusterQueryOne runs sql on an admin connection made from cfg and returns
// the single text value it yields.
func clusterQueryOne(tb testing.TB, ctx context.Context, ac *pgtest.AdminConn, sql string) string {
	tb.Helper()
	rows, err := ac.Query(ctx, sql)
	require.NoError(tb, err, sql)
	require.Len(tb, rows, 1, sql)
	require.Len(tb, rows[0], 1, sql)
	require.NotNil(tb, rows[0][0], sql)
	return *rows[0][0]
}

// clusterConnect opens an admin connection for url and closes it at the end
// of the test.
func clusterConnect(tb testing.TB, ctx context.Context, rawURL string) (*pgtest.AdminConn, error) {
	tb.Helper()
	cfg, err := pgtest.ParseAdminURL(rawURL)
	require.NoError(tb, err)
	ac, err := pgtest.AdminConnect(ctx, cfg)
	if err == nil {
		tb.Cleanup(func() { _ = ac.Close(context.Background()) })
	}
	return ac, err
}

// clusterRequireSQLSTATE asserts that err is an *AdminError with code.
func clusterRequireSQLSTATE(tb testing.TB, err error, code string) {
	tb.Helper()
	var ae *pgtest.AdminError
	require.ErrorAs(tb, err, &ae)
	assert.Equal(tb, code, ae.Code, ae.Message)
}

func TestClusterAnswers(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	rows, err := c.Query(t.Context(), "SELECT 40 + 2, NULL::text")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Len(t, rows[0], 2)
	require.NotNil(t, rows[0][0])
	assert.Equal(t, "42", *rows[0][0])
	assert.Nil(t, rows[0][1], "NULL is nil")
	assert.GreaterOrEqual(t, c.Version(), 100000, "server_version_num")
	assert.NotEmpty(t, c.Host())
	assert.Positive(t, c.Port())
}

func TestClusterServerSettings(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	tests := []struct {
		name        string            // setting
		check       func(string) bool // accepts the SHOW value
		managedOnly bool              // only our own clusters are configured so
	}{
		{name: "wal_level", check: func(v string) bool { return v == "logical" }},
		{name: "max_prepared_transactions", check: func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 }},
		{name: "max_replication_slots", check: func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n >= 10 }},
		{name: "ssl", check: func(v string) bool { return v == "on" }, managedOnly: true},
		{name: "fsync", check: func(v string) bool { return v == "off" }, managedOnly: true},
		{name: "synchronous_commit", check: func(v string) bool { return v == "off" }, managedOnly: true},
		{name: "full_page_writes", check: func(v string) bool { return v == "off" }, managedOnly: true},
		{name: "max_connections", check: func(v string) bool { return v == "200" }, managedOnly: true},
		{name: "listen_addresses", check: func(v string) bool { return v == "127.0.0.1" }, managedOnly: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.managedOnly {
				pgtest.RequireManaged(t)
			}
			rows, err := c.Query(t.Context(), "SHOW "+tc.name)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.NotNil(t, rows[0][0])
			assert.True(t, tc.check(*rows[0][0]), "%s = %s", tc.name, *rows[0][0])
		})
	}
}

func TestClusterRolesAuthenticateWithTheirMethod(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	tests := []struct {
		name       string           // case
		role       pgtest.Role      // role to log in as
		wantAuth   pgtest.AdminAuth // exchange the server must ask for
		needsValid bool             // a wrong password must fail
	}{
		{name: "superuser_scram", role: pgtest.RoleSuperuser, wantAuth: pgtest.AdminAuthSCRAM, needsValid: true},
		{name: "trust", role: pgtest.RoleTrust, wantAuth: pgtest.AdminAuthNone, needsValid: false},
		{name: "password", role: pgtest.RolePassword, wantAuth: pgtest.AdminAuthCleartext, needsValid: true},
		{name: "md5", role: pgtest.RoleMD5, wantAuth: pgtest.AdminAuthMD5, needsValid: true},
		{name: "scram", role: pgtest.RoleSCRAM, wantAuth: pgtest.AdminAuthSCRAM, needsValid: true},
		{name: "replication_role", role: pgtest.RoleReplication, wantAuth: pgtest.AdminAuthSCRAM, needsValid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			// Over TCP without TLS: the host lines apply, not hostssl.
			rawURL := c.URL(tc.role, "postgres", "sslmode=disable")
			ac, err := clusterConnect(t, ctx, rawURL)
			require.NoError(t, err)
			assert.Equal(t, tc.wantAuth, ac.AuthMethod())
			assert.False(t, ac.TLS())
			assert.Equal(t, string(tc.role), clusterQueryOne(t, ctx, ac, "SELECT current_user"))

			cfg, err := pgtest.ParseAdminURL(rawURL)
			require.NoError(t, err)
			cfg.Password = "wrong-" + tc.role.Password()
			wrong, err := pgtest.AdminConnect(ctx, cfg)
			if !tc.needsValid {
				require.NoError(t, err, "trust ignores the password")
				assert.Equal(t, pgtest.AdminAuthNone, wrong.AuthMethod())
				require.NoError(t, wrong.Close(ctx))
				return
			}
			require.Error(t, err)
			clusterRequireSQLSTATE(t, err, "28P01") // invalid_password
		})
	}
}

func TestClusterMD5RoleStoresMD5Password(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	rows, err := c.Query(t.Context(), "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolname IN ('pgstrict_md5', 'pgstrict_scram') ORDER BY 1")
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.True(t, strings.HasPrefix(*rows[0][1], "md5"), "pgstrict_md5: %s", *rows[0][1])
	assert.Equal(t, "SCRAM-SHA-256$", *rows[1][1], "pgstrict_scram")
}

func TestClusterHBAFileRules(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	rows, err := c.Query(t.Context(),
		"SELECT type, array_to_string(database, ','), array_to_string(user_name, ','), coalesce(address, ''), auth_method, coalesce(error, '') FROM pg_hba_file_rules ORDER BY line_number")
	require.NoError(t, err)
	var got []string
	for _, r := range rows {
		require.Empty(t, *r[5], "pg_hba.conf error")
		got = append(got, strings.Join([]string{*r[0], *r[1], *r[2], *r[3], *r[4]}, " "))
	}
	assert.Equal(t, []string{
		"local all all  trust",
		"local replication all  trust",
		"host all pgstrict_trust 127.0.0.1 trust",
		"hostssl all pgstrict_cert 127.0.0.1 cert",
		"host all pgstrict_password 127.0.0.1 password",
		"host all pgstrict_md5 127.0.0.1 md5",
		"host all pgstrict_scram 127.0.0.1 scram-sha-256",
		"host replication pgstrict_repl 127.0.0.1 scram-sha-256",
		"host all pgstrict_repl 127.0.0.1 scram-sha-256",
		"host all all 127.0.0.1 scram-sha-256",
	}, got)
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	ctx := t.Context()
	ac, err := clusterConnect(t, ctx, c.URL(pgtest.RoleSCRAM, "postgres", "sslmode=verify-full", "sslrootcert="+c.CAFile()))
	require.NoError(t, err)
	assert.True(t, ac.TLS())
	assert.Equal(t, "t", clusterQueryOne(t, ctx, ac, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
	assert.Equal(t, "on", clusterQueryOne(t, ctx, ac, "SHOW ssl"))
}

func TestClusterCertAuth(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)

	t.Run("client_certificate_logs_in", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		ac, err := clusterConnect(t, ctx, c.URL(pgtest.RoleCert, "postgres"))
		require.NoError(t, err)
		assert.True(t, ac.TLS())
		assert.Equal(t, pgtest.AdminAuthNone, ac.AuthMethod(), "cert asks for no password")
		assert.Equal(t, "/CN="+pgtest.CertUser,
			clusterQueryOne(t, ctx, ac, "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
	})
	t.Run("tls_without_certificate_fails", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		cfg, err := pgtest.ParseAdminURL(c.URL(pgtest.RoleCert, "postgres"))
		require.NoError(t, err)
		cfg.TLS.Certificates = nil
		_, err = pgtest.AdminConnect(ctx, cfg)
		clusterRequireSQLSTATE(t, err, "28000") // invalid_authorization_specification
	})
	t.Run("plaintext_is_not_cert_auth", func(t *testing.T) {
		t.Parallel()
		// Without TLS the hostssl line does not match; the catch-all
		// scram-sha-256 line does, and pgstrict_cert has no password.
		_, err := clusterConnect(t, t.Context(), c.URL(pgtest.RoleCert, "postgres", "sslmode=disable", "sslcert=", "sslkey="))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "server asked for a SCRAM password")
	})
}

func TestClusterReplicationConnection(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	tests := []struct {
		name        string      // case
		role        pgtest.Role // role to log in as
		replication string      // replication startup parameter
		wantCode    string      // SQLSTATE of the refusal; "" = accepted
	}{
		// Physical replication matches the "replication" pg_hba keyword.
		{name: "physical_repl_role", role: pgtest.RoleReplication, replication: "true"},
		{name: "physical_other_role_has_no_hba_line", role: pgtest.RoleSCRAM, replication: "true", wantCode: "28000"},
		// Logical replication matches by database name; the REPLICATION
		// attribute decides.
		{name: "logical_repl_role", role: pgtest.RoleReplication, replication: "database"},
		{name: "logical_other_role_lacks_attribute", role: pgtest.RoleSCRAM, replication: "database", wantCode: "42501"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			ac, err := clusterConnect(t, ctx, c.URL(tc.role, "postgres", "replication="+tc.replication, "sslmode=disable"))
			if tc.wantCode != "" {
				clusterRequireSQLSTATE(t, err, tc.wantCode)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, pgtest.AdminAuthSCRAM, ac.AuthMethod())
			rows, err := ac.Query(ctx, "IDENTIFY_SYSTEM")
			require.NoError(t, err)
			require.Len(t, rows, 1)
			assert.Len(t, rows[0], 4, "systemid, timeline, xlogpos, dbname")
		})
	}
}

func TestClusterUnixSocket(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	ctx := t.Context()
	cfg := c.AdminConfig("")
	assert.Equal(t, "unix", cfg.Network)
	assert.Equal(t, c.SocketDir(), strings.TrimSuffix(cfg.Address, "/.s.PGSQL."+strconv.Itoa(c.Port())))
	ac, err := pgtest.AdminConnect(ctx, cfg)
	require.NoError(t, err)
	defer func() { assert.NoError(t, ac.Close(ctx)) }()
	assert.Equal(t, pgtest.AdminAuthNone, ac.AuthMethod(), "local trust")
	// inet_server_addr is NULL over a Unix socket.
	rows, err := ac.Query(ctx, "SELECT inet_server_addr()")
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Nil(t, rows[0][0])
}

func TestClusterURL(t *testing.T) {
	t.Parallel()
	c := pgtest.RequireManaged(t)
	tests := []struct {
		name     string      // case
		role     pgtest.Role // role
		params   []string    // extra params
		wantUser string      // user info
		wantPass string      // password ("" = none)
		wantQ    url.Values  // query
	}{
		{name: "scram", role: pgtest.RoleSCRAM, wantUser: "pgstrict_scram", wantPass: pgtest.PasswordSCRAM, wantQ: url.Values{}},
		{name: "trust_no_password", role: pgtest.RoleTrust, wantUser: "pgstrict_trust", wantQ: url.Values{}},
		{
			name: "cert_defaults", role: pgtest.RoleCert, wantUser: pgtest.CertUser,
			wantQ: url.Values{
				"sslmode": {"verify-full"}, "sslrootcert": {c.CAFile()},
				"sslcert": {c.ClientCertFile()}, "sslkey": {c.ClientKeyFile()},
			},
		},
		{
			name: "params_override", role: pgtest.RoleCert, params: []string{"sslmode=require", "application_name=x=y"},
			wantUser: pgtest.CertUser,
			wantQ: url.Values{
				"sslmode": {"require"}, "sslrootcert": {c.CAFile()}, "application_name": {"x=y"},
				"sslcert": {c.ClientCertFile()}, "sslkey": {c.ClientKeyFile()},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(c.URL(tc.role, "some db", tc.params...))
			require.NoError(t, err)
			assert.Equal(t, "postgres", u.Scheme)
			assert.Equal(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())), u.Host)
			assert.Equal(t, "/some db", u.Path)
			assert.Equal(t, tc.wantUser, u.User.Username())
			pass, _ := u.User.Password()
			assert.Equal(t, tc.wantPass, pass)
			assert.Equal(t, tc.wantQ, u.Query())
		})
	}
	assert.Panics(t, func() { c.URL(pgtest.RoleSCRAM, "x", "no-equals-sign") })
}

func TestMustDatabase(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	var name string
	t.Run("create_and_use", func(t *testing.T) {
		db := pgtest.MustDatabase(t)
		name = db.Name()
		assert.LessOrEqual(t, len(name), 63)
		assert.True(t, strings.HasPrefix(name, "t_testmustdatabase_create_and_use_"), name)
		assert.Same(t, c, db.Cluster())

		ctx := t.Context()
		ac, err := pgtest.AdminConnect(ctx, db.AdminConfig())
		require.NoError(t, err)
		defer func() { assert.NoError(t, ac.Close(ctx)) }()
		assert.Equal(t, name, clusterQueryOne(t, ctx, ac, "SELECT current_database()"))
		require.NoError(t, ac.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)"))
		assert.Equal(t, "7", clusterQueryOne(t, ctx, ac, "SELECT x FROM t"))

		if c.Managed() {
			// Every role may create tables in public of a new database.
			role, err := clusterConnect(t, ctx, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			require.NoError(t, err)
			require.NoError(t, role.Exec(ctx, "CREATE TABLE mine (y int)"))
		}
	})
	require.NotEmpty(t, name)
	rows, err := c.Query(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = '"+name+"'")
	require.NoError(t, err)
	assert.Equal(t, "0", *rows[0][0], "database %s still exists after its test", name)
}

func TestMustDatabaseNamesAreUnique(t *testing.T) {
	t.Parallel()
	a, b := pgtest.MustDatabase(t), pgtest.MustDatabase(t)
	assert.NotEqual(t, a.Name(), b.Name())
}

func TestStartClusterStopRemovesEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := pgtest.StartCluster(ctx, pgtest.ClusterOptions{})
	if errors.Is(err, pgtest.ErrNoServerBinaries) {
		pgtest.SkipUnavailable(t, err.Error())
	}
	require.NoError(t, err)
	dir, port := c.Dir(), c.Port()
	require.DirExists(t, dir)
	require.NoError(t, c.Exec(ctx, "SELECT 1"))

	require.NoError(t, c.Stop(ctx))
	assert.NoDirExists(t, dir)
	assert.True(t, clusterPortRefuses(port), "port %d still accepts connections", port)
	assert.NoError(t, c.Stop(ctx), "Stop is idempotent")
	assert.Error(t, c.Exec(ctx, "SELECT 1"))
}

// clusterPortRefuses reports whether nothing accepts TCP connections on
// 127.0.0.1:port.
func clusterPortRefuses(port int) bool {
	nc, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return true
	}
	_ = nc.Close()
	return false
}

func TestClusterWatchdogCleansUpAfterCrash(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), clusterCrashHelperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	line, readErr := bufio.NewReader(stdout).ReadString('\n')
	var dir string
	var port int
	_, scanErr := fmt.Sscanf(line, "cluster %s %d", &dir, &port)
	if readErr != nil || scanErr != nil {
		// stderr may be read only once the helper has exited.
		waitErr := cmd.Wait()
		if strings.TrimSpace(line) == clusterCrashHelperNoBinaries {
			pgtest.SkipUnavailable(t, "no PostgreSQL server binaries for the crash helper")
		}
		t.Fatalf("helper said %q (read: %v, scan: %v, exit: %v), stderr:\n%s", line, readErr, scanErr, waitErr, stderr.String())
	}
	require.DirExists(t, dir)
	require.False(t, clusterPortRefuses(port), "helper's cluster is not listening")

	_, err = stdin.Write([]byte("crash\n"))
	require.NoError(t, err)
	err = cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "helper must die abnormally, got %v", err)
	assert.Contains(t, stderr.String(), "simulated crash")

	// No event tells us that the watchdog finished: poll with a deadline.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		gone := errors.Is(statErr, os.ErrNotExist)
		if gone && clusterPortRefuses(port) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: directory gone=%v, port %d refuses=%v", gone, port, clusterPortRefuses(port))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartClusterFailureShowsServerLogAndCleansUp(t *testing.T) {
	t.Parallel()
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		pgtest.SkipUnavailable(t, "no initdb on PATH")
	}
	initdb, err = filepath.EvalSymlinks(initdb)
	require.NoError(t, err)
	realBin := filepath.Dir(initdb)

	// A bin dir with the real initdb and postgres but a pg_ctl that writes a
	// FATAL line into the server log and fails.
	binDir := clusterWorldReadableTempDir(t)
	require.NoError(t, os.Symlink(filepath.Join(realBin, "initdb"), filepath.Join(binDir, "initdb")))
	require.NoError(t, os.Symlink(filepath.Join(realBin, "postgres"), filepath.Join(binDir, "postgres")))
	fakePgCtl := "#!/bin/sh\nfor a; do [ \"$prev\" = -l ] && log=$a; prev=$a; done\n" +
		"[ -n \"$log\" ] && echo 'FATAL:  simulated start failure' >> \"$log\"\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(binDir, "pg_ctl"), []byte(fakePgCtl), 0o755))

	parent := clusterWorldReadableTempDir(t)
	_, err = pgtest.StartCluster(t.Context(), pgtest.ClusterOptions{BinDir: binDir, TempDir: parent, NoTemplateCache: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pg_ctl start")
	assert.Contains(t, err.Error(), "server log (tail)")
	assert.Contains(t, err.Error(), "simulated start failure")
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	assert.Empty(t, entries, "the cluster directory is removed after a failed start")
}

func TestStartClusterRejectsIncompleteBinDir(t *testing.T) {
	t.Parallel()
	_, err := pgtest.StartCluster(t.Context(), pgtest.ClusterOptions{BinDir: t.TempDir()})
	assert.ErrorIs(t, err, pgtest.ErrNoServerBinaries)
}

// clusterWorldReadableTempDir returns a t.TempDir that the postgres OS user
// can reach when the tests run as root.
func clusterWorldReadableTempDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.Chmod(dir, 0o755))
	require.NoError(tb, os.Chmod(filepath.Dir(dir), 0o755))
	return dir
}
