package scram

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// saslPrep prepares a password the way PostgreSQL does (SASLprep, RFC 4013,
// a stringprep profile of RFC 3454) before it enters PBKDF2, and falls back to
// the password's raw bytes wherever PostgreSQL does:
//
//   - a pure-ASCII password is used unchanged;
//   - a password that is not valid UTF-8 is used unchanged;
//   - otherwise non-ASCII spaces (RFC 3454 C.1.2) become U+0020, the
//     characters "commonly mapped to nothing" (B.1) are removed, and the
//     result is normalized to NFKC;
//   - if the result is empty, or contains a prohibited character (C.1.2,
//     C.2.1, C.2.2, C.3-C.9) or an unassigned code point, or breaks the
//     bidirectional rule (RFC 3454 §6), the raw password is used.
//
// As in PostgreSQL, the prohibition and bidi checks look at the normalized
// string.
//
// Known differences from PostgreSQL, all confined to non-ASCII passwords:
//
//   - "Unassigned" means unassigned in the Unicode version of the Go
//     standard library, not in Unicode 3.2 as RFC 3454 A.1 says.
//   - LCat (RFC 3454 D.2) is approximated by "letter or spacing mark that is
//     not RandALCat"; RandALCat (D.1) is exact.
//
// These differences only matter when the password also contains a character
// that the mapping step changes, because otherwise both outcomes (prepared or
// raw) are the same bytes.
func saslPrep(password string) string {
	if isASCII(password) || !utf8.ValidString(password) {
		return password
	}
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case isNonASCIISpace(r):
			mapped = append(mapped, ' ')
		case isMappedToNothing(r):
			// deleted
		default:
			mapped = append(mapped, r)
		}
	}
	// PostgreSQL normalizes before the prohibition and bidi checks, which
	// then look at the normalized string.
	mapped = []rune(normalizeNFKC(string(mapped)))
	if len(mapped) == 0 {
		return password
	}
	hasRandAL := false
	for _, r := range mapped {
		if isProhibited(r) || !isAssigned(r) {
			return password
		}
		if isRandALCat(r) {
			hasRandAL = true
		}
	}
	if hasRandAL {
		if !isRandALCat(mapped[0]) || !isRandALCat(mapped[len(mapped)-1]) {
			return password
		}
		for _, r := range mapped {
			if isLCat(r) {
				return password
			}
		}
	}
	return string(mapped)
}

// normalizeNFKC is the normalization step of SASLprep (RFC 4013 §2.2).
func normalizeNFKC(s string) string { return norm.NFKC.String(s) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

func inRanges(r rune, table []runeRange) bool {
	for _, rr := range table {
		if r < rr.lo {
			return false
		}
		if r <= rr.hi {
			return true
		}
	}
	return false
}

// RFC 3454 C.1.2, non-ASCII space characters.
var nonASCIISpace = []runeRange{
	{0x00A0, 0x00A0}, {0x1680, 0x1680}, {0x2000, 0x200B}, {0x202F, 0x202F},
	{0x205F, 0x205F}, {0x3000, 0x3000},
}

// RFC 3454 B.1, commonly mapped to nothing.
var mappedToNothing = []runeRange{
	{0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x1806, 0x1806}, {0x180B, 0x180D},
	{0x200B, 0x200D}, {0x2060, 0x2060}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF},
}

// RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9 merged
// into one sorted table (plane-end non-characters are checked separately).
var prohibitedOutput = []runeRange{
	{0x0000, 0x001F}, {0x007F, 0x009F}, {0x00A0, 0x00A0}, {0x0340, 0x0341},
	{0x06DD, 0x06DD}, {0x070F, 0x070F}, {0x1680, 0x1680}, {0x180E, 0x180E},
	{0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x2063}, {0x206A, 0x206F},
	{0x2FF0, 0x2FFB}, {0x3000, 0x3000}, {0xD800, 0xF8FF}, {0xFDD0, 0xFDEF},
	{0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFF}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001},
	{0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
}

// RFC 3454 D.1, characters with bidirectional property R or AL.
var randALCat = []runeRange{
	{0x05BE, 0x05BE}, {0x05C0, 0x05C0}, {0x05C3, 0x05C3}, {0x05D0, 0x05EA},
	{0x05F0, 0x05F4}, {0x061B, 0x061B}, {0x061F, 0x061F}, {0x0621, 0x063A},
	{0x0640, 0x064A}, {0x066D, 0x066F}, {0x0671, 0x06D5}, {0x06DD, 0x06DD},
	{0x06E5, 0x06E6}, {0x06FA, 0x06FE}, {0x0700, 0x070D}, {0x0710, 0x0710},
	{0x0712, 0x072C}, {0x0780, 0x07A5}, {0x07B1, 0x07B1}, {0x200F, 0x200F},
	{0xFB1D, 0xFB1D}, {0xFB1F, 0xFB28}, {0xFB2A, 0xFB36}, {0xFB38, 0xFB3C},
	{0xFB3E, 0xFB3E}, {0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFBB1},
	{0xFBD3, 0xFD3D}, {0xFD50, 0xFD8F}, {0xFD92, 0xFDC7}, {0xFDF0, 0xFDFC},
	{0xFE70, 0xFE74}, {0xFE76, 0xFEFC},
}

func isNonASCIISpace(r rune) bool   { return inRanges(r, nonASCIISpace) }
func isMappedToNothing(r rune) bool { return inRanges(r, mappedToNothing) }
func isRandALCat(r rune) bool       { return inRanges(r, randALCat) }

func isProhibited(r rune) bool {
	// C.4: the last two code points of every plane are non-characters.
	if r&0xFFFE == 0xFFFE {
		return true
	}
	return inRanges(r, prohibitedOutput)
}

func isAssigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

func isLCat(r rune) bool {
	return !isRandALCat(r) && unicode.In(r, unicode.L, unicode.Mc)
}
