package conn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// canceledCtx returns a context that has already ended: a call that needs
// the network fails with it at once, so a call that succeeds with it proves
// it was served from memory.
func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestNotification checks LISTEN on one connection and NOTIFY from
// another: the listener receives the channel, the payload and the
// notifier's process ID.
func TestNotification(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	listener := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	notifier := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=require"))
	mustExec(t, listener, `listen "Chan é"`)
	mustExec(t, notifier, `notify "Chan é", 'payload ✓'; select pg_notify('other', 'not listened'); notify "Chan é", 'second'`)

	ctx := boundedCtx(t, 30*time.Second)
	for _, want := range []string{"payload ✓", "second"} {
		n, err := listener.WaitForNotification(ctx)
		require.NoError(t, err)
		assert.Equal(t, "Chan é", n.Channel)
		assert.Equal(t, want, n.Payload)
		assert.Equal(t, notifier.PID(), n.PID)
	}
	requireUsable(t, listener)
}

// TestNotificationDuringQuery checks that notifications that arrive while
// another query is read are queued and delivered by WaitForNotification
// afterwards, without touching the network.
func TestNotificationDuringQuery(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	mustExec(t, c, "listen ch")
	// A session's own notifications arrive before the ReadyForQuery of
	// the query that sent them, in the middle of its results.
	res, err := c.Exec(t.Context(), "notify ch, 'one'; select 'result'; notify ch, 'two'").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, [][][]byte{{[]byte("result")}}, res[1].Rows)
	// And with the extended protocol.
	r := c.ExecParams(t.Context(), "select pg_notify('ch', $1)", [][]byte{[]byte("three")}, nil, nil, nil).Read()
	require.NoError(t, r.Err)

	for _, want := range []string{"one", "two", "three"} {
		n, err := c.WaitForNotification(canceledCtx())
		require.NoError(t, err, "a queued notification is returned without I/O")
		assert.Equal(t, "ch", n.Channel)
		assert.Equal(t, want, n.Payload)
		assert.Equal(t, c.PID(), n.PID)
	}
	_, err = c.WaitForNotification(canceledCtx())
	assert.ErrorIs(t, err, context.Canceled, "the queue is empty")
	requireUsable(t, c)
}

// TestNotificationFromOtherSessionDuringQuery checks that a notification
// another session sends while this one runs a query is queued while the
// query's results are read (the server sends notifications that arrived
// during a transaction before its ReadyForQuery) and delivered afterwards.
func TestNotificationFromOtherSessionDuringQuery(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	listener := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	notifier := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	guard := boundedCtx(t, 30*time.Second)
	mustExec(t, listener, "listen ch")
	// The listener's query waits for a lock the notifier holds, so the
	// notification is sent while the query runs.
	mustExec(t, notifier, "select pg_advisory_lock(42)")
	mrr := listener.Exec(guard, "select pg_advisory_xact_lock(42); select 'query result'")
	require.NoError(t, waitActive(guard, notifier, listener.PID(), "select pg_advisory_xact_lock"))
	mustExec(t, notifier, "notify ch, 'while busy'")
	mustExec(t, notifier, "select pg_advisory_unlock(42)")

	res, err := mrr.ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, [][][]byte{{[]byte("query result")}}, res[1].Rows)
	n, err := listener.WaitForNotification(canceledCtx())
	require.NoError(t, err, "queued while the query was read")
	assert.Equal(t, "while busy", n.Payload)
	assert.Equal(t, notifier.PID(), n.PID)
	requireUsable(t, listener)
}

