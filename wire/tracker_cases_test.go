package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// This file holds the data of the Tracker tests: a catalogue of backend
// messages, a small step language that drives a Tracker (or a Frontend) with
// Send calls and received messages, the legality matrix of protocol.md §2.9
// as a table of states, and the worked traces of §2.5, §2.7 and §6.3.
// Section numbers (§) and rule numbers (G1-G19) refer to
// shared/reference/protocol.md.

// Names of the catalogue messages. The ones marked "matrix" in trCatalogue
// are fed to every state of the legality matrix.
const (
	trAuthOk           = "AuthenticationOk"
	trAuthCleartext    = "AuthenticationCleartextPassword"
	trAuthMD5          = "AuthenticationMD5Password"
	trAuthGSS          = "AuthenticationGSS"
	trAuthSASL         = "AuthenticationSASL"
	trAuthSASLContinue = "AuthenticationSASLContinue"
	trAuthSASLFinal    = "AuthenticationSASLFinal"
	trNPV30            = "NegotiateProtocolVersion(3.0)"
	trKey4             = "BackendKeyData(4-byte key)"
	trParam            = "ParameterStatus(application_name)"
	trReadyI           = "ReadyForQuery(I)"
	trReadyT           = "ReadyForQuery(T)"
	trReadyE           = "ReadyForQuery(E)"
	trError            = "ErrorResponse(ERROR)"
	trFatal            = "ErrorResponse(FATAL)"
	trNotice           = "NoticeResponse"
	trNotify           = "NotificationResponse"
	trRowDesc          = "RowDescription(1 text)"
	trDataRow          = "DataRow(1)"
	trSelect1          = "CommandComplete(SELECT 1)"
	trEmpty            = "EmptyQueryResponse"
	trParseComplete    = "ParseComplete"
	trBindComplete     = "BindComplete"
	trCloseComplete    = "CloseComplete"
	trNoData           = "NoData"
	trSuspended        = "PortalSuspended"
	trParamDesc        = "ParameterDescription"
	trCopyIn           = "CopyInResponse"
	trCopyOut          = "CopyOutResponse"
	trCopyBoth         = "CopyBothResponse"
	trCopyData         = "CopyData"
	trCopyDone         = "CopyDone"
	trFnResult         = "FunctionCallResponse"

	// Not in the matrix: values for particular tests, traces and the fuzzers.
	trClientEncUTF8  = "ParameterStatus(client_encoding=UTF8)"
	trClientEncLatin = "ParameterStatus(client_encoding=LATIN1)"
	trServerEncUTF8  = "ParameterStatus(server_encoding=UTF8)"
	trServerEncASCII = "ParameterStatus(server_encoding=SQL_ASCII)"
	trServerVer18    = "ParameterStatus(server_version=18.4)"
	trServerVer17    = "ParameterStatus(server_version=17.6)"
	trSCSOn          = "ParameterStatus(standard_conforming_strings=on)"
	trSCSOff         = "ParameterStatus(standard_conforming_strings=off)"
	trIDTOn          = "ParameterStatus(integer_datetimes=on)"
	trIDTOff         = "ParameterStatus(integer_datetimes=off)"
	trTimeZone       = "ParameterStatus(TimeZone=UTC)"
	trHotStandby     = "ParameterStatus(in_hot_standby=on)"
	trKey32          = "BackendKeyData(32-byte key)"
	trNPV31          = "NegotiateProtocolVersion(3.1)"
	trNPV32          = "NegotiateProtocolVersion(3.2)"
	trNPV30Options   = "NegotiateProtocolVersion(3.0, _pq_.x)"
	trRowDesc2       = "RowDescription(text, binary)"
	trRowDesc2Text   = "RowDescription(text, text)"
	trRowDesc0       = "RowDescription(0 columns)"
	trRowDescBin     = "RowDescription(1 binary)"
	trDataRow2       = "DataRow(2)"
	trDataRow0       = "DataRow(0)"
	trDataRow3       = "DataRow(3)"
	trDataRowNULL    = "DataRow(1, NULL)"
	trDataRowNUL     = "DataRow(1, NUL byte)"
	trDataRowBad     = "DataRow(1, invalid UTF-8)"
	trDataRow2Bad    = "DataRow(2, invalid UTF-8 in column 1)"
	trBegin          = "CommandComplete(BEGIN)"
	trCopy0          = "CommandComplete(COPY 0)"
	trCopy2          = "CommandComplete(COPY 2)"
	trStartRepl      = "CommandComplete(START_REPLICATION)"
	trStartStreaming = "CommandComplete(START_STREAMING)"
	trDiscardAll     = "CommandComplete(DISCARD ALL)"
	trPanic          = "ErrorResponse(PANIC)"
	trDataRow2NUL0   = "DataRow(2, NUL byte in column 0)"
	trTimeZone2      = "ParameterStatus(TimeZone=Europe/Paris)"
	trHotStandbyOff  = "ParameterStatus(in_hot_standby=off)"
)

// trMsg is one catalogue entry.
type trMsg struct {
	name   string                  // key used by the tables
	matrix bool                    // fed to every state of the legality matrix
	msg    pgproto3.BackendMessage // the value; the Tracker never modifies it
}

func trErrorResponse(severity, code, message string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: message}
}

func trParamStatus(name, value string) *pgproto3.ParameterStatus {
	return &pgproto3.ParameterStatus{Name: name, Value: value}
}

func trTextField(name string) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1, Format: 0}
}

func trBinaryField(name string) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 17, DataTypeSize: -1, TypeModifier: -1, Format: 1}
}

func trTag(tag string) *pgproto3.CommandComplete {
	return &pgproto3.CommandComplete{CommandTag: []byte(tag)}
}

// trCatalogue returns a fresh catalogue. Every value is accepted by the
// strict decoder (Reader.Receive), so the same catalogue drives a Frontend.
// It must stay under 128 entries (the fuzz encoding uses 7 bits).
func trCatalogue() []trMsg {
	return []trMsg{
		{trAuthOk, true, &pgproto3.AuthenticationOk{}},
		{trAuthCleartext, true, &pgproto3.AuthenticationCleartextPassword{}},
		{trAuthMD5, true, &pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}}},
		{trAuthGSS, true, &pgproto3.AuthenticationGSS{}},
		{trAuthSASL, true, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}},
		{trAuthSASLContinue, true, &pgproto3.AuthenticationSASLContinue{Data: []byte("r=nonce,s=c2FsdA==,i=4096")}},
		{trAuthSASLFinal, true, &pgproto3.AuthenticationSASLFinal{Data: []byte("v=c2lnbmF0dXJl")}},
		{trNPV30, true, &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30}},
		{trKey4, true, &pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: []byte{1, 2, 3, 4}}},
		{trParam, true, trParamStatus("application_name", "pgstrict")},
		{trReadyI, true, &pgproto3.ReadyForQuery{TxStatus: 'I'}},
		{trReadyT, true, &pgproto3.ReadyForQuery{TxStatus: 'T'}},
		{trReadyE, true, &pgproto3.ReadyForQuery{TxStatus: 'E'}},
		{trError, true, trErrorResponse("ERROR", "42601", "syntax error")},
		{trFatal, true, trErrorResponse("FATAL", "57P01", "terminating connection due to administrator command")},
		{trNotice, true, &pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "note"}},
		{trNotify, true, &pgproto3.NotificationResponse{PID: 7, Channel: "chan", Payload: "payload"}},
		{trRowDesc, true, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trTextField("a")}}},
		{trDataRow, true, &pgproto3.DataRow{Values: [][]byte{[]byte("1")}}},
		{trSelect1, true, trTag("SELECT 1")},
		{trEmpty, true, &pgproto3.EmptyQueryResponse{}},
		{trParseComplete, true, &pgproto3.ParseComplete{}},
		{trBindComplete, true, &pgproto3.BindComplete{}},
		{trCloseComplete, true, &pgproto3.CloseComplete{}},
		{trNoData, true, &pgproto3.NoData{}},
		{trSuspended, true, &pgproto3.PortalSuspended{}},
		{trParamDesc, true, &pgproto3.ParameterDescription{ParameterOIDs: []uint32{25}}},
		{trCopyIn, true, &pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}}},
		{trCopyOut, true, &pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0}}},
		{trCopyBoth, true, &pgproto3.CopyBothResponse{OverallFormat: 0}},
		{trCopyData, true, &pgproto3.CopyData{Data: []byte("1\n")}},
		{trCopyDone, true, &pgproto3.CopyDone{}},
		{trFnResult, true, &pgproto3.FunctionCallResponse{Result: []byte{1}}},

		{trClientEncUTF8, false, trParamStatus("client_encoding", "UTF8")},
		{trClientEncLatin, false, trParamStatus("client_encoding", "LATIN1")},
		{trServerEncUTF8, false, trParamStatus("server_encoding", "UTF8")},
		{trServerEncASCII, false, trParamStatus("server_encoding", "SQL_ASCII")},
		{trServerVer18, false, trParamStatus("server_version", "18.4")},
		{trServerVer17, false, trParamStatus("server_version", "17.6")},
		{trSCSOn, false, trParamStatus("standard_conforming_strings", "on")},
		{trSCSOff, false, trParamStatus("standard_conforming_strings", "off")},
		{trIDTOn, false, trParamStatus("integer_datetimes", "on")},
		{trIDTOff, false, trParamStatus("integer_datetimes", "off")},
		{trTimeZone, false, trParamStatus("TimeZone", "UTC")},
		{trHotStandby, false, trParamStatus("in_hot_standby", "on")},
		{trKey32, false, &pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: bytes.Repeat([]byte{7}, 32)}},
		{trNPV31, false, &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30 + 1}},
		{trNPV32, false, &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion32}},
		{trNPV30Options, false, &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30, UnrecognizedOptions: []string{"_pq_.x"}}},
		{trRowDesc2, false, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trTextField("a"), trBinaryField("b")}}},
		{trRowDesc2Text, false, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trTextField("a"), trTextField("b")}}},
		{trRowDesc0, false, &pgproto3.RowDescription{}},
		{trRowDescBin, false, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trBinaryField("a")}}},
		{trDataRow2, false, &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("2")}}},
		{trDataRow0, false, &pgproto3.DataRow{}},
		{trDataRow3, false, &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("2"), []byte("3")}}},
		{trDataRowNULL, false, &pgproto3.DataRow{Values: [][]byte{nil}}},
		{trDataRowNUL, false, &pgproto3.DataRow{Values: [][]byte{[]byte("a\x00b")}}},
		{trDataRowBad, false, &pgproto3.DataRow{Values: [][]byte{[]byte("a\xffb")}}},
		{trDataRow2Bad, false, &pgproto3.DataRow{Values: [][]byte{[]byte("ok"), []byte("\xc3\x28")}}},
		{trBegin, false, trTag("BEGIN")},
		{trCopy0, false, trTag("COPY 0")},
		{trCopy2, false, trTag("COPY 2")},
		{trStartRepl, false, trTag("START_REPLICATION")},
		{trStartStreaming, false, trTag("START_STREAMING")},
		{trDiscardAll, false, trTag("DISCARD ALL")},
		{trPanic, false, trErrorResponse("PANIC", "XX000", "panic")},
		{trDataRow2NUL0, false, &pgproto3.DataRow{Values: [][]byte{[]byte("a\x00"), []byte("\x00\xff")}}},
		{trTimeZone2, false, trParamStatus("TimeZone", "Europe/Paris")},
		{trHotStandbyOff, false, trParamStatus("in_hot_standby", "off")},
	}
}

