// Package archtest enforces the import graph of the module. It has no API: all
// of its code is in its tests, which `go test ./...` (and `go test -run
// Archtest ./internal/...`) runs on every change.
//
// # Overview
//
// Imports point one way only:
//
//	wire <- conn <- {pool, pgcopy, replication} <- {schema, migrate} <- cmd/pgstrict
//
// with migrate allowed to import schema. Siblings in one tier never import each
// other. fuzz/ and bench/ are leaves: they may import anything and nothing
// imports them. internal/ packages may be imported by every package above wire.
// wire depends only on the standard library and pgx's pgproto3, and its full
// dependency closure holds no network, context, logging or process package.
// Only bench/ imports another PostgreSQL driver (pgx outside pgproto3,
// database/sql), only internal/pgtest imports testcontainers-go, and no
// library package imports internal/pgtest outside its _test.go files.
//
// The rules are data: layerRules, forbiddenImports and closureRules in
// rules_test.go. A package that no rule covers is itself a violation, so a new
// package cannot slip in without a row.
//
// The checker is a pure function over a package list, tested with synthetic
// graphs that break each rule; the real-module test feeds it the output of
// `go list -json ./...` run in the module root.
package archtest
