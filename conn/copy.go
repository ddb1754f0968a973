package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// CopyDirection says which way the data of a COPY flows.
type CopyDirection uint8

// COPY directions.
const (
	// CopyIn is COPY … FROM STDIN: the client sends the data.
	CopyIn CopyDirection = iota + 1
	// CopyOut is COPY … TO STDOUT: the server sends the data.
	CopyOut
)

// String returns "COPY FROM STDIN", "COPY TO STDOUT" or "COPY (any
// direction)" for the zero value.
func (d CopyDirection) String() string {
	switch d {
	case CopyIn:
		return "COPY FROM STDIN"
	case CopyOut:
		return "COPY TO STDOUT"
	}
	return "COPY (any direction)"
}

// DefaultCopyChunkSize is the default largest CopyData payload a Copy
// sends, and the buffer size of ReadFrom.
const DefaultCopyChunkSize = 256 << 10

// copyBufs keeps ReadFrom's buffers of the default chunk size (with room
// for the message header) between COPYs: a COPY neither allocates nor
// zeroes 256 KiB. ReadFrom writes synchronously, so a buffer is free again
// when ReadFrom returns.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, wire.CopyDataHeader+DefaultCopyChunkSize)
	return &b
}}

// copyPollWait is how long the check for server input before each CopyData
// may wait where the socket cannot be peeked at: long enough for one
// non-blocking read, far too short to matter for throughput.
const copyPollWait = time.Microsecond

// copyPollPending is how long that check waits for the rest of a message
// once the socket shows that something arrived.
const copyPollPending = 5 * time.Millisecond

// maxCopyFailReason is the longest reason CopyFail carries (the wire layer
// refuses more than 9000 bytes).
const maxCopyFailReason = 8000

// ErrNotCopy is returned by CopyStart when the statement did not start the
// COPY the caller asked for: it ran as another statement (the error wraps
// ErrNotCopy and names its command tag) or it started a COPY in the other
// direction. The connection is idle again, unless a connection error is
// joined to it.
var ErrNotCopy = errors.New("conn: the statement did not start the expected COPY")

// errCopyAborted is the internal cause passed through the cancel-and-drain
// path when the client, not a context, stops a COPY.
var errCopyAborted = errors.New("conn: copy aborted by the client")

// CopyOptions configure CopyStart. The zero value is valid.
type CopyOptions struct {
	// Direction is the COPY the caller expects. When the statement text
	// declares the other direction (FROM STDIN against TO STDOUT) the call
	// fails before anything is sent; when the server starts the other
	// direction anyway the COPY is ended (CopyFail, or CancelRequest and
	// drain) and CopyStart fails with ErrNotCopy. Zero: either direction.
	Direction CopyDirection
	// ChunkSize is the largest CopyData payload Write and ReadFrom send; a
	// larger Write is split. Zero: DefaultCopyChunkSize.
	ChunkSize int
	// Extended runs the statement through the extended protocol (Parse,
	// Bind, Execute and Sync in one write) instead of a simple Query. The
	// Sync is swallowed by a COPY FROM STDIN, so a fresh one is sent after
	// CopyDone or CopyFail. Zero: simple protocol.
	Extended bool
}

// Copy is one COPY FROM STDIN or COPY TO STDOUT in progress, started by
// CopyStart. It owns the connection until it ends: after Finish, after Fail,
// after Read returned io.EOF or an error, or after any error from Write or
// ReadFrom. A Copy is not safe for concurrent use.
//
// Every message goes through the connection's protocol tracker: a server
// message that is not legal in the COPY sub-state desynchronizes and closes
// the connection, and the Copy reports it.
//
// The context given to CopyStart governs the whole COPY. When it ends during
// COPY FROM STDIN, the CopyData being written is completed, a CopyFail naming
// the context error is sent and the replies are drained to ReadyForQuery;
// during COPY TO STDOUT (or while the server completes a COPY FROM STDIN) a
// CancelRequest is sent and the replies are drained. Either way the
// connection is idle again afterwards, or closed if this does not finish
// within Config.DrainTimeout, and the Copy reports the context's error.
type Copy struct {
	c          *Conn
	dir        CopyDirection
	format     int16
	colFormats []int16
	chunk      int
	extended   bool

	ctxDone <-chan struct{} // Done of the context of CopyStart

	buf    []byte        // ReadFrom's read buffer when chunk is not the default (see copyBufs)
	peek   *socketPeeker // COPY FROM STDIN: the cheap check for server input, or nil
	ended  bool          // COPY FROM STDIN: CopyDone or CopyFail was sent
	failed bool          // COPY FROM STDIN: CopyFail was sent (a 57014 is expected)
	done   bool          // the operation is over and the connection released
	tag    CommandTag
	err    error // the outcome once done (nil after success)
}

