//go:build !amd64 || purego

package wire

// rowScan is false: this build frames rows with NextRow's Go loop.
const rowScan = false

// scanRowAVX2 exists in this build only so that NextRow compiles; rowScan
// being false, it is never called. Should it be, it refuses every row,
// which leaves the row to Receive.
func scanRowAVX2([]byte, int, []bool, []rowSpan) (int, uint8) { return 0, rowRefuse }
