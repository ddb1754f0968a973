// Package conn is one fail-closed PostgreSQL connection: configuration (URL and
// keyword/value DSNs, PG* environment variables, passfile), dialing over TCP and
// Unix sockets, TLS, startup and authentication, the simple and extended query
// protocols, pipelining, cancellation, notices and notifications.
//
// # Overview
//
// conn sits directly above package wire and below pool, pgcopy, replication,
// schema and migrate. Every byte it receives runs through the wire framing
// reader and the wire protocol tracker; a byte that is not legal in the state
// it arrives in desynchronizes the connection, which is then closed and never
// used again.
//
// This package is being built; see the project issues for its status.
//
// # PostgreSQL references
//
//   - https://www.postgresql.org/docs/current/protocol-flow.html
//   - https://www.postgresql.org/docs/current/libpq-connect.html
package conn
