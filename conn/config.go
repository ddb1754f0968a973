package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pgstrict/pgstrict/wire"
)

// DefaultPort is the port used when none is configured.
const DefaultPort uint16 = 5432

// SSLMode is libpq's sslmode: whether and how TLS protects the connection.
type SSLMode string

// SSL modes, weakest first. They mean what they mean in libpq, except that
// verify-ca and verify-full without SSLRootCert trust the system roots (libpq
// would read ~/.postgresql/root.crt and fail without it).
const (
	// SSLModeDisable never uses TLS.
	SSLModeDisable SSLMode = "disable"
	// SSLModeAllow tries without TLS first, then with TLS (no verification).
	SSLModeAllow SSLMode = "allow"
	// SSLModePrefer tries TLS first (no verification), then without.
	SSLModePrefer SSLMode = "prefer"
	// SSLModeRequire requires TLS without verifying the server certificate
	// (unless SSLRootCert is set, which makes it behave as verify-ca, as in
	// libpq).
	SSLModeRequire SSLMode = "require"
	// SSLModeVerifyCA requires TLS and a certificate chain to a trusted root.
	SSLModeVerifyCA SSLMode = "verify-ca"
	// SSLModeVerifyFull is verify-ca plus a host name match.
	SSLModeVerifyFull SSLMode = "verify-full"
)

// rank orders SSL modes from weakest (0) to strongest; -1 means invalid.
func (m SSLMode) rank() int {
	switch m {
	case SSLModeDisable:
		return 0
	case SSLModeAllow:
		return 1
	case SSLModePrefer:
		return 2
	case SSLModeRequire:
		return 3
	case SSLModeVerifyCA:
		return 4
	case SSLModeVerifyFull:
		return 5
	}
	return -1
}

// SSLNegotiation is libpq's sslnegotiation: how TLS is started.
type SSLNegotiation string

// SSL negotiation styles.
const (
	// SSLNegotiationPostgres sends SSLRequest and starts TLS after the
	// server's 'S' answer.
	SSLNegotiationPostgres SSLNegotiation = "postgres"
	// SSLNegotiationDirect starts the TLS handshake at once with ALPN
	// "postgresql" (PostgreSQL 17 and later). Requires SSLMode require or
	// stronger.
	SSLNegotiationDirect SSLNegotiation = "direct"
)

// ChannelBindingMode is libpq's channel_binding: whether SCRAM must bind the
// authentication to the TLS channel (SCRAM-SHA-256-PLUS).
type ChannelBindingMode string

// Channel binding modes.
const (
	// ChannelBindingDisable never uses channel binding.
	ChannelBindingDisable ChannelBindingMode = "disable"
	// ChannelBindingPrefer uses it when TLS is in use and the server offers it.
	ChannelBindingPrefer ChannelBindingMode = "prefer"
	// ChannelBindingRequire fails the connection unless the server
	// authenticated with SCRAM-SHA-256-PLUS. Incompatible with SSLModeDisable.
	ChannelBindingRequire ChannelBindingMode = "require"
)

// AuthMethod is an authentication method named in require_auth.
type AuthMethod string

// Authentication methods understood by require_auth.
const (
	// AuthMethodPassword is cleartext password authentication.
	AuthMethodPassword AuthMethod = "password"
	// AuthMethodMD5 is MD5 password authentication.
	AuthMethodMD5 AuthMethod = "md5"
	// AuthMethodSCRAMSHA256 is SCRAM-SHA-256 or SCRAM-SHA-256-PLUS.
	AuthMethodSCRAMSHA256 AuthMethod = "scram-sha-256"
	// AuthMethodNone is the server not asking for authentication (trust).
	AuthMethodNone AuthMethod = "none"
)

// allAuthMethods is every AuthMethod, in canonical order. Read-only.
var allAuthMethods = []AuthMethod{AuthMethodPassword, AuthMethodMD5, AuthMethodSCRAMSHA256, AuthMethodNone}

// AuthMethods is the set of authentication methods the client accepts. nil
// accepts every method, including none; a non-nil set accepts exactly its
// members. ParseConfig resolves libpq's negated form: "!md5" becomes every
// method except md5.
type AuthMethods []AuthMethod

// Allows reports whether method is acceptable.
func (m AuthMethods) Allows(method AuthMethod) bool {
	return m == nil || slices.Contains(m, method)
}

// TargetSessionAttrs is libpq's target_session_attrs: which kind of server
// a multi-host connection settles on.
type TargetSessionAttrs string

// Target session attributes.
const (
	// TargetSessionAttrsAny accepts the first server that completes startup.
	TargetSessionAttrsAny TargetSessionAttrs = "any"
	// TargetSessionAttrsReadWrite requires a server that accepts writes.
	TargetSessionAttrsReadWrite TargetSessionAttrs = "read-write"
	// TargetSessionAttrsReadOnly requires a server that refuses writes.
	TargetSessionAttrsReadOnly TargetSessionAttrs = "read-only"
	// TargetSessionAttrsPrimary requires a server not in recovery.
	TargetSessionAttrsPrimary TargetSessionAttrs = "primary"
	// TargetSessionAttrsStandby requires a server in recovery.
	TargetSessionAttrsStandby TargetSessionAttrs = "standby"
	// TargetSessionAttrsPreferStandby prefers a standby and falls back to any
	// server when none is found.
	TargetSessionAttrsPreferStandby TargetSessionAttrs = "prefer-standby"
)

// ReplicationMode is the replication startup parameter.
type ReplicationMode string

// Replication modes.
const (
	// ReplicationNone is an ordinary backend (the zero value).
	ReplicationNone ReplicationMode = ""
	// ReplicationPhysical is a physical walsender (replication=true).
	ReplicationPhysical ReplicationMode = "physical"
	// ReplicationLogical is a logical walsender bound to the database
	// (replication=database).
	ReplicationLogical ReplicationMode = "logical"
)

// startupValue is the value of the replication startup parameter, or "" when
// the parameter is not sent.
func (m ReplicationMode) startupValue() string {
	switch m {
	case ReplicationPhysical:
		return "true"
	case ReplicationLogical:
		return "database"
	}
	return ""
}

// DialFunc opens a network connection, like (*net.Dialer).DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// LookupFunc resolves a host name to addresses, like
// (*net.Resolver).LookupHost.
type LookupFunc func(ctx context.Context, host string) ([]string, error)

