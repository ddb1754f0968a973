package conn

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// DroppedNotificationsError reports that the bounded notification queue
// overflowed and the oldest notifications were dropped.
type DroppedNotificationsError struct {
	// Dropped is the number of notifications lost.
	Dropped int
}

// Error implements error.
func (e *DroppedNotificationsError) Error() string {
	return fmt.Sprintf("conn: %d notifications dropped: the queue of Config.NotificationBuffer is full", e.Dropped)
}

// WaitForNotification returns the next notification (LISTEN/NOTIFY). It
// first returns those queued while other calls ran, then waits on the
// connection. If notifications were dropped because the queue was full, the
// next call returns a *DroppedNotificationsError once. If ctx ends while
// waiting, the connection stays idle and usable. When Config.OnNotification
// is set, notifications go to it instead and this call only waits.
func (c *Conn) WaitForNotification(ctx context.Context) (*Notification, error) {
	if c.err != nil {
		// Closed or desynchronized: nothing from this stream is handed
		// out any more, queued notifications included.
		return nil, c.err
	}
	if c.dropped > 0 {
		n := c.dropped
		c.dropped = 0
		return nil, &DroppedNotificationsError{Dropped: n}
	}
	if len(c.notifications) > 0 {
		n := c.notifications[0]
		c.notifications = c.notifications[1:]
		return &n, nil
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	if c.dropped > 0 || len(c.notifications) > 0 {
		// begin queued notifications that were already buffered.
		c.end()
		return c.WaitForNotification(ctx)
	}
	defer c.end()
	for {
		msg, ev, err := c.fe.Receive()
		if err != nil {
			if isTimeout(err) && c.watch.Fired() {
				// Idle: nothing to cancel; the Reader keeps any partial
				// message and resumes on the next call.
				return nil, c.watch.ctx.Err()
			}
			return nil, c.recvErr(err)
		}
		c.traceRecv(msg)
		if ev.Fatal {
			return nil, c.die(newPgError(msg.(*pgproto3.ErrorResponse)))
		}
		if ev.Discard {
			continue
		}
		if m, ok := msg.(*pgproto3.NotificationResponse); ok && c.cfg.OnNotification == nil {
			return &Notification{PID: m.PID, Channel: m.Channel, Payload: m.Payload}, nil
		}
		c.handleAsync(msg)
	}
}
