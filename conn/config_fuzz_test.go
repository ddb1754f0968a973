package conn

import (
	"strings"
	"testing"
)

// This target has a file of its own: ClusterFuzzLite's go-118-fuzz-build
// compiles the file that declares a target against its "testing" shim,
// which lacks testing.TB and T.Context that the table tests of
// config_test.go use (.clusterfuzzlite/build.sh).

// FuzzParseConfig checks that ParseConfig never panics, that a successful
// parse yields at least one host, valid ports and no NUL in any string, and
// that an error never shows a password that follows "password=".
func FuzzParseConfig(f *testing.F) {
	// Seeds from the table tests, one per group.
	for _, s := range []string{
		"", "host=h port=5432 user=u password=SECRETxyz dbname=d",
		"host=a,b,c port=1,2 password=SECRETxyz",
		"password='SECRETxyz' sslmode=bad", "password=SECRETxyz two=1",
		`host=h password='it\'s' options='-c x=y'`, "host='unterminated",
		"postgres://u:SECRETxyz@h:5432/db?sslmode=require&application_name=x",
		"postgres://u:SECRETxyz@h:bad/db", "postgres://u:se/cret@h/db",
		"postgres://[::1]:5433,h2/db?target_session_attrs=read-write",
		"postgres://h/db?password=SECRETxyz&bogus=1", "postgresql://%2Ftmp/d%20b",
		"require_auth=!md5,!none channel_binding=require sslmode=verify-full",
		"sslnegotiation=direct sslmode=require replication=database connect_timeout=1",
	} {
		f.Add(s)
	}
	env := &environment{
		lookupEnv:   func(string) (string, bool) { return "", false },
		currentUser: func() (string, error) { return "osuser", nil },
		homeDir:     func() (string, error) { return "/home/osuser", nil },
		isDir:       func(string) bool { return false },
	}
	const secret = "SECRETxyz"
	f.Fuzz(func(t *testing.T, s string) {
		cfg, _, err := parseConfig(s, env, nil)
		if err != nil {
			// The property holds when the only occurrence of the secret is the
			// password value and no escape can forge another one elsewhere.
			if strings.Contains(s, "password="+secret) && strings.Count(s, secret) == 1 &&
				!strings.ContainsAny(s, `\%`) && strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if len(cfg.Hosts) == 0 {
			t.Fatal("no hosts")
		}
		strs := []string{cfg.User, cfg.Password, cfg.Database, cfg.SSLRootCert, cfg.SSLCert, cfg.SSLKey, cfg.SSLPassword, cfg.Passfile}
		for _, h := range cfg.Hosts {
			if h.Port == 0 {
				t.Fatalf("host %+v has port 0", h)
			}
			if h.Host == "" && h.Hostaddr == "" {
				t.Fatalf("host %+v has neither name nor address", h)
			}
			strs = append(strs, h.Host, h.Hostaddr, h.Password)
		}
		for k, v := range cfg.RuntimeParams {
			strs = append(strs, k, v)
		}
		for _, v := range strs {
			if strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("NUL in %q", v)
			}
		}
	})
}
