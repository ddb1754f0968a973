package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records errors instead of failing the test
// that owns it. Methods it does not override panic (the embedded TB is nil),
// which would reveal that Check uses something it should not.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      *string // golden file content; nil means the file does not exist
		got       string  // output under test
		wantError string  // substring of the single error, "" for none
	}{
		{name: "equal", file: ptr("a\nb\n"), got: "a\nb\n"},
		{name: "crlf file", file: ptr("a\r\nb\r\n"), got: "a\nb\n"},
		{name: "crlf output", file: ptr("a\nb\n"), got: "a\r\nb\r\n"},
		{name: "different", file: ptr("a\nb\n"), got: "a\nc\n", wantError: "rerun with -update"},
		{name: "lone CR is not a line ending", file: ptr("a\n"), got: "a\r", wantError: "output differs"},
		{name: "missing file", got: "a\n", wantError: "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "case.golden")
			if tc.file != nil {
				require.NoError(t, os.WriteFile(path, []byte(*tc.file), 0o644))
			}
			rec := &recorder{}
			check(rec, path, []byte(tc.got), false)
			if tc.wantError == "" {
				assert.Empty(t, rec.errors)
				return
			}
			require.Len(t, rec.errors, 1)
			assert.Contains(t, rec.errors[0], tc.wantError)
			assert.Contains(t, rec.errors[0], path, "the error names the golden file")
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file *string // golden file content before the update; nil means absent
	}{
		{name: "creates file and directories"},
		{name: "overwrites stale file", file: ptr("old\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "testdata", "cli", "case.golden")
			if tc.file != nil {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(*tc.file), 0o644))
			}
			rec := &recorder{}
			check(rec, path, []byte("new\r\nline\n"), true)
			assert.Empty(t, rec.errors)

			written, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "new\nline\n", string(written), "update writes normalised output")

			// The rewritten file now passes without -update.
			check(rec, path, []byte("new\nline\n"), false)
			assert.Empty(t, rec.errors)
		})
	}
}

func TestCheckUnwritable(t *testing.T) {
	t.Parallel()
	// A regular file where a directory is needed makes MkdirAll fail for
	// every user, root included.
	dir := t.TempDir()
	blocker := filepath.Join(dir, "testdata")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	path := filepath.Join(blocker, "case.golden")

	rec := &recorder{}
	check(rec, path, []byte("x"), true)
	require.Len(t, rec.errors, 1)
	assert.True(t, strings.HasPrefix(rec.errors[0], "golden: create directory of "+path), rec.errors[0])
}

func ptr(s string) *string { return &s }