// CopyStart sends sql, which must be one COPY … FROM STDIN or COPY … TO
// STDOUT statement, and waits for the server's CopyInResponse or
// CopyOutResponse. The connection is busy until the returned Copy ends.
//
// A statement that answers with anything else fails at once and the
// connection is idle again: a server error is returned as *PgError; a
// statement that returns rows is cancelled (CancelRequest) and drained; a
// statement that completes is reported with ErrNotCopy. A reply that
// contradicts the statement text (CopyOutResponse to COPY … FROM STDIN, say)
// is a protocol violation: the connection is closed and the error unwraps
// to a *wire.ProtocolError with wire.ReasonCopyState.
func (c *Conn) CopyStart(ctx context.Context, sql string, opts CopyOptions) (*Copy, error) {
	declared := copyDirectionOf(sql)
	if opts.Direction != 0 && declared != 0 && declared != opts.Direction {
		return nil, safeToRetry(&wire.InputError{Field: "query", Offset: -1,
			Problem: "the statement is " + declared.String() + ", the caller expects " + opts.Direction.String()})
	}
	chunk := opts.ChunkSize
	if chunk <= 0 {
		chunk = DefaultCopyChunkSize
	}
	if chunk > wire.MaxFrontendBody {
		chunk = wire.MaxFrontendBody
	}
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	if opts.Extended {
		if err := c.send(request{kind: 'P', sql: sql}, request{kind: 'B'}, request{kind: 'E'}, request{kind: 'Y'}); err != nil {
			c.end()
			return nil, err
		}
	} else {
		if _, err := c.fe.SendQuery(sql); err != nil {
			c.end()
			return nil, safeToRetry(err)
		}
		if c.tr != nil {
			c.traceSend(&pgproto3.Query{String: sql})
		}
	}
	if err := c.flush(); err != nil {
		c.end()
		return nil, err
	}
	cp := &Copy{c: c, chunk: chunk, extended: opts.Extended, ctxDone: ctx.Done()}
	for {
		msg, _, err := c.recv()
		if err != nil {
			return nil, cp.finish(err)
		}
		var overall byte
		var codes []uint16
		switch m := msg.(type) {
		case *pgproto3.ParseComplete, *pgproto3.BindComplete:
			continue
		case *pgproto3.CopyInResponse:
			cp.dir, overall, codes = CopyIn, m.OverallFormat, m.ColumnFormatCodes
		case *pgproto3.CopyOutResponse:
			cp.dir, overall, codes = CopyOut, m.OverallFormat, m.ColumnFormatCodes
		case *pgproto3.CopyBothResponse:
			return nil, cp.finish(c.die(errors.New("conn: copy: the server started COPY BOTH, which belongs to package replication")))
		default:
			return nil, cp.notCopy(msg)
		}
		if declared != 0 && cp.dir != declared {
			typ := byte('G')
			if cp.dir == CopyOut {
				typ = 'H'
			}
			return nil, cp.finish(c.die(c.fe.Desync(wire.ReasonCopyState, typ,
				wire.MessageName(typ)+" in reply to a statement that is "+declared.String())))
		}
		if cp.dir == CopyIn {
			cp.peek = newSocketPeeker(c.nc)
		}
		cp.format = int16(overall)
		cp.colFormats = make([]int16, len(codes))
		for i, f := range codes {
			cp.colFormats[i] = int16(f)
		}
		if opts.Direction != 0 && cp.dir != opts.Direction {
			mismatch := fmt.Errorf("%w: the statement started %s, the caller expects %s", ErrNotCopy, cp.dir, opts.Direction)
			if err := cp.abort("the client expected " + opts.Direction.String()); err != nil {
				return nil, errors.Join(mismatch, err)
			}
			return nil, mismatch
		}
		return cp, nil
	}
}

