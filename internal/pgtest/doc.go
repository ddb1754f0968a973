// Package pgtest is the test harness of pgstrict: a real PostgreSQL server for
// integration tests and a scripted fake server for fault tests.
//
// # Overview
//
// Real server. Tests that concern server behaviour take a server from this
// package, in this order: PGSTRICT_TEST_DSN if set; else a throwaway cluster
// built from local PostgreSQL binaries (one per test binary, stopped and
// removed when the binary exits, even after a panic); else testcontainers-go
// when Docker is reachable. When none can be had the test is skipped with a
// message that says how to get one, unless PGSTRICT_REQUIRE_DB=1, which turns
// the skip into a failure. Each test gets its own database, dropped in
// t.Cleanup.
//
// Fake server. A scripted backend that a test drives step by step: expect a
// frontend message, send backend messages or raw bytes, split writes at chosen
// offsets, stall, close or reset the connection. It runs over net.Pipe or over
// 127.0.0.1 and produces the faults a real server cannot produce on demand.
//
// # Concurrency
//
// The cluster is shared by all tests of one binary and is safe for concurrent
// use; each fake server serves exactly one client connection.
package pgtest
