package pool_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/pool"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// connString is the input.
		connString string
		// check inspects the result.
		check func(t *testing.T, c *pool.Config)
	}{
		{
			name: "keyword/value",
			connString: "host=db.example user=alice pool_max_conns=7 pool_min_conns = 2 " +
				"pool_max_conn_lifetime=90m pool_max_conn_lifetime_jitter='5m' pool_max_conn_idle_time=-1s " +
				"pool_health_check_period=30s pool_ping_after_idle=250ms pool_ping_timeout=2s " +
				"pool_acquire_timeout=3s pool_reset_query='DISCARD ALL' dbname=app",
			check: func(t *testing.T, c *pool.Config) {
				assert.Equal(t, 7, c.MaxConns)
				assert.Equal(t, 2, c.MinConns)
				assert.Equal(t, 90*time.Minute, c.MaxConnLifetime)
				assert.Equal(t, 5*time.Minute, c.MaxConnLifetimeJitter)
				assert.Equal(t, -time.Second, c.MaxConnIdleTime)
				assert.Equal(t, 30*time.Second, c.HealthCheckPeriod)
				assert.Equal(t, 250*time.Millisecond, c.PingAfterIdle)
				assert.Equal(t, 2*time.Second, c.PingTimeout)
				assert.Equal(t, 3*time.Second, c.AcquireTimeout)
				assert.Equal(t, "DISCARD ALL", c.ResetQuery)
				assert.Equal(t, "alice", c.ConnConfig.User)
				assert.Equal(t, "app", c.ConnConfig.Database)
				assert.Equal(t, "db.example", c.ConnConfig.Hosts[0].Host)
			},
		},
		{
			name:       "URL",
			connString: "postgres://bob:s3cret@db.example:6543/app?pool_max_conns=3&sslmode=disable&pool_reset_query=DISCARD%20ALL",
			check: func(t *testing.T, c *pool.Config) {
				assert.Equal(t, 3, c.MaxConns)
				assert.Equal(t, "DISCARD ALL", c.ResetQuery)
				assert.Equal(t, "bob", c.ConnConfig.User)
				assert.Equal(t, "s3cret", c.ConnConfig.Password)
				assert.Equal(t, conn.SSLModeDisable, c.ConnConfig.SSLMode)
				assert.Equal(t, uint16(6543), c.ConnConfig.Hosts[0].Port)
			},
		},
		{
			name:       "URL with only pool parameters",
			connString: "postgresql://db.example/app?pool_min_conns=1",
			check: func(t *testing.T, c *pool.Config) {
				assert.Equal(t, 1, c.MinConns)
				assert.Equal(t, "app", c.ConnConfig.Database)
			},
		},
		{
			name:       "no pool keywords keeps the zero values",
			connString: "host=db.example user=u password='a b\\' c'",
			check: func(t *testing.T, c *pool.Config) {
				assert.Zero(t, c.MaxConns)
				assert.Zero(t, c.MaxConnLifetime)
				assert.Equal(t, "a b' c", c.ConnConfig.Password)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := pool.ParseConfig(tc.connString)
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// connString is the input.
		connString string
		// field is the expected ConfigError.Field, "" for a conn error.
		field string
	}{
		{name: "unknown pool keyword", connString: "host=x pool_max_cons=3", field: "pool_max_cons"},
		{name: "not a number", connString: "host=x pool_max_conns=many", field: "pool_max_conns"},
		{name: "zero max", connString: "host=x pool_max_conns=0", field: "pool_max_conns"},
		{name: "negative min", connString: "host=x pool_min_conns=-1", field: "pool_min_conns"},
		{name: "bad duration", connString: "postgres://x/db?pool_max_conn_lifetime=1hour", field: "pool_max_conn_lifetime"},
		{name: "negative timeout", connString: "host=x pool_acquire_timeout=-1s", field: "pool_acquire_timeout"},
		{name: "conn error passes through", connString: "host=x sslmode=sometimes"},
		{name: "unterminated quote", connString: "host=x password='abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := pool.ParseConfig(tc.connString)
			require.Error(t, err)
			var ce *pool.ConfigError
			if tc.field == "" {
				assert.NotErrorAs(t, err, &ce)
				var pe *conn.ParseConfigError
				assert.ErrorAs(t, err, &pe)
				return
			}
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
}
