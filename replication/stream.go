package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// DefaultStatusInterval is the default cadence of standby status updates.
// It is well below the server's default wal_sender_timeout of 60 s.
const DefaultStatusInterval = 10 * time.Second

// StreamOptions configure the status reporting of a Stream. The zero value
// is valid.
type StreamOptions struct {
	// StatusInterval is how often Next sends a standby status update with
	// the confirmed positions. Zero: DefaultStatusInterval. Negative:
	// never on a timer, only when the server asks and at Close.
	StatusInterval time.Duration
	// Now is the clock used for the cadence and the client time of status
	// updates. It must follow real time (the cadence is kept with read
	// deadlines); a test sets it to fix the client time sent. Zero:
	// time.Now.
	Now func() time.Time
}

// StreamingMode is the pgoutput streaming option for transactions too large
// for logical_decoding_work_mem.
type StreamingMode string

// Streaming modes.
const (
	// StreamingOff sends large transactions whole at commit (the default).
	StreamingOff StreamingMode = ""
	// StreamingOn streams them in blocks while in progress (protocol 2 or
	// later, PostgreSQL 14 or later).
	StreamingOn StreamingMode = "on"
	// StreamingParallel is StreamingOn for parallel apply: StreamAbort
	// carries the abort LSN and time (protocol 4, PostgreSQL 16 or later).
	StreamingParallel StreamingMode = "parallel"
)

// LogicalOptions configure StartLogical: the pgoutput plugin options
// (§6.5 of the protocol reference) and the stream's status reporting.
type LogicalOptions struct {
	// ProtoVersion is pgoutput's proto_version, 1 to 4, checked against
	// the server version (2 needs PostgreSQL 14, 3 needs 15, 4 needs 16).
	// Zero: the highest the server supports.
	ProtoVersion int
	// Publications are the publication names; at least one is required.
	Publications []string
	// Binary asks for column values in binary format where the type has a
	// binary send function (PostgreSQL 14 or later).
	Binary bool
	// Messages includes logical decoding messages (pg_logical_emit_message)
	// (PostgreSQL 14 or later).
	Messages bool
	// Streaming streams large in-progress transactions.
	Streaming StreamingMode
	// TwoPhase decodes prepared transactions at PREPARE time (protocol 3;
	// the slot must have been created with TwoPhase).
	TwoPhase bool
	// Origin filters by replication origin: "any" (the server's default) or
	// "none" (only changes that did not come from replication). Empty: not
	// sent. PostgreSQL 16 or later.
	Origin string
	// SkipTextValidation turns off the UTF-8 check of text column values
	// (see DecoderOptions).
	SkipTextValidation bool
	// Stream configures status reporting.
	Stream StreamOptions
}

// PhysicalOptions configure StartPhysical.
type PhysicalOptions struct {
	// Slot is the physical slot to stream from; empty streams without a
	// slot.
	Slot string
	// Timeline is the timeline to stream; zero: the server's current one.
	Timeline int64
	// Stream configures status reporting.
	Stream StreamOptions
}

// protoServer is the first server major version of each pgoutput protocol
// version.
var protoServer = [...]int{1: 10, 2: 14, 3: 15, 4: 16}

// highestProto is the highest pgoutput protocol version of a server major
// version.
func highestProto(v int) int {
	switch {
	case v >= 16:
		return 4
	case v >= 15:
		return 3
	case v >= 14:
		return 2
	}
	return 1
}

