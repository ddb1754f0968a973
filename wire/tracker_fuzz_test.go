package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// fuzzReporter is the part of *testing.T and *testing.F the helpers of this
// file use. They take it rather than testing.TB because ClusterFuzzLite's
// go-118-fuzz-build compiles this file against its own "testing" shim,
// which has no TB; its T and F have these methods (.clusterfuzzlite/build.sh).
type fuzzReporter interface {
	Helper()
	Fatalf(format string, args ...any)
}

// FuzzTracker drives a Tracker, and a Frontend in lockstep, with a sequence
// of operations decoded from the input: the first byte selects the options,
// then each byte below 0x80 is a Send call (with parameters from the bytes
// after it, see trDecoder) and each byte from 0x80 feeds catalogue message
// b&0x7f. Properties:
//   - no panic;
//   - every error is an *InputError or a *ProtocolError; an *InputError
//     changes nothing; after the first *ProtocolError the Tracker stays
//     desynced and every later call returns that same error (pointer);
//   - State() is always a defined state, Pending() ≥ 0, and in idle
//     Pending() == 0 and TxStatus ∈ {I, T, E};
//   - idle is entered, and the transaction status changes, only on a
//     ReadyForQuery (§2.4, G15);
//   - sequence numbers grow, Events name issued requests, Done events come
//     in request order (G1), async events carry no request;
//   - the Frontend (framing, strict decoding, Admit gate, encoders) agrees
//     with the bare Tracker on every Event, sequence number, error class and
//     state.
func FuzzTracker(f *testing.F) {
	cat := trCatalogue()
	idx := trCatalogueIndex(cat)
	msgs := trMessages(cat)
	// Seeds: the worked traces, the violation tables and the matrix setups.
	for _, tc := range append(trTraces(), trFailures()...) {
		if b, err := trEncode(tc.opts, tc.steps, idx); err == nil {
			f.Add(b)
		}
	}
	for _, st := range trMatrix() {
		if b, err := trEncode(st.opts, st.setup, idx); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		opts := trOptionsFrom(data[0])
		dec := trDecoder{data: data[1:], cat: cat}
		tr := &trTrackerDriver{Tracker: wire.NewTracker(opts), msgs: msgs}
		fe := trFrontendDriverWith(opts, msgs)
		var first *wire.ProtocolError
		var maxSeq, lastDone uint64
		for step := 0; ; step++ {
			op, ok := dec.next()
			if !ok {
				return
			}
			before := trSnap(tr)
			seq, ev, err := tr.apply(op)
			fseq, fev, ferr := fe.apply(op)
			what := trDescribe(op)

			// The Frontend agrees with the Tracker.
			if seq != fseq || ev != fev || trErrClass(err) != trErrClass(ferr) || tr.State() != fe.State() ||
				tr.Pending() != fe.Pending() || tr.TxStatus() != fe.TxStatus() {
				t.Fatalf("step %d %s: tracker (%d, %+v, %v, %s) and frontend (%d, %+v, %v, %s) disagree",
					step, what, seq, ev, err, tr.State(), fseq, fev, ferr, fe.State())
			}

			var pe *wire.ProtocolError
			var ie *wire.InputError
			switch {
			case err == nil:
			case errors.As(err, &pe):
				if first == nil {
					first = pe
				} else if pe != first {
					t.Fatalf("step %d %s: a second ProtocolError %v after %v", step, what, pe, first)
				}
			case errors.As(err, &ie):
				if first != nil {
					t.Fatalf("step %d %s: InputError %v after desync by %v", step, what, ie, first)
				}
				if after := trSnap(tr); !trSameSnapshot(before, after) {
					t.Fatalf("step %d %s: refused call changed the tracker: %+v → %+v", step, what, before, after)
				}
			case errors.Is(err, wire.ErrSessionEnded):
				if st := tr.State(); st != wire.StateClosed && st != wire.StateTerminating {
					t.Fatalf("step %d %s: ErrSessionEnded in state %s", step, what, st)
				}
			default:
				t.Fatalf("step %d %s: error of type %T: %v", step, what, err, err)
			}
			if first != nil {
				if op.kind != trOpTerminate && err == nil {
					t.Fatalf("step %d %s: succeeded after desync by %v", step, what, first)
				}
				if tr.State() != wire.StateDesynced || tr.Err() != error(first) {
					t.Fatalf("step %d %s: state %s, Err %v after desync by %v", step, what, tr.State(), tr.Err(), first)
				}
			}

			s := tr.State()
			isReady := op.kind == trOpRecv && strings.HasPrefix(op.msg, "ReadyForQuery")
			if s == wire.StateIdle && before.state != wire.StateIdle && !isReady {
				t.Fatalf("step %d %s: %s → idle without ReadyForQuery (§2.4)", step, what, before.state)
			}
			if tr.TxStatus() != before.tx && !isReady {
				t.Fatalf("step %d %s: transaction status %q → %q without ReadyForQuery (G15)", step, what, byte(before.tx), byte(tr.TxStatus()))
			}
			if s <= wire.StateUnknown || s > wire.StateDesynced {
				t.Fatalf("step %d %s: undefined state %d", step, what, s)
			}
			if tr.Pending() < 0 {
				t.Fatalf("step %d %s: Pending() = %d", step, what, tr.Pending())
			}
			if s == wire.StateIdle {
				if tr.Pending() != 0 {
					t.Fatalf("step %d %s: idle with %d pending", step, what, tr.Pending())
				}
				switch tr.TxStatus() {
				case wire.TxIdle, wire.TxInBlock, wire.TxFailed:
				default:
					t.Fatalf("step %d %s: idle with transaction status %q", step, what, byte(tr.TxStatus()))
				}
			}

			if seq != 0 {
				if seq <= maxSeq {
					t.Fatalf("step %d %s: sequence number %d after %d", step, what, seq, maxSeq)
				}
				maxSeq = seq
			}
			if ev.Seq > maxSeq {
				t.Fatalf("step %d %s: event for request %d, only %d issued", step, what, ev.Seq, maxSeq)
			}
			if ev.Async && (ev.Seq != 0 || ev.Done) {
				t.Fatalf("step %d %s: async event %+v", step, what, ev)
			}
			if ev.Done && ev.Seq != 0 {
				if ev.Seq <= lastDone {
					t.Fatalf("step %d %s: request %d done after request %d", step, what, ev.Seq, lastDone)
				}
				lastDone = ev.Seq + uint64(ev.Skipped)
			}
		}
	})
}

