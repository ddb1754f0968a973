// Package scram implements the client side of SCRAM-SHA-256 and
// SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) as PostgreSQL uses them, as pure
// functions over byte slices: no I/O, no goroutines.
//
// # Overview
//
// conn uses it for authentication; internal/pgtest uses it for its small
// administrative client.
package scram
