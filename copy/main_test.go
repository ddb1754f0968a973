package pgcopy_test

import (
	"os"
	"testing"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