// HostConfig is one server to try. HostConfig is a plain value.
type HostConfig struct {
	// Host is a host name, an IP address, or a Unix socket directory: a path
	// starting with "/", or "@name" for a Linux abstract socket. It is also
	// the name verified against the server certificate (verify-full) and
	// looked up in the password file. Zero: the default socket directory
	// (/var/run/postgresql, else /tmp, whichever exists) or "localhost" when
	// neither exists; unused when Hostaddr is set.
	Host string
	// Hostaddr is a numeric IP address to connect to instead of resolving
	// Host; Host, if set, is still used for TLS verification and the password
	// file. Zero: resolve Host.
	Hostaddr string
	// Port is the TCP port, or the number in the socket file name
	// <dir>/.s.PGSQL.<port>. Zero: DefaultPort (5432).
	Port uint16
	// Password is this host's password and overrides Config.Password. Zero:
	// Config.Password, then the password file (Config.Passfile). The connect
	// code sees the resolved value in its defaulted copy.
	Password string
}

// IsUnixSocket reports whether the host is reached through a Unix-domain
// socket: Host starts with "/" or "@" and no Hostaddr is set.
func (h HostConfig) IsUnixSocket() bool {
	return h.Hostaddr == "" && isSocketPath(h.Host)
}

// NetworkAddress returns the network ("tcp" or "unix") and address to dial.
// For a socket directory the address is <dir>/.s.PGSQL.<port>; for TCP it is
// Hostaddr (or Host, or "localhost" when both are empty) joined with the port.
// A zero Port means DefaultPort.
func (h HostConfig) NetworkAddress() (network, address string) {
	port := h.Port
	if port == 0 {
		port = DefaultPort
	}
	ps := strconv.FormatUint(uint64(port), 10)
	switch {
	case h.Hostaddr != "":
		return "tcp", net.JoinHostPort(h.Hostaddr, ps)
	case isSocketPath(h.Host):
		dir := strings.TrimRight(h.Host, "/")
		if dir == "" {
			dir = "/"
		}
		if strings.HasSuffix(dir, "/") {
			return "unix", dir + ".s.PGSQL." + ps
		}
		return "unix", dir + "/.s.PGSQL." + ps
	case h.Host == "":
		return "tcp", net.JoinHostPort("localhost", ps)
	default:
		return "tcp", net.JoinHostPort(h.Host, ps)
	}
}

func isSocketPath(host string) bool {
	return strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@")
}

// Config describes how to connect. It is not safe to modify while a
// connection is being established from it; connecting works on its own copy,
// so afterwards the caller may change or reuse it.
//
// Fields mirror libpq's connection keywords; every field's zero value has a
// documented default, so the zero Config plus a host is usable, and even the
// zero Config connects to the local default socket as the current OS user.
// Defaults are applied to an internal copy when connecting: the caller's
// Config is never modified.
//
// Config deliberately has no String method, and it holds passwords: do not
// print or log it.
type Config struct {
	// Hosts lists the servers to try, in order (libpq's host, hostaddr and
	// port lists). Zero: one host with every HostConfig default.
	Hosts []HostConfig
	// User is the database role. Zero: the current OS user name.
	User string
	// Password is used for every host that has no HostConfig.Password. It may
	// be any bytes except NUL (SCRAM prepares it with SASLprep when it is
	// valid UTF-8). Zero: look the host up in Passfile; no password if not
	// found.
	Password string
	// Database is the database name. Zero: User.
	Database string

	// SSLMode decides whether TLS is used and how the server is verified.
	// Zero: SSLModePrefer, or SSLModeVerifyFull when SSLRootCert is
	// "system".
	SSLMode SSLMode
	// SSLRootCert is a PEM file of trusted root certificates, or the special
	// value "system" (the system roots; requires SSLModeVerifyFull, as in
	// libpq). Zero: with verify-ca/verify-full the system roots are trusted;
	// with weaker modes nothing is verified. Unlike libpq,
	// ~/.postgresql/root.crt is never read implicitly.
	SSLRootCert string
	// SSLCert is a PEM client certificate file. Zero: no client certificate
	// (~/.postgresql/postgresql.crt is never read implicitly).
	SSLCert string
	// SSLKey is the PEM private key file of SSLCert. Zero: no client key.
	SSLKey string
	// SSLPassword decrypts an encrypted SSLKey. Zero: the key is not
	// encrypted.
	SSLPassword string
	// SSLNegotiation chooses between SSLRequest and direct TLS. Zero:
	// SSLNegotiationPostgres.
	SSLNegotiation SSLNegotiation
	// TLSConfig, when non-nil, is cloned and used for the TLS handshake
	// instead of the configuration built from SSLRootCert, SSLCert, SSLKey and
	// the host name; SSLMode still decides whether TLS is attempted and
	// whether it is required, and verification is whatever TLSConfig says.
	// Zero: build the TLS configuration from the SSL* fields.
	TLSConfig *tls.Config
	// ChannelBinding decides whether SCRAM binds to the TLS channel. Zero:
	// ChannelBindingPrefer.
	ChannelBinding ChannelBindingMode
	// RequireAuth lists the authentication methods the client accepts from
	// the server. Zero (nil): any method, including none.
	RequireAuth AuthMethods

	// ConnectTimeout bounds each host attempt (dial, TLS and startup), as
	// libpq's connect_timeout does. Zero: no limit other than the context.
	ConnectTimeout time.Duration
	// RuntimeParams are sent in the StartupMessage: application_name,
	// options and any other server setting. Keys and values must be valid
	// UTF-8 without NUL; user, database, replication, client_encoding and
	// "_pq_." keys are reserved (they come from other fields or are fixed).
	// Zero: no extra parameters.
	RuntimeParams map[string]string
	// TargetSessionAttrs chooses which server of Hosts to settle on. Zero:
	// TargetSessionAttrsAny.
	TargetSessionAttrs TargetSessionAttrs
	// Replication opens a walsender connection. Zero: ReplicationNone.
	Replication ReplicationMode
	// Passfile is a libpq password file (host:port:database:user:password
	// lines) consulted at connect time for hosts without a password. As in
	// libpq the file is ignored, with a warning logged, when it is not a
	// regular file or when it is readable or writable by group or others
	// (mode must be 0600 or stricter). Zero: no password file (ParseConfig
	// sets PGPASSFILE or ~/.pgpass).
	Passfile string
	// MinProtocolVersion is the lowest protocol version accepted in
	// NegotiateProtocolVersion: wire.ProtocolVersion30 or
	// wire.ProtocolVersion32. Zero: 3.0.
	MinProtocolVersion uint32
	// MaxProtocolVersion is the protocol version requested in the
	// StartupMessage. Zero: 3.2 (PostgreSQL 18's version; older servers
	// answer with NegotiateProtocolVersion and the connection continues at
	// 3.0). libpq 18 requests 3.0 by default; set 3.0 here to match it.
	MaxProtocolVersion uint32

	// DialFunc opens network connections. Zero: a net.Dialer.
	DialFunc DialFunc
	// LookupFunc resolves host names. Zero: net.DefaultResolver.LookupHost.
	LookupFunc LookupFunc
	// Logger receives Debug protocol chatter and Warn for degraded but
	// continuing situations (an unsafe password file). Zero: discard.
	Logger *slog.Logger

	// OnNotice receives every NoticeResponse (warnings, RAISE NOTICE). It
	// runs on the goroutine that reads the connection and must not call the
	// Conn. Zero: notices are dropped.
	OnNotice func(*Notice)
	// OnNotification receives every NotificationResponse. It runs on the
	// goroutine that reads the connection and must not call the Conn. Zero:
	// notifications are queued (up to NotificationBuffer) for
	// WaitForNotification.
	OnNotification func(*Notification)
	// NotificationBuffer bounds the notification queue; when it is full the
	// oldest notification is dropped and WaitForNotification reports the
	// loss. Zero: DefaultNotificationBuffer.
	NotificationBuffer int
	// DrainTimeout bounds the recovery after a context ends during a
	// request: the CancelRequest and the draining of outstanding replies up
	// to ReadyForQuery. If recovery does not finish in time the connection
	// is closed. Zero: DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Limits are the per-message receive caps of package wire. Zero: the
	// wire defaults (1 GiB rows, 1 MiB errors, …).
	Limits wire.Limits
	// SkipValueValidation turns off the UTF-8 and NUL check of text-format
	// row values. Only for trusted servers; every other text field is still
	// checked. Zero: values are checked.
	SkipValueValidation bool
	// NoSendWake turns off the timer armed around each request write on a
	// socket, whose only effect is to make the Go runtime ready a second
	// thread: on a virtual machine that shortens the wait for a reply from
	// a server on the same host (package documentation, Send wake). Zero:
	// the timer is used on TCP and Unix sockets.
	NoSendWake bool
	// Tracer, when set, receives a line per protocol message in the style
	// of libpq's PQtrace. Zero: no tracing.
	Tracer io.Writer
	// TraceOptions configure Tracer.
	TraceOptions TraceOptions

	// env is the test seam for environment variables, the OS user, the home
	// directory and the file system; nil means the real ones.
	env *environment
}

