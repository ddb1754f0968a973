// Package conn is one fail-closed PostgreSQL connection: configuration (URL and
// keyword/value DSNs, PG* environment variables, passfile), dialing over TCP and
// Unix sockets, TLS, startup and authentication, the simple and extended query
// protocols, pipelining, cancellation, notices and notifications.
//
// # Overview
//
// conn sits directly above package wire and below pool, pgcopy, replication,
// schema and migrate. Every byte a Conn receives runs through a
// wire.Frontend: the wire framing reader (size caps before allocation, strict
// decoding, UTF-8 and NUL checks) and the wire protocol tracker (the message
// must be legal in the state it arrives in). There is no raw escape hatch that
// bypasses the tracking.
//
// A protocol violation, a watched ParameterStatus that leaves its safe value
// (client_encoding UTF8, standard_conforming_strings on, …), invalid UTF-8 or a
// NUL byte in server text, or an unexpected EOF desynchronizes the connection:
// the socket is closed at once and every later call returns an error that
// matches ErrClosed and wraps the cause, which errors.As finds as a
// *wire.ProtocolError. No later call can return bytes that belong to an earlier
// exchange.
//
// Caller mistakes (a NUL byte in SQL text, invalid UTF-8 in a text parameter,
// more than 65535 parameters, a call while a result is still open) are
// rejected before anything is sent; the connection stays usable and
// SafeToRetry reports true.
//
// # Lifecycle
//
//  1. Connect: for each host (and each address it resolves to) dial, negotiate
//     TLS per sslmode (SSLRequest or direct TLS with ALPN "postgresql"), send
//     the StartupMessage with client_encoding=UTF8, authenticate (trust,
//     cleartext, MD5, SCRAM-SHA-256, SCRAM-SHA-256-PLUS), read up to the first
//     ReadyForQuery, check target_session_attrs.
//  2. Use: one operation at a time: Exec (simple protocol), ExecParams,
//     Prepare, ExecPrepared, Deallocate (extended protocol), a Pipeline,
//     WaitForNotification. Result readers must be closed before the next
//     operation.
//  3. Close: Terminate and close the socket. Close is idempotent.
//
// # Concurrency
//
// A Conn is not safe for concurrent use; only CancelRequest may be called from
// another goroutine. A Pipeline writes on a goroutine it owns and stops in
// Close.
//
// # Context
//
// Every blocking call takes a context. If it ends before anything was sent,
// the call fails and nothing happens. If it ends while replies are
// outstanding, the connection sends a CancelRequest, waits until the server
// has taken it, and drains the outstanding replies up to ReadyForQuery within
// Config.DrainTimeout, absorbing the 57014 error the cancel causes: the
// connection is then idle (State() == wire.StateIdle) and the call returns the
// context's error. If the drain does not complete in time, or the context ends
// while a request is being written, the connection is closed instead
// (State() == wire.StateClosed). A context that ends in WaitForNotification
// leaves the idle connection as it was.
//
// # Send wake
//
// On a TCP or Unix socket each request write is bracketed by arming and
// stopping a 10 ms timer whose function does nothing (it runs only if a
// write blocks that long; Config.NoSendWake turns this off).
// Arming a timer makes the Go runtime wake its network poller or ready a
// thread on an idle P; with the client and the server on the same small
// virtual machine, that thread keeps a vCPU awake while the server works,
// and the reply is picked up sooner than from a halted vCPU. On a 2-vCPU VM
// it took a raw socket client's mean round trip from about 110 µs to 96 µs
// (p50 104 to 89 µs), and pgstrict's real-server round-trip wall time from
// 1.13–1.24× pgconn's (significant) to 1.07× (not significant); pgconn arms a
// timer around every write for a reason of its own. It costs one timer
// reset and stop per request; it is a property of the scheduler and the
// hypervisor, not a guarantee (bench/README.md, §2).
//
// # Errors
//
// Server errors are *PgError (all ErrorResponse fields); connection failures
// are *ConnectError with one *HostError per attempt; client-side
// authentication decisions are *AuthError; protocol violations are
// *wire.ProtocolError wrapped with ErrClosed; caller mistakes are
// *wire.InputError. SafeToRetry and Timeout are predicates over all of them.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/protocol-flow.html
//   - https://www.postgresql.org/docs/current/libpq-connect.html
//   - https://www.postgresql.org/docs/current/sasl-authentication.html
package conn
