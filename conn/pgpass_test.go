package conn

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPassfileLookup(t *testing.T) {
	t.Parallel()
	content := "# comment line\n" +
		"\n" +
		"too:few:fields\n" +
		"db1:5432:app:alice:pw-exact\n" +
		"db1:*:*:alice:pw-wild-port\n" +
		`\:\:1:5432:app:alice:pw-ipv6` + "\n" +
		`star\*host:5432:app:alice:pw-literal-star` + "\n" +
		`db2:5432:app:bob:pw\:colon\\slash` + "\n" +
		"db3:5432:app:carol:first:ignored\n" +
		"db4:5432:app:dave:crlf\r\n" +
		"*:*:*:*:pw-fallback\n"
	p := parsePassfile(content)
	tests := []struct {
		name                 string
		host, port, db, user string
		want                 string
	}{
		{name: "exact", host: "db1", port: "5432", db: "app", user: "alice", want: "pw-exact"},
		{name: "first match wins", host: "db1", port: "5433", db: "app", user: "alice", want: "pw-wild-port"},
		{name: "wildcards", host: "db1", port: "1", db: "other", user: "alice", want: "pw-wild-port"},
		{name: "escaped colons in host", host: "::1", port: "5432", db: "app", user: "alice", want: "pw-ipv6"},
		{name: "escaped star is literal", host: "star*host", port: "5432", db: "app", user: "alice", want: "pw-literal-star"},
		{name: "escaped star does not wildcard", host: "starXhost", port: "5432", db: "app", user: "alice", want: "pw-fallback"},
		{name: "escapes in password", host: "db2", port: "5432", db: "app", user: "bob", want: `pw:colon\slash`},
		{name: "password ends at unescaped colon", host: "db3", port: "5432", db: "app", user: "carol", want: "first"},
		{name: "crlf line ending", host: "db4", port: "5432", db: "app", user: "dave", want: "crlf"},
		{name: "catch-all", host: "x", port: "1", db: "y", user: "z", want: "pw-fallback"},
		{name: "case sensitive", host: "DB1", port: "5432", db: "app", user: "alice", want: "pw-fallback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, p.lookup(tc.host, tc.port, tc.db, tc.user))
		})
	}

	assert.Empty(t, parsePassfile("db:5432:app:alice:pw").lookup("db", "5432", "app", "bob"), "no match")
	assert.Empty(t, (*passfileEntries)(nil).lookup("a", "b", "c", "d"), "nil file")
	assert.Equal(t, "pw", parsePassfile("db:5432:app:alice:pw").lookup("db", "5432", "app", "alice"), "no trailing newline")
}

func TestPassfileHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		host HostConfig
		want string
	}{
		{name: "name", host: HostConfig{Host: "db"}, want: "db"},
		{name: "hostaddr when no host", host: HostConfig{Hostaddr: "192.0.2.1"}, want: "192.0.2.1"},
		{name: "host beats hostaddr", host: HostConfig{Host: "db", Hostaddr: "192.0.2.1"}, want: "db"},
		{name: "empty", host: HostConfig{}, want: "localhost"},
		{name: "default socket directory", host: HostConfig{Host: "/var/run/postgresql"}, want: "localhost"},
		{name: "tmp socket directory with slash", host: HostConfig{Host: "/tmp/"}, want: "localhost"},
		{name: "other socket directory", host: HostConfig{Host: "/srv/pg"}, want: "/srv/pg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, passfileHost(tc.host))
		})
	}
}

// pgpassWrite writes a password file with the given mode and returns its path.
func pgpassWrite(tb testing.TB, content string, mode os.FileMode) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "pgpass")
	require.NoError(tb, os.WriteFile(path, []byte(content), 0o600))
	require.NoError(tb, os.Chmod(path, mode))
	return path
}

