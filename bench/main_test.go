package bench

import (
	"os"
	"testing"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestMain stops the shared test cluster, if a benchmark started one.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