// trCatalogueIndex maps catalogue names to their position.
func trCatalogueIndex(cat []trMsg) map[string]int {
	idx := make(map[string]int, len(cat))
	for i, m := range cat {
		idx[m.name] = i
	}
	return idx
}

// trTypeOf returns the type byte of a backend message.
func trTypeOf(tb testing.TB, msg pgproto3.BackendMessage) byte {
	tb.Helper()
	b, err := msg.Encode(nil)
	if err != nil {
		tb.Fatalf("encode %T: %v", msg, err)
	}
	return b[0]
}

// ---- the step language ----------------------------------------------------

// trOpKind is one thing a client can do to a Tracker. The values are the
// op bytes of the FuzzTracker encoding (below 0x80; 0x80|i receives
// catalogue message i).
type trOpKind uint8

const (
	trOpStartup trOpKind = iota
	trOpPassword
	trOpSASLInit
	trOpSASLResp
	trOpSASLVerified
	trOpQuery
	trOpParse    // + name byte
	trOpBind     // + portal byte, statement byte, result-formats byte
	trOpDescS    // + name byte
	trOpDescP    // + name byte
	trOpExec     // + portal byte, max-rows byte
	trOpCloseS   // + name byte
	trOpCloseP   // + name byte
	trOpSync     //
	trOpFlush    //
	trOpCopyData //
	trOpCopyDone //
	trOpCopyFail //
	trOpTerminate
	trOpEOF
	trOpDesync
	trOpCount
	trOpRecv trOpKind = 0x80 // + catalogue index in the low 7 bits
)

// trNames are the statement and portal names the fuzz encoding can express.
var trNames = [...]string{"", "s1", "s2", "p1"}

// trFormatSets are the Bind result-format lists the fuzz encoding can
// express; the last one is invalid and must be refused.
var trFormatSets = [...][]int16{nil, {0}, {1}, {0, 1}, {2}}

// trOp is one operation.
type trOp struct {
	kind    trOpKind
	name    string // statement or portal name (portal for Bind and Execute)
	stmt    string // Bind: statement name
	formats int    // Bind: index into trFormatSets
	maxRows int32  // Execute: row limit
	msg     string // trOpRecv: catalogue name
}

// trEv is an expected Event; seq names the send step whose Seq it carries
// ("" for 0, "_" for any Seq).
type trEv struct {
	seq     string
	done    bool
	async   bool
	fatal   bool
	discard bool
	skipped int
}

// trStep is one step of a trace.
type trStep struct {
	op      trOp
	label   string      // send: name under which the returned Seq is kept
	want    trEv        // receive: the expected Event
	state   wire.State  // the state after the step; 0 = not checked
	reason  wire.Reason // the expected *ProtocolError; 0 = success
	refused bool        // send: an *InputError that changes nothing is expected
	check   func(tb testing.TB, v trView)
}

func trSend(kind trOpKind, label string) trStep { return trStep{op: trOp{kind: kind}, label: label} }

func trStartup() trStep       { return trSend(trOpStartup, "") }
func trPassword() trStep      { return trSend(trOpPassword, "") }
func trSASLInit() trStep      { return trSend(trOpSASLInit, "") }
func trSASLResp() trStep      { return trSend(trOpSASLResp, "") }
func trSASLVerified() trStep  { return trSend(trOpSASLVerified, "") }
func trQ(label string) trStep { return trSend(trOpQuery, label) }
func trS(label string) trStep { return trSend(trOpSync, label) }
func trH() trStep             { return trSend(trOpFlush, "") }
func trCD() trStep            { return trSend(trOpCopyData, "") }
func trCc() trStep            { return trSend(trOpCopyDone, "") }
func trCf() trStep            { return trSend(trOpCopyFail, "") }
func trX() trStep             { return trSend(trOpTerminate, "") }

func trP(label, name string) trStep {
	return trStep{op: trOp{kind: trOpParse, name: name}, label: label}
}

func trB(label, portal, stmt string) trStep { return trBf(label, portal, stmt, 0) }

// trBf binds with the result formats trFormatSets[formats].
func trBf(label, portal, stmt string, formats int) trStep {
	return trStep{op: trOp{kind: trOpBind, name: portal, stmt: stmt, formats: formats}, label: label}
}

func trDS(label, name string) trStep {
	return trStep{op: trOp{kind: trOpDescS, name: name}, label: label}
}

func trDP(label, name string) trStep {
	return trStep{op: trOp{kind: trOpDescP, name: name}, label: label}
}

func trE(label, portal string, maxRows int32) trStep {
	return trStep{op: trOp{kind: trOpExec, name: portal, maxRows: maxRows}, label: label}
}

func trC(label string, kind byte, name string) trStep {
	k := trOpCloseS
	if kind == 'P' {
		k = trOpCloseP
	}
	return trStep{op: trOp{kind: k, name: name}, label: label}
}

// trR receives msg and expects success with Event want and state.
func trR(msg string, want trEv, state wire.State) trStep {
	return trStep{op: trOp{kind: trOpRecv, msg: msg}, want: want, state: state}
}

// trRErr receives msg and expects a *ProtocolError with reason.
func trRErr(msg string, reason wire.Reason) trStep {
	return trStep{op: trOp{kind: trOpRecv, msg: msg}, reason: reason, state: wire.StateDesynced}
}

// trEOF reports the end of the stream; reason 0 expects a clean close.
func trEOF(reason wire.Reason) trStep {
	s := trStep{op: trOp{kind: trOpEOF}, reason: reason, state: wire.StateClosed}
	if reason != 0 {
		s.state = wire.StateDesynced
	}
	return s
}

// trRefuse expects the send step to be refused with an *InputError that
// changes nothing.
func trRefuse(s trStep) trStep {
	s.refused = true
	s.label = ""
	return s
}

func trCheck(f func(tb testing.TB, v trView)) trStep { return trStep{check: f} }

// Expected events.
func trOn(label string) trEv  { return trEv{seq: label} }
func trFin(label string) trEv { return trEv{seq: label, done: true} }

var (
	trAsyncEv = trEv{async: true}
	trQuiet   = trEv{}
)

// trIdleSteps is a trust-authenticated startup that reports every watched
// parameter with its safe value (§2.3 normal B0 sequence).
func trIdleSteps() []trStep {
	return []trStep{
		trStartup(),
		trR(trAuthOk, trQuiet, wire.StateAwaitReady),
		trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
		trR(trServerEncUTF8, trAsyncEv, wire.StateAwaitReady),
		trR(trServerVer18, trAsyncEv, wire.StateAwaitReady),
		trR(trSCSOn, trAsyncEv, wire.StateAwaitReady),
		trR(trIDTOn, trAsyncEv, wire.StateAwaitReady),
		trR(trKey4, trQuiet, wire.StateAwaitReady),
		trR(trReadyI, trEv{done: true}, wire.StateIdle),
	}
}

func trIdle(steps ...trStep) []trStep { return append(trIdleSteps(), steps...) }

// ---- encoding of steps as FuzzTracker input --------------------------------

// trOptionsByte encodes TrackerOptions as the first byte of a fuzz input.
func trOptionsByte(o wire.TrackerOptions) byte {
	var b byte
	if o.ProtocolVersion == wire.ProtocolVersion32 {
		b |= 1
	}
	if o.Replication {
		b |= 2
	}
	if o.SkipValueValidation {
		b |= 4
	}
	return b
}

// trOptionsFrom decodes the options byte.
func trOptionsFrom(b byte) wire.TrackerOptions {
	o := wire.TrackerOptions{Replication: b&2 != 0, SkipValueValidation: b&4 != 0}
	if b&1 != 0 {
		o.ProtocolVersion = wire.ProtocolVersion32
	}
	return o
}

func trNameIndex(name string) (byte, error) {
	for i, n := range trNames {
		if n == name {
			return byte(i), nil
		}
	}
	return 0, fmt.Errorf("name %q cannot be encoded", name)
}

// trEncode encodes a step list as a FuzzTracker input.
func trEncode(opts wire.TrackerOptions, steps []trStep, idx map[string]int) ([]byte, error) {
	out := []byte{trOptionsByte(opts)}
	for _, s := range steps {
		op := s.op
		if s.check != nil {
			continue // a check step sends nothing
		}
		if op.kind == trOpRecv {
			i, ok := idx[op.msg]
			if !ok || i >= 0x80 {
				return nil, fmt.Errorf("message %q cannot be encoded", op.msg)
			}
			out = append(out, byte(trOpRecv)|byte(i))
			continue
		}
		out = append(out, byte(op.kind))
		switch op.kind {
		case trOpParse, trOpDescS, trOpDescP, trOpCloseS, trOpCloseP:
			n, err := trNameIndex(op.name)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		case trOpBind:
			p, err := trNameIndex(op.name)
			if err != nil {
				return nil, err
			}
			st, err := trNameIndex(op.stmt)
			if err != nil {
				return nil, err
			}
			out = append(out, p, st, byte(op.formats))
		case trOpExec:
			p, err := trNameIndex(op.name)
			if err != nil {
				return nil, err
			}
			if op.maxRows < 0 || op.maxRows > 255 {
				return nil, fmt.Errorf("row limit %d cannot be encoded", op.maxRows)
			}
			out = append(out, p, byte(op.maxRows))
		}
	}
	return out, nil
}

// trDecoder turns fuzz bytes back into operations.
type trDecoder struct {
	data []byte
	cat  []trMsg
}

func (d *trDecoder) byte() byte {
	if len(d.data) == 0 {
		return 0
	}
	b := d.data[0]
	d.data = d.data[1:]
	return b
}

func (d *trDecoder) name() string { return trNames[int(d.byte())%len(trNames)] }

// next returns the next operation, or false at the end of the input.
func (d *trDecoder) next() (trOp, bool) {
	if len(d.data) == 0 {
		return trOp{}, false
	}
	b := d.byte()
	if b&0x80 != 0 {
		return trOp{kind: trOpRecv, msg: d.cat[int(b&0x7f)%len(d.cat)].name}, true
	}
	op := trOp{kind: trOpKind(b % byte(trOpCount))}
	switch op.kind {
	case trOpParse, trOpDescS, trOpDescP, trOpCloseS, trOpCloseP:
		op.name = d.name()
	case trOpBind:
		op.name, op.stmt = d.name(), d.name()
		op.formats = int(d.byte()) % len(trFormatSets)
	case trOpExec:
		op.name = d.name()
		op.maxRows = int32(d.byte())
	}
	return op, true
}

// ---- drivers: the same steps run on a Tracker and on a Frontend -------------

