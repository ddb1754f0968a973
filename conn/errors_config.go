package conn

import (
	"strconv"
	"strings"
)

// ParseConfigError reports an invalid connection string, environment variable
// or Config field; it is a plain value, safe to share. It is returned by
// ParseConfig and, for a Config that fails validation, when connecting.
//
// Error() never contains a password: the echoed connection string has the
// URL password and the value of every password= or sslpassword= parameter
// (quoted or not, in any letter case) replaced by "xxxxx", and messages never
// quote password values. For malformed strings the redaction errs on the side
// of hiding too much: from the first ':' after "://" to the last '@', and
// every word after a password value up to the next known keyword=value.
type ParseConfigError struct {
	// ConnString is the connection string with passwords redacted; empty when
	// the error concerns a Config built in code.
	ConnString string
	// Keyword is the connection parameter at fault, when one is; for
	// problems in a URL's user or host part it names the part.
	Keyword string
	// Msg describes the problem; it never contains a password.
	Msg string
	// Err is the underlying error, if any.
	Err error

	hasConnString bool // ConnString was echoed, even if it is empty
}

// Error implements the error interface.
func (e *ParseConfigError) Error() string {
	var b strings.Builder
	if e.hasConnString {
		b.WriteString("conn: cannot parse ")
		b.WriteString(strconv.Quote(e.ConnString))
	} else {
		b.WriteString("conn: invalid configuration")
	}
	b.WriteString(": ")
	b.WriteString(redactPasswords(e.Msg))
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(redactPasswords(e.Err.Error()))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ParseConfigError) Unwrap() error { return e.Err }

// redactionMark replaces redacted secrets.
const redactionMark = "xxxxx"

// redactConnString hides every password in a connection string, well-formed
// or not.
func redactConnString(s string) string {
	for _, prefix := range []string{"postgresql://", "postgres://"} {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			continue
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
				rest = rest[:colon+1] + redactionMark + rest[at:]
			}
		}
		s = prefix + rest
		break
	}
	return redactPasswords(s)
}

// redactPasswords hides the value after every "password" followed by
// optional spaces and "=" (so also "sslpassword="), ignoring letter case. A
// quoted value is hidden up to its closing quote (or the end); a bare value up
// to the next unescaped whitespace, together with the following words up to
// the next one that starts with a known parameter name and "=" (the rest of a
// password with unquoted spaces).
func redactPasswords(s string) string {
	const word = "password"
	lower := asciiLower(s)
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(lower[i:], word)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		k := i + j + len(word)
		m := skipSpaces(s, k)
		if m >= len(s) || s[m] != '=' {
			b.WriteString(s[i:k])
			i = k
			continue
		}
		m = skipSpaces(s, m+1)
		b.WriteString(s[i:m])
		b.WriteString(redactionMark)
		end := skipValue(s, m)
		for {
			t := skipSpaces(s, end)
			if t >= len(s) {
				break
			}
			w := skipBareWord(s, t)
			if k, _, ok := strings.Cut(s[t:w], "="); ok && isKnownParam(k) {
				break
			}
			end = w
		}
		i = end
	}
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// skipValue returns the end of the value starting at i: a quoted value up to
// its closing quote, or a bare word.
func skipValue(s string, i int) int {
	if i < len(s) && s[i] == '\'' {
		for i++; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '\'':
				return i + 1
			}
		}
		return len(s)
	}
	return skipBareWord(s, i)
}

// skipBareWord returns the index of the first unescaped whitespace at or
// after i.
func skipBareWord(s string, i int) int {
	for i < len(s) && !isSpace(s[i]) {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	return min(i, len(s))
}

// asciiLower lowers ASCII letters only, so byte offsets stay aligned with s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
