package pool

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoalescedLookupResultsAreIndependent(t *testing.T) {
	t.Parallel()
	p := &Pool{}
	lookup := p.coalesceLookups(func(context.Context, string) ([]string, error) {
		return []string{"192.0.2.1", "192.0.2.2"}, nil
	})
	var wg sync.WaitGroup
	results := make([][]string, 8)
	for i := range results {
		wg.Go(func() {
			addrs, err := lookup(context.Background(), "db.example")
			assert.NoError(t, err)
			addrs[0] = "changed" // must not affect any other caller
			results[i] = addrs
		})
	}
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, []string{"changed", "192.0.2.2"}, r)
	}
}

func TestCoalescedLookupSurvivesTheLeadersCancellation(t *testing.T) {
	t.Parallel()
	p := &Pool{}
	gate := make(chan struct{})
	started := make(chan struct{})
	calls := 0
	var mu sync.Mutex
	lookup := p.coalesceLookups(func(ctx context.Context, host string) ([]string, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			<-ctx.Done() // the first caller gives up while others may wait on it
			return nil, ctx.Err()
		}
		<-gate
		return []string{"192.0.2.9"}, nil
	})
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := lookup(leaderCtx, "db.example")
		leaderErr <- err
	}()
	<-started
	followerDone := make(chan []string, 1)
	go func() {
		addrs, err := lookup(context.Background(), "db.example")
		assert.NoError(t, err)
		followerDone <- addrs
	}()
	cancelLeader()
	require.True(t, errors.Is(<-leaderErr, context.Canceled))
	close(gate)
	assert.Equal(t, []string{"192.0.2.9"}, <-followerDone, "the follower never sees the leader's cancellation")
}
