package replication

import (
	"strconv"
)

// LSN is a PostgreSQL write-ahead log position (pg_lsn): a byte offset into
// the WAL. Its text form is two hexadecimal numbers, the high and the low 32
// bits, separated by a slash ("16/B374D848").
type LSN uint64

// String returns the text form, upper-case hexadecimal without padding, as
// PostgreSQL up to version 17 prints it ("0/16B3748").
func (l LSN) String() string {
	var b [17]byte
	return string(l.AppendText(b[:0]))
}

// AppendText appends the text form of l to dst.
func (l LSN) AppendText(dst []byte) []byte {
	dst = appendUpperHex(dst, uint32(l>>32))
	dst = append(dst, '/')
	return appendUpperHex(dst, uint32(l))
}

func appendUpperHex(dst []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	var b [8]byte
	i := len(b)
	for {
		i--
		b[i] = digits[v&0xF]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// ParseLSN parses the text form of an LSN the way the pg_lsn input function
// does: one to eight hexadecimal digits (either case), a slash, one to eight
// hexadecimal digits, and nothing else.
func ParseLSN(s string) (LSN, error) {
	hi, rest, ok := cutHex(s)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return 0, &LSNSyntaxError{Text: s}
	}
	lo, rest, ok := cutHex(rest[1:])
	if !ok || rest != "" {
		return 0, &LSNSyntaxError{Text: s}
	}
	return LSN(hi)<<32 | LSN(lo), nil
}

// cutHex reads one to eight hexadecimal digits from the start of s.
func cutHex(s string) (uint32, string, bool) {
	n := 0
	var v uint32
	for n < len(s) && n < 9 {
		c := s[n]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return v, s[n:], n >= 1 && n <= 8
		}
		if n == 8 {
			return 0, s, false
		}
		v = v<<4 | uint32(d)
		n++
	}
	return v, s[n:], n >= 1 && n <= 8
}

// LSNSyntaxError reports text that is not an LSN.
type LSNSyntaxError struct {
	// Text is the input, quoted in the message.
	Text string
}

// Error implements error.
func (e *LSNSyntaxError) Error() string {
	return "replication: invalid LSN " + strconv.Quote(e.Text)
}
