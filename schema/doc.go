// Package schema will hold the schema model, the schema file format, the pull
// introspector, diff and drift detection, all built on package conn.
//
// # Overview
//
// schema sits above conn, pool, pgcopy and replication and below migrate and
// the CLI. It holds no code yet; later issues fill it.
package schema
