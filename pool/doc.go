// Package pool is a connection pool that reuses a connection only when it can
// prove the connection clean (idle, transaction status I, never desynchronized,
// nothing unread) and quarantines every other one: closes it, never hands it
// out again and counts it by reason.
//
// # Overview
//
// pool sits above package conn and beside pgcopy and replication, which it does
// not import. It is being built; see the project issues for its status.
package pool
