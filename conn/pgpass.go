package conn

import (
	"errors"
	"io/fs"
	"log/slog"
	"runtime"
	"slices"
	"strings"
)

// Log attribute keys of the password file warnings.
const (
	logKeyPassfile     = "passfile"
	logKeyPassfileMode = "mode"
	logKeyPassfileErr  = "error"
)

// passfileEntries is the parsed content of a libpq password file. A nil
// *passfileEntries is an empty file.
type passfileEntries struct {
	entries []passfileEntry
}

// passfileEntry is one line: four patterns and a password.
type passfileEntry struct {
	fields   [4]string // host, port, database, user, unescaped
	wild     [4]bool   // the field was exactly "*" (unescaped) and matches anything
	password string
}

// readPassfile reads and parses the password file at path. Like libpq it
// returns nothing, silently, when the file does not exist or cannot be read,
// and nothing, with a warning, when it is not a regular file or (outside
// Windows) has any group or other permission bit set.
func readPassfile(path string, env *environment, logger *slog.Logger) *passfileEntries {
	mode, err := env.fileMode(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger.Debug("conn: cannot stat password file", logKeyPassfile, path, logKeyPassfileErr, err)
		}
		return nil
	}
	if !mode.IsRegular() {
		logger.Warn("conn: password file is not a plain file; ignoring it", logKeyPassfile, path)
		return nil
	}
	if runtime.GOOS != "windows" && mode.Perm()&0o077 != 0 {
		logger.Warn("conn: password file has group or world access; permissions should be u=rw (0600) or less; ignoring it",
			logKeyPassfile, path, logKeyPassfileMode, mode.Perm().String())
		return nil
	}
	data, err := env.readFile(path)
	if err != nil {
		logger.Debug("conn: cannot read password file", logKeyPassfile, path, logKeyPassfileErr, err)
		return nil
	}
	return parsePassfile(string(data))
}

// parsePassfile parses password file content: one
// hostname:port:database:username:password entry per line, '#' starting a
// comment line, a backslash escaping the next character ("\:" and "\\").
// Each of the first four fields is a literal value or exactly "*", which
// matches anything ("\*" is a literal '*'). Lines with fewer than five fields
// are skipped. The password ends at the first unescaped ':' (anything after it
// is ignored, as in libpq).
func parsePassfile(content string) *passfileEntries {
	p := &passfileEntries{}
	for line := range strings.Lines(content) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if e, ok := parsePassfileLine(line); ok {
			p.entries = append(p.entries, e)
		}
	}
	return p
}

func parsePassfileLine(line string) (passfileEntry, bool) {
	var e passfileEntry
	n := 0
	start := 0
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			b.WriteByte(line[i])
		case c == ':':
			if n == 4 {
				e.password = b.String()
				return e, true
			}
			e.fields[n] = b.String()
			e.wild[n] = line[start:i] == "*"
			b.Reset()
			n++
			start = i + 1
		default:
			b.WriteByte(c)
		}
	}
	if n < 4 {
		return passfileEntry{}, false
	}
	e.password = b.String()
	return e, true
}

// lookup returns the password of the first entry matching the four values,
// or "".
func (p *passfileEntries) lookup(host, port, database, user string) string {
	if p == nil {
		return ""
	}
	want := [4]string{host, port, database, user}
	for _, e := range p.entries {
		match := true
		for i := range want {
			if !e.wild[i] && e.fields[i] != want[i] {
				match = false
				break
			}
		}
		if match {
			return e.password
		}
	}
	return ""
}

// passfileHost is the host name a password file entry must match for h: Host,
// else Hostaddr, with "localhost" standing for an empty host and for the
// default socket directories, as in libpq.
func passfileHost(h HostConfig) string {
	host := h.Host
	if host == "" {
		host = h.Hostaddr
	}
	if host == "" || slices.Contains(defaultSocketDirs, strings.TrimRight(host, "/")) {
		return "localhost"
	}
	return host
}
