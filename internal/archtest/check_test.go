package archtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests feed the checker synthetic graphs, so that every rule provably
// fails when it is broken and stays quiet when it is kept.

const testModule = "example.com/m"

// m returns the full import path of a module-relative package path.
func m(rel string) string { return testModule + "/" + rel }

// cleanGraph is a graph that follows every rule; each case adds one breach.
func cleanGraph() []pkgInfo {
	return []pkgInfo{
		{ImportPath: m("wire"), Imports: []string{"fmt", "github.com/jackc/pgx/v5/pgproto3", m("wire/sqlstate")},
			XTestImports: []string{m("wire"), "testing", "github.com/stretchr/testify/require", m("internal/golden")},
			Deps:         []string{"errors", "fmt", "io", "github.com/jackc/pgx/v5/internal/pgio", "github.com/jackc/pgx/v5/pgproto3"}},
		{ImportPath: m("wire/sqlstate"), Imports: []string{"strings"}},
		{ImportPath: m("internal/scram"), Imports: []string{"crypto/sha256"}},
		{ImportPath: m("internal/golden"), Imports: []string{"flag", "testing"}},
		{ImportPath: m("internal/pgtest"), Imports: []string{"net", m("internal/scram"), m("wire"),
			"github.com/testcontainers/testcontainers-go/modules/postgres"},
			Deps: []string{"database/sql", "github.com/testcontainers/testcontainers-go"}},
		{ImportPath: m("internal/pgtest/cmd/pgsandbox"), Imports: []string{"os", m("internal/pgtest")}},
		{ImportPath: m("internal/archtest")},
		{ImportPath: m("conn"), Imports: []string{"context", "net", m("wire"), m("internal/scram")},
			TestImports:  []string{m("internal/pgtest")},
			XTestImports: []string{m("conn"), m("internal/pgtest"), "github.com/stretchr/testify/assert"}},
		{ImportPath: m("pool"), Imports: []string{m("conn"), "golang.org/x/sync/semaphore"}},
		{ImportPath: m("copy"), Imports: []string{m("conn"), m("wire")}},
		{ImportPath: m("replication"), Imports: []string{m("conn")}},
		{ImportPath: m("schema"), Imports: []string{m("conn"), m("pool"), m("copy")}},
		{ImportPath: m("migrate"), Imports: []string{m("schema"), m("conn")}},
		{ImportPath: m("cmd/pgstrict"), Imports: []string{m("migrate"), m("conn"), "github.com/spf13/cobra"},
			TestImports: []string{m("internal/golden")}},
		{ImportPath: m("fuzz"), Imports: []string{m("conn"), m("internal/pgtest"), m("replication")}},
		{ImportPath: m("bench"), Imports: []string{m("pool"), m("internal/pgtest"),
			"github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/jackc/pgx/v5/pgxpool", "database/sql"}},
		// Not ours: ignored whatever it imports.
		{ImportPath: "github.com/jackc/pgx/v5/pgconn", Imports: []string{"net", "context"}},
	}
}

// with returns the clean graph with change applied to the package at rel, or
// with pkg appended when no package has that path.
func with(rel string, change func(*pkgInfo)) []pkgInfo {
	pkgs := cleanGraph()
	for i := range pkgs {
		if pkgs[i].ImportPath == m(rel) {
			change(&pkgs[i])
			return pkgs
		}
	}
	p := pkgInfo{ImportPath: m(rel)}
	change(&p)
	return append(pkgs, p)
}

func addImports(imps ...string) func(*pkgInfo) {
	return func(p *pkgInfo) { p.Imports = append(p.Imports, imps...) }
}

func addTestImports(imps ...string) func(*pkgInfo) {
	return func(p *pkgInfo) { p.XTestImports = append(p.XTestImports, imps...) }
}

