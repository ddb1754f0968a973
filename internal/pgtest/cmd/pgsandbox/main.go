// Command pgsandbox starts a throwaway PostgreSQL cluster, the same one the
// tests of pgstrict use (internal/pgtest), for demos and manual work.
//
// Usage:
//
//	pgsandbox [-hold] [-- command args...]
//
// It prints DATABASE_URL=<superuser URL> on stdout and one URL per test role
// on stderr. With a command, it runs the command with DATABASE_URL and
// PGSTRICT_TEST_DSN set to the superuser URL and exits with the command's
// status. With -hold it waits for SIGINT or SIGTERM. Otherwise it stops at
// once. In every case it stops the cluster and removes its directory before
// exiting, also on SIGINT and SIGTERM.
//
// Exit status: the command's status when a command ran (128+N when it died
// of signal N); otherwise 0 on success, 1 on an error, 2 on a usage error,
// 3 when no PostgreSQL server binaries are installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// Exit codes of pgsandbox itself.
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitNoBinaries   = 3
	stopTimeout      = time.Minute
	childStopTimeout = 10 * time.Second // between SIGTERM to the command and SIGKILL
)

// sandboxRoles are the roles whose URLs are printed on stderr.
var sandboxRoles = []pgtest.Role{
	pgtest.RoleSuperuser, pgtest.RoleTrust, pgtest.RolePassword, pgtest.RoleMD5,
	pgtest.RoleSCRAM, pgtest.RoleCert, pgtest.RoleReplication,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run is pgsandbox without a process: ctx ends on SIGINT or SIGTERM; stdin,
// stdout, stderr and env are handed to the command. It returns the exit
// status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("pgsandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hold := fs.Bool("hold", false, "keep the cluster running until SIGINT or SIGTERM")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pgsandbox [-hold] [-- command args...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	command := fs.Args()
	if *hold && len(command) > 0 {
		fmt.Fprintln(stderr, "pgsandbox: -hold and a command exclude each other")
		fs.Usage()
		return exitUsage
	}

	c, err := pgtest.StartCluster(ctx, pgtest.ClusterOptions{Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "pgsandbox: %v\n", err)
		if errors.Is(err, pgtest.ErrNoServerBinaries) {
			fmt.Fprintln(stderr, "pgsandbox: install PostgreSQL server binaries, e.g. apt-get install postgresql")
			return exitNoBinaries
		}
		return exitError
	}
	code := serve(ctx, c, command, *hold, stdin, stdout, stderr, env)

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		fmt.Fprintf(stderr, "pgsandbox: stop cluster: %v\n", err)
		if code == exitOK {
			code = exitError
		}
	}
	return code
}

// serve prints the URLs and then runs the command, holds, or returns.
func serve(ctx context.Context, c *pgtest.Cluster, command []string, hold bool, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	dbURL := c.URL(pgtest.RoleSuperuser, "postgres")
	if _, err := fmt.Fprintf(stdout, "DATABASE_URL=%s\n", dbURL); err != nil {
		fmt.Fprintf(stderr, "pgsandbox: write stdout: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stderr, "pgsandbox: cluster directory %s (server log %s/postgres.log)\n", c.Dir(), c.Dir())
	for _, role := range sandboxRoles {
		fmt.Fprintf(stderr, "pgsandbox: %s %s\n", role, c.URL(role, "postgres"))
	}
	switch {
	case len(command) > 0:
		return runCommand(ctx, command, sandboxEnv(env, dbURL), stdin, stdout, stderr)
	case hold:
		fmt.Fprintln(stderr, "pgsandbox: holding; send SIGINT (Ctrl-C) or SIGTERM to stop")
		<-ctx.Done()
		fmt.Fprintln(stderr, "pgsandbox: stopping")
	}
	return exitOK
}

// runCommand runs command with env and returns its exit status. When ctx
// ends first the command gets SIGTERM, then SIGKILL after childStopTimeout.
func runCommand(ctx context.Context, command, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = env
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = childStopTimeout
	err := cmd.Run()
	if err == nil {
		return exitOK
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	fmt.Fprintf(stderr, "pgsandbox: run %s: %v\n", command[0], err)
	return exitError
}

// sandboxEnv returns env with DATABASE_URL and PGSTRICT_TEST_DSN set to url.
func sandboxEnv(env []string, url string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, pgtest.EnvTestDSN+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "DATABASE_URL="+url, pgtest.EnvTestDSN+"="+url)
}
