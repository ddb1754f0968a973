// Package fuzz holds stateful, cross-package fuzz harnesses (a connection
// talking to a fuzzed byte stream, the pool under a fuzzed schedule) and corpus
// tooling. Per-package decoders keep their own fuzz_test.go beside the code.
//
// # Overview
//
// fuzz is a leaf: it may import any package of the module and no package
// imports it. It has no API: everything is in its test files, which declare
// four native Go fuzz targets (run them with go test -fuzz or make fuzz):
//
//   - FuzzConnStream: a conn.Conn whose server side is fuzzed bytes, served
//     in segments paced by the client's requests, running a fuzzed session
//     of simple and extended queries, pipelines, COPY, notification waits
//     and cancel requests;
//   - FuzzWireDifferential: wire's framing reader against pgproto3, message
//     by message (wire may be stricter, never laxer);
//   - FuzzPoolSchedule: a pool.Pool over fake backends under a fuzzed
//     schedule of acquires, releases, cancellations and injected faults;
//   - FuzzReplicationStream: a replication.Stream over a fuzzed walsender.
//
// Seed corpora under testdata/fuzz include conversations recorded from a
// real server by TestRecordSeeds (go test -tags record ./fuzz -run TestRecordSeeds -args
// -record). README.md lists every fuzz target of the module with its
// property, how to run a campaign and how to reproduce a crasher.
//
// # Concurrency
//
// Each input runs its fake servers on goroutines the harness owns and waits
// for before the input ends; a watchdog fails an input whose call does not
// return within two seconds.
package fuzz
