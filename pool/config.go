package pool

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pgstrict/pgstrict/conn"
)

// Defaults applied to zero Config fields.
const (
	// DefaultMinMaxConns is the floor of the default MaxConns, which is
	// the larger of it and runtime.NumCPU().
	DefaultMinMaxConns = 4
	// DefaultMaxConnLifetime is the default MaxConnLifetime.
	DefaultMaxConnLifetime = time.Hour
	// DefaultMaxConnIdleTime is the default MaxConnIdleTime.
	DefaultMaxConnIdleTime = 30 * time.Minute
	// DefaultHealthCheckPeriod is the default HealthCheckPeriod.
	DefaultHealthCheckPeriod = time.Minute
	// DefaultPingAfterIdle is the default PingAfterIdle.
	DefaultPingAfterIdle = time.Second
	// DefaultPingTimeout is the default PingTimeout.
	DefaultPingTimeout = 5 * time.Second
	// DefaultResetTimeout is the default ResetTimeout.
	DefaultResetTimeout = 5 * time.Second
	// DefaultRecentQuarantines is the default RecentQuarantines.
	DefaultRecentQuarantines = 32
	// DefaultCircuitThreshold is the default CircuitBreakerConfig.Threshold.
	DefaultCircuitThreshold = 24
	// DefaultCircuitWindow is the default CircuitBreakerConfig.Window.
	DefaultCircuitWindow = 15 * time.Second
	// DefaultCircuitCooldown is the default CircuitBreakerConfig.Cooldown.
	DefaultCircuitCooldown = 5 * time.Second
)

// Config configures a Pool. A Config is a plain value, not safe for
// concurrent modification; New copies it (and its ConnConfig), so changing
// it afterwards has no effect on the Pool. The zero Config is valid: it
// connects as conn.ParseConfig("") would (PG* environment variables and
// libpq defaults) with every default below.
type Config struct {
	// ConnConfig configures each connection. Its Replication must be
	// conn.ReplicationNone: a replication connection never joins a pool.
	// Zero (nil): conn.ParseConfig("").
	ConnConfig *conn.Config

	// MaxConns is the most connections the pool holds at once (idle,
	// borrowed and being opened). Zero: the larger of DefaultMinMaxConns and
	// runtime.NumCPU().
	MaxConns int
	// MinConns is the number of connections the pool opens in New and keeps
	// open in the background (idle timeout does not close below it). It
	// must not exceed MaxConns. Zero: none.
	MinConns int

	// MaxConnLifetime is how long a connection may live; an older one is
	// quarantined with reason "lifetime" at its next release, acquire or
	// health check. Zero: DefaultMaxConnLifetime; negative: unlimited.
	MaxConnLifetime time.Duration
	// MaxConnLifetimeJitter adds a random duration in [0, jitter) to each
	// connection's lifetime so that connections opened together do not
	// expire together. Zero: no jitter.
	MaxConnLifetimeJitter time.Duration
	// MaxConnIdleTime is how long a connection may stay idle; the health
	// check quarantines a longer-idle one with reason "idle_timeout", as long
	// as MinConns connections remain. Zero: DefaultMaxConnIdleTime;
	// negative: unlimited.
	MaxConnIdleTime time.Duration
	// HealthCheckPeriod is the period of the background health check, which
	// quarantines expired and long-idle connections, pings every idle
	// connection not used for PingAfterIdle and opens connections up to
	// MinConns. Zero: DefaultHealthCheckPeriod; negative: no periodic check
	// (MinConns is still restored after a quarantine).
	HealthCheckPeriod time.Duration
	// PingAfterIdle is how long a connection may sit idle before Acquire
	// proves it alive with a ping (an empty Query, through the protocol
	// tracker) before handing it out. Zero: DefaultPingAfterIdle; negative:
	// Acquire never pings.
	PingAfterIdle time.Duration
	// PingTimeout bounds each ping. Zero: DefaultPingTimeout.
	PingTimeout time.Duration
	// AcquireTimeout bounds an Acquire that has to wait for a free slot or
	// for a new connection, in addition to its context. Zero: only the
	// context bounds it.
	AcquireTimeout time.Duration

	// ResetQuery, when set, runs (simple protocol) on every connection
	// released clean, before it returns to the idle set: "DISCARD ALL" or
	// "RESET ALL", for example. If it fails, or leaves the connection
	// anything but idle outside a transaction, the connection is
	// quarantined with reason "reset_failed". Zero: no reset query.
	ResetQuery string
	// BeforeRelease, when set, runs after ResetQuery on every connection
	// released clean; returning false quarantines it with reason
	// "reset_failed". It must leave the connection idle. Zero: none.
	BeforeRelease func(ctx context.Context, c *conn.Conn) bool
	// ResetTimeout bounds ResetQuery and BeforeRelease together. Zero:
	// DefaultResetTimeout.
	ResetTimeout time.Duration
	// AfterConnect, when set, runs on every new connection before it is
	// used; an error closes the connection and fails the acquire that
	// opened it. Zero: none.
	AfterConnect func(ctx context.Context, c *conn.Conn) error

	// CircuitBreaker configures the churn circuit breaker.
	CircuitBreaker CircuitBreakerConfig

	// RecentQuarantines is the number of recent quarantine events Stat
	// keeps. Zero: DefaultRecentQuarantines; negative: none.
	RecentQuarantines int
	// Logger receives one Warn record per quarantine and per failed
	// background connection attempt. Zero: discard.
	Logger *slog.Logger

	// now is the clock used for lifetimes, idle times and the circuit
	// breaker (a test seam); nil means time.Now.
	now func() time.Time
}

