package conn

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/internal/scram"
	"github.com/pgstrict/pgstrict/wire"
)

// Conn is one PostgreSQL connection. It is not safe for concurrent use by
// multiple goroutines, with one exception: CancelRequest may be called from
// any goroutine.
//
// Every byte a Conn receives passes through a wire.Frontend: a byte that is
// not legal where it arrives desynchronizes the connection, which is closed
// at once; from then on every call returns an error that wraps ErrClosed and
// the *wire.ProtocolError that caused it.
type Conn struct {
	cfg  *Config // defaulted copy; never the caller's
	host HostConfig
	nc   net.Conn
	fe   *wire.Frontend
	tr   *tracer

	pid       uint32
	secretKey []byte
	params    map[string]string
	tlsState  *tls.ConnectionState

	// Operation state: one operation (a result reader, a pipeline, a
	// notification wait) at a time.
	busy    bool
	watch   ctxWatch
	err     error // non-nil once the connection is unusable: a *closedError
	closed  bool
	closeMu sync.Mutex // guards closed against a concurrent CancelRequest reading nc

	notifications []Notification // bounded queue when no OnNotification handler is set
	dropped       int            // notifications dropped because the queue was full

	stmts map[string]*StatementDescription // describe cache of prepared statements

	// pushback is a message recv returns before reading again: the first
	// reply of an Execute read while looking for its RowDescription.
	pushback pgproto3.BackendMessage

	// idlePeek finds input that arrived while idle (nil where the socket
	// cannot be peeked at); peekTried says it was looked for.
	idlePeek  *socketPeeker
	peekTried bool

	// sendWake is armed for the duration of each request write on a socket
	// (flush); its function does nothing. Nil where the hint is off.
	sendWake *time.Timer

	// drainHook, set by an open Pipeline, waits until everything queued
	// has been written before a cancellation drain; it returns the write
	// error that makes the stream unrecoverable.
	drainHook func() error

	mrr MultiResultReader
	rr  ResultReader

	// Kept from one operation to the next so that steady-state requests
	// allocate nothing: the last command tag (repeated tags share its
	// string), and a closed Pipeline's request queue and largest written
	// output buffer.
	lastTag   string
	pipeReqs  []pipeReq
	pipeSpare []byte
}

// Connect parses connString (a URL or keyword/value DSN) and connects.
func Connect(ctx context.Context, connString string) (*Conn, error) {
	cfg, err := ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return ConnectConfig(ctx, cfg)
}

// ConnectConfig connects with cfg, trying each host in order until one
// accepts the connection and satisfies TargetSessionAttrs. cfg is copied; the
// caller may reuse it. A failure is a *ConnectError with one entry per
// attempt.
func ConnectConfig(ctx context.Context, cfg *Config) (*Conn, error) {
	if cfg == nil {
		return nil, errors.New("conn: nil Config")
	}
	d, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ce := &ConnectError{}
	passes := []TargetSessionAttrs{d.TargetSessionAttrs}
	if d.TargetSessionAttrs == TargetSessionAttrsPreferStandby {
		passes = []TargetSessionAttrs{TargetSessionAttrsStandby, TargetSessionAttrsAny}
	}
	for _, want := range passes {
		for _, h := range d.Hosts {
			addrs, err := resolve(ctx, d, h)
			if err != nil {
				ce.Attempts = append(ce.Attempts, &HostError{Host: h.Host, Port: h.Port, Err: err})
				continue
			}
			for _, a := range addrs {
				c, err := connectOne(ctx, d, h, a)
				if err == nil {
					err = c.checkTarget(ctx, want)
					if err == nil {
						return c, nil
					}
					c.Close(ctx)
				}
				ce.Attempts = append(ce.Attempts, &HostError{Host: h.Host, Port: h.Port, Err: err})
				if isCtxErr(err) && ctx.Err() != nil {
					return nil, ce
				}
			}
		}
	}
	return nil, ce
}

type dialTarget struct{ network, addr string }