// LogicalCommand returns the START_REPLICATION command of a logical stream
// for a server of major version serverVersion, with the options resolved
// (ProtoVersion set) and validated against that version.
func LogicalCommand(slot string, start LSN, opts LogicalOptions, serverVersion int) (string, LogicalOptions, error) {
	qslot, err := QuoteIdentifier(slot)
	if err != nil {
		return "", opts, err
	}
	if serverVersion < 10 {
		return "", opts, &VersionError{Feature: "pgoutput", Need: 10, Have: serverVersion}
	}
	top := highestProto(serverVersion)
	if opts.ProtoVersion == 0 {
		opts.ProtoVersion = top
	}
	if opts.ProtoVersion < 1 || opts.ProtoVersion > 4 {
		return "", opts, fmt.Errorf("replication: pgoutput protocol version %d is not 1 to 4", opts.ProtoVersion)
	}
	if opts.ProtoVersion > top {
		return "", opts, &VersionError{Feature: "pgoutput protocol version " + strconv.Itoa(opts.ProtoVersion),
			Need: protoServer[opts.ProtoVersion], Have: serverVersion}
	}
	if len(opts.Publications) == 0 {
		return "", opts, errors.New("replication: at least one publication is required")
	}
	pubs := make([]string, len(opts.Publications))
	for i, p := range opts.Publications {
		if err := checkName("publication name", p); err != nil {
			return "", opts, err
		}
		pubs[i] = quoteListIdentifier(p)
	}
	o := []string{
		"proto_version " + QuoteLiteral(strconv.Itoa(opts.ProtoVersion)),
		"publication_names " + QuoteLiteral(strings.Join(pubs, ",")),
	}
	if opts.Binary {
		if serverVersion < 14 {
			return "", opts, &VersionError{Feature: "the binary option", Need: 14, Have: serverVersion}
		}
		o = append(o, "binary 'true'")
	}
	if opts.Messages {
		if serverVersion < 14 {
			return "", opts, &VersionError{Feature: "the messages option", Need: 14, Have: serverVersion}
		}
		o = append(o, "messages 'true'")
	}
	switch opts.Streaming {
	case StreamingOff:
	case StreamingOn:
		if opts.ProtoVersion < 2 {
			return "", opts, errors.New("replication: streaming needs pgoutput protocol version 2 or later")
		}
		o = append(o, "streaming 'on'")
	case StreamingParallel:
		if opts.ProtoVersion < 4 {
			return "", opts, errors.New("replication: parallel streaming needs pgoutput protocol version 4")
		}
		o = append(o, "streaming 'parallel'")
	default:
		return "", opts, fmt.Errorf("replication: unknown streaming mode %q", opts.Streaming)
	}
	if opts.TwoPhase {
		if opts.ProtoVersion < 3 {
			return "", opts, errors.New("replication: two_phase needs pgoutput protocol version 3 or later")
		}
		o = append(o, "two_phase 'true'")
	}
	switch opts.Origin {
	case "":
	case "any", "none":
		if serverVersion < 16 {
			return "", opts, &VersionError{Feature: "the origin option", Need: 16, Have: serverVersion}
		}
		o = append(o, "origin "+QuoteLiteral(opts.Origin))
	default:
		return "", opts, fmt.Errorf("replication: origin %q is not \"any\" or \"none\"", opts.Origin)
	}
	sql := "START_REPLICATION SLOT " + qslot + " LOGICAL " + start.String() + " (" + strings.Join(o, ", ") + ")"
	return sql, opts, nil
}

// PhysicalCommand returns the START_REPLICATION command of a physical stream.
func PhysicalCommand(start LSN, opts PhysicalOptions) (string, error) {
	sql := "START_REPLICATION"
	if opts.Slot != "" {
		q, err := QuoteIdentifier(opts.Slot)
		if err != nil {
			return "", err
		}
		sql += " SLOT " + q
	}
	sql += " PHYSICAL " + start.String()
	if opts.Timeline != 0 {
		if opts.Timeline < 0 || opts.Timeline > 0xFFFFFFFF {
			return "", &wire.InputError{Field: "timeline", Offset: -1, Problem: "out of range"}
		}
		sql += " TIMELINE " + strconv.FormatInt(opts.Timeline, 10)
	}
	return sql, nil
}

// Stream is one replication stream: it owns the connection's COPY BOTH
// sub-state from START_REPLICATION until Close, answers keepalives, sends
// standby status updates, and checks every message.
//
// On a logical stream Next returns decoded pgoutput messages; on a physical
// stream it returns *XLogData. A violation of the protocol — a malformed
// payload, a WAL position that goes backwards, physical WAL that is not
// contiguous, a pgoutput ordering violation — desynchronizes the connection
// (it is closed) and Next returns an error whose *wire.ProtocolError has
// the violation's Reason; every later call fails.
//
// Status updates are sent only from Next and Close: call Next often enough
// (well within the server's wal_sender_timeout) or the server disconnects.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	c       *conn.Conn
	cb      *conn.CopyBoth
	dec     *Decoder // nil on a physical stream
	opts    StreamOptions
	now     func() time.Time
	start   LSN
	err     error
	closed  bool
	pending bool // the server asked for a reply
	got     bool // a message was returned

	st   streamState
	out  []byte    // status update encoding buffer
	next time.Time // when the next timed status update is due

	// confirmed positions
	written LSN
	flushed LSN
	applied LSN
}