// CircuitBreakerConfig configures the churn circuit breaker. Faults are
// quarantines for any reason other than "lifetime", "idle_timeout" and
// "closed", and failed connection attempts (other than those ended by the
// caller's context). When Threshold faults happen within Window the circuit
// opens: for Cooldown, Acquire fails at once with a *CircuitOpenError and no
// connection is opened. Then the circuit is half-open: acquires proceed; the
// first fault opens it again for another Cooldown, the first connection
// released clean closes it.
type CircuitBreakerConfig struct {
	// Threshold is the number of faults that opens the circuit. Zero:
	// DefaultCircuitThreshold; negative: the breaker is disabled.
	Threshold int
	// Window is the period in which Threshold faults open the circuit.
	// Zero: DefaultCircuitWindow.
	Window time.Duration
	// Cooldown is how long the circuit stays open. Zero:
	// DefaultCircuitCooldown.
	Cooldown time.Duration
}

// withDefaults returns a validated copy of c with every default applied;
// the ConnConfig is copied too.
func (c *Config) withDefaults() (*Config, error) {
	d := *c
	if d.ConnConfig == nil {
		cc, err := conn.ParseConfig("")
		if err != nil {
			return nil, &ConfigError{Field: "ConnConfig", Problem: "default connection configuration", Err: err}
		}
		d.ConnConfig = cc
	} else {
		d.ConnConfig = d.ConnConfig.Copy()
	}
	if d.ConnConfig.Replication != conn.ReplicationNone {
		return nil, &ConfigError{Field: "ConnConfig.Replication",
			Problem: "a replication connection (replication=" + string(d.ConnConfig.Replication) + ") cannot be pooled"}
	}
	if d.MaxConns == 0 {
		d.MaxConns = max(DefaultMinMaxConns, runtime.NumCPU())
	}
	switch {
	case d.MaxConns < 0:
		return nil, &ConfigError{Field: "MaxConns", Problem: "must be positive, got " + strconv.Itoa(d.MaxConns)}
	case d.MinConns < 0:
		return nil, &ConfigError{Field: "MinConns", Problem: "must not be negative, got " + strconv.Itoa(d.MinConns)}
	case d.MinConns > d.MaxConns:
		return nil, &ConfigError{Field: "MinConns", Problem: "exceeds MaxConns (" + strconv.Itoa(d.MinConns) + " > " + strconv.Itoa(d.MaxConns) + ")"}
	case d.MaxConnLifetimeJitter < 0:
		return nil, &ConfigError{Field: "MaxConnLifetimeJitter", Problem: "must not be negative"}
	case d.AcquireTimeout < 0:
		return nil, &ConfigError{Field: "AcquireTimeout", Problem: "must not be negative"}
	case d.PingTimeout < 0:
		return nil, &ConfigError{Field: "PingTimeout", Problem: "must not be negative"}
	case d.ResetTimeout < 0:
		return nil, &ConfigError{Field: "ResetTimeout", Problem: "must not be negative"}
	case d.CircuitBreaker.Window < 0 || d.CircuitBreaker.Cooldown < 0:
		return nil, &ConfigError{Field: "CircuitBreaker", Problem: "Window and Cooldown must not be negative"}
	}
	if strings.ContainsRune(d.ResetQuery, 0) {
		return nil, &ConfigError{Field: "ResetQuery", Problem: "contains a NUL byte"}
	}
	defaultDuration(&d.MaxConnLifetime, DefaultMaxConnLifetime)
	defaultDuration(&d.MaxConnIdleTime, DefaultMaxConnIdleTime)
	defaultDuration(&d.HealthCheckPeriod, DefaultHealthCheckPeriod)
	defaultDuration(&d.PingAfterIdle, DefaultPingAfterIdle)
	defaultDuration(&d.PingTimeout, DefaultPingTimeout)
	defaultDuration(&d.ResetTimeout, DefaultResetTimeout)
	defaultDuration(&d.CircuitBreaker.Window, DefaultCircuitWindow)
	defaultDuration(&d.CircuitBreaker.Cooldown, DefaultCircuitCooldown)
	if d.CircuitBreaker.Threshold == 0 {
		d.CircuitBreaker.Threshold = DefaultCircuitThreshold
	}
	if d.RecentQuarantines == 0 {
		d.RecentQuarantines = DefaultRecentQuarantines
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return &d, nil
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
