package archtest

import (
	"fmt"
	"slices"
	"strings"
)

// This file holds the rules (three tables) and the pure checker that applies
// them. To add a package, add a row to layerRules; to ban an import, add a row
// to forbiddenImports or closureRules.
//
// Patterns: "x" matches exactly x; "x/..." matches x and every package below
// it; "..." matches everything. Patterns in layerRules and in the except lists
// are relative to the module root; patterns of imported paths in
// forbiddenImports and closureRules are full import paths.

// layerRule says which packages of this module the packages matching pkg may
// import.
type layerRule struct {
	// pkg is the module-relative pattern of the importing packages.
	pkg string
	// tier is the position in the layer graph, lowest first. It only names the
	// broken rule in messages: same tier means a sibling import, a higher
	// tier an upward import.
	tier int
	// may lists the module-relative patterns these packages may import.
	may []string
	// leaf marks fuzz/ and bench/: nothing outside their own subtree may
	// import them.
	leaf bool
	// external, when non-nil, is the complete list of non-standard-library,
	// non-module import patterns allowed in non-test files. Test files may
	// import these plus testOnlyExternal. Nil means unrestricted.
	external []string
}

// Tiers of the layer graph.
const (
	tierWire = iota
	tierInternal
	tierConn
	tierTransport // pool, copy (package pgcopy), replication
	tierSchema    // schema, migrate
	tierCmd
	tierLeaf // fuzz, bench
)

// Module-relative pattern groups reused by the rows below.
var (
	belowConn      = []string{"wire/...", "internal/..."}
	belowTransport = append([]string{"conn/..."}, belowConn...)
	belowSchema    = append([]string{"pool/...", "copy/...", "replication/..."}, belowTransport...)
	belowCmd       = append([]string{"schema/...", "migrate/..."}, belowSchema...)
)

// layerRules covers every package of the module. Each row lists its own
// subtree so that a package may import its own subpackages (wire/sqlstate).
var layerRules = []layerRule{
	{pkg: "wire/...", tier: tierWire, may: []string{"wire/..."},
		external: []string{"github.com/jackc/pgx/v5/pgproto3"}},
	{pkg: "internal/...", tier: tierInternal, may: []string{"internal/...", "wire/..."}},
	{pkg: "conn/...", tier: tierConn, may: append([]string{"conn/..."}, belowConn...)},
	{pkg: "pool/...", tier: tierTransport, may: append([]string{"pool/..."}, belowTransport...)},
	{pkg: "copy/...", tier: tierTransport, may: append([]string{"copy/..."}, belowTransport...)},
	{pkg: "replication/...", tier: tierTransport, may: append([]string{"replication/..."}, belowTransport...)},
	{pkg: "schema/...", tier: tierSchema, may: append([]string{"schema/..."}, belowSchema...)},
	// migrate -> schema is the one allowed sibling import: plans are built
	// from diffs.
	{pkg: "migrate/...", tier: tierSchema, may: append([]string{"migrate/...", "schema/..."}, belowSchema...)},
	{pkg: "cmd/...", tier: tierCmd, may: append([]string{"cmd/..."}, belowCmd...)},
	{pkg: "fuzz/...", tier: tierLeaf, leaf: true, may: []string{"..."}},
	{pkg: "bench/...", tier: tierLeaf, leaf: true, may: []string{"..."}},
}

// testOnlyExternal lists what test files may import beyond a restricted
// package's external list.
var testOnlyExternal = []string{"github.com/stretchr/testify/..."}

// forbiddenImport bans direct imports of path by every package outside except.
type forbiddenImport struct {
	// path is the full import path pattern that is banned.
	path string
	// unless lists full import path patterns carved out of path.
	unless []string
	// except lists module-relative patterns of the packages that may import
	// path.
	except []string
	// nonTestOnly means test files (TestImports, XTestImports) are exempt.
	nonTestOnly bool
	// why is the rule as printed in the violation.
	why string
}

// forbiddenImports is checked against direct imports only: a dependency's own
// closure (testcontainers-go pulls in database/sql) is not our import.
var forbiddenImports = []forbiddenImport{
	{path: "github.com/jackc/pgx/v5/...", unless: []string{"github.com/jackc/pgx/v5/pgproto3", "github.com/jackc/pgx/v5/pgtype"},
		except: []string{"bench/..."},
		why:    "only pgx's pgproto3 is used; pgx, pgconn and pgxpool are benchmark baselines imported by bench/ alone"},
	{path: "github.com/jackc/pgx/v5/pgtype", except: []string{"copy/...", "bench/..."},
		why: "pgx's pgtype codecs serve pgcopy's row encoders alone"},
	{path: "database/sql/...", except: []string{"bench/..."},
		why: "no other PostgreSQL client than our own; database/sql is a benchmark baseline imported by bench/ alone"},
	{path: "github.com/testcontainers/testcontainers-go/...", except: []string{"internal/pgtest/..."},
		why: "only internal/pgtest may import testcontainers-go"},
	{path: modulePlaceholder + "/internal/pgtest/...", nonTestOnly: true,
		except: []string{"internal/pgtest/...", "fuzz/...", "bench/..."},
		why:    "library packages import internal/pgtest from _test.go files only"},
}

// modulePlaceholder stands for the module path in forbiddenImports paths; the
// checker replaces it with the real one.
const modulePlaceholder = "$MODULE"

// closureRule bans packages anywhere in the full (non-test) dependency closure
// of the packages matching pkg.
type closureRule struct {
	// pkg is the module-relative pattern of the constrained packages.
	pkg string
	// banned lists full import path patterns that must not be in the closure.
	banned []string
	// why is the rule as printed in the violation.
	why string
}

