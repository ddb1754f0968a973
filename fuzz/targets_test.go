package fuzz

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// moduleRoot returns the directory of go.mod above the working directory.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	require.NoError(tb, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(tb, parent, dir, "no go.mod above the working directory")
		dir = parent
	}
}

// fuzzTargets returns every native fuzz target of the module as
// "<package dir> <FuzzName>", sorted: each top-level func FuzzX(f
// *testing.F) in a _test.go file.
func fuzzTargets(tb testing.TB, root string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Fuzz") && takesF(fn) {
				out = append(out, filepath.ToSlash(rel)+" "+fn.Name.Name)
			}
		}
		return nil
	})
	require.NoError(tb, err)
	slices.Sort(out)
	return out
}

// takesF reports whether fn's only parameter is a *testing.F.
func takesF(fn *ast.FuncDecl) bool {
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing" && sel.Sel.Name == "F"
}

// buildTargets returns the TARGETS entries of .clusterfuzzlite/build.sh.
func buildTargets(tb testing.TB, root string) []string {
	tb.Helper()
	f, err := os.Open(filepath.Join(root, ".clusterfuzzlite", "build.sh"))
	require.NoError(tb, err)
	defer f.Close()
	entry := regexp.MustCompile(`^\s*"([^" ]+) (Fuzz[A-Za-z0-9_]*)"\s*$`)
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "TARGETS=("):
			in = true
		case in && strings.TrimSpace(line) == ")":
			in = false
		case in:
			m := entry.FindStringSubmatch(line)
			require.NotNil(tb, m, "build.sh: TARGETS line %q is not \"<dir> <FuzzName>\"", line)
			out = append(out, m[1]+" "+m[2])
		}
	}
	require.NoError(tb, sc.Err())
	slices.Sort(out)
	return out
}

func TestClusterFuzzLiteBuildListsEveryTarget(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	found := fuzzTargets(t, root)
	require.NotEmpty(t, found)
	listed := buildTargets(t, root)
	for _, target := range found {
		assert.Contains(t, listed, target, "add it to TARGETS in .clusterfuzzlite/build.sh")
	}
	for _, target := range listed {
		assert.Contains(t, found, target, "TARGETS in .clusterfuzzlite/build.sh lists a target that does not exist")
	}
}

func TestReadmeListsEveryTarget(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "fuzz", "README.md"))
	require.NoError(t, err)
	for _, target := range fuzzTargets(t, root) {
		dir, name, _ := strings.Cut(target, " ")
		// The table row of a target names its package directory and the
		// target in code spans: | `wire` | `FuzzReader` | … |
		row := "| `" + dir + "` | `" + name + "` |"
		assert.Contains(t, string(readme), row, "fuzz/README.md has no row for %s", target)
	}
}
