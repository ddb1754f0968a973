// Package replication speaks the streaming replication protocol over a
// conn.Conn: IDENTIFY_SYSTEM, replication slots, START_REPLICATION (logical and
// physical), XLogData and keepalives, standby status updates, pgoutput decoding
// for protocol versions 1 to 4 and LSN monotonicity checks.
//
// # Overview
//
// replication sits above package conn and beside pool and pgcopy. A replication
// connection is never put in a pool. It is being built; see the project issues
// for its status.
package replication