// streamState checks the CopyData payloads of one stream. It does no I/O.
type streamState struct {
	dec       *Decoder // nil on a physical stream
	xlog      XLogData
	received  LSN // highest position the server reported
	keepalive LSN // highest keepalive WAL end
	expect    LSN // physical: where the next XLogData must start
	walEnd    LSN // physical: highest ServerWALEnd of XLogData
}

func newStreamState(dec *Decoder, start LSN) streamState {
	return streamState{dec: dec, received: start, expect: start}
}

// apply checks one CopyData payload from the server. For XLogData it returns
// the message (decoded on a logical stream); for a keepalive it returns a nil
// message and whether a reply was requested.
func (st *streamState) apply(payload []byte) (Message, bool, *DecodeError) {
	if len(payload) == 0 {
		return nil, false, &DecodeError{Reason: wire.ReasonMalformed, MsgType: 'd', Offset: 0, Detail: "empty CopyData in a replication stream"}
	}
	switch payload[0] {
	case 'w':
		if err := parseXLogData(&st.xlog, payload); err != nil {
			return nil, false, asDecodeError(err)
		}
		if st.dec == nil {
			if err := st.physical(); err != nil {
				return nil, false, err
			}
			return &st.xlog, false, nil
		}
		m, err := st.logical()
		return m, false, err
	case 'k':
		k, err := ParsePrimaryKeepalive(payload)
		if err != nil {
			return nil, false, asDecodeError(err)
		}
		if err := st.keepaliveCheck(&k); err != nil {
			return nil, false, err
		}
		return nil, k.ReplyRequested, nil
	}
	return nil, false, &DecodeError{Reason: wire.ReasonReplicationState, MsgType: payload[0], Offset: 0,
		Detail: "CopyData sub-type " + strconv.QuoteRune(rune(payload[0])) + " is not XLogData or a keepalive"}
}

// StartLogical starts streaming logical changes from slot at start (0 to
// resume at the slot's confirmed position) with the pgoutput plugin. c must
// be a replication=database connection.
//
// An error from the server before streaming starts (an unknown slot or
// publication, a slot in use) is returned as a *conn.PgError and the
// connection is idle: the next command gets its own result.
func StartLogical(ctx context.Context, c *conn.Conn, slot string, start LSN, opts LogicalOptions) (*Stream, error) {
	v, err := ServerVersion(c)
	if err != nil {
		return nil, err
	}
	sql, resolved, err := LogicalCommand(slot, start, opts, v)
	if err != nil {
		return nil, err
	}
	dec, err := NewDecoder(DecoderOptions{
		ProtoVersion:       resolved.ProtoVersion,
		Binary:             resolved.Binary,
		Messages:           resolved.Messages,
		Streaming:          resolved.Streaming != StreamingOff,
		ParallelStreaming:  resolved.Streaming == StreamingParallel,
		TwoPhase:           resolved.TwoPhase,
		SkipTextValidation: resolved.SkipTextValidation,
	})
	if err != nil {
		return nil, err
	}
	return start1(ctx, c, sql, start, dec, opts.Stream)
}

// StartPhysical starts streaming WAL from start, which must be where the
// caller wants the WAL to begin (the server sends from exactly there). c must
// be a replication=true connection.
func StartPhysical(ctx context.Context, c *conn.Conn, start LSN, opts PhysicalOptions) (*Stream, error) {
	sql, err := PhysicalCommand(start, opts)
	if err != nil {
		return nil, err
	}
	return start1(ctx, c, sql, start, nil, opts.Stream)
}

func start1(ctx context.Context, c *conn.Conn, sql string, start LSN, dec *Decoder, opts StreamOptions) (*Stream, error) {
	cb, err := c.StartCopyBoth(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("START_REPLICATION: %w", err)
	}
	s := &Stream{c: c, cb: cb, dec: dec, opts: opts, start: start, st: newStreamState(dec, start)}
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.StatusInterval == 0 {
		s.opts.StatusInterval = DefaultStatusInterval
	}
	if s.opts.StatusInterval > 0 {
		s.next = s.now().Add(s.opts.StatusInterval)
	}
	return s, nil
}

