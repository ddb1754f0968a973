//go:build !amd64 || purego

package wire

// ASCIIKernels are the implementations of asciiNoNUL this build has.
func ASCIIKernels() map[string]func([]byte) bool {
	return map[string]func([]byte) bool{"go": asciiNoNUL}
}
