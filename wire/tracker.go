package wire

import (
	"bytes"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Protocol versions a client may request.
const (
	ProtocolVersion30 = pgproto3.ProtocolVersion30
	ProtocolVersion32 = pgproto3.ProtocolVersion32
)

// TrackerOptions configure a Tracker. The zero value requests protocol 3.0
// and validates text-format values.
type TrackerOptions struct {
	// ProtocolVersion is the version the StartupMessage requests:
	// ProtocolVersion30 or ProtocolVersion32. Zero means ProtocolVersion30.
	ProtocolVersion uint32
	// SkipValueValidation turns off the UTF-8 and NUL check of text-format
	// DataRow values. Only for trusted streams: an invalid value is then
	// handed to the caller as it came. Text fields of every other message
	// are always checked.
	SkipValueValidation bool
	// Replication marks a walsender session: a CopyBothResponse is legal in
	// reply to a simple Query.
	Replication bool
}

// Event tells the caller what a received message meant to the state machine.
type Event struct {
	// Seq is the sequence number (returned by the Send method) of the
	// request the message answers, or 0 for asynchronous messages.
	Seq uint64
	// Async marks NoticeResponse, ParameterStatus and NotificationResponse,
	// which belong to no request.
	Async bool
	// Done marks the last message of request Seq.
	Done bool
	// Skipped is the number of queued requests after Seq that the server
	// will skip because this ErrorResponse put it in skip-to-Sync mode.
	Skipped int
	// Fatal marks an ErrorResponse that ends the session (FATAL or PANIC
	// severity, or any error during startup). The state is now StateClosed.
	Fatal bool
	// Discard marks a message received after Terminate, which the caller
	// must ignore.
	Discard bool
}

type entryKind uint8

const (
	entryQuery entryKind = iota + 1
	entryParse
	entryBind
	entryDescribeStatement
	entryDescribePortal
	entryExecute
	entryClose
	entrySync
)

var entryNames = [...]string{
	entryQuery:             "Query",
	entryParse:             "Parse",
	entryBind:              "Bind",
	entryDescribeStatement: "Describe statement",
	entryDescribePortal:    "Describe portal",
	entryExecute:           "Execute",
	entryClose:             "Close",
	entrySync:              "Sync",
}

// Phases of the head entry.
const (
	phaseStart   uint8 = iota // Query: Q.Start; Describe S: awaiting t; Sync: awaiting E or Z
	phaseRows                 // Query: Q.Rows; Execute: rows arriving; Describe S: after t
	phaseEmpty                // Query: after EmptyQueryResponse
	phaseErr                  // Query: after ErrorResponse; Sync: after its ErrorResponse
	phaseCopy                 // Query or Execute: inside COPY
	phaseReplied              // Query: at least one reply seen (EmptyQueryResponse no longer legal)
)

type entry struct {
	kind    entryKind
	phase   uint8
	replied bool // Query: a reply other than async arrived
	seq     uint64
	name    string  // statement (Parse, Describe S, Close S) or portal (Bind, Describe P, Execute, Close P)
	stmt    string  // Bind: the source statement
	maxRows int32   // Execute
	formats []int16 // Bind: result format codes as sent
}

// shape is what the client knows of the rows a statement or portal returns.
type shape struct {
	known   bool    // cols and noData are meaningful
	noData  bool    // returns no rows
	cols    int     // column count when known
	fmtKnow bool    // formats is meaningful (portals)
	formats []int16 // Bind result formats, unexpanded
}

func formatAt(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return -1
}

// Tracker is the client-side protocol state machine. The caller reports every
// message it sends through a Send method before it writes the message, and
// passes every message it receives to Receive. The Tracker answers whether the
// message is legal where it arrived, and what it completes.
//
// A Tracker is pure: no I/O, no goroutines. It is not safe for concurrent use.
// Once it returns a *ProtocolError it is desynchronized and returns that error
// from every later call.
type Tracker struct {
	opts    TrackerOptions
	state   State
	tx      TxStatus
	err     *ProtocolError
	version uint32 // negotiated protocol version

	// startup
	gotAuth   bool  // an authentication request arrived (no more NegotiateProtocolVersion)
	gotNPV    bool  // a NegotiateProtocolVersion arrived
	authWait  int32 // authentication request awaiting the client's answer
	saslFinal bool  // SASLFinal received, awaiting SASLVerified
	gotKey    bool
	readyOnce bool // the first ReadyForQuery arrived

	// watched parameters
	clientEncoding string
	serverEncoding string
	serverVersion  string

	// busy
	queue     []entry
	head      int
	nextSeq   uint64
	awaitSync bool // an error or a COPY swallowed the queued Syncs: a new Sync must be sent
	segOpen   bool // extended requests were queued after the last Sync: only a Sync ends the segment

	// current result shape
	cols      int // -1 unknown
	formats   []int16
	fmtKnown  bool
	rows      int64
	noRows    bool // current Execute's portal is known to return no rows
	copyFromX bool // COPY started by Execute (extended protocol)
	clientEnd bool // client sent CopyDone or CopyFail
	clientErr bool // client sent CopyFail
	serverEnd bool // server sent CopyDone

	stmts   shapes
	portals shapes

	// DataRow fast path (Frontend.NextRow). It is armed (rowFast) when the
	// shape of the head entry's rows is known: at a simple Query's
	// RowDescription, at a Describe portal's RowDescription when the
	// Execute of that portal follows (armExecute), or once dataRow accepted
	// a row with every check; any other message, a violation and Rollback
	// disarm it. While it is set, a
	// DataRow of t.cols columns needs no check but its values' (rowText
	// marks the columns validated as text) and the row limit.
	rowFast  bool
	rowLimit int64 // Execute row limit, 0 when none
	rowText  []bool
}

// NewTracker returns a Tracker in StateNew.
func NewTracker(opts TrackerOptions) *Tracker {
	if opts.ProtocolVersion == 0 {
		opts.ProtocolVersion = ProtocolVersion30
	}
	return &Tracker{opts: opts, state: StateNew, version: opts.ProtocolVersion, cols: -1}
}

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// TxStatus returns the transaction status of the last ReadyForQuery, or 0
// before the first.
func (t *Tracker) TxStatus() TxStatus { return t.tx }

// ProtocolVersion returns the protocol version in force: the one requested,
// or the one the server offered in NegotiateProtocolVersion.
func (t *Tracker) ProtocolVersion() uint32 { return t.version }

// Err returns the ProtocolError that desynchronized the Tracker, or nil.
func (t *Tracker) Err() error {
	if t.err == nil {
		return nil
	}
	return t.err
}

// Pending returns the number of requests still awaiting replies.
func (t *Tracker) Pending() int { return len(t.queue) - t.head }

// AwaitingSync reports whether the server is discarding messages until a
// Sync that has not been sent yet (after an error in the extended protocol,
// or after a COPY that swallowed the queued Syncs).
func (t *Tracker) AwaitingSync() bool { return t.awaitSync }

// Desync marks the Tracker desynchronized with the given reason, for
// violations detected above the wire layer (a replication stream whose LSN
// went backwards, say). It returns the stored error; if the Tracker was
// already desynchronized it returns the first error.
func (t *Tracker) Desync(r Reason, msgType byte, detail string) *ProtocolError {
	return t.violation(r, msgType, detail)
}

func (t *Tracker) violation(r Reason, msgType byte, detail string) *ProtocolError {
	if t.err != nil {
		return t.err
	}
	t.err = &ProtocolError{Reason: r, MsgType: msgType, State: t.state, Detail: detail}
	t.state = StateDesynced
	t.rowFast = false
	return t.err
}

// adopt makes a framing or decoding error found by the Reader the Tracker's
// own: the stream is desynchronized.
func (t *Tracker) adopt(pe *ProtocolError) {
	if t.err != nil {
		return
	}
	if pe.State == StateUnknown {
		pe.State = t.state
	}
	t.err = pe
	t.state = StateDesynced
	t.rowFast = false
}

func (t *Tracker) unexpected(msgType byte, detail string) *ProtocolError {
	if detail == "" {
		detail = MessageName(msgType) + " is not legal " + t.where()
	}
	r := ReasonUnexpectedMessage
	switch t.state {
	case StateCopyIn, StateCopyOut, StateCopyBoth:
		r = ReasonCopyState
	}
	return t.violation(r, msgType, detail)
}

// where describes the current position for error details.
func (t *Tracker) where() string {
	if e := t.headEntry(); e != nil {
		return "while awaiting the reply to " + entryNames[e.kind] + " (request " + strconv.FormatUint(e.seq, 10) + ")"
	}
	return "in state " + t.state.String()
}

func (t *Tracker) headEntry() *entry {
	if t.head < len(t.queue) {
		return &t.queue[t.head]
	}
	return nil
}

// ---- sending -------------------------------------------------------------

func (t *Tracker) refuse(what, why string) error {
	if t.err != nil {
		return t.err
	}
	if t.state == StateClosed || t.state == StateTerminating {
		return ErrSessionEnded
	}
	return &InputError{Field: what, Offset: -1, Problem: why}
}

// SendStartup records a StartupMessage. Legal only in StateNew.
func (t *Tracker) SendStartup() error {
	if t.state != StateNew {
		return t.refuse("StartupMessage", "not legal in state "+t.state.String())
	}
	t.state = StateAuthStart
	return nil
}

// SendPassword records a PasswordMessage in answer to
// AuthenticationCleartextPassword or AuthenticationMD5Password.
func (t *Tracker) SendPassword() error {
	if t.state != StateAuthStart || (t.authWait != 3 && t.authWait != 5) {
		return t.refuse("PasswordMessage", "no password was requested")
	}
	t.authWait = 0
	t.state = StateAuthPassword
	return nil
}

// SendSASLInitialResponse records a SASLInitialResponse in answer to
// AuthenticationSASL.
func (t *Tracker) SendSASLInitialResponse() error {
	if t.state != StateAuthStart || t.authWait != 10 {
		return t.refuse("SASLInitialResponse", "no SASL exchange was offered")
	}
	t.authWait = 0
	t.state = StateAuthSASLContinue
	return nil
}

// SendSASLResponse records a SASLResponse in answer to
// AuthenticationSASLContinue.
func (t *Tracker) SendSASLResponse() error {
	if t.state != StateAuthSASLContinue || t.authWait != 11 {
		return t.refuse("SASLResponse", "no SASL challenge is pending")
	}
	t.authWait = 0
	t.state = StateAuthSASLFinal
	return nil
}

// SASLVerified records that the caller verified the server's SASLFinal
// signature. Only then is AuthenticationOk legal.
func (t *Tracker) SASLVerified() error {
	if t.state != StateAuthSASLFinal || !t.saslFinal {
		return t.refuse("SASL verification", "no SASLFinal was received")
	}
	t.saslFinal = false
	t.state = StateAuthSASLOk
	return nil
}

func (t *Tracker) canQueue(what string) error {
	if t.err != nil {
		return t.err
	}
	switch t.state {
	case StateClosed, StateTerminating:
		return ErrSessionEnded
	case StateIdle, StateBusy:
	default:
		return t.refuse(what, "not legal in state "+t.state.String())
	}
	if t.awaitSync {
		return t.refuse(what, "the server discards messages until a Sync; send Sync first")
	}
	return nil
}

func (t *Tracker) push(k entryKind) *entry {
	if t.head == len(t.queue) {
		t.queue = t.queue[:0]
		t.head = 0
	}
	t.nextSeq++
	if len(t.queue) < cap(t.queue) {
		t.queue = t.queue[:len(t.queue)+1]
	} else {
		t.queue = append(t.queue, entry{})
	}
	e := &t.queue[len(t.queue)-1]
	fm := e.formats[:0]
	*e = entry{kind: k, seq: t.nextSeq, formats: fm}
	if t.state == StateIdle {
		t.state = StateBusy
	}
	return e
}

// openSegment reports whether extended-protocol requests are queued without
// a Sync after them.
func (t *Tracker) openSegment() bool { return t.segOpen }

// SendQuery records a simple Query. It is refused while extended-protocol
// requests are queued without a Sync after them (the Query's ReadyForQuery
// would cover them and merge their transactions).
func (t *Tracker) SendQuery() (uint64, error) {
	if err := t.canQueue("Query"); err != nil {
		return 0, err
	}
	if t.openSegment() {
		return 0, t.refuse("Query", "extended-protocol requests are queued without a Sync")
	}
	e := t.push(entryQuery)
	// Any Query destroys the unnamed statement and portal.
	t.stmts.del("")
	t.portals.del("")
	return e.seq, nil
}

// SendParse records a Parse of statement name.
func (t *Tracker) SendParse(name string) (uint64, error) {
	if err := t.canQueue("Parse"); err != nil {
		return 0, err
	}
	e := t.push(entryParse)
	t.segOpen = true
	e.name = name
	return e.seq, nil
}

// SendBind records a Bind of portal to statement with the given result
// format codes (the Tracker copies them).
func (t *Tracker) SendBind(portal, statement string, resultFormats []int16) (uint64, error) {
	if err := t.canQueue("Bind"); err != nil {
		return 0, err
	}
	for i, f := range resultFormats {
		if f != 0 && f != 1 {
			return 0, &InputError{Field: "result format " + strconv.Itoa(i), Offset: -1, Problem: "format code " + strconv.Itoa(int(f)) + " is not 0 or 1"}
		}
	}
	e := t.push(entryBind)
	t.segOpen = true
	e.name, e.stmt = portal, statement
	e.formats = append(e.formats, resultFormats...)
	return e.seq, nil
}

// SendDescribeStatement records a Describe of a prepared statement.
func (t *Tracker) SendDescribeStatement(name string) (uint64, error) {
	if err := t.canQueue("Describe"); err != nil {
		return 0, err
	}
	e := t.push(entryDescribeStatement)
	t.segOpen = true
	e.name = name
	return e.seq, nil
}

// SendDescribePortal records a Describe of a portal.
func (t *Tracker) SendDescribePortal(name string) (uint64, error) {
	if err := t.canQueue("Describe"); err != nil {
		return 0, err
	}
	e := t.push(entryDescribePortal)
	t.segOpen = true
	e.name = name
	return e.seq, nil
}

// SendExecute records an Execute of portal with a row limit (0 = none). Only
// Sync (and Flush) may follow an Execute that could start COPY FROM STDIN: a
// CopyInResponse that finds anything else queued desynchronizes the stream.
func (t *Tracker) SendExecute(portal string, maxRows int32) (uint64, error) {
	if err := t.canQueue("Execute"); err != nil {
		return 0, err
	}
	if maxRows < 0 {
		return 0, &InputError{Field: "Execute", Offset: -1, Problem: "negative row limit"}
	}
	e := t.push(entryExecute)
	t.segOpen = true
	e.name, e.maxRows = portal, maxRows
	return e.seq, nil
}

// SendClose records a Close of a statement (kind 'S') or portal (kind 'P').
func (t *Tracker) SendClose(kind byte, name string) (uint64, error) {
	if err := t.canQueue("Close"); err != nil {
		return 0, err
	}
	if kind != 'S' && kind != 'P' {
		return 0, &InputError{Field: "Close", Offset: -1, Problem: "kind must be 'S' or 'P'"}
	}
	e := t.push(entryClose)
	t.segOpen = true
	e.name = name
	e.stmt = string(kind)
	return e.seq, nil
}

// SendSync records a Sync.
func (t *Tracker) SendSync() (uint64, error) {
	if t.err != nil {
		return 0, t.err
	}
	switch {
	case t.state == StateIdle || t.state == StateBusy:
	case t.state == StateCopyIn && t.copyFromX && t.clientEnd:
		// The COPY swallowed the queued Syncs; this one ends the segment.
	default:
		return 0, t.refuse("Sync", "not legal in state "+t.state.String())
	}
	t.awaitSync = false
	t.segOpen = false
	e := t.push(entrySync)
	return e.seq, nil
}

// SendFlush records a Flush; it expects no reply.
func (t *Tracker) SendFlush() error {
	if t.err != nil {
		return t.err
	}
	if t.state != StateBusy && t.state != StateIdle {
		return t.refuse("Flush", "not legal in state "+t.state.String())
	}
	return nil
}

// SendCopyData records a CopyData from the client. Legal in COPY IN and COPY
// BOTH until the client ended its side; after the server aborted the copy it
// is refused (the caller must stop sending).
func (t *Tracker) SendCopyData() error {
	if t.err != nil {
		return t.err
	}
	if (t.state != StateCopyIn && t.state != StateCopyBoth) || t.clientEnd {
		return t.refuse("CopyData", "the connection is not copying data to the server")
	}
	return nil
}

// SendCopyDone records a CopyDone from the client.
func (t *Tracker) SendCopyDone() error {
	if err := t.SendCopyData(); err != nil {
		return t.refuse("CopyDone", "the connection is not copying data to the server")
	}
	t.clientEnd = true
	return nil
}

// SendCopyFail records a CopyFail from the client. Legal in COPY IN only.
func (t *Tracker) SendCopyFail() error {
	if t.err != nil {
		return t.err
	}
	if t.state != StateCopyIn || t.clientEnd {
		return t.refuse("CopyFail", "the connection is not in COPY FROM STDIN")
	}
	t.clientEnd, t.clientErr = true, true
	return nil
}

// SendTerminate records a Terminate. All later input is discarded.
func (t *Tracker) SendTerminate() {
	if !t.state.Terminal() {
		t.state = StateTerminating
	}
}

// EOF tells the Tracker that the stream ended at a message boundary. It
// returns nil when nothing was expected (idle, after Terminate, after a FATAL
// error) and a *ProtocolError with ReasonUnexpectedEOF otherwise: the outcome
// of queued requests is unknown.
func (t *Tracker) EOF() error {
	if t.err != nil {
		return t.err
	}
	switch t.state {
	case StateIdle, StateTerminating, StateClosed, StateNew:
		t.state = StateClosed
		return nil
	}
	return t.violation(ReasonUnexpectedEOF, 0, "the server closed the connection "+t.where()+"; the outcome of queued requests is unknown")
}

// ---- receiving -----------------------------------------------------------

// Admit is the Reader gate: it refuses, before the body is read, a message
// type that cannot be legal in the current state. Receive remains the
// authority; Admit only stops an illegal message early.
func (t *Tracker) Admit(typ byte, _ int) *ProtocolError {
	if t.err != nil {
		return t.err
	}
	ok := true
	switch t.state {
	case StateIdle:
		ok = typ == 'N' || typ == 'S' || typ == 'A' || typ == 'E'
	case StateAuthStart, StateAuthPassword, StateAuthSASLContinue, StateAuthSASLFinal, StateAuthSASLOk:
		ok = typ == 'R' || typ == 'v' || typ == 'E'
	case StateAwaitReady:
		ok = typ == 'S' || typ == 'K' || typ == 'N' || typ == 'E' || typ == 'Z'
	case StateCopyIn:
		ok = typ == 'N' || typ == 'S' || typ == 'A' || typ == 'E' || typ == 'C'
	case StateCopyOut, StateCopyBoth:
		ok = typ == 'd' || typ == 'c' || typ == 'C' || typ == 'E' || typ == 'N' || typ == 'S' || typ == 'A' ||
			(typ == 'T' && t.closingBoth())
	case StateBusy:
		switch typ {
		case 'd', 'c', 'V', 'K', 'R', 'v':
			ok = false
		case 'D':
			e := t.headEntry()
			ok = e != nil && ((e.kind == entryQuery && e.phase == phaseRows) || e.kind == entryExecute)
		}
	case StateNew, StateClosed:
		ok = false
	}
	if !ok {
		return t.unexpected(typ, "")
	}
	return nil
}

// Receive checks msg against the current state and advances the state
// machine. msg must come from a strict decoder (Reader.Receive). A returned
// error is a *ProtocolError and the Tracker is desynchronized.
func (t *Tracker) Receive(msg pgproto3.BackendMessage) (Event, error) {
	if t.err != nil {
		return Event{}, t.err
	}
	t.rowFast = false
	switch t.state {
	case StateTerminating:
		return Event{Discard: true}, nil
	case StateNew:
		return Event{}, t.unexpected(typeOf(msg), "a message arrived before the StartupMessage was sent")
	case StateClosed:
		return Event{}, t.unexpected(typeOf(msg), "a message arrived after the session ended")
	}
	// Hot path first.
	if m, ok := msg.(*pgproto3.DataRow); ok {
		return t.dataRow(m)
	}
	switch m := msg.(type) {
	case *pgproto3.NoticeResponse:
		if t.state < StateAwaitReady {
			return Event{}, t.unexpected('N', "")
		}
		return Event{Async: true}, nil
	case *pgproto3.ParameterStatus:
		if t.state < StateAwaitReady {
			return Event{}, t.unexpected('S', "")
		}
		if err := t.watch(m.Name, m.Value); err != nil {
			return Event{}, err
		}
		return Event{Async: true}, nil
	case *pgproto3.NotificationResponse:
		if !t.readyOnce {
			return Event{}, t.unexpected('A', "")
		}
		return Event{Async: true}, nil
	case *pgproto3.ErrorResponse:
		if m.SeverityUnlocalized == "FATAL" || m.SeverityUnlocalized == "PANIC" || t.state < StateAwaitReady {
			var seq uint64
			if e := t.headEntry(); e != nil {
				seq = e.seq
			}
			t.state = StateClosed
			return Event{Seq: seq, Done: true, Fatal: true}, nil
		}
	}
	switch t.state {
	case StateAuthStart, StateAuthPassword, StateAuthSASLContinue, StateAuthSASLFinal, StateAuthSASLOk:
		return t.auth(msg)
	case StateAwaitReady:
		return t.awaitReady(msg)
	case StateIdle:
		return Event{}, t.unexpected(typeOf(msg), "")
	case StateCopyIn, StateCopyOut, StateCopyBoth:
		return t.copyMsg(msg)
	case StateBusy:
		return t.busy(msg)
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

func (t *Tracker) auth(msg pgproto3.BackendMessage) (Event, error) {
	if typeOf(msg) == 'R' && (t.authWait != 0 || t.saslFinal) {
		return Event{}, t.violation(ReasonAuthentication, 'R', "an authentication message arrived while the server awaited the client's answer")
	}
	if _, ok := msg.(*pgproto3.NegotiateProtocolVersion); !ok {
		t.gotAuth = true
	}
	switch m := msg.(type) {
	case *pgproto3.NegotiateProtocolVersion:
		if t.gotAuth || t.gotNPV || t.state != StateAuthStart {
			return Event{}, t.violation(ReasonProtocolVersion, 'v', "NegotiateProtocolVersion is legal only once, as the first reply")
		}
		t.gotNPV = true
		if err := t.negotiate(m); err != nil {
			return Event{}, err
		}
		return Event{}, nil
	case *pgproto3.AuthenticationOk:
		switch t.state {
		case StateAuthStart, StateAuthPassword, StateAuthSASLOk:
			t.state = StateAwaitReady
			return Event{}, nil
		}
		return Event{}, t.violation(ReasonAuthentication, 'R', "AuthenticationOk before the SASL exchange was complete and verified")
	case *pgproto3.AuthenticationCleartextPassword, *pgproto3.AuthenticationMD5Password, *pgproto3.AuthenticationSASL,
		*pgproto3.AuthenticationGSS:
		if t.state != StateAuthStart {
			return Event{}, t.violation(ReasonAuthentication, 'R', "a second authentication request in state "+t.state.String())
		}
		switch msg.(type) {
		case *pgproto3.AuthenticationCleartextPassword:
			t.authWait = 3
		case *pgproto3.AuthenticationMD5Password:
			t.authWait = 5
		case *pgproto3.AuthenticationSASL:
			t.authWait = 10
		default:
			t.authWait = 7
		}
		return Event{}, nil
	case *pgproto3.AuthenticationSASLContinue:
		if t.state != StateAuthSASLContinue {
			return Event{}, t.violation(ReasonAuthentication, 'R', "AuthenticationSASLContinue in state "+t.state.String())
		}
		t.authWait = 11
		return Event{}, nil
	case *pgproto3.AuthenticationSASLFinal:
		if t.state != StateAuthSASLFinal {
			return Event{}, t.violation(ReasonAuthentication, 'R', "AuthenticationSASLFinal in state "+t.state.String())
		}
		t.saslFinal = true
		return Event{}, nil
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

// negotiate validates a NegotiateProtocolVersion. The client requests no
// protocol options, so the server may list none.
func (t *Tracker) negotiate(m *pgproto3.NegotiateProtocolVersion) *ProtocolError {
	v := m.NewestMinorProtocol
	switch {
	case v > t.opts.ProtocolVersion:
		return t.violation(ReasonProtocolVersion, 'v', "offered version is newer than the one requested")
	case v < ProtocolVersion30 || v>>16 != 3:
		return t.violation(ReasonProtocolVersion, 'v', "offered version is older than 3.0")
	case v == ProtocolVersion30+1:
		return t.violation(ReasonProtocolVersion, 'v', "offered version 3.1 does not exist")
	case len(m.UnrecognizedOptions) > 0:
		return t.violation(ReasonProtocolVersion, 'v', "server lists protocol options the client never sent")
	case v == t.opts.ProtocolVersion:
		return t.violation(ReasonProtocolVersion, 'v', "server offers the requested version and rejects no option")
	}
	t.version = v
	return nil
}

func (t *Tracker) awaitReady(msg pgproto3.BackendMessage) (Event, error) {
	switch m := msg.(type) {
	case *pgproto3.BackendKeyData:
		if t.gotKey {
			return Event{}, t.unexpected('K', "a second BackendKeyData")
		}
		n := len(m.SecretKey)
		if t.version == ProtocolVersion30 && n != 4 {
			return Event{}, t.violation(ReasonProtocolVersion, 'K', "secret key of "+strconv.Itoa(n)+" bytes under protocol 3.0 (must be 4)")
		}
		if n < 4 || n > 256 {
			return Event{}, t.violation(ReasonProtocolVersion, 'K', "secret key of "+strconv.Itoa(n)+" bytes (must be 4 to 256)")
		}
		t.gotKey = true
		return Event{}, nil
	case *pgproto3.ReadyForQuery:
		if m.TxStatus != 'I' {
			return Event{}, t.unexpected('Z', "the first ReadyForQuery must report status I")
		}
		if t.clientEncoding != "UTF8" {
			return Event{}, t.violation(ReasonParameterChange, 'Z', "the server never reported client_encoding UTF8")
		}
		t.tx = TxIdle
		t.readyOnce = true
		t.state = StateIdle
		return Event{Done: true}, nil
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

// watch applies the rules for watched ParameterStatus values.
func (t *Tracker) watch(name, value string) *ProtocolError {
	bad := func(why string) *ProtocolError {
		return t.violation(ReasonParameterChange, 'S', name+" "+strconv.Quote(value)+": "+why)
	}
	switch name {
	case "client_encoding":
		if value != "UTF8" {
			return bad("the session must use UTF8")
		}
		t.clientEncoding = value
	case "server_encoding":
		if t.serverEncoding != "" && t.serverEncoding != value {
			return bad("the server encoding cannot change (was " + strconv.Quote(t.serverEncoding) + ")")
		}
		t.serverEncoding = value
	case "standard_conforming_strings":
		if value != "on" {
			return bad("must be on")
		}
	case "integer_datetimes":
		if value != "on" {
			return bad("must be on")
		}
	case "server_version":
		if t.serverVersion != "" && t.serverVersion != value {
			return bad("the server version cannot change (was " + strconv.Quote(t.serverVersion) + ")")
		}
		t.serverVersion = value
	}
	return nil
}

// ready handles ReadyForQuery for the head entry (a Query or a Sync).
func (t *Tracker) ready(e *entry, m *pgproto3.ReadyForQuery) (Event, error) {
	seq := e.seq
	t.pop()
	t.tx = TxStatus(m.TxStatus)
	if t.tx == TxIdle {
		// The transaction ended: named portals died with it.
		t.portals.clear()
	}
	return Event{Seq: seq, Done: true}, nil
}

func (t *Tracker) pop() {
	t.head++
	t.cols, t.fmtKnown, t.rows, t.noRows = -1, false, 0, false
	if t.head == len(t.queue) {
		t.queue = t.queue[:0]
		t.head = 0
		if !t.awaitSync && !t.segOpen {
			// Only a ReadyForQuery (of a Query or a Sync) empties the
			// queue with no segment open.
			t.state = StateIdle
		}
	}
}

// skip handles a non-FATAL ErrorResponse for the head extended entry: the
// server discards every request up to the next Sync.
func (t *Tracker) skip(e *entry) (Event, error) {
	seq := e.seq
	t.head++
	n := 0
	for t.head < len(t.queue) && t.queue[t.head].kind != entrySync {
		t.head++
		n++
	}
	t.cols, t.fmtKnown, t.rows, t.noRows = -1, false, 0, false
	if t.head == len(t.queue) {
		// No Sync queued: the server waits for one.
		t.queue = t.queue[:0]
		t.head = 0
		t.awaitSync = true
		t.state = StateBusy
	} else {
		// The segment failed, so its Sync only rolls back: the next
		// non-async message must be its ReadyForQuery (§2.5).
		t.queue[t.head].phase = phaseErr
	}
	return Event{Seq: seq, Done: true, Skipped: n}, nil
}

func (t *Tracker) busy(msg pgproto3.BackendMessage) (Event, error) {
	e := t.headEntry()
	if e == nil {
		// Busy with an empty queue: awaiting a Sync the client has not sent.
		return Event{}, t.unexpected(typeOf(msg), "a message arrived while the server should be discarding input until a Sync")
	}
	if e.kind == entryQuery {
		return t.query(e, msg)
	}
	_, isErr := msg.(*pgproto3.ErrorResponse)
	switch e.kind {
	case entrySync:
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return t.ready(e, m)
		case *pgproto3.ErrorResponse:
			if e.phase == phaseErr {
				return Event{}, t.unexpected('E', "a second ErrorResponse for one Sync")
			}
			e.phase = phaseErr
			return Event{Seq: e.seq}, nil
		}
	case entryParse:
		if _, ok := msg.(*pgproto3.ParseComplete); ok {
			t.stmts.del(e.name)
			seq := e.seq
			t.pop()
			return Event{Seq: seq, Done: true}, nil
		}
	case entryBind:
		if _, ok := msg.(*pgproto3.BindComplete); ok {
			st, ok := t.stmts.get(e.stmt)
			p := shape{known: ok && st.known, noData: st.noData, cols: st.cols, fmtKnow: true}
			old, _ := t.portals.get(e.name)
			p.formats = append(old.formats[:0], e.formats...)
			t.portals.set(e.name, p)
			seq := e.seq
			t.pop()
			return Event{Seq: seq, Done: true}, nil
		}
	case entryDescribeStatement:
		switch m := msg.(type) {
		case *pgproto3.ParameterDescription:
			if e.phase == phaseStart {
				e.phase = phaseRows
				return Event{Seq: e.seq}, nil
			}
		case *pgproto3.RowDescription:
			if e.phase == phaseRows {
				for i := range m.Fields {
					if m.Fields[i].Format != 0 {
						return Event{}, t.violation(ReasonInvalidValue, 'T', "Describe of a statement reported a binary column")
					}
				}
				t.stmts.set(e.name, shape{known: true, cols: len(m.Fields)})
				seq := e.seq
				t.pop()
				return Event{Seq: seq, Done: true}, nil
			}
		case *pgproto3.NoData:
			if e.phase == phaseRows {
				t.stmts.set(e.name, shape{known: true, noData: true})
				seq := e.seq
				t.pop()
				return Event{Seq: seq, Done: true}, nil
			}
		}
	case entryDescribePortal:
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			p, _ := t.portals.get(e.name)
			if p.fmtKnow {
				if len(p.formats) > 1 && len(p.formats) != len(m.Fields) {
					return Event{}, t.violation(ReasonFieldCountMismatch, 'T', "portal bound with "+strconv.Itoa(len(p.formats))+
						" result formats describes "+strconv.Itoa(len(m.Fields))+" columns")
				}
				for i := range m.Fields {
					if m.Fields[i].Format != formatAt(p.formats, i) {
						return Event{}, t.violation(ReasonInvalidValue, 'T', "column "+strconv.Itoa(i)+" format differs from the Bind result format")
					}
				}
			}
			p.known, p.noData, p.cols = true, false, len(m.Fields)
			if !p.fmtKnow {
				p.fmtKnow = true
				p.formats = p.formats[:0]
				for i := range m.Fields {
					p.formats = append(p.formats, m.Fields[i].Format)
				}
			}
			t.portals.set(e.name, p)
			seq, name := e.seq, e.name
			t.pop()
			t.armExecute(name)
			return Event{Seq: seq, Done: true}, nil
		case *pgproto3.NoData:
			p, _ := t.portals.get(e.name)
			p.known, p.noData, p.cols = true, true, 0
			t.portals.set(e.name, p)
			seq := e.seq
			t.pop()
			return Event{Seq: seq, Done: true}, nil
		}
	case entryExecute:
		return t.execute(e, msg)
	case entryClose:
		if _, ok := msg.(*pgproto3.CloseComplete); ok {
			if e.stmt == "S" {
				t.stmts.del(e.name)
			} else {
				t.portals.del(e.name)
			}
			seq := e.seq
			t.pop()
			return Event{Seq: seq, Done: true}, nil
		}
	}
	if isErr && e.kind != entrySync {
		return t.skip(e)
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

// shapes maps statement or portal names to what is known of their rows.
// The unnamed one, which most requests use and replace, lives in a field of
// its own: no map operation on the common path.
type shapes struct {
	unnamed    shape
	hasUnnamed bool
	named      map[string]shape
}

func (s *shapes) get(name string) (shape, bool) {
	if name == "" {
		return s.unnamed, s.hasUnnamed
	}
	v, ok := s.named[name]
	return v, ok
}

func (s *shapes) set(name string, v shape) {
	if name == "" {
		s.unnamed, s.hasUnnamed = v, true
		return
	}
	if s.named == nil {
		s.named = make(map[string]shape)
	}
	s.named[name] = v
}

// del forgets name. The unnamed shape keeps its formats' memory for reuse.
func (s *shapes) del(name string) {
	if name == "" {
		s.unnamed = shape{formats: s.unnamed.formats[:0]}
		s.hasUnnamed = false
		return
	}
	delete(s.named, name)
}

func (s *shapes) clear() {
	s.del("")
	if len(s.named) > 0 {
		clear(s.named)
	}
}

// loadPortal loads, at the first reply to an Execute, what is known of the
// rows its portal returns.
func (t *Tracker) loadPortal(e *entry) {
	if e.phase != phaseStart {
		return
	}
	e.phase = phaseRows
	p, ok := t.portals.get(e.name)
	t.cols, t.fmtKnown, t.noRows = -1, false, false
	if !ok {
		return
	}
	if p.known {
		t.noRows = p.noData
		if !p.noData {
			t.cols = p.cols
		}
	}
	if p.fmtKnow {
		t.fmtKnown = true
		t.formats = append(t.formats[:0], p.formats...)
		if t.cols < 0 && !t.noRows && len(p.formats) > 1 {
			// One result format per column fixes the column count.
			t.cols = len(p.formats)
		}
	}
}

func (t *Tracker) execute(e *entry, msg pgproto3.BackendMessage) (Event, error) {
	t.loadPortal(e)
	switch m := msg.(type) {
	case *pgproto3.CommandComplete:
		t.noteTag(m.CommandTag)
		seq := e.seq
		t.pop()
		return Event{Seq: seq, Done: true}, nil
	case *pgproto3.EmptyQueryResponse:
		if t.rows != 0 || t.cols > 0 {
			return Event{}, t.unexpected('I', "EmptyQueryResponse for a portal that returns rows")
		}
		seq := e.seq
		t.pop()
		return Event{Seq: seq, Done: true}, nil
	case *pgproto3.PortalSuspended:
		if e.maxRows == 0 || t.rows != int64(e.maxRows) {
			return Event{}, t.unexpected('s', "PortalSuspended after "+strconv.FormatInt(t.rows, 10)+" rows with a limit of "+strconv.Itoa(int(e.maxRows)))
		}
		seq := e.seq
		t.pop()
		return Event{Seq: seq, Done: true}, nil
	case *pgproto3.ErrorResponse:
		return t.skip(e)
	case *pgproto3.CopyInResponse:
		if t.rows != 0 {
			return Event{}, t.violation(ReasonCopyState, 'G', "CopyInResponse after DataRow")
		}
		// The server swallows the Syncs queued after this Execute; anything
		// else queued would abort the copy with an error we cannot place.
		for i := t.head + 1; i < len(t.queue); i++ {
			if t.queue[i].kind != entrySync {
				return Event{}, t.violation(ReasonCopyState, 'G', "COPY FROM STDIN started by an Execute that has "+
					entryNames[t.queue[i].kind]+" queued after it")
			}
		}
		t.queue = t.queue[:t.head+1]
		t.awaitSync = true
		t.startCopy(StateCopyIn, true)
		return Event{Seq: e.seq}, nil
	case *pgproto3.CopyOutResponse:
		if t.rows != 0 {
			return Event{}, t.violation(ReasonCopyState, 'H', "CopyOutResponse after DataRow")
		}
		t.startCopy(StateCopyOut, true)
		return Event{Seq: e.seq}, nil
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

func (t *Tracker) query(e *entry, msg pgproto3.BackendMessage) (Event, error) {
	replied := e.replied
	e.replied = true
	switch e.phase {
	case phaseStart:
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			t.cols = len(m.Fields)
			t.fmtKnown = true
			t.formats = t.formats[:0]
			allText := true
			for i := range m.Fields {
				t.formats = append(t.formats, m.Fields[i].Format)
				allText = allText && m.Fields[i].Format == 0
			}
			if allText {
				t.formats = t.formats[:0]
			}
			e.phase = phaseRows
			// The rows' shape is known now: even the first one can take
			// the fast path.
			t.enableRowFast(e, !t.opts.SkipValueValidation)
			return Event{Seq: e.seq}, nil
		case *pgproto3.CommandComplete:
			t.noteTag(m.CommandTag)
			return Event{Seq: e.seq}, nil
		case *pgproto3.EmptyQueryResponse:
			if replied {
				return Event{}, t.unexpected('I', "EmptyQueryResponse after other replies to the same Query")
			}
			e.phase = phaseEmpty
			return Event{Seq: e.seq}, nil
		case *pgproto3.ErrorResponse:
			e.phase = phaseErr
			return Event{Seq: e.seq}, nil
		case *pgproto3.ReadyForQuery:
			if !replied {
				return Event{}, t.unexpected('Z', "ReadyForQuery with no reply to the Query")
			}
			return t.ready(e, m)
		case *pgproto3.CopyInResponse:
			if t.head+1 < len(t.queue) {
				// The server reads the queued requests as COPY input: a Query
				// aborts the copy and is consumed, a Sync is swallowed; their
				// replies would never come.
				return Event{}, t.violation(ReasonCopyState, 'G', "COPY FROM STDIN started by a Query that has "+
					entryNames[t.queue[t.head+1].kind]+" queued after it")
			}
			t.startCopy(StateCopyIn, false)
			return Event{Seq: e.seq}, nil
		case *pgproto3.CopyOutResponse:
			t.startCopy(StateCopyOut, false)
			return Event{Seq: e.seq}, nil
		case *pgproto3.CopyBothResponse:
			if !t.opts.Replication {
				return Event{}, t.unexpected('W', "CopyBothResponse outside a replication session")
			}
			t.startCopy(StateCopyBoth, false)
			return Event{Seq: e.seq}, nil
		}
	case phaseRows:
		switch m := msg.(type) {
		case *pgproto3.CommandComplete:
			t.noteTag(m.CommandTag)
			e.phase = phaseStart
			t.cols, t.rows = -1, 0
			return Event{Seq: e.seq}, nil
		case *pgproto3.ErrorResponse:
			e.phase = phaseErr
			return Event{Seq: e.seq}, nil
		}
	case phaseEmpty, phaseErr:
		if m, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return t.ready(e, m)
		}
	}
	return Event{}, t.unexpected(typeOf(msg), "")
}

// noteTag drops cached statement shapes when SQL deallocated statements.
func (t *Tracker) noteTag(tag []byte) {
	if bytes.HasPrefix(tag, []byte("DEALLOCATE")) || bytes.Equal(tag, []byte("DISCARD ALL")) {
		t.stmts.clear()
		if bytes.Equal(tag, []byte("DISCARD ALL")) {
			t.portals.clear()
		}
	}
}

func (t *Tracker) dataRow(m *pgproto3.DataRow) (Event, error) {
	e := t.headEntry()
	if t.state != StateBusy || e == nil {
		return Event{}, t.unexpected('D', "")
	}
	switch {
	case e.kind == entryQuery && e.phase == phaseRows:
	case e.kind == entryExecute:
		t.loadPortal(e)
		if t.noRows {
			return Event{}, t.unexpected('D', "DataRow for a portal that returns no rows")
		}
		if e.maxRows > 0 && t.rows >= int64(e.maxRows) {
			return Event{}, t.unexpected('D', "more DataRows than the Execute row limit of "+strconv.Itoa(int(e.maxRows)))
		}
	default:
		return Event{}, t.unexpected('D', "")
	}
	n := len(m.Values)
	if t.cols < 0 {
		t.cols = n
		if e.kind == entryExecute {
			// Remember the shape for later Executes of a suspended portal.
			p, _ := t.portals.get(e.name)
			p.known, p.noData, p.cols = true, false, n
			t.portals.set(e.name, p)
		}
	} else if n != t.cols {
		return Event{}, t.violation(ReasonFieldCountMismatch, 'D', "DataRow with "+strconv.Itoa(n)+" columns, the row description has "+strconv.Itoa(t.cols))
	}
	validate := !t.opts.SkipValueValidation && t.fmtKnown
	if validate {
		for i, v := range m.Values {
			if v == nil || (len(t.formats) > 0 && formatAt(t.formats, i) != 0) {
				continue
			}
			if ok, off, r := CheckText(v); !ok {
				return Event{}, t.violation(r, 'D', "column "+strconv.Itoa(i)+" text value, byte "+strconv.Itoa(off))
			}
		}
	}
	t.rows++
	t.enableRowFast(e, validate)
	return Event{Seq: e.seq}, nil
}

// armExecute arms the DataRow fast path for the Execute at the head of the
// queue when it executes portal, whose description just arrived: its first
// row can then take the fast path, as a simple Query's does after its
// RowDescription. The portal's shape and formats are loaded as the
// Execute's first reply would load them; a portal without rows, or whose
// shape is not known, is left to Receive.
func (t *Tracker) armExecute(portal string) {
	h := t.headEntry()
	if h == nil || h.kind != entryExecute || h.name != portal || h.phase != phaseStart {
		return
	}
	t.loadPortal(h)
	if t.cols >= 0 && !t.noRows && t.fmtKnown {
		t.enableRowFast(h, !t.opts.SkipValueValidation)
	}
}

// rowArmed reports whether the DataRow fast path may take a row now: it is
// armed, the connection is busy, and an Execute's row limit is not reached.
func (t *Tracker) rowArmed() bool {
	return t.rowFast && t.state == StateBusy && (t.rowLimit <= 0 || t.rows < t.rowLimit)
}

// enableRowFast arms the DataRow fast path for the rest of the head
// entry's rows: they must have t.cols columns, and the text columns are
// validated when validate is set, as dataRow does.
func (t *Tracker) enableRowFast(e *entry, validate bool) {
	t.rowLimit = 0
	if e.kind == entryExecute {
		t.rowLimit = int64(e.maxRows)
	}
	t.rowText = t.rowText[:0]
	for i := range t.cols {
		text := validate && (len(t.formats) == 0 || formatAt(t.formats, i) == 0)
		t.rowText = append(t.rowText, text)
	}
	t.rowFast = true
}

func (t *Tracker) startCopy(kind State, fromExecute bool) {
	t.state = kind
	t.copyFromX = fromExecute
	t.clientEnd, t.clientErr, t.serverEnd = false, false, false
	if e := t.headEntry(); e != nil {
		e.phase = phaseCopy
	}
}

// closingBoth reports that both halves of COPY BOTH are closed and the
// command completion is awaited. A walsender may still send CopyData then:
// after its own CopyDone it sends a keepalive when the client's last status
// update is behind its send position (walsender.c WalSndWaitForWal), and it
// finishes the output of a transaction it was decoding. The completion
// starts with the end-of-timeline RowDescription or the first
// CommandComplete.
func (t *Tracker) closingBoth() bool {
	return t.state == StateCopyBoth && t.clientEnd && t.serverEnd
}

// endCopy leaves the COPY sub-state for the head entry's normal grammar.
func (t *Tracker) endCopy() {
	t.state = StateBusy
	if e := t.headEntry(); e != nil && e.kind == entryQuery {
		e.phase = phaseStart
	}
}

func (t *Tracker) copyMsg(msg pgproto3.BackendMessage) (Event, error) {
	e := t.headEntry()
	seq := e.seq
	switch msg.(type) {
	case *pgproto3.ErrorResponse:
		t.state = StateBusy
		if t.copyFromX {
			// Only Syncs sent after the CopyInResponse can be queued here,
			// and the server reads them: skip to the first.
			return t.skip(e)
		}
		e.phase = phaseErr
		return Event{Seq: seq}, nil
	case *pgproto3.CopyData:
		if t.state == StateCopyIn || (t.serverEnd && !t.closingBoth()) {
			return Event{}, t.violation(ReasonCopyState, 'd', "CopyData "+t.copyWhere())
		}
		return Event{Seq: seq}, nil
	case *pgproto3.CopyDone:
		if t.state == StateCopyIn || t.serverEnd {
			return Event{}, t.violation(ReasonCopyState, 'c', "CopyDone "+t.copyWhere())
		}
		t.serverEnd = true
		return Event{Seq: seq}, nil
	case *pgproto3.RowDescription:
		if t.closingBoth() {
			// A physical stream's end-of-timeline result set.
			t.endCopy()
			return t.busy(msg)
		}
	case *pgproto3.CommandComplete:
		switch t.state {
		case StateCopyIn:
			if !t.clientEnd {
				return Event{}, t.violation(ReasonCopyState, 'C', "CommandComplete before the client ended COPY FROM STDIN")
			}
			if t.clientErr {
				return Event{}, t.violation(ReasonCopyState, 'C', "CommandComplete after CopyFail (the server must report an error)")
			}
		case StateCopyOut:
			if !t.serverEnd {
				return Event{}, t.violation(ReasonCopyState, 'C', "CommandComplete before CopyDone in COPY TO STDOUT")
			}
		case StateCopyBoth:
			if t.serverEnd && !t.clientEnd {
				// CopyDone from the server, but the client has not ended
				// its half: the server cannot complete yet.
				return Event{}, t.violation(ReasonCopyState, 'C', "CommandComplete before the client ended COPY BOTH")
			}
			if !t.serverEnd {
				// Without CopyDone: the server ended the stream (walsender
				// shutdown) and will close the connection; only EOF may
				// follow.
				t.state = StateClosed
				return Event{Seq: seq, Done: true}, nil
			}
		}
		t.endCopy()
		if t.copyFromX {
			t.pop()
			return Event{Seq: seq, Done: true}, nil
		}
		return Event{Seq: seq}, nil
	}
	return Event{}, t.violation(ReasonCopyState, typeOf(msg), MessageName(typeOf(msg))+" "+t.copyWhere())
}

func (t *Tracker) copyWhere() string {
	switch {
	case t.state == StateCopyIn:
		return "while the server awaits COPY data from the client"
	case t.serverEnd:
		return "after the server's CopyDone"
	}
	return "in state " + t.state.String()
}

func typeOf(msg pgproto3.BackendMessage) byte {
	switch msg.(type) {
	case *pgproto3.AuthenticationOk, *pgproto3.AuthenticationCleartextPassword, *pgproto3.AuthenticationMD5Password,
		*pgproto3.AuthenticationGSS, *pgproto3.AuthenticationGSSContinue, *pgproto3.AuthenticationSASL,
		*pgproto3.AuthenticationSASLContinue, *pgproto3.AuthenticationSASLFinal:
		return 'R'
	case *pgproto3.NegotiateProtocolVersion:
		return 'v'
	case *pgproto3.BackendKeyData:
		return 'K'
	case *pgproto3.ParameterStatus:
		return 'S'
	case *pgproto3.ReadyForQuery:
		return 'Z'
	case *pgproto3.ErrorResponse:
		return 'E'
	case *pgproto3.NoticeResponse:
		return 'N'
	case *pgproto3.NotificationResponse:
		return 'A'
	case *pgproto3.RowDescription:
		return 'T'
	case *pgproto3.DataRow:
		return 'D'
	case *pgproto3.CommandComplete:
		return 'C'
	case *pgproto3.EmptyQueryResponse:
		return 'I'
	case *pgproto3.ParseComplete:
		return '1'
	case *pgproto3.BindComplete:
		return '2'
	case *pgproto3.CloseComplete:
		return '3'
	case *pgproto3.NoData:
		return 'n'
	case *pgproto3.PortalSuspended:
		return 's'
	case *pgproto3.ParameterDescription:
		return 't'
	case *pgproto3.CopyInResponse:
		return 'G'
	case *pgproto3.CopyOutResponse:
		return 'H'
	case *pgproto3.CopyBothResponse:
		return 'W'
	case *pgproto3.CopyData:
		return 'd'
	case *pgproto3.CopyDone:
		return 'c'
	case *pgproto3.FunctionCallResponse:
		return 'V'
	}
	return 0
}
