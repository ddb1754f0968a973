package pgtest_test

import (
	"context"
	"crypto/md5" //nolint:gosec // the md5 auth method is defined with MD5
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

func TestParseAdminURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string            // case
		url         string            // input
		wantNetwork string            // AdminConfig.Network
		wantAddress string            // AdminConfig.Address
		wantUser    string            // AdminConfig.User
		wantPass    string            // AdminConfig.Password
		wantDB      string            // AdminConfig.Database
		wantTLS     bool              // TLS configured
		wantTLSOpt  bool              // TLSOptional
		wantParams  map[string]string // extra startup parameters
		wantErr     string            // error substring; "" = success
	}{
		{
			name: "full_tcp_default_prefer", url: "postgres://u:p%40ss@db.example:6543/app",
			wantNetwork: "tcp", wantAddress: "db.example:6543", wantUser: "u", wantPass: "p@ss", wantDB: "app",
			wantTLS: true, wantTLSOpt: true,
		},
		{
			name: "default_port_postgresql_scheme_disable", url: "postgresql://u@localhost/app?sslmode=disable",
			wantNetwork: "tcp", wantAddress: "localhost:5432", wantUser: "u", wantDB: "app",
		},
		{
			name: "require_is_not_optional", url: "postgres://u@127.0.0.1:1/d?sslmode=require",
			wantNetwork: "tcp", wantAddress: "127.0.0.1:1", wantUser: "u", wantDB: "d", wantTLS: true,
		},
		{
			name: "ipv6", url: "postgres://u@[::1]:5433/d?sslmode=disable",
			wantNetwork: "tcp", wantAddress: "[::1]:5433", wantUser: "u", wantDB: "d",
		},
		{
			name: "unix_socket_via_query", url: "postgres://u@/d?host=/run/pg&port=5444",
			wantNetwork: "unix", wantAddress: "/run/pg/.s.PGSQL.5444", wantUser: "u", wantDB: "d",
		},
		{
			name: "extra_params_are_startup_parameters", url: "postgres://u@h/d?sslmode=disable&replication=database&application_name=x",
			wantNetwork: "tcp", wantAddress: "h:5432", wantUser: "u", wantDB: "d",
			wantParams: map[string]string{"replication": "database", "application_name": "x"},
		},
		{name: "wrong_scheme", url: "mysql://u@h/d", wantErr: "scheme"},
		{name: "no_user", url: "postgres://h/d", wantErr: "no user"},
		{name: "no_host", url: "postgres://u@/d", wantErr: "no host"},
		{name: "bad_sslmode", url: "postgres://u@h/d?sslmode=maybe", wantErr: "unsupported sslmode"},
		{name: "verify_full_needs_root", url: "postgres://u@h/d?sslmode=verify-full", wantErr: "needs sslrootcert"},
		{name: "cert_without_key", url: "postgres://u@h/d?sslcert=/x", wantErr: "together"},
		{name: "repeated_param", url: "postgres://u@h/d?a=1&a=2", wantErr: "2 times"},
		{name: "unparsable_hides_password", url: "postgres://u:secret@h:port/d", wantErr: "parse admin url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := pgtest.ParseAdminURL(tc.url)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "secret", "password leaked into the error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantNetwork, cfg.Network)
			assert.Equal(t, tc.wantAddress, cfg.Address)
			assert.Equal(t, tc.wantUser, cfg.User)
			assert.Equal(t, tc.wantPass, cfg.Password)
			assert.Equal(t, tc.wantDB, cfg.Database)
			assert.Equal(t, tc.wantTLS, cfg.TLS != nil)
			assert.Equal(t, tc.wantTLSOpt, cfg.TLSOptional)
			assert.Equal(t, tc.wantParams, cfg.Params)
		})
	}
}

func TestAdminQueryRowsAcrossStatements(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	rows, err := c.Query(t.Context(), "SELECT 'a', NULL; SET application_name = 'x'; SELECT 'b', 'é'")
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "a", *rows[0][0])
	assert.Nil(t, rows[0][1])
	assert.Equal(t, "b", *rows[1][0])
	assert.Equal(t, "é", *rows[1][1])
}

