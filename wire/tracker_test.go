package wire_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

// The tables live in tracker_cases_test.go. Every table runs twice: on a
// bare Tracker, and on a Frontend whose input stream carries the encoded
// messages (so every message also passes framing, strict decoding and the
// Admit gate, and every send is also encoded).

// trDriverKinds are the implementations every table runs on.
var trDriverKinds = [...]string{"tracker", "frontend"}

func trNewDriver(kind string, opts wire.TrackerOptions, cat []trMsg) trDriver {
	if kind == "frontend" {
		return trNewFrontendDriver(opts, cat)
	}
	return trNewTrackerDriver(opts, cat)
}

// trSnapshot is everything a refused call must leave unchanged.
type trSnapshot struct {
	state     wire.State
	tx        wire.TxStatus
	pending   int
	awaitSync bool
	version   uint32
	err       error
	out       []byte
}

func trSnap(d trDriver) trSnapshot {
	return trSnapshot{
		state: d.State(), tx: d.TxStatus(), pending: d.Pending(), awaitSync: d.AwaitingSync(),
		version: d.ProtocolVersion(), err: d.Err(), out: append([]byte{}, d.output()...),
	}
}

var trOpNames = [trOpCount]string{
	trOpStartup: "StartupMessage", trOpPassword: "PasswordMessage", trOpSASLInit: "SASLInitialResponse",
	trOpSASLResp: "SASLResponse", trOpSASLVerified: "SASLVerified", trOpQuery: "Query", trOpParse: "Parse",
	trOpBind: "Bind", trOpDescS: "Describe S", trOpDescP: "Describe P", trOpExec: "Execute", trOpCloseS: "Close S",
	trOpCloseP: "Close P", trOpSync: "Sync", trOpFlush: "Flush", trOpCopyData: "CopyData", trOpCopyDone: "CopyDone",
	trOpCopyFail: "CopyFail", trOpTerminate: "Terminate", trOpEOF: "EOF", trOpDesync: "Desync",
}

func trDescribe(op trOp) string {
	switch op.kind {
	case trOpRecv:
		return "receive " + op.msg
	case trOpParse, trOpDescS, trOpDescP, trOpCloseS, trOpCloseP:
		return fmt.Sprintf("send %s %q", trOpNames[op.kind], op.name)
	case trOpBind:
		return fmt.Sprintf("send Bind %q %q %v", op.name, op.stmt, trFormatSets[op.formats])
	case trOpExec:
		return fmt.Sprintf("send Execute %q %d", op.name, op.maxRows)
	}
	if op.kind < trOpCount {
		return trOpNames[op.kind]
	}
	return fmt.Sprintf("op %d", op.kind)
}

// trEvent builds the Event a step expects.
func trEvent(tb testing.TB, want trEv, labels map[string]uint64, got wire.Event) wire.Event {
	tb.Helper()
	var seq uint64
	switch want.seq {
	case "":
	case "_":
		seq = got.Seq
	default:
		s, ok := labels[want.seq]
		if !ok {
			tb.Fatalf("no send step labelled %q", want.seq)
		}
		seq = s
	}
	return wire.Event{Seq: seq, Done: want.done, Async: want.async, Skipped: want.skipped, Fatal: want.fatal, Discard: want.discard}
}

// trRun runs steps on d and returns the labelled sequence numbers.
func trRun(tb testing.TB, d trDriver, steps []trStep) map[string]uint64 {
	tb.Helper()
	labels := make(map[string]uint64)
	for i, s := range steps {
		if s.check != nil {
			s.check(tb, d)
			continue
		}
		where := fmt.Sprintf("step %d: %s", i, trDescribe(s.op))
		if s.refused {
			trAssertRefused(tb, d, s.op, where)
			continue
		}
		before := d.State()
		seq, ev, err := d.apply(s.op)
		if s.reason != 0 {
			var pe *wire.ProtocolError
			require.ErrorAsf(tb, err, &pe, "%s: want a *wire.ProtocolError, got %v", where, err)
			assert.Equalf(tb, s.reason, pe.Reason, "%s: want %s, got %v", where, s.reason, pe)
			assert.Equalf(tb, before, pe.State, "%s: the error names the state the message arrived in", where)
			trAssertSticky(tb, d, pe)
			continue
		}
		require.NoErrorf(tb, err, where)
		if s.op.kind == trOpRecv {
			assert.Equalf(tb, trEvent(tb, s.want, labels, ev), ev, where)
		} else if s.label != "" {
			require.NotZerof(tb, seq, "%s: a request gets a sequence number", where)
			labels[s.label] = seq
		}
		if s.state != 0 {
			assert.Equalf(tb, s.state, d.State(), "%s: state", where)
		}
	}
	return labels
}

