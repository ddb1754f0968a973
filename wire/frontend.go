package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Frontend-side size limits the server enforces on the messages it reads
// (it closes the connection without a reply when they are exceeded).
const (
	// MaxFrontendBody is the largest body of a Query, Parse, Bind or
	// CopyData message.
	MaxFrontendBody = 0x3FFFFFFE - 4
	// MaxStartupBody is the largest StartupMessage body after its length.
	MaxStartupBody = 10000 - 4
	// MaxPasswordLength is the largest PasswordMessage the client sends.
	MaxPasswordLength = 996
	// MaxAuthToken is the largest SASL message.
	MaxAuthToken = 65535 - 64
	// MaxParams is the most parameters one Bind can carry.
	MaxParams = 65535
	// MaxNameLength is the longest statement or portal name the client
	// sends (the server's other short messages are capped at 10000 bytes).
	MaxNameLength = 4096
)

// FrontendOptions configure a Frontend. The zero value uses the defaults.
type FrontendOptions struct {
	// Reader configures framing and caps. Its Gate is set by the Frontend.
	Reader ReaderOptions
	// Tracker configures the state machine.
	Tracker TrackerOptions
}

// Frontend is the whole client side of one protocol stream: a Reader whose
// every message passes through a Tracker, and encoders that check and record
// each outgoing message before appending it to an output buffer. There is no
// way to receive a message that bypasses the Tracker.
//
// A Frontend is not safe for concurrent use.
type Frontend struct {
	rd    *Reader
	tr    *Tracker
	out   []byte
	row   [][]byte  // NextRow's values
	spans []rowSpan // scanRowAVX2's values
}

// NewFrontend returns a Frontend that reads backend messages from r.
func NewFrontend(r io.Reader, opts FrontendOptions) *Frontend {
	f := &Frontend{tr: NewTracker(opts.Tracker)}
	ro := opts.Reader
	ro.Gate = f.tr.Admit
	f.rd = NewReader(r, ro)
	return f
}

// Receive reads, decodes and tracks the next backend message. The message
// aliases the Reader's buffer and is valid until the next call to Receive.
// When the stream ends at a message boundary while nothing was expected,
// Receive returns io.EOF; when replies were still expected, a
// *ProtocolError with ReasonUnexpectedEOF. A *ProtocolError is terminal.
// Other errors (a read deadline) leave the Frontend where it was.
func (f *Frontend) Receive() (pgproto3.BackendMessage, Event, error) {
	if err := f.tr.Err(); err != nil {
		return nil, Event{}, err
	}
	msg, err := f.rd.Receive()
	if err != nil {
		if errors.Is(err, io.EOF) && f.rd.Err() == nil {
			if terr := f.tr.EOF(); terr != nil {
				return nil, Event{}, f.stamp(terr)
			}
			return nil, Event{}, io.EOF
		}
		var pe *ProtocolError
		if errors.As(err, &pe) {
			f.tr.adopt(pe)
		}
		return nil, Event{}, err
	}
	ev, err := f.tr.Receive(msg)
	if err != nil {
		return nil, Event{}, f.stamp(err)
	}
	return msg, ev, nil
}

// NextRow is the fast path of a result's rows. If the next message is
// already buffered, is a DataRow, and is legal where it arrives with every
// check Receive makes (the row belongs to a result whose shape is known: a
// simple Query's after its RowDescription, an Execute's after its portal's
// Describe, any after a row Receive or NextRow accepted; same column count,
// row limit, framing caps,
// exact value lengths, UTF-8 and NUL validation of text values), NextRow
// consumes it and returns its values, which alias the read buffer and are
// valid until the next call to NextRow, ReadRow or Receive. Otherwise it
// consumes nothing and returns false: the caller then calls Receive, which
// reads, accepts or refuses the message with its full reasons. NextRow
// never reads from the source and never desynchronizes the stream.
//
// NextRow returns nothing that Receive would refuse; it only skips the
// decoding into a pgproto3 message, the type switches and the Event, which
// a row in the middle of a result does not need.
func (f *Frontend) NextRow() ([][]byte, bool) {
	// Inlined: the caller calls the path of this build and processor.
	return nextRow(f, false)
}

