package conn_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestExecStartReplicationEndsTheStream: START_REPLICATION sent through Exec
// has no consumer for its COPY BOTH stream. Exec must end the stream at once
// (CopyDone, then the completion) instead of reading WAL until its context
// ends, and leave the connection idle for the next command.
func TestExecStartReplicationEndsTheStream(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	c := mustConnect(t, db.URL(pgtest.RoleReplication, "replication=true", "sslmode=disable"))
	ctx := boundedCtx(t, 30*time.Second)
	res, err := c.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	require.NoError(t, err)
	pos := string(res[0].Rows[0][2])

	res, err = c.Exec(ctx, "START_REPLICATION PHYSICAL "+pos).ReadAll()
	require.NoError(t, err, "the context must not have ended: Exec waited for WAL instead of ending the stream")
	var tags []string
	for _, r := range res {
		tags = append(tags, r.CommandTag.String())
	}
	assert.Equal(t, []string{"START_STREAMING", "START_REPLICATION"}, tags)

	res, err = c.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Len(t, res[0].Rows, 1, "the next command gets its own result")
}
