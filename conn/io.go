package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// ctxWatch interrupts blocking I/O on a net.Conn when a context ends, by
// moving the connection's deadline into the past. It starts no goroutine
// unless the context ends (context.AfterFunc).
type ctxWatch struct {
	mu    sync.Mutex // guards following fields
	nc    net.Conn
	ctx   context.Context
	stopF func() bool
	fired bool
	done  chan struct{} // closed when the AfterFunc finished
}

var pastDeadline = time.Unix(1, 0)

func (w *ctxWatch) start(ctx context.Context, nc net.Conn) {
	w.mu.Lock()
	w.nc, w.ctx, w.fired = nc, ctx, false
	w.mu.Unlock()
	if ctx.Done() == nil {
		w.stopF = nil
		return
	}
	w.done = make(chan struct{})
	done := w.done
	w.stopF = context.AfterFunc(ctx, func() {
		defer close(done)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.fired = true
		w.nc.SetDeadline(pastDeadline)
	})
}

// retarget points the watch at a new net.Conn (after the TLS handshake).
func (w *ctxWatch) retarget(nc net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nc = nc
	if w.fired {
		nc.SetDeadline(pastDeadline)
	}
}

// Fired reports whether the context ended while watched.
func (w *ctxWatch) Fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// stop ends the watch and clears the deadline. It returns the context's
// error if the context ended while watched.
func (w *ctxWatch) stop() error {
	if w.stopF == nil {
		return nil
	}
	f := w.stopF
	w.stopF = nil
	if f() {
		return nil
	}
	<-w.done
	w.nc.SetDeadline(time.Time{})
	return w.ctx.Err()
}

// ctxErr returns the watched context's error once it fired.
func (w *ctxWatch) ctxErr() error {
	if w.Fired() {
		return w.ctx.Err()
	}
	return nil
}

// begin starts an operation: the connection must be usable and free, and
// the context alive. Nothing has been sent when it fails.
func (c *Conn) begin(ctx context.Context) error {
	if c.err != nil {
		return c.err
	}
	if c.busy {
		return safeToRetry(ErrBusy)
	}
	if err := ctx.Err(); err != nil {
		return safeToRetry(err)
	}
	if err := c.readIdleInput(); err != nil {
		return safeToRetry(err)
	}
	c.busy = true
	c.watch.start(ctx, c.nc)
	return nil
}

// idleProbe bounds the read of input found waiting while idle: the bytes
// are already there (a TLS record may need a moment to complete).
const idleProbe = 50 * time.Millisecond

// readIdleInput reads whatever the server sent while nothing was
// outstanding, in the idle state, where only asynchronous messages
// (notices, parameter changes, notifications) are legal: a stale or
// unsolicited reply must never be taken for the answer to the request about
// to be sent, so it desynchronizes the connection here. Bytes already in
// the read buffer are always checked; on Unix sockets and TCP (also under
// TLS) a non-blocking MSG_PEEK also finds bytes that arrived after the last
// read, at the cost of one system call per request.
func (c *Conn) readIdleInput() error {
	if c.fe.State() != wire.StateIdle {
		return nil
	}
	if !c.peekTried {
		c.peekTried = true
		c.idlePeek = newSocketPeeker(c.nc)
	}
	probing := false
	defer func() {
		if probing {
			c.nc.SetReadDeadline(time.Time{})
		}
	}()
	for c.fe.State() == wire.StateIdle {
		if c.fe.Buffered() == 0 && (c.idlePeek == nil || c.idlePeek.quiet()) {
			return nil
		}
		if !probing {
			probing = true
			c.nc.SetReadDeadline(time.Now().Add(idleProbe))
		}
		msg, ev, err := c.fe.Receive()
		if err != nil {
			if isTimeout(err) {
				// A partial message stays buffered and is read with the
				// next reply, where it is checked again.
				return nil
			}
			return c.recvErr(err)
		}
		c.traceRecv(msg)
		switch {
		case ev.Fatal:
			return c.die(newPgError(msg.(*pgproto3.ErrorResponse)))
		case ev.Async:
			c.handleAsync(msg)
		}
	}
	return nil
}

// end finishes an operation.
func (c *Conn) end() {
	c.watch.stop()
	c.busy = false
}

// sendWakeDelay is how long the send-wake timer is set for. Short, so that
// it is usually the earliest timer of the process (the runtime wakes a
// sleeping poller only for a timer earlier than the one it sleeps for); long
// enough that a write rarely outlasts it, and one that does only runs a
// function that does nothing.
const sendWakeDelay = 10 * time.Millisecond

// sendWakeNoop is the function of the send-wake timer (package
// documentation, Send wake).
func sendWakeNoop() {}

// newSendWake returns the send-wake timer for a connection, or nil when the
// hint is off or nc is not a socket (no network poller wait to speed up).
func newSendWake(cfg *Config, nc net.Conn) *time.Timer {
	if cfg.NoSendWake || !isSocket(nc) {
		return nil
	}
	t := time.AfterFunc(sendWakeDelay, sendWakeNoop)
	t.Stop()
	return t
}

// beneathTLS returns the connection under a TLS layer, or nc itself.
func beneathTLS(nc net.Conn) net.Conn {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return nc
}

