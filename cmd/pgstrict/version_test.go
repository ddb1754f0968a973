package main

import (
	"bytes"
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolveVersion(t *testing.T) {
	t.Parallel()
	withMain := func(v string) *debug.BuildInfo { return &debug.BuildInfo{Main: debug.Module{Version: v}} }
	tests := []struct {
		name   string
		linked string
		info   *debug.BuildInfo
		ok     bool
		want   string
	}{
		{name: "linked version wins", linked: "v1.2.3", info: withMain("v0.9.0"), ok: true, want: "v1.2.3"},
		{name: "go install version", linked: "dev", info: withMain("v0.9.0"), ok: true, want: "v0.9.0"},
		{name: "source tree build", linked: "dev", info: withMain("(devel)"), ok: true, want: "dev"},
		{name: "empty module version", linked: "dev", info: withMain(""), ok: true, want: "dev"},
		{name: "no build info", linked: "dev", ok: false, want: "dev"},
		{name: "linked empty string", linked: "", info: withMain("v0.9.0"), ok: true, want: "v0.9.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, resolveVersion(tc.linked, tc.info, tc.ok))
		})
	}
}

func TestVersionCmdPrintsCliVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, version: "v9.8.7"}
	code := execute(t.Context(), newRootCmd(c), []string{"version"}, &stderr)
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "pgstrict v9.8.7\n", stdout.String())
	assert.Empty(t, stderr.String())
}

// failingWriter fails every write, like a closed stdout pipe.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestVersionCmdWriteFailure(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: failingWriter{}, stderr: &stderr, version: "dev"}
	code := execute(t.Context(), newRootCmd(c), []string{"version"}, &stderr)
	assert.Equal(t, exitFailure, code)
	assert.Equal(t, "pgstrict: version: broken pipe\n", stderr.String())
}
