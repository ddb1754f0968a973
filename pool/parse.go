package pool

import (
	"net/url"
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
// The pool keywords are removed and the rest is passed to conn.ParseConfig.
// Any other keyword that starts with "pool_" is an error. Fields the string
// does not set keep their zero value, so that New applies the defaults.
func ParseConfig(connString string) (*Config, error) {
	cfg := &Config{}
	rest, kvs, ok := splitPoolKeywords(connString)
	if !ok {
		// Leave the diagnosis to conn, which knows how to report a bad
		// string without echoing secrets.
		if _, err := conn.ParseConfig(connString); err != nil {
			return nil, err
		}
		return nil, &ConfigError{Field: "connection string", Problem: "cannot be parsed"}
	}
	for _, kv := range kvs {
		set, known := poolKeywords[kv.key]
		if !known {
			return nil, &ConfigError{Field: kv.key, Problem: "unknown pool keyword"}
		}
		if err := set(cfg, kv.value); err != nil {
			return nil, &ConfigError{Field: kv.key, Problem: "invalid value " + strconv.Quote(kv.value), Err: err}
		}
	}
	cc, err := conn.ParseConfig(rest)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig = cc
	return cfg, nil
}

type keyValue struct{ key, value string }

// isPoolKeyword reports whether a connection string keyword belongs to the
// pool.
func isPoolKeyword(k string) bool { return strings.HasPrefix(k, "pool_") }

// splitPoolKeywords removes the pool_* keywords from s and returns what is
// left, verbatim otherwise, and the removed pairs in order. ok is false when
// s cannot be tokenized.
func splitPoolKeywords(s string) (rest string, kvs []keyValue, ok bool) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		return splitURL(s)
	}
	return splitKeywordValue(s)
}

// splitURL removes pool_* parameters from the query of a URL.
func splitURL(s string) (string, []keyValue, bool) {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s, nil, true
	}
	var kept []string
	var kvs []keyValue
	for _, param := range strings.Split(s[q+1:], "&") {
		k, v, _ := strings.Cut(param, "=")
		key, err := url.PathUnescape(k)
		if err != nil || !isPoolKeyword(key) {
			kept = append(kept, param)
			continue
		}
		val, err := url.PathUnescape(v)
		if err != nil {
			return "", nil, false
		}
		kvs = append(kvs, keyValue{key, val})
	}
	if len(kept) == 0 {
		return s[:q], kvs, true
	}
	return s[:q+1] + strings.Join(kept, "&"), kvs, true
}

// splitKeywordValue removes pool_* pairs from a libpq keyword/value string,
// tokenized as libpq does: spaces around "=", values bare or single-quoted,
// a backslash escaping the next byte.
func splitKeywordValue(s string) (string, []keyValue, bool) {
	var b strings.Builder
	var kvs []keyValue
	i := 0
	for {
		start := i
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			b.WriteString(s[start:])
			return b.String(), kvs, true
		}
		keyStart := i
		for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
			i++
		}
		key := s[keyStart:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return "", nil, false
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) && !closed {
				c := s[i]
				i++
				switch c {
				case '\\':
					if i < len(s) {
						v.WriteByte(s[i])
						i++
					}
				case '\'':
					closed = true
				default:
					v.WriteByte(c)
				}
			}
			if !closed {
				return "", nil, false
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		if isPoolKeyword(key) {
			kvs = append(kvs, keyValue{key, v.String()})
			b.WriteByte(' ')
		} else {
			b.WriteString(s[start:i])
		}
	}
}

// isSpace is C's isspace in the "C" locale, as libpq uses it.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