// notCopy handles the first reply of a statement that did not start a COPY:
// it reads or cancels the rest up to ReadyForQuery and returns the error
// CopyStart reports.
func (cp *Copy) notCopy(first pgproto3.BackendMessage) error {
	c := cp.c
	switch m := first.(type) {
	case *pgproto3.ErrorResponse:
		return cp.finish(cp.collect(newPgError(m)))
	case *pgproto3.CommandComplete:
		tag := string(m.CommandTag)
		c.noteTag(m.CommandTag)
		if err := cp.collect(nil); err != nil {
			return cp.finish(fmt.Errorf("%w (it completed as %q): %w", ErrNotCopy, tag, err))
		}
		return cp.finish(fmt.Errorf("%w: it completed as %q", ErrNotCopy, tag))
	case *pgproto3.EmptyQueryResponse:
		return cp.finish(errors.Join(fmt.Errorf("%w: the query is empty", ErrNotCopy), cp.collect(nil)))
	}
	// Rows (RowDescription, or DataRow from Execute): the result may be
	// large, so stop the statement instead of reading it.
	notCopy := fmt.Errorf("%w: it returns rows", ErrNotCopy)
	if err := c.stopStatement(); err != nil {
		return cp.finish(errors.Join(notCopy, err))
	}
	return cp.finish(notCopy)
}

// Direction returns CopyIn or CopyOut.
func (cp *Copy) Direction() CopyDirection { return cp.dir }

// Format returns the overall format the server announced: 0 text (also
// CSV), 1 binary.
func (cp *Copy) Format() int16 { return cp.format }

// ColumnFormats returns the per-column format codes the server announced
// (all equal to Format).
func (cp *Copy) ColumnFormats() []int16 { return cp.colFormats }

// Tag returns the command tag ("COPY 42") once the COPY has completed.
func (cp *Copy) Tag() CommandTag { return cp.tag }

// Done reports whether the Copy has ended and released the connection.
func (cp *Copy) Done() bool { return cp.done }

// errNotIn is returned by the COPY FROM STDIN methods of a COPY TO STDOUT.
var errNotIn = errors.New("conn: copy: not a COPY FROM STDIN")

// errNotOut is returned by the COPY TO STDOUT methods of a COPY FROM STDIN.
var errNotOut = errors.New("conn: copy: not a COPY TO STDOUT")

// errCopyOver is returned by a Copy that ended successfully.
var errCopyOver = errors.New("conn: copy: the COPY is over")

// over returns the error of a call on an ended Copy.
func (cp *Copy) over() error {
	if cp.err != nil {
		return cp.err
	}
	return errCopyOver
}

