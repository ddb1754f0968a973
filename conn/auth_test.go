package conn_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, for Config.Tracer.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// frontendLines returns the trace lines of messages the client sent.
func frontendLines(trace string) []string {
	var out []string
	for _, l := range strings.Split(trace, "\n") {
		if strings.HasPrefix(l, "F\t") {
			out = append(out, l)
		}
	}
	return out
}

// tracedConfig parses connString and sets a tracer (in regress mode, so that
// lines start with the direction) that writes to the returned buffer.
func tracedConfig(tb testing.TB, connString string) (*conn.Config, *syncBuffer) {
	tb.Helper()
	cfg := mustParseConfig(tb, connString)
	buf := &syncBuffer{}
	cfg.Tracer = buf
	cfg.TraceOptions = conn.TraceOptions{Regress: true}
	return cfg, buf
}

// connectErr connects with cfg, which must fail, and returns the error after
// checking that it is a *conn.ConnectError.
func connectErr(tb testing.TB, cfg *conn.Config) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := conn.ConnectConfig(ctx, cfg)
	if err == nil {
		c.Close(ctx)
		require.Fail(tb, "connected, want an error")
	}
	var ce *conn.ConnectError
	require.ErrorAs(tb, err, &ce)
	require.NotEmpty(tb, ce.Attempts)
	require.NoError(tb, ctx.Err(), "the hang guard fired: %v", err)
	return err
}

// TestAuthMethods logs in as every role of the harness, with require_auth
// set to the one method the role's pg_hba.conf line uses: the connection
// succeeding proves that the server asked for that method and that the
// client answered it correctly.
func TestAuthMethods(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name    string
		role    pgtest.Role
		params  []string // extra URL parameters
		method  conn.AuthMethod
		wantTLS bool
	}{
		{name: "trust", role: pgtest.RoleTrust, params: []string{"sslmode=disable"}, method: conn.AuthMethodNone},
		{name: "cleartext password", role: pgtest.RolePassword, params: []string{"sslmode=disable"}, method: conn.AuthMethodPassword},
		{name: "cleartext password over TLS", role: pgtest.RolePassword, params: []string{"sslmode=require"}, method: conn.AuthMethodPassword, wantTLS: true},
		{name: "md5", role: pgtest.RoleMD5, params: []string{"sslmode=disable"}, method: conn.AuthMethodMD5},
		{name: "md5 over TLS", role: pgtest.RoleMD5, params: []string{"sslmode=require"}, method: conn.AuthMethodMD5, wantTLS: true},
		{name: "scram-sha-256", role: pgtest.RoleSCRAM, params: []string{"sslmode=disable"}, method: conn.AuthMethodSCRAMSHA256},
		{name: "scram-sha-256 over TLS", role: pgtest.RoleSCRAM, params: []string{"sslmode=require"}, method: conn.AuthMethodSCRAMSHA256, wantTLS: true},
		{name: "replication role, scram", role: pgtest.RoleReplication, params: []string{"sslmode=disable"}, method: conn.AuthMethodSCRAMSHA256},
		// The harness URL of RoleCert is verify-full with the client
		// certificate; the cert method asks for no password.
		{name: "client certificate", role: pgtest.RoleCert, method: conn.AuthMethodNone, wantTLS: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			params := append([]string{"require_auth=" + string(tc.method)}, tc.params...)
			c := mustConnect(t, db.URL(tc.role, params...))
			assert.Equal(t, string(tc.role), mustQueryValue(t, c, "select current_user"))
			assert.Equal(t, tc.wantTLS, c.TLSConnectionState() != nil)
			serverSSL := mustQueryValue(t, c, "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
			assert.Equal(t, map[bool]string{true: "t", false: "f"}[tc.wantTLS], serverSSL)
			assert.NotZero(t, c.PID())
		})
	}
}