func trErrClass(err error) string {
	var pe *wire.ProtocolError
	var ie *wire.InputError
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &pe):
		return "protocol"
	case errors.As(err, &ie):
		return "input"
	}
	return "other"
}

func trSameSnapshot(a, b trSnapshot) bool {
	return a.state == b.state && a.tx == b.tx && a.pending == b.pending && a.awaitSync == b.awaitSync &&
		a.version == b.version && a.err == b.err && bytes.Equal(a.out, b.out)
}

// trScriptedClient answers a server stream the way a simple driver would,
// so that fuzzed streams reach every state: it answers authentication
// requests, sends the next batch of requests whenever the session is idle,
// finishes COPY IN and COPY BOTH, and sends the Sync a skip mode needs.
type trScriptedClient struct {
	batch int
}

func (c *trScriptedClient) react(t fuzzReporter, f *wire.Frontend, msg pgproto3.BackendMessage) {
	t.Helper()
	check := func(err error) {
		t.Helper()
		trCheckSendError(t, f, err)
	}
	seq := func(_ uint64, err error) { t.Helper(); check(err) }
	switch msg.(type) {
	case *pgproto3.AuthenticationCleartextPassword, *pgproto3.AuthenticationMD5Password:
		check(f.SendPassword("secret"))
	case *pgproto3.AuthenticationSASL:
		check(f.SendSASLInitialResponse("SCRAM-SHA-256", []byte("n,,n=,r=nonce")))
	case *pgproto3.AuthenticationSASLContinue:
		check(f.SendSASLResponse([]byte("c=biws,r=nonce,p=proof")))
	case *pgproto3.AuthenticationSASLFinal:
		check(f.SASLVerified())
	}
	switch f.State() {
	case wire.StateIdle:
		c.batch++
		switch c.batch % 8 {
		case 1:
			seq(f.SendQuery("select 1"))
		case 2:
			seq(f.SendParse("s1", "select $1::text", []uint32{25}))
			seq(f.SendDescribeStatement("s1"))
			seq(f.SendSync())
		case 3:
			seq(f.SendBind("", "s1", nil, [][]byte{[]byte("x")}, []int16{0}))
			seq(f.SendDescribePortal(""))
			seq(f.SendExecute("", 0))
			seq(f.SendSync())
		case 4:
			seq(f.SendParse("", "select 1", nil))
			seq(f.SendBind("p1", "", nil, nil, []int16{1}))
			seq(f.SendExecute("p1", 2))
			seq(f.SendExecute("p1", 2))
			seq(f.SendClose('P', "p1"))
			seq(f.SendSync())
		case 5:
			seq(f.SendQuery("copy t from stdin"))
			seq(f.SendQuery("select 2"))
		case 6:
			seq(f.SendParse("", "copy t from stdin", nil))
			seq(f.SendBind("", "", nil, nil, nil))
			seq(f.SendExecute("", 0))
			seq(f.SendSync())
		case 7:
			seq(f.SendClose('S', "s1"))
			check(f.SendFlush())
			seq(f.SendSync())
		case 0:
			f.SendTerminate()
		}
	case wire.StateCopyIn:
		check(f.SendCopyData([]byte("1\n")))
		check(f.SendCopyDone())
	case wire.StateCopyBoth:
		check(f.SendCopyData([]byte("r")))
		check(f.SendCopyDone())
	}
	if f.AwaitingSync() && (f.State() == wire.StateBusy || f.State() == wire.StateCopyIn) {
		seq(f.SendSync())
	}
}

