// Package wire is the fail-closed receive and send side of the PostgreSQL
// frontend/backend protocol (versions 3.0 and 3.2), built on the message types
// of github.com/jackc/pgx/v5/pgproto3.
//
// # Overview
//
// wire is the lowest layer of pgstrict; package conn drives it and nothing in
// wire does I/O of its own beyond reading from the io.Reader it is given. It
// has four parts:
//
//   - [Reader] frames backend messages itself: it reads the five-byte header,
//     checks the declared length against a per-message-type cap ([Limits])
//     before it allocates or reads the body, and reads into a reusable buffer.
//   - Strict decoding ([Reader.Receive]): every fixed field inside the body,
//     every string terminated inside the body, counts bounded by the bytes that
//     remain, no trailing bytes, ReadyForQuery status in {I, T, E},
//     ErrorResponse with V, C and M, and UTF-8 and NUL checks of every text
//     field the server sends.
//   - [Tracker], the protocol state machine of the client: startup and
//     authentication states, idle, the busy expectation queue with the
//     extended protocol's skip-to-Sync rule, the simple-query sub-states and
//     the COPY sub-states. Every message is checked against the state it
//     arrives in.
//   - The send side ([Frontend] and the Check functions): SQL text, names,
//     text-format parameters, CopyFail text, startup values and passwords are
//     checked for NUL bytes and invalid UTF-8 before anything is encoded.
//
// Any violation is a [*ProtocolError] with a typed [Reason], the message type,
// the state and a stream offset. A ProtocolError is terminal: the stream is
// desynchronized, the Reader and Tracker that produced it refuse all further
// work, and the connection that owns them must be closed.
//
// # Fast paths
//
// A row in the middle of a result and a CopyData of a COPY OUT or COPY BOTH
// stream are most of the messages of a busy connection, and need less than
// the general path: [Frontend.NextRow] and [Frontend.NextCopyData] take such
// a message when it is already buffered, apply every check [Frontend.Receive]
// would apply to it (the row belongs to a result whose shape is known: after
// a simple Query's RowDescription, after the RowDescription of a Describe
// portal followed by the Execute of that portal, or after a row Receive
// accepted; same column count, row limit, cap, exact value lengths, text
// validation of the text-format columns; the CopyData arrives in a copy-out
// state before the server's CopyDone and within its cap) and return its
// values without decoding it into a pgproto3 message. Anything else, they
// decline without consuming a byte, and the caller calls Receive, which
// accepts or refuses the message with its full reasons. They never read from
// the source and never accept what Receive would refuse (FuzzNextRow checks
// this against Receive). [Frontend.ReadRow] is NextRow for a caller that
// calls Receive when it declines, as conn does: it also reads the rest of a
// DataRow whose header is buffered (the row that straddles the end of a
// read, one in about forty with the default 8 KiB buffer), so that row too
// takes the fast path; a read error it meets is held, and the next Receive
// returns it. Text values are checked for ASCII without NUL with
// word arithmetic up to 16 bytes and beyond with a kernel in assembly on
// amd64 (SSE2, 32 bytes per step; AVX2, 64, where the processor has it; the
// purego build tag selects the portable Go), and only a value that is not
// plain ASCII takes the exact UTF-8 check. CheckText uses the same check.
// On amd64 with AVX2 NextRow does the whole row in one assembly routine
// that keeps it in registers (the header, every length, the ASCII test of
// every text value with word arithmetic below 32 bytes and 32-byte vector
// loads above, one verdict per row), and Go only turns the offsets it
// returns into the values; a differential test, FuzzScanRow and FuzzNextRow
// hold it to the Go loop's rules, and a test with unreadable pages on both
// sides of a row shows that it reads nothing outside the message.
//
// # Buffer ownership
//
// Messages returned by [Reader.Receive] and [Frontend.Receive], and the
// values returned by NextRow and NextCopyData, are owned by the Reader: they
// and every byte slice inside them alias its buffer and are valid only until
// the next call to Receive, Next, NextRow, ReadRow or NextCopyData. Copy
// anything kept
// longer.
//
// # Concurrency
//
// Reader, Tracker and Frontend are not safe for concurrent use. A connection
// may read with one goroutine while another goroutine encodes and writes, as
// long as calls on the Tracker are serialized by the caller.
//
// # Errors
//
// Protocol violations from the server are *ProtocolError (errors.As). Caller
// mistakes detected before sending (a NUL byte in SQL text, invalid UTF-8 in
// a parameter, too many parameters, a message that is not legal in the
// current state) are *InputError; they change no state and the connection
// stays usable.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/protocol-overview.html
//   - https://www.postgresql.org/docs/current/protocol-flow.html
//   - https://www.postgresql.org/docs/current/protocol-message-formats.html
package wire
