// Package bench holds the side-by-side macro benchmarks: pgstrict against pgx's
// pgconn and pgxpool and against the bare pgproto3 floor, measured in the same
// run and reported as ratios.
//
// # Overview
//
// bench is a leaf: it may import any package of the module and no package
// imports it. It is the only place where pgconn and pgxpool may be imported.
//
// Every benchmark function runs one sub-benchmark per client, named
// .../pgstrict, .../pgconn, .../pgproto3 (or another baseline), so that they
// run in the same invocation and cmd/benchtable can pair them into a table of
// ratios (make bench). See README.md for what each benchmark measures, how to
// read the table and the latest figures.
//
// Replay benchmarks need no server: ReplayConn serves a recorded server byte
// stream from memory through a net.Conn, and MixedRowsReply, PipelineReply and
// StartupReply build streams that are, byte for byte, what PostgreSQL sends
// (TestReplayMatchesServer checks it). Real-server benchmarks take a database
// from internal/pgtest and are skipped when none can be had (never in CI).
//
// # Concurrency
//
// ReplayConn is safe for concurrent use; the stream builders are pure
// functions.
package bench
