package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// Results and refusals of COPY BOTH.
var (
	// ErrCopyDone is returned by CopyBoth.Receive once the server has sent
	// CopyDone: it will send no more data. The caller ends its own half with
	// CloseSend (Finish does it too) and reads the completion with Finish.
	ErrCopyDone = errors.New("conn: the server ended its half of COPY BOTH")
	// ErrStreamEnded reports that the server completed the streaming command
	// without CopyDone, which a walsender does only when it shuts down: the
	// session is over and the connection is closed. The error a call
	// returns matches both ErrStreamEnded and ErrClosed.
	ErrStreamEnded = errors.New("conn: the server ended the stream without CopyDone (server shutdown)")
	// ErrWakeUp is returned by CopyBoth.ReceiveBefore when its wake-up time
	// passed before a message arrived. Nothing is lost: a message that was
	// partly read is completed by the next call.
	ErrWakeUp = errors.New("conn: no copy data arrived before the wake-up time")
	// ErrNotCopyBoth is returned by StartCopyBoth when the command ran to
	// completion without starting COPY BOTH. The connection is idle.
	ErrNotCopyBoth = errors.New("conn: the command did not start COPY BOTH")
	// ErrNotReplication is returned by StartCopyBoth on a connection that
	// was not opened with Config.Replication. Nothing was sent.
	ErrNotReplication = errors.New("conn: COPY BOTH needs a replication connection (Config.Replication)")
)

// CopyBoth is the COPY BOTH sub-protocol of a walsender connection, started
// by StartCopyBoth: the server streams CopyData, the client may send
// CopyData at any time, and each side ends its half with CopyDone. Every
// message passes through the connection's protocol tracker, so a CopyData
// after the server's CopyDone, a second CopyDone or any message that is not
// legal in COPY BOTH desynchronizes the connection.
//
// The connection is busy from StartCopyBoth until Finish returns or the
// stream ends with an error; other calls on it fail with ErrBusy meanwhile.
//
// A CopyBoth is not safe for concurrent use.
type CopyBoth struct {
	c          *Conn
	serverDone bool // the server sent CopyDone
	clientDone bool // the client sent CopyDone
	done       bool // the operation is over; the connection was released
	err        error

	// The context the connection's watch is armed with, kept across calls
	// so that a stream read with one context arms it once: armedDone is
	// that context's Done channel (comparable, unlike the context).
	armed     context.Context
	armedDone <-chan struct{}
	wake      time.Time // the read deadline currently set for wake-ups
}

// CopyBothResult is what the server sends after both halves of COPY BOTH
// were ended (§6.3 of the protocol reference).
type CopyBothResult struct {
	// Fields are the column names of the one-row result set a walsender
	// sends when a physical stream reached the end of a historic timeline
	// (next_tli, next_tli_startpos); nil when none was sent.
	Fields []string
	// Row holds the values of that row (copies; nil is SQL NULL); nil when
	// none was sent.
	Row [][]byte
	// Tags are the two CommandComplete tags: "COPY 0" (logical) or
	// "START_STREAMING" (physical), then "START_REPLICATION".
	Tags []CommandTag
}