func TestAdminErrorCarriesSQLSTATEAndKeepsConnection(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	ctx := t.Context()
	ac, err := pgtest.AdminConnect(ctx, c.AdminConfig(""))
	require.NoError(t, err)
	defer func() { assert.NoError(t, ac.Close(ctx)) }()

	_, err = ac.Query(ctx, "SELECT 1/0")
	var ae *pgtest.AdminError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "22012", ae.Code) // division_by_zero
	assert.Equal(t, "ERROR", ae.Severity)
	assert.Contains(t, ae.Error(), "division by zero")
	assert.Contains(t, ae.Error(), "SQLSTATE 22012")

	rows, err := ac.Query(ctx, "SELECT 'still usable'")
	require.NoError(t, err)
	assert.Equal(t, "still usable", *rows[0][0])
}

func TestAdminContextCancelClosesConnection(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	ac, err := pgtest.AdminConnect(t.Context(), c.AdminConfig(""))
	require.NoError(t, err)
	defer func() { assert.NoError(t, ac.Close(context.Background())) }()

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = ac.Query(ctx, "SELECT pg_sleep(30)")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 10*time.Second, "cancellation must interrupt the read")

	_, err = ac.Query(t.Context(), "SELECT 1")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a broken connection keeps failing with its cause")
}

func TestAdminRejectsNULInQuery(t *testing.T) {
	t.Parallel()
	c := pgtest.MustCluster(t)
	ctx := t.Context()
	ac, err := pgtest.AdminConnect(ctx, c.AdminConfig(""))
	require.NoError(t, err)
	defer func() { assert.NoError(t, ac.Close(ctx)) }()
	_, err = ac.Query(ctx, "SELECT 1\x00")
	require.Error(t, err)
	_, err = ac.Query(ctx, "SELECT 1")
	assert.NoError(t, err, "nothing reached the wire, the connection is fine")
}