// resolve returns the addresses to dial for h.
func resolve(ctx context.Context, cfg *Config, h HostConfig) ([]dialTarget, error) {
	network, addr := h.NetworkAddress()
	if network == "unix" || h.Hostaddr != "" {
		return []dialTarget{{network, addr}}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) != nil {
		return []dialTarget{{network, addr}}, nil
	}
	ips, err := cfg.LookupFunc(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", host, err)
	}
	out := make([]dialTarget, 0, len(ips))
	for _, ip := range ips {
		out = append(out, dialTarget{"tcp", net.JoinHostPort(ip, port)})
	}
	return out, nil
}

// connectOne runs one attempt: dial, encryption negotiation, startup and
// authentication, up to the first ReadyForQuery.
func connectOne(ctx context.Context, cfg *Config, h HostConfig, t dialTarget) (*Conn, error) {
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	mode := cfg.SSLMode
	if t.network == "unix" {
		// As libpq: no encryption is negotiated over Unix-domain sockets.
		mode = SSLModeDisable
	}
	c, err := attempt(ctx, cfg, h, t, mode != SSLModeDisable && mode != SSLModeAllow)
	if err != nil && mode == SSLModeAllow {
		var pe *PgError
		if errors.As(err, &pe) {
			// allow: the server refused plaintext; try again with TLS.
			return attempt(ctx, cfg, h, t, true)
		}
	}
	return c, err
}

func attempt(ctx context.Context, cfg *Config, h HostConfig, t dialTarget, useTLS bool) (*Conn, error) {
	nc, err := cfg.DialFunc(ctx, t.network, t.addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, host: h, nc: nc, params: make(map[string]string)}
	c.sendWake = newSendWake(cfg, nc)
	if cfg.Tracer != nil {
		c.tr = newTracer(cfg.Tracer, cfg.TraceOptions)
	}
	c.watch.start(ctx, nc)
	err = c.startup(ctx, useTLS)
	if werr := c.watch.stop(); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		nc.Close()
		if c.nc != nc {
			c.nc.Close()
		}
		if ctx.Err() != nil && (isTimeout(err) || errors.Is(err, net.ErrClosed)) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, err
	}
	return c, nil
}

// startup negotiates encryption, sends the StartupMessage and authenticates.
func (c *Conn) startup(ctx context.Context, useTLS bool) error {
	cfg := c.cfg
	if useTLS {
		if err := c.startTLS(); err != nil {
			return err
		}
	}
	c.fe = wire.NewFrontend(c.nc, wire.FrontendOptions{
		Reader: wire.ReaderOptions{Limits: cfg.Limits},
		Tracker: wire.TrackerOptions{ProtocolVersion: cfg.MaxProtocolVersion, SkipValueValidation: cfg.SkipValueValidation,
			Replication: cfg.Replication != ReplicationNone},
	})
	params := map[string]string{"user": cfg.User, "database": cfg.Database, "client_encoding": "UTF8"}
	for k, v := range cfg.RuntimeParams {
		params[k] = v
	}
	if v := cfg.Replication.startupValue(); v != "" {
		params["replication"] = v
	}
	if err := c.fe.SendStartup(params); err != nil {
		return err
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.StartupMessage{ProtocolVersion: cfg.MaxProtocolVersion, Parameters: params})
	}
	if err := c.flush(); err != nil {
		return err
	}
	return c.authenticate(ctx)
}

