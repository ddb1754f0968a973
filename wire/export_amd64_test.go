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