// TestNotificationOverflow checks the bounded queue: with room for two,
// five notifications yield a *conn.DroppedNotificationsError for the three
// oldest, then the two newest.
func TestNotificationOverflow(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg := mustParseConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	cfg.NotificationBuffer = 2
	c := mustConnectConfig(t, cfg)
	mustExec(t, c, "listen ch")
	mustExec(t, c, "notify ch, '1'; notify ch, '2'; notify ch, '3'; notify ch, '4'; notify ch, '5'")

	_, err := c.WaitForNotification(canceledCtx())
	var de *conn.DroppedNotificationsError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 3, de.Dropped)
	for _, want := range []string{"4", "5"} {
		n, err := c.WaitForNotification(canceledCtx())
		require.NoError(t, err)
		assert.Equal(t, want, n.Payload)
	}
	_, err = c.WaitForNotification(canceledCtx())
	assert.ErrorIs(t, err, context.Canceled, "the loss is reported once")
	assert.False(t, errors.As(err, &de))
	requireUsable(t, c)
}

// TestWaitForNotificationContext checks that a wait whose context ends
// returns the context's error and leaves the connection idle and usable,
// still listening.
func TestWaitForNotificationContext(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	listener := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=require"))
	notifier := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	mustExec(t, listener, "listen ch")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n, err := listener.WaitForNotification(ctx)
	assert.Nil(t, n)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, conn.Timeout(err))
	assert.NoError(t, listener.Err())
	assert.Equal(t, wire.StateIdle, listener.State())
	requireUsable(t, listener)

	// Canceled (not timed out) while waiting.
	ctx, cancel = context.WithCancel(context.Background())
	timer := time.AfterFunc(20*time.Millisecond, cancel)
	defer timer.Stop()
	_, err = listener.WaitForNotification(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	requireUsable(t, listener)

	mustExec(t, notifier, "notify ch, 'after the timeouts'")
	n, err = listener.WaitForNotification(boundedCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, "after the timeouts", n.Payload)
}

// TestOnNotice checks that RAISE NOTICE and server warnings reach
// Config.OnNotice with their fields, through both protocols.
func TestOnNotice(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg := mustParseConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	var notices []*conn.Notice // OnNotice runs on the goroutine that reads
	cfg.OnNotice = func(n *conn.Notice) { notices = append(notices, n) }
	c := mustConnectConfig(t, cfg)

	mustExec(t, c, `do $$ begin raise notice 'hello %', 42 using hint = 'a hint', detail = 'détail'; end $$`)
	require.Len(t, notices, 1)
	n := notices[0]
	assert.Equal(t, "NOTICE", n.SeverityUnlocalized)
	assert.Equal(t, "00000", n.Code)
	assert.Equal(t, "hello 42", n.Message)
	assert.Equal(t, "a hint", n.Hint)
	assert.Equal(t, "détail", n.Detail)

	r := c.ExecParams(t.Context(), "drop table if exists not_there", nil, nil, nil, nil).Read()
	require.NoError(t, r.Err)
	require.Len(t, notices, 2, "DROP IF EXISTS of a missing table notices, in the extended protocol too")
	assert.Equal(t, "NOTICE", notices[1].SeverityUnlocalized)
	assert.Equal(t, "00000", notices[1].Code)

	mustExec(t, c, "rollback") // no transaction: a WARNING
	require.Len(t, notices, 3)
	assert.Equal(t, "WARNING", notices[2].SeverityUnlocalized)
	assert.Equal(t, "25P01", notices[2].Code, "no_active_sql_transaction")
	requireUsable(t, c)
}

// TestOnNotification checks that Config.OnNotification receives
// notifications instead of the queue.
func TestOnNotification(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg := mustParseConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	var got []string
	cfg.OnNotification = func(n *conn.Notification) { got = append(got, n.Channel+"/"+n.Payload) }
	c := mustConnectConfig(t, cfg)
	mustExec(t, c, "listen a; listen b")
	mustExec(t, c, "notify a, '1'; notify b, '2'")
	assert.Equal(t, []string{"a/1", "b/2"}, got)
	_, err := c.WaitForNotification(canceledCtx())
	assert.ErrorIs(t, err, context.Canceled, "nothing was queued")
}