// Write sends p as CopyData messages of at most ChunkSize bytes each
// (COPY FROM STDIN). It does not buffer: wrap the Copy in a bufio.Writer of
// ChunkSize for many small writes, or use ReadFrom. Before each message it
// checks, without blocking, whether the server has aborted the copy; if so
// nothing more is sent, the replies are read to ReadyForQuery and the
// server's error is returned (the connection is idle again).
func (cp *Copy) Write(p []byte) (int, error) {
	if cp.done {
		return 0, cp.over()
	}
	if cp.dir != CopyIn {
		return 0, errNotIn
	}
	if cp.ended {
		return 0, errCopyOver
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), cp.chunk)
		if err := cp.sendData(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// ReadFrom sends everything r yields (COPY FROM STDIN), in CopyData
// messages of ChunkSize bytes; it returns at io.EOF, after which Finish
// completes the COPY. If r fails, ReadFrom ends the COPY with a CopyFail
// that names r's error and returns that error (the connection is idle
// again unless a connection error is joined to it). A context that ends
// while r.Read blocks is noticed when r returns.
func (cp *Copy) ReadFrom(r io.Reader) (int64, error) {
	if cp.done {
		return 0, cp.over()
	}
	if cp.dir != CopyIn {
		return 0, errNotIn
	}
	if cp.ended {
		return 0, errCopyOver
	}
	// The source is read straight behind room for the message header, and
	// the framed chunk is written from there: no copy of the data.
	const h = wire.CopyDataHeader
	buf := cp.buf
	if cp.chunk == DefaultCopyChunkSize {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		buf = *bp
	} else if len(buf) < h+cp.chunk {
		buf = make([]byte, h+cp.chunk)
		cp.buf = buf
	}
	chunk := buf[h : h+cp.chunk]
	var total int64
	fill := 0
	for {
		n, rerr := r.Read(chunk[fill:])
		if n < 0 || n > len(chunk)-fill {
			rerr = fmt.Errorf("conn: copy: the reader returned an invalid count %d", n)
			n = 0
		}
		fill += n
		total += int64(n)
		if fill == len(chunk) || (fill > 0 && errors.Is(rerr, io.EOF)) {
			if err := cp.sendFramed(buf[:h+fill]); err != nil {
				return total, err
			}
			fill = 0
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return total, nil
		default:
			if err := cp.Fail("reading the source: " + rerr.Error()); err != nil {
				return total, errors.Join(rerr, err)
			}
			return total, rerr
		}
	}
}

// sendData sends one CopyData after checking for server input.
func (cp *Copy) sendData(p []byte) error {
	c := cp.c
	if err := cp.poll(); err != nil {
		return err
	}
	if err := c.fe.SendCopyData(p); err != nil {
		return cp.finish(c.die(fmt.Errorf("%w: copy: %w", errInternal, err)))
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.CopyData{Data: p})
	}
	return cp.write()
}

// sendFramed sends one CopyData framed in place in msg (see
// wire.Frontend.FrameCopyData) after checking for server input.
func (cp *Copy) sendFramed(msg []byte) error {
	c := cp.c
	if err := cp.poll(); err != nil {
		return err
	}
	if len(c.fe.Output()) > 0 {
		// Whatever is encoded goes first, in the order it was recorded.
		if err := cp.write(); err != nil {
			return err
		}
	}
	if err := c.fe.FrameCopyData(msg); err != nil {
		return cp.finish(c.die(fmt.Errorf("%w: copy: %w", errInternal, err)))
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.CopyData{Data: msg[wire.CopyDataHeader:]})
	}
	return cp.writeBytes(msg)
}

// write writes the encoded output (see writeBytes) and empties it.
func (cp *Copy) write() error {
	err := cp.writeBytes(cp.c.fe.Output())
	cp.c.fe.ResetOutput()
	return err
}

// writeBytes writes b: the encoded output, or a CopyData framed in place.
// A context that ends while the write blocks interrupts it; the unwritten
// rest of the message is then written within the drain bound so that the
// stream stays framed, and the COPY is ended as the context requires. Any
// other write failure closes the connection.
func (cp *Copy) writeBytes(b []byte) error {
	c := cp.c
	n, err := c.nc.Write(b)
	if err == nil {
		return nil
	}
	if isTimeout(err) && c.watch.Fired() {
		return cp.cancelledWriting(b[n:])
	}
	return cp.finish(cp.broken(err))
}

// broken closes the connection after a failed write. The server may have
// said why it went away (a FATAL ErrorResponse such as 57P01 after
// pg_terminate_backend): whatever arrived is read, briefly, so that the
// error can name it.
func (cp *Copy) broken(werr error) error {
	c := cp.c
	c.watch.stop()
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		msg, ev, err := c.fe.Receive()
		if err != nil {
			return c.die(werr)
		}
		if ev.Fatal {
			return c.die(errors.Join(newPgError(msg.(*pgproto3.ErrorResponse)), werr))
		}
	}
}

