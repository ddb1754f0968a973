// Package bench holds the side-by-side macro benchmarks: pgstrict against pgx's
// pgconn and pgxpool and against the bare pgproto3 floor, measured in the same
// run and reported as ratios.
//
// # Overview
//
// bench is a leaf: it may import any package of the module and no package
// imports it. It is the only place where pgconn and pgxpool may be imported.
// Later issues fill it.
package bench