// TestAuthClientCertificateRequired checks that the cert role cannot log in
// over TLS without presenting its certificate.
func TestAuthClientCertificateRequired(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg := mustParseConfig(t, db.URL(pgtest.RoleCert))
	cfg.SSLCert, cfg.SSLKey = "", ""
	err := connectErr(t, cfg)
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "28000", pe.Code, "invalid_authorization_specification")
	assert.True(t, pe.Fatal())
}

// TestAuthWrongPassword checks that a wrong password fails with the
// server's FATAL 28P01 inside a *conn.ConnectError, for every password
// method.
func TestAuthWrongPassword(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name string
		role pgtest.Role
	}{
		{name: "cleartext password", role: pgtest.RolePassword},
		{name: "md5", role: pgtest.RoleMD5},
		{name: "scram-sha-256", role: pgtest.RoleSCRAM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, db.URL(tc.role, "sslmode=disable"))
			cfg.Password = "not-" + tc.role.Password()
			for i := range cfg.Hosts {
				cfg.Hosts[i].Password = ""
			}
			err := connectErr(t, cfg)
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "28P01", pe.Code, "invalid_password")
			assert.Equal(t, "FATAL", pe.SeverityUnlocalized)
			var ae *conn.AuthError
			assert.False(t, errors.As(err, &ae), "the server decided, not the client: %v", err)
			assert.NotContains(t, err.Error(), tc.role.Password())
		})
	}
}

// TestRequireAuth checks that require_auth refuses a method the server
// asks for with a *conn.AuthError, before any credential is sent.
func TestRequireAuth(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name        string
		role        pgtest.Role
		requireAuth string
		wantErr     bool
		// notSent is a message the client must not have sent (checked in
		// the trace).
		notSent string
	}{
		{name: "scram required, md5 asked", role: pgtest.RoleMD5, requireAuth: "scram-sha-256", wantErr: true, notSent: "PasswordMessage"},
		{name: "scram required, cleartext asked", role: pgtest.RolePassword, requireAuth: "scram-sha-256", wantErr: true, notSent: "PasswordMessage"},
		{name: "none required, scram asked", role: pgtest.RoleSCRAM, requireAuth: "none", wantErr: true, notSent: "SASLInitialResponse"},
		{name: "not md5, md5 asked", role: pgtest.RoleMD5, requireAuth: "!md5", wantErr: true, notSent: "PasswordMessage"},
		{name: "not md5, scram asked", role: pgtest.RoleSCRAM, requireAuth: "!md5"},
		{name: "not password, cleartext asked", role: pgtest.RolePassword, requireAuth: "!password", wantErr: true, notSent: "PasswordMessage"},
		{name: "md5 or scram, md5 asked", role: pgtest.RoleMD5, requireAuth: "md5,scram-sha-256"},
		{name: "md5 or scram, scram asked", role: pgtest.RoleSCRAM, requireAuth: "md5,scram-sha-256"},
		// trust sends AuthenticationOk at once: a client that requires a
		// password method must refuse the session it did not authenticate.
		{name: "scram required, trust", role: pgtest.RoleTrust, requireAuth: "scram-sha-256", wantErr: true},
		{name: "not none, trust", role: pgtest.RoleTrust, requireAuth: "!none", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, trace := tracedConfig(t, db.URL(tc.role, "sslmode=disable", "require_auth="+tc.requireAuth))
			if !tc.wantErr {
				c := mustConnectConfig(t, cfg)
				assert.Equal(t, string(tc.role), mustQueryValue(t, c, "select current_user"))
				return
			}
			err := connectErr(t, cfg)
			var ae *conn.AuthError
			require.ErrorAs(t, err, &ae)
			assert.NotEmpty(t, ae.Reason)
			var pe *conn.PgError
			assert.False(t, errors.As(err, &pe), "the client must refuse, not the server: %v", err)
			if tc.notSent != "" {
				sent := frontendLines(trace.String())
				require.NotEmpty(t, sent, "the StartupMessage is traced")
				for _, l := range sent {
					assert.NotContains(t, l, tc.notSent)
				}
			}
		})
	}
}