// wantViolation describes one expected violation.
type wantViolation struct {
	importer string // full import path
	imported string // full import path, "" for package-level violations
	where    string // "", "test files" or "dependency closure"
	rule     string // substring of the rule text
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string          // the breach
		pkgs []pkgInfo       // the graph
		want []wantViolation // every violation check must report, in order
	}{
		{
			name: "clean graph",
			pkgs: cleanGraph(),
		},
		{
			name: "wire imports net",
			pkgs: with("wire", func(p *pkgInfo) {
				p.Imports = append(p.Imports, "net")
				p.Deps = append(p.Deps, "net", "net/netip")
			}),
			want: []wantViolation{
				{m("wire"), "net", "dependency closure", "wire is pure"},
				{m("wire"), "net/netip", "dependency closure", "wire is pure"},
			},
		},
		{
			name: "context in the closure of wire through a dependency",
			pkgs: with("wire", func(p *pkgInfo) { p.Deps = append(p.Deps, "context", "log/slog", "os/exec") }),
			want: []wantViolation{
				{m("wire"), "context", "dependency closure", "wire is pure"},
				{m("wire"), "log/slog", "dependency closure", "wire is pure"},
				{m("wire"), "os/exec", "dependency closure", "wire is pure"},
			},
		},
		{
			name: "wire imports an internal package",
			pkgs: with("wire", addImports(m("internal/scram"))),
			want: []wantViolation{{m("wire"), m("internal/scram"), "", "wire/... may import wire/..."}},
		},
		{
			name: "wire imports a module other than pgproto3",
			pkgs: with("wire", addImports("golang.org/x/sync/errgroup")),
			want: []wantViolation{{m("wire"), "golang.org/x/sync/errgroup", "",
				"may import only the standard library and github.com/jackc/pgx/v5/pgproto3"}},
		},
		{
			name: "wire test imports a module other than pgproto3 and testify",
			pkgs: with("wire", addTestImports("github.com/google/go-cmp/cmp")),
			want: []wantViolation{{m("wire"), "github.com/google/go-cmp/cmp", "test files",
				"github.com/stretchr/testify/..."}},
		},
		{
			name: "pool imports replication",
			pkgs: with("pool", addImports(m("replication"))),
			want: []wantViolation{{m("pool"), m("replication"), "", "siblings in one tier never import each other"}},
		},
		{
			name: "schema imports migrate",
			pkgs: with("schema", addImports(m("migrate/op"))),
			want: []wantViolation{{m("schema"), m("migrate/op"), "", "siblings in one tier never import each other"}},
		},
		{
			name: "conn imports pool",
			pkgs: with("conn", addImports(m("pool"))),
			want: []wantViolation{{m("conn"), m("pool"), "", "imports point down the layer graph only"}},
		},
		{
			name: "conn test imports pool",
			pkgs: with("conn", addTestImports(m("pool"))),
			want: []wantViolation{{m("conn"), m("pool"), "test files", "imports point down the layer graph only"}},
		},
		{
			name: "wire imports conn",
			pkgs: with("wire", addImports(m("conn"))),
			want: []wantViolation{{m("wire"), m("conn"), "", "imports point down the layer graph only"}},
		},
		{
			name: "internal helper imports conn",
			pkgs: with("internal/pgtest", addImports(m("conn"))),
			want: []wantViolation{{m("internal/pgtest"), m("conn"), "", "imports point down the layer graph only"}},
		},
		{
			name: "library imports bench",
			pkgs: with("replication", addImports(m("bench"))),
			want: []wantViolation{{m("replication"), m("bench"), "", "bench/... is a leaf"}},
		},
		{
			name: "cmd imports fuzz in a test",
			pkgs: with("cmd/pgstrict", addTestImports(m("fuzz/corpus"))),
			want: []wantViolation{{m("cmd/pgstrict"), m("fuzz/corpus"), "test files", "fuzz/... is a leaf"}},
		},
		{
			name: "fuzz imports bench",
			pkgs: with("fuzz", addImports(m("bench"))),
			want: []wantViolation{{m("fuzz"), m("bench"), "", "bench/... is a leaf"}},
		},
		{
			name: "library imports pgtest outside tests",
			pkgs: with("pool", addImports(m("internal/pgtest"))),
			want: []wantViolation{{m("pool"), m("internal/pgtest"), "", "from _test.go files only"}},
		},
		{
			name: "cmd imports pgtest outside tests",
			pkgs: with("cmd/pgstrict", addImports(m("internal/pgtest"))),
			want: []wantViolation{{m("cmd/pgstrict"), m("internal/pgtest"), "", "from _test.go files only"}},
		},
		{
			name: "conn imports pgconn",
			pkgs: with("conn", addImports("github.com/jackc/pgx/v5/pgconn")),
			want: []wantViolation{{m("conn"), "github.com/jackc/pgx/v5/pgconn", "", "bench/ alone"}},
		},
		{
			name: "conn test imports pgx and database/sql",
			pkgs: with("conn", addTestImports("github.com/jackc/pgx/v5", "database/sql")),
			want: []wantViolation{
				{m("conn"), "github.com/jackc/pgx/v5", "test files", "bench/ alone"},
				{m("conn"), "database/sql", "test files", "bench/ alone"},
			},
		},
		{
			name: "fuzz imports pgxpool",
			pkgs: with("fuzz", addImports("github.com/jackc/pgx/v5/pgxpool")),
			want: []wantViolation{{m("fuzz"), "github.com/jackc/pgx/v5/pgxpool", "", "bench/ alone"}},
		},
		{
			name: "pool imports pgtype",
			pkgs: with("pool", addImports("github.com/jackc/pgx/v5/pgtype")),
			want: []wantViolation{{m("pool"), "github.com/jackc/pgx/v5/pgtype", "", "pgcopy's row encoders alone"}},
		},
		{
			name: "conn test imports testcontainers",
			pkgs: with("conn", addTestImports("github.com/testcontainers/testcontainers-go")),
			want: []wantViolation{{m("conn"), "github.com/testcontainers/testcontainers-go", "test files",
				"only internal/pgtest may import testcontainers-go"}},
		},
		{
			name: "package covered by no rule",
			pkgs: with("tools/gen", addImports(m("wire"))),
			want: []wantViolation{{m("tools/gen"), "", "", "covered by no archtest layer rule"}},
		},
		{
			name: "import of a package covered by no rule",
			pkgs: with("conn", addImports(m("util"))),
			want: []wantViolation{{m("conn"), m("util"), "", "covered by no archtest layer rule"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := check(testModule, tc.pkgs)
			require.Len(t, got, len(tc.want), "violations: %v", got)
			for i, w := range tc.want {
				assert.Equal(t, w.importer, got[i].importer, "importer of violation %d", i)
				assert.Equal(t, w.imported, got[i].imported, "imported of violation %d", i)
				assert.Equal(t, w.where, got[i].where, "where of violation %d", i)
				assert.Contains(t, got[i].rule, w.rule, "rule of violation %d", i)
			}
		})
	}
}