// Logical reports whether the stream is a logical (pgoutput) stream.
func (s *Stream) Logical() bool { return s.dec != nil }

// Decoder returns the pgoutput decoder of a logical stream (its relation
// cache, its idle state), or nil.
func (s *Stream) Decoder() *Decoder { return s.dec }

// XLogData returns the header of the last XLogData Next returned or decoded;
// its Data is valid until the next call to Next.
func (s *Stream) XLogData() *XLogData { return &s.st.xlog }

// Received returns the highest WAL position the server has reported in this
// stream (by data or keepalive): the limit of Confirm.
func (s *Stream) Received() LSN { return s.st.received }

// Confirmed returns the flushed position the next status update reports.
func (s *Stream) Confirmed() LSN { return s.flushed }

// Progress is what a status update reports: the end positions of WAL
// written, flushed and applied by the client.
type Progress struct {
	// Written is the end of WAL received and written.
	Written LSN
	// Flushed is the end of WAL durably processed; the slot advances to it.
	Flushed LSN
	// Applied is the end of WAL applied.
	Applied LSN
}

// Confirm records that everything up to lsn was processed durably (an end
// position: Commit.EndLSN, or WALStart + len(Data) of physical XLogData):
// it becomes the written, flushed and applied position of the next status
// update, and the server may then discard the WAL before it. Positions never
// move back: an lsn below the current one is ignored. An lsn beyond what the
// server has sent in this stream (Received) is refused with ErrConfirmAhead.
func (s *Stream) Confirm(lsn LSN) error {
	return s.ConfirmProgress(Progress{Written: lsn, Flushed: lsn, Applied: lsn})
}

// ConfirmProgress is Confirm with separate positions; it requires Written >=
// Flushed >= Applied.
func (s *Stream) ConfirmProgress(p Progress) error {
	if p.Written < p.Flushed || p.Flushed < p.Applied {
		return errors.New("replication: progress must satisfy Written >= Flushed >= Applied")
	}
	if p.Written > s.st.received {
		return fmt.Errorf("%w: %s > %s", ErrConfirmAhead, p.Written, s.st.received)
	}
	s.written = max(s.written, p.Written)
	s.flushed = max(s.flushed, p.Flushed)
	s.applied = max(s.applied, p.Applied)
	return nil
}

// SendStatus sends a standby status update with the confirmed positions now.
// replyRequested asks the server to answer with a keepalive.
func (s *Stream) SendStatus(ctx context.Context, replyRequested bool) error {
	if err := s.usable(); err != nil {
		return err
	}
	return s.sendStatus(ctx, replyRequested)
}

func (s *Stream) sendStatus(ctx context.Context, replyRequested bool) error {
	u := StandbyStatusUpdate{WALWritten: s.written, WALFlushed: s.flushed, WALApplied: s.applied,
		ClientTime: s.now(), ReplyRequested: replyRequested}
	s.out = u.Encode(s.out[:0])
	if err := s.send(ctx); err != nil {
		return err
	}
	s.pending = false
	if s.opts.StatusInterval > 0 {
		s.next = s.now().Add(s.opts.StatusInterval)
	}
	return nil
}

// SendHotStandbyFeedback sends hot-standby feedback (physical streams).
func (s *Stream) SendHotStandbyFeedback(ctx context.Context, h HotStandbyFeedback) error {
	if err := s.usable(); err != nil {
		return err
	}
	if h.ClientTime.IsZero() {
		h.ClientTime = s.now()
	}
	s.out = h.Encode(s.out[:0])
	return s.send(ctx)
}

// send sends s.out. A failure that left the stream intact (the context
// ended before anything was written) does not end the stream.
func (s *Stream) send(ctx context.Context) error {
	if err := s.cb.Send(ctx, s.out); err != nil {
		if s.c.State() == wire.StateCopyBoth && conn.SafeToRetry(err) {
			return err
		}
		return s.fail(err)
	}
	return nil
}

func (s *Stream) usable() error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return ErrStreamClosed
	}
	return nil
}

// fail ends the stream with err.
func (s *Stream) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