// ReadRow is NextRow for a caller that calls Receive when it declines, and
// so may block on the source anyway: where the next message is a DataRow
// whose header is buffered but whose body is not (the row that straddles
// the end of a read), ReadRow first reads the rest of it, and then checks
// it as NextRow does. It reads nothing else: a row whose header is not
// buffered yet, or any other message, is left to Receive. A read error is
// not reported here. The Reader keeps it and the following Receive returns
// it instead of reading, as if it had met it itself; the bytes read before
// it stay buffered.
//
// Without it, one row per read of the buffer takes Receive's path. With
// the default 8 KiB buffer that is one row in about 40 of the replay
// benchmark's rows.
func (f *Frontend) ReadRow() ([][]byte, bool) {
	return nextRow(f, true)
}

// nextRowGo is NextRow where the register scan is not available (no AVX2,
// another architecture, the purego build tag): the same checks in Go.
// With read set it is ReadRow.
func (f *Frontend) nextRowGo(read bool) ([][]byte, bool) {
	t := f.tr
	if !t.rowArmed() {
		return nil, false
	}
	rd := f.rd
	r := rd.r + rd.pending
	avail := rd.w - r
	if avail < 7 {
		if read && rd.complete(r, 'D') {
			return f.nextRowGo(false) // the row is buffered now
		}
		return nil, false
	}
	b := rd.buf[r:rd.w]
	if b[0] != 'D' {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(b[1:5])) // < 2^32: no overflow on 64-bit ints
	if n < 6 || n-4 > rd.bounds['D'].max {
		return nil, false
	}
	if n+1 > avail {
		if read && rd.complete(r, 'D') {
			return f.nextRowGo(false)
		}
		return nil, false
	}
	body := b[5 : n+1]
	cols := int(binary.BigEndian.Uint16(body))
	if cols != t.cols {
		return nil, false
	}
	if cap(f.row) < cols {
		f.row = make([][]byte, cols)
	}
	vals := f.row[:cols]
	text := t.rowText[:cols]
	// Text values are checked for ASCII without NUL on the way: a short
	// value here, without a call (asciiShort, inlined by hand: it is over
	// the inliner's budget), a long one by asciiNoNUL. bad collects the
	// check's failure bits; a row with a value that fails it is not
	// necessarily invalid (the value may be UTF-8) and takes the exact
	// check. (Checking the long values in a second loop after this one, as
	// this did before, cost 1.4x the pgproto3 floor per row instead of
	// 1.2x: BenchmarkReadDataRows/replay.)
	var bad uint64
	p := 2
	for i := range vals {
		if len(body)-p < 4 {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(body[p:]))
		p += 4
		if l < 0 {
			if l != -1 {
				return nil, false
			}
			vals[i] = nil
			continue
		}
		n := int(l)
		if n > len(body)-p {
			return nil, false
		}
		v := body[p : p+n : p+n]
		vals[i] = v
		p += n
		if !text[i] || n == 0 {
			continue
		}
		var w1, w2 uint64
		switch {
		case n >= 16:
			if !asciiNoNUL(v) {
				bad = wordHi
			}
			continue
		case n >= 8:
			w1, w2 = binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[n-8:])
		case n >= 4:
			w1 = uint64(binary.LittleEndian.Uint32(v)) | uint64(binary.LittleEndian.Uint32(v[n-4:]))<<32
			w2 = w1
		default:
			w1 = wordLo&^0xFFFFFF | uint64(v[0]) | uint64(v[n>>1])<<8 | uint64(v[n-1])<<16
			w2 = w1
		}
		bad |= (w1 - wordLo) | w1 | (w2 - wordLo) | w2
	}
	if p != len(body) {
		return nil, false
	}
	if bad&wordHi != 0 && !validValues(vals, text) {
		return nil, false
	}
	t.rows++
	rd.take(r, n+1)
	return vals, true
}

// NextCopyData is the fast path of a COPY TO STDOUT or COPY BOTH stream. If
// the next message is already buffered, is a CopyData, and is legal where it
// arrives (the server is in COPY OUT or COPY BOTH and has not sent CopyDone;
// the body is within the CopyData cap), NextCopyData consumes it and returns
// its payload, which aliases the read buffer and is valid until the next
// call to NextCopyData, NextRow, ReadRow or Receive. Otherwise it consumes nothing and
// returns false: the caller then calls Receive. Like NextRow, it never reads
// from the source and accepts nothing Receive would refuse.
func (f *Frontend) NextCopyData() ([]byte, bool) {
	t := f.tr
	if (t.state != StateCopyOut && t.state != StateCopyBoth) || t.serverEnd {
		return nil, false
	}
	rd := f.rd
	r := rd.r + rd.pending
	avail := rd.w - r
	if avail < 5 {
		return nil, false
	}
	b := rd.buf[r:rd.w]
	if b[0] != 'd' {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(b[1:5])) // < 2^32: no overflow on 64-bit ints
	if n < 4 || n-4 > rd.bounds['d'].max || n+1 > avail {
		return nil, false
	}
	rd.take(r, n+1)
	return b[5 : n+1 : n+1], true
}