// poll checks, without blocking, whether the server sent something while
// COPY data is being written: a notice or parameter change is handled as
// usual; an ErrorResponse means the server aborted the copy and dropped
// everything sent since, so the replies are read to ReadyForQuery and the
// error returned. A context that ended is handled here too.
func (cp *Copy) poll() error {
	c := cp.c
	w := &c.watch
	for {
		if w.ctx.Err() != nil {
			return cp.cancelled(nil)
		}
		wait := copyPollWait
		if cp.peek != nil {
			if c.fe.Buffered() == 0 && cp.peek.quiet() {
				// Nothing arrived: no read, no deadline, no allocation.
				return nil
			}
			// Something arrived: give the rest of its message a moment.
			wait = copyPollPending
		}
		w.mu.Lock()
		fired := w.fired
		if !fired {
			c.nc.SetReadDeadline(time.Now().Add(wait))
		}
		w.mu.Unlock()
		if fired {
			return cp.cancelled(nil)
		}
		msg, ev, err := c.fe.Receive()
		w.mu.Lock()
		fired = w.fired
		if !fired {
			c.nc.SetReadDeadline(time.Time{})
		}
		w.mu.Unlock()
		if err != nil {
			if isTimeout(err) {
				if fired {
					return cp.cancelled(nil)
				}
				return nil
			}
			return cp.finish(c.recvErr(err))
		}
		c.traceRecv(msg)
		switch {
		case ev.Discard:
			continue
		case ev.Async:
			c.handleAsync(msg)
			continue
		case ev.Fatal:
			return cp.finish(c.die(newPgError(msg.(*pgproto3.ErrorResponse))))
		}
		if m, ok := msg.(*pgproto3.ErrorResponse); ok {
			return cp.finish(cp.collect(newPgError(m)))
		}
		return cp.finish(c.die(fmt.Errorf("%w: unexpected %s during COPY FROM STDIN", errInternal, msgName(msg))))
	}
}

// cancelled ends the COPY after its context ended, noticed between two
// messages.
func (cp *Copy) cancelled(rest []byte) error { return cp.endCancelled(rest, false) }

// cancelledWriting ends the COPY after its context ended while a write
// blocked: the server is not reading (a slow trigger, a lock), so it is
// interrupted with a CancelRequest before the rest of the message and the
// CopyFail are written. rest is the unwritten tail of the output.
func (cp *Copy) cancelledWriting(rest []byte) error { return cp.endCancelled(rest, true) }

func (cp *Copy) endCancelled(rest []byte, blocked bool) error {
	c := cp.c
	ctxErr := c.watch.ctx.Err()
	if ctxErr == nil {
		ctxErr = context.Canceled
	}
	c.watch.stop()
	if cp.ended || cp.dir != CopyIn {
		// Nothing left to refuse: stop the statement on the server.
		err := c.writeBounded(rest)
		c.fe.ResetOutput()
		if err != nil {
			return cp.finish(c.die(errors.Join(ctxErr, err)))
		}
		if err := c.stopStatement(); err != nil {
			return cp.finish(errors.Join(ctxErr, err))
		}
		return cp.finish(ctxErr)
	}
	if blocked && len(c.secretKey) > 0 {
		// Without a cancel key the CopyFail alone must do; the drain bound
		// closes the connection if the server does not read it in time.
		cctx, cancel := context.WithTimeout(context.Background(), c.drainTimeout())
		cerr := c.cancelRequest(cctx)
		cancel()
		if cerr != nil {
			return cp.finish(c.die(errors.Join(ctxErr, cerr)))
		}
	}
	// Complete the interrupted CopyData (rest aliases the output buffer,
	// which is reset only afterwards).
	err := c.writeBounded(rest)
	c.fe.ResetOutput()
	if err != nil {
		return cp.finish(c.die(errors.Join(ctxErr, err)))
	}
	if err := cp.sendFail(ctxErr.Error()); err != nil {
		return cp.finish(errors.Join(ctxErr, err))
	}
	if err := c.writeBounded(c.fe.Output()); err != nil {
		c.fe.ResetOutput()
		return cp.finish(c.die(errors.Join(ctxErr, err)))
	}
	c.fe.ResetOutput()
	if err := c.drainBounded(); err != nil {
		return cp.finish(errors.Join(ctxErr, err))
	}
	return cp.finish(ctxErr)
}

// writeBounded writes b with a deadline of DrainTimeout (the context no
// longer bounds it).
func (c *Conn) writeBounded(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.drainTimeout()))
	_, err := c.nc.Write(b)
	c.nc.SetWriteDeadline(time.Time{})
	return err
}

func (c *Conn) drainTimeout() time.Duration {
	if c.cfg.DrainTimeout > 0 {
		return c.cfg.DrainTimeout
	}
	return DefaultDrainTimeout
}