// violation desynchronizes the connection.
func (s *Stream) violation(e *DecodeError) error {
	return s.fail(s.c.Desync(e.Reason, 'd', e.Error()))
}

// Next returns the next message of the stream: a decoded pgoutput message
// on a logical stream, *XLogData on a physical one. The message and its
// slices are valid until the next call to Next (see Message); s.XLogData()
// holds the XLogData header it came in.
//
// On the way Next answers keepalives that request a reply and sends the
// periodic status updates. When the server ends the stream it returns an
// error matching ErrServerDone (a *TimelineEndError at the end of a historic
// timeline) and the connection is idle; when the server shuts down, an error
// matching conn.ErrStreamEnded, and the connection is closed; an error from
// the server is a *conn.PgError and the connection is idle.
//
// If ctx ends while Next waits, Next returns the context's error and the
// stream is left as it was: call Next again or Close it.
func (s *Stream) Next(ctx context.Context) (Message, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	for {
		if s.pending || (s.opts.StatusInterval > 0 && !s.now().Before(s.next)) {
			if err := s.sendStatus(ctx, false); err != nil {
				return nil, err
			}
		}
		payload, err := s.cb.ReceiveBefore(ctx, s.next)
		switch {
		case err == nil:
		case errors.Is(err, conn.ErrWakeUp):
			continue
		case errors.Is(err, conn.ErrCopyDone):
			return nil, s.serverDone(ctx)
		case s.c.State() == wire.StateCopyBoth:
			// The context ended; the stream is intact.
			return nil, err
		case s.dec != nil && !s.got && errors.Is(err, conn.ErrStreamEnded):
			return nil, s.fail(fmt.Errorf("%w (if the connection ran a logical stream before: PostgreSQL does not reset a walsender "+
				"after a logical stream, so each logical stream needs a new connection)", err))
		default:
			return nil, s.fail(err)
		}
		m, reply, derr := s.st.apply(payload)
		if derr != nil {
			return nil, s.violation(derr)
		}
		if m != nil {
			s.got = true
			return m, nil
		}
		if reply {
			s.pending = true
		}
	}
}

func asDecodeError(err error) *DecodeError {
	var de *DecodeError
	if errors.As(err, &de) {
		return de
	}
	return &DecodeError{Reason: wire.ReasonMalformed, Offset: -1, Detail: err.Error()}
}

// physical checks a physical XLogData: contiguous with the previous one,
// within the server's WAL end, which never goes backwards.
func (st *streamState) physical() *DecodeError {
	x := &st.xlog
	end := x.WALStart + LSN(len(x.Data))
	switch {
	case x.WALStart < st.expect:
		return &DecodeError{Reason: wire.ReasonLSNBackwards, MsgType: 'w', Offset: 1,
			Detail: "WAL data starts at " + x.WALStart.String() + ", before the end of the data already received " + st.expect.String()}
	case x.WALStart > st.expect:
		return &DecodeError{Reason: wire.ReasonReplicationState, MsgType: 'w', Offset: 1,
			Detail: "WAL data starts at " + x.WALStart.String() + ", leaving a gap after " + st.expect.String()}
	case end < x.WALStart:
		return &DecodeError{Reason: wire.ReasonInvalidValue, MsgType: 'w', Offset: 1, Detail: "WAL data runs past the end of the WAL address space"}
	case x.ServerWALEnd < st.walEnd:
		return &DecodeError{Reason: wire.ReasonLSNBackwards, MsgType: 'w', Offset: 9,
			Detail: "server WAL end " + x.ServerWALEnd.String() + " is before " + st.walEnd.String()}
	case x.ServerWALEnd < end:
		return &DecodeError{Reason: wire.ReasonReplicationState, MsgType: 'w', Offset: 9,
			Detail: "server WAL end " + x.ServerWALEnd.String() + " is before the end of the data sent " + end.String()}
	}
	st.expect, st.walEnd = end, x.ServerWALEnd
	st.received = max(st.received, end)
	return nil
}