// Copy returns a copy of c in which Hosts, RequireAuth and RuntimeParams are
// new slices and maps and TLSConfig is cloned; functions, the Logger and
// other reference values are shared. Copy of nil is nil.
func (c *Config) Copy() *Config {
	if c == nil {
		return nil
	}
	d := *c
	d.Hosts = slices.Clone(c.Hosts)
	d.RequireAuth = slices.Clone(c.RequireAuth)
	d.RuntimeParams = maps.Clone(c.RuntimeParams)
	if c.TLSConfig != nil {
		d.TLSConfig = c.TLSConfig.Clone()
	}
	return &d
}

// withDefaults returns a validated copy of c with every default applied:
// hosts, ports, user, database, modes and protocol versions as documented on
// the fields, DialFunc, LookupFunc and Logger filled in, and each
// HostConfig.Password resolved (HostConfig.Password, then Config.Password,
// then the password file, which is read here). c is not modified. An invalid
// field gives a *ParseConfigError without a connection string.
func (c *Config) withDefaults() (*Config, error) {
	d := c.Copy()
	env := d.env
	if env == nil {
		env = osEnvironment()
	}
	if err := d.applyDefaults(env); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.DialFunc == nil {
		d.DialFunc = (&net.Dialer{}).DialContext
	}
	if d.LookupFunc == nil {
		d.LookupFunc = net.DefaultResolver.LookupHost
	}
	var passfile *passfileEntries
	for i := range d.Hosts {
		h := &d.Hosts[i]
		switch {
		case h.Password != "":
		case d.Password != "":
			h.Password = d.Password
		case d.Passfile != "":
			if passfile == nil {
				passfile = readPassfile(d.Passfile, env, d.Logger)
			}
			h.Password = passfile.lookup(passfileHost(*h), strconv.FormatUint(uint64(h.Port), 10), d.Database, d.User)
		}
		if strings.IndexByte(h.Password, 0) >= 0 {
			return nil, &ParseConfigError{Keyword: "password", Msg: "password contains a NUL byte"}
		}
	}
	return d, nil
}

