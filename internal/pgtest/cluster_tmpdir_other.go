//go:build !linux

package pgtest

import "os"

// clusterDefaultTempDir returns os.TempDir(); only Linux has a known memory
// file system to prefer.
func clusterDefaultTempDir() string { return os.TempDir() }