// startTLS negotiates TLS: an SSLRequest and the server's one-byte answer,
// or a direct TLS handshake with ALPN "postgresql".
func (c *Conn) startTLS() error {
	cfg := c.cfg
	tc, err := c.tlsConfig()
	if err != nil {
		return err
	}
	if cfg.SSLNegotiation == SSLNegotiationDirect {
		tc.NextProtos = []string{"postgresql"}
	} else {
		if _, err := c.nc.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			return err
		}
		// Read exactly one byte: anything the server (or a man in the
		// middle) sent after it stays in the socket and reaches the TLS
		// handshake, which rejects it, instead of being taken for
		// encrypted data (CVE-2021-23222).
		var b [1]byte
		if _, err := io.ReadFull(c.nc, b[:]); err != nil {
			return fmt.Errorf("reading the answer to SSLRequest: %w", err)
		}
		switch b[0] {
		case 'S':
		case 'N':
			if cfg.SSLMode == SSLModePrefer {
				return nil
			}
			return &AuthError{Reason: "the server does not support TLS, and sslmode=" + string(cfg.SSLMode) + " requires it"}
		default:
			// 'E' or anything else: never read or show the text that may
			// follow, it is unauthenticated (CVE-2024-10977).
			return fmt.Errorf("the server answered SSLRequest with %q", b[0])
		}
	}
	tconn := tls.Client(c.nc, tc)
	if err := tconn.Handshake(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	st := tconn.ConnectionState()
	if cfg.SSLNegotiation == SSLNegotiationDirect && st.NegotiatedProtocol != "postgresql" {
		tconn.Close()
		return &AuthError{Reason: "direct TLS: the server did not select ALPN protocol \"postgresql\""}
	}
	c.nc = tconn
	c.watch.retarget(tconn)
	c.tlsState = &st
	return nil
}

// authenticate answers the server's authentication requests and reads up to
// the first ReadyForQuery.
func (c *Conn) authenticate(ctx context.Context) error {
	cfg := c.cfg
	var sc *scram.Client
	method := AuthMethodNone
	plus := false
	for {
		msg, ev, err := c.fe.Receive()
		if err != nil {
			return c.startupErr(err)
		}
		c.traceRecv(msg)
		if ev.Fatal {
			return newPgError(msg.(*pgproto3.ErrorResponse))
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
			if err := c.checkAuthPolicy(method, plus); err != nil {
				return err
			}
		case *pgproto3.AuthenticationCleartextPassword:
			method = AuthMethodPassword
			if err := c.allow(method); err != nil {
				return err
			}
			if err := c.sendPassword(c.host.Password); err != nil {
				return err
			}
		case *pgproto3.AuthenticationMD5Password:
			method = AuthMethodMD5
			if err := c.allow(method); err != nil {
				return err
			}
			if c.host.Password == "" {
				return &AuthError{Method: string(method), Reason: "the server asked for a password and none was given"}
			}
			sum := md5.Sum([]byte(c.host.Password + cfg.User))
			inner := hex.EncodeToString(sum[:])
			sum = md5.Sum(append([]byte(inner), m.Salt[:]...))
			if err := c.sendPassword("md5" + hex.EncodeToString(sum[:])); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASL:
			method = AuthMethodSCRAMSHA256
			if err := c.allow(method); err != nil {
				return err
			}
			sc, plus, err = c.startSCRAM(m.AuthMechanisms)
			if err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLContinue:
			resp, err := sc.ServerFirst(m.Data)
			if err != nil {
				return &AuthError{Method: string(method), Reason: err.Error()}
			}
			if err := c.fe.SendSASLResponse(resp); err != nil {
				return err
			}
			if c.tr != nil {
				c.traceSend(&pgproto3.SASLResponse{Data: resp})
			}
			if err := c.flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLFinal:
			if err := sc.ServerFinal(m.Data); err != nil {
				return &AuthError{Method: string(method), Reason: "the server's SCRAM signature does not verify: " + err.Error()}
			}
			if err := c.fe.SASLVerified(); err != nil {
				return err
			}
		case *pgproto3.NegotiateProtocolVersion:
			// The Tracker checked it against the requested version; the
			// floor is the configuration's.
			if m.NewestMinorProtocol < cfg.MinProtocolVersion {
				return c.fe.Desync(wire.ReasonProtocolVersion, 'v', "the server offers a protocol version below min_protocol_version")
			}
		case *pgproto3.AuthenticationGSS:
			return &AuthError{Method: "gss", Reason: "GSSAPI authentication is not supported"}
		case *pgproto3.BackendKeyData:
			c.pid = m.ProcessID
			c.secretKey = slices.Clone(m.SecretKey)
		case *pgproto3.ParameterStatus:
			c.params[m.Name] = m.Value
		case *pgproto3.NoticeResponse:
			c.handleAsync(msg)
		case *pgproto3.ReadyForQuery:
			return nil
		}
	}
}

