package pgtest

import (
	"context"
	"crypto/md5" //nolint:gosec // PostgreSQL's md5 authentication is defined with MD5
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/internal/scram"
)

// AdminAuth names the authentication exchange the server asked an AdminConn
// for during startup.
type AdminAuth string

// The authentication exchanges an AdminConn supports.
const (
	// AdminAuthNone: the server accepted the connection without asking for a
	// password (trust, or cert after a verified client certificate).
	AdminAuthNone AdminAuth = "none"
	// AdminAuthCleartext: AuthenticationCleartextPassword (hba method password).
	AdminAuthCleartext AdminAuth = "cleartext"
	// AdminAuthMD5: AuthenticationMD5Password (hba method md5).
	AdminAuthMD5 AdminAuth = "md5"
	// AdminAuthSCRAM: SASL with SCRAM-SHA-256 (hba method scram-sha-256).
	AdminAuthSCRAM AdminAuth = "scram-sha-256"
)

// adminMaxBodyLen caps every backend message the admin client accepts. The
// harness only runs small administrative statements.
const adminMaxBodyLen = 16 << 20

// adminTerminateTimeout bounds the Terminate write in Close.
const adminTerminateTimeout = time.Second

// AdminConfig says how an AdminConn reaches and authenticates to a server.
// The zero value is not usable: Address and User are required.
type AdminConfig struct {
	// Network is "tcp" or "unix". Zero means "tcp".
	Network string
	// Address is host:port for "tcp" and the socket file path (for example
	// /tmp/x/.s.PGSQL.5432) for "unix".
	Address string
	// User is the role to log in as. Required.
	User string
	// Password is sent when the server asks for one. Zero means none: a
	// server that asks for a password then fails the connection.
	Password string
	// Database to connect to. Zero means the database named like User.
	Database string
	// TLS, when non-nil, makes the client send SSLRequest and run a TLS
	// handshake with this configuration before startup. Nil means plaintext.
	TLS *tls.Config
	// TLSOptional lets the connection continue in plaintext when the server
	// declines SSLRequest (libpq's sslmode=prefer). Zero means a declined
	// SSLRequest fails the connection. Ignored when TLS is nil.
	TLSOptional bool
	// Params are extra startup parameters (for example "replication":
	// "database"). user, database and client_encoding are always set by the
	// client and must not appear here. Nil means none.
	Params map[string]string
}

// AdminError is an ErrorResponse from the server, returned by AdminConnect,
// AdminConn.Exec and AdminConn.Query. Check it with errors.As.
type AdminError struct {
	// Severity is the non-localized severity (ERROR, FATAL, PANIC).
	Severity string
	// Code is the SQLSTATE.
	Code string
	// Message is the primary message.
	Message string
	// Detail is the optional detail message.
	Detail string
	// Hint is the optional hint.
	Hint string
}