// applyDefaults fills zero fields and validates everything. It is shared by
// ParseConfig and withDefaults.
func (c *Config) applyDefaults(env *environment) error {
	if len(c.Hosts) == 0 {
		c.Hosts = []HostConfig{{}}
	}
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if h.Host == "" && h.Hostaddr == "" {
			h.Host = defaultHost(env)
		}
		if h.Port == 0 {
			h.Port = DefaultPort
		}
		if err := checkText("host", h.Host); err != nil {
			return err
		}
		if h.Hostaddr != "" {
			if _, err := netip.ParseAddr(h.Hostaddr); err != nil {
				return &ParseConfigError{Keyword: "hostaddr", Msg: fmt.Sprintf("invalid hostaddr %q: not a numeric IP address", h.Hostaddr)}
			}
		}
		if strings.IndexByte(h.Password, 0) >= 0 {
			return &ParseConfigError{Keyword: "password", Msg: "password contains a NUL byte"}
		}
	}
	if c.User == "" {
		u, err := env.currentUser()
		if err != nil || u == "" {
			return &ParseConfigError{Keyword: "user", Msg: "no user given and the current OS user name is unknown", Err: err}
		}
		c.User = u
	}
	if c.Database == "" {
		c.Database = c.User
	}
	for _, f := range []struct{ kw, v string }{
		{"user", c.User}, {"dbname", c.Database}, {"sslrootcert", c.SSLRootCert},
		{"sslcert", c.SSLCert}, {"sslkey", c.SSLKey}, {"passfile", c.Passfile},
	} {
		if err := checkText(f.kw, f.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ kw, v string }{{"password", c.Password}, {"sslpassword", c.SSLPassword}} {
		if strings.IndexByte(f.v, 0) >= 0 {
			return &ParseConfigError{Keyword: f.kw, Msg: f.kw + " contains a NUL byte"}
		}
	}

	if c.SSLMode == "" {
		c.SSLMode = SSLModePrefer
		if c.SSLRootCert == "system" {
			c.SSLMode = SSLModeVerifyFull
		}
	}
	if c.SSLMode.rank() < 0 {
		return &ParseConfigError{Keyword: "sslmode", Msg: fmt.Sprintf("invalid sslmode %q", c.SSLMode)}
	}
	if c.SSLRootCert == "system" && c.SSLMode != SSLModeVerifyFull {
		return &ParseConfigError{Keyword: "sslmode", Msg: fmt.Sprintf("weak sslmode %q may not be used with sslrootcert=system (use \"verify-full\")", c.SSLMode)}
	}
	switch c.SSLNegotiation {
	case "":
		c.SSLNegotiation = SSLNegotiationPostgres
	case SSLNegotiationPostgres:
	case SSLNegotiationDirect:
		if c.SSLMode.rank() < SSLModeRequire.rank() {
			return &ParseConfigError{Keyword: "sslnegotiation", Msg: fmt.Sprintf("weak sslmode %q may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")", c.SSLMode)}
		}
	default:
		return &ParseConfigError{Keyword: "sslnegotiation", Msg: fmt.Sprintf("invalid sslnegotiation %q", c.SSLNegotiation)}
	}
	switch c.ChannelBinding {
	case "":
		c.ChannelBinding = ChannelBindingPrefer
	case ChannelBindingDisable, ChannelBindingPrefer:
	case ChannelBindingRequire:
		if c.SSLMode == SSLModeDisable {
			return &ParseConfigError{Keyword: "channel_binding", Msg: "channel_binding=require cannot be used with sslmode=disable"}
		}
	default:
		return &ParseConfigError{Keyword: "channel_binding", Msg: fmt.Sprintf("invalid channel_binding %q", c.ChannelBinding)}
	}
	if c.RequireAuth != nil {
		if len(c.RequireAuth) == 0 {
			return &ParseConfigError{Keyword: "require_auth", Msg: "require_auth allows no authentication method"}
		}
		for i, m := range c.RequireAuth {
			if !slices.Contains(allAuthMethods, m) {
				return &ParseConfigError{Keyword: "require_auth", Msg: fmt.Sprintf("unknown require_auth method %q", m)}
			}
			if slices.Contains(c.RequireAuth[:i], m) {
				return &ParseConfigError{Keyword: "require_auth", Msg: fmt.Sprintf("require_auth method %q is listed more than once", m)}
			}
		}
	}
	if c.ConnectTimeout < 0 {
		return &ParseConfigError{Keyword: "connect_timeout", Msg: "negative connect timeout"}
	}
	if c.TargetSessionAttrs == "" {
		c.TargetSessionAttrs = TargetSessionAttrsAny
	}
	switch c.TargetSessionAttrs {
	case TargetSessionAttrsAny, TargetSessionAttrsReadWrite, TargetSessionAttrsReadOnly,
		TargetSessionAttrsPrimary, TargetSessionAttrsStandby, TargetSessionAttrsPreferStandby:
	default:
		return &ParseConfigError{Keyword: "target_session_attrs", Msg: fmt.Sprintf("invalid target_session_attrs %q", c.TargetSessionAttrs)}
	}
	switch c.Replication {
	case ReplicationNone, ReplicationPhysical, ReplicationLogical:
	default:
		return &ParseConfigError{Keyword: "replication", Msg: fmt.Sprintf("invalid replication mode %q", c.Replication)}
	}
	if c.MinProtocolVersion == 0 {
		c.MinProtocolVersion = wire.ProtocolVersion30
	}
	if c.MaxProtocolVersion == 0 {
		c.MaxProtocolVersion = wire.ProtocolVersion32
	}
	for _, f := range []struct {
		kw string
		v  uint32
	}{{"min_protocol_version", c.MinProtocolVersion}, {"max_protocol_version", c.MaxProtocolVersion}} {
		if f.v != wire.ProtocolVersion30 && f.v != wire.ProtocolVersion32 {
			return &ParseConfigError{Keyword: f.kw, Msg: fmt.Sprintf("unsupported %s %d.%d (use 3.0 or 3.2)", f.kw, f.v>>16, f.v&0xFFFF)}
		}
	}
	if c.MinProtocolVersion > c.MaxProtocolVersion {
		return &ParseConfigError{Keyword: "min_protocol_version", Msg: "min_protocol_version is greater than max_protocol_version"}
	}
	for _, k := range slices.Sorted(maps.Keys(c.RuntimeParams)) {
		if err := checkRuntimeParam(k, c.RuntimeParams[k]); err != nil {
			return err
		}
	}
	return nil
}

// checkText rejects NUL bytes and invalid UTF-8 in a value that is sent to
// the server or used as a name.
func checkText(keyword, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return &ParseConfigError{Keyword: keyword, Msg: keyword + " contains a NUL byte"}
	}
	if !utf8.ValidString(v) {
		return &ParseConfigError{Keyword: keyword, Msg: keyword + " is not valid UTF-8"}
	}
	return nil
}

func checkRuntimeParam(k, v string) error {
	switch {
	case k == "":
		return &ParseConfigError{Msg: "runtime parameter with an empty name"}
	case strings.IndexByte(k, 0) >= 0 || !utf8.ValidString(k):
		return &ParseConfigError{Msg: "runtime parameter name contains a NUL byte or invalid UTF-8"}
	case strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v):
		return &ParseConfigError{Keyword: k, Msg: fmt.Sprintf("runtime parameter %q contains a NUL byte or invalid UTF-8", k)}
	case strings.HasPrefix(k, "_pq_."):
		return &ParseConfigError{Keyword: k, Msg: fmt.Sprintf("runtime parameter %q is a protocol option", k)}
	}
	switch k {
	case "user", "database", "replication", "client_encoding":
		return &ParseConfigError{Keyword: k, Msg: fmt.Sprintf("runtime parameter %q is reserved", k)}
	}
	return nil
}

// environment is what ParseConfig and withDefaults read from the process and
// the machine.
type environment struct {
	lookupEnv   func(key string) (string, bool)
	currentUser func() (string, error)
	homeDir     func() (string, error)
	isDir       func(path string) bool
	fileMode    func(path string) (os.FileMode, error)
	readFile    func(path string) ([]byte, error)
}