// drainBounded reads the outstanding replies to ReadyForQuery within
// DrainTimeout. On failure the connection is closed.
func (c *Conn) drainBounded() error {
	c.nc.SetDeadline(time.Now().Add(c.drainTimeout()))
	if err := c.drain(); err != nil {
		return c.die(err)
	}
	c.nc.SetDeadline(time.Time{})
	return nil
}

// stopStatement stops the running statement: a CancelRequest (when the
// server gave a cancel key) and a drain to ReadyForQuery within
// DrainTimeout. It returns nil when the connection is idle again; otherwise
// the connection is closed.
func (c *Conn) stopStatement() error {
	if len(c.secretKey) > 0 {
		if err := c.recoverFromCancel(errCopyAborted); !errors.Is(err, errCopyAborted) || c.err != nil {
			return err
		}
		return nil
	}
	c.watch.stop()
	return c.drainBounded()
}

// sendFail encodes a CopyFail (and, in the extended protocol, the Sync that
// replaces the one the COPY swallowed).
func (cp *Copy) sendFail(reason string) error {
	c := cp.c
	reason = cleanReason(reason)
	if err := c.fe.SendCopyFail(reason); err != nil {
		return c.die(fmt.Errorf("%w: copy: %w", errInternal, err))
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.CopyFail{Message: reason})
	}
	cp.ended, cp.failed = true, true
	return cp.syncAfterCopy()
}

// syncAfterCopy sends the Sync an extended-protocol COPY FROM STDIN needs
// after CopyDone or CopyFail (G12).
func (cp *Copy) syncAfterCopy() error {
	c := cp.c
	if !c.fe.AwaitingSync() {
		return nil
	}
	if _, err := c.fe.SendSync(); err != nil {
		return c.die(fmt.Errorf("%w: copy: %w", errInternal, err))
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.Sync{})
	}
	return nil
}

// cleanReason makes s a legal CopyFail text: valid UTF-8, no NUL, bounded.
func cleanReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", `\0`)
	if len(s) > maxCopyFailReason {
		cut := maxCopyFailReason
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if s == "" {
		s = "aborted by the client"
	}
	return s
}

// Finish ends a COPY FROM STDIN with CopyDone, reads the replies to
// ReadyForQuery and returns the command tag ("COPY n"). A server error (a
// constraint violation, bad data) is returned as *PgError, whose Where field
// names the line ("COPY t, line 3"); the connection is idle again. For a
// COPY TO STDOUT, Finish discards the rest of the data and returns the tag.
func (cp *Copy) Finish() (CommandTag, error) {
	if cp.done {
		if cp.err != nil {
			return cp.tag, cp.err
		}
		return cp.tag, nil
	}
	c := cp.c
	if cp.dir == CopyOut {
		for {
			if _, err := cp.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					return cp.tag, nil
				}
				return cp.tag, err
			}
		}
	}
	if err := cp.poll(); err != nil {
		return cp.tag, err
	}
	if err := c.fe.SendCopyDone(); err != nil {
		return cp.tag, cp.finish(c.die(fmt.Errorf("%w: copy: %w", errInternal, err)))
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.CopyDone{})
	}
	cp.ended = true
	if err := cp.syncAfterCopy(); err != nil {
		return cp.tag, cp.finish(err)
	}
	if err := cp.write(); err != nil {
		return cp.tag, err
	}
	return cp.tag, cp.finish(cp.collect(nil))
}

// Fail aborts the COPY. For COPY FROM STDIN it sends CopyFail with reason
// (made valid UTF-8 without NUL, and shortened if needed) and reads the
// replies to ReadyForQuery; the server's expected 57014 error is absorbed.
// For COPY TO STDOUT, or once CopyDone was sent, it sends a CancelRequest
// and drains. It returns nil when the connection is idle again; an error
// the server reported before it saw the CopyFail is returned as is. Fail on
// an ended Copy returns nil.
func (cp *Copy) Fail(reason string) error {
	if cp.done {
		return nil
	}
	return cp.abort(reason)
}