// isSocket reports whether nc is a TCP or Unix socket (under TLS too): a
// connection whose reads wait in the runtime's network poller.
func isSocket(nc net.Conn) bool {
	switch beneathTLS(nc).(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// flush writes the pending output. A failed write leaves the stream in an
// unknown state: the connection is closed.
func (c *Conn) flush() error {
	out := c.fe.Output()
	if len(out) == 0 {
		return nil
	}
	if c.sendWake != nil {
		c.sendWake.Reset(sendWakeDelay)
	}
	_, err := c.nc.Write(out)
	if c.sendWake != nil {
		c.sendWake.Stop()
	}
	c.fe.ResetOutput()
	if err != nil {
		if cerr := c.watch.ctxErr(); cerr != nil {
			err = errors.Join(cerr, err)
		}
		return c.die(err)
	}
	return nil
}

// recv returns the next message that belongs to a request, handling
// notices, parameter changes and notifications on the way. A FATAL error
// closes the connection and is returned as a *PgError wrapped with
// ErrClosed. A context that ends while waiting triggers cancellation
// (recoverFromCancel).
func (c *Conn) recv() (pgproto3.BackendMessage, wire.Event, error) {
	if m := c.pushback; m != nil {
		c.pushback = nil
		return m, wire.Event{}, nil
	}
	for {
		msg, ev, err := c.fe.Receive()
		if err != nil {
			return nil, ev, c.recvErr(err)
		}
		c.traceRecv(msg)
		switch {
		case ev.Discard:
			continue
		case ev.Async:
			c.handleAsync(msg)
			continue
		case ev.Fatal:
			return nil, ev, c.die(newPgError(msg.(*pgproto3.ErrorResponse)))
		}
		return msg, ev, nil
	}
}

func (c *Conn) recvErr(err error) error {
	var pe *wire.ProtocolError
	switch {
	case errors.As(err, &pe):
		return c.die(err)
	case errors.Is(err, io.EOF):
		return c.die(io.ErrUnexpectedEOF)
	case isTimeout(err) && c.watch.Fired():
		return c.recoverFromCancel(c.watch.ctx.Err())
	}
	return c.die(err)
}

// handleAsync dispatches a NoticeResponse, ParameterStatus or
// NotificationResponse.
func (c *Conn) handleAsync(msg pgproto3.BackendMessage) {
	switch m := msg.(type) {
	case *pgproto3.NoticeResponse:
		if c.cfg.OnNotice != nil {
			c.cfg.OnNotice((*Notice)(newPgError((*pgproto3.ErrorResponse)(m))))
		}
	case *pgproto3.ParameterStatus:
		c.params[m.Name] = m.Value
	case *pgproto3.NotificationResponse:
		n := Notification{PID: m.PID, Channel: m.Channel, Payload: m.Payload}
		if c.cfg.OnNotification != nil {
			c.cfg.OnNotification(&n)
			return
		}
		limit := c.cfg.NotificationBuffer
		if limit <= 0 {
			limit = DefaultNotificationBuffer
		}
		if len(c.notifications) >= limit {
			c.notifications = c.notifications[1:]
			c.dropped++
		}
		c.notifications = append(c.notifications, n)
	}
}

// recoverFromCancel runs when the operation's context ended while replies
// were outstanding. It sends a CancelRequest, waits until the server has
// taken it, and drains every outstanding reply up to ReadyForQuery within
// DrainTimeout, so that a late 57014 cannot hit the next request. On success
// the connection is idle again; otherwise it is closed. Either way the
// operation fails with the context's error.
func (c *Conn) recoverFromCancel(ctxErr error) error {
	c.watch.stop()
	timeout := c.cfg.DrainTimeout
	if timeout <= 0 {
		timeout = DefaultDrainTimeout
	}
	deadline := time.Now().Add(timeout)
	if c.drainHook != nil {
		if err := c.drainHook(); err != nil {
			return c.die(errors.Join(ctxErr, err))
		}
	}
	if c.fe.State() != wire.StateIdle {
		cctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := c.cancelRequest(cctx)
		cancel()
		if err != nil {
			return c.die(errors.Join(ctxErr, err))
		}
	}
	c.nc.SetDeadline(deadline)
	if err := c.drain(); err != nil {
		return c.die(errors.Join(ctxErr, err))
	}
	c.nc.SetDeadline(time.Time{})
	return ctxErr
}

// drain reads and discards replies until nothing is outstanding, ending an
// interrupted COPY and sending a Sync where the server waits for one.
func (c *Conn) drain() error {
	for c.fe.State() != wire.StateIdle {
		switch c.fe.State() {
		case wire.StateCopyIn:
			if err := c.fe.SendCopyFail("canceled by the client"); err == nil {
				if c.tr != nil {
					c.traceSend(&pgproto3.CopyFail{Message: "canceled by the client"})
				}
			}
			if c.fe.AwaitingSync() {
				c.fe.SendSync()
				if c.tr != nil {
					c.traceSend(&pgproto3.Sync{})
				}
			}
		case wire.StateCopyBoth:
			if err := c.fe.SendCopyDone(); err == nil {
				if c.tr != nil {
					c.traceSend(&pgproto3.CopyDone{})
				}
			}
		}
		if c.fe.AwaitingSync() && c.fe.State() == wire.StateBusy {
			c.fe.SendSync()
			if c.tr != nil {
				c.traceSend(&pgproto3.Sync{})
			}
		}
		if len(c.fe.Output()) > 0 {
			if _, err := c.nc.Write(c.fe.Output()); err != nil {
				return err
			}
			c.fe.ResetOutput()
		}
		msg, ev, err := c.fe.Receive()
		if err != nil {
			return err
		}
		c.traceRecv(msg)
		if ev.Fatal {
			return newPgError(msg.(*pgproto3.ErrorResponse))
		}
		if ev.Async {
			c.handleAsync(msg)
		}
	}
	return nil
}

// Defaults of Config fields that bound resources.
const (
	// DefaultNotificationBuffer is the default bound of the notification
	// queue.
	DefaultNotificationBuffer = 1024
	// DefaultDrainTimeout is the default bound of the recovery after a
	// cancelled request.
	DefaultDrainTimeout = 5 * time.Second
)
