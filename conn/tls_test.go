package conn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// foreignCAFile writes a fresh self-signed CA certificate, unrelated to the
// cluster's, and returns its path.
func foreignCAFile(tb testing.TB) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pgstrict foreign test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "foreign-ca.crt")
	require.NoError(tb, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

// TestSSLMode connects with every sslmode and checks whether TLS is in use,
// on both ends, or that verification fails as it must.
func TestSSLMode(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	ca := db.Cluster().CAFile()
	foreign := foreignCAFile(t)
	tests := []struct {
		name string
		// role is the role to log in as; zero means RoleSCRAM.
		role    pgtest.Role
		params  []string
		wantTLS bool
		// wantErr, when set, checks the error of a connection that must
		// fail.
		wantErr func(t *testing.T, err error)
	}{
		{name: "disable", params: []string{"sslmode=disable"}},
		{name: "allow uses plaintext when the server accepts it", params: []string{"sslmode=allow"}},
		// Without TLS the cert role falls to pg_hba.conf's catch-all
		// scram-sha-256 line and fails (it has no password): allow retries
		// with TLS, where the certificate logs it in.
		{name: "allow falls back to TLS", role: pgtest.RoleCert, params: []string{"sslmode=allow", "password=not-its-password"}, wantTLS: true},
		{name: "prefer with a client certificate", role: pgtest.RoleCert, params: []string{"sslmode=prefer"}, wantTLS: true},
		{name: "prefer", params: []string{"sslmode=prefer"}, wantTLS: true},
		{name: "require", params: []string{"sslmode=require"}, wantTLS: true},
		{name: "verify-ca with the cluster CA", params: []string{"sslmode=verify-ca", "sslrootcert=" + ca}, wantTLS: true},
		{name: "verify-full with the cluster CA and IP", params: []string{"sslmode=verify-full", "sslrootcert=" + ca}, wantTLS: true},
		{name: "verify-full with the cluster CA and localhost", params: []string{"sslmode=verify-full", "sslrootcert=" + ca, "host=localhost"}, wantTLS: true},
		{name: "verify-ca ignores the host name", params: []string{"sslmode=verify-ca", "sslrootcert=" + ca, "hostaddr=127.0.0.1", "host=wrong.invalid"}, wantTLS: true},
		{
			name:   "verify-full with a wrong host name",
			params: []string{"sslmode=verify-full", "sslrootcert=" + ca, "hostaddr=127.0.0.1", "host=wrong.invalid"},
			wantErr: func(t *testing.T, err error) {
				var he x509.HostnameError
				assert.ErrorAs(t, err, &he)
			},
		},
		{
			name:    "verify-ca with a foreign CA",
			params:  []string{"sslmode=verify-ca", "sslrootcert=" + foreign},
			wantErr: requireUnknownAuthority,
		},
		{
			name:    "verify-full with a foreign CA",
			params:  []string{"sslmode=verify-full", "sslrootcert=" + foreign},
			wantErr: requireUnknownAuthority,
		},
		{
			// As libpq: require with a root certificate verifies the chain.
			name:    "require with a foreign CA",
			params:  []string{"sslmode=require", "sslrootcert=" + foreign},
			wantErr: requireUnknownAuthority,
		},
		{
			name:    "verify-ca with the system roots",
			params:  []string{"sslmode=verify-ca"},
			wantErr: requireUnknownAuthority,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			role := tc.role
			if role == "" {
				role = pgtest.RoleSCRAM
			}
			url := db.URL(role, tc.params...)
			if tc.wantErr != nil {
				err := connectErr(t, mustParseConfig(t, url))
				var pe *conn.PgError
				assert.False(t, errors.As(err, &pe), "the client must refuse the server: %v", err)
				tc.wantErr(t, err)
				return
			}
			c := mustConnect(t, url)
			assert.Equal(t, tc.wantTLS, c.TLSConnectionState() != nil)
			assert.Equal(t, map[bool]string{true: "t", false: "f"}[tc.wantTLS],
				mustQueryValue(t, c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()"))
		})
	}
}

func requireUnknownAuthority(t *testing.T, err error) {
	var ua x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &ua)
}

// TestSSLNegotiationDirect checks sslnegotiation=direct: PostgreSQL 17 and
// later accept it; older servers take the TLS ClientHello for a startup
// packet with an absurd length and close the connection, which must end the
// attempt cleanly (an error, not a hang).
func TestSSLNegotiationDirect(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg := mustParseConfig(t, db.URL(pgtest.RoleSCRAM, "sslmode=verify-full", "sslrootcert="+db.Cluster().CAFile(), "sslnegotiation=direct"))
	if db.Cluster().Version() >= 170000 {
		c := mustConnectConfig(t, cfg)
		require.NotNil(t, c.TLSConnectionState())
		assert.Equal(t, "postgresql", c.TLSConnectionState().NegotiatedProtocol)
		assert.Equal(t, "t", mustQueryValue(t, c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()"))
		return
	}
	t.Logf("PostgreSQL %d predates direct TLS: asserting the failure", db.Cluster().Version())
	err := connectErr(t, cfg) // fails the test if the 30 s guard fires
	t.Logf("direct TLS against an old server: %v", err)
	var ce *conn.ConnectError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Attempts, 1)
	assert.False(t, conn.Timeout(err), "the server closes the connection; nothing may wait for a timeout: %v", err)
	var pe *conn.PgError
	assert.False(t, errors.As(err, &pe), "an old server answers nothing readable: %v", err)
}

// TestUnixSocket connects over the cluster's Unix-domain socket, where no
// TLS is negotiated (as in libpq, even with sslmode=require).
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	dir := db.Cluster().SocketDir()
	require.NotEmpty(t, dir, "a managed cluster has a Unix socket")
	for _, mode := range []string{"disable", "prefer", "require"} {
		t.Run("sslmode="+mode, func(t *testing.T) {
			t.Parallel()
			c := mustConnect(t, db.URL(pgtest.RoleTrust, "host="+dir, "sslmode="+mode))
			assert.True(t, c.Host().IsUnixSocket())
			assert.Nil(t, c.TLSConnectionState())
			assert.Equal(t, "<NULL>", mustQueryValue(t, c, "select inet_server_addr()"), "the server sees a Unix-socket client")
			requireUsable(t, c)
		})
	}
}

// closedPort returns a TCP port on 127.0.0.1 on which nothing listens (it
// was free a moment ago).
func closedPort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	return port
}