func TestViolationString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    violation
		want string
	}{
		{
			name: "direct import",
			v:    violation{importer: "m/pool", imported: "m/replication", rule: "siblings"},
			want: "m/pool imports m/replication: siblings",
		},
		{
			name: "test import",
			v:    violation{importer: "m/conn", imported: "database/sql", where: "test files", rule: "no"},
			want: "m/conn imports (in test files) database/sql: no",
		},
		{
			name: "closure",
			v:    violation{importer: "m/wire", imported: "net", where: "dependency closure", rule: "pure"},
			want: "m/wire depends on (via its dependency closure) net: pure",
		},
		{
			name: "package level",
			v:    violation{importer: "m/tools", rule: "no rule"},
			want: "m/tools: no rule",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.v.String())
		})
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string
		path    string
		want    bool
	}{
		{name: "exact", pattern: "context", path: "context", want: true},
		{name: "exact is not a prefix", pattern: "net", path: "net/http", want: false},
		{name: "subtree root", pattern: "net/...", path: "net", want: true},
		{name: "subtree child", pattern: "net/...", path: "net/http/httptest", want: true},
		{name: "subtree needs a slash", pattern: "net/...", path: "netip", want: false},
		{name: "everything", pattern: "...", path: "a/b", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, match(tc.pattern, tc.path))
		})
	}
}