// trCheckSendError allows a refusal (the script does not know every
// state) but no other error than the stored ProtocolError.
func trCheckSendError(t fuzzReporter, f *wire.Frontend, err error) {
	t.Helper()
	var pe *wire.ProtocolError
	var ie *wire.InputError
	switch {
	case err == nil, errors.As(err, &ie):
	case errors.As(err, &pe):
		if f.Err() != error(pe) {
			t.Fatalf("send returned %v, Err() is %v", pe, f.Err())
		}
	default:
		t.Fatalf("send error of type %T: %v", err, err)
	}
}

// trStreamSeeds are server streams for the scripted client: its startup
// and the replies to its first batches, in several variants.
func trStreamSeeds(tb fuzzReporter) [][]byte {
	tb.Helper()
	cat := trCatalogue()
	by := make(map[string]pgproto3.BackendMessage, len(cat))
	for _, m := range cat {
		by[m.name] = m.msg
	}
	enc := func(names ...string) []byte {
		var out []byte
		for _, n := range names {
			m, ok := by[n]
			if !ok {
				tb.Fatalf("no catalogue message %q", n)
			}
			var err error
			if out, err = m.Encode(out); err != nil {
				tb.Fatalf("encode %s: %v", n, err)
			}
		}
		return out
	}
	startup := []string{trAuthOk, trClientEncUTF8, trServerEncUTF8, trServerVer18, trSCSOn, trIDTOn, trKey4, trReadyI}
	batches := [][]string{
		{trRowDesc, trDataRow, trSelect1, trReadyI},
		{trParseComplete, trParamDesc, trRowDesc, trReadyI},
		{trBindComplete, trRowDesc, trDataRow, trDataRow, trSelect1, trReadyI},
		{trParseComplete, trBindComplete, trDataRow, trDataRow, trSuspended, trDataRow, trSelect1, trCloseComplete, trReadyT},
		{trCopyIn, trCopy2, trReadyI, trRowDesc, trDataRow, trSelect1, trReadyI},
		{trParseComplete, trBindComplete, trCopyIn, trCopy2, trReadyI},
		{trCloseComplete, trReadyI},
	}
	full := enc(startup...)
	var seeds [][]byte
	seeds = append(seeds, enc(startup...))
	for _, b := range batches {
		full = append(full, enc(b...)...)
		seeds = append(seeds, bytes.Clone(full))
	}
	seeds = append(seeds,
		enc(trAuthCleartext, trAuthOk, trClientEncUTF8, trReadyI),
		enc(trAuthMD5, trAuthOk, trClientEncUTF8, trKey4, trReadyI, trError, trReadyI),
		enc(trAuthSASL, trAuthSASLContinue, trAuthSASLFinal, trAuthOk, trClientEncUTF8, trReadyI),
		enc(trNPV30, trAuthOk, trClientEncUTF8, trKey4, trReadyI),
		enc(trAuthOk, trClientEncUTF8, trKey32, trReadyI, trCopyBoth, trCopyData, trCopyDone, trCopy0, trStartRepl, trReadyI),
		enc(trAuthOk, trClientEncUTF8, trReadyI, trFatal),
		enc(trAuthOk, trClientEncUTF8, trReadyI, trNotify, trNotice, trTimeZone, trClientEncLatin),
	)
	return seeds
}

