// Package pool is a connection pool that reuses a connection only when it can
// prove it clean, and quarantines every other one: closes it, never hands it
// out again, and counts it by reason.
//
// A connection goes back to the idle set at Release only if all of these
// hold: conn.Conn.Err is nil (never desynchronized, not closed), the
// protocol state is idle, the transaction status is I, no result reader or
// pipeline is open, it is not in COPY or a replication stream, it has not
// outlived MaxConnLifetime, and the configured reset (Config.ResetQuery such
// as DISCARD ALL, then Config.BeforeRelease) succeeds and leaves it idle
// outside a transaction. Anything else quarantines it with a reason such as
// "desynced:unexpected_message", "in_transaction", "failed_transaction",
// "busy", "copy", "reset_failed" or "closed_by_server" (see the Reason
// constants). A borrowed Conn that is dropped without Release is found by the
// garbage collector and quarantined as "leaked".
//
// # Overview
//
// pool sits above package conn and beside pgcopy and replication, which it
// does not import; schema, migrate and applications import it. It uses
// golang.org/x/sync/semaphore for the MaxConns limit and
// golang.org/x/sync/singleflight to coalesce the host name lookups of
// concurrent connection attempts. A replication connection can never join a
// pool: New refuses a ConnConfig whose Replication is set.
//
// Acquire takes a free slot of the semaphore, then pops the most recently
// released idle connection (pinging it first when it has been idle longer
// than PingAfterIdle, and quarantining it if the ping fails or it expired),
// or opens a new one on the acquiring goroutine. Release decides reuse as
// above. Stat reports the counts, the acquire waits, the quarantines by
// reason, a ring of the most recent quarantine events (time, reason, server
// PID, connection age, and a fingerprint of the last statement with every
// literal masked: never a parameter value) and the circuit breaker.
//
// A churn circuit breaker stops reconnect storms: when
// CircuitBreakerConfig.Threshold faults (quarantines other than for
// lifetime, idle timeout or pool close, and failed connection attempts)
// happen within Window, Acquire fails at once with a *CircuitOpenError for
// Cooldown, then the circuit is half-open until the next fault (open again)
// or clean release (closed).
//
// The zero Config is usable. Its defaults: MaxConns the larger of 4 and
// runtime.NumCPU(); MinConns 0; MaxConnLifetime 1h without jitter;
// MaxConnIdleTime 30m; HealthCheckPeriod 1m; PingAfterIdle 1s; PingTimeout
// and ResetTimeout 5s; no AcquireTimeout and no reset; circuit breaker 24
// faults in 15s open it for 5s; 32 recent quarantine events.
//
// # Concurrency
//
// A Pool is safe for concurrent use by multiple goroutines. A Conn (the
// borrowed handle) is not: one goroutine uses it, as a conn.Conn. Each Pool
// owns one background goroutine, started by New and stopped by Close, which
// runs the periodic health check (quarantines expired and long-idle
// connections, pings idle ones through the protocol tracker, opens
// connections up to MinConns) and refills MinConns after quarantines. No
// other goroutine is started: new connections are opened on the goroutine
// that acquires them, and quarantined ones closed on the goroutine that
// releases them. The leak detection runs as a runtime cleanup and only
// updates counters.
//
// # Context
//
// Acquire's context bounds the wait for a slot, the ping of an idle
// connection and the opening of a new one; when it ends Acquire returns its
// error wrapped (errors.Is with context.Canceled or DeadlineExceeded holds),
// and a connection whose ping was interrupted goes back to the idle set if
// it is still clean. Close ends every wait and dial in progress. The contexts
// given to the query methods of Conn behave as in package conn: an ended
// context sends a CancelRequest and drains the connection back to
// ReadyForQuery, or closes it, which Release then quarantines. Close(ctx)
// bounds only how long Close waits for borrowed connections.
//
// # Errors
//
// Acquire after Close returns ErrClosed; while the circuit is open it
// returns a *CircuitOpenError (matching ErrCircuitOpen; SafeToRetry reports
// true). An acquire timeout is the context's error, wrapped. A connection
// failure is conn's error (*conn.ConnectError), wrapped. An invalid Config or
// pool keyword is a *ConfigError. Errors of queries are those of package
// conn.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/protocol-flow.html
//   - https://www.postgresql.org/docs/current/sql-discard.html
//   - https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
package pool
