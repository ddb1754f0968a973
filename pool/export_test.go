package pool

import (
	"context"
	"time"
)

// SetClock makes a Pool created from cfg read time from now for lifetimes,
// idle times, pings and the circuit breaker (the test seam of Config.now).
func SetClock(cfg *Config, now func() time.Time) { cfg.now = now }

// HealthCheck runs one round of the background health check on the calling
// goroutine.
func (p *Pool) HealthCheck(ctx context.Context) { p.healthCheck(ctx) }