// stamp fills in the stream offset of a Tracker error.
func (f *Frontend) stamp(err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) && pe.Offset == 0 {
		pe.Offset = f.rd.Offset()
	}
	return err
}

// State returns the protocol state.
func (f *Frontend) State() State { return f.tr.State() }

// TxStatus returns the transaction status of the last ReadyForQuery.
func (f *Frontend) TxStatus() TxStatus { return f.tr.TxStatus() }

// Err returns the *ProtocolError that desynchronized the stream, or nil.
func (f *Frontend) Err() error { return f.tr.Err() }

// Pending returns the number of requests still awaiting replies.
func (f *Frontend) Pending() int { return f.tr.Pending() }

// AwaitingSync reports whether the server discards input until a Sync that
// has not been sent yet.
func (f *Frontend) AwaitingSync() bool { return f.tr.AwaitingSync() }

// ProtocolVersion returns the protocol version in force.
func (f *Frontend) ProtocolVersion() uint32 { return f.tr.ProtocolVersion() }

// Buffered returns the number of received bytes not yet returned as a
// message. Right after the server's one-byte answer to SSLRequest it must be
// zero (bytes that arrived before the TLS handshake were not encrypted).
func (f *Frontend) Buffered() int { return f.rd.Buffered() }

// Desync marks the stream desynchronized for a violation found above the
// wire layer and returns the error.
func (f *Frontend) Desync(r Reason, msgType byte, detail string) error {
	pe := f.tr.Desync(r, msgType, detail)
	if pe.Offset == 0 {
		pe.Offset = f.rd.Offset()
	}
	return pe
}

// Mark records the output and request queue so that a multi-message request
// whose later message is refused can be undone with Rollback.
type Mark struct {
	segOpen   bool
	out       int
	queue     int
	seq       uint64
	state     State
	awaitSync bool
}

// Mark returns the current position for Rollback.
func (f *Frontend) Mark() Mark {
	t := f.tr
	return Mark{out: len(f.out), queue: len(t.queue), seq: t.nextSeq, state: t.state, awaitSync: t.awaitSync, segOpen: t.segOpen}
}

// Rollback undoes every Send since m: the encoded output and the requests
// the Tracker recorded. It is valid only if nothing was received and nothing
// written since m, and only for Parse, Bind, Describe, Execute, Close, Sync
// and Flush.
func (f *Frontend) Rollback(m Mark) {
	t := f.tr
	if t.err != nil {
		return
	}
	f.out = f.out[:m.out]
	t.queue = t.queue[:m.queue]
	t.rowFast = false
	t.nextSeq, t.state, t.awaitSync, t.segOpen = m.seq, m.state, m.awaitSync, m.segOpen
	if t.head > len(t.queue) {
		t.head = len(t.queue)
	}
}

// Output returns the encoded messages waiting to be written. The slice is
// valid until the next Send call or ResetOutput.
func (f *Frontend) Output() []byte { return f.out }

// TakeOutput returns the pending output and gives the Frontend spare (its
// length reset to 0) as the new output buffer, so that the returned bytes can
// be written by another goroutine while more messages are encoded.
func (f *Frontend) TakeOutput(spare []byte) []byte {
	b := f.out
	f.out = spare[:0]
	return b
}

// ResetOutput empties the output buffer, keeping its memory. Call it once
// Output has been written.
func (f *Frontend) ResetOutput() { f.out = f.out[:0] }

// WriteTo writes the pending output to w and empties it.
func (f *Frontend) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(f.out)
	f.out = f.out[:0]
	return int64(n), err
}