func (c *Conn) startupErr(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the server closed the connection during startup: %w", io.ErrUnexpectedEOF)
	}
	return err
}

func (c *Conn) allow(m AuthMethod) error {
	if !c.cfg.RequireAuth.Allows(m) {
		return &AuthError{Method: string(m), Reason: "the server asked for a method that require_auth does not allow"}
	}
	if c.cfg.ChannelBinding == ChannelBindingRequire && (m == AuthMethodPassword || m == AuthMethodMD5) {
		// Refuse before the password is sent, not at AuthenticationOk.
		return &AuthError{Method: string(m), Reason: "channel_binding=require, but the server asked for a method without channel binding"}
	}
	return nil
}

func (c *Conn) checkAuthPolicy(method AuthMethod, plus bool) error {
	if err := c.allow(method); err != nil {
		return err
	}
	if c.cfg.ChannelBinding == ChannelBindingRequire && !plus {
		return &AuthError{Method: string(method), Reason: "channel_binding=require, but the server authenticated without SCRAM-SHA-256-PLUS"}
	}
	return nil
}

func (c *Conn) sendPassword(pw string) error {
	if pw == "" {
		return &AuthError{Reason: "the server asked for a password and none was given"}
	}
	if err := c.fe.SendPassword(pw); err != nil {
		return err
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.PasswordMessage{Password: pw})
	}
	return c.flush()
}

// startSCRAM picks a mechanism and sends the SASLInitialResponse.
func (c *Conn) startSCRAM(offered []string) (*scram.Client, bool, error) {
	cfg := c.cfg
	hasPlus := slices.Contains(offered, "SCRAM-SHA-256-PLUS")
	hasPlain := slices.Contains(offered, "SCRAM-SHA-256")
	if hasPlus && c.tlsState == nil {
		return nil, false, &AuthError{Method: "scram-sha-256", Reason: "the server offered SCRAM-SHA-256-PLUS over a connection without TLS"}
	}
	// cb is the binding data when TLS is in use and binding is not
	// disabled. With PLUS offered it is used; without, its presence makes the
	// client say "y" (could bind), which lets a server that did offer PLUS
	// detect a downgrade.
	var cb *scram.ChannelBinding
	if c.tlsState != nil && cfg.ChannelBinding != ChannelBindingDisable && len(c.tlsState.PeerCertificates) > 0 {
		b, err := scram.EndPointBinding(c.tlsState.PeerCertificates[0])
		if err != nil && cfg.ChannelBinding == ChannelBindingRequire {
			return nil, false, &AuthError{Method: "scram-sha-256", Reason: "channel binding: " + err.Error()}
		}
		cb = b
	}
	mech := "SCRAM-SHA-256"
	if hasPlus && cb != nil {
		mech = "SCRAM-SHA-256-PLUS"
	}
	if mech == "SCRAM-SHA-256" {
		if cfg.ChannelBinding == ChannelBindingRequire {
			return nil, false, &AuthError{Method: "scram-sha-256", Reason: "channel_binding=require, but channel binding is not possible"}
		}
		if !hasPlain {
			return nil, false, &AuthError{Method: "scram-sha-256", Reason: "the server offers no supported SASL mechanism"}
		}
	}
	if c.host.Password == "" {
		return nil, false, &AuthError{Method: "scram-sha-256", Reason: "the server asked for a password and none was given"}
	}
	sc, err := scram.NewClient(mech, c.host.Password, cb, rand.Reader)
	if err != nil {
		return nil, false, &AuthError{Method: "scram-sha-256", Reason: err.Error()}
	}
	first := sc.ClientFirst()
	if err := c.fe.SendSASLInitialResponse(mech, first); err != nil {
		return nil, false, err
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.SASLInitialResponse{AuthMechanism: mech, Data: first})
	}
	return sc, mech == "SCRAM-SHA-256-PLUS", c.flush()
}