func osEnvironment() *environment {
	return &environment{
		lookupEnv: os.LookupEnv,
		currentUser: func() (string, error) {
			u, err := user.Current()
			if err != nil {
				return "", err
			}
			return u.Username, nil
		},
		homeDir: func() (string, error) {
			if h, err := os.UserHomeDir(); err == nil && h != "" {
				return h, nil
			}
			u, err := user.Current()
			if err != nil {
				return "", err
			}
			return u.HomeDir, nil
		},
		isDir: func(path string) bool {
			fi, err := os.Stat(path)
			return err == nil && fi.IsDir()
		},
		fileMode: func(path string) (os.FileMode, error) {
			fi, err := os.Stat(path)
			if err != nil {
				return 0, err
			}
			return fi.Mode(), nil
		},
		readFile: os.ReadFile,
	}
}

// defaultSocketDirs are the directories tried for the default host, in order.
// Read-only.
var defaultSocketDirs = []string{"/var/run/postgresql", "/tmp"}

func defaultHost(env *environment) string {
	for _, dir := range defaultSocketDirs {
		if env.isDir(dir) {
			return dir
		}
	}
	return "localhost"
}

// ParseConfig parses a connection string in libpq's URL form
// (postgres://user:password@host1:port1,host2:port2/dbname?param=value, also
// postgresql://) or keyword/value form (host=h port=5432 password='a b'), and
// fills in every parameter it leaves out from the PG* environment variables
// libpq reads, then from libpq's defaults. The connection string beats the
// environment, which beats the defaults, parameter by parameter; an
// environment variable set to the empty string counts as unset.
//
// Accepted parameters: host, hostaddr, port, user, password, dbname, passfile,
// sslmode, sslrootcert, sslcert, sslkey, sslpassword, sslnegotiation,
// channel_binding, require_auth, connect_timeout, application_name,
// fallback_application_name, options, target_session_attrs, replication,
// min_protocol_version, max_protocol_version, plus gssencmode (disable or
// prefer only: there is no GSSAPI support), client_encoding (UTF8 only) and,
// in URLs, ssl=true (sslmode=require). Any other parameter is an error naming
// it, including libpq parameters this package does not implement (service,
// sslcrl, keepalives, ...); so are the environment variables of unimplemented
// security settings (PGSERVICE, PGSSLCRL, PGSSLCRLDIR, PGREQUIREPEER,
// PGSSLCERTMODE, PGSSLMINPROTOCOLVERSION, PGSSLMAXPROTOCOLVERSION). Arbitrary
// server settings cannot be passed as parameters: set Config.RuntimeParams, or
// use options='-c name=value'.
//
// host, hostaddr and port take comma-separated lists as in libpq: one entry
// per host, and either one port for all hosts or one port per host. A host
// starting with "/" or "@" is a Unix socket directory. Without host and
// hostaddr (and PGHOST, PGHOSTADDR) the host is /var/run/postgresql or /tmp,
// whichever exists first, else localhost. The user defaults to PGUSER, then
// the OS user; dbname to the user; passfile to PGPASSFILE, then ~/.pgpass. The
// password file is read when connecting, not here.
//
// connect_timeout is in seconds; zero or negative means none, and 1 means 2
// as in libpq. max_protocol_version and min_protocol_version take "3.0",
// "3.2" or "latest" (3.2).
//
// Every string is checked: NUL bytes are rejected everywhere, invalid UTF-8
// everywhere except in password and sslpassword. Errors are
// *ParseConfigError, whose message never contains the password.
func ParseConfig(connString string) (*Config, error) {
	cfg, _, err := parseConfig(connString, osEnvironment(), nil)
	return cfg, err
}

// ParseConfigWithExtra is ParseConfig for a connection string that also
// carries keywords another layer owns (package pool's pool_* keywords): a
// keyword for which extra reports true is not refused as unknown but
// returned, with its value, in the map, and takes no part in the
// connection's configuration. The string is tokenized once, by the same
// rules (quoting, escapes, URL decoding) as every other keyword.
func ParseConfigWithExtra(connString string, extra func(keyword string) bool) (*Config, map[string]string, error) {
	return parseConfig(connString, osEnvironment(), extra)
}

func parseConfig(connString string, env *environment, extra func(string) bool) (*Config, map[string]string, error) {
	cfg, extras, err := buildConfig(connString, env, extra)
	if err != nil {
		var pe *ParseConfigError
		if errors.As(err, &pe) {
			pe.ConnString = redactConnString(connString)
			pe.hasConnString = true
			return nil, nil, pe
		}
		return nil, nil, &ParseConfigError{ConnString: redactConnString(connString), hasConnString: true, Msg: "invalid connection string", Err: err}
	}
	return cfg, extras, nil
}

// setting is one parameter value and where it came from.
type setting struct {
	val string
	env string // the environment variable it came from; "" for the connection string
}

// connParams maps every accepted parameter to the environment variable that
// supplies it (empty if none). Read-only.
var connParams = map[string]string{
	"host":                      "PGHOST",
	"hostaddr":                  "PGHOSTADDR",
	"port":                      "PGPORT",
	"user":                      "PGUSER",
	"password":                  "PGPASSWORD",
	"dbname":                    "PGDATABASE",
	"passfile":                  "PGPASSFILE",
	"sslmode":                   "PGSSLMODE",
	"sslrootcert":               "PGSSLROOTCERT",
	"sslcert":                   "PGSSLCERT",
	"sslkey":                    "PGSSLKEY",
	"sslpassword":               "",
	"sslnegotiation":            "PGSSLNEGOTIATION",
	"channel_binding":           "PGCHANNELBINDING",
	"require_auth":              "PGREQUIREAUTH",
	"connect_timeout":           "PGCONNECT_TIMEOUT",
	"application_name":          "PGAPPNAME",
	"fallback_application_name": "",
	"options":                   "PGOPTIONS",
	"target_session_attrs":      "PGTARGETSESSIONATTRS",
	"replication":               "",
	"min_protocol_version":      "PGMINPROTOCOLVERSION",
	"max_protocol_version":      "PGMAXPROTOCOLVERSION",
	"gssencmode":                "PGGSSENCMODE",
	"client_encoding":           "",
}

// unsupportedParams are libpq parameters this package does not implement.
// Read-only.
var unsupportedParams = []string{
	"authtype", "gssdelegation", "gsslib", "keepalives", "keepalives_count",
	"keepalives_idle", "keepalives_interval", "krbsrvname", "load_balance_hosts",
	"oauth_client_id", "oauth_client_secret", "oauth_issuer", "oauth_scope",
	"requirepeer", "requiressl", "scram_client_key", "scram_server_key",
	"service", "servicefile", "ssl_max_protocol_version", "ssl_min_protocol_version",
	"sslcertmode", "sslcompression", "sslcrl", "sslcrldir", "sslkeylogfile",
	"sslsni", "tcp_user_timeout", "tty",
}