// trView is what both a Tracker and a Frontend report.
type trView interface {
	State() wire.State
	TxStatus() wire.TxStatus
	Pending() int
	AwaitingSync() bool
	ProtocolVersion() uint32
	Err() error
}

var (
	_ trView = (*wire.Tracker)(nil)
	_ trView = (*wire.Frontend)(nil)
)

// trDriver applies operations to one implementation.
type trDriver interface {
	trView
	apply(op trOp) (uint64, wire.Event, error)
	output() []byte // encoded output so far (nil for a bare Tracker)
}

// trTrackerDriver drives a bare Tracker.
type trTrackerDriver struct {
	*wire.Tracker
	msgs map[string]pgproto3.BackendMessage
}

// trMessages maps catalogue names to their values.
func trMessages(cat []trMsg) map[string]pgproto3.BackendMessage {
	msgs := make(map[string]pgproto3.BackendMessage, len(cat))
	for _, m := range cat {
		msgs[m.name] = m.msg
	}
	return msgs
}

func trNewTrackerDriver(opts wire.TrackerOptions, cat []trMsg) *trTrackerDriver {
	return &trTrackerDriver{Tracker: wire.NewTracker(opts), msgs: trMessages(cat)}
}

func (d *trTrackerDriver) output() []byte { return nil }

func (d *trTrackerDriver) apply(op trOp) (uint64, wire.Event, error) {
	tr := d.Tracker
	noSeq := func(err error) (uint64, wire.Event, error) { return 0, wire.Event{}, err }
	switch op.kind {
	case trOpStartup:
		return noSeq(tr.SendStartup())
	case trOpPassword:
		return noSeq(tr.SendPassword())
	case trOpSASLInit:
		return noSeq(tr.SendSASLInitialResponse())
	case trOpSASLResp:
		return noSeq(tr.SendSASLResponse())
	case trOpSASLVerified:
		return noSeq(tr.SASLVerified())
	case trOpQuery:
		seq, err := tr.SendQuery()
		return seq, wire.Event{}, err
	case trOpParse:
		seq, err := tr.SendParse(op.name)
		return seq, wire.Event{}, err
	case trOpBind:
		seq, err := tr.SendBind(op.name, op.stmt, trFormatSets[op.formats])
		return seq, wire.Event{}, err
	case trOpDescS:
		seq, err := tr.SendDescribeStatement(op.name)
		return seq, wire.Event{}, err
	case trOpDescP:
		seq, err := tr.SendDescribePortal(op.name)
		return seq, wire.Event{}, err
	case trOpExec:
		seq, err := tr.SendExecute(op.name, op.maxRows)
		return seq, wire.Event{}, err
	case trOpCloseS, trOpCloseP:
		kind := byte('S')
		if op.kind == trOpCloseP {
			kind = 'P'
		}
		seq, err := tr.SendClose(kind, op.name)
		return seq, wire.Event{}, err
	case trOpSync:
		seq, err := tr.SendSync()
		return seq, wire.Event{}, err
	case trOpFlush:
		return noSeq(tr.SendFlush())
	case trOpCopyData:
		return noSeq(tr.SendCopyData())
	case trOpCopyDone:
		return noSeq(tr.SendCopyDone())
	case trOpCopyFail:
		return noSeq(tr.SendCopyFail())
	case trOpTerminate:
		tr.SendTerminate()
		return noSeq(nil)
	case trOpEOF:
		return noSeq(tr.EOF())
	case trOpDesync:
		return noSeq(tr.Desync(wire.ReasonLSNBackwards, 0, "test"))
	case trOpRecv:
		msg, ok := d.msgs[op.msg]
		if !ok {
			panic("unknown catalogue message " + op.msg)
		}
		ev, err := tr.Receive(msg)
		return 0, ev, err
	}
	panic(fmt.Sprintf("unknown op %d", op.kind))
}

// trFrontendDriver drives a Frontend: received messages are encoded into
// the stream it reads, so they pass the Reader's framing, strict decoding
// and the Tracker's Admit gate.
type trFrontendDriver struct {
	*wire.Frontend
	in   *bytes.Buffer
	msgs map[string]pgproto3.BackendMessage
}

func trNewFrontendDriver(opts wire.TrackerOptions, cat []trMsg) *trFrontendDriver {
	return trFrontendDriverWith(opts, trMessages(cat))
}

// trFrontendDriverWith builds a Frontend driver on a shared message map. Its
// Reader starts with a small buffer so that growing it is exercised too.
func trFrontendDriverWith(opts wire.TrackerOptions, msgs map[string]pgproto3.BackendMessage) *trFrontendDriver {
	in := new(bytes.Buffer)
	fe := wire.NewFrontend(in, wire.FrontendOptions{Tracker: opts, Reader: wire.ReaderOptions{BufferSize: 64}})
	return &trFrontendDriver{Frontend: fe, in: in, msgs: msgs}
}

func (d *trFrontendDriver) output() []byte { return d.Output() }

func (d *trFrontendDriver) apply(op trOp) (uint64, wire.Event, error) {
	f := d.Frontend
	noSeq := func(err error) (uint64, wire.Event, error) { return 0, wire.Event{}, err }
	const sql = "select 1"
	switch op.kind {
	case trOpStartup:
		return noSeq(f.SendStartup(map[string]string{"user": "u", "database": "d", "client_encoding": "UTF8"}))
	case trOpPassword:
		return noSeq(f.SendPassword("secret"))
	case trOpSASLInit:
		return noSeq(f.SendSASLInitialResponse("SCRAM-SHA-256", []byte("n,,n=,r=nonce")))
	case trOpSASLResp:
		return noSeq(f.SendSASLResponse([]byte("c=biws,r=nonce,p=proof")))
	case trOpSASLVerified:
		return noSeq(f.SASLVerified())
	case trOpQuery:
		seq, err := f.SendQuery(sql)
		return seq, wire.Event{}, err
	case trOpParse:
		seq, err := f.SendParse(op.name, sql, nil)
		return seq, wire.Event{}, err
	case trOpBind:
		seq, err := f.SendBind(op.name, op.stmt, nil, nil, trFormatSets[op.formats])
		return seq, wire.Event{}, err
	case trOpDescS:
		seq, err := f.SendDescribeStatement(op.name)
		return seq, wire.Event{}, err
	case trOpDescP:
		seq, err := f.SendDescribePortal(op.name)
		return seq, wire.Event{}, err
	case trOpExec:
		seq, err := f.SendExecute(op.name, op.maxRows)
		return seq, wire.Event{}, err
	case trOpCloseS, trOpCloseP:
		kind := byte('S')
		if op.kind == trOpCloseP {
			kind = 'P'
		}
		seq, err := f.SendClose(kind, op.name)
		return seq, wire.Event{}, err
	case trOpSync:
		seq, err := f.SendSync()
		return seq, wire.Event{}, err
	case trOpFlush:
		return noSeq(f.SendFlush())
	case trOpCopyData:
		return noSeq(f.SendCopyData([]byte("1\n")))
	case trOpCopyDone:
		return noSeq(f.SendCopyDone())
	case trOpCopyFail:
		return noSeq(f.SendCopyFail("client gave up"))
	case trOpTerminate:
		f.SendTerminate()
		return noSeq(nil)
	case trOpEOF:
		_, _, err := f.Receive()
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return noSeq(err)
	case trOpDesync:
		return noSeq(f.Desync(wire.ReasonLSNBackwards, 0, "test"))
	case trOpRecv:
		msg, ok := d.msgs[op.msg]
		if !ok {
			panic("unknown catalogue message " + op.msg)
		}
		b, err := msg.Encode(nil)
		if err != nil {
			panic(err)
		}
		d.in.Write(b)
		_, ev, err := f.Receive()
		return 0, ev, err
	}
	panic(fmt.Sprintf("unknown op %d", op.kind))
}

// ---- the legality matrix (§2.9) -------------------------------------------

// trOutcome is the expected result of a legal message.
type trOutcome struct {
	ev    trEv       // the Event; seq "head" is the head request of the state
	state wire.State // the state after it
}

func trQuietTo(s wire.State) trOutcome { return trOutcome{state: s} }
func trReplyTo(s wire.State) trOutcome { return trOutcome{ev: trOn("head"), state: s} }
func trDoneTo(s wire.State) trOutcome  { return trOutcome{ev: trFin("head"), state: s} }
func trAsyncIn(s wire.State) trOutcome { return trOutcome{ev: trAsyncEv, state: s} }

// trFatalOut: an ErrorResponse that ends the session (§2.1 FATAL/PANIC, or
// any error during authentication, §2.3 AUTHFAIL).
var trFatalOut = trOutcome{ev: trEv{seq: "head", done: true, fatal: true}, state: wire.StateClosed}

// trMatrixState is one row group of the matrix: a state, how to reach it,
// what is legal there and why everything else is not.
type trMatrixState struct {
	name    string                 // the state, as in §2.9 / §2.5 / §2.6 / §2.7
	rule    string                 // the protocol.md rule the row group encodes
	opts    wire.TrackerOptions    // options of the Tracker
	setup   []trStep               // drives a new Tracker into the state; label "head" marks the head request
	legal   map[string]trOutcome   // legal messages and their outcome
	discard bool                   // every message is discarded (Terminating)
	reason  wire.Reason            // the Reason for every other message
	except  map[string]wire.Reason // per-message Reasons that differ from reason
}