func (cp *Copy) abort(reason string) error {
	c := cp.c
	aborted := fmt.Errorf("conn: copy: failed by the client: %s", cleanReason(reason))
	if cp.dir == CopyOut || cp.ended || c.fe.State() != wire.StateCopyIn {
		if c.fe.State() == wire.StateIdle {
			cp.finish(aborted)
			return nil
		}
		if err := c.stopStatement(); err != nil {
			return cp.finish(err)
		}
		cp.finish(aborted)
		return nil
	}
	if err := cp.sendFail(reason); err != nil {
		return cp.finish(err)
	}
	if err := cp.write(); err != nil {
		return err
	}
	if err := cp.collect(nil); err != nil {
		return cp.finish(err)
	}
	cp.finish(aborted)
	return nil
}

// Read returns the next CopyData payload of a COPY TO STDOUT (for text and
// CSV, one row; for binary, one row, the header or the trailer). The slice
// aliases the connection's read buffer and is valid until the next call on
// the Copy. After the server's CopyDone and CommandComplete, Read reads to
// ReadyForQuery and returns io.EOF; Tag then holds "COPY n". A server error
// is returned as *PgError and the connection is idle again.
func (cp *Copy) Read() ([]byte, error) {
	if cp.done {
		if cp.err != nil {
			return nil, cp.err
		}
		return nil, io.EOF
	}
	if cp.dir != CopyOut {
		return nil, errNotOut
	}
	c := cp.c
	select {
	case <-cp.ctxDone:
		// Rows already buffered must not delay the cancellation.
		return nil, cp.cancelled(nil)
	default:
	}
	if c.tr == nil {
		// A buffered CopyData, checked by the wire fast path as Receive
		// would check it.
		if data, ok := c.fe.NextCopyData(); ok {
			return data, nil
		}
	}
	for {
		// The hot path of recv, inlined: every message still comes from
		// the Frontend and its tracker.
		msg, ev, err := c.fe.Receive()
		if err != nil {
			return nil, cp.finish(c.recvErr(err))
		}
		if c.tr != nil {
			c.traceRecv(msg)
		}
		if m, ok := msg.(*pgproto3.CopyData); ok && !ev.Async {
			return m.Data, nil
		}
		switch {
		case ev.Discard:
			continue
		case ev.Async:
			c.handleAsync(msg)
			continue
		case ev.Fatal:
			return nil, cp.finish(c.die(newPgError(msg.(*pgproto3.ErrorResponse))))
		}
		switch m := msg.(type) {
		case *pgproto3.CopyDone:
		case *pgproto3.CommandComplete:
			cp.tag = c.tag(m.CommandTag)
			if err := cp.finish(cp.collect(nil)); err != nil {
				return nil, err
			}
			return nil, io.EOF
		case *pgproto3.ErrorResponse:
			return nil, cp.finish(cp.collect(newPgError(m)))
		default:
			return nil, cp.finish(c.die(fmt.Errorf("%w: unexpected %s during COPY TO STDOUT", errInternal, msgName(msg))))
		}
	}
}

// WriteTo writes every CopyData payload of a COPY TO STDOUT to w, one Write
// per payload, and returns the number of bytes written; at the end the COPY
// is complete and Tag holds "COPY n". If w fails, the COPY is cancelled
// (CancelRequest and drain) and w's error is returned, joined with any
// connection error.
func (cp *Copy) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		data, err := cp.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
		n, werr := w.Write(data)
		total += int64(n)
		if werr == nil && n != len(data) {
			werr = io.ErrShortWrite
		}
		if werr != nil {
			if err := cp.abort("writing the destination: " + werr.Error()); err != nil {
				return total, errors.Join(werr, err)
			}
			return total, werr
		}
	}
}

