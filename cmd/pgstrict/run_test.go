package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/golden"
)

// transcript runs pgstrict with args and renders what a terminal would show:
// the command line, the exit code, stdout and stderr.
func transcript(tb testing.TB, args ...string) []byte {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := run(tb.Context(), args, strings.NewReader(""), &stdout, &stderr, nil)
	var b bytes.Buffer
	fmt.Fprintf(&b, "$ pgstrict %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s",
		strings.Join(args, " "), code, stdout.String(), stderr.String())
	return b.Bytes()
}

// TestRunGolden compares full transcripts with testdata/cli/<name>.golden;
// rewrite them with make golden-update.
func TestRunGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string   // also the golden file name
		args []string // command line without the program name
	}{
		{name: "help", args: []string{"--help"}},
		{name: "version", args: []string{"version"}},
		{name: "version-help", args: []string{"version", "--help"}},
		{name: "version-extra-argument", args: []string{"version", "extra"}},
		{name: "unknown-command", args: []string{"frobnicate"}},
		{name: "unknown-command-typo", args: []string{"verison"}},
		{name: "unknown-flag", args: []string{"--frobnicate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden.Check(t, filepath.Join("testdata", "cli", tc.name+".golden"), transcript(t, tc.args...))
		})
	}
}

// TestRunHelpVariants checks that every way of asking for help prints the
// same text as --help (whose golden file is help.golden) and succeeds.
func TestRunHelpVariants(t *testing.T) {
	t.Parallel()
	var want bytes.Buffer
	require.Equal(t, exitOK, run(t.Context(), []string{"--help"}, strings.NewReader(""), &want, io.Discard, nil))
	require.Contains(t, want.String(), "Exit codes:")
	tests := []struct {
		name string
		args []string
	}{
		{name: "short flag", args: []string{"-h"}},
		{name: "help command", args: []string{"help"}},
		{name: "no arguments", args: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr, nil)
			assert.Equal(t, exitOK, code)
			assert.Equal(t, want.String(), stdout.String())
			assert.Empty(t, stderr.String())
		})
	}
}

// TestRunExitCodes pins the exit code of each class of outcome, independent
// of the golden files.
func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "help", args: []string{"--help"}, want: exitOK},
		{name: "version", args: []string{"version"}, want: exitOK},
		{name: "unknown command", args: []string{"frobnicate"}, want: exitUsage},
		{name: "unknown flag", args: []string{"version", "--frobnicate"}, want: exitUsage},
		{name: "extra argument", args: []string{"version", "extra"}, want: exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			got := run(t.Context(), tc.args, strings.NewReader(""), &stdout, &stderr, nil)
			assert.Equal(t, tc.want, got, "stderr: %s", stderr.String())
			if tc.want == exitOK {
				assert.Empty(t, stderr.String(), "nothing on stderr when all is well")
			} else {
				assert.Empty(t, stdout.String(), "errors go to stderr only")
			}
		})
	}
}

type ctxKey struct{}

// TestExecute drives execute with test-only subcommands, to cover the
// mapping of RunE outcomes to exit codes and the context passed down.
func TestExecute(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name       string
		runE       func(cmd *cobra.Command, args []string) error
		wantCode   int
		wantStderr string
	}{
		{
			name:     "success",
			runE:     func(*cobra.Command, []string) error { return nil },
			wantCode: exitOK,
		},
		{
			name:       "runtime failure",
			runE:       func(*cobra.Command, []string) error { return fmt.Errorf("connect: %w", errBoom) },
			wantCode:   exitFailure,
			wantStderr: "pgstrict: connect: boom\n",
		},
		{
			name:       "usage error found by the command",
			runE:       func(*cobra.Command, []string) error { return usageErrorf("--rows must be positive, got %d", -1) },
			wantCode:   exitUsage,
			wantStderr: "pgstrict: --rows must be positive, got -1\nRun 'pgstrict probe --help' for usage.\n",
		},
		{
			name:       "wrapped usage error",
			runE:       func(*cobra.Command, []string) error { return fmt.Errorf("plan: %w", usageErrorf("bad step")) },
			wantCode:   exitUsage,
			wantStderr: "pgstrict: plan: bad step\nRun 'pgstrict probe --help' for usage.\n",
		},
		{
			name: "context reaches the command",
			runE: func(cmd *cobra.Command, _ []string) error {
				if cmd.Context().Value(ctxKey{}) != "marker" {
					return errors.New("context lost")
				}
				return nil
			},
			wantCode: exitOK,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, version: "dev"}
			root := newRootCmd(c)
			root.AddCommand(&cobra.Command{Use: "probe", RunE: tc.runE})
			ctx := context.WithValue(t.Context(), ctxKey{}, "marker")
			code := execute(ctx, root, []string{"probe"}, &stderr)
			assert.Equal(t, tc.wantCode, code)
			assert.Equal(t, tc.wantStderr, stderr.String())
		})
	}
}

func TestExecuteCanceledContext(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &stderr, version: "dev"}
	root := newRootCmd(c)
	root.AddCommand(&cobra.Command{Use: "wait", RunE: func(cmd *cobra.Command, _ []string) error {
		<-cmd.Context().Done()
		return fmt.Errorf("wait: %w", cmd.Context().Err())
	}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // as the first SIGINT would
	assert.Equal(t, exitFailure, execute(ctx, root, []string{"wait"}, &stderr))
	assert.Equal(t, "pgstrict: wait: context canceled\n", stderr.String())
}

func TestLookupEnv(t *testing.T) {
	t.Parallel()
	env := []string{"A=1", "DATABASE_URL=postgres://h/db?x=y", "A=2", "EMPTY=", "NOEQUALS"}
	tests := []struct {
		name    string
		key     string
		want    string
		wantSet bool
	}{
		{name: "last entry wins", key: "A", want: "2", wantSet: true},
		{name: "value containing =", key: "DATABASE_URL", want: "postgres://h/db?x=y", wantSet: true},
		{name: "set but empty", key: "EMPTY", want: "", wantSet: true},
		{name: "unset", key: "B", want: "", wantSet: false},
		{name: "entry without =", key: "NOEQUALS", want: "", wantSet: false},
		{name: "prefix is not a match", key: "DATABASE", want: "", wantSet: false},
	}
	c := &cli{env: env}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, set := c.lookupEnv(tc.key)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantSet, set)
		})
	}
}