func trJoin(ms ...map[string]trOutcome) map[string]trOutcome {
	out := make(map[string]trOutcome)
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// trAsyncSet: §2.1 — NoticeResponse, ParameterStatus and (after the first
// ReadyForQuery) NotificationResponse are legal anywhere, and a FATAL
// ErrorResponse ends the session.
func trAsyncSet(s wire.State) map[string]trOutcome {
	return map[string]trOutcome{
		trParam:  trAsyncIn(s),
		trNotice: trAsyncIn(s),
		trNotify: trAsyncIn(s),
		trFatal:  trFatalOut,
	}
}

// trAuthErrors: §2.3 — any ErrorResponse during authentication is AUTHFAIL.
func trAuthErrors() map[string]trOutcome {
	return map[string]trOutcome{trError: trFatalOut, trFatal: trFatalOut}
}

func trReasons(r wire.Reason, names ...string) map[string]wire.Reason {
	m := make(map[string]wire.Reason, len(names))
	for _, n := range names {
		m[n] = r
	}
	return m
}

func trJoinReasons(ms ...map[string]wire.Reason) map[string]wire.Reason {
	out := make(map[string]wire.Reason)
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var (
	tr30   = wire.TrackerOptions{}
	tr32   = wire.TrackerOptions{ProtocolVersion: wire.ProtocolVersion32}
	trRepl = wire.TrackerOptions{Replication: true}
)

// trAllAuth returns every R subtype in the catalogue.
func trAllAuth() []string {
	return []string{trAuthOk, trAuthCleartext, trAuthMD5, trAuthGSS, trAuthSASL, trAuthSASLContinue, trAuthSASLFinal}
}

func trWithout(names []string, drop ...string) []string {
	var out []string
outer:
	for _, n := range names {
		for _, d := range drop {
			if n == d {
				continue outer
			}
		}
		out = append(out, n)
	}
	return out
}

// trMidAuthReasons: in an authentication state after the first reply, an R
// the exchange does not allow breaks the exchange (ReasonAuthentication, §2.3
// "violation examples"), a NegotiateProtocolVersion after any R breaks §5.6
// (ReasonProtocolVersion), and any other message type is simply not legal in
// authentication (ReasonUnexpectedMessage, the default).
func trMidAuthReasons(allowed ...string) map[string]wire.Reason {
	return trJoinReasons(
		trReasons(wire.ReasonAuthentication, trWithout(trAllAuth(), allowed...)...),
		trReasons(wire.ReasonProtocolVersion, trNPV30),
	)
}

// trMatrix returns the legality matrix: every state the Tracker can be in.
// Every catalogue message marked matrix is fed to every state; a message
// not in legal must be refused with the state's reason (or its except).
func trMatrix() []trMatrixState {
	authStart := []trStep{trStartup()}
	busy := wire.StateBusy
	return []trMatrixState{
		{
			name:  "New",
			rule:  "§2.3: the server speaks only after the StartupMessage",
			opts:  tr30,
			setup: nil, reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "A0 first reply",
			rule:  "§2.3 A0: v (first only, §5.6), any R that opens an exchange or R/0, E → AUTHFAIL; S K N Z A are violations",
			opts:  tr32,
			setup: authStart,
			legal: trJoin(trAuthErrors(), map[string]trOutcome{
				trAuthOk:        trQuietTo(wire.StateAwaitReady),
				trAuthCleartext: trQuietTo(wire.StateAuthStart),
				trAuthMD5:       trQuietTo(wire.StateAuthStart),
				trAuthGSS:       trQuietTo(wire.StateAuthStart),
				trAuthSASL:      trQuietTo(wire.StateAuthStart),
				trNPV30:         trQuietTo(wire.StateAuthStart),
			}),
			reason: wire.ReasonUnexpectedMessage,
			except: trReasons(wire.ReasonAuthentication, trAuthSASLContinue, trAuthSASLFinal),
		},
		{
			name:   "A0 password requested, not yet sent",
			rule:   "§2.3 A0→A1: the server awaits the PasswordMessage; only E may arrive",
			opts:   tr30,
			setup:  []trStep{trStartup(), trR(trAuthCleartext, trQuiet, wire.StateAuthStart)},
			legal:  trAuthErrors(),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(),
		},
		{
			name:   "A1 password sent",
			rule:   "§2.3 A1: R/0 → B0, E → AUTHFAIL; any other R subtype (re-challenge) is a violation",
			opts:   tr30,
			setup:  []trStep{trStartup(), trR(trAuthMD5, trQuiet, wire.StateAuthStart), trPassword()},
			legal:  trJoin(trAuthErrors(), map[string]trOutcome{trAuthOk: trQuietTo(wire.StateAwaitReady)}),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(trAuthOk),
		},
		{
			name:   "A2 SASLInitialResponse sent",
			rule:   "§2.3 A2: R/11 → A3; R/12 or R/0 here is an auth bypass; R/10 again is a violation",
			opts:   tr30,
			setup:  []trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit()},
			legal:  trJoin(trAuthErrors(), map[string]trOutcome{trAuthSASLContinue: trQuietTo(wire.StateAuthSASLContinue)}),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(trAuthSASLContinue),
		},
		{
			name: "A2 SASLContinue received, SASLResponse not yet sent",
			rule: "§2.3 A2: the server awaits the SASLResponse; only E may arrive",
			opts: tr30,
			setup: []trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit(),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue)},
			legal:  trAuthErrors(),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(),
		},
		{
			name: "A3 SASLResponse sent",
			rule: "§2.3 A3: R/12 → verify; R/0 without R/12 (unverified server) and R/11 again are violations",
			opts: tr30,
			setup: []trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit(),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp()},
			legal:  trJoin(trAuthErrors(), map[string]trOutcome{trAuthSASLFinal: trQuietTo(wire.StateAuthSASLFinal)}),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(trAuthSASLFinal),
		},
		{
			name: "A3 SASLFinal received, signature not yet verified",
			rule: "§2.3 A3→A4: AuthenticationOk is legal only after the client verified the server signature",
			opts: tr30,
			setup: []trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit(),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trR(trAuthSASLFinal, trQuiet, wire.StateAuthSASLFinal)},
			legal:  trAuthErrors(),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(),
		},
		{
			name: "A4 signature verified",
			rule: "§2.3 A4: R/0 → B0, E → AUTHFAIL, anything else is a violation",
			opts: tr30,
			setup: []trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit(),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trR(trAuthSASLFinal, trQuiet, wire.StateAuthSASLFinal), trSASLVerified()},
			legal:  trJoin(trAuthErrors(), map[string]trOutcome{trAuthOk: trQuietTo(wire.StateAwaitReady)}),
			reason: wire.ReasonUnexpectedMessage,
			except: trMidAuthReasons(trAuthOk),
		},
		{
			name:  "B0 await ready",
			rule:  "§2.3 B0: S, K (once), N, E (FATAL only), Z(I) → idle; A, R, v, Z(T/E), ERROR are violations",
			opts:  tr30,
			setup: []trStep{trStartup(), trR(trAuthOk, trQuiet, wire.StateAwaitReady), trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady)},
			legal: map[string]trOutcome{
				trParam:  trAsyncIn(wire.StateAwaitReady),
				trNotice: trAsyncIn(wire.StateAwaitReady),
				trKey4:   trQuietTo(wire.StateAwaitReady),
				trReadyI: trOutcome{ev: trEv{done: true}, state: wire.StateIdle},
				trFatal:  trFatalOut,
			},
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:   "Idle",
			rule:   "§2.4: only the asynchronous set of §2.1; an ERROR-severity ErrorResponse is a violation",
			opts:   tr30,
			setup:  trIdle(),
			legal:  trAsyncSet(wire.StateIdle),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Start before any reply",
			rule:  "§2.6 Q.Start: T, C, I (first reply only), G, H, E; Z needs a reply first; W only on replication",
			opts:  tr30,
			setup: trIdle(trQ("head")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trRowDesc: trReplyTo(busy),
				trSelect1: trReplyTo(busy),
				trEmpty:   trReplyTo(busy),
				trError:   trReplyTo(busy),
				trCopyIn:  trReplyTo(wire.StateCopyIn),
				trCopyOut: trReplyTo(wire.StateCopyOut),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Start after CommandComplete",
			rule:  "§2.6 Q.Start: Z ends the Query; I after another reply is a violation",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trSelect1, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trRowDesc: trReplyTo(busy),
				trSelect1: trReplyTo(busy),
				trError:   trReplyTo(busy),
				trCopyIn:  trReplyTo(wire.StateCopyIn),
				trCopyOut: trReplyTo(wire.StateCopyOut),
				trReadyI:  trDoneTo(wire.StateIdle),
				trReadyT:  trDoneTo(wire.StateIdle),
				trReadyE:  trDoneTo(wire.StateIdle),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Start on a replication connection",
			rule:  "§2.9 W: legal in reply to a Query (START_REPLICATION) on a walsender session only",
			opts:  trRepl,
			setup: trIdle(trQ("head")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trRowDesc:  trReplyTo(busy),
				trSelect1:  trReplyTo(busy),
				trEmpty:    trReplyTo(busy),
				trError:    trReplyTo(busy),
				trCopyIn:   trReplyTo(wire.StateCopyIn),
				trCopyOut:  trReplyTo(wire.StateCopyOut),
				trCopyBoth: trReplyTo(wire.StateCopyBoth),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Rows",
			rule:  "§2.6 Q.Rows: D (nf fields), C, E; T, Z, I are violations",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trRowDesc, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trDataRow: trReplyTo(busy),
				trSelect1: trReplyTo(busy),
				trError:   trReplyTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Empty",
			rule:  "§2.6 Q.Empty: only Z",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trEmpty, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trReadyI: trDoneTo(wire.StateIdle), trReadyT: trDoneTo(wire.StateIdle), trReadyE: trDoneTo(wire.StateIdle),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "Q.Err",
			rule:  "§2.6 Q.Err: anything after E except Z is a violation",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trError, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trReadyI: trDoneTo(wire.StateIdle), trReadyT: trDoneTo(wire.StateIdle), trReadyE: trDoneTo(wire.StateIdle),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Parse",
			rule:  "§2.5 Parse: 1 | E",
			opts:  tr30,
			setup: trIdle(trP("head", "s1"), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trParseComplete: trDoneTo(busy),
				trError:         trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Bind",
			rule:  "§2.5 Bind: 2 | E",
			opts:  tr30,
			setup: trIdle(trB("head", "", "s1"), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trBindComplete: trDoneTo(busy),
				trError:        trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Describe S before t",
			rule:  "§2.5 Describe S: t (T | n) | E",
			opts:  tr30,
			setup: trIdle(trDS("head", "s1"), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trParamDesc: trReplyTo(busy),
				trError:     trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Describe S after t",
			rule:  "§2.5 Describe S: after t only T (all text) or n",
			opts:  tr30,
			setup: trIdle(trDS("head", "s1"), trS(""), trR(trParamDesc, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trRowDesc: trDoneTo(busy),
				trNoData:  trDoneTo(busy),
				trError:   trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Describe P",
			rule:  "§2.5 Describe P: (T | n) | E",
			opts:  tr30,
			setup: trIdle(trDP("head", ""), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trRowDesc: trDoneTo(busy),
				trNoData:  trDoneTo(busy),
				trError:   trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Execute before any row",
			rule:  "§2.5 Execute: D* (C | I | s) | D* E | G | H; never T; s only with a row limit",
			opts:  tr30,
			setup: trIdle(trE("head", "", 0), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trDataRow: trReplyTo(busy),
				trSelect1: trDoneTo(busy),
				trEmpty:   trDoneTo(busy),
				trError:   trDoneTo(busy),
				trCopyIn:  trReplyTo(wire.StateCopyIn),
				trCopyOut: trReplyTo(wire.StateCopyOut),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Execute after a row",
			rule:  "§2.5 Execute: I only with zero D; a COPY response after D is a COPY state violation",
			opts:  tr30,
			setup: trIdle(trE("head", "", 0), trS(""), trR(trDataRow, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trDataRow: trReplyTo(busy),
				trSelect1: trDoneTo(busy),
				trError:   trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
			except: trReasons(wire.ReasonCopyState, trCopyIn, trCopyOut),
		},
		{
			name:  "EX head Execute with row limit 1 reached",
			rule:  "§2.5 Execute(m): never more than m D; s only after exactly m D (G9)",
			opts:  tr30,
			setup: trIdle(trE("head", "", 1), trS(""), trR(trDataRow, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trSelect1:   trDoneTo(busy),
				trSuspended: trDoneTo(busy),
				trError:     trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
			except: trReasons(wire.ReasonCopyState, trCopyIn, trCopyOut),
		},
		{
			name:  "EX head Execute with row limit 2 after one row",
			rule:  "§2.5 Execute(m): s only after exactly m D",
			opts:  tr30,
			setup: trIdle(trE("head", "", 2), trS(""), trR(trDataRow, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trDataRow: trReplyTo(busy),
				trSelect1: trDoneTo(busy),
				trError:   trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
			except: trReasons(wire.ReasonCopyState, trCopyIn, trCopyOut),
		},
		{
			name: "EX head Execute of a portal known to return no rows",
			rule: "§2.5 Execute: D only if the portal is known to return rows",
			opts: tr30,
			setup: trIdle(trB("", "", "s1"), trDP("", ""), trE("head", "", 0), trS(""),
				trR(trBindComplete, trFin("_"), busy), trR(trNoData, trFin("_"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trSelect1: trDoneTo(busy),
				trEmpty:   trDoneTo(busy),
				trError:   trDoneTo(busy),
				trCopyIn:  trReplyTo(wire.StateCopyIn),
				trCopyOut: trReplyTo(wire.StateCopyOut),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Close",
			rule:  "§2.5 Close: 3 | E",
			opts:  tr30,
			setup: trIdle(trC("head", 'S', "s1"), trS("")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trCloseComplete: trDoneTo(busy),
				trError:         trDoneTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Sync",
			rule:  "§2.5 Sync: E? Z (the E is a failed implicit COMMIT, G3)",
			opts:  tr30,
			setup: trIdle(trS("head")),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trReadyI: trDoneTo(wire.StateIdle), trReadyT: trDoneTo(wire.StateIdle), trReadyE: trDoneTo(wire.StateIdle),
				trError: trReplyTo(busy),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "EX head Sync after its ErrorResponse",
			rule:  "§2.5 Sync: at most one E, then Z",
			opts:  tr30,
			setup: trIdle(trS("head"), trR(trError, trOn("head"), busy)),
			legal: trJoin(trAsyncSet(busy), map[string]trOutcome{
				trReadyI: trDoneTo(wire.StateIdle), trReadyT: trDoneTo(wire.StateIdle), trReadyE: trDoneTo(wire.StateIdle),
			}),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:   "EX skip mode with no Sync queued",
			rule:   "§2.5 error skip mode / G2: the server discards input until a Sync the client has not sent; nothing but async may arrive",
			opts:   tr30,
			setup:  trIdle(trP("", "s1"), trR(trError, trFin("_"), busy)),
			legal:  trAsyncSet(busy),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:  "COPY IN (simple)",
			rule:  "§2.7 CopyIn: async and E; d, c, T, D, Z, and C before the client's c are COPY violations",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trCopyIn, trOn("head"), wire.StateCopyIn)),
			legal: trJoin(trAsyncSet(wire.StateCopyIn), map[string]trOutcome{
				trError: trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name:  "COPY IN (simple) after the client's CopyDone",
			rule:  "§2.7 CopyIn: after client c, C or E",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trCopyIn, trOn("head"), wire.StateCopyIn), trCD(), trCc()),
			legal: trJoin(trAsyncSet(wire.StateCopyIn), map[string]trOutcome{
				trSelect1: trReplyTo(busy),
				trError:   trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name:  "COPY IN (simple) after the client's CopyFail",
			rule:  "§2.7 CopyIn: after client f only E (57014); a C is a violation",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trCopyIn, trOn("head"), wire.StateCopyIn), trCf()),
			legal: trJoin(trAsyncSet(wire.StateCopyIn), map[string]trOutcome{
				trError: trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY IN (extended)",
			rule: "§2.7 CopyIn / G12: an E before the client finished ends the copy and enters skip mode",
			opts: tr30,
			setup: trIdle(trP("", "s1"), trB("", "", "s1"), trE("head", "", 0), trS(""),
				trR(trParseComplete, trFin("_"), busy), trR(trBindComplete, trFin("_"), busy),
				trR(trCopyIn, trOn("head"), wire.StateCopyIn)),
			legal: trJoin(trAsyncSet(wire.StateCopyIn), map[string]trOutcome{
				trError: trDoneTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY IN (extended) after CopyDone and a new Sync",
			rule: "§2.7 CopyIn / G12: after client c, C (ends the Execute) or E",
			opts: tr30,
			setup: trIdle(trP("", "s1"), trB("", "", "s1"), trE("head", "", 0), trS(""),
				trR(trParseComplete, trFin("_"), busy), trR(trBindComplete, trFin("_"), busy),
				trR(trCopyIn, trOn("head"), wire.StateCopyIn), trCD(), trCc(), trS("")),
			legal: trJoin(trAsyncSet(wire.StateCopyIn), map[string]trOutcome{
				trSelect1: trDoneTo(busy),
				trError:   trDoneTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name:  "COPY OUT (simple)",
			rule:  "§2.7 CopyOut: d*, c, then C; E instead of c; Z, T, D and C before c are violations (G13)",
			opts:  tr30,
			setup: trIdle(trQ("head"), trR(trCopyOut, trOn("head"), wire.StateCopyOut)),
			legal: trJoin(trAsyncSet(wire.StateCopyOut), map[string]trOutcome{
				trCopyData: trReplyTo(wire.StateCopyOut),
				trCopyDone: trReplyTo(wire.StateCopyOut),
				trError:    trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY OUT (simple) after the server's CopyDone",
			rule: "§2.7 CopyOut: after c only C (or E); a second c and d after c are violations",
			opts: tr30,
			setup: trIdle(trQ("head"), trR(trCopyOut, trOn("head"), wire.StateCopyOut),
				trR(trCopyDone, trOn("head"), wire.StateCopyOut)),
			legal: trJoin(trAsyncSet(wire.StateCopyOut), map[string]trOutcome{
				trSelect1: trReplyTo(busy),
				trError:   trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY OUT (extended)",
			rule: "§2.7 CopyOut started by Execute: E ends the Execute and enters skip mode",
			opts: tr30,
			setup: trIdle(trE("head", "", 0), trS(""),
				trR(trCopyOut, trOn("head"), wire.StateCopyOut)),
			legal: trJoin(trAsyncSet(wire.StateCopyOut), map[string]trOutcome{
				trCopyData: trReplyTo(wire.StateCopyOut),
				trCopyDone: trReplyTo(wire.StateCopyOut),
				trError:    trDoneTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name:  "COPY BOTH",
			rule:  "§2.7 CopyBoth / §6.3: d*, c (server half ends), E, or C without c (server shut the stream down)",
			opts:  trRepl,
			setup: trIdle(trQ("head"), trR(trCopyBoth, trOn("head"), wire.StateCopyBoth)),
			legal: trJoin(trAsyncSet(wire.StateCopyBoth), map[string]trOutcome{
				trCopyData: trReplyTo(wire.StateCopyBoth),
				trCopyDone: trReplyTo(wire.StateCopyBoth),
				trSelect1:  trDoneTo(wire.StateClosed), // §6.3: C without c = the server ended the stream; only EOF may follow
				trError:    trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY BOTH after the server's CopyDone",
			rule: "§2.7 CopyBoth / G14: after the server's c no more d or c from it; C needs the client's c first",
			opts: trRepl,
			setup: trIdle(trQ("head"), trR(trCopyBoth, trOn("head"), wire.StateCopyBoth),
				trR(trCopyDone, trOn("head"), wire.StateCopyBoth)),
			legal: trJoin(trAsyncSet(wire.StateCopyBoth), map[string]trOutcome{
				trError: trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY BOTH after the client's CopyDone",
			rule: "§6.3 client ends streaming: CopyData in flight, then the server's c; both halves closed → busy",
			opts: trRepl,
			setup: trIdle(trQ("head"), trR(trCopyBoth, trOn("head"), wire.StateCopyBoth),
				trCD(), trCc()),
			legal: trJoin(trAsyncSet(wire.StateCopyBoth), map[string]trOutcome{
				trCopyData: trReplyTo(wire.StateCopyBoth),
				trCopyDone: trReplyTo(wire.StateCopyBoth), // both halves closed: the completion follows
				trSelect1:  trDoneTo(wire.StateClosed),    // C without the server's c: shutdown (§6.3)
				trError:    trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name: "COPY BOTH with both halves closed",
			rule: "§6.3 as real walsenders behave: CopyData (a keepalive, the rest of a decoded transaction) may follow the " +
				"server's c until the completion, which starts with the end-of-timeline T or the first C",
			opts: trRepl,
			setup: trIdle(trQ("head"), trR(trCopyBoth, trOn("head"), wire.StateCopyBoth),
				trCD(), trCc(), trR(trCopyDone, trOn("head"), wire.StateCopyBoth)),
			legal: trJoin(trAsyncSet(wire.StateCopyBoth), map[string]trOutcome{
				trCopyData:     trReplyTo(wire.StateCopyBoth),
				trRowDesc:      trReplyTo(busy),
				trRowDesc2Text: trReplyTo(busy),
				trSelect1:      trReplyTo(busy),
				trError:        trReplyTo(busy),
			}),
			reason: wire.ReasonCopyState,
		},
		{
			name:    "Terminating",
			rule:    "§2.8: after Terminate any further input is discarded",
			opts:    tr30,
			setup:   trIdle(trQ(""), trX()),
			discard: true,
		},
		{
			name:   "Closed after FATAL",
			rule:   "§2.1 FATAL: nothing may follow it; §2.8 Closed is terminal",
			opts:   tr30,
			setup:  trIdle(trR(trFatal, trEv{done: true, fatal: true}, wire.StateClosed)),
			reason: wire.ReasonUnexpectedMessage,
		},
		{
			name:   "Closed after EOF",
			rule:   "§2.8 Closed is terminal",
			opts:   tr30,
			setup:  trIdle(trEOF(0)),
			reason: wire.ReasonUnexpectedMessage,
		},
	}
}

// ---- worked traces (§2.5, §2.6, §2.7, §6.3) and startup sequences ----------

// trTrace is a conversation that must run exactly as written.
type trTrace struct {
	name  string              // what the conversation is
	rule  string              // where protocol.md describes it
	opts  wire.TrackerOptions // Tracker options
	steps []trStep            // the conversation
	final wire.State          // the state at the end
	tx    wire.TxStatus       // the transaction status at the end (0: not checked)
}

func trPendingIs(n int) func(testing.TB, trView) {
	return func(tb testing.TB, v trView) {
		tb.Helper()
		if got := v.Pending(); got != n {
			tb.Errorf("Pending() = %d, want %d", got, n)
		}
	}
}

func trAwaitingSyncIs(want bool) func(testing.TB, trView) {
	return func(tb testing.TB, v trView) {
		tb.Helper()
		if got := v.AwaitingSync(); got != want {
			tb.Errorf("AwaitingSync() = %v, want %v", got, want)
		}
	}
}

func trVersionIs(want uint32) func(testing.TB, trView) {
	return func(tb testing.TB, v trView) {
		tb.Helper()
		if got := v.ProtocolVersion(); got != want {
			tb.Errorf("ProtocolVersion() = %#x, want %#x", got, want)
		}
	}
}

// trTraces returns the conversations that must succeed.
func trTraces() []trTrace {
	busy, idle := wire.StateBusy, wire.StateIdle
	return []trTrace{
		{
			name: "startup trust", rule: "§2.3 A0 R/0 (trust) → B0 → Z(I)",
			opts: tr30, steps: trIdleSteps(), final: idle, tx: wire.TxIdle,
		},
		{
			name: "startup cleartext password", rule: "§2.3 A0 → A1 → B0",
			opts: tr30,
			steps: []trStep{
				trStartup(),
				trR(trAuthCleartext, trQuiet, wire.StateAuthStart),
				trPassword(),
				trCheck(func(tb testing.TB, v trView) { tb.Helper(); trStateIs(tb, v, wire.StateAuthPassword) }),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trNotice, trAsyncEv, wire.StateAwaitReady),
				trR(trKey4, trQuiet, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, idle),
			},
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "startup MD5 password", rule: "§2.3 A0 → A1 → B0",
			opts: tr30,
			steps: []trStep{
				trStartup(),
				trR(trAuthMD5, trQuiet, wire.StateAuthStart),
				trPassword(),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, idle),
			},
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "startup SCRAM-SHA-256", rule: "§2.3 A0 → A2 → A3 → A4 → B0, §5.5",
			opts: tr30,
			steps: []trStep{
				trStartup(),
				trR(trAuthSASL, trQuiet, wire.StateAuthStart),
				trSASLInit(),
				trCheck(func(tb testing.TB, v trView) { tb.Helper(); trStateIs(tb, v, wire.StateAuthSASLContinue) }),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue),
				trSASLResp(),
				trCheck(func(tb testing.TB, v trView) { tb.Helper(); trStateIs(tb, v, wire.StateAuthSASLFinal) }),
				trR(trAuthSASLFinal, trQuiet, wire.StateAuthSASLFinal),
				trSASLVerified(),
				trCheck(func(tb testing.TB, v trView) { tb.Helper(); trStateIs(tb, v, wire.StateAuthSASLOk) }),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trKey4, trQuiet, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, idle),
			},
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "startup 3.2 downgraded to 3.0 by NegotiateProtocolVersion", rule: "§5.6",
			opts: tr32,
			steps: []trStep{
				trStartup(),
				trCheck(trVersionIs(wire.ProtocolVersion32)),
				trR(trNPV30, trQuiet, wire.StateAuthStart),
				trCheck(trVersionIs(wire.ProtocolVersion30)),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trKey4, trQuiet, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, idle),
				trCheck(trVersionIs(wire.ProtocolVersion30)),
			},
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "startup 3.2 with a 32-byte cancel key", rule: "§0 (3.2 key is 4..256 bytes), §2.3 B0",
			opts: tr32,
			steps: []trStep{
				trStartup(),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trKey32, trQuiet, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, idle),
				trCheck(trVersionIs(wire.ProtocolVersion32)),
			},
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "ok pipeline", rule: "§2.5 trace 'ok pipeline'",
			opts: tr30,
			steps: trIdle(
				trP("P1", "s1"), trB("B1", "", "s1"), trDP("D", ""), trE("E1", "", 0), trS("S"),
				trCheck(trPendingIs(5)),
				trR(trParseComplete, trFin("P1"), busy),
				trR(trBindComplete, trFin("B1"), busy),
				trR(trRowDesc, trFin("D"), busy),
				trR(trDataRow, trOn("E1"), busy),
				trR(trDataRow, trOn("E1"), busy),
				trR(trSelect1, trFin("E1"), busy),
				trCheck(trPendingIs(1)),
				trR(trReadyI, trFin("S"), idle),
				trCheck(trPendingIs(0)),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "error in Bind skips to Sync", rule: "§2.5 trace 'error in Bind', G2",
			opts: tr30,
			steps: trIdle(
				trP("P1", "s1"), trB("B1", "", "s1"), trE("E1", "", 0), trP("P2", "s2"), trB("B2", "", "s2"), trE("E2", "", 0), trS("S"),
				trR(trParseComplete, trFin("P1"), busy),
				trR(trError, trEv{seq: "B1", done: true, skipped: 4}, busy),
				trCheck(trPendingIs(1)),
				trCheck(trAwaitingSyncIs(false)),
				trR(trReadyI, trFin("S"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "error at commit belongs to the Sync", rule: "§2.5 trace 'error at commit', G3",
			opts: tr30,
			steps: trIdle(
				trB("B", "", "s1"), trE("E", "", 0), trS("S"),
				trR(trBindComplete, trFin("B"), busy),
				trR(trSelect1, trFin("E"), busy),
				trR(trError, trOn("S"), busy),
				trR(trReadyI, trFin("S"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "two segments", rule: "§2.5 trace 'two segments'",
			opts: tr30,
			steps: trIdle(
				trP("P1", "s1"), trB("B1", "", "s1"), trE("E1", "", 0), trS("S1"),
				trP("P2", "s2"), trB("B2", "", "s2"), trE("E2", "", 0), trS("S2"),
				trR(trParseComplete, trFin("P1"), busy),
				trR(trBindComplete, trFin("B1"), busy),
				trR(trSelect1, trFin("E1"), busy),
				trR(trReadyI, trFin("S1"), busy),
				trR(trParseComplete, trFin("P2"), busy),
				trR(trBindComplete, trFin("B2"), busy),
				trR(trSelect1, trFin("E2"), busy),
				trR(trReadyI, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "two segments, the first fails", rule: "§2.5 'an E in segment 1 does not affect segment 2'",
			opts: tr30,
			steps: trIdle(
				trP("P1", "s1"), trB("B1", "", "s1"), trE("E1", "", 0), trS("S1"),
				trP("P2", "s2"), trB("B2", "", "s2"), trE("E2", "", 0), trS("S2"),
				trR(trError, trEv{seq: "P1", done: true, skipped: 2}, busy),
				trR(trReadyI, trFin("S1"), busy),
				trR(trParseComplete, trFin("P2"), busy),
				trR(trBindComplete, trFin("B2"), busy),
				trR(trSelect1, trFin("E2"), busy),
				trR(trReadyI, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "suspended portal with a row limit inside BEGIN", rule: "§2.5 trace 'suspended', G9",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trBegin, trOn("Q"), busy),
				trR(trReadyT, trFin("Q"), idle),
				trB("B", "p1", "s1"), trE("E", "p1", 2), trS("S"),
				trR(trBindComplete, trFin("B"), busy),
				trR(trDataRow, trOn("E"), busy),
				trR(trDataRow, trOn("E"), busy),
				trR(trSuspended, trFin("E"), busy),
				trR(trReadyT, trFin("S"), idle),
				// The portal survives the Sync because the block is open.
				trE("E2", "p1", 2), trS("S2"),
				trR(trDataRow, trOn("E2"), busy),
				trR(trSelect1, trFin("E2"), busy),
				trR(trReadyT, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxInBlock,
		},
		{
			name: "empty statement", rule: "§2.5 trace 'empty statement', G7",
			opts: tr30,
			steps: trIdle(
				trP("P", ""), trB("B", "", ""), trDP("D", ""), trE("E", "", 0), trS("S"),
				trR(trParseComplete, trFin("P"), busy),
				trR(trBindComplete, trFin("B"), busy),
				trR(trNoData, trFin("D"), busy),
				trR(trEmpty, trFin("E"), busy),
				trR(trReadyI, trFin("S"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy in through the extended protocol", rule: "§2.5 trace 'copy in (ext.)', G12",
			opts: tr30,
			steps: trIdle(
				trP("P", "s1"), trB("B", "", "s1"), trE("E", "", 0), trS("S1"),
				trR(trParseComplete, trFin("P"), busy),
				trR(trBindComplete, trFin("B"), busy),
				trR(trCopyIn, trOn("E"), wire.StateCopyIn),
				// The queued Sync was swallowed by the COPY: only the Execute is pending.
				trCheck(trPendingIs(1)),
				trCheck(trAwaitingSyncIs(true)),
				trRefuse(trS("")), // a Sync before CopyDone would be swallowed too
				trCD(), trCD(), trCc(), trS("S2"),
				trCheck(trAwaitingSyncIs(false)),
				trCheck(trPendingIs(2)),
				trR(trCopy2, trFin("E"), busy),
				trR(trReadyI, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy in through the extended protocol fails mid-stream", rule: "§2.7 CopyIn exits, G11, G12",
			opts: tr30,
			steps: trIdle(
				trP("P", "s1"), trB("B", "", "s1"), trE("E", "", 0), trS("S1"),
				trR(trParseComplete, trFin("P"), busy),
				trR(trBindComplete, trFin("B"), busy),
				trR(trCopyIn, trOn("E"), wire.StateCopyIn),
				trCD(),
				trR(trError, trFin("E"), busy),
				trCheck(trAwaitingSyncIs(true)),
				trRefuse(trCD()), // the server drops further copy data: stop sending
				trRefuse(trCc()),
				trRefuse(trP("", "s2")),
				trS("S2"),
				trR(trReadyI, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "simple query with 3 statements and an error", rule: "§2.5 trace 'simple, 3 stmts', §2.6, G4, G6",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trRowDesc, trOn("Q"), busy),
				trR(trDataRow, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy),
				trR(trError, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "empty query", rule: "§2.5 trace 'empty query', G7",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trEmpty, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "pipelined simple queries", rule: "§2.5 expectation queue, G1 order",
			opts: tr30,
			steps: trIdle(
				trQ("Q1"), trQ("Q2"),
				trR(trBegin, trOn("Q1"), busy),
				trR(trReadyT, trFin("Q1"), busy),
				trR(trRowDesc2Text, trOn("Q2"), busy),
				trR(trNotice, trAsyncEv, busy),
				trR(trDataRow2, trOn("Q2"), busy),
				trR(trNotify, trAsyncEv, busy),
				trR(trTimeZone, trAsyncEv, busy),
				trR(trDataRow2, trOn("Q2"), busy),
				trR(trSelect1, trOn("Q2"), busy),
				trR(trReadyT, trFin("Q2"), idle),
			),
			final: idle, tx: wire.TxInBlock,
		},
		{
			name: "describe statement, then bind and execute it", rule: "§2.5 Describe S, G8, G16",
			opts: tr30,
			steps: trIdle(
				trP("P", "s1"), trDS("D", "s1"), trS("S1"),
				trR(trParseComplete, trFin("P"), busy),
				trR(trParamDesc, trOn("D"), busy),
				trR(trRowDesc, trFin("D"), busy),
				trR(trReadyI, trFin("S1"), idle),
				trB("B", "", "s1"), trE("E", "", 0), trS("S2"),
				trR(trBindComplete, trFin("B"), busy),
				trR(trDataRow, trOn("E"), busy),
				trR(trDataRowNULL, trOn("E"), busy),
				trR(trSelect1, trFin("E"), busy),
				trR(trReadyI, trFin("S2"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy in (simple)", rule: "§2.6 G → CopyIn, §2.7, G11",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyIn, trOn("Q"), wire.StateCopyIn),
				trCD(), trCD(), trCc(),
				trR(trCopy2, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy in (simple) aborted with CopyFail", rule: "§2.7 CopyIn: after f, E (57014)",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyIn, trOn("Q"), wire.StateCopyIn),
				trCD(), trCf(),
				trR(trError, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy out (simple)", rule: "§2.7 CopyOut, G13",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyOut, trOn("Q"), wire.StateCopyOut),
				trR(trCopyData, trOn("Q"), wire.StateCopyOut),
				trR(trNotice, trAsyncEv, wire.StateCopyOut),
				trR(trCopyData, trOn("Q"), wire.StateCopyOut),
				trR(trCopyDone, trOn("Q"), wire.StateCopyOut),
				trR(trCopy2, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "copy out through the extended protocol", rule: "§2.5 Execute → H, G13",
			opts: tr30,
			steps: trIdle(
				trP("P", "s1"), trB("B", "", "s1"), trE("E", "", 0), trS("S"),
				trR(trParseComplete, trFin("P"), busy),
				trR(trBindComplete, trFin("B"), busy),
				trR(trCopyOut, trOn("E"), wire.StateCopyOut),
				trR(trCopyData, trOn("E"), wire.StateCopyOut),
				trR(trCopyDone, trOn("E"), wire.StateCopyOut),
				trR(trCopy2, trFin("E"), busy),
				trR(trReadyI, trFin("S"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "COPY BOTH, client ends first (logical)", rule: "§6.3 client ends streaming; logical completion",
			opts: trRepl,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyBoth, trOn("Q"), wire.StateCopyBoth),
				trR(trCopyData, trOn("Q"), wire.StateCopyBoth),
				trCD(),
				trCc(),
				trRefuse(trCD()),
				trRefuse(trCf()),
				trR(trCopyData, trOn("Q"), wire.StateCopyBoth), // already in flight
				trR(trCopyDone, trOn("Q"), wire.StateCopyBoth),
				trR(trCopyData, trOn("Q"), wire.StateCopyBoth), // a keepalive after the server's c (walsender.c)
				trR(trCopy0, trOn("Q"), busy),
				trR(trStartRepl, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "COPY BOTH, server ends first (physical timeline end)", rule: "§6.3 timeline exhausted; physical completion; G14",
			opts: trRepl,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyBoth, trOn("Q"), wire.StateCopyBoth),
				trR(trCopyData, trOn("Q"), wire.StateCopyBoth),
				trR(trCopyDone, trOn("Q"), wire.StateCopyBoth),
				trCD(), // the client may keep sending its half (G14)
				trCc(),
				trCheck(func(tb testing.TB, v trView) { tb.Helper(); trStateIs(tb, v, wire.StateCopyBoth) }),
				trR(trRowDesc2Text, trOn("Q"), busy),
				trR(trDataRow2, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy),
				trR(trStartStreaming, trOn("Q"), busy),
				trR(trStartRepl, trOn("Q"), busy),
				trR(trReadyI, trFin("Q"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
		{
			name: "COPY BOTH, server ends without CopyDone (shutdown)", rule: "§6.3 server shutdown: C without c, then EOF",
			opts: trRepl,
			steps: trIdle(
				trQ("Q"),
				trR(trCopyBoth, trOn("Q"), wire.StateCopyBoth),
				trR(trCopyData, trOn("Q"), wire.StateCopyBoth),
				trR(trCopy0, trFin("Q"), wire.StateClosed),
				trRefuse(trCD()),
				trEOF(0),
			),
			final: wire.StateClosed,
		},
		{
			name: "Terminate discards what follows", rule: "§2.8, §5.2",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trX(),
				trR(trRowDesc, trEv{discard: true}, wire.StateTerminating),
				trR(trReadyI, trEv{discard: true}, wire.StateTerminating),
				trR(trFatal, trEv{discard: true}, wire.StateTerminating),
				trEOF(0),
			),
			final: wire.StateClosed,
		},
		{
			name: "FATAL while busy ends the session", rule: "§2.1 FATAL, §2.2 CLOSED",
			opts: tr30,
			steps: trIdle(
				trQ("Q"),
				trR(trRowDesc, trOn("Q"), busy),
				trR(trFatal, trEv{seq: "Q", done: true, fatal: true}, wire.StateClosed),
				trRefuse(trQ("")),
				trEOF(0),
			),
			final: wire.StateClosed,
		},
		{
			name: "PANIC is fatal too", rule: "§2.1 FATAL or PANIC",
			opts: tr30,
			steps: trIdle(
				trR(trPanic, trEv{done: true, fatal: true}, wire.StateClosed),
			),
			final: wire.StateClosed,
		},
		{
			name: "extended segment ended by Flush is not idle", rule: "§2.4 idle is entered by Z only; §2.5 never send Query while extended entries lack a Sync",
			opts: tr30,
			steps: trIdle(
				trP("P", "s1"), trH(),
				trR(trParseComplete, trFin("P"), busy),
				trRefuse(trQ("")),
				trS("S"),
				trR(trReadyI, trFin("S"), idle),
			),
			final: idle, tx: wire.TxIdle,
		},
	}
}

// trFailures returns conversations that must end in a protocol violation at
// their last receive step (or be refused at a send step).
func trFailures() []trTrace {
	desync := wire.StateDesynced
	saslTo := func(steps ...trStep) []trStep {
		return append([]trStep{trStartup(), trR(trAuthSASL, trQuiet, wire.StateAuthStart), trSASLInit()}, steps...)
	}
	startupTo := func(steps ...trStep) []trStep {
		return append([]trStep{trStartup(), trR(trAuthOk, trQuiet, wire.StateAwaitReady)}, steps...)
	}
	return []trTrace{
		// Authentication (§2.3).
		{name: "AuthenticationOk right after SASLInitialResponse", rule: "§2.3 A2: R/0 here is an auth bypass",
			steps: saslTo(trRErr(trAuthOk, wire.ReasonAuthentication)), final: desync},
		{name: "AuthenticationOk before SASLFinal", rule: "§2.3 A3: R/0 without R/12 (unverified server)",
			steps: saslTo(trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trRErr(trAuthOk, wire.ReasonAuthentication)), final: desync},
		{name: "AuthenticationOk after SASLFinal but before SASLVerified", rule: "§2.3 A3→A4: the signature must be verified first",
			steps: saslTo(trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trR(trAuthSASLFinal, trQuiet, wire.StateAuthSASLFinal), trRErr(trAuthOk, wire.ReasonAuthentication)), final: desync},
		{name: "second SASLContinue after SASLResponse", rule: "§2.3 A3: SCRAM has exactly one round",
			steps: saslTo(trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trRErr(trAuthSASLContinue, wire.ReasonAuthentication)), final: desync},
		{name: "second SASLContinue before SASLResponse", rule: "§2.3 A2: the server awaits the client's answer",
			steps: saslTo(trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue),
				trRErr(trAuthSASLContinue, wire.ReasonAuthentication)), final: desync},
		{name: "AuthenticationSASL again during the exchange", rule: "§2.3 A2: R/10 again",
			steps: saslTo(trRErr(trAuthSASL, wire.ReasonAuthentication)), final: desync},
		{name: "SASLFinal after SASLInitialResponse", rule: "§2.3 A2: R/12 here skips the exchange",
			steps: saslTo(trRErr(trAuthSASLFinal, wire.ReasonAuthentication)), final: desync},
		{name: "SASLContinue without a SASL exchange", rule: "§2.3 A0",
			steps: []trStep{trStartup(), trRErr(trAuthSASLContinue, wire.ReasonAuthentication)}, final: desync},
		{name: "second authentication request after the password", rule: "§2.3 A1: the server may not re-challenge",
			steps: []trStep{trStartup(), trR(trAuthMD5, trQuiet, wire.StateAuthStart), trPassword(),
				trRErr(trAuthCleartext, wire.ReasonAuthentication)}, final: desync},
		{name: "second authentication request before the password", rule: "§2.3 A0: the server awaits the PasswordMessage",
			steps: []trStep{trStartup(), trR(trAuthCleartext, trQuiet, wire.StateAuthStart),
				trRErr(trAuthMD5, wire.ReasonAuthentication)}, final: desync},
		{name: "AuthenticationOk before the requested password was sent", rule: "§2.3 A0",
			steps: []trStep{trStartup(), trR(trAuthCleartext, trQuiet, wire.StateAuthStart),
				trRErr(trAuthOk, wire.ReasonAuthentication)}, final: desync},
		{name: "BackendKeyData before AuthenticationOk", rule: "§2.3 A0 violation examples",
			steps: []trStep{trStartup(), trRErr(trKey4, wire.ReasonUnexpectedMessage)}, final: desync},
		{name: "ParameterStatus before AuthenticationOk", rule: "§2.1 S legal from B0",
			steps: []trStep{trStartup(), trRErr(trClientEncUTF8, wire.ReasonUnexpectedMessage)}, final: desync},
		{name: "NoticeResponse before AuthenticationOk", rule: "§2.1 N legal from B0",
			steps: []trStep{trStartup(), trRErr(trNotice, wire.ReasonUnexpectedMessage)}, final: desync},
		{name: "ReadyForQuery(T) at startup", rule: "§2.3 B0: Z with status I",
			steps: startupTo(trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady), trRErr(trReadyT, wire.ReasonUnexpectedMessage)), final: desync},
		{name: "ReadyForQuery(E) at startup", rule: "§2.3 B0: Z with status I",
			steps: startupTo(trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady), trRErr(trReadyE, wire.ReasonUnexpectedMessage)), final: desync},
		{name: "ReadyForQuery without client_encoding reported", rule: "§4.6 client_encoding: require UTF8 before accepting Z",
			steps: startupTo(trRErr(trReadyI, wire.ReasonParameterChange)), final: desync},
		{name: "client_encoding other than UTF8 at startup", rule: "§4.6 client_encoding",
			steps: startupTo(trRErr(trClientEncLatin, wire.ReasonParameterChange)), final: desync},
		{name: "second BackendKeyData", rule: "§2.3 B0: K at most once",
			steps: startupTo(trR(trKey4, trQuiet, wire.StateAwaitReady), trRErr(trKey4, wire.ReasonUnexpectedMessage)), final: desync},
		{name: "NotificationResponse before the first ReadyForQuery", rule: "§2.1 A: after the first Z",
			steps: startupTo(trRErr(trNotify, wire.ReasonUnexpectedMessage)), final: desync},
		{name: "ERROR-severity ErrorResponse after AuthenticationOk", rule: "§2.3 B0: E must be FATAL",
			steps: startupTo(trRErr(trError, wire.ReasonUnexpectedMessage)), final: desync},
		{name: "ErrorResponse during authentication, then anything", rule: "§2.3 E → AUTHFAIL; §2.1 nothing may follow",
			steps: []trStep{trStartup(), trR(trAuthCleartext, trQuiet, wire.StateAuthStart), trPassword(),
				trR(trError, trEv{done: true, fatal: true}, wire.StateClosed),
				trRErr(trAuthOk, wire.ReasonUnexpectedMessage)}, final: desync},
		{name: "FATAL in B0, then anything", rule: "§2.1 FATAL: read to EOF, nothing else may follow",
			steps: startupTo(trR(trFatal, trEv{done: true, fatal: true}, wire.StateClosed),
				trRErr(trReadyI, wire.ReasonUnexpectedMessage)), final: desync},

		// NegotiateProtocolVersion (§5.6) and BackendKeyData (§0, §1.1).
		{name: "NPV offering 3.1", rule: "§5.6: ≠ 3.1", opts: tr32,
			steps: []trStep{trStartup(), trRErr(trNPV31, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV offering the requested version with no options", rule: "§5.6: not 'same version and zero options'", opts: tr32,
			steps: []trStep{trStartup(), trRErr(trNPV32, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV listing options the client never sent", rule: "§5.6: listed options ⊆ options sent", opts: tr32,
			steps: []trStep{trStartup(), trRErr(trNPV30Options, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV offering a newer version than requested", rule: "§5.6: offered ≤ requested", opts: tr30,
			steps: []trStep{trStartup(), trRErr(trNPV32, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV offering 3.0 when 3.0 was requested", rule: "§5.6: not 'same version and zero options'", opts: tr30,
			steps: []trStep{trStartup(), trRErr(trNPV30, wire.ReasonProtocolVersion)}, final: desync},
		{name: "second NPV", rule: "§5.6: at most one NPV", opts: tr32,
			steps: []trStep{trStartup(), trR(trNPV30, trQuiet, wire.StateAuthStart), trRErr(trNPV30, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV after an authentication request", rule: "§5.6: NPV comes before the first R", opts: tr32,
			steps: []trStep{trStartup(), trR(trAuthMD5, trQuiet, wire.StateAuthStart), trPassword(),
				trRErr(trNPV30, wire.ReasonProtocolVersion)}, final: desync},
		{name: "NPV after AuthenticationOk", rule: "§2.3 B0: v is a violation", opts: tr32,
			steps: []trStep{trStartup(), trR(trAuthOk, trQuiet, wire.StateAwaitReady), trRErr(trNPV30, wire.ReasonUnexpectedMessage)}, final: desync},
		{name: "32-byte key under 3.0", rule: "§0: 3.0 keys are exactly 4 bytes", opts: tr30,
			steps: startupTo(trRErr(trKey32, wire.ReasonProtocolVersion)), final: desync},
		{name: "32-byte key after a downgrade to 3.0", rule: "§5.6: after downgrading to 3.0 the key must be 4 bytes", opts: tr32,
			steps: []trStep{trStartup(), trR(trNPV30, trQuiet, wire.StateAuthStart), trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trRErr(trKey32, wire.ReasonProtocolVersion)}, final: desync},

		// Send-side refusals change nothing (§2.5 ordering rules, §2.7, G2, G12).
		{name: "Query while a Parse is queued without Sync", rule: "§2.5: never send Query while extended entries lack a Sync",
			steps: trIdle(trP("P", "s1"), trRefuse(trQ("")), trCheck(trPendingIs(1)), trS("S"), trQ("Q"),
				trR(trParseComplete, trFin("P"), wire.StateBusy), trR(trReadyI, trFin("S"), wire.StateBusy),
				trR(trSelect1, trOn("Q"), wire.StateBusy), trR(trReadyI, trFin("Q"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "extended requests while awaiting Sync after an error", rule: "G2: the server discards everything until Sync",
			steps: trIdle(trP("P", "s1"), trR(trError, trFin("P"), wire.StateBusy), trCheck(trAwaitingSyncIs(true)),
				trRefuse(trP("", "s1")), trRefuse(trB("", "", "s1")), trRefuse(trDS("", "s1")), trRefuse(trDP("", "")),
				trRefuse(trE("", "", 0)), trRefuse(trC("", 'S', "s1")), trRefuse(trQ("")), trRefuse(trCD()),
				trH(),
				trS("S"), trCheck(trAwaitingSyncIs(false)), trR(trReadyI, trFin("S"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "copy messages when not copying", rule: "§2.7: the client sends d/c/f only in CopyIn (and d/c in CopyBoth)",
			steps: trIdle(trRefuse(trCD()), trRefuse(trCc()), trRefuse(trCf()), trQ("Q"),
				trRefuse(trCD()), trRefuse(trCc()), trRefuse(trCf()),
				trR(trCopyOut, trOn("Q"), wire.StateCopyOut), trRefuse(trCD()), trRefuse(trCc()), trRefuse(trCf()),
				trRefuse(trS("")), trRefuse(trQ("")),
				trR(trCopyDone, trOn("Q"), wire.StateCopyOut), trR(trCopy2, trOn("Q"), wire.StateBusy),
				trR(trReadyI, trFin("Q"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "CopyFail in COPY BOTH", rule: "§2.7 CopyBoth: the client sends d* then c", opts: trRepl,
			steps: trIdle(trQ("Q"), trR(trCopyBoth, trOn("Q"), wire.StateCopyBoth), trRefuse(trCf()), trCD(), trCc(),
				trR(trCopyDone, trOn("Q"), wire.StateCopyBoth), trR(trCopy0, trOn("Q"), wire.StateBusy),
				trR(trReadyI, trFin("Q"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "copy data after the client ended COPY IN", rule: "§2.7 CopyIn: exactly one of c / f ends the client side",
			steps: trIdle(trQ("Q"), trR(trCopyIn, trOn("Q"), wire.StateCopyIn), trCc(), trRefuse(trCD()), trRefuse(trCc()),
				trRefuse(trCf()), trRefuse(trS("")),
				trR(trCopy0, trOn("Q"), wire.StateBusy), trR(trReadyI, trFin("Q"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "startup and auth answers out of turn", rule: "§2.3",
			steps: []trStep{trRefuse(trPassword()), trRefuse(trQ("")), trStartup(), trRefuse(trStartup()), trRefuse(trPassword()),
				trRefuse(trSASLInit()), trRefuse(trSASLResp()), trRefuse(trSASLVerified()), trRefuse(trQ("")), trRefuse(trH()),
				trR(trAuthSASL, trQuiet, wire.StateAuthStart), trRefuse(trPassword()), trRefuse(trSASLResp()), trSASLInit(),
				trRefuse(trSASLVerified()),
				trR(trAuthSASLContinue, trQuiet, wire.StateAuthSASLContinue), trSASLResp(),
				trRefuse(trSASLVerified()),
				trR(trAuthSASLFinal, trQuiet, wire.StateAuthSASLFinal), trSASLVerified(),
				trR(trAuthOk, trQuiet, wire.StateAwaitReady), trRefuse(trQ("")), trRefuse(trS("")),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady), trR(trReadyI, trEv{done: true}, wire.StateIdle)},
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "invalid arguments", rule: "Bind result formats are 0 or 1; row limit ≥ 0",
			steps: trIdle(trRefuse(trBf("", "", "s1", 4)), trRefuse(trE("", "", -1)),
				trB("B", "", "s1"), trS("S"), trR(trBindComplete, trFin("B"), wire.StateBusy), trR(trReadyI, trFin("S"), wire.StateIdle)),
			final: wire.StateIdle, tx: wire.TxIdle},
		{name: "requests after the session closed", rule: "§2.8 Closed is terminal",
			steps: trIdle(trR(trFatal, trEv{done: true, fatal: true}, wire.StateClosed), trRefuse(trQ("")), trRefuse(trP("", "s1")),
				trRefuse(trS("")), trRefuse(trH()), trRefuse(trCD()), trRefuse(trStartup())),
			final: wire.StateClosed},

		// COPY FROM STDIN with requests pipelined behind it (G11, G12).
		{name: "COPY IN by Execute with a Parse queued after it", rule: "G12: only Sync/Flush may follow an Execute that starts COPY IN",
			steps: trIdle(trE("E", "", 0), trS("S"), trP("P", "s1"), trS("S2"), trRErr(trCopyIn, wire.ReasonCopyState)), final: desync},
		{name: "COPY IN by a simple Query with another Query queued after it", rule: "G11: any other message aborts the copy (08P01) and is consumed by it",
			steps: trIdle(trQ("Q1"), trQ("Q2"), trRErr(trCopyIn, wire.ReasonCopyState)), final: desync},
		{name: "COPY IN by a simple Query with a Sync queued after it", rule: "G11: Sync is swallowed during COPY IN and produces no Z",
			steps: trIdle(trQ("Q1"), trS("S"), trRErr(trCopyIn, wire.ReasonCopyState)), final: desync},

		// EOF (§2.4, §2.8, §2.2 CLOSED).
		{name: "EOF before startup", rule: "nothing was expected", steps: []trStep{trEOF(0)}, final: wire.StateClosed},
		{name: "EOF in idle", rule: "§2.4: EOF while idle → CLOSED", steps: trIdle(trEOF(0)), final: wire.StateClosed},
		{name: "EOF after Terminate with a query outstanding", rule: "§2.8", steps: trIdle(trQ(""), trX(), trEOF(0)), final: wire.StateClosed},
		{name: "EOF after FATAL", rule: "§2.1 FATAL: read to EOF", steps: trIdle(trR(trFatal, trEv{done: true, fatal: true}, wire.StateClosed), trEOF(0)), final: wire.StateClosed},
		{name: "EOF awaiting the first reply", rule: "§2.3", steps: []trStep{trStartup(), trEOF(wire.ReasonUnexpectedEOF)}, final: desync},
		{name: "EOF awaiting the password verdict", rule: "§2.3",
			steps: []trStep{trStartup(), trR(trAuthCleartext, trQuiet, wire.StateAuthStart), trPassword(), trEOF(wire.ReasonUnexpectedEOF)}, final: desync},
		{name: "EOF in B0", rule: "§2.3", steps: startupTo(trEOF(wire.ReasonUnexpectedEOF)), final: desync},
		{name: "EOF while a query is outstanding", rule: "§2.2 CLOSED: outcome unknown", steps: trIdle(trQ(""), trEOF(wire.ReasonUnexpectedEOF)), final: desync},
		{name: "EOF in skip mode", rule: "§2.2 CLOSED: outcome unknown",
			steps: trIdle(trP("", "s1"), trR(trError, trFin("_"), wire.StateBusy), trEOF(wire.ReasonUnexpectedEOF)), final: desync},
		{name: "EOF in COPY IN", rule: "§2.7", steps: trIdle(trQ(""), trR(trCopyIn, trOn("_"), wire.StateCopyIn), trEOF(wire.ReasonUnexpectedEOF)), final: desync},
		{name: "EOF in COPY OUT", rule: "§2.7", steps: trIdle(trQ(""), trR(trCopyOut, trOn("_"), wire.StateCopyOut), trEOF(wire.ReasonUnexpectedEOF)), final: desync},
		{name: "EOF in COPY BOTH", rule: "§6.3", opts: trRepl,
			steps: trIdle(trQ(""), trR(trCopyBoth, trOn("_"), wire.StateCopyBoth), trEOF(wire.ReasonUnexpectedEOF)), final: desync},
	}
}

// trStateIs checks the state.
func trStateIs(tb testing.TB, v trView, want wire.State) {
	tb.Helper()
	if got := v.State(); got != want {
		tb.Errorf("State() = %s, want %s", got, want)
	}
}
