package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoServerBinaries is returned (wrapped) by StartCluster when no
// PostgreSQL server binaries (initdb, pg_ctl, postgres) can be found.
var ErrNoServerBinaries = errors.New("pgtest: no PostgreSQL server binaries found")

// ClusterOptions configures StartCluster. The zero value is valid.
type ClusterOptions struct {
	// BinDir is the directory holding initdb, pg_ctl and postgres. Zero
	// means discover it: `pg_config --bindir`, then the highest version of
	// /usr/lib/postgresql/*/bin, then the directory of initdb on PATH.
	BinDir string
	// TempDir is the parent of the cluster directory. Zero means /dev/shm
	// on Linux when it is a writable tmpfs with at least 2 GiB free (a
	// cluster in memory starts several times faster; fsync is off anyway),
	// else os.TempDir(). When the process runs as root the postgres OS user
	// must be able to reach it.
	TempDir string
	// Log receives one line when the cluster is ready: version, address and
	// start-up times. Nil means no line.
	Log io.Writer
	// TemplateCacheDir is where initdb's output is cached, keyed by the
	// binaries (path, size, modification time) and the initdb arguments,
	// so that later clusters copy it instead of running initdb (copying is
	// several times faster). Zero means
	// <os.UserCacheDir()>/pgstrict/pgtest-initdb.
	TemplateCacheDir string
	// NoTemplateCache disables that cache: every cluster runs initdb.
	NoTemplateCache bool
}

// Managed-cluster layout inside the cluster directory.
const (
	clusterDataSubdir = "data"
	clusterLogFile    = "postgres.log"
	// clusterStartAttempts bounds retries when the chosen port was taken
	// between probing and binding it.
	clusterStartAttempts = 3
	// clusterLogTailLines is how much of the server log a start error shows.
	clusterLogTailLines = 30
	// clusterOSUser is the OS user that runs PostgreSQL when we are root.
	clusterOSUser = "postgres"
)

// clusterHBA is the pg_hba.conf of a managed cluster. Order matters: the
// first matching line decides.
const clusterHBA = `# written by pgstrict internal/pgtest; first match wins
local   all          all                                trust
local   replication  all                                trust
host    all          pgstrict_trust     127.0.0.1/32    trust
hostssl all          pgstrict_cert      127.0.0.1/32    cert
host    all          pgstrict_password  127.0.0.1/32    password
host    all          pgstrict_md5       127.0.0.1/32    md5
host    all          pgstrict_scram     127.0.0.1/32    scram-sha-256
host    replication  pgstrict_repl      127.0.0.1/32    scram-sha-256
host    all          pgstrict_repl      127.0.0.1/32    scram-sha-256
host    all          all                127.0.0.1/32    scram-sha-256
`

// clusterLocal is the local-binaries part of a managed Cluster.
type clusterLocal struct {
	binDir   string
	dir      string   // cluster directory (removed by stop)
	dataDir  string   // PGDATA
	runAs    []string // command prefix that runs a program as the postgres OS user; nil when not root
	watchdog *clusterWatchdog
}

