//go:build amd64 && !purego

package wire

// asciiNoNUL reports whether every byte of b is ASCII and not NUL. b must
// hold at least 16 bytes. It is written in assembly because it runs on
// every long text value of every row: with AVX2 (when the processor and the
// operating system support it) 64 bytes per step from 64 bytes on, else
// with SSE2, which every amd64 processor has, 32. The dispatch is in
// assembly too, so that a call from Go costs one call.
//
//go:noescape
func asciiNoNUL(b []byte) bool

// useAVX2 is set once at start-up; asciiNoNUL reads it.
var useAVX2 = hasAVX2()

// asciiNoNULSSE2 is asciiNoNUL for len(b) >= 16 with SSE2.
//
//go:noescape
func asciiNoNULSSE2(b []byte) bool

// asciiNoNULAVX2 is asciiNoNUL for len(b) >= 32 with AVX2.
//
//go:noescape
func asciiNoNULAVX2(b []byte) bool

// hasAVX2 reports whether the processor has AVX2 and the operating system
// saves the YMM registers (CPUID leaves 1 and 7, XGETBV).
func hasAVX2() bool
