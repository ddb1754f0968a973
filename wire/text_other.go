//go:build !amd64 || purego

package wire

import "encoding/binary"

// asciiNoNUL reports whether every byte of b is ASCII and not NUL, a word
// at a time (the amd64 build has an SSE2 version). b must hold at least 16
// bytes.
func asciiNoNUL(b []byte) bool {
	p := b[:len(b):len(b)]
	for len(p) >= 32 {
		w1 := binary.LittleEndian.Uint64(p)
		w2 := binary.LittleEndian.Uint64(p[8:])
		w3 := binary.LittleEndian.Uint64(p[16:])
		w4 := binary.LittleEndian.Uint64(p[24:])
		if ((w1-wordLo)|w1|(w2-wordLo)|w2|(w3-wordLo)|w3|(w4-wordLo)|w4)&wordHi != 0 {
			return false
		}
		p = p[32:]
	}
	for len(p) >= 8 {
		if !wordASCIINoNUL(binary.LittleEndian.Uint64(p)) {
			return false
		}
		p = p[8:]
	}
	if len(p) > 0 {
		// Fewer than 8 bytes left: the last 8 of b overlap checked ones.
		return wordASCIINoNUL(binary.LittleEndian.Uint64(b[len(b)-8:]))
	}
	return true
}