// unsupportedEnv are environment variables of security settings this package
// does not implement; ignoring them would silently weaken the connection.
// Read-only.
var unsupportedEnv = []string{
	"PGREQUIREPEER", "PGSERVICE", "PGSSLCERTMODE", "PGSSLCRL", "PGSSLCRLDIR",
	"PGSSLMAXPROTOCOLVERSION", "PGSSLMINPROTOCOLVERSION",
}

func buildConfig(connString string, env *environment, extra func(string) bool) (*Config, map[string]string, error) {
	var raw map[string]string
	var err error
	if isURL(connString) {
		raw, err = parseURL(connString)
	} else {
		raw, err = parseKeywordValue(connString)
	}
	if err != nil {
		return nil, nil, err
	}

	var extras map[string]string
	settings := make(map[string]setting, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if extra != nil && extra(k) {
			if extras == nil {
				extras = make(map[string]string)
			}
			extras[k] = raw[k]
			continue
		}
		if _, ok := connParams[k]; !ok {
			if slices.Contains(unsupportedParams, k) {
				return nil, nil, &ParseConfigError{Keyword: k, Msg: fmt.Sprintf("unsupported connection parameter %q", k)}
			}
			return nil, nil, &ParseConfigError{Keyword: k, Msg: fmt.Sprintf("unknown connection parameter %q", k)}
		}
		settings[k] = setting{val: raw[k]}
	}
	for _, name := range unsupportedEnv {
		if v, ok := env.lookupEnv(name); ok && v != "" {
			return nil, nil, &ParseConfigError{Msg: fmt.Sprintf("environment variable %s is set but its setting is not supported", name)}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(connParams)) {
		name := connParams[k]
		if name == "" {
			continue
		}
		if _, ok := settings[k]; ok {
			continue
		}
		if v, ok := env.lookupEnv(name); ok && v != "" {
			settings[k] = setting{val: v, env: name}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		s := settings[k]
		if strings.IndexByte(s.val, 0) >= 0 {
			return nil, nil, paramError(k, s, "contains a NUL byte")
		}
		if k != "password" && k != "sslpassword" && !utf8.ValidString(s.val) {
			return nil, nil, paramError(k, s, "is not valid UTF-8")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extras)) {
		if v := extras[k]; strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return nil, nil, paramError(k, setting{val: v}, "contains a NUL byte or invalid UTF-8")
		}
	}
	cfg, err := configFromSettings(settings, env)
	if err != nil {
		return nil, nil, err
	}
	return cfg, extras, nil
}

// paramError reports a problem with one parameter without echoing its value.
func paramError(k string, s setting, problem string) *ParseConfigError {
	msg := k + " " + problem
	if s.env != "" {
		msg += " (from " + s.env + ")"
	}
	return &ParseConfigError{Keyword: k, Msg: msg}
}

// valueError reports an invalid value; the value is quoted in the message, so
// never call it for password or sslpassword.
func valueError(k string, s setting, format string, args ...any) *ParseConfigError {
	msg := fmt.Sprintf(format, args...)
	if s.env != "" {
		msg += " (from " + s.env + ")"
	}
	return &ParseConfigError{Keyword: k, Msg: msg}
}

func configFromSettings(settings map[string]setting, env *environment) (*Config, error) {
	cfg := &Config{env: env}
	get := func(k string) (string, bool) {
		s, ok := settings[k]
		return s.val, ok
	}

	hosts, err := hostsFromSettings(settings)
	if err != nil {
		return nil, err
	}
	cfg.Hosts = hosts

	cfg.User, _ = get("user")
	cfg.Password, _ = get("password")
	cfg.Database, _ = get("dbname")
	cfg.SSLRootCert, _ = get("sslrootcert")
	cfg.SSLCert, _ = get("sslcert")
	cfg.SSLKey, _ = get("sslkey")
	cfg.SSLPassword, _ = get("sslpassword")

	if s, ok := settings["sslmode"]; ok {
		cfg.SSLMode = SSLMode(s.val)
		if cfg.SSLMode.rank() < 0 {
			return nil, valueError("sslmode", s, "invalid sslmode %q", s.val)
		}
	}
	if s, ok := settings["sslnegotiation"]; ok {
		cfg.SSLNegotiation = SSLNegotiation(s.val)
		if cfg.SSLNegotiation != SSLNegotiationPostgres && cfg.SSLNegotiation != SSLNegotiationDirect {
			return nil, valueError("sslnegotiation", s, "invalid sslnegotiation %q", s.val)
		}
	}
	if s, ok := settings["channel_binding"]; ok {
		cfg.ChannelBinding = ChannelBindingMode(s.val)
		switch cfg.ChannelBinding {
		case ChannelBindingDisable, ChannelBindingPrefer, ChannelBindingRequire:
		default:
			return nil, valueError("channel_binding", s, "invalid channel_binding %q", s.val)
		}
	}
	if s, ok := settings["require_auth"]; ok && s.val != "" {
		methods, err := parseRequireAuth(s)
		if err != nil {
			return nil, err
		}
		cfg.RequireAuth = methods
	}
	if s, ok := settings["connect_timeout"]; ok && s.val != "" {
		secs, err := strconv.ParseInt(strings.Trim(s.val, " \t\n\r\f\v"), 10, 32)
		if err != nil {
			return nil, valueError("connect_timeout", s, "invalid connect_timeout %q: want an integer number of seconds", s.val)
		}
		if secs == 1 {
			secs = 2 // libpq's minimum
		}
		if secs > 0 {
			cfg.ConnectTimeout = time.Duration(secs) * time.Second
		}
	}

	params := map[string]string{}
	if v, _ := get("application_name"); v != "" {
		params["application_name"] = v
	} else if v, _ := get("fallback_application_name"); v != "" {
		params["application_name"] = v
	}
	if v, _ := get("options"); v != "" {
		params["options"] = v
	}
	if len(params) > 0 {
		cfg.RuntimeParams = params
	}

	if s, ok := settings["target_session_attrs"]; ok {
		cfg.TargetSessionAttrs = TargetSessionAttrs(s.val)
		switch cfg.TargetSessionAttrs {
		case TargetSessionAttrsAny, TargetSessionAttrsReadWrite, TargetSessionAttrsReadOnly,
			TargetSessionAttrsPrimary, TargetSessionAttrsStandby, TargetSessionAttrsPreferStandby:
		default:
			return nil, valueError("target_session_attrs", s, "invalid target_session_attrs %q", s.val)
		}
	}
	if s, ok := settings["replication"]; ok {
		switch strings.ToLower(s.val) {
		case "", "false", "off", "no", "0":
			cfg.Replication = ReplicationNone
		case "true", "on", "yes", "1":
			cfg.Replication = ReplicationPhysical
		case "database":
			cfg.Replication = ReplicationLogical
		default:
			return nil, valueError("replication", s, "invalid replication %q: want true, false or database", s.val)
		}
	}
	if v, ok := get("passfile"); ok {
		cfg.Passfile = v
	} else if home, err := env.homeDir(); err == nil && home != "" {
		cfg.Passfile = filepath.Join(home, ".pgpass")
	}
	for _, k := range []string{"min_protocol_version", "max_protocol_version"} {
		s, ok := settings[k]
		if !ok || s.val == "" {
			continue
		}
		var v uint32
		switch s.val {
		case "3.0":
			v = wire.ProtocolVersion30
		case "3.2", "latest":
			v = wire.ProtocolVersion32
		default:
			return nil, valueError(k, s, "invalid %s %q: want 3.0, 3.2 or latest", k, s.val)
		}
		if k == "min_protocol_version" {
			cfg.MinProtocolVersion = v
		} else {
			cfg.MaxProtocolVersion = v
		}
	}
	if s, ok := settings["gssencmode"]; ok {
		switch s.val {
		case "disable", "prefer":
		case "require":
			return nil, valueError("gssencmode", s, "gssencmode=require is not supported: no GSSAPI support")
		default:
			return nil, valueError("gssencmode", s, "invalid gssencmode %q", s.val)
		}
	}
	if s, ok := settings["client_encoding"]; ok {
		switch strings.ToUpper(s.val) {
		case "UTF8", "UTF-8", "UNICODE":
		default:
			return nil, valueError("client_encoding", s, "unsupported client_encoding %q: the connection always uses UTF8", s.val)
		}
	}

	if err := cfg.applyDefaults(env); err != nil {
		return nil, err
	}
	return cfg, nil
}

// hostsFromSettings pairs the host, hostaddr and port lists as libpq does.
func hostsFromSettings(settings map[string]setting) ([]HostConfig, error) {
	hostS, hasHost := settings["host"]
	addrS, hasAddr := settings["hostaddr"]
	portS, hasPort := settings["port"]
	var hosts, addrs, ports []string
	if hasHost {
		hosts = strings.Split(hostS.val, ",")
	}
	if hasAddr {
		addrs = strings.Split(addrS.val, ",")
	}
	if hasPort {
		ports = strings.Split(portS.val, ",")
	}
	n := max(len(hosts), 1)
	if hasAddr {
		if hasHost && len(hosts) != len(addrs) {
			return nil, &ParseConfigError{Keyword: "hostaddr", Msg: fmt.Sprintf("could not match %d host names to %d hostaddr values", len(hosts), len(addrs))}
		}
		n = len(addrs)
	}
	if hasPort && len(ports) != 1 && len(ports) != n {
		return nil, &ParseConfigError{Keyword: "port", Msg: fmt.Sprintf("could not match %d port numbers to %d hosts", len(ports), n)}
	}
	out := make([]HostConfig, n)
	for i := range out {
		if hasHost {
			out[i].Host = hosts[i]
		}
		if hasAddr {
			out[i].Hostaddr = addrs[i]
		}
		if hasPort {
			p := ports[0]
			if len(ports) > 1 {
				p = ports[i]
			}
			port, err := parsePort(p)
			if err != nil {
				return nil, valueError("port", portS, "invalid port %q: want a number from 1 to 65535", p)
			}
			out[i].Port = port
		}
	}
	return out, nil
}

// parsePort parses a decimal port; "" means the default (0).
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, strconv.ErrRange
	}
	return uint16(n), nil
}