// FuzzFrontendStream feeds raw bytes to a Frontend as the server's side of
// a session with a scripted client, reading until an error. Properties: no
// panic; every error is io.EOF or a *ProtocolError; io.EOF comes only in a
// state where the stream may end cleanly (then the session is closed); after
// a ProtocolError the Frontend is desynced, every later Receive returns the
// same error, its Offset lies inside the input, and nothing more is encoded.
func FuzzFrontendStream(f *testing.F) {
	for _, s := range trStreamSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fe := wire.NewFrontend(bytes.NewReader(data), wire.FrontendOptions{
			// Replication makes CopyBothResponse legal, so COPY BOTH is explored too.
			Tracker: wire.TrackerOptions{ProtocolVersion: wire.ProtocolVersion32, Replication: true},
			Reader:  wire.ReaderOptions{BufferSize: 64},
		})
		if err := fe.SendStartup(map[string]string{"user": "u", "database": "d", "client_encoding": "UTF8"}); err != nil {
			t.Fatalf("startup: %v", err)
		}
		var client trScriptedClient
		// Every message takes at least five bytes, so the loop ends.
		for i := 0; i <= len(data)/5+1; i++ {
			msg, ev, err := fe.Receive()
			if err != nil {
				trCheckStreamEnd(t, fe, err, int64(len(data)))
				return
			}
			if msg == nil {
				t.Fatalf("Receive returned no message and no error (event %+v)", ev)
			}
			s := fe.State()
			if s <= wire.StateUnknown || s > wire.StateDesynced || s == wire.StateDesynced {
				t.Fatalf("state %s after a successful Receive", s)
			}
			if fe.Pending() < 0 {
				t.Fatalf("Pending() = %d", fe.Pending())
			}
			if s == wire.StateIdle && fe.Pending() != 0 {
				t.Fatalf("idle with %d pending", fe.Pending())
			}
			if !ev.Discard {
				client.react(t, fe, msg)
			}
		}
		t.Fatalf("Receive did not stop after %d bytes", len(data))
	})
}

func trCheckStreamEnd(t fuzzReporter, fe *wire.Frontend, err error, size int64) {
	t.Helper()
	if err == io.EOF {
		if fe.State() != wire.StateClosed || fe.Err() != nil {
			t.Fatalf("io.EOF in state %s (Err %v)", fe.State(), fe.Err())
		}
		return
	}
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	if fe.State() != wire.StateDesynced || fe.Err() != error(pe) {
		t.Fatalf("after %v: state %s, Err %v", pe, fe.State(), fe.Err())
	}
	if pe.Offset < 0 || pe.Offset > size {
		t.Fatalf("offset %d outside the %d-byte input: %v", pe.Offset, size, pe)
	}
	out := append([]byte{}, fe.Output()...)
	for range 2 {
		_, _, again := fe.Receive()
		if again != error(pe) {
			t.Fatalf("Receive after %v returned %v", pe, again)
		}
		if _, serr := fe.SendQuery("select 1"); serr != error(pe) {
			t.Fatalf("SendQuery after %v returned %v", pe, serr)
		}
	}
	if !bytes.Equal(out, fe.Output()) {
		t.Fatalf("output grew after desync")
	}
}

// FuzzNextRow checks the fast paths, NextRow and NextCopyData, against
// Receive. Two Frontends with the same scripted client read the same server
// stream: one only with Receive, the other calling NextCopyData and NextRow
// before every Receive. Properties: a row NextRow returns is the DataRow
// Receive returns at that point, value for value (NULL kept apart from
// empty), and a payload NextCopyData returns is that of the CopyData
// Receive returns; when both decline, both
// Frontends then receive the same message or the same error (reason,
// message type, state and offset); after every step both are in the same
// state with the same number of pending requests. So NextRow never accepts
// what Receive refuses, never loses or reorders a message, and leaves the
// stream where Receive would. Each input runs once with NextRow and once
// with ReadRow, which also reads the rest of a row cut by the small buffer
// (the same properties hold, and a read error it meets is reported by the
// next Receive as the slow Frontend reports it); where the processor has
// AVX2, each of those with NextRow's register scan and with its Go loop.
func FuzzNextRow(f *testing.F) {
	for _, s := range trStreamSeeds(f) {
		f.Add(s, uint8(64))
	}
	for _, s := range trRowSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, bufSize uint8) {
		// Each input through NextRow and through ReadRow, and each of
		// those twice where the processor has NextRow's register scan:
		// with it, and with the Go column loop it replaces.
		for _, scan := range []bool{true, false} {
			restore, ok := wire.SetRowScan(scan)
			func() {
				defer restore()
				nextRowAgainstReceive(t, data, bufSize, false)
				nextRowAgainstReceive(t, data, bufSize, true)
			}()
			if !ok {
				break
			}
		}
	})
}