// collect reads the replies up to ReadyForQuery after a COPY ended (or
// failed): the COPY's CommandComplete becomes the tag, a CopyFail's 57014 is
// absorbed, and the first other error is returned (first, if not nil). The
// results of statements that follow the COPY in the same Query are
// discarded; a further COPY FROM STDIN among them is failed.
func (cp *Copy) collect(first error) error {
	c := cp.c
	if c.fe.State() == wire.StateBusy && c.fe.AwaitingSync() {
		if err := cp.syncAfterCopy(); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	for c.fe.State() != wire.StateIdle {
		msg, _, err := c.recv()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.CommandComplete:
			if cp.tag.s == "" && cp.dir != 0 {
				cp.tag = c.tag(m.CommandTag)
			}
			c.noteTag(m.CommandTag)
		case *pgproto3.ErrorResponse:
			if cp.failed && m.Code == "57014" {
				cp.failed = false
				continue
			}
			if first == nil {
				first = newPgError(m)
			}
		case *pgproto3.CopyInResponse:
			const reason = "only one COPY per call"
			if err := c.fe.SendCopyFail(reason); err != nil {
				return c.die(fmt.Errorf("%w: copy: %w", errInternal, err))
			}
			if c.tr != nil {
				c.traceSend(&pgproto3.CopyFail{Message: reason})
			}
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return first
}

// finish ends the operation once, with err as its outcome, and returns err.
func (cp *Copy) finish(err error) error {
	if cp.done {
		return err
	}
	cp.done = true
	cp.err = err
	cp.c.end()
	return err
}

// copyDirectionOf reads the direction a COPY statement declares: FROM STDIN
// or TO STDOUT at the top level of the first statement of sql. It returns 0
// when sql is not recognisably such a statement. Comments, string literals,
// quoted identifiers, dollar quotes and parenthesised parts (column lists,
// option lists, queries) are skipped.
func copyDirectionOf(sql string) CopyDirection {
	var words [8]string
	n := 0
	depth := 0
	prevE := false // the previous token was the word E (an escape string follows)
	for i := 0; i < len(sql); {
		ch := sql[i]
		wasE := prevE
		prevE = false
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v':
			i++
		case ch == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case ch == '/' && i+1 < len(sql) && sql[i+1] == '*':
			nest := 0
			for i < len(sql) {
				if sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*' {
					nest++
					i += 2
				} else if sql[i] == '*' && i+1 < len(sql) && sql[i+1] == '/' {
					nest--
					i += 2
					if nest == 0 {
						break
					}
				} else {
					i++
				}
			}
		case ch == '\'':
			i++
			for i < len(sql) {
				if wasE && sql[i] == '\\' {
					i += 2
					continue
				}
				if sql[i] == '\'' {
					if i+1 < len(sql) && sql[i+1] == '\'' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			if depth == 0 {
				n = addWord(&words, n, "'")
			}
		case ch == '"':
			i++
			for i < len(sql) {
				if sql[i] == '"' {
					if i+1 < len(sql) && sql[i+1] == '"' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			if depth == 0 {
				n = addWord(&words, n, `"`)
			}
		case ch == '$':
			j := i + 1
			for j < len(sql) && (isIdentByte(sql[j]) && !(j == i+1 && sql[j] >= '0' && sql[j] <= '9')) {
				j++
			}
			if j < len(sql) && sql[j] == '$' {
				tag := sql[i : j+1]
				end := strings.Index(sql[j+1:], tag)
				if end < 0 {
					return 0
				}
				i = j + 1 + end + len(tag)
			} else {
				i = j
			}
		case ch == '(':
			depth++
			i++
		case ch == ')':
			depth--
			i++
		case ch == ';':
			if depth == 0 {
				i = len(sql)
			} else {
				i++
			}
		case isIdentByte(ch):
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			w := sql[i:j]
			i = j
			if depth == 0 {
				n = addWord(&words, n, w)
			}
			prevE = (w == "E" || w == "e") && i < len(sql) && sql[i] == '\''
		default:
			i++
		}
		if n == len(words) {
			break
		}
	}
	if n < 3 || !strings.EqualFold(words[0], "copy") {
		return 0
	}
	for k := 1; k+1 < n; k++ {
		switch {
		case strings.EqualFold(words[k], "from") && strings.EqualFold(words[k+1], "stdin"):
			return CopyIn
		case strings.EqualFold(words[k], "to") && strings.EqualFold(words[k+1], "stdout"):
			return CopyOut
		case strings.EqualFold(words[k], "from") || strings.EqualFold(words[k], "to"):
			return 0
		}
	}
	return 0
}

func addWord(words *[8]string, n int, w string) int {
	if n < len(words) {
		words[n] = w
		n++
	}
	return n
}

func isIdentByte(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b >= 0x80
}