// encode appends msg, then asks track to record it; if either fails the
// output is left as it was.
func (f *Frontend) encode(msg pgproto3.FrontendMessage, track func() error) error {
	mark := len(f.out)
	out, err := msg.Encode(f.out)
	if err != nil {
		f.out = f.out[:mark]
		return &InputError{Field: "message", Offset: -1, Problem: err.Error()}
	}
	if err := track(); err != nil {
		f.out = out[:mark]
		return err
	}
	f.out = out
	return nil
}

// begin appends a message type and a length placeholder and returns the
// message's offset for finish. The hot messages are encoded by hand: the
// generic pgproto3 path boxes each message in an interface and allocates.
func (f *Frontend) begin(typ byte) int {
	at := len(f.out)
	f.out = append(f.out, typ, 0, 0, 0, 0)
	return at
}

// finish writes the length word of the message that begins at at.
func (f *Frontend) finish(at int) {
	binary.BigEndian.PutUint32(f.out[at+1:], uint32(len(f.out)-at-1))
}

// objectMessage appends a Describe or Close: type, object kind, name.
func (f *Frontend) objectMessage(typ, kind byte, name string) {
	at := f.begin(typ)
	f.out = append(append(append(f.out, kind), name...), 0)
	f.finish(at)
}

func tooLong(field string, n, max int) error {
	return &InputError{Field: field, Offset: -1, Problem: strconv.Itoa(n) + " bytes is over the limit of " + strconv.Itoa(max)}
}

func checkName(field, name string) error {
	if name == "" {
		return nil // the unnamed statement or portal
	}
	if len(name) > MaxNameLength {
		return tooLong(field, len(name), MaxNameLength)
	}
	return CheckString(field, name)
}

// SendStartup encodes a StartupMessage with the requested protocol version
// and the given parameters (user, database, options, client_encoding, …).
// Every name and value must be valid UTF-8 without NUL bytes, and
// client_encoding, if given, must be UTF8.
func (f *Frontend) SendStartup(params map[string]string) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	size := 4 + 1
	for k, v := range params {
		if k == "" {
			return &InputError{Field: "startup parameter name", Offset: -1, Problem: "empty"}
		}
		if err := CheckString("startup parameter name", k); err != nil {
			return err
		}
		if err := CheckString("startup parameter "+strconv.Quote(k), v); err != nil {
			return err
		}
		if k == "client_encoding" && v != "UTF8" {
			return &InputError{Field: "startup parameter \"client_encoding\"", Offset: -1, Problem: "must be UTF8"}
		}
		size += len(k) + len(v) + 2
	}
	if size > MaxStartupBody {
		return tooLong("startup message", size, MaxStartupBody)
	}
	msg := pgproto3.StartupMessage{ProtocolVersion: f.tr.opts.ProtocolVersion, Parameters: params}
	return f.encode(&msg, f.tr.SendStartup)
}

// SendPassword encodes a PasswordMessage (cleartext, or the MD5 digest).
func (f *Frontend) SendPassword(password string) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if len(password) > MaxPasswordLength {
		return tooLong("password", len(password), MaxPasswordLength)
	}
	if err := CheckString("password", password); err != nil {
		return err
	}
	return f.encode(&pgproto3.PasswordMessage{Password: password}, f.tr.SendPassword)
}

// SendSASLInitialResponse encodes a SASLInitialResponse.
func (f *Frontend) SendSASLInitialResponse(mechanism string, data []byte) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if err := CheckString("SASL mechanism", mechanism); err != nil {
		return err
	}
	if len(data) > MaxAuthToken {
		return tooLong("SASL message", len(data), MaxAuthToken)
	}
	return f.encode(&pgproto3.SASLInitialResponse{AuthMechanism: mechanism, Data: data}, f.tr.SendSASLInitialResponse)
}

// SendSASLResponse encodes a SASLResponse.
func (f *Frontend) SendSASLResponse(data []byte) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if len(data) > MaxAuthToken {
		return tooLong("SASL message", len(data), MaxAuthToken)
	}
	return f.encode(&pgproto3.SASLResponse{Data: data}, f.tr.SendSASLResponse)
}

// SASLVerified records that the caller verified the server's SASL
// signature; only then may AuthenticationOk arrive.
func (f *Frontend) SASLVerified() error { return f.tr.SASLVerified() }

