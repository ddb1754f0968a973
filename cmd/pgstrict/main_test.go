package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestMain stops the PostgreSQL cluster that the exec tests start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestMainBinary builds the real binary the way make build does and checks
// what only a process shows: the -X main.version link flag and the exit
// status that main passes to os.Exit.
func TestMainBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the pgstrict binary; skipped with -short")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "pgstrict")
	build := exec.CommandContext(t.Context(), "go", "build",
		"-ldflags", "-X main.version=v0.0.0-test", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
	}{
		{name: "version from ldflags", args: []string{"version"}, wantCode: exitOK, wantStdout: "pgstrict v0.0.0-test\n"},
		{name: "usage error exit status", args: []string{"frobnicate"}, wantCode: exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), bin, tc.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			if tc.wantStdout != "" {
				assert.Equal(t, tc.wantStdout, stdout.String())
			}
		})
	}
}