// pgpassLogger returns a logger that writes text records to buf.
func pgpassLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestReadPassfilePermissions(t *testing.T) {
	t.Parallel()
	const content = "*:*:*:*:filepw\n"
	tests := []struct {
		name    string
		mode    os.FileMode
		want    string // password found
		warning string // substring of the logged warning; "" for none
	}{
		{name: "owner read-write", mode: 0o600, want: "filepw"},
		{name: "owner read-only", mode: 0o400, want: "filepw"},
		{name: "group readable", mode: 0o640, warning: "group or world access"},
		{name: "world readable", mode: 0o604, warning: "group or world access"},
		{name: "group writable", mode: 0o620, warning: "group or world access"},
		{name: "group executable", mode: 0o610, warning: "group or world access"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := pgpassWrite(t, content, tc.mode)
			var logs bytes.Buffer
			got := readPassfile(path, osEnvironment(), pgpassLogger(&logs)).lookup("h", "5432", "d", "u")
			assert.Equal(t, tc.want, got)
			if tc.warning == "" {
				assert.NotContains(t, logs.String(), "level=WARN")
			} else {
				assert.Contains(t, logs.String(), "level=WARN")
				assert.Contains(t, logs.String(), tc.warning)
				assert.NotContains(t, logs.String(), "filepw", "the log shows no password")
			}
		})
	}
}

func TestReadPassfileMissingOrNotAFile(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	dir := t.TempDir()
	assert.Nil(t, readPassfile(filepath.Join(dir, "missing"), osEnvironment(), pgpassLogger(&logs)))
	assert.Empty(t, logs.String(), "a missing file is silent")

	assert.Nil(t, readPassfile(dir, osEnvironment(), pgpassLogger(&logs)))
	assert.Contains(t, logs.String(), "not a plain file")
}

func TestWithDefaultsPassfile(t *testing.T) {
	t.Parallel()
	content := "a:5432:app:alice:pw-a\n" +
		"b:5433:app:alice:pw-b\n" +
		"localhost:5432:app:alice:pw-socket\n"
	good := pgpassWrite(t, content, 0o600)
	unsafe := pgpassWrite(t, content, 0o644)
	hosts := []HostConfig{{Host: "a"}, {Host: "b", Port: 5433}, {Host: "/var/run/postgresql"}, {Host: "c"}}

	tests := []struct {
		name     string
		cfg      Config
		password []string // resolved password per host
	}{
		{name: "per host from file", cfg: Config{Passfile: good}, password: []string{"pw-a", "pw-b", "pw-socket", ""}},
		{name: "config password beats file", cfg: Config{Passfile: good, Password: "explicit"}, password: []string{"explicit", "explicit", "explicit", "explicit"}},
		{name: "unsafe file ignored", cfg: Config{Passfile: unsafe}, password: []string{"", "", "", ""}},
		{name: "no passfile", cfg: Config{}, password: []string{"", "", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.cfg
			c.Hosts = append([]HostConfig(nil), hosts...)
			c.User, c.Database = "alice", "app"
			d, err := c.withDefaults()
			require.NoError(t, err)
			got := make([]string, len(d.Hosts))
			for i, h := range d.Hosts {
				got[i] = h.Password
			}
			assert.Equal(t, tc.password, got)
			for _, h := range c.Hosts {
				assert.Empty(t, h.Password, "the caller's hosts are not modified")
			}
		})
	}

	t.Run("host password beats everything", func(t *testing.T) {
		t.Parallel()
		c := &Config{Hosts: []HostConfig{{Host: "a", Password: "mine"}}, User: "alice", Database: "app", Password: "global", Passfile: good}
		d, err := c.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, "mine", d.Hosts[0].Password)
	})
}

func TestParseConfigThenPassfile(t *testing.T) {
	t.Parallel()
	path := pgpassWrite(t, "h1:5432:db:u:one\nh2:6000:db:u:two\n", 0o600)
	env := cfgTestEnv(t, map[string]string{"PGPASSFILE": path})
	cfg := cfgMustParse(t, "host=h1,h2 port=5432,6000 user=u dbname=db", env)
	assert.Equal(t, path, cfg.Passfile)
	assert.Empty(t, cfg.Hosts[0].Password, "the file is read at connect time, not by ParseConfig")

	env.fileMode = osEnvironment().fileMode
	env.readFile = osEnvironment().readFile
	d, err := cfg.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, "one", d.Hosts[0].Password)
	assert.Equal(t, "two", d.Hosts[1].Password)
}
