package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by the shared cluster.
const (
	// EnvTestDSN names an existing server (a postgres:// URL) to use instead
	// of starting one.
	EnvTestDSN = "PGSTRICT_TEST_DSN"
	// EnvRequireDB, when set to 1 (or true, yes, on), turns "no PostgreSQL
	// available" skips into failures. CI sets it.
	EnvRequireDB = "PGSTRICT_REQUIRE_DB"
)

// Time bounds of the shared cluster's life cycle.
const (
	clusterOpenTimeout = 3 * time.Minute // start-up incl. a container image pull
	clusterStopTimeout = time.Minute
	clusterDDLTimeout  = time.Minute // CREATE/DROP DATABASE
)

// clusterHowToGet tells a developer how to make a server available.
const clusterHowToGet = "install PostgreSQL server binaries (e.g. apt-get install postgresql), " +
	"make Docker reachable for testcontainers, or set " + EnvTestDSN + "=postgres://user:password@host:port/dbname"

// clusterUnavailableError says that no source could provide a server.
type clusterUnavailableError struct {
	reasons []string
}

func (e *clusterUnavailableError) Error() string {
	return "pgtest: no PostgreSQL server for tests (" + strings.Join(e.reasons, "; ") + "): " + clusterHowToGet
}

// clusterShared is the one cluster of this test binary. It is package-level
// state on purpose and the only such state in the package: a test binary is
// the unit that shares a cluster, MustCluster starts it lazily on first use,
// and Main, which runs once per binary, stops it.
var clusterShared clusterSharedState

// clusterSharedState holds the shared cluster of a test binary.
//
// clusterSharedState is safe for concurrent use by multiple goroutines.
type clusterSharedState struct {
	mu sync.Mutex
	// guards following fields
	opened  bool     // an open was attempted; cluster and err are final
	closed  bool     // Main stopped the cluster; no new open
	cluster *Cluster // nil when err is set
	err     error
}

// get returns the shared cluster, opening it on first use with open.
func (s *clusterSharedState) get(open func(ctx context.Context) (*Cluster, error)) (*Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("pgtest: the shared cluster was already stopped by Main")
	}
	if !s.opened {
		s.opened = true
		ctx, cancel := context.WithTimeout(context.Background(), clusterOpenTimeout)
		defer cancel()
		s.cluster, s.err = open(ctx)
	}
	return s.cluster, s.err
}

// stop stops the shared cluster, if one was opened.
func (s *clusterSharedState) stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop(ctx)
}

// clusterSources are the ways to get a server, injected so that the
// choice between them can be tested without them.
type clusterSources struct {
	dsn       func(ctx context.Context, dsn string) (*Cluster, error) // PGSTRICT_TEST_DSN
	local     func(ctx context.Context) (*Cluster, error)             // wraps ErrNoServerBinaries when absent
	container func(ctx context.Context) (*Cluster, error)             // wraps errClusterNoDocker when absent
}

// clusterDefaultSources are the real sources; log receives the ready line.
func clusterDefaultSources(log io.Writer) clusterSources {
	return clusterSources{
		dsn: clusterFromDSN,
		local: func(ctx context.Context) (*Cluster, error) {
			return StartCluster(ctx, ClusterOptions{Log: log})
		},
		container: func(ctx context.Context) (*Cluster, error) {
			c, err := clusterStartContainer(ctx)
			if err == nil {
				fmt.Fprintf(log, "pgtest: %s ready\n", c)
			}
			return c, err
		},
	}
}

// clusterOpen picks the first available source: EnvTestDSN, local binaries,
// testcontainers. Only "not available at all" is reported as
// *clusterUnavailableError; a source that exists but fails is an error.
func clusterOpen(ctx context.Context, getenv func(string) string, src clusterSources) (*Cluster, error) {
	if dsn := getenv(EnvTestDSN); dsn != "" {
		return src.dsn(ctx, dsn)
	}
	c, err := src.local(ctx)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ErrNoServerBinaries) {
		return nil, err
	}
	unavailable := &clusterUnavailableError{reasons: []string{EnvTestDSN + " is not set", err.Error()}}
	c, err = src.container(ctx)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, errClusterNoDocker) {
		return nil, err
	}
	unavailable.reasons = append(unavailable.reasons, err.Error())
	return nil, unavailable
}

// clusterRequireDB reports whether EnvRequireDB asks for failures instead
// of skips. Any value but "", 0, false, no and off counts as yes, so that a
// typo fails closed.
func clusterRequireDB(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv(EnvRequireDB))) {
	case "", "0", "false", "no", "off":
		return false
	default:
		return true
	}
}

// clusterSkipOrFail ends tb because what it needs is unavailable: Skip, or
// Fatal when EnvRequireDB is set.
func clusterSkipOrFail(tb testing.TB, getenv func(string) string, msg string) {
	tb.Helper()
	if clusterRequireDB(getenv) {
		tb.Fatal(msg + " (" + EnvRequireDB + " is set, so this is a failure)")
		return
	}
	tb.Skip(msg)
}

