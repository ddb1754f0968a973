package pool

import (
	"hash/fnv"
	"strings"
	"unicode/utf8"
)

// maxFingerprint is the longest Statement of a QuarantineEvent, in bytes.
const maxFingerprint = 64

// normalizeSQL returns sql with comments removed, runs of whitespace
// collapsed to one space, and every literal (quoted strings, dollar-quoted
// strings, numbers) replaced by "?", so that the result names the statement
// without carrying its values. Identifiers, keywords and $n placeholders are
// kept. It is a fingerprint, not a parser: unusual input is cut short or
// masked, never echoed past a quote it cannot match.
func normalizeSQL(sql string) string {
	var b strings.Builder
	space := false
	emit := func(s string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
	}
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			space = true
			i++
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				i = len(sql)
			} else {
				i += j + 1
			}
			space = true
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
			space = true
		case c == '\'' || ((c == 'E' || c == 'e' || c == 'B' || c == 'b' || c == 'X' || c == 'x' || c == 'N' || c == 'n') &&
			i+1 < len(sql) && sql[i+1] == '\'' && !identByteBefore(sql, i)):
			if c != '\'' {
				i++
			}
			i = skipQuoted(sql, i, c == 'E' || c == 'e')
			emit("?")
		case c == '$' && dollarTagAt(sql, i) >= 0:
			tagEnd := dollarTagAt(sql, i)
			tag := sql[i : tagEnd+1]
			end := strings.Index(sql[tagEnd+1:], tag)
			if end < 0 {
				i = len(sql)
			} else {
				i = tagEnd + 1 + end + len(tag)
			}
			emit("?")
		case c >= '0' && c <= '9' && !identByteBefore(sql, i):
			j := i
			for j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '.' ||
				((sql[j] == '+' || sql[j] == '-') && (sql[j-1] == 'e' || sql[j-1] == 'E'))) {
				j++
			}
			i = j
			emit("?")
		case c == '.' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9' && !identByteBefore(sql, i):
			j := i + 1
			for j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '.') {
				j++
			}
			i = j
			emit("?")
		case c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(sql) {
				i = len(sql) // unterminated: drop the rest
				continue
			}
			emit(sql[i : j+1])
			i = j + 1
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			emit(sql[i:j])
			i = j
		case isIdentByte(c):
			j := i
			for j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '$') {
				j++
			}
			emit(sql[i:j])
			i = j
		default:
			_, n := utf8.DecodeRuneInString(sql[i:])
			emit(sql[i : i+n])
			i += n
		}
	}
	return b.String()
}

// fingerprint returns the Statement (cut to maxFingerprint bytes at a rune
// boundary) and StatementHash of sql.
func fingerprint(sql string) (string, uint64) {
	return cutFingerprint(normalizeSQL(sql))
}

// cutFingerprint returns n cut to maxFingerprint bytes at a rune boundary
// and the hash of the whole of n.
func cutFingerprint(n string) (string, uint64) {
	if n == "" {
		return "", 0
	}
	h := fnv.New64a()
	h.Write([]byte(n))
	if len(n) > maxFingerprint {
		cut := maxFingerprint
		for cut > 0 && !utf8.RuneStart(n[cut]) {
			cut--
		}
		n = n[:cut]
	}
	return n, h.Sum64()
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// identByteBefore reports whether the byte before i continues an
// identifier (so that the digit or quote at i belongs to it).
func identByteBefore(s string, i int) bool {
	return i > 0 && (isIdentByte(s[i-1]) || s[i-1] == '$')
}

// skipQuoted returns the index after the single-quoted string whose opening
// quote is at i. A doubled quote is a quote inside the string, and with
// backslashes (an E string) a backslash escapes the next byte. An
// unterminated string runs to the end.
func skipQuoted(s string, i int, backslashes bool) int {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			if backslashes {
				j += 2
				continue
			}
		case '\'':
			if j+1 < len(s) && s[j+1] == '\'' {
				j += 2
				continue
			}
			return j + 1
		}
		j++
	}
	return len(s)
}

// skipBlockComment returns the index after the (possibly nested) block
// comment that starts at i.
func skipBlockComment(s string, i int) int {
	depth := 0
	j := i
	for j < len(s) {
		switch {
		case strings.HasPrefix(s[j:], "/*"):
			depth++
			j += 2
		case strings.HasPrefix(s[j:], "*/"):
			depth--
			j += 2
			if depth == 0 {
				return j
			}
		default:
			j++
		}
	}
	return len(s)
}

// dollarTagAt returns the index of the closing '$' of a dollar-quote tag
// ($$ or $tag$) that starts at i, or -1.
func dollarTagAt(s string, i int) int {
	if identByteBefore(s, i) {
		return -1
	}
	j := i + 1
	if j < len(s) && s[j] >= '0' && s[j] <= '9' {
		return -1 // a $n placeholder
	}
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '$' {
		return j
	}
	return -1
}
