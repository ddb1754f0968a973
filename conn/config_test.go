package conn

// White-box tests: they drive ParseConfig through the unexported environment
// seam so that no real PG* variable, OS user or file system state leaks in.

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

// cfgTestEnv returns a fake environment: the given variables, OS user
// "osuser" with home /home/osuser, and only the listed directories existing.
func cfgTestEnv(tb testing.TB, vars map[string]string, dirs ...string) *environment {
	tb.Helper()
	return &environment{
		lookupEnv: func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		},
		currentUser: func() (string, error) { return "osuser", nil },
		homeDir:     func() (string, error) { return "/home/osuser", nil },
		isDir: func(p string) bool {
			for _, d := range dirs {
				if d == p {
					return true
				}
			}
			return false
		},
		fileMode: func(string) (os.FileMode, error) { return 0, os.ErrNotExist },
		readFile: func(string) ([]byte, error) { return nil, os.ErrNotExist },
	}
}

// cfgMustParse parses s in env and fails the test on error.
func cfgMustParse(tb testing.TB, s string, env *environment) *Config {
	tb.Helper()
	cfg, _, err := parseConfig(s, env, nil)
	require.NoError(tb, err, "parse %q", s)
	return cfg
}

// cfgParseErr parses s in env, requires a *ParseConfigError and returns it.
func cfgParseErr(tb testing.TB, s string, env *environment) *ParseConfigError {
	tb.Helper()
	cfg, _, err := parseConfig(s, env, nil)
	require.Error(tb, err, "parse %q", s)
	assert.Nil(tb, cfg)
	var pe *ParseConfigError
	require.ErrorAs(tb, err, &pe)
	return pe
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dirs []string // directories that exist
		host string   // expected default host
	}{
		{name: "debian socket directory", dirs: []string{"/var/run/postgresql", "/tmp"}, host: "/var/run/postgresql"},
		{name: "tmp socket directory", dirs: []string{"/tmp"}, host: "/tmp"},
		{name: "no socket directory", host: "localhost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, s := range []string{"", "postgres://", "postgresql://"} {
				cfg := cfgMustParse(t, s, cfgTestEnv(t, nil, tc.dirs...))
				assert.Equal(t, []HostConfig{{Host: tc.host, Port: 5432}}, cfg.Hosts, "conn string %q", s)
				assert.Equal(t, "osuser", cfg.User)
				assert.Equal(t, "osuser", cfg.Database)
				assert.Empty(t, cfg.Password)
				assert.Equal(t, SSLModePrefer, cfg.SSLMode)
				assert.Equal(t, SSLNegotiationPostgres, cfg.SSLNegotiation)
				assert.Equal(t, ChannelBindingPrefer, cfg.ChannelBinding)
				assert.Nil(t, cfg.RequireAuth)
				assert.Equal(t, TargetSessionAttrsAny, cfg.TargetSessionAttrs)
				assert.Equal(t, ReplicationNone, cfg.Replication)
				assert.Equal(t, "/home/osuser/.pgpass", cfg.Passfile)
				assert.Equal(t, uint32(wire.ProtocolVersion30), cfg.MinProtocolVersion)
				assert.Equal(t, uint32(wire.ProtocolVersion32), cfg.MaxProtocolVersion)
				assert.Zero(t, cfg.ConnectTimeout)
				assert.Nil(t, cfg.RuntimeParams)
				assert.Nil(t, cfg.TLSConfig)
			}
		})
	}
}

func TestParseConfigUnknownOSUser(t *testing.T) {
	t.Parallel()
	env := cfgTestEnv(t, nil)
	env.currentUser = func() (string, error) { return "", errors.New("no passwd entry") }
	pe := cfgParseErr(t, "host=h", env)
	assert.Equal(t, "user", pe.Keyword)

	cfg := cfgMustParse(t, "host=h user=alice", env)
	assert.Equal(t, "alice", cfg.User, "an explicit user needs no OS lookup")
}