// SkipUnavailable ends tb because something it needs from the machine (a
// server, binaries) is missing: it skips tb with reason, or fails it when
// PGSTRICT_REQUIRE_DB=1.
func SkipUnavailable(tb testing.TB, reason string) {
	tb.Helper()
	clusterSkipOrFail(tb, os.Getenv, reason)
}

// MustCluster returns the cluster shared by every test of this binary,
// starting it on first use (from EnvTestDSN, local binaries or
// testcontainers, in that order). When no server can be had it skips tb
// with a message that says how to get one, or fails tb when
// PGSTRICT_REQUIRE_DB=1. A source that exists but fails fails tb. Use Main
// in TestMain so that the cluster is stopped when the tests end; a watchdog
// stops a managed cluster anyway if the binary dies.
func MustCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := clusterShared.get(func(ctx context.Context) (*Cluster, error) {
		return clusterOpen(ctx, os.Getenv, clusterDefaultSources(os.Stderr))
	})
	var unavailable *clusterUnavailableError
	switch {
	case errors.As(err, &unavailable):
		clusterSkipOrFail(tb, os.Getenv, err.Error())
	case err != nil:
		tb.Fatal(err)
	}
	return c
}

// RequireManaged returns the shared cluster when it is managed (our
// pg_hba.conf, roles and TLS files, see Cluster.Managed). Otherwise it skips
// tb with the reason, or fails it when PGSTRICT_REQUIRE_DB=1.
func RequireManaged(tb testing.TB) *Cluster {
	tb.Helper()
	c := MustCluster(tb)
	if !c.Managed() {
		clusterSkipOrFail(tb, os.Getenv, fmt.Sprintf(
			"pgtest: test needs a managed cluster (own pg_hba.conf, roles, TLS) but the server is %s; unset %s and install PostgreSQL server binaries",
			c, EnvTestDSN))
	}
	return c
}

// Main runs the tests of m and then stops and removes the shared cluster.
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// A failure to stop the cluster is printed and turns a passing exit code
// into 1.
func Main(m *testing.M) int {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStopTimeout)
	defer cancel()
	if err := clusterShared.stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Database is a database of its own for one test, created by MustDatabase
// and dropped when the test ends.
//
// Database is safe for concurrent use by multiple goroutines.
type Database struct {
	cluster *Cluster
	name    string
}

// databaseMaxName is PostgreSQL's identifier limit (NAMEDATALEN-1 bytes).
const databaseMaxName = 63

// MustDatabase creates a fresh database on the shared cluster, named after
// the test (sanitised, at most 63 bytes, with a random suffix), and drops it
// with DROP DATABASE ... WITH (FORCE) (PostgreSQL 13 or later) in
// tb.Cleanup. It skips or fails like MustCluster when no server is
// available.
func MustDatabase(tb testing.TB) *Database {
	tb.Helper()
	c := MustCluster(tb)
	name, err := databaseName(tb.Name(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterDDLTimeout)
	defer cancel()
	if err := c.Exec(ctx, "CREATE DATABASE "+adminQuoteIdent(name)); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), clusterDDLTimeout)
		defer cancel()
		if err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+adminQuoteIdent(name)+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return &Database{cluster: c, name: name}
}

// databaseName derives a database name from a test name: "t_", the test
// name lowercased with every byte outside [a-z0-9_] replaced by '_'
// (truncated to fit), "_" and 8 random hex digits; at most 63 bytes.
func databaseName(testName string, random io.Reader) (string, error) {
	var suffix [4]byte
	if _, err := io.ReadFull(random, suffix[:]); err != nil {
		return "", fmt.Errorf("pgtest: database name suffix: %w", err)
	}
	const prefix = "t_"
	tail := "_" + hex.EncodeToString(suffix[:])
	room := databaseMaxName - len(prefix) - len(tail)
	var b strings.Builder
	for i := 0; i < len(testName) && b.Len() < room; i++ {
		ch := testName[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_':
			b.WriteByte(ch)
		case ch >= 'A' && ch <= 'Z':
			b.WriteByte(ch + ('a' - 'A'))
		default:
			b.WriteByte('_')
		}
	}
	return prefix + b.String() + tail, nil
}

// Name returns the database name.
func (d *Database) Name() string { return d.name }

// Cluster returns the cluster the database lives on.
func (d *Database) Cluster() *Cluster { return d.cluster }

// URL returns a connection URL for role and this database; see
// Cluster.URL for params and for which roles exist.
func (d *Database) URL(role Role, params ...string) string {
	return d.cluster.URL(role, d.name, params...)
}

// AdminConfig returns a superuser admin connection configuration for this
// database.
func (d *Database) AdminConfig() AdminConfig {
	return d.cluster.AdminConfig(d.name)
}
