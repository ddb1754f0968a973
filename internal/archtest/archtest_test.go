package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchtestImportGraph checks the real module: every package listed by
// `go list ./...` in the module root against the rules in rules_test.go.
func TestArchtestImportGraph(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	out := goCmd(t, root, "list", "-e", "-json=ImportPath,Module,Imports,TestImports,XTestImports,Deps,Error", "./...")

	type listed struct {
		pkgInfo
		Module *struct{ Path string }
		Error  *struct{ Err string }
	}
	var (
		module string
		pkgs   []pkgInfo
	)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "decoding go list output")
		// A package that does not parse cannot have its imports checked.
		if p.Error != nil {
			t.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		require.NotNil(t, p.Module, "go list: %s has no module", p.ImportPath)
		if module == "" {
			module = p.Module.Path
		}
		require.Equal(t, module, p.Module.Path, "go list ./... spans two modules")
		pkgs = append(pkgs, p.pkgInfo)
	}

	// The checker must have seen the module's layers, or it proved nothing.
	var paths []string
	for _, p := range pkgs {
		paths = append(paths, p.ImportPath)
	}
	for _, rel := range []string{"wire", "conn", "internal/archtest"} {
		require.Contains(t, paths, module+"/"+rel, "go list ./... did not list %s", rel)
	}

	for _, v := range check(module, pkgs) {
		t.Error(v)
	}
}

// TestArchtestPgproto3Closure checks that pgx's pgproto3, the one module
// package wire builds on, keeps wire's closure rules, so that wire can import
// it at all.
func TestArchtestPgproto3Closure(t *testing.T) {
	t.Parallel()
	const pgproto3 = "github.com/jackc/pgx/v5/pgproto3"
	out := goCmd(t, moduleRoot(t), "list", "-deps", pgproto3)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, pgproto3)
	for _, cr := range closureRules {
		if !match(cr.pkg, "wire") {
			continue
		}
		for _, dep := range deps {
			assert.False(t, matchAny(cr.banned, dep), "%s depends on %s: %s", pgproto3, dep, cr.why)
		}
	}
}

// moduleRoot returns the directory of the go.mod that governs the test's
// working directory (the package directory under go test).
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	gomod := strings.TrimSpace(string(goCmd(tb, ".", "env", "GOMOD")))
	require.NotEmpty(tb, gomod, "go env GOMOD: not inside a module")
	require.NotEqual(tb, "/dev/null", gomod, "go env GOMOD: module mode is off")
	return filepath.Dir(gomod)
}

// goCmd runs the go command in dir and returns its standard output. go test
// puts the go command of its own toolchain first in PATH.
func goCmd(tb testing.TB, dir string, args ...string) []byte {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(tb, err, "go %s: %s", strings.Join(args, " "), stderr.String())
	return out
}