// StartCluster starts a throwaway PostgreSQL cluster from local binaries:
// initdb into a new directory under opts.TempDir, TLS files, pg_hba.conf,
// roles and settings as described in the package documentation, a free
// TCP port on 127.0.0.1 and a Unix socket in the cluster directory. The
// returned cluster is managed; Stop shuts it down and removes the directory.
// A watchdog process also does that if this process dies first. When no
// binaries can be found the error wraps ErrNoServerBinaries. ctx bounds the
// start-up only.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	began := time.Now()
	binDir := opts.BinDir
	if binDir == "" {
		found, err := clusterFindBinDir(ctx, clusterLookups{
			pgConfig: func(ctx context.Context) (string, error) {
				out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output()
				return strings.TrimSpace(string(out)), err
			},
			glob:     filepath.Glob,
			lookPath: exec.LookPath,
			isServer: clusterIsServerBinDir,
		})
		if err != nil {
			return nil, err
		}
		binDir = found
	} else if !clusterIsServerBinDir(binDir) {
		return nil, fmt.Errorf("%w: %s lacks initdb, pg_ctl or postgres", ErrNoServerBinaries, binDir)
	}

	local := &clusterLocal{binDir: binDir}
	var uid, gid int
	if os.Geteuid() == 0 {
		var err error
		uid, gid, err = clusterEnsureOSUser(ctx)
		if err != nil {
			return nil, err
		}
		local.runAs = []string{"runuser", "-u", clusterOSUser, "--"}
	}

	tempDir := opts.TempDir
	if tempDir == "" {
		tempDir = clusterDefaultTempDir()
	}
	dir, err := os.MkdirTemp(tempDir, "pgstrict-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: create cluster directory: %w", err)
	}
	local.dir = dir
	local.dataDir = filepath.Join(dir, clusterDataSubdir)
	if local.runAs != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: chown cluster directory: %w", err)
		}
	}
	// From here on the watchdog removes the directory (and stops the server)
	// if this process dies, and abandon does it if start-up fails.
	local.watchdog, err = clusterStartWatchdog(dir, local.dataDir, local.command(filepath.Join(binDir, "pg_ctl")))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	started := false
	abandon := func(cause error) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if started {
			// Best effort: a postmaster whose directory is gone exits by
			// itself once it notices its lock file is missing.
			_ = local.stopServer(ctx, "immediate")
		}
		if err := errors.Join(local.removeDir(), local.watchdog.release()); err != nil {
			return fmt.Errorf("%w (cleanup: %w)", cause, err)
		}
		return cause
	}

	// initdb, or a copy of its cached output
	t0 := time.Now()
	cacheDir := opts.TemplateCacheDir
	if cacheDir == "" {
		cacheDir = clusterDefaultTemplateCache()
	}
	if opts.NoTemplateCache {
		cacheDir = ""
	}
	fromCache, err := local.initData(ctx, cacheDir)
	if err != nil {
		return nil, abandon(err)
	}
	certs, err := certsGenerate(dir, rand.Reader, time.Now())
	if err != nil {
		return nil, abandon(fmt.Errorf("pgtest: tls files: %w", err))
	}
	if local.runAs != nil {
		for _, f := range []string{certs.caFile, certs.serverCertFile, certs.serverKeyFile} {
			if err := os.Chown(f, uid, gid); err != nil {
				return nil, abandon(fmt.Errorf("pgtest: chown %s: %w", filepath.Base(f), err))
			}
		}
	}
	if err := os.WriteFile(filepath.Join(local.dataDir, "pg_hba.conf"), []byte(clusterHBA), 0o600); err != nil {
		return nil, abandon(fmt.Errorf("pgtest: write pg_hba.conf: %w", err))
	}
	initDur := time.Since(t0)

	// start, retrying with a new port when the probed one was taken
	t1 := time.Now()
	var port int
	for attempt := 1; ; attempt++ {
		port, err = clusterFreePort(ctx)
		if err != nil {
			return nil, abandon(err)
		}
		if err := clusterAppendFile(filepath.Join(local.dataDir, "postgresql.conf"),
			clusterSettings(dir, port, certs)); err != nil {
			return nil, abandon(fmt.Errorf("pgtest: write postgresql.conf: %w", err))
		}
		out, err := local.run(ctx, "pg_ctl", "-D", local.dataDir, "-l", filepath.Join(dir, clusterLogFile),
			"-w", "-t", "60", "start")
		if err == nil {
			started = true
			break
		}
		// pg_ctl may have left a postmaster behind after a timeout.
		started = true
		logTail := clusterTail(clusterReadFile(filepath.Join(dir, clusterLogFile)), clusterLogTailLines)
		if attempt < clusterStartAttempts && strings.Contains(logTail, "could not bind") {
			_ = local.stopServer(ctx, "immediate")
			started = false
			continue
		}
		return nil, abandon(fmt.Errorf("pgtest: pg_ctl start: %w\n%s\nserver log (tail):\n%s",
			err, strings.TrimSpace(string(out)), logTail))
	}
	startDur := time.Since(t1)

	// roles, grants, version
	t2 := time.Now()
	c := &Cluster{
		source:    clusterSourceLocal,
		host:      "127.0.0.1",
		port:      port,
		socketDir: dir,
		managed:   true,
		dir:       dir,
		certs:     certs,
		admin: AdminConfig{
			Network:  "unix",
			Address:  filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port)),
			User:     string(RoleSuperuser),
			Database: "postgres",
		},
		urlBase: url.URL{
			Scheme: "postgres",
			User:   url.UserPassword(string(RoleSuperuser), PasswordSuperuser),
			Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		},
	}
	if err := c.clusterSetup(ctx); err != nil {
		return nil, abandon(fmt.Errorf("pgtest: set up roles: %w", err))
	}
	setupDur := time.Since(t2)

	c.stopFunc = func(ctx context.Context) error {
		if err := local.stopServer(ctx, "fast"); err != nil {
			// Leave the rest to the watchdog, which stops in immediate mode.
			return errors.Join(fmt.Errorf("pgtest: pg_ctl stop: %w", err), local.watchdog.trigger())
		}
		return errors.Join(local.removeDir(), local.watchdog.release())
	}
	if opts.Log != nil {
		initWhat := "initdb"
		if fromCache {
			initWhat = "initdb from cache"
		}
		fmt.Fprintf(opts.Log, "pgtest: throwaway PostgreSQL %s at 127.0.0.1:%d ready in %s (%s %s, start %s, setup %s)\n",
			clusterShortVersion(c.versionText), port, clusterSeconds(time.Since(began)),
			initWhat, clusterSeconds(initDur), clusterSeconds(startDur), clusterSeconds(setupDur))
	}
	return c, nil
}