// adminFakeServer serves one connection on 127.0.0.1 with script and
// returns the address. The server goroutine is owned by the test: cleanup
// closes the listener and waits for it.
func adminFakeServer(tb testing.TB, script func(be *pgproto3.Backend, nc net.Conn) error) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return // listener closed by cleanup
		}
		defer func() { _ = nc.Close() }()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		be := pgproto3.NewBackend(nc, nc)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			tb.Errorf("fake server: startup: %v", err)
			return
		}
		if err := script(be, nc); err != nil {
			tb.Errorf("fake server: %v", err)
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// adminSend sends messages and flushes.
func adminSend(be *pgproto3.Backend, msgs ...pgproto3.BackendMessage) error {
	for _, m := range msgs {
		be.Send(m)
	}
	return be.Flush()
}

func TestAdminMD5Response(t *testing.T) {
	t.Parallel()
	salt := [4]byte{1, 2, 3, 4}
	// md5(md5(password || user) || salt), computed here independently.
	inner := md5.Sum([]byte("secretalice")) //nolint:gosec // protocol-defined
	outer := md5.Sum(append([]byte(hex.EncodeToString(inner[:])), salt[:]...))
	want := "md5" + hex.EncodeToString(outer[:])

	var got string
	addr := adminFakeServer(t, func(be *pgproto3.Backend, _ net.Conn) error {
		if err := adminSend(be, &pgproto3.AuthenticationMD5Password{Salt: salt}); err != nil {
			return err
		}
		if err := be.SetAuthType(pgproto3.AuthTypeMD5Password); err != nil {
			return err
		}
		msg, err := be.Receive()
		if err != nil {
			return err
		}
		pm, ok := msg.(*pgproto3.PasswordMessage)
		if !ok {
			return errors.New("expected PasswordMessage")
		}
		got = pm.Password
		return adminSend(be, &pgproto3.AuthenticationOk{}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	})
	ac, err := pgtest.AdminConnect(t.Context(), pgtest.AdminConfig{Address: addr, User: "alice", Password: "secret"})
	require.NoError(t, err)
	require.NoError(t, ac.Close(t.Context()))
	assert.Equal(t, pgtest.AdminAuthMD5, ac.AuthMethod())
	assert.Equal(t, want, got)
}

func TestAdminStartupFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string                                        // case
		password string                                        // configured password
		script   func(be *pgproto3.Backend, nc net.Conn) error // server behaviour after StartupMessage
		check    func(t *testing.T, err error)                 // what the client must report
	}{
		{
			name: "password_requested_but_none_configured",
			script: func(be *pgproto3.Backend, _ net.Conn) error {
				return adminSend(be, &pgproto3.AuthenticationCleartextPassword{})
			},
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "server asked for a cleartext password and none is configured")
			},
		},
		{
			name: "error_response_is_admin_error",
			script: func(be *pgproto3.Backend, _ net.Conn) error {
				return adminSend(be, &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "3D000", Message: `database "x" does not exist`})
			},
			check: func(t *testing.T, err error) {
				var ae *pgtest.AdminError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, "3D000", ae.Code)
				assert.Equal(t, "FATAL", ae.Severity)
			},
		},
		{
			name: "unexpected_message",
			script: func(be *pgproto3.Backend, _ net.Conn) error {
				return adminSend(be, &pgproto3.CopyInResponse{})
			},
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "unexpected *pgproto3.CopyInResponse during startup")
			},
		},
		{
			name: "eof",
			script: func(_ *pgproto3.Backend, nc net.Conn) error {
				return nc.Close()
			},
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "receive")
			},
		},
		{
			name:     "scram_without_server_signature",
			password: "secret",
			script:   adminScramSkippingFinal,
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "without proving its signature")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := adminFakeServer(t, tc.script)
			ac, err := pgtest.AdminConnect(t.Context(), pgtest.AdminConfig{Address: addr, User: "alice", Password: tc.password})
			if err == nil {
				_ = ac.Close(t.Context())
			}
			require.Error(t, err)
			tc.check(t, err)
		})
	}
}

// adminScramSkippingFinal runs a SCRAM exchange up to the client-final
// message and then claims success without sending the server signature.
func adminScramSkippingFinal(be *pgproto3.Backend, _ net.Conn) error {
	if err := adminSend(be, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return err
	}
	first, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		return errors.New("expected SASLInitialResponse")
	}
	_, nonce, ok := strings.Cut(string(first.Data), ",r=")
	if !ok {
		return errors.New("no client nonce")
	}
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	serverFirst := "r=" + nonce + "srv,s=" + salt + ",i=4096"
	if err := adminSend(be, &pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)}); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return err
	}
	if _, err := be.Receive(); err != nil { // client-final-message
		return err
	}
	return adminSend(be, &pgproto3.AuthenticationOk{}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
}

func TestAdminQueryRejectsUnexpectedMessage(t *testing.T) {
	t.Parallel()
	addr := adminFakeServer(t, func(be *pgproto3.Backend, _ net.Conn) error {
		if err := adminSend(be, &pgproto3.AuthenticationOk{}, &pgproto3.ReadyForQuery{TxStatus: 'I'}); err != nil {
			return err
		}
		if _, err := be.Receive(); err != nil { // Query
			return err
		}
		return adminSend(be, &pgproto3.CopyOutResponse{})
	})
	ctx := t.Context()
	ac, err := pgtest.AdminConnect(ctx, pgtest.AdminConfig{Address: addr, User: "alice"})
	require.NoError(t, err)
	assert.Equal(t, pgtest.AdminAuthNone, ac.AuthMethod())
	_, err = ac.Query(ctx, "COPY t TO STDOUT")
	require.ErrorContains(t, err, "unexpected *pgproto3.CopyOutResponse")
	_, again := ac.Query(ctx, "SELECT 1")
	assert.Equal(t, err, again, "the connection stays broken with the same cause")
	assert.NoError(t, ac.Close(ctx))
	assert.NoError(t, ac.Close(ctx), "Close is idempotent")
}
