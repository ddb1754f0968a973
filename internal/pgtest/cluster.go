package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Role is a login role of a cluster. Its value is the role name in a managed
// cluster; RoleSuperuser stands for whichever superuser the cluster was
// reached with (postgres in managed and container clusters, the
// PGSTRICT_TEST_DSN user otherwise).
type Role string

// The roles of a managed cluster. Each logs in over TCP with the method its
// name says (see the pg_hba.conf a managed cluster writes); every role but
// RoleSuperuser has LOGIN and CREATEDB and nothing else unless stated.
const (
	// RoleSuperuser is the bootstrap superuser; trust over the Unix socket,
	// scram-sha-256 over TCP with PasswordSuperuser.
	RoleSuperuser Role = "postgres"
	// RoleTrust logs in over TCP without a password (trust).
	RoleTrust Role = "pgstrict_trust"
	// RolePassword logs in with a cleartext password (method password),
	// PasswordCleartext.
	RolePassword Role = "pgstrict_password"
	// RoleMD5 logs in with MD5 (method md5; the password is stored as MD5),
	// PasswordMD5.
	RoleMD5 Role = "pgstrict_md5"
	// RoleSCRAM logs in with SCRAM-SHA-256, PasswordSCRAM.
	RoleSCRAM Role = "pgstrict_scram"
	// RoleCert logs in over TLS with the cluster's client certificate
	// (method cert, hostssl only); its name equals CertUser.
	RoleCert Role = CertUser
	// RoleReplication has REPLICATION and logs in with SCRAM-SHA-256, both
	// for normal and for replication connections, PasswordReplication.
	RoleReplication Role = "pgstrict_repl"
)

// The fixed passwords of the roles of a managed cluster. They are test
// constants, not secrets; each role has its own so that a mix-up fails.
const (
	// PasswordSuperuser is RoleSuperuser's password over TCP in managed and
	// container clusters.
	PasswordSuperuser = "pgstrict-superuser-secret"
	// PasswordCleartext is RolePassword's password.
	PasswordCleartext = "pgstrict-password-secret"
	// PasswordMD5 is RoleMD5's password.
	PasswordMD5 = "pgstrict-md5-secret"
	// PasswordSCRAM is RoleSCRAM's password.
	PasswordSCRAM = "pgstrict-scram-secret"
	// PasswordReplication is RoleReplication's password.
	PasswordReplication = "pgstrict-repl-secret"
)

// Password returns the role's fixed password in a managed cluster: "" for
// RoleTrust, RoleCert and unknown roles.
func (r Role) Password() string {
	switch r {
	case RoleSuperuser:
		return PasswordSuperuser
	case RolePassword:
		return PasswordCleartext
	case RoleMD5:
		return PasswordMD5
	case RoleSCRAM:
		return PasswordSCRAM
	case RoleReplication:
		return PasswordReplication
	default:
		return ""
	}
}

// clusterSource says where a Cluster came from.
type clusterSource string

const (
	clusterSourceDSN       clusterSource = "PGSTRICT_TEST_DSN"
	clusterSourceLocal     clusterSource = "local binaries"
	clusterSourceContainer clusterSource = "testcontainers"
)

// Cluster is a PostgreSQL server for tests: a throwaway cluster started from
// local binaries (managed: our pg_hba.conf, roles and TLS files), a
// testcontainers container, or an existing server named by
// PGSTRICT_TEST_DSN. Tests get the binary's shared cluster from MustCluster;
// StartCluster starts a separate one without a *testing.T.
//
// Cluster is safe for concurrent use by multiple goroutines.
type Cluster struct {
	// The following fields are written once before the Cluster is published
	// and only read afterwards.
	source      clusterSource
	host        string // TCP host for URLs
	port        int
	socketDir   string // "" when there is no Unix socket we can reach
	version     int    // server_version_num
	versionText string // server_version
	managed     bool
	dir         string // managed: the cluster directory
	certs       certsFiles
	admin       AdminConfig // superuser connection used by Exec and Query
	urlBase     url.URL     // superuser URL without path; query params kept
	stopFunc    func(ctx context.Context) error

	stopMu sync.Mutex
	// guards following fields
	stopped bool
	stopErr error
}

// Host returns the TCP host of the server (127.0.0.1 for a managed cluster).
func (c *Cluster) Host() string { return c.host }

// Port returns the TCP port of the server.
func (c *Cluster) Port() int { return c.port }

// SocketDir returns the directory holding the server's Unix socket
// (.s.PGSQL.<Port>), or "" when the cluster has none we can reach.
func (c *Cluster) SocketDir() string { return c.socketDir }

// Version returns server_version_num, for example 150018.
func (c *Cluster) Version() int { return c.version }

// VersionString returns server_version, for example "15.18 (Debian ...)".
func (c *Cluster) VersionString() string { return c.versionText }

// Managed reports whether this is a throwaway cluster from local binaries
// whose pg_hba.conf, roles and TLS files are ours. Only then do the non-
// superuser roles, TLS and the certificate files exist.
func (c *Cluster) Managed() bool { return c.managed }

// Dir returns the directory of a managed cluster (data directory, Unix
// socket, TLS files, server log postgres.log), or "" for other clusters.
func (c *Cluster) Dir() string { return c.dir }

// CAFile returns the path of the CA certificate that signed the server and
// client certificates ("" unless Managed).
func (c *Cluster) CAFile() string { return c.certs.caFile }

// ServerCertFile returns the path of the server certificate ("" unless
// Managed). It is valid for localhost and 127.0.0.1.
func (c *Cluster) ServerCertFile() string { return c.certs.serverCertFile }