// trAssertRefused checks that op is refused with an *InputError that changes
// nothing: no state, no queue, no output.
func trAssertRefused(tb testing.TB, d trDriver, op trOp, where string) {
	tb.Helper()
	before := trSnap(d)
	_, _, err := d.apply(op)
	if st := d.State(); st == wire.StateClosed || st == wire.StateTerminating {
		// After the session ended a refusal is terminal, not a caller
		// mistake that could be retried.
		require.ErrorIsf(tb, err, wire.ErrSessionEnded, "%s: want wire.ErrSessionEnded in state %s, got %v", where, st, err)
		assert.Equalf(tb, before, trSnap(d), "%s: a refused call must change nothing", where)
		return
	}
	var ie *wire.InputError
	require.ErrorAsf(tb, err, &ie, "%s: want a *wire.InputError, got %v", where, err)
	assert.Truef(tb, ie.SafeToRetry(), "%s: an InputError is safe to retry", where)
	assert.Equalf(tb, before, trSnap(d), "%s: a refused call must change nothing", where)
}

// trEveryCall is one call of every kind with valid arguments.
func trEveryCall() []trOp {
	ops := []trOp{
		{kind: trOpStartup}, {kind: trOpPassword}, {kind: trOpSASLInit}, {kind: trOpSASLResp}, {kind: trOpSASLVerified},
		{kind: trOpQuery}, {kind: trOpParse, name: "s1"}, {kind: trOpBind, name: "", stmt: "s1", formats: 3},
		{kind: trOpDescS, name: "s1"}, {kind: trOpDescP}, {kind: trOpExec, maxRows: 2}, {kind: trOpCloseS, name: "s1"},
		{kind: trOpCloseP}, {kind: trOpSync}, {kind: trOpFlush}, {kind: trOpCopyData}, {kind: trOpCopyDone},
		{kind: trOpCopyFail}, {kind: trOpEOF}, {kind: trOpDesync},
	}
	for _, m := range []string{trReadyI, trDataRow, trNotice, trFatal, trCopyData, trAuthOk} {
		ops = append(ops, trOp{kind: trOpRecv, msg: m})
	}
	return ops
}

// trAssertSticky checks that a desynchronized driver returns want from
// every later call and stays desynchronized.
func trAssertSticky(tb testing.TB, d trDriver, want *wire.ProtocolError) {
	tb.Helper()
	assert.Equal(tb, wire.StateDesynced, d.State())
	var pe *wire.ProtocolError
	if assert.ErrorAs(tb, d.Err(), &pe) {
		assert.Same(tb, want, pe, "Err() returns the first error")
	}
	out := append([]byte{}, d.output()...)
	for _, op := range trEveryCall() {
		_, _, err := d.apply(op)
		var got *wire.ProtocolError
		if assert.ErrorAsf(tb, err, &got, "after desync, %s must return the stored error, got %v", trDescribe(op), err) {
			assert.Samef(tb, want, got, "after desync, %s returns the first error", trDescribe(op))
		}
	}
	assert.Equal(tb, out, append([]byte{}, d.output()...), "nothing is encoded after desync")
	_, _, err := d.apply(trOp{kind: trOpTerminate})
	assert.NoError(tb, err)
	assert.Equal(tb, wire.StateDesynced, d.State(), "Terminate does not leave the desynced state")
}

