// Package fuzz holds stateful, cross-package fuzz harnesses (a connection
// talking to a fuzzed byte stream, the pool under a fuzzed schedule) and corpus
// tooling. Per-package decoders keep their own fuzz_test.go beside the code.
//
// # Overview
//
// fuzz is a leaf: it may import any package of the module and no package
// imports it. Later issues fill it.
package fuzz