// SendQuery encodes a simple Query. It returns the request's sequence
// number, which Events carry.
func (f *Frontend) SendQuery(sql string) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if len(sql) > MaxFrontendBody-1 {
		return 0, tooLong("query", len(sql), MaxFrontendBody-1)
	}
	if err := CheckString("query", sql); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendQuery()
	if err != nil {
		return 0, err
	}
	at := f.begin('Q')
	f.out = append(append(f.out, sql...), 0)
	f.finish(at)
	return seq, nil
}

// SendParse encodes a Parse of statement name.
func (f *Frontend) SendParse(name, sql string, paramOIDs []uint32) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("statement name", name); err != nil {
		return 0, err
	}
	if len(sql) > MaxFrontendBody-1-len(name) {
		return 0, tooLong("query", len(sql), MaxFrontendBody)
	}
	if err := CheckString("query", sql); err != nil {
		return 0, err
	}
	if len(paramOIDs) > MaxParams {
		return 0, tooLong("parameter types", len(paramOIDs), MaxParams)
	}
	seq, err := f.tr.SendParse(name)
	if err != nil {
		return 0, err
	}
	at := f.begin('P')
	f.out = append(append(f.out, name...), 0)
	f.out = append(append(f.out, sql...), 0)
	f.out = binary.BigEndian.AppendUint16(f.out, uint16(len(paramOIDs)))
	for _, o := range paramOIDs {
		f.out = binary.BigEndian.AppendUint32(f.out, o)
	}
	f.finish(at)
	return seq, nil
}

// SendBind encodes a Bind of portal to statement. Parameters whose format
// is text (0) must be valid UTF-8 without NUL bytes; nil is SQL NULL.
// paramFormats follows the protocol: empty means all text, one code applies
// to all, otherwise one per parameter.
func (f *Frontend) SendBind(portal, statement string, paramFormats []int16, params [][]byte, resultFormats []int16) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("portal name", portal); err != nil {
		return 0, err
	}
	if err := checkName("statement name", statement); err != nil {
		return 0, err
	}
	if len(params) > MaxParams {
		return 0, tooLong("parameters", len(params), MaxParams)
	}
	if len(resultFormats) > MaxParams {
		return 0, tooLong("result formats", len(resultFormats), MaxParams)
	}
	if len(paramFormats) > 1 && len(paramFormats) != len(params) {
		return 0, &InputError{Field: "parameter formats", Offset: -1,
			Problem: strconv.Itoa(len(paramFormats)) + " format codes for " + strconv.Itoa(len(params)) + " parameters"}
	}
	size := len(portal) + len(statement) + 8 + 2*len(paramFormats) + 2*len(resultFormats)
	for i, p := range params {
		size += 4 + len(p)
		fc := formatAt(paramFormats, i)
		if fc != 0 && fc != 1 {
			return 0, &InputError{Field: "parameter " + strconv.Itoa(i+1), Offset: -1, Problem: "format code " + strconv.Itoa(int(fc)) + " is not 0 or 1"}
		}
		if p != nil && fc == 0 {
			if ok, off, r := CheckText(p); !ok {
				return 0, textInputError("parameter "+strconv.Itoa(i+1), off, r)
			}
		}
	}
	if size > MaxFrontendBody {
		return 0, tooLong("bind message", size, MaxFrontendBody)
	}
	seq, err := f.tr.SendBind(portal, statement, resultFormats)
	if err != nil {
		return 0, err
	}
	at := f.begin('B')
	f.out = append(append(f.out, portal...), 0)
	f.out = append(append(f.out, statement...), 0)
	f.out = binary.BigEndian.AppendUint16(f.out, uint16(len(paramFormats)))
	for _, fc := range paramFormats {
		f.out = binary.BigEndian.AppendUint16(f.out, uint16(fc))
	}
	f.out = binary.BigEndian.AppendUint16(f.out, uint16(len(params)))
	for _, p := range params {
		if p == nil {
			f.out = binary.BigEndian.AppendUint32(f.out, 0xFFFFFFFF)
			continue
		}
		f.out = binary.BigEndian.AppendUint32(f.out, uint32(len(p)))
		f.out = append(f.out, p...)
	}
	f.out = binary.BigEndian.AppendUint16(f.out, uint16(len(resultFormats)))
	for _, fc := range resultFormats {
		f.out = binary.BigEndian.AppendUint16(f.out, uint16(fc))
	}
	f.finish(at)
	return seq, nil
}