// TestSCRAMChannelBinding checks that SCRAM binds to the TLS channel
// (SCRAM-SHA-256-PLUS) whenever TLS is in use, that channel_binding=require
// insists on it, and that channel_binding=disable turns it off.
func TestSCRAMChannelBinding(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	tests := []struct {
		name    string
		role    pgtest.Role
		params  []string
		wantErr bool
		// mechanism is the SASL mechanism the client must have chosen.
		mechanism string
	}{
		{name: "TLS, binding required", role: pgtest.RoleSCRAM, params: []string{"sslmode=require", "channel_binding=require"}, mechanism: "SCRAM-SHA-256-PLUS"},
		{name: "TLS, binding preferred (default)", role: pgtest.RoleSCRAM, params: []string{"sslmode=require"}, mechanism: "SCRAM-SHA-256-PLUS"},
		{name: "TLS verify-full, binding required", role: pgtest.RoleSCRAM, params: []string{"sslmode=verify-full", "sslrootcert=" + db.Cluster().CAFile(), "channel_binding=require"}, mechanism: "SCRAM-SHA-256-PLUS"},
		{name: "TLS, binding disabled", role: pgtest.RoleSCRAM, params: []string{"sslmode=require", "channel_binding=disable"}, mechanism: "SCRAM-SHA-256"},
		{name: "no TLS, binding preferred", role: pgtest.RoleSCRAM, params: []string{"sslmode=disable"}, mechanism: "SCRAM-SHA-256"},
		{name: "no TLS, binding disabled", role: pgtest.RoleSCRAM, params: []string{"sslmode=disable", "channel_binding=disable"}, mechanism: "SCRAM-SHA-256"},
		{name: "TLS, binding required, md5 asked", role: pgtest.RoleMD5, params: []string{"sslmode=require", "channel_binding=require"}, wantErr: true},
		{name: "TLS, binding required, cleartext asked", role: pgtest.RolePassword, params: []string{"sslmode=require", "channel_binding=require"}, wantErr: true},
		{name: "TLS, binding required, trust", role: pgtest.RoleTrust, params: []string{"sslmode=require", "channel_binding=require"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, trace := tracedConfig(t, db.URL(tc.role, tc.params...))
			if tc.wantErr {
				err := connectErr(t, cfg)
				var ae *conn.AuthError
				require.ErrorAs(t, err, &ae)
				assert.NotContains(t, trace.String(), "PasswordMessage")
				return
			}
			c := mustConnectConfig(t, cfg)
			assert.Equal(t, string(tc.role), mustQueryValue(t, c, "select current_user"))
			var initial string
			for _, l := range frontendLines(trace.String()) {
				if strings.Contains(l, "SASLInitialResponse") {
					initial = l
				}
			}
			require.NotEmpty(t, initial, "no SASLInitialResponse in the trace:\n%s", trace.String())
			assert.Contains(t, initial, `SASLInitialResponse "`+tc.mechanism+`"`)
		})
	}
}

// TestChannelBindingRequireWithoutTLS checks that channel_binding=require
// cannot be combined with sslmode=disable: the configuration is refused
// before anything is dialed.
func TestChannelBindingRequireWithoutTLS(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	_, err := conn.ParseConfig(db.URL(pgtest.RoleSCRAM, "sslmode=disable", "channel_binding=require"))
	var pce *conn.ParseConfigError
	require.ErrorAs(t, err, &pce)
	assert.NotContains(t, err.Error(), pgtest.PasswordSCRAM)

	// A Config built by hand is checked the same way when connecting.
	cfg := mustParseConfig(t, db.URL(pgtest.RoleSCRAM, "sslmode=disable"))
	cfg.ChannelBinding = conn.ChannelBindingRequire
	c, err := conn.ConnectConfig(t.Context(), cfg)
	if c != nil {
		c.Close(t.Context())
	}
	require.ErrorAs(t, err, &pce)
}
