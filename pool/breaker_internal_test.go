package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	cfg := CircuitBreakerConfig{Threshold: 3, Window: 10 * time.Second, Cooldown: 5 * time.Second}

	t.Run("faults spread over more than the window", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		for i := range 10 {
			assert.False(t, b.fault(at(time.Duration(i)*6*time.Second)), "fault %d", i)
		}
		assert.Equal(t, CircuitClosed, b.state)
	})
	t.Run("threshold within the window opens", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(cfg)
		assert.False(t, b.fault(at(0)))
		assert.False(t, b.fault(at(11*time.Second)))
		assert.False(t, b.fault(at(12*time.Second)))
		assert.True(t, b.fault(at(13*time.Second)), "3 faults in 2s")
		assert.True(t, b.tripped())
		assert.False(t, b.fault(at(14*time.Second)), "faults while open do not extend the cooldown")
		assert.Equal(t, at(18*time.Second), b.until)

		var coe *CircuitOpenError
		require.ErrorAs(t, b.allow(at(17*time.Second)), &coe)
		assert.Equal(t, 3, coe.Faults)
		assert.Equal(t, int64(1), b.rejected)
		assert.True(t, b.openAt(at(17*time.Second)))

		require.NoError(t, b.allow(at(18*time.Second)))
		assert.Equal(t, CircuitHalfOpen, b.state)
		assert.True(t, b.fault(at(19*time.Second)), "a fault while half-open opens again")
		assert.Equal(t, at(24*time.Second), b.until)

		require.NoError(t, b.allow(at(24*time.Second)))
		b.success()
		assert.Equal(t, CircuitClosed, b.state)
		assert.False(t, b.fault(at(25*time.Second)), "the window starts afresh")
		assert.Equal(t, int64(2), b.opened)
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(CircuitBreakerConfig{Threshold: -1, Window: time.Hour, Cooldown: time.Hour})
		for range 100 {
			assert.False(t, b.fault(t0))
		}
		assert.NoError(t, b.allow(t0))
	})
}