// parseRequireAuth resolves libpq's require_auth list into the accepted set.
func parseRequireAuth(s setting) (AuthMethods, error) {
	var listed []AuthMethod
	negated := false
	for i, item := range strings.Split(s.val, ",") {
		neg := strings.HasPrefix(item, "!")
		name := AuthMethod(strings.TrimPrefix(item, "!"))
		if i == 0 {
			negated = neg
		} else if neg != negated {
			return nil, valueError("require_auth", s, "require_auth %q mixes negated and plain methods", s.val)
		}
		if !slices.Contains(allAuthMethods, name) {
			return nil, valueError("require_auth", s, "unknown require_auth method %q", string(name))
		}
		if slices.Contains(listed, name) {
			return nil, valueError("require_auth", s, "require_auth method %q is listed more than once", string(name))
		}
		listed = append(listed, name)
	}
	var allowed AuthMethods
	for _, m := range allAuthMethods {
		if slices.Contains(listed, m) != negated {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		return nil, valueError("require_auth", s, "require_auth %q allows no authentication method", s.val)
	}
	return allowed, nil
}

// isURL reports whether s uses the URL form.
func isURL(s string) bool {
	return strings.HasPrefix(s, "postgresql://") || strings.HasPrefix(s, "postgres://")
}

// isSecretParam reports whether a parameter holds a secret whose value, or
// fragments of it, must never appear in an error.
func isSecretParam(k string) bool { return k == "password" || k == "sslpassword" }

// isKnownParam reports whether k is a parameter libpq knows, supported or not.
func isKnownParam(k string) bool {
	_, ok := connParams[k]
	return ok || slices.Contains(unsupportedParams, k)
}

// errAfterSecret is returned when the word after a password does not parse:
// most likely the rest of a password with an unquoted space or '&', so the
// word is not echoed.
func errAfterSecret(prev string) *ParseConfigError {
	return &ParseConfigError{Keyword: prev, Msg: "cannot parse the text after " + prev + " (quote or percent-encode a " + prev + " that contains spaces or '&')"}
}

// isSpace is C's isspace in the "C" locale, which libpq uses.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// parseKeywordValue parses libpq's keyword/value form: keyword = value pairs
// separated by whitespace, spaces allowed around "=", values either bare
// (ending at whitespace) or in single quotes, a backslash escaping the next
// character in both. A later duplicate overrides an earlier one.
func parseKeywordValue(s string) (map[string]string, error) {
	out := map[string]string{}
	prev := ""
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
			i++
		}
		key := s[start:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			if isSecretParam(prev) {
				return nil, errAfterSecret(prev)
			}
			return nil, &ParseConfigError{Keyword: key, Msg: fmt.Sprintf("missing \"=\" after %q", key)}
		}
		if key == "" {
			return nil, &ParseConfigError{Msg: "missing parameter name before \"=\""}
		}
		if isSecretParam(prev) && !isKnownParam(key) {
			return nil, errAfterSecret(prev)
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var b strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) && !closed {
				c := s[i]
				i++
				switch c {
				case '\\':
					if i < len(s) {
						b.WriteByte(s[i])
						i++
					}
				case '\'':
					closed = true
				default:
					b.WriteByte(c)
				}
			}
			if !closed {
				return nil, &ParseConfigError{Keyword: key, Msg: "unterminated quoted string in the value of " + key}
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' {
					i++
					if i < len(s) {
						b.WriteByte(s[i])
						i++
					}
					continue
				}
				b.WriteByte(s[i])
				i++
			}
		}
		out[key] = b.String()
		prev = key
	}
}