func TestTrackerLegalityMatrix(t *testing.T) {
	t.Parallel()
	cat := trCatalogue()
	for _, kind := range trDriverKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, st := range trMatrix() {
				t.Run(st.name, func(t *testing.T) {
					t.Parallel()
					for _, m := range cat {
						if !m.matrix {
							continue
						}
						t.Run(m.name, func(t *testing.T) {
							d := trNewDriver(kind, st.opts, cat)
							labels := trRun(t, d, st.setup)
							require.NoError(t, d.Err(), "setup of %s (%s)", st.name, st.rule)
							if _, ok := labels["head"]; !ok {
								labels["head"] = 0
							}
							before := d.State()
							_, ev, err := d.apply(trOp{kind: trOpRecv, msg: m.name})
							if st.discard {
								require.NoError(t, err, st.rule)
								assert.Equal(t, wire.Event{Discard: true}, ev, st.rule)
								assert.Equal(t, wire.StateTerminating, d.State(), st.rule)
								return
							}
							if out, ok := st.legal[m.name]; ok {
								require.NoErrorf(t, err, "legal by %s", st.rule)
								assert.Equalf(t, trEvent(t, out.ev, labels, ev), ev, "event; rule %s", st.rule)
								assert.Equalf(t, out.state, d.State(), "state; rule %s", st.rule)
								return
							}
							reason := st.reason
							if r, ok := st.except[m.name]; ok {
								reason = r
							}
							var pe *wire.ProtocolError
							require.ErrorAsf(t, err, &pe, "illegal by %s: want a *wire.ProtocolError, got %v", st.rule, err)
							assert.Equalf(t, reason, pe.Reason, "want %s by %s, got %v", reason, st.rule, pe)
							assert.Equal(t, trTypeOf(t, m.msg), pe.MsgType, "the error names the message type")
							assert.Equal(t, before, pe.State, "the error names the state the message arrived in")
							trAssertSticky(t, d, pe)
						})
					}
				})
			}
		})
	}
}

// TestTrackerAdmitAgreesWithReceive checks the Reader gate against the state
// machine: Admit never refuses a legal message, and when it refuses an
// illegal one it gives the Reason Receive would have given.
func TestTrackerAdmitAgreesWithReceive(t *testing.T) {
	t.Parallel()
	cat := trCatalogue()
	for _, st := range trMatrix() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			for _, m := range cat {
				if !m.matrix {
					continue
				}
				t.Run(m.name, func(t *testing.T) {
					d := trNewTrackerDriver(st.opts, cat)
					trRun(t, d, st.setup)
					require.NoError(t, d.Err())
					typ := trTypeOf(t, m.msg)
					pe := d.Admit(typ, 0)
					if _, legal := st.legal[m.name]; legal || st.discard {
						assert.Nilf(t, pe, "Admit refused a message that is legal by %s", st.rule)
						return
					}
					if pe == nil {
						return // Receive decides; the matrix test checks it
					}
					reason := st.reason
					if r, ok := st.except[m.name]; ok {
						reason = r
					}
					assert.Equalf(t, reason, pe.Reason, "Admit and Receive must agree (want %s by %s): %v", reason, st.rule, pe)
					assert.Equal(t, typ, pe.MsgType)
					assert.Equal(t, wire.StateDesynced, d.State())
					_, err := d.Receive(m.msg)
					var got *wire.ProtocolError
					require.ErrorAs(t, err, &got)
					assert.Same(t, pe, got)
				})
			}
		})
	}
}

func trRunTraces(t *testing.T, traces []trTrace) {
	cat := trCatalogue()
	for _, kind := range trDriverKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, tc := range traces {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					d := trNewDriver(kind, tc.opts, cat)
					trRun(t, d, tc.steps)
					assert.Equalf(t, tc.final, d.State(), "final state (%s)", tc.rule)
					if tc.tx != 0 {
						assert.Equalf(t, tc.tx, d.TxStatus(), "final transaction status (%s)", tc.rule)
					}
					if tc.final == wire.StateIdle {
						assert.Zero(t, d.Pending(), "nothing is pending in idle")
						assert.False(t, d.AwaitingSync())
					}
				})
			}
		})
	}
}

func TestTrackerWorkedTraces(t *testing.T) {
	t.Parallel()
	trRunTraces(t, trTraces())
}