// StartCopyBoth sends sql (START_REPLICATION …) as a simple Query on a
// replication connection and reads up to the CopyBothResponse.
//
// An ErrorResponse before the CopyBothResponse (an unknown slot, say) is
// returned as a *PgError after the connection has read the ReadyForQuery
// that follows it: the connection is idle and the next query gets its own
// results. A command that completes without starting COPY BOTH is read to
// its end and reported as ErrNotCopyBoth. If ctx ends before the
// CopyBothResponse, the request is cancelled and drained as Exec does.
func (c *Conn) StartCopyBoth(ctx context.Context, sql string) (*CopyBoth, error) {
	if c.err == nil && c.cfg.Replication == ReplicationNone {
		return nil, safeToRetry(ErrNotReplication)
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	if _, err := c.fe.SendQuery(sql); err != nil {
		c.end()
		return nil, safeToRetry(err)
	}
	if c.tr != nil {
		if c.tr != nil {
			c.traceSend(&pgproto3.Query{String: sql})
		}
	}
	if err := c.flush(); err != nil {
		c.end()
		return nil, err
	}
	var pgErr error
	for {
		msg, _, err := c.recv()
		if err != nil {
			c.end()
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyBothResponse:
			// The watch stays armed with ctx: Receive re-arms it only when
			// given another context.
			return &CopyBoth{c: c, armed: ctx, armedDone: ctx.Done()}, nil
		case *pgproto3.ErrorResponse:
			pgErr = newPgError(m)
		case *pgproto3.CopyInResponse, *pgproto3.CopyOutResponse:
			// Not a streaming command: end that copy and read on.
			if err := c.drain(); err != nil {
				c.end()
				return nil, c.die(err)
			}
			c.end()
			return nil, ErrNotCopyBoth
		case *pgproto3.ReadyForQuery:
			c.end()
			if pgErr != nil {
				return nil, pgErr
			}
			return nil, ErrNotCopyBoth
		}
	}
}

// Desync marks the connection desynchronized because a higher layer found a
// protocol violation inside data the wire layer cannot interpret (a
// replication stream whose WAL position went backwards, a malformed
// pgoutput message). The connection is closed at once; the returned error,
// like every later call's, matches ErrClosed and unwraps to a
// *wire.ProtocolError with reason r. msgType is the message that carried
// the violation (0 if none). If the connection is already unusable, its
// error is returned unchanged.
//
// Desync is the hook for layers built on conn (replication, pgcopy); an
// application has no reason to call it.
func (c *Conn) Desync(r wire.Reason, msgType byte, detail string) error {
	if c.err != nil {
		return c.err
	}
	return c.die(c.fe.Desync(r, msgType, detail))
}

// usable returns the error that ends every call once the operation is over.
func (cb *CopyBoth) usable() error {
	if err := cb.c.err; err != nil {
		return err
	}
	if cb.done {
		if cb.err != nil {
			return cb.err
		}
		return errors.New("conn: COPY BOTH is finished")
	}
	return nil
}

// arm points the connection's context watch at ctx unless it already
// watches a context with the same Done channel.
func (cb *CopyBoth) arm(ctx context.Context) {
	d := ctx.Done()
	if cb.armed != nil && d == cb.armedDone {
		return
	}
	cb.disarm()
	cb.c.watch.start(ctx, cb.c.nc)
	cb.armed, cb.armedDone = ctx, d
}

// disarm clears a wake-up deadline and stops the watch, which clears the
// deadline it may have set.
func (cb *CopyBoth) disarm() {
	if !cb.wake.IsZero() {
		cb.c.nc.SetReadDeadline(time.Time{})
		cb.wake = time.Time{}
	}
	cb.c.watch.stop()
	cb.armed, cb.armedDone = nil, nil
}

// setWake sets the read deadline to t (zero: none) unless the watched
// context already moved it into the past.
func (cb *CopyBoth) setWake(t time.Time) {
	if t.Equal(cb.wake) {
		return
	}
	w := &cb.c.watch
	w.mu.Lock()
	if !w.fired {
		cb.c.nc.SetReadDeadline(t)
	}
	w.mu.Unlock()
	cb.wake = t
}

// finish ends the operation with err (nil after a normal Finish) and
// releases the connection.
func (cb *CopyBoth) finish(err error) {
	if cb.done {
		return
	}
	cb.done, cb.err = true, err
	cb.disarm()
	cb.c.end()
}

// Receive waits for the next CopyData from the server and returns its
// payload, which aliases the connection's read buffer and is valid until the
// next call on the CopyBoth.
//
// It returns ErrCopyDone once the server has ended its half, and an error
// matching ErrStreamEnded when the server completed the command without
// CopyDone (the connection is then closed). An ErrorResponse ends the
// stream: it is returned as a *PgError once the ReadyForQuery after it was
// read, and the connection is idle. If ctx ends while Receive waits, it
// returns the context's error and the stream is left as it was: a later
// call resumes, and CloseSend and Finish end the stream cleanly.
func (cb *CopyBoth) Receive(ctx context.Context) ([]byte, error) {
	return cb.receive(ctx, time.Time{})
}

// ReceiveBefore is Receive with a wake-up time: when no message has arrived
// by wake it returns ErrWakeUp and the stream is left as it was, so that the
// caller can send a periodic status message and call again. A zero wake
// waits without limit.
func (cb *CopyBoth) ReceiveBefore(ctx context.Context, wake time.Time) ([]byte, error) {
	return cb.receive(ctx, wake)
}

func (cb *CopyBoth) receive(ctx context.Context, wake time.Time) ([]byte, error) {
	if err := cb.usable(); err != nil {
		return nil, err
	}
	if cb.serverDone {
		return nil, ErrCopyDone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := cb.c
	if c.tr == nil {
		// A buffered CopyData needs no wait: the wire fast path checks it
		// as Receive would.
		if data, ok := c.fe.NextCopyData(); ok {
			return data, nil
		}
	}
	cb.arm(ctx)
	cb.setWake(wake)
	for {
		msg, ev, err := c.fe.Receive()
		if err != nil {
			if isTimeout(err) {
				if c.watch.Fired() {
					// The stream is intact: the Reader keeps a partly read
					// message and resumes it on the next call.
					cb.disarm()
					return nil, ctx.Err()
				}
				if !wake.IsZero() {
					cb.setWake(time.Time{})
					if c.watch.Fired() {
						cb.disarm()
						return nil, ctx.Err()
					}
					return nil, ErrWakeUp
				}
			}
			err = c.recvErr(err)
			cb.finish(err)
			return nil, err
		}
		if c.tr != nil {
			c.traceRecv(msg)
		}
		switch {
		case ev.Discard:
			continue
		case ev.Async:
			c.handleAsync(msg)
			continue
		case ev.Fatal:
			err := c.die(newPgError(msg.(*pgproto3.ErrorResponse)))
			cb.finish(err)
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			return m.Data, nil
		case *pgproto3.CopyDone:
			cb.serverDone = true
			return nil, ErrCopyDone
		case *pgproto3.CommandComplete:
			// Without CopyDone: a walsender that shuts down.
			err := c.die(ErrStreamEnded)
			cb.finish(err)
			return nil, err
		case *pgproto3.ErrorResponse:
			err := cb.readError(newPgError(m))
			cb.finish(err)
			return nil, err
		default:
			err := c.die(fmt.Errorf("%w: unexpected %s in COPY BOTH", errInternal, msgName(msg)))
			cb.finish(err)
			return nil, err
		}
	}
}

// readError reads up to the ReadyForQuery that follows an ErrorResponse and
// returns pgErr, or the error that prevented reaching ReadyForQuery.
func (cb *CopyBoth) readError(pgErr *PgError) error {
	for {
		msg, _, err := cb.c.recv()
		if err != nil {
			return err
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return pgErr
		}
	}
}

// Send sends payload to the server as one CopyData and writes it out at
// once. It fails without sending anything once the client ended its half
// (CloseSend) or the stream ended. If ctx ends while the message is being
// written, the connection is closed (the server may hold half a message).
func (cb *CopyBoth) Send(ctx context.Context, payload []byte) error {
	if err := cb.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return safeToRetry(err)
	}
	c := cb.c
	if err := c.fe.SendCopyData(payload); err != nil {
		return safeToRetry(err)
	}
	if c.tr != nil {
		if c.tr != nil {
			c.traceSend(&pgproto3.CopyData{Data: payload})
		}
	}
	cb.arm(ctx)
	if err := c.flush(); err != nil {
		cb.finish(err)
		return err
	}
	return nil
}

// CloseSend ends the client's half of the stream with CopyDone. The server
// answers with its own CopyDone (if it has not sent it already); CopyData
// already in flight may arrive before it and is discarded by Finish.
func (cb *CopyBoth) CloseSend(ctx context.Context) error {
	if err := cb.usable(); err != nil {
		return err
	}
	if cb.clientDone {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return safeToRetry(err)
	}
	c := cb.c
	if err := c.fe.SendCopyDone(); err != nil {
		return safeToRetry(err)
	}
	if c.tr != nil {
		if c.tr != nil {
			c.traceSend(&pgproto3.CopyDone{})
		}
	}
	cb.clientDone = true
	cb.arm(ctx)
	if err := c.flush(); err != nil {
		cb.finish(err)
		return err
	}
	return nil
}

// Finish ends the stream: it sends CopyDone if CloseSend was not called,
// discards the CopyData still in flight (a walsender may send some even
// after its own CopyDone: a keepalive, the rest of a transaction it was
// decoding), and reads the completion sequence: an optional one-row result
// set (a physical stream at the end of a historic timeline), exactly two
// CommandCompletes, and ReadyForQuery. Any other shape desynchronizes the connection with
// wire.ReasonReplicationState. On success the connection is idle.
//
// An ErrorResponse is returned as a *PgError once ReadyForQuery was read.
// If ctx ends before the sequence is complete, the request is cancelled and
// drained as Exec does.
func (cb *CopyBoth) Finish(ctx context.Context) (*CopyBothResult, error) {
	if err := cb.usable(); err != nil {
		return nil, err
	}
	if !cb.clientDone {
		if err := cb.CloseSend(ctx); err != nil {
			return nil, err
		}
	}
	c := cb.c
	cb.arm(ctx)
	cb.setWake(time.Time{})
	res := &CopyBothResult{}
	var pgErr error
	rowDesc := false
	for {
		msg, _, err := c.recv()
		if err != nil {
			cb.finish(err)
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			// In flight when the client ended its half, or sent by the
			// walsender after its CopyDone: dropped.
		case *pgproto3.CopyDone:
			cb.serverDone = true
		case *pgproto3.RowDescription:
			if rowDesc || len(res.Tags) > 0 {
				return nil, cb.violation('T', "a second result set, or one after CommandComplete, in the completion of COPY BOTH")
			}
			rowDesc = true
			for i := range m.Fields {
				res.Fields = append(res.Fields, string(m.Fields[i].Name))
			}
		case *pgproto3.DataRow:
			if res.Row != nil || len(res.Tags) > 0 {
				return nil, cb.violation('D', "more than one row in the completion of COPY BOTH")
			}
			res.Row = make([][]byte, len(m.Values))
			for i, v := range m.Values {
				if v != nil {
					res.Row[i] = bytes.Clone(v)
				}
			}
		case *pgproto3.CommandComplete:
			if !cb.serverDone {
				// The server completed without CopyDone: it shuts down.
				err := c.die(ErrStreamEnded)
				cb.finish(err)
				return nil, err
			}
			if len(res.Tags) == 2 {
				return nil, cb.violation('C', "a third CommandComplete in the completion of COPY BOTH")
			}
			res.Tags = append(res.Tags, CommandTag{s: string(m.CommandTag)})
		case *pgproto3.ErrorResponse:
			pgErr = newPgError(m)
		case *pgproto3.ReadyForQuery:
			if pgErr != nil {
				cb.finish(pgErr)
				return nil, pgErr
			}
			switch {
			case rowDesc && res.Row == nil:
				return nil, cb.violation('Z', "a result set without its row in the completion of COPY BOTH")
			case len(res.Tags) != 2:
				return nil, cb.violation('Z', strconv.Itoa(len(res.Tags))+" CommandCompletes in the completion of COPY BOTH, expected 2")
			}
			cb.finish(nil)
			return res, nil
		}
	}
}

// violation desynchronizes the connection and ends the operation.
func (cb *CopyBoth) violation(msgType byte, detail string) error {
	err := cb.c.Desync(wire.ReasonReplicationState, msgType, detail)
	cb.finish(err)
	return err
}

// ServerDone reports whether the server has ended its half with CopyDone.
func (cb *CopyBoth) ServerDone() bool { return cb.serverDone }

// ClientDone reports whether the client has ended its half with CopyDone.
func (cb *CopyBoth) ClientDone() bool { return cb.clientDone }