// checkTarget enforces target_session_attrs on a fresh connection.
func (c *Conn) checkTarget(ctx context.Context, want TargetSessionAttrs) error {
	if want == "" || want == TargetSessionAttrsAny {
		return nil
	}
	standby, ok := c.params["in_hot_standby"]
	if !ok {
		v, err := c.queryOne(ctx, "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN 'on' ELSE 'off' END")
		if err != nil {
			return err
		}
		standby = v
	}
	readOnly := standby == "on"
	if !readOnly {
		ro, ok := c.params["default_transaction_read_only"]
		if !ok {
			v, err := c.queryOne(ctx, "SHOW transaction_read_only")
			if err != nil {
				return err
			}
			ro = v
		}
		readOnly = ro == "on"
	}
	match := map[TargetSessionAttrs]bool{
		TargetSessionAttrsReadWrite: !readOnly,
		TargetSessionAttrsReadOnly:  readOnly,
		TargetSessionAttrsPrimary:   standby != "on",
		TargetSessionAttrsStandby:   standby == "on",
	}[want]
	if !match {
		return fmt.Errorf("server does not satisfy target_session_attrs=%s (in_hot_standby=%s, read-only=%t)", want, standby, readOnly)
	}
	return nil
}

// queryOne runs sql and returns the first column of its only row.
func (c *Conn) queryOne(ctx context.Context, sql string) (string, error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return "", err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 {
		return "", fmt.Errorf("%q: unexpected result shape", sql)
	}
	return string(res[0].Rows[0][0]), nil
}

// ---- accessors -------------------------------------------------------------

// PID returns the server process ID of the connection (from
// BackendKeyData), or 0 when the server sent none.
func (c *Conn) PID() uint32 { return c.pid }

// ParameterStatus returns the last value the server reported for a run-time
// parameter (server_version, TimeZone, …), or "".
func (c *Conn) ParameterStatus(name string) string { return c.params[name] }

// TLSConnectionState returns the TLS state, or nil when TLS is not in use.
func (c *Conn) TLSConnectionState() *tls.ConnectionState { return c.tlsState }

// Host returns the host the connection was made to.
func (c *Conn) Host() HostConfig { return c.host }

// State returns the protocol state. StateIdle means the connection can take
// a new request; StateClosed and StateDesynced are final.
func (c *Conn) State() wire.State {
	if c.closed {
		if c.fe != nil && c.fe.State() == wire.StateDesynced {
			return wire.StateDesynced
		}
		return wire.StateClosed
	}
	return c.fe.State()
}

// TxStatus returns the transaction status of the last ReadyForQuery: 'I'
// idle, 'T' in a transaction block, 'E' in a failed one.
func (c *Conn) TxStatus() wire.TxStatus { return c.fe.TxStatus() }

// Err returns nil while the connection is usable, and otherwise an error
// that matches ErrClosed and wraps the cause: the *wire.ProtocolError of a
// desynchronization, the FATAL *PgError, the I/O error, or nothing after
// Close.
func (c *Conn) Err() error { return c.err }

// IsBusy reports whether a result reader or pipeline is open.
func (c *Conn) IsBusy() bool { return c.busy }

// Close sends Terminate (best effort, bounded by ctx) and closes the
// network connection. It is idempotent; after it every call returns an error
// matching ErrClosed.
func (c *Conn) Close(ctx context.Context) error {
	if c.closed {
		return nil
	}
	if c.err == nil && c.fe != nil && c.fe.State() != wire.StateDesynced {
		c.fe.ResetOutput()
		c.fe.SendTerminate()
		if c.tr != nil {
			c.traceSend(&pgproto3.Terminate{})
		}
		if dl, ok := ctx.Deadline(); ok {
			c.nc.SetWriteDeadline(dl)
		} else {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		}
		c.fe.WriteTo(c.nc)
	}
	c.markClosed(nil)
	return nil
}

// markClosed closes the socket and records why the connection is unusable.
func (c *Conn) markClosed(cause error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.err = &closedError{cause: cause}
	c.nc.Close()
}

// die ends the connection because of cause and returns the error callers
// see.
func (c *Conn) die(cause error) error {
	c.markClosed(cause)
	return c.err
}

func (c *Conn) String() string {
	return "conn(pid " + strconv.FormatUint(uint64(c.pid), 10) + ")"
}