// parseURL parses libpq's URL form:
//
//	postgres[ql]://[user[:password]@][host][:port][,...][/dbname][?param=value&...]
//
// Every part except the port is percent-decoded; %00 is an error. A host in
// square brackets is an IPv6 address. Query parameters are ordinary
// connection parameters and override the parts before them; ssl=true means
// sslmode=require. Errors about the part before the host never quote it: a
// password with an unencoded '/', '?' or '@' ends up there.
func parseURL(s string) (map[string]string, error) {
	rest := s[strings.Index(s, "://")+3:]
	out := map[string]string{}

	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	rest = rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		u, p, hasPassword := strings.Cut(userinfo, ":")
		user, err := percentDecode(u)
		if err != nil {
			return nil, &ParseConfigError{Keyword: "user", Msg: "invalid percent-encoding in the user name of the URL", Err: err}
		}
		if user != "" {
			out["user"] = user
		}
		if hasPassword {
			password, err := percentDecode(p)
			if err != nil {
				return nil, &ParseConfigError{Keyword: "password", Msg: "invalid percent-encoding in the password of the URL", Err: err}
			}
			out["password"] = password
		}
	}
	if authority != "" {
		hosts, ports, err := parseURLHosts(authority)
		if err != nil {
			return nil, err
		}
		out["host"] = strings.Join(hosts, ",")
		if slices.ContainsFunc(ports, func(p string) bool { return p != "" }) {
			out["port"] = strings.Join(ports, ",")
		}
	}

	if path, ok := strings.CutPrefix(rest, "/"); ok {
		q := strings.IndexByte(path, '?')
		if q < 0 {
			q = len(path)
		}
		rest = path[q:]
		if path = path[:q]; path != "" {
			db, err := percentDecode(path)
			if err != nil {
				return nil, &ParseConfigError{Keyword: "dbname", Msg: "invalid percent-encoding in the database name of the URL", Err: err}
			}
			out["dbname"] = db
		}
	}
	if query, ok := strings.CutPrefix(rest, "?"); ok {
		prev := ""
		params := strings.Split(query, "&")
		for i, param := range params {
			if param == "" && i == len(params)-1 {
				break // a trailing '&'
			}
			k, v, ok := strings.Cut(param, "=")
			if !ok {
				if isSecretParam(prev) {
					return nil, errAfterSecret(prev)
				}
				return nil, &ParseConfigError{Msg: fmt.Sprintf("missing \"=\" in URL query parameter %q", k)}
			}
			key, err := percentDecode(k)
			if err != nil {
				return nil, &ParseConfigError{Msg: "invalid percent-encoding in a URL query parameter name", Err: err}
			}
			if key == "" {
				return nil, &ParseConfigError{Msg: "empty URL query parameter name"}
			}
			if isSecretParam(prev) && key != "ssl" && !isKnownParam(key) {
				return nil, errAfterSecret(prev)
			}
			val, err := percentDecode(v)
			if err != nil {
				return nil, &ParseConfigError{Keyword: key, Msg: "invalid percent-encoding in the value of " + key, Err: err}
			}
			if key == "ssl" {
				if val != "true" {
					return nil, &ParseConfigError{Keyword: key, Msg: fmt.Sprintf("invalid ssl %q: only ssl=true (sslmode=require) is supported", val)}
				}
				key, val = "sslmode", string(SSLModeRequire)
			}
			out[key] = val
			prev = key
		}
	}
	return out, nil
}

// parseURLHosts splits the host part of a URL into hosts and ports (each port
// possibly empty).
func parseURLHosts(authority string) (hosts, ports []string, err error) {
	for i, item := range strings.Split(authority, ",") {
		var host, port string
		if strings.HasPrefix(item, "[") {
			closing := strings.IndexByte(item, ']')
			if closing < 0 {
				return nil, nil, &ParseConfigError{Keyword: "host", Msg: fmt.Sprintf("missing \"]\" in IPv6 host %d of the URL", i+1)}
			}
			host = item[1:closing]
			after := item[closing+1:]
			if after != "" {
				p, ok := strings.CutPrefix(after, ":")
				if !ok {
					return nil, nil, &ParseConfigError{Keyword: "host", Msg: fmt.Sprintf("unexpected text after \"]\" in host %d of the URL", i+1)}
				}
				port = p
			}
			if host == "" {
				return nil, nil, &ParseConfigError{Keyword: "host", Msg: fmt.Sprintf("empty IPv6 address in host %d of the URL", i+1)}
			}
		} else {
			host, port, _ = strings.Cut(item, ":")
			decoded, err := percentDecode(host)
			if err != nil {
				return nil, nil, &ParseConfigError{Keyword: "host", Msg: fmt.Sprintf("invalid percent-encoding in host %d of the URL", i+1), Err: err}
			}
			host = decoded
		}
		if _, err := parsePort(port); err != nil {
			return nil, nil, &ParseConfigError{Keyword: "port", Msg: fmt.Sprintf("invalid port for host %d of the URL: want a number from 1 to 65535", i+1)}
		}
		hosts = append(hosts, host)
		ports = append(ports, port)
	}
	return hosts, ports, nil
}

// Percent-decoding errors.
var (
	errBadPercent = errors.New("'%' not followed by two hexadecimal digits")
	errPercentNUL = errors.New("%00 is not allowed")
)

// percentDecode decodes %XX escapes; '+' stays '+' as in libpq.
func percentDecode(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errBadPercent
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", errBadPercent
		}
		c := hi<<4 | lo
		if c == 0 {
			return "", errPercentNUL
		}
		b = append(b, c)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
