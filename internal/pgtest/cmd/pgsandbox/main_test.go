package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// sandboxChildEnv makes this test binary act as the command pgsandbox runs.
const sandboxChildEnv = "PGSANDBOX_TEST_CHILD"

// sandboxChildExit is the child's exit status, passed through by pgsandbox.
const sandboxChildExit = 7

func TestMain(m *testing.M) {
	if os.Getenv(sandboxChildEnv) == "1" {
		os.Exit(sandboxChild())
	}
	os.Exit(m.Run())
}

// sandboxChild connects to DATABASE_URL, prints the server's answer and
// whether PGSTRICT_TEST_DSN is the same URL, and exits with
// sandboxChildExit.
func sandboxChild() int {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL")
	cfg, err := pgtest.ParseAdminURL(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ac, err := pgtest.AdminConnect(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer func() { _ = ac.Close(ctx) }()
	rows, err := ac.Query(ctx, "SELECT 40 + 2")
	if err != nil || len(rows) != 1 || rows[0][0] == nil {
		fmt.Fprintln(os.Stderr, "child: query:", err)
		return 1
	}
	fmt.Printf("answer %s\n", *rows[0][0])
	fmt.Printf("dsn-matches %t\n", os.Getenv(pgtest.EnvTestDSN) == url)
	return sandboxChildExit
}

// sandboxSkipIfNoBinaries skips (or fails under PGSTRICT_REQUIRE_DB=1) when
// run reported that no server binaries exist.
func sandboxSkipIfNoBinaries(tb testing.TB, code int, stderr string) {
	tb.Helper()
	if code != exitNoBinaries {
		return
	}
	pgtest.SkipUnavailable(tb, "no PostgreSQL server binaries: "+stderr)
}

var sandboxDirRE = regexp.MustCompile(`cluster directory (\S+)`)

// sandboxDir extracts the cluster directory pgsandbox reported.
func sandboxDir(tb testing.TB, stderr string) string {
	tb.Helper()
	m := sandboxDirRE.FindStringSubmatch(stderr)
	require.NotNil(tb, m, "no cluster directory in stderr:\n%s", stderr)
	return m[1]
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string   // case
		args []string // command line
		want int      // exit status
	}{
		{name: "hold_and_command", args: []string{"-hold", "--", "true"}, want: exitUsage},
		{name: "unknown_flag", args: []string{"-nope"}, want: exitUsage},
		{name: "help", args: []string{"-h"}, want: exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			got := run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr, nil)
			assert.Equal(t, tc.want, got)
			assert.Empty(t, stdout.String(), "no cluster was started")
			assert.Contains(t, stderr.String(), "usage: pgsandbox")
		})
	}
}

func TestRunCommandGetsDatabaseURL(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	env := append(os.Environ(), sandboxChildEnv+"=1", "DATABASE_URL=stale")
	code := run(t.Context(), []string{"--", exe, "-test.run=^$"}, strings.NewReader(""), &stdout, &stderr, env)
	sandboxSkipIfNoBinaries(t, code, stderr.String())
	require.Equal(t, sandboxChildExit, code, "stderr:\n%s", stderr.String())

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 3, stdout.String())
	assert.Regexp(t, `^DATABASE_URL=postgres://postgres:[^@]+@127\.0\.0\.1:\d+/postgres$`, lines[0])
	assert.Equal(t, "answer 42", lines[1])
	assert.Equal(t, "dsn-matches true", lines[2])
	for _, role := range sandboxRoles {
		assert.Contains(t, stderr.String(), "pgsandbox: "+string(role)+" postgres://")
	}
	assert.NoDirExists(t, sandboxDir(t, stderr.String()), "cluster directory removed")
}

func TestRunReportsSignalExit(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--", "sh", "-c", "kill -TERM $$"}, strings.NewReader(""), &stdout, &stderr, os.Environ())
	sandboxSkipIfNoBinaries(t, code, stderr.String())
	assert.Equal(t, 128+15, code, "stderr:\n%s", stderr.String())
	assert.NoDirExists(t, sandboxDir(t, stderr.String()))
}

func TestRunWithoutCommandStopsAtOnce(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), nil, strings.NewReader(""), &stdout, &stderr, nil)
	sandboxSkipIfNoBinaries(t, code, stderr.String())
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
	assert.True(t, strings.HasPrefix(stdout.String(), "DATABASE_URL=postgres://"), stdout.String())
	assert.NoDirExists(t, sandboxDir(t, stderr.String()))
}

func TestRunHoldServesUntilSignal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"-hold"}, strings.NewReader(""), pw, &stderr, nil)
		_ = pw.Close()
		done <- code
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil { // run ended without printing a URL
		code := <-done
		sandboxSkipIfNoBinaries(t, code, stderr.String())
		t.Fatalf("run ended with %d before printing DATABASE_URL: %s", code, stderr.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "DATABASE_URL=")
	require.True(t, ok, line)

	// While holding, the cluster answers.
	cfg, err := pgtest.ParseAdminURL(url)
	require.NoError(t, err)
	ac, err := pgtest.AdminConnect(t.Context(), cfg)
	require.NoError(t, err)
	require.NoError(t, ac.Exec(t.Context(), "SELECT 1"))
	require.NoError(t, ac.Close(t.Context()))

	cancel() // what SIGINT does in main
	code := <-done
	assert.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
	assert.Contains(t, stderr.String(), "holding")
	assert.NoDirExists(t, sandboxDir(t, stderr.String()))
}