func TestTrackerViolationsAndRefusals(t *testing.T) {
	t.Parallel()
	trRunTraces(t, trFailures())
}

// TestTrackerWatchedParameters covers §4.6: a watched ParameterStatus that
// leaves its safe value desynchronizes the session wherever it arrives;
// other parameters change freely.
func TestTrackerWatchedParameters(t *testing.T) {
	t.Parallel()
	busy := wire.StateBusy
	contexts := []struct {
		name  string
		steps []trStep
		state wire.State
		opts  wire.TrackerOptions
	}{
		{"idle", trIdle(), wire.StateIdle, tr30},
		{"simple query rows", trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy)), busy, tr30},
		{"extended execute", trIdle(trE("E", "", 0), trS("S"), trR(trDataRow, trOn("E"), busy)), busy, tr30},
		{"skip mode", trIdle(trP("P", "s1"), trR(trError, trFin("P"), busy)), busy, tr30},
		{"copy out", trIdle(trQ("Q"), trR(trCopyOut, trOn("Q"), wire.StateCopyOut)), wire.StateCopyOut, tr30},
		{"copy in", trIdle(trQ("Q"), trR(trCopyIn, trOn("Q"), wire.StateCopyIn)), wire.StateCopyIn, tr30},
		{"copy both", trIdle(trQ("Q"), trR(trCopyBoth, trOn("Q"), wire.StateCopyBoth)), wire.StateCopyBoth, trRepl},
	}
	cases := []struct {
		name   string
		msgs   []string    // received in order
		reason wire.Reason // for the last message; 0 = all accepted
	}{
		{"client_encoding changes", []string{trClientEncLatin}, wire.ReasonParameterChange},
		{"client_encoding repeated", []string{trClientEncUTF8}, 0},
		{"server_encoding changes", []string{trServerEncASCII}, wire.ReasonParameterChange},
		{"server_encoding repeated", []string{trServerEncUTF8}, 0},
		{"standard_conforming_strings off", []string{trSCSOff}, wire.ReasonParameterChange},
		{"standard_conforming_strings on", []string{trSCSOn}, 0},
		{"integer_datetimes off", []string{trIDTOff}, wire.ReasonParameterChange},
		{"integer_datetimes on", []string{trIDTOn}, 0},
		{"server_version changes", []string{trServerVer17}, wire.ReasonParameterChange},
		{"server_version repeated", []string{trServerVer18}, 0},
		{"TimeZone changes freely", []string{trTimeZone, trTimeZone2, trTimeZone}, 0},
		{"in_hot_standby flips freely", []string{trHotStandby, trHotStandbyOff, trHotStandby}, 0},
		{"application_name changes freely", []string{trParam, trParam}, 0},
	}
	cat := trCatalogue()
	for _, kind := range trDriverKinds {
		for _, cx := range contexts {
			for _, tc := range cases {
				t.Run(kind+"/"+cx.name+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					d := trNewDriver(kind, cx.opts, cat)
					steps := append([]trStep(nil), cx.steps...)
					for i, m := range tc.msgs {
						if i == len(tc.msgs)-1 && tc.reason != 0 {
							steps = append(steps, trRErr(m, tc.reason))
						} else {
							steps = append(steps, trR(m, trAsyncEv, cx.state))
						}
					}
					trRun(t, d, steps)
					if tc.reason == 0 {
						assert.Equal(t, cx.state, d.State())
						assert.NoError(t, d.Err())
					}
				})
			}
		}
	}
	t.Run("server_encoding reported first while awaiting ready", func(t *testing.T) {
		t.Parallel()
		for _, kind := range trDriverKinds {
			d := trNewDriver(kind, tr30, cat)
			trRun(t, d, []trStep{
				trStartup(), trR(trAuthOk, trQuiet, wire.StateAwaitReady),
				trR(trServerEncASCII, trAsyncEv, wire.StateAwaitReady),
				trR(trClientEncUTF8, trAsyncEv, wire.StateAwaitReady),
				trR(trReadyI, trEv{done: true}, wire.StateIdle),
				trRErr(trServerEncUTF8, wire.ReasonParameterChange),
			})
		}
	})
}