// clusterSettings returns the postgresql.conf lines of a managed cluster.
// Appended last, they override initdb's values.
func clusterSettings(dir string, port int, certs certsFiles) string {
	settings := []struct{ name, value string }{
		{"listen_addresses", adminQuoteLiteral("127.0.0.1")},
		{"port", strconv.Itoa(port)},
		{"unix_socket_directories", adminQuoteLiteral(dir)},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"wal_level", "logical"},
		{"max_wal_senders", "10"},
		{"max_replication_slots", "10"},
		{"max_prepared_transactions", "10"},
		{"max_connections", "200"},
		{"ssl", "on"},
		{"ssl_cert_file", adminQuoteLiteral(certs.serverCertFile)},
		{"ssl_key_file", adminQuoteLiteral(certs.serverKeyFile)},
		{"ssl_ca_file", adminQuoteLiteral(certs.caFile)},
		{"password_encryption", adminQuoteLiteral("scram-sha-256")},
	}
	var b strings.Builder
	b.WriteString("\n# written by pgstrict internal/pgtest\n")
	for _, s := range settings {
		fmt.Fprintf(&b, "%s = %s\n", s.name, s.value)
	}
	return b.String()
}

// clusterSetup creates the roles, opens schema public of template1 and
// postgres to every role, and reads the server version.
func (c *Cluster) clusterSetup(ctx context.Context) error {
	ac, err := AdminConnect(ctx, c.admin)
	if err != nil {
		return err
	}
	defer func() { _ = ac.Close(ctx) }()
	stmts := []string{
		"SET password_encryption = 'scram-sha-256'",
		fmt.Sprintf("ALTER ROLE %s PASSWORD %s", adminQuoteIdent(string(RoleSuperuser)), adminQuoteLiteral(PasswordSuperuser)),
	}
	create := func(role Role, extra string) {
		stmt := fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB%s", adminQuoteIdent(string(role)), extra)
		if pw := role.Password(); pw != "" {
			stmt += " PASSWORD " + adminQuoteLiteral(pw)
		}
		stmts = append(stmts, stmt)
	}
	create(RoleTrust, "")
	create(RolePassword, "")
	create(RoleSCRAM, "")
	create(RoleCert, "")
	create(RoleReplication, " REPLICATION")
	stmts = append(stmts, "SET password_encryption = 'md5'")
	create(RoleMD5, "")
	stmts = append(stmts, "GRANT ALL ON SCHEMA public TO PUBLIC")
	if err := ac.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
		return err
	}
	if err := c.clusterLoadVersion(ctx, ac); err != nil {
		return err
	}
	// New databases are copies of template1: open its schema public too.
	if _, err := adminOnce(ctx, c.AdminConfig("template1"), "GRANT ALL ON SCHEMA public TO PUBLIC"); err != nil {
		return fmt.Errorf("template1: %w", err)
	}
	return nil
}

// clusterLookups are the environment probes of clusterFindBinDir, injected
// so that the search order can be tested without real binaries.
type clusterLookups struct {
	pgConfig func(ctx context.Context) (string, error) // output of pg_config --bindir
	glob     func(pattern string) ([]string, error)
	lookPath func(file string) (string, error)
	isServer func(dir string) bool // dir holds initdb, pg_ctl and postgres
}