// SendDescribeStatement encodes a Describe of a prepared statement.
func (f *Frontend) SendDescribeStatement(name string) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("statement name", name); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendDescribeStatement(name)
	if err != nil {
		return 0, err
	}
	f.objectMessage('D', 'S', name)
	return seq, nil
}

// SendDescribePortal encodes a Describe of a portal.
func (f *Frontend) SendDescribePortal(name string) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("portal name", name); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendDescribePortal(name)
	if err != nil {
		return 0, err
	}
	f.objectMessage('D', 'P', name)
	return seq, nil
}

// SendExecute encodes an Execute of portal with a row limit (0 = none).
func (f *Frontend) SendExecute(portal string, maxRows int32) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("portal name", portal); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendExecute(portal, maxRows)
	if err != nil {
		return 0, err
	}
	at := f.begin('E')
	f.out = append(append(f.out, portal...), 0)
	f.out = binary.BigEndian.AppendUint32(f.out, uint32(maxRows))
	f.finish(at)
	return seq, nil
}

// SendClose encodes a Close of a statement (kind 'S') or portal ('P').
func (f *Frontend) SendClose(kind byte, name string) (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	if err := checkName("name", name); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendClose(kind, name)
	if err != nil {
		return 0, err
	}
	f.objectMessage('C', kind, name)
	return seq, nil
}

// SendSync encodes a Sync.
func (f *Frontend) SendSync() (uint64, error) {
	if err := f.tr.Err(); err != nil {
		return 0, err
	}
	seq, err := f.tr.SendSync()
	if err != nil {
		return 0, err
	}
	f.out = append(f.out, 'S', 0, 0, 0, 4)
	return seq, nil
}

// SendFlush encodes a Flush.
func (f *Frontend) SendFlush() error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if err := f.tr.SendFlush(); err != nil {
		return err
	}
	f.out = append(f.out, 'H', 0, 0, 0, 4)
	return nil
}

// SendCopyData encodes a CopyData.
func (f *Frontend) SendCopyData(data []byte) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if len(data) > MaxFrontendBody {
		return tooLong("copy data", len(data), MaxFrontendBody)
	}
	// Encoded by hand: the generic path allocates a message per call, and
	// COPY sends one per chunk.
	if err := f.tr.SendCopyData(); err != nil {
		return err
	}
	n := uint32(4 + len(data))
	f.out = append(f.out, 'd', byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	f.out = append(f.out, data...)
	return nil
}

// CopyDataHeader is the room FrameCopyData needs in front of a payload.
const CopyDataHeader = 5

// FrameCopyData frames a CopyData in place, for a write without a copy of
// the payload: msg is CopyDataHeader bytes of room followed by the payload.
// It makes the checks and records the message as SendCopyData does, and
// writes the header into msg[:CopyDataHeader]. The caller must then write
// any pending Output and after it msg, whole and unchanged; nothing else may
// be sent in between.
func (f *Frontend) FrameCopyData(msg []byte) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if len(msg) < CopyDataHeader {
		return &InputError{Field: "copy data", Offset: -1, Problem: "no room for the message header"}
	}
	if len(msg)-CopyDataHeader > MaxFrontendBody {
		return tooLong("copy data", len(msg)-CopyDataHeader, MaxFrontendBody)
	}
	if err := f.tr.SendCopyData(); err != nil {
		return err
	}
	msg[0] = 'd'
	binary.BigEndian.PutUint32(msg[1:CopyDataHeader], uint32(len(msg)-1))
	return nil
}

// SendCopyDone encodes a CopyDone.
func (f *Frontend) SendCopyDone() error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if err := f.tr.SendCopyDone(); err != nil {
		return err
	}
	f.out = append(f.out, 'c', 0, 0, 0, 4)
	return nil
}

// SendCopyFail encodes a CopyFail with the given reason.
func (f *Frontend) SendCopyFail(reason string) error {
	if err := f.tr.Err(); err != nil {
		return err
	}
	if len(reason) > 9000 {
		return tooLong("copy fail reason", len(reason), 9000)
	}
	if err := CheckString("copy fail reason", reason); err != nil {
		return err
	}
	return f.encode(&pgproto3.CopyFail{Message: reason}, f.tr.SendCopyFail)
}

// SendTerminate encodes a Terminate. All later input is discarded.
func (f *Frontend) SendTerminate() {
	f.out = append(f.out, 'X', 0, 0, 0, 4)
	f.tr.SendTerminate()
}