// TestTrackerDataRow covers the row checks of §2.5 (Execute), §2.6 (Q.Rows)
// and §4.5 (text values).
func TestTrackerDataRow(t *testing.T) {
	t.Parallel()
	busy, idle := wire.StateBusy, wire.StateIdle
	skipValues := wire.TrackerOptions{SkipValueValidation: true}
	// described: s1 is described as returning one text column.
	described := func(steps ...trStep) []trStep {
		return trIdle(append([]trStep{
			trP("P", "s1"), trDS("DS", "s1"), trS("S0"),
			trR(trParseComplete, trFin("P"), busy), trR(trParamDesc, trOn("DS"), busy),
			trR(trRowDesc, trFin("DS"), busy), trR(trReadyI, trFin("S0"), idle),
		}, steps...)...)
	}
	cases := []trTrace{
		{name: "simple: fewer fields than the row description", rule: "§2.6 Q.Rows: D with exactly nf fields",
			steps: trIdle(trQ("Q"), trR(trRowDesc2, trOn("Q"), busy), trRErr(trDataRow, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "simple: more fields than the row description", rule: "§2.6 Q.Rows",
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trRErr(trDataRow2, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "simple: zero-column rows", rule: "§2.6: nf = 0 is legal",
			steps: trIdle(trQ("Q"), trR(trRowDesc0, trOn("Q"), busy), trR(trDataRow0, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy), trR(trReadyI, trFin("Q"), idle)), final: idle},
		{name: "simple: DataRow before RowDescription", rule: "§2.6 violations: D in Q.Start",
			steps: trIdle(trQ("Q"), trRErr(trDataRow, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "extended: described statement, wrong field count", rule: "§2.5 Execute: field count = known column count",
			steps: described(trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRow2, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "extended: undescribed portal, the first row fixes the count", rule: "§2.5 Execute: field count is constant",
			steps: trIdle(trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trDataRow, trOn("E"), busy), trRErr(trDataRow2, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "extended: per-column result formats fix the count", rule: "§1.3 Bind result formats: one per column when more than one",
			steps: trIdle(trBf("B", "", "s1", 3), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRow3, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "extended: a suspended portal keeps its column count", rule: "§2.5 Execute: field count = known column count; G9",
			steps: trIdle(trQ("Q"), trR(trBegin, trOn("Q"), busy), trR(trReadyT, trFin("Q"), idle),
				trB("B", "p1", "s1"), trE("E1", "p1", 1), trS("S1"),
				trR(trBindComplete, trFin("B"), busy), trR(trDataRow, trOn("E1"), busy), trR(trSuspended, trFin("E1"), busy),
				trR(trReadyT, trFin("S1"), idle),
				trE("E2", "p1", 1), trS("S2"), trRErr(trDataRow2, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "simple: NUL byte in a text value", rule: "§4.5: text values never hold NUL",
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trRErr(trDataRowNUL, wire.ReasonNULInText)), final: wire.StateDesynced},
		{name: "simple: invalid UTF-8 in a text value", rule: "§4.6: the session is UTF8",
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trRErr(trDataRowBad, wire.ReasonInvalidUTF8)), final: wire.StateDesynced},
		{name: "simple: invalid UTF-8 in the text column of a mixed row", rule: "§4.6",
			steps: trIdle(trQ("Q"), trR(trRowDesc2Text, trOn("Q"), busy), trRErr(trDataRow2Bad, wire.ReasonInvalidUTF8)), final: wire.StateDesynced},
		{name: "simple: the same bytes in binary columns", rule: "binary values are not text",
			steps: trIdle(trQ("Q"), trR(trRowDescBin, trOn("Q"), busy), trR(trDataRowNUL, trOn("Q"), busy), trR(trDataRowBad, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy), trR(trRowDesc2, trOn("Q"), busy), trR(trDataRow2Bad, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy), trR(trReadyI, trFin("Q"), idle)), final: idle},
		{name: "simple: NULL in a text column", rule: "a NULL has no bytes to check",
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trR(trDataRowNULL, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy), trR(trReadyI, trFin("Q"), idle)), final: idle},
		{name: "SkipValueValidation accepts invalid text values", rule: "TrackerOptions.SkipValueValidation", opts: skipValues,
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trR(trDataRowNUL, trOn("Q"), busy), trR(trDataRowBad, trOn("Q"), busy),
				trR(trSelect1, trOn("Q"), busy), trR(trReadyI, trFin("Q"), idle)), final: idle},
		{name: "SkipValueValidation still checks the field count", rule: "§2.6 Q.Rows", opts: skipValues,
			steps: trIdle(trQ("Q"), trR(trRowDesc, trOn("Q"), busy), trRErr(trDataRow2, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "extended: NUL in a text result (all text)", rule: "§4.5",
			steps: trIdle(trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRowNUL, wire.ReasonNULInText)), final: wire.StateDesynced},
		{name: "extended: invalid UTF-8 in a text result (format {0})", rule: "§4.6",
			steps: trIdle(trBf("B", "", "s1", 1), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRowBad, wire.ReasonInvalidUTF8)), final: wire.StateDesynced},
		{name: "extended: binary result format {1} accepts any bytes", rule: "binary values are not text",
			steps: trIdle(trBf("B", "", "s1", 2), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trDataRowNUL, trOn("E"), busy), trR(trDataRowBad, trOn("E"), busy), trR(trSelect1, trFin("E"), busy),
				trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "extended: per-column formats {0,1}, bad bytes in the binary column", rule: "§1.3 Bind result formats",
			steps: trIdle(trBf("B", "", "s1", 3), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trDataRow2Bad, trOn("E"), busy), trR(trSelect1, trFin("E"), busy), trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "extended: per-column formats {0,1}, NUL in the text column", rule: "§4.5",
			steps: trIdle(trBf("B", "", "s1", 3), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRow2NUL0, wire.ReasonNULInText)), final: wire.StateDesynced},
		{name: "row limit: PortalSuspended after exactly m rows", rule: "G9",
			steps: trIdle(trE("E", "", 2), trS("S"), trR(trDataRow, trOn("E"), busy), trR(trDataRow, trOn("E"), busy),
				trR(trSuspended, trFin("E"), busy), trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "row limit: more than m rows", rule: "§2.5 Execute(m): never more than m D",
			steps: trIdle(trE("E", "", 2), trS("S"), trR(trDataRow, trOn("E"), busy), trR(trDataRow, trOn("E"), busy),
				trRErr(trDataRow, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "row limit: PortalSuspended before m rows", rule: "§2.5 Execute(m): s only after exactly m D",
			steps: trIdle(trE("E", "", 2), trS("S"), trR(trDataRow, trOn("E"), busy), trRErr(trSuspended, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "row limit: PortalSuspended without a limit", rule: "§2.5 Execute: s only if m > 0",
			steps: trIdle(trE("E", "", 0), trS("S"), trR(trDataRow, trOn("E"), busy), trRErr(trSuspended, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "row limit: fewer rows then CommandComplete", rule: "G9: the portal ran out",
			steps: trIdle(trE("E", "", 5), trS("S"), trR(trDataRow, trOn("E"), busy), trR(trSelect1, trFin("E"), busy),
				trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "portal described as NoData, then a DataRow", rule: "§2.5 Execute: D only if the portal returns rows",
			steps: trIdle(trB("B", "", "s1"), trDP("D", ""), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trNoData, trFin("D"), busy), trRErr(trDataRow, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "statement described as NoData, then a DataRow from its portal", rule: "§2.5 Describe S: remember the shape",
			steps: trIdle(trP("P", "s1"), trDS("DS", "s1"), trS("S0"), trR(trParseComplete, trFin("P"), busy),
				trR(trParamDesc, trOn("DS"), busy), trR(trNoData, trFin("DS"), busy), trR(trReadyI, trFin("S0"), idle),
				trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trDataRow, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "EmptyQueryResponse for a portal known to return rows", rule: "§2.5 Execute: I only for an empty statement",
			steps: described(trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trEmpty, wire.ReasonUnexpectedMessage)), final: wire.StateDesynced},
		{name: "Describe S reports a binary column", rule: "§2.5 Describe S: T formats all 0",
			steps: trIdle(trDS("D", "s1"), trS("S"), trR(trParamDesc, trOn("D"), busy), trRErr(trRowDescBin, wire.ReasonInvalidValue)), final: wire.StateDesynced},
		{name: "Describe P agrees with one binary format for all", rule: "§2.5 Describe P: T formats = Bind result formats",
			steps: trIdle(trBf("B", "", "s1", 2), trDP("D", ""), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trRowDescBin, trFin("D"), busy), trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "Describe P reports text where Bind asked for binary", rule: "§2.5 Describe P",
			steps: trIdle(trBf("B", "", "s1", 2), trDP("D", ""), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trRowDesc2, wire.ReasonInvalidValue)), final: wire.StateDesynced},
		{name: "Describe P reports binary where Bind asked for text", rule: "§2.5 Describe P",
			steps: trIdle(trB("B", "", "s1"), trDP("D", ""), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trRowDescBin, wire.ReasonInvalidValue)), final: wire.StateDesynced},
		{name: "Describe P agrees with per-column formats", rule: "§2.5 Describe P",
			steps: trIdle(trBf("B", "", "s1", 3), trDP("D", ""), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trRowDesc2, trFin("D"), busy), trR(trDataRow2Bad, trOn("E"), busy), trR(trSelect1, trFin("E"), busy),
				trR(trReadyI, trFin("S"), idle)), final: idle},
		{name: "Describe P column count differs from per-column formats", rule: "§2.5 Describe P",
			steps: trIdle(trBf("B", "", "s1", 3), trDP("D", ""), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trRErr(trRowDesc, wire.ReasonFieldCountMismatch)), final: wire.StateDesynced},
		{name: "DISCARD ALL forgets statement shapes", rule: "G16: DISCARD ALL run as SQL drops client caches",
			steps: described(trQ("Q"), trR(trDiscardAll, trOn("Q"), busy), trR(trReadyI, trFin("Q"), idle),
				trB("B", "", "s1"), trE("E", "", 0), trS("S"), trR(trBindComplete, trFin("B"), busy),
				trR(trDataRow2, trOn("E"), busy), trR(trSelect1, trFin("E"), busy), trR(trReadyI, trFin("S"), idle)), final: idle},
	}
	trRunTraces(t, cases)
}

// TestTrackerDesyncedRefusesEverything checks that after a violation even a
// call with invalid arguments reports the stored error rather than an
// *InputError (which would claim the connection is still usable).
func TestTrackerDesyncedRefusesEverything(t *testing.T) {
	t.Parallel()
	cat := trCatalogue()
	d := trNewTrackerDriver(tr30, cat)
	trRun(t, d, trIdle(trRErr(trDataRow, wire.ReasonUnexpectedMessage)))
	var want *wire.ProtocolError
	require.ErrorAs(t, d.Err(), &want)
	calls := []struct {
		name string
		call func() error
	}{
		{"Close with kind X", func() error { _, err := d.SendClose('X', "s1"); return err }},
		{"Bind with result format 2", func() error { _, err := d.SendBind("", "s1", []int16{2}); return err }},
		{"Execute with a negative limit", func() error { _, err := d.SendExecute("", -1); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Same(t, want, pe)
		})
	}
}

// TestTrackerCloseRefusesUnknownKind checks SendClose's argument check.
func TestTrackerCloseRefusesUnknownKind(t *testing.T) {
	t.Parallel()
	d := trNewTrackerDriver(tr30, trCatalogue())
	trRun(t, d, trIdleSteps())
	before := trSnap(d)
	_, err := d.SendClose('X', "s1")
	var ie *wire.InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, before, trSnap(d))
	seq, err := d.SendClose('P', "p1")
	require.NoError(t, err)
	assert.NotZero(t, seq)
}

// TestTrackerDesyncKeepsFirstError checks Desync: the first cause wins.
func TestTrackerDesyncKeepsFirstError(t *testing.T) {
	t.Parallel()
	tr := wire.NewTracker(wire.TrackerOptions{})
	first := tr.Desync(wire.ReasonLSNBackwards, 'd', "went back")
	require.NotNil(t, first)
	assert.Equal(t, wire.ReasonLSNBackwards, first.Reason)
	assert.Equal(t, wire.StateNew, first.State)
	assert.Equal(t, wire.StateDesynced, tr.State())
	second := tr.Desync(wire.ReasonReplicationState, 0, "again")
	assert.Same(t, first, second)
	assert.True(t, errors.Is(tr.Err(), first))
	assert.True(t, tr.State().Terminal())
}

// TestTrackerNew checks the zero options.
func TestTrackerNew(t *testing.T) {
	t.Parallel()
	tr := wire.NewTracker(wire.TrackerOptions{})
	assert.Equal(t, wire.StateNew, tr.State())
	assert.Equal(t, uint32(wire.ProtocolVersion30), tr.ProtocolVersion())
	assert.Zero(t, tr.Pending())
	assert.Zero(t, tr.TxStatus())
	assert.NoError(t, tr.Err())
	assert.False(t, tr.AwaitingSync())
	assert.Equal(t, uint32(wire.ProtocolVersion32), wire.NewTracker(tr32).ProtocolVersion())
}

// TestTrackerSequenceNumbers checks that every request gets the next number
// and that the queue compacts without renumbering.
func TestTrackerSequenceNumbers(t *testing.T) {
	t.Parallel()
	d := trNewTrackerDriver(tr30, trCatalogue())
	trRun(t, d, trIdleSteps())
	var last uint64
	for round := range 50 {
		seqs := make([]uint64, 0, 3)
		for _, op := range []trOp{{kind: trOpParse, name: "s1"}, {kind: trOpExec}, {kind: trOpSync}} {
			seq, _, err := d.apply(op)
			require.NoError(t, err)
			require.Greater(t, seq, last, "round %d", round)
			last = seq
			seqs = append(seqs, seq)
		}
		require.Equal(t, 3, d.Pending())
		for i, m := range []string{trParseComplete, trSelect1, trReadyI} {
			ev, err := d.Receive(d.msgs[m])
			require.NoError(t, err)
			assert.Equal(t, wire.Event{Seq: seqs[i], Done: true}, ev)
		}
		require.Equal(t, wire.StateIdle, d.State())
	}
}

// TestTrackerBackendKeyDataLength covers the cancel key length rule: exactly
// 4 bytes under protocol 3.0, 4 to 256 under 3.2 (§0, §1.1, §5.6).
func TestTrackerBackendKeyDataLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    wire.TrackerOptions // requested version
		npv     bool                // the server downgrades 3.2 to 3.0 first
		keyLen  int
		wantErr bool
	}{
		{"3.0, 4 bytes", tr30, false, 4, false},
		{"3.0, 3 bytes", tr30, false, 3, true},
		{"3.0, 5 bytes", tr30, false, 5, true},
		{"3.0, 32 bytes", tr30, false, 32, true},
		{"3.2, 3 bytes", tr32, false, 3, true},
		{"3.2, 4 bytes", tr32, false, 4, false},
		{"3.2, 32 bytes", tr32, false, 32, false},
		{"3.2, 256 bytes", tr32, false, 256, false},
		{"3.2, 257 bytes", tr32, false, 257, true},
		{"3.2 downgraded to 3.0, 4 bytes", tr32, true, 4, false},
		{"3.2 downgraded to 3.0, 32 bytes", tr32, true, 32, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := trNewTrackerDriver(tc.opts, trCatalogue())
			steps := []trStep{trStartup()}
			if tc.npv {
				steps = append(steps, trR(trNPV30, trQuiet, wire.StateAuthStart))
			}
			steps = append(steps, trR(trAuthOk, trQuiet, wire.StateAwaitReady))
			trRun(t, d, steps)
			ev, err := d.Receive(&pgproto3.BackendKeyData{ProcessID: 9, SecretKey: make([]byte, tc.keyLen)})
			if !tc.wantErr {
				require.NoError(t, err)
				assert.Equal(t, wire.Event{}, ev)
				assert.Equal(t, wire.StateAwaitReady, d.State())
				return
			}
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, wire.ReasonProtocolVersion, pe.Reason)
			assert.Equal(t, byte('K'), pe.MsgType)
			trAssertSticky(t, d, pe)
		})
	}
}
