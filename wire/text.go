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
	if len(b) <= 16 {
		// Short values: eight bytes at a time while they are ASCII without NUL.
		const hi = 0x8080808080808080
		const lo = 0x0101010101010101
		i := 0
		for ; i+8 <= len(b); i += 8 {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&hi != 0 || (w-lo)&^w&hi != 0 {
				return checkTextSlow(b, i)
			}
		}
		for ; i < len(b); i++ {
			if c := b[i]; c == 0 || c >= utf8.RuneSelf {
				return checkTextSlow(b, i)
			}
		}
		return true, -1, ReasonUnknown
	}
	// Longer values: the vectorized NUL search and UTF-8 validation of the
	// standard library, then the slow path only to locate a failure.
	if bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) {
		return true, -1, ReasonUnknown
	}
	return checkTextSlow(b, 0)
}

// validText reports whether b is valid UTF-8 without NUL bytes, as CheckText
// does, without locating a failure: the fast paths fall back to the full
// check when it fails.
func validText(b []byte) bool { return asciiText(b) || validTextRest(b) }

// validValues reports whether every value vals[i] with text[i] set is
// valid text (validText); nil values are NULL. One call per row keeps the
// DataRow loop free of calls.
func validValues(vals [][]byte, text []bool) bool {
	text = text[:len(vals)]
	for i, v := range vals {
		if text[i] && !asciiText(v) && !validTextRest(v) {
			return false
		}
	}
	return true
}

// asciiText reports whether b is ASCII without NUL, the common case of text,
// without a loop up to 16 bytes and with asciiNoNUL beyond.
func asciiText(b []byte) bool {
	switch n := len(b); {
	case n >= 16:
		return asciiNoNUL(b)
	case n >= 8:
		// Two words, overlapping when n < 16.
		return wordASCIINoNUL(binary.LittleEndian.Uint64(b)) && wordASCIINoNUL(binary.LittleEndian.Uint64(b[n-8:]))
	case n >= 4:
		return wordASCIINoNUL(uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32)
	case n > 0:
		// b[0], b[n/2] and b[n-1] are every byte of a value of 1 to 3.
		// c-1 wraps NUL to 0xFF: one comparison finds NUL and non-ASCII.
		return b[0]-1 < utf8.RuneSelf-1 && b[n>>1]-1 < utf8.RuneSelf-1 && b[n-1]-1 < utf8.RuneSelf-1
	}
	return true
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
