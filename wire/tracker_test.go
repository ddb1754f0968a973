package wire_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrackerPlaceholder(t *testing.T) { require.True(t, true) }
