//go:build amd64 && !purego

package wire

// ASCIIKernels are the implementations of asciiNoNUL this processor runs,
// each tested on every length (asciiNoNUL picks one by length).
func ASCIIKernels() map[string]func([]byte) bool {
	k := map[string]func([]byte) bool{"dispatch": asciiNoNUL, "sse2": asciiNoNULSSE2}
	if useAVX2 {
		k["avx2"] = func(b []byte) bool {
			if len(b) < 32 {
				return asciiNoNULSSE2(b)
			}
			return asciiNoNULAVX2(b)
		}
	}
	return k
}

// SetRowScan switches NextRow between its register scan (on) and its Go
// column loop (off) and returns a function that restores the setting. It
// reports false, and changes nothing, when the processor lacks AVX2.
func SetRowScan(on bool) (restore func(), ok bool) {
	if !useAVX2 {
		return func() {}, false
	}
	was := nextRow
	nextRow = (*Frontend).nextRowGo
	if on {
		nextRow = (*Frontend).nextRowScan
	}
	return func() { nextRow = was }, true
}

// ScanRow runs scanRowAVX2 on b (buffered input from a message's type
// byte on) and returns the message size, the verdict and, flat, the offset
// and length of each value; nil without AVX2.
var ScanRow = func() func(b []byte, max int, text []bool) (int, uint8, []uint32) {
	if !useAVX2 {
		return nil
	}
	return func(b []byte, max int, text []bool) (int, uint8, []uint32) {
		spans := make([]rowSpan, len(text))
		size, verdict := scanRowAVX2(b, max, text, spans)
		flat := make([]uint32, 0, 2*len(spans))
		for _, sp := range spans {
			flat = append(flat, sp.off, sp.n)
		}
		return size, verdict, flat
	}
}()
