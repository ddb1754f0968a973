// Package replication speaks PostgreSQL's streaming replication protocol
// over a conn.Conn: the replication commands (IDENTIFY_SYSTEM,
// CREATE_REPLICATION_SLOT, DROP_REPLICATION_SLOT, READ_REPLICATION_SLOT,
// TIMELINE_HISTORY, SHOW), logical streams decoded from the pgoutput plugin
// (protocol versions 1 to 4, with streaming of large transactions, two-phase
// commit and logical messages), and physical WAL streams.
//
// Everything is checked, fail-closed: a replication stream whose WAL position
// goes backwards, physical WAL that is not contiguous, a malformed pgoutput
// message or one that breaks the ordering rules of the protocol (a change
// outside a transaction, for an unknown relation, with the wrong number of
// columns; a nested Begin; a flags byte that must be 0 and is not; …)
// desynchronizes the connection: it is closed at once and the error carries a
// *wire.ProtocolError with the typed reason. Keepalives that ask for a reply
// are answered, and standby status updates are sent on a configurable
// cadence with the positions the caller confirmed, never more.
//
// # Overview
//
// replication sits above package conn, beside pool and pgcopy; schema,
// migrate and the pgstrict CLI (pgstrict replicate) import it. It starts the
// COPY BOTH sub-protocol with conn.Conn.StartCopyBoth, so every byte of a
// stream still passes through the connection's protocol tracker, and reports
// violations it finds in the payloads through conn.Conn.Desync.
//
// A replication connection is opened with replication=database (logical: the
// connection is bound to its database and also runs SQL) or replication=true
// (physical). It carries that mode (conn.Config.Replication) for its whole
// life and must never be put in a pool: pool.New refuses a connection
// configuration with Replication set. Only the simple query protocol works
// on it.
//
// The pieces without I/O are usable on their own: ParseLSN, ParseXLogData,
// ParsePrimaryKeepalive, the Encode methods of every message, and Decoder,
// which decodes and checks a recorded pgoutput stream.
//
// # Lifecycle
//
//  1. Connect: Connect or ConnectConfig with a replication mode.
//  2. Prepare: IdentifySystem, CreateSlot (with a plugin for a logical slot),
//     ReadSlot, ReadTimelineHistory; ordinary SQL on a logical connection.
//  3. Stream: StartLogical or StartPhysical sends START_REPLICATION and
//     returns a Stream once the server answered with CopyBothResponse; an
//     error before that (an unknown slot) leaves the connection idle with no
//     stale reply pending. Next returns messages; the caller processes them
//     and calls Confirm with the end position of what it durably processed
//     (Commit.EndLSN), which the next status update reports.
//  4. End: Close sends a last status update and CopyDone, discards what was
//     in flight (a walsender may still send a keepalive or the rest of a
//     transaction after its own CopyDone), and reads the completion; the
//     connection is idle again and can run commands. A second logical
//     stream needs a new connection: PostgreSQL (every version through 18)
//     does not reset a walsender's end-of-streaming state in START_REPLICATION
//     LOGICAL, so a second logical stream on one connection ends at once
//     (reported as conn.ErrStreamEnded, the connection closed); physical
//     streams do not have this limit. A server that ends the stream
//     (end of a historic timeline) is reported by Next as ErrServerDone or a
//     *TimelineEndError, with the connection idle. A server that shuts down
//     is reported as conn.ErrStreamEnded, with the connection closed.
//  5. Close the connection with conn.Conn.Close. Dropping slots
//     (DropSlot) is the caller's choice; temporary slots die with the
//     connection.
//
// Restarting: a new stream on the same slot from position 0 resumes after
// the last position a status update reported as flushed. Transactions whose
// end was not confirmed are sent again; confirmed ones are not.
//
// # Concurrency
//
// None of the types is safe for concurrent use: one goroutine drives a
// connection and its Stream. Nothing here starts a goroutine: status updates
// are sent from Next and Close, so Next must be called at least every
// wal_sender_timeout (60 s by default) even when the caller is busy.
//
// # Context
//
// Commands follow conn: a context that ends while a reply is outstanding
// cancels the command and drains the connection back to idle. A context that
// ends while Stream.Next waits for data only stops the wait: Next returns
// the context's error and the stream is intact (call Next again or Close).
// A context that ends during Close cancels the stream and drains the
// connection.
//
// # Errors
//
// Server errors are *conn.PgError. Protocol violations close the connection
// and are found with errors.As as *wire.ProtocolError (Reason
// wire.ReasonLSNBackwards, ReasonReplicationState, ReasonFieldCountMismatch,
// ReasonMalformed, …); the standalone Decoder and Parse functions return
// *DecodeError with the same reasons. A server that ended the stream:
// ErrServerDone, *TimelineEndError. Options the server's version lacks:
// *VersionError, before anything is sent. Confirming a position the server
// never sent: ErrConfirmAhead.
//
// BASE_BACKUP is not provided: it answers with several result sets around a
// COPY OUT that conn's result readers do not expose as a stream; see
// pg_basebackup for physical backups.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/protocol-replication.html
//   - https://www.postgresql.org/docs/current/protocol-logical-replication.html
//   - https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
//   - https://www.postgresql.org/docs/current/logicaldecoding-explanation.html
package replication