// clusterFindBinDir returns the first directory with server binaries, in
// this order: pg_config --bindir, /usr/lib/postgresql/*/bin (highest major
// version first), the directory of initdb on PATH (symlinks resolved).
func clusterFindBinDir(ctx context.Context, look clusterLookups) (string, error) {
	var tried []string
	if dir, err := look.pgConfig(ctx); err == nil && dir != "" {
		if look.isServer(dir) {
			return dir, nil
		}
		tried = append(tried, dir+" (pg_config --bindir)")
	}
	if dirs, err := look.glob("/usr/lib/postgresql/*/bin"); err == nil {
		slices.SortFunc(dirs, func(a, b string) int {
			return clusterMajorOf(b) - clusterMajorOf(a) // highest first
		})
		for _, dir := range dirs {
			if look.isServer(dir) {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	}
	if p, err := look.lookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		dir := filepath.Dir(p)
		if look.isServer(dir) {
			return dir, nil
		}
		tried = append(tried, dir+" (initdb on PATH)")
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("%w (no pg_config, no /usr/lib/postgresql/*/bin, no initdb on PATH)", ErrNoServerBinaries)
	}
	return "", fmt.Errorf("%w (incomplete: %s)", ErrNoServerBinaries, strings.Join(tried, ", "))
}

// clusterMajorOf extracts N from /usr/lib/postgresql/N/bin; -1 when N is
// not a number.
func clusterMajorOf(binDir string) int {
	n, err := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	if err != nil {
		return -1
	}
	return n
}

// clusterIsServerBinDir reports whether dir holds executable initdb, pg_ctl
// and postgres.
func clusterIsServerBinDir(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// clusterEnsureOSUser returns the uid and gid of the postgres OS user,
// creating it with useradd --system when it does not exist.
func clusterEnsureOSUser(ctx context.Context) (uid, gid int, err error) {
	u, err := user.Lookup(clusterOSUser)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		out, addErr := exec.CommandContext(ctx, "useradd", "--system", clusterOSUser).CombinedOutput()
		if addErr != nil {
			return 0, 0, fmt.Errorf("pgtest: running as root, PostgreSQL must run as OS user %q, which does not exist and useradd --system %s failed: %w: %s",
				clusterOSUser, clusterOSUser, addErr, strings.TrimSpace(string(out)))
		}
		u, err = user.Lookup(clusterOSUser)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: look up OS user %q: %w", clusterOSUser, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("pgtest: uid of %q: %w", clusterOSUser, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("pgtest: gid of %q: %w", clusterOSUser, err)
	}
	return uid, gid, nil
}

// command returns argv that runs program (a path) as the postgres OS user
// when we are root.
func (l *clusterLocal) command(program string, args ...string) []string {
	argv := slices.Clone(l.runAs)
	argv = append(argv, program)
	return append(argv, args...)
}

// run runs one of the server programs to completion and returns its
// combined output. Output is never left connected to our stdout or stderr:
// go test would wait for a background server holding them.
func (l *clusterLocal) run(ctx context.Context, program string, args ...string) ([]byte, error) {
	argv := l.command(filepath.Join(l.binDir, program), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Env = clusterChildEnv(os.Environ())
	cmd.WaitDelay = 5 * time.Second // a stray child holding the pipe must not hang us
	err := cmd.Run()
	return out.Bytes(), err
}

// clusterChildEnv drops libpq variables (PGDATA, PGPORT, PGHOST, ...) that
// would redirect initdb or pg_ctl, and fixes the locale.
func clusterChildEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}

// stopServer runs pg_ctl stop in the given shutdown mode and waits for it.
func (l *clusterLocal) stopServer(ctx context.Context, mode string) error {
	out, err := l.run(ctx, "pg_ctl", "-D", l.dataDir, "-m", mode, "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeDir deletes the cluster directory.
func (l *clusterLocal) removeDir() error {
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("pgtest: remove cluster directory: %w", err)
	}
	return nil
}

// clusterFreePort asks the kernel for a free TCP port on 127.0.0.1. The port
// is released before PostgreSQL binds it; StartCluster retries on a clash.
func clusterFreePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	return port, nil
}

// clusterAppendFile appends text to an existing file, keeping its owner and
// mode.
func clusterAppendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// clusterReadFile returns a file's content, or a note saying why not.
func clusterReadFile(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return []byte(fmt.Sprintf("(cannot read %s: %v)", filepath.Base(path), err))
	}
	return b
}

// clusterTail returns the last n lines of text.
func clusterTail(text []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clusterSeconds formats a duration as seconds with two decimals.
func clusterSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}
