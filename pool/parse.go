package pool

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgstrict/pgstrict/conn"
)

// poolKeywords maps each connection string keyword ParseConfig accepts on
// top of conn's to the Config field it sets.
var poolKeywords = map[string]func(c *Config, v string) error{
	"pool_max_conns":                intKeyword(func(c *Config) *int { return &c.MaxConns }, 1),
	"pool_min_conns":                intKeyword(func(c *Config) *int { return &c.MinConns }, 0),
	"pool_max_conn_lifetime":        durationKeyword(func(c *Config) *time.Duration { return &c.MaxConnLifetime }, true),
	"pool_max_conn_lifetime_jitter": durationKeyword(func(c *Config) *time.Duration { return &c.MaxConnLifetimeJitter }, false),
	"pool_max_conn_idle_time":       durationKeyword(func(c *Config) *time.Duration { return &c.MaxConnIdleTime }, true),
	"pool_health_check_period":      durationKeyword(func(c *Config) *time.Duration { return &c.HealthCheckPeriod }, true),
	"pool_ping_after_idle":          durationKeyword(func(c *Config) *time.Duration { return &c.PingAfterIdle }, true),
	"pool_ping_timeout":             durationKeyword(func(c *Config) *time.Duration { return &c.PingTimeout }, false),
	"pool_acquire_timeout":          durationKeyword(func(c *Config) *time.Duration { return &c.AcquireTimeout }, false),
	"pool_reset_query": func(c *Config, v string) error {
		c.ResetQuery = v
		return nil
	},
}

func intKeyword(field func(*Config) *int, least int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if n < least {
			return strconv.ErrRange
		}
		*field(c) = n
		return nil
	}
}

// durationKeyword parses a Go duration ("90s", "1h30m"); a negative one is
// accepted only where the field gives it a meaning.
func durationKeyword(field func(*Config) *time.Duration, negativeOK bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 && !negativeOK {
			return strconv.ErrRange
		}
		*field(c) = d
		return nil
	}
}

// ParseConfig parses a connection string (a postgres:// URL or a libpq
// keyword/value string) that may hold, besides everything conn.ParseConfig
// accepts, these pool keywords:
//
//	pool_max_conns                 MaxConns (integer ≥ 1)
//	pool_min_conns                 MinConns (integer ≥ 0)
//	pool_max_conn_lifetime         MaxConnLifetime (Go duration, e.g. 1h; negative: unlimited)
//	pool_max_conn_lifetime_jitter  MaxConnLifetimeJitter
//	pool_max_conn_idle_time        MaxConnIdleTime (negative: unlimited)
//	pool_health_check_period       HealthCheckPeriod (negative: no periodic check)
//	pool_ping_after_idle           PingAfterIdle (negative: never ping at acquire)
//	pool_ping_timeout              PingTimeout
//	pool_acquire_timeout           AcquireTimeout
//	pool_reset_query               ResetQuery (e.g. DISCARD ALL)
//
// conn.ParseConfigWithExtra tokenizes the string (the pool keywords follow
// the same quoting and URL rules as conn's) and hands the pool keywords back.
// Any other keyword that starts with "pool_" is an error. Fields the string
// does not set keep their zero value, so that New applies the defaults.
func ParseConfig(connString string) (*Config, error) {
	cc, kvs, err := conn.ParseConfigWithExtra(connString, isPoolKeyword)
	if err != nil {
		return nil, err
	}
	cfg := &Config{ConnConfig: cc}
	for _, key := range slices.Sorted(maps.Keys(kvs)) {
		set, known := poolKeywords[key]
		if !known {
			return nil, &ConfigError{Field: key, Problem: "unknown pool keyword"}
		}
		if err := set(cfg, kvs[key]); err != nil {
			return nil, &ConfigError{Field: key, Problem: "invalid value " + strconv.Quote(kvs[key]), Err: err}
		}
	}
	return cfg, nil
}

// isPoolKeyword reports whether a connection string keyword belongs to the
// pool.
func isPoolKeyword(k string) bool { return strings.HasPrefix(k, "pool_") }
