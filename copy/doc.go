// Package pgcopy runs COPY FROM STDIN and COPY TO STDOUT over a conn.Conn:
// raw streaming from an io.Reader and to an io.Writer (From, To), rows of Go
// values encoded in the text, CSV or binary format (FromRows, Encoder), and
// rows decoded from COPY data (ToRows, Decoder).
//
// A statement that does not start the expected COPY fails at once and leaves
// the connection idle: it never hangs waiting for a CopyInResponse that will
// not come. Every COPY message passes through the connection's protocol
// tracker (COPY sub-states of the protocol reference, §2.7): CopyData outside
// a COPY, CommandComplete before CopyDone, a second CopyDone or a
// ReadyForQuery inside a COPY desynchronizes and closes the connection.
//
// # Overview
//
// The directory is named copy; the package is named pgcopy so that importing
// it never shadows the builtin copy. It sits above package conn (whose
// Conn.CopyStart and Copy it drives) and beside pool and replication; schema
// and migrate use it for data. Values are converted with the codecs of pgx's
// pgtype package, the one part of pgx besides pgproto3 the module uses.
//
// Writes are large and few: From reads its source into ChunkSize buffers and
// sends each as one CopyData message, FromRows sends whole rows in messages
// of up to ChunkSize bytes. Reads are zero-copy: conn.Copy.Read returns the
// CopyData payload in the connection's read buffer, and Decoder fields alias
// it unless a value needs unescaping.
//
// # Concurrency
//
// The functions use the connection exclusively until they return and must
// not run concurrently with anything else on it (conn.Conn is not safe for
// concurrent use). Copier is a value and safe to share; Encoder and Decoder
// are not safe for concurrent use.
//
// # Context
//
// The context governs the whole COPY. When it ends during COPY FROM STDIN
// the data being written is completed, a CopyFail naming the context's error
// is sent, and the replies are drained to ReadyForQuery; during COPY TO
// STDOUT a CancelRequest is sent and the replies are drained. The connection
// is then idle again, or closed if the drain does not finish within
// conn.Config.DrainTimeout, and the call returns the context's error
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded). A context
// that ends while the io.Reader of From blocks is noticed when the reader
// returns.
//
// # Errors
//
// A statement that ran as something other than the expected COPY gives an
// error matching conn.ErrNotCopy; a server error is a *conn.PgError, wrapped
// in a *RowError{Row, Column, Err} when its context names the line ("COPY t,
// line 3, column b"). A value FromRows cannot send (invalid UTF-8 or a NUL
// byte in text, a Go type that does not fit the column) is a *RowError
// wrapping a *wire.InputError or the codec's error, reported before its row
// is sent. A failing io.Reader, io.Writer or RowSource ends the COPY (CopyFail
// or cancel) and its error is returned. Protocol violations and lost
// connections match conn.ErrClosed and unwrap to the cause (a
// *wire.ProtocolError with wire.ReasonCopyState, a FATAL *conn.PgError such as
// 57P01 after pg_terminate_backend, an I/O error). Decoder errors wrap
// ErrMalformed.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/sql-copy.html
//   - https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
//   - https://www.postgresql.org/docs/current/protocol-message-formats.html
package pgcopy