func TestParseConfigKeywords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		conn  string                    // connection string
		check func(*testing.T, *Config) // assertions on the result
	}{
		{name: "host", conn: "host=db.example.com", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "db.example.com", Port: 5432}}, c.Hosts)
		}},
		{name: "hostaddr", conn: "hostaddr=192.0.2.1", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Hostaddr: "192.0.2.1", Port: 5432}}, c.Hosts)
		}},
		{name: "host and hostaddr", conn: "host=db hostaddr=2001:db8::1", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "db", Hostaddr: "2001:db8::1", Port: 5432}}, c.Hosts)
		}},
		{name: "port", conn: "host=h port=6543", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint16(6543), c.Hosts[0].Port)
		}},
		{name: "empty port is default", conn: "host=h port=''", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint16(5432), c.Hosts[0].Port)
		}},
		{name: "user", conn: "user=alice", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "alice", c.User)
			assert.Equal(t, "alice", c.Database, "dbname defaults to the user")
		}},
		{name: "password", conn: "password=s3cret", check: func(t *testing.T, c *Config) { assert.Equal(t, "s3cret", c.Password) }},
		{name: "dbname", conn: "dbname=app", check: func(t *testing.T, c *Config) { assert.Equal(t, "app", c.Database) }},
		{name: "empty dbname is default", conn: "user=u dbname=''", check: func(t *testing.T, c *Config) { assert.Equal(t, "u", c.Database) }},
		{name: "sslmode disable", conn: "sslmode=disable", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeDisable, c.SSLMode) }},
		{name: "sslmode allow", conn: "sslmode=allow", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeAllow, c.SSLMode) }},
		{name: "sslmode prefer", conn: "sslmode=prefer", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModePrefer, c.SSLMode) }},
		{name: "sslmode require", conn: "sslmode=require", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeRequire, c.SSLMode) }},
		{name: "sslmode verify-ca", conn: "sslmode=verify-ca", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeVerifyCA, c.SSLMode) }},
		{name: "sslmode verify-full", conn: "sslmode=verify-full", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeVerifyFull, c.SSLMode) }},
		{name: "ssl files", conn: "sslrootcert=/r.pem sslcert=/c.pem sslkey=/k.pem sslpassword=kp", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "/r.pem", c.SSLRootCert)
			assert.Equal(t, "/c.pem", c.SSLCert)
			assert.Equal(t, "/k.pem", c.SSLKey)
			assert.Equal(t, "kp", c.SSLPassword)
		}},
		{name: "sslrootcert system implies verify-full", conn: "sslrootcert=system", check: func(t *testing.T, c *Config) {
			assert.Equal(t, SSLModeVerifyFull, c.SSLMode)
		}},
		{name: "sslnegotiation postgres", conn: "sslnegotiation=postgres", check: func(t *testing.T, c *Config) {
			assert.Equal(t, SSLNegotiationPostgres, c.SSLNegotiation)
		}},
		{name: "sslnegotiation direct", conn: "sslnegotiation=direct sslmode=require", check: func(t *testing.T, c *Config) {
			assert.Equal(t, SSLNegotiationDirect, c.SSLNegotiation)
		}},
		{name: "channel_binding disable", conn: "channel_binding=disable", check: func(t *testing.T, c *Config) {
			assert.Equal(t, ChannelBindingDisable, c.ChannelBinding)
		}},
		{name: "channel_binding require", conn: "channel_binding=require", check: func(t *testing.T, c *Config) {
			assert.Equal(t, ChannelBindingRequire, c.ChannelBinding)
		}},
		{name: "require_auth list", conn: "require_auth=scram-sha-256,md5", check: func(t *testing.T, c *Config) {
			assert.Equal(t, AuthMethods{AuthMethodMD5, AuthMethodSCRAMSHA256}, c.RequireAuth)
		}},
		{name: "require_auth negated", conn: "require_auth=!password,!none", check: func(t *testing.T, c *Config) {
			assert.Equal(t, AuthMethods{AuthMethodMD5, AuthMethodSCRAMSHA256}, c.RequireAuth)
		}},
		{name: "require_auth none only", conn: "require_auth=none", check: func(t *testing.T, c *Config) {
			assert.Equal(t, AuthMethods{AuthMethodNone}, c.RequireAuth)
		}},
		{name: "require_auth empty", conn: "require_auth=''", check: func(t *testing.T, c *Config) { assert.Nil(t, c.RequireAuth) }},
		{name: "connect_timeout", conn: "connect_timeout=10", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 10*time.Second, c.ConnectTimeout)
		}},
		{name: "connect_timeout 1 means 2", conn: "connect_timeout=1", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 2*time.Second, c.ConnectTimeout)
		}},
		{name: "connect_timeout zero", conn: "connect_timeout=0", check: func(t *testing.T, c *Config) { assert.Zero(t, c.ConnectTimeout) }},
		{name: "connect_timeout negative", conn: "connect_timeout=-5", check: func(t *testing.T, c *Config) { assert.Zero(t, c.ConnectTimeout) }},
		{name: "connect_timeout spaces", conn: "connect_timeout=' 7 '", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 7*time.Second, c.ConnectTimeout)
		}},
		{name: "application_name", conn: "application_name=app", check: func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"application_name": "app"}, c.RuntimeParams)
		}},
		{name: "fallback_application_name", conn: "fallback_application_name=fb", check: func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"application_name": "fb"}, c.RuntimeParams)
		}},
		{name: "application_name beats fallback", conn: "fallback_application_name=fb application_name=app", check: func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"application_name": "app"}, c.RuntimeParams)
		}},
		{name: "empty application_name uses fallback", conn: "application_name='' fallback_application_name=fb", check: func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"application_name": "fb"}, c.RuntimeParams)
		}},
		{name: "options", conn: "options='-c search_path=app -c statement_timeout=5s'", check: func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"options": "-c search_path=app -c statement_timeout=5s"}, c.RuntimeParams)
		}},
		{name: "target_session_attrs read-write", conn: "target_session_attrs=read-write", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsReadWrite, c.TargetSessionAttrs)
		}},
		{name: "target_session_attrs read-only", conn: "target_session_attrs=read-only", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsReadOnly, c.TargetSessionAttrs)
		}},
		{name: "target_session_attrs primary", conn: "target_session_attrs=primary", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsPrimary, c.TargetSessionAttrs)
		}},
		{name: "target_session_attrs standby", conn: "target_session_attrs=standby", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsStandby, c.TargetSessionAttrs)
		}},
		{name: "target_session_attrs prefer-standby", conn: "target_session_attrs=prefer-standby", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsPreferStandby, c.TargetSessionAttrs)
		}},
		{name: "target_session_attrs any", conn: "target_session_attrs=any", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsAny, c.TargetSessionAttrs)
		}},
		{name: "passfile", conn: "passfile=/etc/pgpass", check: func(t *testing.T, c *Config) { assert.Equal(t, "/etc/pgpass", c.Passfile) }},
		{name: "empty passfile disables it", conn: "passfile=''", check: func(t *testing.T, c *Config) { assert.Empty(t, c.Passfile) }},
		{name: "protocol versions", conn: "min_protocol_version=3.2 max_protocol_version=latest", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint32(wire.ProtocolVersion32), c.MinProtocolVersion)
			assert.Equal(t, uint32(wire.ProtocolVersion32), c.MaxProtocolVersion)
		}},
		{name: "max protocol 3.0", conn: "max_protocol_version=3.0", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint32(wire.ProtocolVersion30), c.MaxProtocolVersion)
		}},
		{name: "gssencmode disable", conn: "gssencmode=disable", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModePrefer, c.SSLMode) }},
		{name: "gssencmode prefer", conn: "gssencmode=prefer", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModePrefer, c.SSLMode) }},
		{name: "client_encoding utf8", conn: "client_encoding=UTF8", check: func(t *testing.T, c *Config) { assert.Nil(t, c.RuntimeParams) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, cfgMustParse(t, tc.conn, cfgTestEnv(t, nil)))
		})
	}
}

func TestParseConfigReplication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  ReplicationMode
	}{
		{"true", ReplicationPhysical}, {"on", ReplicationPhysical}, {"yes", ReplicationPhysical}, {"1", ReplicationPhysical},
		{"TRUE", ReplicationPhysical}, {"database", ReplicationLogical},
		{"false", ReplicationNone}, {"off", ReplicationNone}, {"no", ReplicationNone}, {"0", ReplicationNone}, {"''", ReplicationNone},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, cfgMustParse(t, "replication="+tc.value, cfgTestEnv(t, nil)).Replication)
		})
	}
}

func TestReplicationStartupValue(t *testing.T) {
	t.Parallel()
	assert.Empty(t, ReplicationNone.startupValue())
	assert.Equal(t, "true", ReplicationPhysical.startupValue())
	assert.Equal(t, "database", ReplicationLogical.startupValue())
}

func TestParseConfigKeywordSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		conn     string
		password string // expected Password
		host     string // expected first host
	}{
		{name: "quoted with space", conn: "host=h password='a b'", password: "a b", host: "h"},
		{name: "escaped quote inside quotes", conn: `host=h password='it\'s'`, password: "it's", host: "h"},
		{name: "escaped backslash", conn: `host=h password='a\\b'`, password: `a\b`, host: "h"},
		{name: "escaped space unquoted", conn: `host=h password=a\ b`, password: "a b", host: "h"},
		{name: "spaces around equals", conn: "host = h password =  pw", password: "pw", host: "h"},
		{name: "tabs and newlines", conn: "\thost=h\n\tpassword=pw\r\n", password: "pw", host: "h"},
		{name: "empty quoted value", conn: "host=h password=''", password: "", host: "h"},
		{name: "later duplicate wins", conn: "host=a host=b password=1 password=2", password: "2", host: "b"},
		{name: "equals sign inside value", conn: "host=h password=a=b", password: "a=b", host: "h"},
		{name: "ampersand inside value", conn: "host=h password=a&b", password: "a&b", host: "h"},
		{name: "quote after bare text is literal", conn: "host=h password=a'b", password: "a'b", host: "h"},
		// libpq skips whitespace after "=", so a missing value swallows the
		// next word.
		{name: "missing value takes the next word", conn: "host= password=pw", password: "", host: "password=pw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := cfgMustParse(t, tc.conn, cfgTestEnv(t, nil))
			assert.Equal(t, tc.password, cfg.Password)
			assert.Equal(t, tc.host, cfg.Hosts[0].Host)
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		conn    string
		keyword string // expected ParseConfigError.Keyword
		msg     string // substring of the error text
	}{
		{name: "missing equals", conn: "host localhost", keyword: "host", msg: `missing "=" after "host"`},
		{name: "missing equals at end", conn: "host=h dbname", keyword: "dbname", msg: `missing "=" after "dbname"`},
		{name: "empty keyword", conn: "=x", msg: "missing parameter name"},
		{name: "unterminated quote", conn: "host='h", keyword: "host", msg: "unterminated quoted string"},
		{name: "unknown keyword", conn: "host=h bogus=1", keyword: "bogus", msg: `unknown connection parameter "bogus"`},
		{name: "keywords are case sensitive", conn: "HOST=h", keyword: "HOST", msg: `unknown connection parameter "HOST"`},
		{name: "unsupported libpq keyword", conn: "service=prod", keyword: "service", msg: `unsupported connection parameter "service"`},
		{name: "unsupported sslcrl", conn: "sslcrl=/crl.pem", keyword: "sslcrl", msg: "unsupported"},
		{name: "invalid sslmode", conn: "sslmode=strict", keyword: "sslmode", msg: `invalid sslmode "strict"`},
		{name: "empty sslmode", conn: "sslmode=''", keyword: "sslmode", msg: `invalid sslmode ""`},
		{name: "invalid sslnegotiation", conn: "sslnegotiation=tls", keyword: "sslnegotiation", msg: "invalid sslnegotiation"},
		{name: "direct needs require", conn: "sslnegotiation=direct", keyword: "sslnegotiation", msg: `weak sslmode "prefer"`},
		{name: "direct with allow", conn: "sslnegotiation=direct sslmode=allow", keyword: "sslnegotiation", msg: `weak sslmode "allow"`},
		{name: "invalid channel_binding", conn: "channel_binding=maybe", keyword: "channel_binding", msg: "invalid channel_binding"},
		{name: "channel binding without tls", conn: "channel_binding=require sslmode=disable", keyword: "channel_binding", msg: "sslmode=disable"},
		{name: "system roots need verify-full", conn: "sslrootcert=system sslmode=require", keyword: "sslmode", msg: "sslrootcert=system"},
		{name: "require_auth unknown", conn: "require_auth=gss", keyword: "require_auth", msg: `unknown require_auth method "gss"`},
		{name: "require_auth mixed", conn: "require_auth=md5,!password", keyword: "require_auth", msg: "mixes negated"},
		{name: "require_auth duplicate", conn: "require_auth=md5,md5", keyword: "require_auth", msg: "more than once"},
		{name: "require_auth empty item", conn: "require_auth=md5,", keyword: "require_auth", msg: `unknown require_auth method ""`},
		{name: "require_auth excludes all", conn: "require_auth=!password,!md5,!scram-sha-256,!none", keyword: "require_auth", msg: "allows no"},
		{name: "connect_timeout text", conn: "connect_timeout=soon", keyword: "connect_timeout", msg: "invalid connect_timeout"},
		{name: "connect_timeout overflow", conn: "connect_timeout=99999999999", keyword: "connect_timeout", msg: "invalid connect_timeout"},
		{name: "invalid target_session_attrs", conn: "target_session_attrs=master", keyword: "target_session_attrs", msg: "invalid target_session_attrs"},
		{name: "invalid replication", conn: "replication=maybe", keyword: "replication", msg: "invalid replication"},
		{name: "invalid max protocol", conn: "max_protocol_version=3.1", keyword: "max_protocol_version", msg: "invalid max_protocol_version"},
		{name: "invalid min protocol", conn: "min_protocol_version=2.0", keyword: "min_protocol_version", msg: "invalid min_protocol_version"},
		{name: "min above max", conn: "min_protocol_version=3.2 max_protocol_version=3.0", keyword: "min_protocol_version", msg: "greater than"},
		{name: "gssencmode require", conn: "gssencmode=require", keyword: "gssencmode", msg: "not supported"},
		{name: "gssencmode invalid", conn: "gssencmode=always", keyword: "gssencmode", msg: "invalid gssencmode"},
		{name: "client_encoding latin1", conn: "client_encoding=LATIN1", keyword: "client_encoding", msg: "always uses UTF8"},
		{name: "port text", conn: "port=abc", keyword: "port", msg: `invalid port "abc"`},
		{name: "port zero", conn: "port=0", keyword: "port", msg: `invalid port "0"`},
		{name: "port too large", conn: "port=65536", keyword: "port", msg: `invalid port "65536"`},
		{name: "port with sign", conn: "port=+5432", keyword: "port", msg: "invalid port"},
		{name: "hostaddr not numeric", conn: "hostaddr=db.example.com", keyword: "hostaddr", msg: "not a numeric IP address"},
		{name: "nul in value", conn: "host=a\x00b", keyword: "host", msg: "host contains a NUL byte"},
		{name: "nul in password", conn: "password=a\x00b", keyword: "password", msg: "password contains a NUL byte"},
		{name: "invalid utf-8 in dbname", conn: "dbname=\xff", keyword: "dbname", msg: "dbname is not valid UTF-8"},
		{name: "invalid utf-8 in options", conn: "options=\xfe", keyword: "options", msg: "options is not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pe := cfgParseErr(t, tc.conn, cfgTestEnv(t, nil))
			assert.Equal(t, tc.keyword, pe.Keyword)
			assert.Contains(t, pe.Error(), tc.msg)
			assert.True(t, strings.HasPrefix(pe.Error(), "conn: cannot parse "), pe.Error())
		})
	}
}

func TestParseConfigInvalidUTF8Password(t *testing.T) {
	t.Parallel()
	// SCRAM accepts raw bytes, so only password and sslpassword may be non-UTF-8.
	cfg := cfgMustParse(t, "password=\xff\xfe sslpassword=\xfa", cfgTestEnv(t, nil))
	assert.Equal(t, "\xff\xfe", cfg.Password)
	assert.Equal(t, "\xfa", cfg.SSLPassword)
}

func TestParseConfigURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		conn  string
		check func(*testing.T, *Config) // assertions on the result
	}{
		{name: "full", conn: "postgres://alice:s3cret@db.example.com:6543/app?sslmode=require&application_name=web", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "alice", c.User)
			assert.Equal(t, "s3cret", c.Password)
			assert.Equal(t, []HostConfig{{Host: "db.example.com", Port: 6543}}, c.Hosts)
			assert.Equal(t, "app", c.Database)
			assert.Equal(t, SSLModeRequire, c.SSLMode)
			assert.Equal(t, map[string]string{"application_name": "web"}, c.RuntimeParams)
		}},
		{name: "postgresql scheme", conn: "postgresql://h/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "h", c.Hosts[0].Host)
			assert.Equal(t, "db", c.Database)
		}},
		{name: "user without password", conn: "postgres://bob@h", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "bob", c.User)
			assert.Empty(t, c.Password)
		}},
		{name: "empty password", conn: "postgres://bob:@h", check: func(t *testing.T, c *Config) { assert.Empty(t, c.Password) }},
		{name: "password only", conn: "postgres://:pw@h", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "osuser", c.User)
			assert.Equal(t, "pw", c.Password)
		}},
		{name: "percent-decoding", conn: "postgres://us%40er:p%3Aw%2F%3F%23%26@h/d%20b?application_name=a%26b", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "us@er", c.User)
			assert.Equal(t, "p:w/?#&", c.Password)
			assert.Equal(t, "d b", c.Database)
			assert.Equal(t, "a&b", c.RuntimeParams["application_name"])
		}},
		{name: "plus is not space", conn: "postgres://h/a+b", check: func(t *testing.T, c *Config) { assert.Equal(t, "a+b", c.Database) }},
		{name: "unencoded at sign in password", conn: "postgres://u:p@ss@h/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "p@ss", c.Password)
			assert.Equal(t, "h", c.Hosts[0].Host)
		}},
		{name: "at sign in query", conn: "postgres://h:5433/db?application_name=me@laptop", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "h", Port: 5433}}, c.Hosts)
			assert.Empty(t, c.Password)
			assert.Equal(t, "me@laptop", c.RuntimeParams["application_name"])
		}},
		{name: "socket directory", conn: "postgres://%2Fvar%2Frun%2Fpostgresql/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "/var/run/postgresql", Port: 5432}}, c.Hosts)
		}},
		{name: "socket directory in query", conn: "postgres:///db?host=/tmp&port=5433", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "/tmp", Port: 5433}}, c.Hosts)
			assert.Equal(t, "db", c.Database)
		}},
		{name: "query overrides authority", conn: "postgres://u@h1/db?host=h2&user=v", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "h2", c.Hosts[0].Host)
			assert.Equal(t, "v", c.User)
		}},
		{name: "ipv6", conn: "postgres://[::1]:5433/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "::1", Port: 5433}}, c.Hosts)
		}},
		{name: "ipv6 without port", conn: "postgres://[2001:db8::1]/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "2001:db8::1", Port: 5432}}, c.Hosts)
		}},
		{name: "ipv6 and name", conn: "postgres://u@[::1]:5432,db.example.com:5433/app", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "::1", Port: 5432}, {Host: "db.example.com", Port: 5433}}, c.Hosts)
		}},
		{name: "ssl=true", conn: "postgres://h?ssl=true", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeRequire, c.SSLMode) }},
		{name: "empty path", conn: "postgres://u@h/", check: func(t *testing.T, c *Config) { assert.Equal(t, "u", c.Database) }},
		{name: "trailing ampersand", conn: "postgres://h?sslmode=disable&", check: func(t *testing.T, c *Config) {
			assert.Equal(t, SSLModeDisable, c.SSLMode)
		}},
		{name: "query without path", conn: "postgres://h?dbname=x", check: func(t *testing.T, c *Config) { assert.Equal(t, "x", c.Database) }},
		{name: "port only", conn: "postgres://:5433/db", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "localhost", Port: 5433}}, c.Hosts)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, cfgMustParse(t, tc.conn, cfgTestEnv(t, nil)))
		})
	}
}

func TestParseConfigURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conn string
		msg  string // substring of the error text
	}{
		{name: "bad percent", conn: "postgres://h/d%zz", msg: "invalid percent-encoding in the database name"},
		{name: "truncated percent", conn: "postgres://h/d%2", msg: "invalid percent-encoding"},
		{name: "percent nul", conn: "postgres://h/d%00", msg: "%00 is not allowed"},
		{name: "percent nul in password", conn: "postgres://u:a%00b@h", msg: "password of the URL"},
		{name: "bad percent in user", conn: "postgres://u%g@h", msg: "user name of the URL"},
		{name: "bad percent in host", conn: "postgres://h%/db", msg: "host 1 of the URL"},
		{name: "unknown parameter", conn: "postgres://h/db?bogus=1", msg: `unknown connection parameter "bogus"`},
		{name: "runtime parameter is not a keyword", conn: "postgres://h/db?search_path=x", msg: `unknown connection parameter "search_path"`},
		{name: "missing equals", conn: "postgres://h/db?sslmode", msg: `missing "=" in URL query parameter "sslmode"`},
		{name: "empty parameter name", conn: "postgres://h/db?=x", msg: "empty URL query parameter name"},
		{name: "double ampersand", conn: "postgres://h/db?a=b&&c=d", msg: `missing "="`},
		{name: "bad port", conn: "postgres://h:port/db", msg: "invalid port for host 1 of the URL"},
		{name: "port out of range", conn: "postgres://h:70000/db", msg: "invalid port for host 1"},
		{name: "second port bad", conn: "postgres://a:1,b:x/db", msg: "invalid port for host 2"},
		{name: "unclosed bracket", conn: "postgres://[::1/db", msg: `missing "]"`},
		{name: "text after bracket", conn: "postgres://[::1]x/db", msg: `unexpected text after "]"`},
		{name: "empty brackets", conn: "postgres://[]/db", msg: "empty IPv6 address"},
		{name: "ssl other than true", conn: "postgres://h?ssl=false", msg: "only ssl=true"},
		{name: "nul in query value", conn: "postgres://h?application_name=a%00", msg: "%00"},
		{name: "invalid utf-8 in query", conn: "postgres://h?application_name=%ff", msg: "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pe := cfgParseErr(t, tc.conn, cfgTestEnv(t, nil))
			assert.Contains(t, pe.Error(), tc.msg)
		})
	}
}

func TestParseConfigMultiHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		conn  string
		hosts []HostConfig // expected result
	}{
		{name: "one port for all", conn: "host=a,b,c port=5433", hosts: []HostConfig{
			{Host: "a", Port: 5433}, {Host: "b", Port: 5433}, {Host: "c", Port: 5433}}},
		{name: "one port per host", conn: "host=a,b port=5432,5433", hosts: []HostConfig{
			{Host: "a", Port: 5432}, {Host: "b", Port: 5433}}},
		{name: "no port", conn: "host=a,b", hosts: []HostConfig{{Host: "a", Port: 5432}, {Host: "b", Port: 5432}}},
		{name: "empty port entry is default", conn: "host=a,b port=,5433", hosts: []HostConfig{
			{Host: "a", Port: 5432}, {Host: "b", Port: 5433}}},
		{name: "empty host entry is default", conn: "host=a,,b", hosts: []HostConfig{
			{Host: "a", Port: 5432}, {Host: "/tmp", Port: 5432}, {Host: "b", Port: 5432}}},
		{name: "socket and tcp", conn: "host=/tmp,db port=5432,6432", hosts: []HostConfig{
			{Host: "/tmp", Port: 5432}, {Host: "db", Port: 6432}}},
		{name: "abstract socket", conn: "host=@pg", hosts: []HostConfig{{Host: "@pg", Port: 5432}}},
		{name: "hostaddr list", conn: "hostaddr=192.0.2.1,192.0.2.2 port=1,2", hosts: []HostConfig{
			{Hostaddr: "192.0.2.1", Port: 1}, {Hostaddr: "192.0.2.2", Port: 2}}},
		{name: "host and hostaddr lists", conn: "host=a,b hostaddr=192.0.2.1,192.0.2.2", hosts: []HostConfig{
			{Host: "a", Hostaddr: "192.0.2.1", Port: 5432}, {Host: "b", Hostaddr: "192.0.2.2", Port: 5432}}},
		{name: "url hosts with ports", conn: "postgres://u@a:1,b:2/db", hosts: []HostConfig{{Host: "a", Port: 1}, {Host: "b", Port: 2}}},
		{name: "url host without port", conn: "postgres://a,b:2/db", hosts: []HostConfig{{Host: "a", Port: 5432}, {Host: "b", Port: 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := cfgMustParse(t, tc.conn, cfgTestEnv(t, nil, "/tmp"))
			assert.Equal(t, tc.hosts, cfg.Hosts)
		})
	}
}

func TestParseConfigMultiHostErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conn string
		msg  string // substring of the error text
	}{
		{name: "three hosts two ports", conn: "host=a,b,c port=1,2", msg: "could not match 2 port numbers to 3 hosts"},
		{name: "one host two ports", conn: "host=a port=1,2", msg: "could not match 2 port numbers to 1 hosts"},
		{name: "url three hosts two ports", conn: "postgres://a:1,b:2,c/db?port=1,2", msg: "could not match 2 port numbers to 3 hosts"},
		{name: "hosts and hostaddrs differ", conn: "host=a,b hostaddr=192.0.2.1", msg: "could not match 2 host names to 1 hostaddr values"},
		{name: "ports follow hostaddr count", conn: "hostaddr=192.0.2.1,192.0.2.2,192.0.2.3 port=1,2", msg: "could not match 2 port numbers to 3 hosts"},
		{name: "bad port in list", conn: "host=a,b port=1,x", msg: `invalid port "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pe := cfgParseErr(t, tc.conn, cfgTestEnv(t, nil))
			assert.Contains(t, pe.Error(), tc.msg)
		})
	}
}

func TestParseConfigEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   string // variable
		value string // its value
		check func(*testing.T, *Config)
	}{
		{name: "PGHOST", env: "PGHOST", value: "envhost,other", check: func(t *testing.T, c *Config) {
			assert.Equal(t, []HostConfig{{Host: "envhost", Port: 5432}, {Host: "other", Port: 5432}}, c.Hosts)
		}},
		{name: "PGHOSTADDR", env: "PGHOSTADDR", value: "192.0.2.9", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "192.0.2.9", c.Hosts[0].Hostaddr)
		}},
		{name: "PGPORT", env: "PGPORT", value: "7777", check: func(t *testing.T, c *Config) { assert.Equal(t, uint16(7777), c.Hosts[0].Port) }},
		{name: "PGUSER", env: "PGUSER", value: "envuser", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "envuser", c.User)
			assert.Equal(t, "envuser", c.Database)
		}},
		{name: "PGPASSWORD", env: "PGPASSWORD", value: "envpw", check: func(t *testing.T, c *Config) { assert.Equal(t, "envpw", c.Password) }},
		{name: "PGDATABASE", env: "PGDATABASE", value: "envdb", check: func(t *testing.T, c *Config) { assert.Equal(t, "envdb", c.Database) }},
		{name: "PGPASSFILE", env: "PGPASSFILE", value: "/env/pgpass", check: func(t *testing.T, c *Config) { assert.Equal(t, "/env/pgpass", c.Passfile) }},
		{name: "PGSSLMODE", env: "PGSSLMODE", value: "require", check: func(t *testing.T, c *Config) { assert.Equal(t, SSLModeRequire, c.SSLMode) }},
		{name: "PGSSLROOTCERT", env: "PGSSLROOTCERT", value: "/r", check: func(t *testing.T, c *Config) { assert.Equal(t, "/r", c.SSLRootCert) }},
		{name: "PGSSLCERT", env: "PGSSLCERT", value: "/c", check: func(t *testing.T, c *Config) { assert.Equal(t, "/c", c.SSLCert) }},
		{name: "PGSSLKEY", env: "PGSSLKEY", value: "/k", check: func(t *testing.T, c *Config) { assert.Equal(t, "/k", c.SSLKey) }},
		{name: "PGSSLNEGOTIATION", env: "PGSSLNEGOTIATION", value: "postgres", check: func(t *testing.T, c *Config) {
			assert.Equal(t, SSLNegotiationPostgres, c.SSLNegotiation)
		}},
		{name: "PGCHANNELBINDING", env: "PGCHANNELBINDING", value: "disable", check: func(t *testing.T, c *Config) {
			assert.Equal(t, ChannelBindingDisable, c.ChannelBinding)
		}},
		{name: "PGREQUIREAUTH", env: "PGREQUIREAUTH", value: "scram-sha-256", check: func(t *testing.T, c *Config) {
			assert.Equal(t, AuthMethods{AuthMethodSCRAMSHA256}, c.RequireAuth)
		}},
		{name: "PGCONNECT_TIMEOUT", env: "PGCONNECT_TIMEOUT", value: "3", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 3*time.Second, c.ConnectTimeout)
		}},
		{name: "PGAPPNAME", env: "PGAPPNAME", value: "envapp", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "envapp", c.RuntimeParams["application_name"])
		}},
		{name: "PGOPTIONS", env: "PGOPTIONS", value: "-c x=y", check: func(t *testing.T, c *Config) { assert.Equal(t, "-c x=y", c.RuntimeParams["options"]) }},
		{name: "PGTARGETSESSIONATTRS", env: "PGTARGETSESSIONATTRS", value: "standby", check: func(t *testing.T, c *Config) {
			assert.Equal(t, TargetSessionAttrsStandby, c.TargetSessionAttrs)
		}},
		{name: "PGMINPROTOCOLVERSION", env: "PGMINPROTOCOLVERSION", value: "3.2", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint32(wire.ProtocolVersion32), c.MinProtocolVersion)
		}},
		{name: "PGMAXPROTOCOLVERSION", env: "PGMAXPROTOCOLVERSION", value: "3.0", check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint32(wire.ProtocolVersion30), c.MaxProtocolVersion)
		}},
		{name: "PGGSSENCMODE", env: "PGGSSENCMODE", value: "disable", check: func(t *testing.T, c *Config) { assert.NotNil(t, c) }},
		{name: "empty variable is unset", env: "PGUSER", value: "", check: func(t *testing.T, c *Config) { assert.Equal(t, "osuser", c.User) }},
		{name: "PGCLIENTENCODING is ignored", env: "PGCLIENTENCODING", value: "LATIN1", check: func(t *testing.T, c *Config) { assert.Nil(t, c.RuntimeParams) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, cfgMustParse(t, "", cfgTestEnv(t, map[string]string{tc.env: tc.value})))
		})
	}
}

func TestParseConfigPrecedence(t *testing.T) {
	t.Parallel()
	env := cfgTestEnv(t, map[string]string{
		"PGHOST": "envhost", "PGPORT": "7000", "PGUSER": "envuser", "PGDATABASE": "envdb",
		"PGPASSWORD": "envpw", "PGSSLMODE": "disable", "PGAPPNAME": "envapp",
	})

	// The connection string beats the environment, parameter by parameter.
	cfg := cfgMustParse(t, "host=connhost user=connuser sslmode=require", env)
	assert.Equal(t, []HostConfig{{Host: "connhost", Port: 7000}}, cfg.Hosts)
	assert.Equal(t, "connuser", cfg.User)
	assert.Equal(t, "envdb", cfg.Database)
	assert.Equal(t, "envpw", cfg.Password)
	assert.Equal(t, SSLModeRequire, cfg.SSLMode)
	assert.Equal(t, "envapp", cfg.RuntimeParams["application_name"])

	cfg = cfgMustParse(t, "postgres://connuser:connpw@connhost:1/conndb?application_name=connapp", env)
	assert.Equal(t, []HostConfig{{Host: "connhost", Port: 1}}, cfg.Hosts)
	assert.Equal(t, "connpw", cfg.Password)
	assert.Equal(t, "conndb", cfg.Database)
	assert.Equal(t, "connapp", cfg.RuntimeParams["application_name"])

	// An explicitly empty value counts as set: it blocks the environment
	// and gives the built-in default.
	cfg = cfgMustParse(t, "host='' port='' dbname=''", env)
	assert.Equal(t, []HostConfig{{Host: "localhost", Port: 5432}}, cfg.Hosts)
	assert.Equal(t, "envuser", cfg.Database)

	// The environment beats the defaults.
	cfg = cfgMustParse(t, "", env)
	assert.Equal(t, []HostConfig{{Host: "envhost", Port: 7000}}, cfg.Hosts)
	assert.Equal(t, SSLModeDisable, cfg.SSLMode)
}

func TestParseConfigEnvironmentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		msg  string // substring of the error text
	}{
		{name: "invalid value names the variable", vars: map[string]string{"PGSSLMODE": "bogus"}, msg: `invalid sslmode "bogus" (from PGSSLMODE)`},
		{name: "bad port", vars: map[string]string{"PGPORT": "x"}, msg: "(from PGPORT)"},
		{name: "nul", vars: map[string]string{"PGUSER": "a\x00"}, msg: "user contains a NUL byte (from PGUSER)"},
		{name: "service", vars: map[string]string{"PGSERVICE": "prod"}, msg: "PGSERVICE is set but its setting is not supported"},
		{name: "crl", vars: map[string]string{"PGSSLCRL": "/crl"}, msg: "PGSSLCRL"},
		{name: "requirepeer", vars: map[string]string{"PGREQUIREPEER": "postgres"}, msg: "PGREQUIREPEER"},
		{name: "tls minimum", vars: map[string]string{"PGSSLMINPROTOCOLVERSION": "TLSv1.3"}, msg: "PGSSLMINPROTOCOLVERSION"},
		{name: "gss encryption required", vars: map[string]string{"PGGSSENCMODE": "require"}, msg: "(from PGGSSENCMODE)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pe := cfgParseErr(t, "host=h", cfgTestEnv(t, tc.vars))
			assert.Contains(t, pe.Error(), tc.msg)
		})
	}
}

func TestParseConfigErrorRedactsPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		conn   string
		secret string // must not appear in Error()
	}{
		{name: "keyword, bad sslmode", conn: "password=hunter2 sslmode=bad", secret: "hunter2"},
		{name: "keyword quoted", conn: "password='hunter 2' sslmode=bad", secret: "hunter 2"},
		{name: "keyword quoted escaped quote", conn: `password='hun\'ter2' sslmode=bad`, secret: "ter2"},
		{name: "keyword spaces around equals", conn: "password =  hunter2 sslmode=bad", secret: "hunter2"},
		{name: "keyword escaped space", conn: `password=hun\ ter2 sslmode=bad`, secret: "ter2"},
		{name: "keyword unterminated quote", conn: "sslmode=bad password='hunter2", secret: "hunter2"},
		{name: "keyword unquoted space, unknown word", conn: "password=hunter two=1", secret: "two"},
		{name: "keyword unquoted space, missing equals", conn: "password=hunter two", secret: "two"},
		{name: "keyword upper case", conn: "PASSWORD=hunter2", secret: "hunter2"},
		{name: "sslpassword", conn: "sslpassword=hunter2 sslmode=bad", secret: "hunter2"},
		{name: "password in another value", conn: "sslmode=password=hunter2", secret: "hunter2"},
		{name: "url userinfo, bad port", conn: "postgres://u:hunter2@h:bad/db", secret: "hunter2"},
		{name: "url userinfo, unknown parameter", conn: "postgres://u:hunter2@h/db?bogus=1", secret: "hunter2"},
		{name: "url password with slash", conn: "postgres://u:hun/ter2@h/db?bogus=1", secret: "hun"},
		{name: "url password with slash, port error", conn: "postgres://u:hun/ter2@h/db", secret: "hun"},
		{name: "url password with question mark", conn: "postgres://u:hun?ter2@h/db", secret: "hun"},
		{name: "url password with bad percent", conn: "postgres://u:hun%zzter2@h/db", secret: "hun"},
		{name: "url query password", conn: "postgres://h/db?password=hunter2&sslmode=bad", secret: "hunter2"},
		{name: "url query password with ampersand", conn: "postgres://h/db?password=hunter&two", secret: "two"},
		{name: "url query password with ampersand and equals", conn: "postgres://h/db?password=hunter&two=x", secret: "two"},
		{name: "postgresql scheme", conn: "postgresql://u:hunter2@h:0/db", secret: "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pe := cfgParseErr(t, tc.conn, cfgTestEnv(t, nil))
			msg := pe.Error()
			assert.NotContains(t, msg, tc.secret)
			assert.NotContains(t, pe.ConnString, tc.secret)
			assert.Contains(t, msg, "xxxxx", "the echoed string shows where the password was")
		})
	}
}

func TestRedactConnString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "url", in: "postgres://u:pw@h/db", want: "postgres://u:xxxxx@h/db"},
		{name: "url without password", in: "postgres://u@h:5432/db", want: "postgres://u@h:5432/db"},
		{name: "url host port only", in: "postgres://h:5432/db?sslmode=x", want: "postgres://h:5432/db?sslmode=x"},
		{name: "url query", in: "postgres://h/db?password=pw", want: "postgres://h/db?password=xxxxx"},
		{name: "keyword bare", in: "host=h password=pw port=1", want: "host=h password=xxxxx port=1"},
		{name: "keyword quoted", in: "password='p w' port=1", want: "password=xxxxx port=1"},
		{name: "keyword trailing words", in: "password=p w x port=1", want: "password=xxxxx port=1"},
		{name: "keyword trailing unknown pair", in: "password=p w=x port=1", want: "password=xxxxx port=1"},
		{name: "keyword spaces", in: "password = pw", want: "password = xxxxx"},
		{name: "sslpassword", in: "sslpassword=pw", want: "sslpassword=xxxxx"},
		{name: "empty value takes the next word", in: "password= port=1", want: "password= xxxxx"},
		{name: "no password", in: "host=h user=password", want: "host=h user=password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, redactConnString(tc.in))
		})
	}
}

func TestParseConfigErrorFormat(t *testing.T) {
	t.Parallel()
	inner := errors.New("inner")
	pe := &ParseConfigError{ConnString: "host=h", hasConnString: true, Keyword: "port", Msg: "bad port", Err: inner}
	assert.Equal(t, `conn: cannot parse "host=h": bad port: inner`, pe.Error())
	assert.ErrorIs(t, pe, inner)

	pe = &ParseConfigError{Msg: "bad"}
	assert.Equal(t, "conn: invalid configuration: bad", pe.Error())
	assert.NoError(t, pe.Unwrap())

	_, _, err := parseConfig("", cfgTestEnv(t, map[string]string{"PGSSLMODE": "x"}), nil)
	assert.True(t, strings.HasPrefix(err.Error(), `conn: cannot parse "": `), err.Error())
}

func TestConfigCopy(t *testing.T) {
	t.Parallel()
	assert.Nil(t, (*Config)(nil).Copy())

	orig := &Config{
		Hosts:         []HostConfig{{Host: "a", Port: 1}},
		User:          "u",
		RequireAuth:   AuthMethods{AuthMethodMD5},
		RuntimeParams: map[string]string{"k": "v"},
		TLSConfig:     &tls.Config{ServerName: "a", MinVersion: tls.VersionTLS12},
	}
	cp := orig.Copy()
	require.Equal(t, orig.User, cp.User)
	require.Equal(t, orig.Hosts, cp.Hosts)

	cp.Hosts[0].Host = "changed"
	cp.RequireAuth[0] = AuthMethodNone
	cp.RuntimeParams["k"] = "changed"
	cp.TLSConfig.ServerName = "changed"
	assert.Equal(t, "a", orig.Hosts[0].Host)
	assert.Equal(t, AuthMethodMD5, orig.RequireAuth[0])
	assert.Equal(t, "v", orig.RuntimeParams["k"])
	assert.Equal(t, "a", orig.TLSConfig.ServerName)
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	env := cfgTestEnv(t, map[string]string{"PGHOST": "must-not-be-read"}, "/tmp")

	t.Run("zero config", func(t *testing.T) {
		t.Parallel()
		caller := &Config{env: env}
		d, err := caller.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, []HostConfig{{Host: "/tmp", Port: 5432}}, d.Hosts, "the environment is ParseConfig's business")
		assert.Equal(t, "osuser", d.User)
		assert.Equal(t, "osuser", d.Database)
		assert.Equal(t, SSLModePrefer, d.SSLMode)
		assert.Equal(t, SSLNegotiationPostgres, d.SSLNegotiation)
		assert.Equal(t, ChannelBindingPrefer, d.ChannelBinding)
		assert.Equal(t, TargetSessionAttrsAny, d.TargetSessionAttrs)
		assert.Equal(t, uint32(wire.ProtocolVersion30), d.MinProtocolVersion)
		assert.Equal(t, uint32(wire.ProtocolVersion32), d.MaxProtocolVersion)
		assert.NotNil(t, d.DialFunc)
		assert.NotNil(t, d.LookupFunc)
		require.NotNil(t, d.Logger)
		assert.False(t, d.Logger.Enabled(t.Context(), slog.LevelError), "nil Logger means discard")

		assert.Empty(t, caller.Hosts, "the caller's Config is not modified")
		assert.Empty(t, caller.User)
		assert.Nil(t, caller.Logger)
	})
	t.Run("zero config plus host", func(t *testing.T) {
		t.Parallel()
		d, err := (&Config{Hosts: []HostConfig{{Host: "db"}}, env: env}).withDefaults()
		require.NoError(t, err)
		assert.Equal(t, []HostConfig{{Host: "db", Port: 5432}}, d.Hosts)
	})
	t.Run("explicit values kept", func(t *testing.T) {
		t.Parallel()
		c := &Config{
			Hosts: []HostConfig{{Hostaddr: "::1", Port: 1}}, User: "u", Database: "d",
			SSLMode: SSLModeVerifyCA, ChannelBinding: ChannelBindingRequire, MaxProtocolVersion: wire.ProtocolVersion30,
			env: env,
		}
		d, err := c.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, []HostConfig{{Hostaddr: "::1", Port: 1}}, d.Hosts)
		assert.Equal(t, "d", d.Database)
		assert.Equal(t, SSLModeVerifyCA, d.SSLMode)
		assert.Equal(t, uint32(wire.ProtocolVersion30), d.MaxProtocolVersion)
	})
}

func TestWithDefaultsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		keyword string // expected ParseConfigError.Keyword
	}{
		{name: "bad sslmode", cfg: Config{SSLMode: "strict"}, keyword: "sslmode"},
		{name: "bad sslnegotiation", cfg: Config{SSLNegotiation: "tls"}, keyword: "sslnegotiation"},
		{name: "direct with prefer", cfg: Config{SSLNegotiation: SSLNegotiationDirect}, keyword: "sslnegotiation"},
		{name: "bad channel binding", cfg: Config{ChannelBinding: "always"}, keyword: "channel_binding"},
		{name: "channel binding without tls", cfg: Config{ChannelBinding: ChannelBindingRequire, SSLMode: SSLModeDisable}, keyword: "channel_binding"},
		{name: "empty require_auth set", cfg: Config{RequireAuth: AuthMethods{}}, keyword: "require_auth"},
		{name: "unknown require_auth", cfg: Config{RequireAuth: AuthMethods{"gss"}}, keyword: "require_auth"},
		{name: "duplicate require_auth", cfg: Config{RequireAuth: AuthMethods{AuthMethodMD5, AuthMethodMD5}}, keyword: "require_auth"},
		{name: "negative timeout", cfg: Config{ConnectTimeout: -time.Second}, keyword: "connect_timeout"},
		{name: "bad target", cfg: Config{TargetSessionAttrs: "master"}, keyword: "target_session_attrs"},
		{name: "bad replication", cfg: Config{Replication: "both"}, keyword: "replication"},
		{name: "protocol 3.1", cfg: Config{MaxProtocolVersion: wire.ProtocolVersion30 + 1}, keyword: "max_protocol_version"},
		{name: "protocol 2.0", cfg: Config{MinProtocolVersion: 2 << 16}, keyword: "min_protocol_version"},
		{name: "min above max", cfg: Config{MinProtocolVersion: wire.ProtocolVersion32, MaxProtocolVersion: wire.ProtocolVersion30}, keyword: "min_protocol_version"},
		{name: "hostaddr not ip", cfg: Config{Hosts: []HostConfig{{Hostaddr: "db"}}}, keyword: "hostaddr"},
		{name: "nul in host", cfg: Config{Hosts: []HostConfig{{Host: "a\x00"}}}, keyword: "host"},
		{name: "nul in host password", cfg: Config{Hosts: []HostConfig{{Host: "a", Password: "\x00"}}}, keyword: "password"},
		{name: "nul in user", cfg: Config{User: "a\x00"}, keyword: "user"},
		{name: "invalid utf-8 database", cfg: Config{Database: "\xff"}, keyword: "dbname"},
		{name: "nul in password", cfg: Config{Password: "a\x00"}, keyword: "password"},
		{name: "nul in sslpassword", cfg: Config{SSLPassword: "a\x00"}, keyword: "sslpassword"},
		{name: "runtime param user", cfg: Config{RuntimeParams: map[string]string{"user": "x"}}, keyword: "user"},
		{name: "runtime param client_encoding", cfg: Config{RuntimeParams: map[string]string{"client_encoding": "LATIN1"}}, keyword: "client_encoding"},
		{name: "runtime param protocol option", cfg: Config{RuntimeParams: map[string]string{"_pq_.x": "1"}}, keyword: "_pq_.x"},
		{name: "runtime param nul value", cfg: Config{RuntimeParams: map[string]string{"search_path": "a\x00"}}, keyword: "search_path"},
		{name: "runtime param invalid utf-8", cfg: Config{RuntimeParams: map[string]string{"search_path": "\xff"}}, keyword: "search_path"},
		{name: "runtime param empty name", cfg: Config{RuntimeParams: map[string]string{"": "x"}}},
		{name: "runtime param nul name", cfg: Config{RuntimeParams: map[string]string{"a\x00": "x"}}},
		{name: "system roots with require", cfg: Config{SSLRootCert: "system", SSLMode: SSLModeRequire}, keyword: "sslmode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.cfg
			c.env = cfgTestEnv(t, nil)
			d, err := c.withDefaults()
			assert.Nil(t, d)
			var pe *ParseConfigError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.keyword, pe.Keyword)
			assert.True(t, strings.HasPrefix(err.Error(), "conn: invalid configuration: "), err.Error())
		})
	}
}

func TestHostConfigNetworkAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		host    HostConfig
		network string
		address string
		socket  bool // IsUnixSocket
	}{
		{name: "tcp name", host: HostConfig{Host: "db", Port: 6543}, network: "tcp", address: "db:6543"},
		{name: "tcp default port", host: HostConfig{Host: "db"}, network: "tcp", address: "db:5432"},
		{name: "ipv6", host: HostConfig{Host: "::1", Port: 5432}, network: "tcp", address: "[::1]:5432"},
		{name: "hostaddr wins", host: HostConfig{Host: "db", Hostaddr: "192.0.2.1", Port: 5432}, network: "tcp", address: "192.0.2.1:5432"},
		{name: "hostaddr beats socket", host: HostConfig{Host: "/tmp", Hostaddr: "::1", Port: 1}, network: "tcp", address: "[::1]:1"},
		{name: "socket directory", host: HostConfig{Host: "/var/run/postgresql", Port: 5433}, network: "unix", address: "/var/run/postgresql/.s.PGSQL.5433", socket: true},
		{name: "socket directory trailing slash", host: HostConfig{Host: "/tmp/"}, network: "unix", address: "/tmp/.s.PGSQL.5432", socket: true},
		{name: "root directory", host: HostConfig{Host: "/"}, network: "unix", address: "/.s.PGSQL.5432", socket: true},
		{name: "abstract socket", host: HostConfig{Host: "@pg", Port: 5432}, network: "unix", address: "@pg/.s.PGSQL.5432", socket: true},
		{name: "empty", host: HostConfig{}, network: "tcp", address: "localhost:5432"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			network, address := tc.host.NetworkAddress()
			assert.Equal(t, tc.network, network)
			assert.Equal(t, tc.address, address)
			assert.Equal(t, tc.socket, tc.host.IsUnixSocket())
		})
	}
}

func TestAuthMethodsAllows(t *testing.T) {
	t.Parallel()
	var unrestricted AuthMethods
	for _, m := range allAuthMethods {
		assert.True(t, unrestricted.Allows(m), "nil allows %s", m)
	}
	only := AuthMethods{AuthMethodSCRAMSHA256}
	assert.True(t, only.Allows(AuthMethodSCRAMSHA256))
	assert.False(t, only.Allows(AuthMethodMD5))
	assert.False(t, only.Allows(AuthMethodNone))
}

// TestParseConfigWithExtra checks keywords owned by another layer: returned
// with their values (quoted and URL-encoded ones decoded as any keyword),
// kept out of the connection's configuration, checked for NUL and UTF-8
// like every value, and other unknown keywords still refused.
func TestParseConfigWithExtra(t *testing.T) {
	env := cfgTestEnv(t, nil)
	isX := func(k string) bool { return strings.HasPrefix(k, "x_") }
	cfg, extras, err := parseConfig("host=h user=u x_a=1 x_b='two words\\'' dbname=d", env, isX)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"x_a": "1", "x_b": "two words'"}, extras)
	assert.Equal(t, "d", cfg.Database)
	assert.Empty(t, cfg.RuntimeParams["x_a"])

	_, extras, err = parseConfig("postgres://u@h/d?x_a=A%20B&sslmode=disable", env, isX)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"x_a": "A B"}, extras)

	_, extras, err = parseConfig("host=h user=u", env, isX)
	require.NoError(t, err)
	assert.Nil(t, extras)

	pe := cfgParseErr(t, "host=h y_a=1", env)
	assert.Equal(t, "y_a", pe.Keyword)
	_, _, err = parseConfig("postgres://u@h/d?x_a=%00", env, isX)
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "x_a", pe.Keyword)
}
