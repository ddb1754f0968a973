// Package golden compares test output with golden files and rewrites them on
// request.
//
// # Overview
//
// A golden file holds the expected output of a test, stored under the
// package's testdata directory and reviewed like code. [Check] compares; run
// the tests with -update (make golden-update) to rewrite every golden file
// the run touches, then review the diff. Line endings are normalised to \n on
// both sides, so a checkout that converted files to CRLF still passes.
//
// The -update flag is registered on the default flag set when a test binary
// imports this package, as go/printer's tests do; only tests import it.
//
// # Concurrency
//
// Check is safe for concurrent use by parallel tests as long as no two tests
// share a golden file.
package golden