// nextRowAgainstReceive is one run of FuzzNextRow; read selects ReadRow
// instead of NextRow. ReadRow reads the rest of a row cut by the small
// buffer, and meets the end of data inside a truncated row: the Receive
// after it must report the truncation as the slow Frontend does.
func nextRowAgainstReceive(t *testing.T, data []byte, bufSize uint8, read bool) {
	opts := wire.FrontendOptions{
		Tracker: wire.TrackerOptions{ProtocolVersion: wire.ProtocolVersion32, Replication: true},
		// Small buffers make rows straddle reads, so NextRow often
		// finds only part of a message.
		Reader: wire.ReaderOptions{BufferSize: 16 + int(bufSize)},
	}
	slow := wire.NewFrontend(bytes.NewReader(data), opts)
	fast := wire.NewFrontend(bytes.NewReader(data), opts)
	params := map[string]string{"user": "u", "database": "d", "client_encoding": "UTF8"}
	if err := slow.SendStartup(params); err != nil {
		t.Fatalf("startup: %v", err)
	}
	if err := fast.SendStartup(params); err != nil {
		t.Fatalf("startup: %v", err)
	}
	// The StartupMessage lists the map in random order: compare what
	// is sent after it.
	slow.ResetOutput()
	fast.ResetOutput()
	var slowClient, fastClient trScriptedClient
	for i := 0; i <= len(data)/5+1; i++ {
		want, wantEv, wantErr := slow.Receive()
		if data, ok := fast.NextCopyData(); ok {
			cd, isData := want.(*pgproto3.CopyData)
			if wantErr != nil || !isData || wantEv.Async || wantEv.Discard {
				t.Fatalf("step %d: NextCopyData returned data, Receive returned %T (%+v), %v", i, want, wantEv, wantErr)
			}
			if !bytes.Equal(data, cd.Data) {
				t.Fatalf("step %d: NextCopyData returned %q, Receive %q", i, data, cd.Data)
			}
			slowClient.react(t, slow, want)
			fastClient.react(t, fast, want)
			trSameFrontends(t, i, slow, fast)
			continue
		}
		next := fast.NextRow
		if read {
			next = fast.ReadRow
		}
		if vals, ok := next(); ok {
			row, isRow := want.(*pgproto3.DataRow)
			if wantErr != nil || !isRow || wantEv.Async || wantEv.Discard {
				t.Fatalf("step %d: NextRow (read %t) returned a row, Receive returned %T (%+v), %v", i, read, want, wantEv, wantErr)
			}
			trSameValues(t, i, vals, row.Values)
			slowClient.react(t, slow, want)
			fastClient.react(t, fast, want)
			trSameFrontends(t, i, slow, fast)
			continue
		}
		got, gotEv, gotErr := fast.Receive()
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("step %d: Receive errors differ: %v and %v", i, wantErr, gotErr)
		}
		if wantErr != nil {
			trSameErrors(t, i, wantErr, gotErr)
			return
		}
		if wantEv != gotEv {
			t.Fatalf("step %d: events differ: %+v and %+v", i, wantEv, gotEv)
		}
		trSameMessages(t, i, want, got)
		if !wantEv.Discard {
			slowClient.react(t, slow, want)
			fastClient.react(t, fast, got)
		}
		trSameFrontends(t, i, slow, fast)
	}
	t.Fatalf("Receive did not stop after %d bytes", len(data))
}

// trSameMessages fails unless want and got are the same message. An
// ErrorResponse or NoticeResponse keeps its unknown fields in a map, which
// Encode writes in random order: those are compared by value.
func trSameMessages(t fuzzReporter, step int, want, got pgproto3.BackendMessage) {
	t.Helper()
	wb, err1 := want.Encode(nil)
	gb, err2 := got.Encode(nil)
	if err1 != nil || err2 != nil {
		t.Fatalf("step %d: messages do not encode: %v, %v", step, err1, err2)
	}
	switch want.(type) {
	case *pgproto3.ErrorResponse, *pgproto3.NoticeResponse:
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("step %d: messages differ:\n%+v\n%+v", step, want, got)
		}
		return
	}
	if !bytes.Equal(wb, gb) {
		t.Fatalf("step %d: messages differ: %T %q and %T %q", step, want, wb, got, gb)
	}
}

