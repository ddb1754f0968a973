package fuzz

import (
	"os"
	"testing"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster that the recorder
// (TestRecordSeeds) may start; the fuzz targets never start one.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