// ClientCertFile returns the path of the client certificate with CN
// CertUser ("" unless Managed).
func (c *Cluster) ClientCertFile() string { return c.certs.clientCertFile }

// ClientKeyFile returns the path of the client certificate's private key
// (mode 0600; "" unless Managed).
func (c *Cluster) ClientKeyFile() string { return c.certs.clientKeyFile }

// URL returns a connection URL for role and database dbname. params are
// extra query parameters as "key=value" (for example "sslmode=disable");
// they override the defaults. For RoleCert the defaults are sslmode=
// verify-full with sslrootcert, sslcert and sslkey set to the cluster's
// files; for the other roles there are none beyond what PGSTRICT_TEST_DSN
// carried. On an unmanaged cluster only RoleSuperuser exists: other roles
// panic (call RequireManaged first). A malformed param panics too.
func (c *Cluster) URL(role Role, dbname string, params ...string) string {
	u := c.urlBase // copy
	query := u.Query()
	switch {
	case role == RoleSuperuser:
	case !c.managed:
		panic(fmt.Sprintf("pgtest: role %s exists only in a managed cluster; call RequireManaged first", role))
	case role == RoleCert:
		u.User = url.User(string(role))
		query.Set("sslmode", "verify-full")
		query.Set("sslrootcert", c.certs.caFile)
		query.Set("sslcert", c.certs.clientCertFile)
		query.Set("sslkey", c.certs.clientKeyFile)
	case role.Password() == "":
		u.User = url.User(string(role))
	default:
		u.User = url.UserPassword(string(role), role.Password())
	}
	for _, p := range params {
		key, value, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			panic(fmt.Sprintf("pgtest: URL param %q is not key=value", p))
		}
		query.Set(key, value)
	}
	u.Path = "/" + dbname
	u.RawPath = ""
	// url.Values encodes a space as '+', which libpq (and conn.ParseConfig)
	// read literally in a URI: use %20.
	u.RawQuery = strings.ReplaceAll(query.Encode(), "+", "%20")
	return u.String()
}

// Exec runs sql (one or more statements) as the superuser on a fresh admin
// connection to the admin database: postgres for managed and container
// clusters, the database of PGSTRICT_TEST_DSN otherwise.
func (c *Cluster) Exec(ctx context.Context, sql string) error {
	_, err := adminOnce(ctx, c.admin, sql)
	return err
}

// Query runs sql like Exec and returns the rows of every result set as
// text; a nil element is SQL NULL.
func (c *Cluster) Query(ctx context.Context, sql string) ([][]*string, error) {
	return adminOnce(ctx, c.admin, sql)
}

// AdminConfig returns the configuration of a superuser admin connection to
// dbname ("" means the admin database, see Exec): over the Unix socket
// (trust) for a managed cluster, otherwise as PGSTRICT_TEST_DSN or the
// container says.
func (c *Cluster) AdminConfig(dbname string) AdminConfig {
	cfg := c.admin
	if dbname != "" {
		cfg.Database = dbname
	}
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
	}
	return cfg
}

// Stop stops the cluster and removes what it created: a managed cluster is
// shut down and its directory deleted, a container is terminated, an
// existing server (PGSTRICT_TEST_DSN) is left alone. Stop is idempotent;
// later calls return the first call's result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	if c.stopFunc != nil {
		c.stopErr = c.stopFunc(ctx)
	}
	return c.stopErr
}

// String describes the cluster in one line for logs.
func (c *Cluster) String() string {
	return fmt.Sprintf("PostgreSQL %s at %s (%s)", clusterShortVersion(c.versionText),
		net.JoinHostPort(c.host, strconv.Itoa(c.port)), c.source)
}

// clusterShortVersion keeps the leading "15.18" of server_version.
func clusterShortVersion(v string) string {
	if i := strings.IndexByte(v, ' '); i > 0 {
		return v[:i]
	}
	return v
}

// clusterLoadVersion fills version and versionText from the server.
func (c *Cluster) clusterLoadVersion(ctx context.Context, ac *AdminConn) error {
	rows, err := ac.Query(ctx, "SELECT current_setting('server_version_num'), current_setting('server_version')")
	if err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 2 || rows[0][0] == nil || rows[0][1] == nil {
		return errors.New("read server version: unexpected result shape")
	}
	n, err := strconv.Atoi(*rows[0][0])
	if err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	c.version, c.versionText = n, *rows[0][1]
	return nil
}

// clusterFromDSN reaches an existing server through a PGSTRICT_TEST_DSN URL.
// Such a cluster is never managed and Stop leaves it running.
func clusterFromDSN(ctx context.Context, dsn string) (*Cluster, error) {
	cfg, err := ParseAdminURL(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, EnvTestDSN)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %s is not a URL", EnvTestDSN)
	}
	host, portText := u.Hostname(), u.Port()
	if h := u.Query().Get("host"); h != "" {
		host = h
	}
	if p := u.Query().Get("port"); p != "" {
		portText = p
	}
	if portText == "" {
		portText = "5432"
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %s: port %q: %w", EnvTestDSN, portText, err)
	}
	c := &Cluster{source: clusterSourceDSN, host: host, port: port, admin: cfg}
	if strings.HasPrefix(host, "/") {
		c.socketDir = host
	}
	u.Path, u.RawPath, u.Fragment = "", "", ""
	c.urlBase = *u
	ac, err := AdminConnect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (server of %s)", err, EnvTestDSN)
	}
	defer func() { _ = ac.Close(ctx) }()
	if err := c.clusterLoadVersion(ctx, ac); err != nil {
		return nil, fmt.Errorf("pgtest: %s: %w", EnvTestDSN, err)
	}
	return c, nil
}