func trSameValues(t fuzzReporter, step int, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("step %d: NextRow returned %d values, Receive %d", step, len(got), len(want))
	}
	for i := range got {
		if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
			t.Fatalf("step %d: value %d is %q (nil %v) by NextRow, %q (nil %v) by Receive",
				step, i, got[i], got[i] == nil, want[i], want[i] == nil)
		}
	}
}

func trSameErrors(t fuzzReporter, step int, want, got error) {
	t.Helper()
	var wpe, gpe *wire.ProtocolError
	if errors.As(want, &wpe) != errors.As(got, &gpe) {
		t.Fatalf("step %d: error classes differ: %v and %v", step, want, got)
	}
	if wpe == nil {
		if want != got {
			t.Fatalf("step %d: errors differ: %v and %v", step, want, got)
		}
		return
	}
	if wpe.Reason != gpe.Reason || wpe.MsgType != gpe.MsgType || wpe.State != gpe.State || wpe.Offset != gpe.Offset {
		t.Fatalf("step %d: protocol errors differ:\n%v (offset %d)\n%v (offset %d)", step, wpe, wpe.Offset, gpe, gpe.Offset)
	}
}

func trSameFrontends(t fuzzReporter, step int, slow, fast *wire.Frontend) {
	t.Helper()
	if slow.State() != fast.State() || slow.Pending() != fast.Pending() || slow.TxStatus() != fast.TxStatus() ||
		slow.Buffered() != fast.Buffered() || !bytes.Equal(slow.Output(), fast.Output()) {
		t.Fatalf("step %d: frontends differ: state %s/%s, pending %d/%d, tx %c/%c, buffered %d/%d, output %d/%d bytes",
			step, slow.State(), fast.State(), slow.Pending(), fast.Pending(), slow.TxStatus(), fast.TxStatus(),
			slow.Buffered(), fast.Buffered(), len(slow.Output()), len(fast.Output()))
	}
}

// trRowSeeds are sessions whose replies are mostly rows: long runs of
// valid rows (text and binary columns, NULLs, empty values, multi-byte
// UTF-8, values of every length around the validation steps), then one bad
// row of each kind the fast path must hand back to Receive.
func trRowSeeds(tb fuzzReporter) [][]byte {
	tb.Helper()
	enc := func(msgs ...pgproto3.BackendMessage) []byte {
		var out []byte
		for _, m := range msgs {
			var err error
			if out, err = m.Encode(out); err != nil {
				tb.Fatalf("encode %T: %v", m, err)
			}
		}
		return out
	}
	startup := enc(&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.ParameterStatus{Name: "server_encoding", Value: "UTF8"},
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	desc := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("a"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
		{Name: []byte("b"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
	}}
	var rows []pgproto3.BackendMessage
	for n := 0; n <= 40; n++ {
		v := bytes.Repeat([]byte("y"), n)
		rows = append(rows, &pgproto3.DataRow{Values: [][]byte{v, nil}})
		if n >= 2 {
			rows = append(rows, &pgproto3.DataRow{Values: [][]byte{append([]byte("é"), v[2:]...), []byte("€")}})
		}
	}
	good := enc(append(append([]pgproto3.BackendMessage{desc}, rows...),
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})...)
	var seeds [][]byte
	seeds = append(seeds, append(bytes.Clone(startup), good...))
	bad := [][][]byte{
		{[]byte("ok"), []byte("nul\x00inside a long enough value")},
		{[]byte("ok"), []byte("bad utf8 \xc3( in a long enough value")},
		{[]byte("\xff")},
		{[]byte("a"), []byte("b"), []byte("c")},
	}
	for _, vals := range bad {
		s := append(bytes.Clone(startup), enc(desc, rows[3], rows[4], rows[5], &pgproto3.DataRow{Values: vals},
			&pgproto3.CommandComplete{CommandTag: []byte("SELECT 4")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})...)
		seeds = append(seeds, s)
	}
	// A DataRow whose length word disagrees with its values.
	trunc := enc(desc, rows[3], rows[4], rows[5], rows[6])
	trunc[len(trunc)-1-len(rows[6].(*pgproto3.DataRow).Values[0])-4-4] ^= 0x01
	seeds = append(seeds, append(bytes.Clone(startup), trunc...))
	return seeds
}