// hostsDSN returns a keyword/value connection string for RoleTrust and db
// with the given host and port lists.
func hostsDSN(db *pgtest.Database, hosts, ports string, extra string) string {
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable %s", hosts, ports, pgtest.RoleTrust, db.Name(), extra)
}

// TestMultipleHosts checks that a host list is tried in order and that a
// failure reports every attempt.
func TestMultipleHosts(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	port := db.Cluster().Port()

	t.Run("first host down", func(t *testing.T) {
		t.Parallel()
		down := closedPort(t)
		c := mustConnect(t, hostsDSN(db, "127.0.0.1,127.0.0.1", fmt.Sprintf("%d,%d", down, port), ""))
		assert.Equal(t, uint16(port), c.Host().Port)
		requireUsable(t, c)
	})

	t.Run("all hosts down", func(t *testing.T) {
		t.Parallel()
		down1, down2 := closedPort(t), closedPort(t)
		err := connectErr(t, mustParseConfig(t, hostsDSN(db, "127.0.0.1,127.0.0.1", fmt.Sprintf("%d,%d", down1, down2), "")))
		var ce *conn.ConnectError
		require.ErrorAs(t, err, &ce)
		require.Len(t, ce.Attempts, 2)
		for i, want := range []int{down1, down2} {
			assert.Equal(t, "127.0.0.1", ce.Attempts[i].Host)
			assert.Equal(t, uint16(want), ce.Attempts[i].Port)
			assert.ErrorIs(t, ce.Attempts[i], syscall.ECONNREFUSED)
		}
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
}

// TestTargetSessionAttrs checks target_session_attrs against the harness's
// primary (it has no standby).
func TestTargetSessionAttrs(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	port := fmt.Sprint(db.Cluster().Port())
	const readOnly = "options='-c default_transaction_read_only=on'"
	tests := []struct {
		name  string
		attrs string
		extra string // more keywords
		ok    bool
	}{
		{name: "any", attrs: "any", ok: true},
		{name: "read-write on the primary", attrs: "read-write", ok: true},
		{name: "primary", attrs: "primary", ok: true},
		{name: "prefer-standby falls back to the primary", attrs: "prefer-standby", ok: true},
		{name: "standby", attrs: "standby"},
		{name: "read-only on a writable primary", attrs: "read-only"},
		{name: "read-only on a read-only session", attrs: "read-only", extra: readOnly, ok: true},
		{name: "read-write on a read-only session", attrs: "read-write", extra: readOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := hostsDSN(db, "127.0.0.1", port, "target_session_attrs="+tc.attrs+" "+tc.extra)
			cfg := mustParseConfig(t, dsn)
			if tc.ok {
				c := mustConnectConfig(t, cfg)
				requireUsable(t, c)
				return
			}
			err := connectErr(t, cfg)
			var ce *conn.ConnectError
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Attempts, 1)
			// There is no error type for a server of the wrong kind; the
			// message must say which requirement failed.
			assert.ErrorContains(t, err, "target_session_attrs="+tc.attrs)
			var pe *conn.PgError
			assert.False(t, errors.As(err, &pe), "%v", err)
		})
	}
}