// Error returns the severity, message and SQLSTATE.
func (e *AdminError) Error() string {
	return fmt.Sprintf("pgtest: %s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// AdminConn is a minimal simple-query-only PostgreSQL client that the harness
// uses to set up roles and databases; it is test infrastructure, not the
// product (that is package conn). It supports trust, cleartext, MD5 and
// SCRAM-SHA-256 authentication over TCP (optionally TLS) and Unix sockets.
// Any I/O or protocol error closes it for good.
//
// AdminConn is not safe for concurrent use.
type AdminConn struct {
	raw    net.Conn // the dialed socket; deadlines are set here
	nc     net.Conn // raw, or the TLS connection on top of it
	fe     *pgproto3.Frontend
	auth   AdminAuth
	params map[string]string // ParameterStatus values reported by the server
	tls    bool
	err    error // non-nil once broken or closed: the cause
}

// errAdminClosed is the cause recorded by Close.
var errAdminClosed = errors.New("pgtest: admin connection closed")

// AdminConnect opens a connection and completes startup. ctx bounds the whole
// connection attempt; when it ends first the connection is closed and the
// context's error is returned (wrapped).
func AdminConnect(ctx context.Context, cfg AdminConfig) (*AdminConn, error) {
	if cfg.User == "" {
		return nil, errors.New("pgtest: admin connect: no user")
	}
	if cfg.Address == "" {
		return nil, errors.New("pgtest: admin connect: no address")
	}
	network := cfg.Network
	if network == "" {
		network = "tcp"
	}
	if network != "tcp" && network != "unix" {
		return nil, fmt.Errorf("pgtest: admin connect: unsupported network %q", network)
	}
	for _, reserved := range []string{"user", "database", "client_encoding"} {
		if _, ok := cfg.Params[reserved]; ok {
			return nil, fmt.Errorf("pgtest: admin connect: startup parameter %q is reserved", reserved)
		}
	}

	var dialer net.Dialer
	nc, err := dialer.DialContext(ctx, network, cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("pgtest: admin connect: %w", err)
	}
	c := &AdminConn{raw: nc, nc: nc, params: make(map[string]string)}
	if err := c.startup(ctx, cfg); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("pgtest: admin connect %s@%s: %w", cfg.User, cfg.Address, err)
	}
	return c, nil
}

// AuthMethod returns the authentication exchange the server asked for.
func (c *AdminConn) AuthMethod() AdminAuth { return c.auth }

// TLS reports whether the connection runs over TLS.
func (c *AdminConn) TLS() bool { return c.tls }

// ParameterStatus returns the last value the server reported for a run-time
// parameter (server_version, application_name, ...), or "" when it reported
// none.
func (c *AdminConn) ParameterStatus(name string) string { return c.params[name] }

// Exec runs sql (one or more statements) with the simple query protocol and
// discards any rows.
func (c *AdminConn) Exec(ctx context.Context, sql string) error {
	_, err := c.Query(ctx, sql)
	return err
}

// Query runs sql (one or more statements) with the simple query protocol and
// returns the rows of every result set, in order, as text; a nil element is
// SQL NULL. The first ErrorResponse is returned as *AdminError, and the
// connection stays usable after it. When ctx ends first the connection is
// closed.
func (c *AdminConn) Query(ctx context.Context, sql string) ([][]*string, error) {
	if c.err != nil {
		return nil, c.err
	}
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, errors.New("pgtest: query contains a NUL byte")
	}
	rows, err := adminWithContext(ctx, c, func() ([][]*string, error) {
		c.fe.Send(&pgproto3.Query{String: sql})
		if err := c.fe.Flush(); err != nil {
			return nil, c.fail(fmt.Errorf("send query: %w", err))
		}
		var rows [][]*string
		var firstErr error
		for {
			msg, err := c.fe.Receive()
			if err != nil {
				return nil, c.fail(fmt.Errorf("receive: %w", err))
			}
			switch m := msg.(type) {
			case *pgproto3.RowDescription, *pgproto3.CommandComplete, *pgproto3.EmptyQueryResponse,
				*pgproto3.NoticeResponse, *pgproto3.NotificationResponse:
			case *pgproto3.ParameterStatus:
				c.params[m.Name] = m.Value
			case *pgproto3.DataRow:
				row := make([]*string, len(m.Values))
				for i, v := range m.Values {
					if v != nil {
						s := string(v) // copies: Values alias the read buffer
						row[i] = &s
					}
				}
				rows = append(rows, row)
			case *pgproto3.ErrorResponse:
				if firstErr == nil {
					firstErr = adminErrorFrom(m)
				}
			case *pgproto3.ReadyForQuery:
				if firstErr != nil {
					return nil, firstErr
				}
				return rows, nil
			default:
				return nil, c.fail(fmt.Errorf("unexpected %T during simple query", msg))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Close sends Terminate (bounded by ctx and a short timeout) and closes the
// connection. It is idempotent.
func (c *AdminConn) Close(ctx context.Context) error {
	if c.err != nil {
		c.err = errAdminClosed // the socket was closed when the connection broke
		return nil
	}
	c.err = errAdminClosed
	deadline := time.Now().Add(adminTerminateTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.raw.SetWriteDeadline(deadline)
	c.fe.Send(&pgproto3.Terminate{})
	_ = c.fe.Flush() // the server may already be gone; closing is what matters
	return c.nc.Close()
}

// fail marks the connection broken with cause, closes the socket and returns
// the cause.
func (c *AdminConn) fail(cause error) error {
	if c.err == nil {
		c.err = cause
		_ = c.nc.Close()
	}
	return cause
}

// adminWithContext runs op with the connection's deadline tied to ctx: ctx's
// deadline is applied, and cancellation interrupts blocked I/O. A failure
// caused by ctx is reported as ctx's error.
func adminWithContext[T any](ctx context.Context, c *AdminConn, op func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	raw := c.raw
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		_ = raw.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() {
		_ = raw.SetDeadline(time.Unix(1, 0)) // interrupt blocked reads and writes
	})
	v, err := op()
	stopped := stop()
	ctxErr := ctx.Err()
	if ctxErr == nil && hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket deadline, which is ctx's, fired before ctx's own timer.
		ctxErr = context.DeadlineExceeded
	}
	if !stopped || ctxErr != nil {
		// ctx ended while op ran: the stream position is unknown. ctx is the
		// root cause even when the interrupted I/O recorded its error first.
		if ctxErr == nil {
			ctxErr = context.Cause(ctx)
		}
		cause := ctxErr
		if err != nil {
			cause = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		_ = c.fail(cause)
		c.err = cause
		return zero, cause
	}
	if c.err == nil {
		_ = raw.SetDeadline(time.Time{})
	}
	return v, err
}

// startup negotiates TLS if configured, sends the StartupMessage, answers
// the authentication exchange and waits for the first ReadyForQuery.
func (c *AdminConn) startup(ctx context.Context, cfg AdminConfig) error {
	_, err := adminWithContext(ctx, c, func() (struct{}, error) {
		if cfg.TLS != nil {
			if err := c.negotiateTLS(ctx, cfg); err != nil {
				return struct{}{}, c.fail(err)
			}
		}
		c.fe = pgproto3.NewFrontend(c.nc, c.nc)
		c.fe.SetMaxBodyLen(adminMaxBodyLen)
		database := cfg.Database
		if database == "" {
			database = cfg.User
		}
		params := map[string]string{
			"user":             cfg.User,
			"database":         database,
			"client_encoding":  "UTF8",
			"application_name": "pgstrict-pgtest",
		}
		for k, v := range cfg.Params {
			params[k] = v
		}
		c.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params})
		if err := c.fe.Flush(); err != nil {
			return struct{}{}, c.fail(fmt.Errorf("send startup: %w", err))
		}
		return struct{}{}, c.authenticate(cfg)
	})
	return err
}

// negotiateTLS sends SSLRequest and, when the server agrees, replaces the
// socket with a TLS client connection.
func (c *AdminConn) negotiateTLS(ctx context.Context, cfg AdminConfig) error {
	req, err := (&pgproto3.SSLRequest{}).Encode(nil)
	if err != nil {
		return fmt.Errorf("encode SSLRequest: %w", err)
	}
	if _, err := c.nc.Write(req); err != nil {
		return fmt.Errorf("send SSLRequest: %w", err)
	}
	// Read exactly one byte from the raw socket so that nothing the server
	// sent after it can be mistaken for TLS-protected data.
	var answer [1]byte
	if _, err := io.ReadFull(c.nc, answer[:]); err != nil {
		return fmt.Errorf("read SSLRequest answer: %w", err)
	}
	switch answer[0] {
	case 'S':
		tc := tls.Client(c.nc, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		c.nc = tc
		c.tls = true
		return nil
	case 'N':
		if cfg.TLSOptional {
			return nil
		}
		return errors.New("server does not accept TLS")
	default:
		return fmt.Errorf("unexpected answer %q to SSLRequest", answer[0])
	}
}

// authenticate answers the server's authentication requests and reads up to
// the first ReadyForQuery.
func (c *AdminConn) authenticate(cfg AdminConfig) error {
	c.auth = AdminAuthNone
	var sc *scram.Client
	scramVerified := false
	needPassword := func(method string) error {
		if cfg.Password == "" {
			return fmt.Errorf("server asked for a %s password and none is configured", method)
		}
		return nil
	}
	send := func(msg pgproto3.FrontendMessage) error {
		c.fe.Send(msg)
		if err := c.fe.Flush(); err != nil {
			return fmt.Errorf("send %T: %w", msg, err)
		}
		return nil
	}
	for {
		msg, err := c.fe.Receive()
		if err != nil {
			return c.fail(fmt.Errorf("receive: %w", err))
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
			if sc != nil && !scramVerified {
				return c.fail(errors.New("server completed SCRAM without proving its signature"))
			}
		case *pgproto3.AuthenticationCleartextPassword:
			c.auth = AdminAuthCleartext
			if err := needPassword("cleartext"); err != nil {
				return c.fail(err)
			}
			if err := send(&pgproto3.PasswordMessage{Password: cfg.Password}); err != nil {
				return c.fail(err)
			}
		case *pgproto3.AuthenticationMD5Password:
			c.auth = AdminAuthMD5
			if err := needPassword("md5"); err != nil {
				return c.fail(err)
			}
			if err := send(&pgproto3.PasswordMessage{Password: adminMD5Password(cfg.User, cfg.Password, m.Salt)}); err != nil {
				return c.fail(err)
			}
		case *pgproto3.AuthenticationSASL:
			c.auth = AdminAuthSCRAM
			if sc != nil {
				return c.fail(errors.New("server restarted SASL authentication"))
			}
			if err := needPassword("SCRAM"); err != nil {
				return c.fail(err)
			}
			if !slices.Contains(m.AuthMechanisms, "SCRAM-SHA-256") {
				return c.fail(fmt.Errorf("server offers no supported SASL mechanism: %v", m.AuthMechanisms))
			}
			sc, err = scram.NewClient("SCRAM-SHA-256", cfg.Password, nil, rand.Reader)
			if err != nil {
				return c.fail(fmt.Errorf("scram: %w", err))
			}
			if err := send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: sc.ClientFirst()}); err != nil {
				return c.fail(err)
			}
		case *pgproto3.AuthenticationSASLContinue:
			if sc == nil {
				return c.fail(errors.New("SASLContinue without SASL"))
			}
			final, err := sc.ServerFirst(m.Data)
			if err != nil {
				return c.fail(fmt.Errorf("scram: %w", err))
			}
			if err := send(&pgproto3.SASLResponse{Data: final}); err != nil {
				return c.fail(err)
			}
		case *pgproto3.AuthenticationSASLFinal:
			if sc == nil {
				return c.fail(errors.New("SASLFinal without SASL"))
			}
			if err := sc.ServerFinal(m.Data); err != nil {
				return c.fail(fmt.Errorf("scram: %w", err))
			}
			scramVerified = true
		case *pgproto3.ParameterStatus:
			c.params[m.Name] = m.Value
		case *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		case *pgproto3.ErrorResponse:
			return c.fail(adminErrorFrom(m))
		case *pgproto3.ReadyForQuery:
			return nil
		default:
			return c.fail(fmt.Errorf("unexpected %T during startup", msg))
		}
	}
}

// adminMD5Password computes PostgreSQL's md5 password response:
// "md5" + md5hex(md5hex(password + user) + salt).
func adminMD5Password(user, password string, salt [4]byte) string {
	inner := md5.Sum([]byte(password + user)) //nolint:gosec // protocol-defined
	innerHex := hex.EncodeToString(inner[:])
	outer := md5.Sum(append([]byte(innerHex), salt[:]...)) //nolint:gosec // protocol-defined
	return "md5" + hex.EncodeToString(outer[:])
}

// adminErrorFrom copies an ErrorResponse into an *AdminError.
func adminErrorFrom(m *pgproto3.ErrorResponse) *AdminError {
	severity := m.SeverityUnlocalized
	if severity == "" {
		severity = m.Severity
	}
	return &AdminError{Severity: severity, Code: m.Code, Message: m.Message, Detail: m.Detail, Hint: m.Hint}
}

// ParseAdminURL turns a postgres:// or postgresql:// URL into an
// AdminConfig. It understands user, password, host (a leading "/" means a
// Unix socket directory, also via the host query parameter), port (default
// 5432), database, and sslmode (disable, prefer, require, verify-full; the
// default is prefer over TCP and disable over a Unix socket) with sslrootcert,
// sslcert and sslkey. Every other query parameter becomes a startup
// parameter. Errors never contain the password.
func ParseAdminURL(s string) (AdminConfig, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: scheme %q is not postgres or postgresql", u.Scheme)
	}
	var cfg AdminConfig
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	cfg.Database = strings.TrimPrefix(u.Path, "/")
	host, port := u.Hostname(), u.Port()
	query := u.Query()
	sslmode, sslrootcert, sslcert, sslkey := "", "", "", ""
	for key, values := range query {
		if len(values) != 1 {
			return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: parameter %q given %d times", key, len(values))
		}
		v := values[0]
		switch key {
		case "host":
			host = v
		case "port":
			port = v
		case "user":
			cfg.User = v
		case "password":
			cfg.Password = v
		case "dbname":
			cfg.Database = v
		case "sslmode":
			sslmode = v
		case "sslrootcert":
			sslrootcert = v
		case "sslcert":
			sslcert = v
		case "sslkey":
			sslkey = v
		default:
			if cfg.Params == nil {
				cfg.Params = make(map[string]string)
			}
			cfg.Params[key] = v
		}
	}
	if host == "" {
		return AdminConfig{}, errors.New("pgtest: parse admin url: no host")
	}
	if port == "" {
		port = "5432"
	}
	if cfg.User == "" {
		return AdminConfig{}, errors.New("pgtest: parse admin url: no user")
	}
	if strings.HasPrefix(host, "/") {
		cfg.Network = "unix"
		cfg.Address = filepath.Join(host, ".s.PGSQL."+port)
		if sslmode == "" {
			sslmode = "disable"
		}
	} else {
		cfg.Network = "tcp"
		cfg.Address = net.JoinHostPort(host, port)
		if sslmode == "" {
			sslmode = "prefer"
		}
	}
	switch sslmode {
	case "disable":
	case "prefer", "require":
		cfg.TLS = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // libpq semantics of prefer/require: no verification
		cfg.TLSOptional = sslmode == "prefer"
	case "verify-full":
		if sslrootcert == "" {
			return AdminConfig{}, errors.New("pgtest: parse admin url: sslmode=verify-full needs sslrootcert")
		}
		pemData, err := os.ReadFile(sslrootcert)
		if err != nil {
			return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: read sslrootcert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return AdminConfig{}, errors.New("pgtest: parse admin url: sslrootcert holds no certificate")
		}
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	default:
		return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: unsupported sslmode %q", sslmode)
	}
	if (sslcert == "") != (sslkey == "") {
		return AdminConfig{}, errors.New("pgtest: parse admin url: sslcert and sslkey must be given together")
	}
	if sslcert != "" {
		if cfg.TLS == nil {
			return AdminConfig{}, errors.New("pgtest: parse admin url: sslcert needs TLS (sslmode is disable)")
		}
		pair, err := tls.LoadX509KeyPair(sslcert, sslkey)
		if err != nil {
			return AdminConfig{}, fmt.Errorf("pgtest: parse admin url: load client certificate: %w", err)
		}
		cfg.TLS.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// adminOnce runs one statement batch on a fresh connection and closes it.
func adminOnce(ctx context.Context, cfg AdminConfig, sql string) ([][]*string, error) {
	c, err := AdminConnect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql)
	closeErr := c.Close(ctx)
	if err != nil {
		return nil, err
	}
	if closeErr != nil {
		return nil, fmt.Errorf("pgtest: close admin connection: %w", closeErr)
	}
	return rows, nil
}

// adminQuoteIdent quotes a SQL identifier.
func adminQuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// adminQuoteLiteral quotes a SQL string literal (standard_conforming_strings
// is on in every supported server version).
func adminQuoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}
