//go:build !amd64 || purego

package wire

// ASCIIKernels are the implementations of asciiNoNUL this build has.
func ASCIIKernels() map[string]func([]byte) bool {
	return map[string]func([]byte) bool{"go": asciiNoNUL}
}

// SetRowScan reports false: this build has no register scan of rows.
func SetRowScan(bool) (restore func(), ok bool) { return func() {}, false }

// ScanRow is nil: this build has no register scan of rows.
var ScanRow func(b []byte, max int, text []bool) (int, uint8, []uint32)