// logical checks a logical XLogData and decodes its message.
func (st *streamState) logical() (Message, *DecodeError) {
	x := &st.xlog
	if x.WALStart != x.ServerWALEnd {
		return nil, &DecodeError{Reason: wire.ReasonReplicationState, MsgType: 'w', Offset: 9,
			Detail: "logical XLogData with WAL end " + x.ServerWALEnd.String() + " different from its start " + x.WALStart.String()}
	}
	m, err := st.dec.Decode(x.WALStart, x.Data)
	if err != nil {
		return nil, asDecodeError(err)
	}
	st.received = max(st.received, x.WALStart)
	return m, nil
}

// keepaliveCheck checks that the keepalive's WAL end does not go backwards
// (and, on a physical stream, is not behind the WAL already sent).
func (st *streamState) keepaliveCheck(k *PrimaryKeepalive) *DecodeError {
	if k.ServerWALEnd < st.keepalive {
		return &DecodeError{Reason: wire.ReasonLSNBackwards, MsgType: 'k', Offset: 1,
			Detail: "keepalive WAL end " + k.ServerWALEnd.String() + " is before the previous one " + st.keepalive.String()}
	}
	if st.dec == nil && k.ServerWALEnd < st.expect {
		return &DecodeError{Reason: wire.ReasonLSNBackwards, MsgType: 'k', Offset: 1,
			Detail: "keepalive WAL end " + k.ServerWALEnd.String() + " is before the WAL already sent " + st.expect.String()}
	}
	st.keepalive = k.ServerWALEnd
	st.received = max(st.received, k.ServerWALEnd)
	return nil
}

// serverDone handles the server's CopyDone: answer it and read the
// completion.
func (s *Stream) serverDone(ctx context.Context) error {
	// Report the confirmed positions before ending the client's half: a
	// physical slot advances to them.
	if err := s.sendStatus(ctx, false); err != nil {
		return err
	}
	res, err := s.cb.Finish(ctx)
	if err != nil {
		return s.fail(err)
	}
	s.closed = true
	if err := s.checkTags(res); err != nil {
		return s.fail(err)
	}
	if res.Row == nil {
		return s.fail(ErrServerDone)
	}
	if len(res.Row) != 2 || res.Row[0] == nil || res.Row[1] == nil {
		return s.fail(s.c.Desync(wire.ReasonReplicationState, 'D', "end-of-timeline row is not (next_tli, next_tli_startpos)"))
	}
	tli, perr := strconv.ParseInt(string(res.Row[0]), 10, 64)
	lsn, lerr := ParseLSN(string(res.Row[1]))
	if perr != nil || lerr != nil {
		return s.fail(s.c.Desync(wire.ReasonReplicationState, 'D', "end-of-timeline row does not parse"))
	}
	return s.fail(&TimelineEndError{Timeline: tli, LSN: lsn})
}

// checkTags checks the CommandComplete tags that end a stream.
func (s *Stream) checkTags(res *conn.CopyBothResult) error {
	first := []string{"COPY 0"}
	if s.dec == nil {
		first = []string{"START_STREAMING"}
	}
	t0, t1 := res.Tags[0].String(), res.Tags[1].String()
	if !slices.Contains(first, t0) || (t1 != "START_REPLICATION" && t1 != "SELECT") {
		return s.c.Desync(wire.ReasonReplicationState, 'C', "stream completed with tags "+strconv.Quote(t0)+", "+strconv.Quote(t1))
	}
	if s.dec != nil && res.Row != nil {
		return s.c.Desync(wire.ReasonReplicationState, 'D', "a logical stream completed with a result row")
	}
	return nil
}

// Close ends the stream cleanly: it sends a last status update with the
// confirmed positions, CopyDone, discards what the server still had in
// flight, and reads the completion (§6.3). The connection is then idle and
// can run other commands or a new stream. Close is idempotent; after a
// failed stream it returns nil without doing anything (the failure was
// returned already). If ctx ends before the completion, the request is
// cancelled and drained (see conn.CopyBoth.Finish).
func (s *Stream) Close(ctx context.Context) error {
	if s.closed || s.err != nil {
		s.closed = true
		return nil
	}
	if !s.cb.ClientDone() {
		if err := s.sendStatus(ctx, false); err != nil {
			if s.err != nil {
				s.closed = true
			}
			return err
		}
	}
	res, err := s.cb.Finish(ctx)
	s.closed = true
	if err != nil {
		return s.fail(err)
	}
	if err := s.checkTags(res); err != nil {
		return s.fail(err)
	}
	return nil
}
