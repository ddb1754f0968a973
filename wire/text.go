package wire

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// CheckText reports whether b is text a PostgreSQL server can send or accept
// in a UTF-8 session: valid UTF-8 with no NUL byte. On failure it returns the
// offset of the first offending byte and the reason (ReasonNULInText or
// ReasonInvalidUTF8).
func CheckText(b []byte) (ok bool, off int, r Reason) {
	// validText is the check; the byte loop only locates a failure.
	if validText(b) {
		return true, -1, ReasonUnknown
	}
	return checkTextSlow(b, 0)
}

// validText reports whether b is valid UTF-8 without NUL bytes, as CheckText
// does, without locating a failure: the fast paths fall back to the full
// check when it fails.
func validText(b []byte) bool {
	if len(b) >= 16 {
		return asciiNoNUL(b) || validTextRest(b)
	}
	return asciiShort(b) || validTextRest(b)
}

// validValues reports whether every value vals[i] with text[i] set is
// valid text (validText); nil values are NULL. It is the exact check of a
// row whose quick ASCII test failed.
func validValues(vals [][]byte, text []bool) bool {
	text = text[:len(vals)]
	for i, v := range vals {
		if text[i] && !validText(v) {
			return false
		}
	}
	return true
}

// asciiShort reports whether v, shorter than 16 bytes, is ASCII without
// NUL, without a loop: two words, overlapping below 16 bytes; below 8 bytes
// two overlapping half words; below 4, v[0], v[n/2] and v[n-1], which are
// all of them, over a word of 0x01 bytes (ASCII, not NUL). It is over the
// inliner's budget, so NextRow's column loop has a copy of it.
func asciiShort(v []byte) bool {
	var w1, w2 uint64
	switch n := len(v); {
	case n >= 8:
		w1, w2 = binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[n-8:])
	case n >= 4:
		w1 = uint64(binary.LittleEndian.Uint32(v)) | uint64(binary.LittleEndian.Uint32(v[n-4:]))<<32
		w2 = w1
	case n > 0:
		w1 = wordLo&^0xFFFFFF | uint64(v[0]) | uint64(v[n>>1])<<8 | uint64(v[n-1])<<16
		w2 = w1
	default:
		return true
	}
	return ((w1-wordLo)|w1|(w2-wordLo)|w2)&wordHi == 0
}

// Masks of the eight bytes of a word.
const (
	wordHi = 0x8080808080808080
	wordLo = 0x0101010101010101
)

// wordASCIINoNUL reports whether no byte of w is zero or non-ASCII. Without
// a zero byte w-wordLo borrows nowhere and turns each byte c into c-1, whose
// high bit is set only for c >= 0x81 (w itself flags 0x80 and up); with one,
// the lowest zero byte becomes 0xFF. So a high bit of (w-wordLo)|w is set
// exactly when some byte is zero or non-ASCII.
func wordASCIINoNUL(w uint64) bool { return ((w-wordLo)|w)&wordHi == 0 }

// validTextRest checks b, which starts at a character boundary.
func validTextRest(b []byte) bool {
	return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// checkTextSlow finds the first offending byte at or after i; b[:i] is
// known to be valid.
func checkTextSlow(b []byte, i int) (ok bool, off int, r Reason) {
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return false, i, ReasonNULInText
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return false, i, ReasonInvalidUTF8
		}
		i += size
	}
	return true, -1, ReasonUnknown
}

// invalidUTF8At returns the offset of the first byte of s that is not part of
// a valid UTF-8 sequence, or len(s).
func invalidUTF8At(s []byte) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(s)
}

// CheckString checks a value that the frontend will send as a protocol
// String (SQL text, a statement or portal name, a CopyFail reason, a
// password, a startup parameter): it must be valid UTF-8 without NUL bytes.
// field names the value in the error.
func CheckString(field, s string) error {
	if ok, off, r := checkTextString(s); !ok {
		return textInputError(field, off, r)
	}
	return nil
}

// CheckTextParam checks a text-format parameter value: valid UTF-8 without
// NUL bytes. A nil value (SQL NULL) is always acceptable.
func CheckTextParam(field string, v []byte) error {
	if ok, off, r := CheckText(v); !ok {
		return textInputError(field, off, r)
	}
	return nil
}

func checkTextString(s string) (bool, int, Reason) {
	// The common case, text that is valid, costs one fast pass; only a
	// failure is located byte by byte. The bytes are only read.
	if validText(unsafe.Slice(unsafe.StringData(s), len(s))) {
		return true, -1, ReasonUnknown
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return false, i, ReasonNULInText
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false, i, ReasonInvalidUTF8
		}
		i += size
	}
	return true, -1, ReasonUnknown
}

func textInputError(field string, off int, r Reason) error {
	problem := "invalid UTF-8"
	if r == ReasonNULInText {
		problem = "NUL byte"
	}
	return &InputError{Field: field, Offset: off, Problem: problem}
}
