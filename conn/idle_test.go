package conn_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// TestIdleStaleReplyInLaterSegment: a stale result that the server sends in
// a separate write after ReadyForQuery, when the client has already read
// everything it had, must still be caught before the next request is sent
// (the idle peek), never taken for that request's answer. TCP only: the
// peek needs a socket.
func TestIdleStaleReplyInLaterSegment(t *testing.T) {
	t.Parallel()
	sent := make(chan struct{})
	script := faultQueryPrefix(fmSelectOne(t)).
		Do(func(ctx context.Context, nc net.Conn) error {
			// Wait until the client has the first answer, then send a
			// second, unsolicited result in its own write.
			select {
			case <-sent:
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := nc.Write(fmEnc(t, fmRowDesc("c"), fmDataRow("STALE"), fmCmd("SELECT 1"), fmReady('I')))
			return err
		}).
		Do(func(ctx context.Context, nc net.Conn) error { close(sent); return nil }).
		StallUntilClosed()
	c, _ := faultConnect(t, pgtest.FakeTCP, script, nil)
	ctx := faultCtx(t)
	res, err := c.Exec(ctx, "select 1").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
	sent <- struct{}{} // the server writes the stale result now
	<-sent             // and has written it
	res, err = c.Exec(ctx, "select 2").ReadAll()
	for _, r := range res {
		assert.Empty(t, r.Rows, "the stale result was returned as the answer to the next query")
	}
	faultAssertDesynced(t, c, err, wire.ReasonUnexpectedMessage)
}