var closureRules = []closureRule{
	{pkg: "wire/...", banned: []string{"net/...", "context", "log/...", "os/exec"},
		why: "wire is pure: no network, no context, no logging, no processes in its dependency closure"},
}

// pkgInfo is the part of `go list -json` output the checker reads.
type pkgInfo struct {
	ImportPath   string
	Imports      []string // direct imports of the non-test files
	TestImports  []string // direct imports of the package's own _test.go files
	XTestImports []string // direct imports of the external (x_test) test files
	Deps         []string // full dependency closure of the non-test files
}

// violation is one broken rule.
type violation struct {
	importer string // full import path of the importing package
	imported string // full import path of the imported (or depended-on) package
	where    string // "", "test files" or "dependency closure"
	rule     string
}

func (v violation) String() string {
	verb := "imports"
	switch v.where {
	case "":
	case "dependency closure":
		verb = "depends on (via its dependency closure)"
	default:
		verb = "imports (in " + v.where + ")"
	}
	if v.imported == "" {
		return fmt.Sprintf("%s: %s", v.importer, v.rule)
	}
	return fmt.Sprintf("%s %s %s: %s", v.importer, verb, v.imported, v.rule)
}

// check applies every rule to pkgs, the packages of module, and returns the
// violations in a stable order.
func check(module string, pkgs []pkgInfo) []violation {
	var out []violation
	for _, p := range pkgs {
		self, ok := relPath(module, p.ImportPath)
		if !ok {
			continue // not ours
		}
		lr := ruleFor(self)
		if lr == nil {
			out = append(out, violation{importer: p.ImportPath,
				rule: "package is covered by no archtest layer rule; add a row to layerRules"})
			continue
		}
		nonTest := p.Imports
		out = append(out, checkImports(module, p.ImportPath, self, lr, nonTest, "")...)
		var testOnly []string
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			if !slices.Contains(nonTest, imp) && !slices.Contains(testOnly, imp) {
				testOnly = append(testOnly, imp)
			}
		}
		out = append(out, checkImports(module, p.ImportPath, self, lr, testOnly, "test files")...)
		for _, cr := range closureRules {
			if !match(cr.pkg, self) {
				continue
			}
			for _, dep := range p.Deps {
				if matchAny(cr.banned, dep) {
					out = append(out, violation{importer: p.ImportPath, imported: dep,
						where: "dependency closure", rule: cr.why})
				}
			}
		}
	}
	return out
}

// checkImports checks the direct imports of one file set (non-test when where
// is empty, test files otherwise).
func checkImports(module, importer, self string, lr *layerRule, imports []string, where string) []violation {
	var out []violation
	isTest := where != ""
	for _, imp := range imports {
		add := func(rule string) {
			out = append(out, violation{importer: importer, imported: imp, where: where, rule: rule})
		}
		for _, fi := range forbiddenImports {
			path := strings.Replace(fi.path, modulePlaceholder, module, 1)
			if !match(path, imp) || matchAny(fi.unless, imp) || matchAny(fi.except, self) {
				continue
			}
			if isTest && fi.nonTestOnly {
				continue
			}
			add(fi.why)
		}
		target, internal := relPath(module, imp)
		if !internal {
			if isStdlib(imp) || lr.external == nil {
				continue
			}
			allowed := lr.external
			if isTest {
				allowed = slices.Concat(allowed, testOnlyExternal)
			}
			if !matchAny(allowed, imp) {
				add(fmt.Sprintf("%s may import only the standard library and %s", lr.pkg,
					strings.Join(allowed, ", ")))
			}
			continue
		}
		if target == self {
			continue // an x_test package importing the package under test
		}
		tr := ruleFor(target)
		if tr != nil && tr.leaf && !match(tr.pkg, self) {
			add(fmt.Sprintf("%s is a leaf: nothing imports it", tr.pkg))
			continue
		}
		may := lr.may
		if isTest {
			// Test files may use the internal helpers (golden files, the
			// fake server) at every tier, wire included.
			may = slices.Concat(may, []string{"internal/..."})
		}
		if matchAny(may, target) {
			continue
		}
		switch {
		case tr == nil:
			add("imported package is covered by no archtest layer rule")
		case tr.tier == lr.tier:
			add(fmt.Sprintf("siblings in one tier never import each other (%s and %s); %s may import %s",
				lr.pkg, tr.pkg, lr.pkg, strings.Join(lr.may, ", ")))
		case tr.tier > lr.tier:
			add(fmt.Sprintf("imports point down the layer graph only (%s is above %s); %s may import %s",
				tr.pkg, lr.pkg, lr.pkg, strings.Join(lr.may, ", ")))
		default:
			add(fmt.Sprintf("%s may import only %s", lr.pkg, strings.Join(lr.may, ", ")))
		}
	}
	return out
}

// ruleFor returns the first layer rule that covers the module-relative
// package path rel, or nil.
func ruleFor(rel string) *layerRule {
	for i := range layerRules {
		if match(layerRules[i].pkg, rel) {
			return &layerRules[i]
		}
	}
	return nil
}

// relPath returns path relative to module ("." for the module root) and
// whether path belongs to module.
func relPath(module, path string) (string, bool) {
	switch {
	case path == module:
		return ".", true
	case strings.HasPrefix(path, module+"/"):
		return path[len(module)+1:], true
	default:
		return "", false
	}
}

// isStdlib reports whether an import path names a standard library package:
// its first element has no dot, as the go command decides.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// match reports whether path matches pattern (see the top of this file).
func match(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}
