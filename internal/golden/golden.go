package golden

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// update is the -update flag of the test binary. It is only read.
var update = flag.Bool("update", false, "rewrite golden files with the output of the test")

// Check compares got with the golden file at path (relative to the test's
// working directory, i.e. the package directory) and reports a difference as
// a test error. With -update it writes got to path instead, creating missing
// directories, and reports nothing. CRLF line endings are treated as LF in
// both the file and got.
func Check(tb testing.TB, path string, got []byte) {
	tb.Helper()
	check(tb, path, got, *update)
}

// check is Check with the update decision passed in, so that tests of this
// package do not depend on the flag.
func check(tb testing.TB, path string, got []byte, rewrite bool) {
	tb.Helper()
	got = normalize(got)
	if rewrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Errorf("golden: create directory of %s: %v", path, err)
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Errorf("golden: write %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Errorf("golden: %s does not exist; run the test with -update (make golden-update) to create it", path)
		return
	}
	if err != nil {
		tb.Errorf("golden: read %s: %v", path, err)
		return
	}
	assert.Equal(tb, string(normalize(want)), string(got),
		"golden: output differs from %s; if the new output is right, rerun with -update (make golden-update) and review the diff", path)
}

// normalize returns b with every CRLF replaced by LF.
func normalize(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
