package conn_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// The legality matrix of protocol.md §2.9, cell by cell: every message that
// is not legal in a state the connection can be in is sent in that state,
// well-formed, and must desynchronize the connection (or fail the
// connection attempt, during startup). The states are set up by a fake
// server script that leads the client there; the cells are one line each.

// Names of the well-formed backend messages the matrix sends.
const (
	mAuthOk       = "R/0 AuthenticationOk"
	mAuthClear    = "R/3 AuthenticationCleartextPassword"
	mAuthMD5      = "R/5 AuthenticationMD5Password"
	mAuthGSS      = "R/7 AuthenticationGSS"
	mAuthGSSCont  = "R/8 AuthenticationGSSContinue"
	mAuthSASL     = "R/10 AuthenticationSASL"
	mAuthSASLCont = "R/11 AuthenticationSASLContinue"
	mAuthSASLFin  = "R/12 AuthenticationSASLFinal"
	mNPV          = "v NegotiateProtocolVersion"
	mKey          = "K BackendKeyData"
	mReady        = "Z ReadyForQuery(I)"
	mReadyT       = "Z ReadyForQuery(T)"
	mError        = "E ErrorResponse(ERROR)"
	mRowDesc      = "T RowDescription"
	mDataRow      = "D DataRow"
	mDataRow2     = "D DataRow(2 columns)"
	mComplete     = "C CommandComplete"
	mEmpty        = "I EmptyQueryResponse"
	mParseOk      = "1 ParseComplete"
	mBindOk       = "2 BindComplete"
	mCloseOk      = "3 CloseComplete"
	mParamDesc    = "t ParameterDescription"
	mNoData       = "n NoData"
	mSuspended    = "s PortalSuspended"
	mCopyIn       = "G CopyInResponse"
	mCopyOut      = "H CopyOutResponse"
	mCopyBoth     = "W CopyBothResponse"
	mCopyData     = "d CopyData"
	mCopyDone     = "c CopyDone"
	mFnResult     = "V FunctionCallResponse"
	mParam        = "S ParameterStatus"
	mNotice       = "N NoticeResponse"
	mNotify       = "A NotificationResponse"
)

// faultCatalogue returns the encoding of each matrix message.
func faultCatalogue(tb testing.TB) map[string][]byte {
	tb.Helper()
	msgs := map[string]pgproto3.BackendMessage{
		mAuthOk:       &pgproto3.AuthenticationOk{},
		mAuthClear:    &pgproto3.AuthenticationCleartextPassword{},
		mAuthMD5:      &pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}},
		mAuthGSS:      &pgproto3.AuthenticationGSS{},
		mAuthGSSCont:  &pgproto3.AuthenticationGSSContinue{Data: []byte("token")},
		mAuthSASL:     &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}},
		mAuthSASLCont: &pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=c2FsdA==,i=4096")},
		mAuthSASLFin:  &pgproto3.AuthenticationSASLFinal{Data: []byte("v=c2lnbmF0dXJl")},
		mNPV:          &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30},
		mKey:          &pgproto3.BackendKeyData{ProcessID: 7, SecretKey: []byte{9, 9, 9, 9}},
		mReady:        fmReady('I'),
		mReadyT:       fmReady('T'),
		mError:        fmErr("ERROR", "42000", "boom"),
		mRowDesc:      fmRowDesc("c"),
		mDataRow:      fmDataRow("x"),
		mDataRow2:     fmDataRow("x", "y"),
		mComplete:     fmCmd("SELECT 1"),
		mEmpty:        &pgproto3.EmptyQueryResponse{},
		mParseOk:      &pgproto3.ParseComplete{},
		mBindOk:       &pgproto3.BindComplete{},
		mCloseOk:      &pgproto3.CloseComplete{},
		mParamDesc:    &pgproto3.ParameterDescription{ParameterOIDs: []uint32{23}},
		mNoData:       &pgproto3.NoData{},
		mSuspended:    &pgproto3.PortalSuspended{},
		mCopyIn:       &pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}},
		mCopyOut:      &pgproto3.CopyOutResponse{ColumnFormatCodes: []uint16{0}},
		mCopyBoth:     &pgproto3.CopyBothResponse{},
		mCopyData:     &pgproto3.CopyData{Data: []byte("x\n")},
		mCopyDone:     &pgproto3.CopyDone{},
		mFnResult:     &pgproto3.FunctionCallResponse{Result: []byte("x")},
		mParam:        fmParam("application_name", "x"),
		mNotice:       &pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "hi"},
		mNotify:       &pgproto3.NotificationResponse{PID: 1, Channel: "ch", Payload: "p"},
	}
	out := make(map[string][]byte, len(msgs))
	for name, m := range msgs {
		out[name] = fmEnc(tb, m)
	}
	return out
}

// faultState leads the client into one state of the matrix and sends the
// message under test there.
type faultState struct {
	// name is the matrix column and sub-state, e.g. "SQ Q.Rows".
	name string
	// tracker is the wire state the violation must be reported in.
	tracker wire.State
	// startup marks states reached during the connection attempt, which
	// must then fail; otherwise the connection succeeds first.
	startup bool
	// mutate adjusts the client configuration (a password, say).
	mutate func(*conn.Config)
	// script returns the server side: everything up to the state, then
	// the message under test. The caller appends what the client must do
	// next (hang up after a violation).
	script func(tb testing.TB, bad []byte) *pgtest.Script
	// call runs, on the connected client, the operation that must meet
	// the message under test, and returns its error and the rows it
	// returned.
	call func(ctx context.Context, c *conn.Conn) (rows [][][]byte, err error)
	// rows are the rows the legal part of the reply carries, which call
	// may return; nothing else may come back.
	rows [][][]byte
}

// faultExecCall runs "select 1" with Exec.
func faultExecCall(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
	res, err := c.Exec(ctx, "select 1").ReadAll()
	var rows [][][]byte
	for _, r := range res {
		rows = append(rows, r.Rows...)
	}
	return rows, err
}

// faultParamsCall runs "select 1" with ExecParams.
func faultParamsCall(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
	r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
	return r.Rows, r.Err
}

// faultQueryState is a simple-query state: prefix is the legal part of the
// reply before the message under test.
func faultQueryState(name string, prefix ...pgproto3.BackendMessage) faultState {
	return faultState{name: name, tracker: wire.StateBusy, rows: faultRowsOf(prefix),
		script: func(tb testing.TB, bad []byte) *pgtest.Script {
			return faultQueryPrefix(fbCat(fmEnc(tb, prefix...), bad))
		},
		call: faultExecCall,
	}
}

// faultCopyOutState is COPY TO STDOUT through Exec; prefix follows the
// CopyOutResponse.
func faultCopyOutState(name string, prefix ...pgproto3.BackendMessage) faultState {
	return faultState{name: name, tracker: wire.StateCopyOut,
		script: func(tb testing.TB, bad []byte) *pgtest.Script {
			head := []pgproto3.BackendMessage{&pgproto3.CopyOutResponse{ColumnFormatCodes: []uint16{0}}}
			return faultQueryPrefix(fbCat(fmEnc(tb, append(head, prefix...)...), bad))
		},
		call: faultExecCall,
	}
}

// faultExtendedState is an ExecParams state: prefix is the legal part of
// the reply before the message under test.
func faultExtendedState(name string, tracker wire.State, prefix ...pgproto3.BackendMessage) faultState {
	return faultState{name: name, tracker: tracker, rows: faultRowsOf(prefix),
		script: func(tb testing.TB, bad []byte) *pgtest.Script {
			return faultExpectExtended(pgtest.NewScript().AcceptStartup()).SendRaw(fbCat(fmEnc(tb, prefix...), bad))
		},
		call: faultParamsCall,
	}
}

// faultRowsOf returns the values of the DataRows among msgs.
func faultRowsOf(msgs []pgproto3.BackendMessage) [][][]byte {
	var rows [][][]byte
	for _, m := range msgs {
		if d, ok := m.(*pgproto3.DataRow); ok {
			rows = append(rows, d.Values)
		}
	}
	return rows
}

// faultStartupState is a startup state: steps leads the client there.
func faultStartupState(name string, tracker wire.State, steps func(tb testing.TB, s *pgtest.Script) *pgtest.Script) faultState {
	return faultState{name: name, tracker: tracker, startup: true,
		mutate: func(cfg *conn.Config) { cfg.Password = faultPassword },
		script: func(tb testing.TB, bad []byte) *pgtest.Script {
			return steps(tb, pgtest.NewScript().ExpectStartup()).SendRaw(bad)
		},
	}
}

// faultStates are the states of the matrix, by name.
func faultStates() map[string]faultState {
	states := []faultState{
		// §2.3 startup and authentication.
		faultStartupState("A0", wire.StateAuthStart, func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s }),
		faultStartupState("A1 password sent", wire.StateAuthPassword, func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
			return s.Send(&pgproto3.AuthenticationCleartextPassword{}).Expect(&pgproto3.PasswordMessage{Password: faultPassword})
		}),
		faultStartupState("A2 SASLInitialResponse sent", wire.StateAuthSASLContinue, func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
			return newFaultSCRAM().offer(s)
		}),
		faultStartupState("A3 SASLResponse sent", wire.StateAuthSASLFinal, func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
			f := newFaultSCRAM()
			return f.respond(f.challenge(f.offer(s), nil))
		}),
		faultStartupState("A4 server signature verified", wire.StateAuthSASLOk, func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
			f := newFaultSCRAM()
			return f.final(f.respond(f.challenge(f.offer(s), nil)), false)
		}),
		faultStartupState("B0", wire.StateAwaitReady, func(tb testing.TB, s *pgtest.Script) *pgtest.Script {
			return s.Send(&pgproto3.AuthenticationOk{}, fmParam("client_encoding", "UTF8"),
				&pgproto3.BackendKeyData{ProcessID: pgtest.FakeProcessID, SecretKey: pgtest.FakeSecretKey()})
		}),

		// §2.4 idle: the message arrives right after ReadyForQuery, in
		// the same write; the next call must fail with it.
		{name: "Id after startup", tracker: wire.StateIdle,
			script: func(tb testing.TB, bad []byte) *pgtest.Script {
				return pgtest.NewScript().ExpectStartup().SendRaw(fbCat(fmStartup(tb), bad))
			},
			call: faultExecCall,
		},
		{name: "Id after a query", tracker: wire.StateIdle,
			script: func(tb testing.TB, bad []byte) *pgtest.Script {
				return faultQueryPrefix(fbCat(fmSelectOne(tb), bad))
			},
			call: func(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
				res, err := c.Exec(ctx, "select 1").ReadAll()
				if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
					return nil, fmt.Errorf("the first query must succeed: %d results, %w", len(res), err)
				}
				return faultParamsCall(ctx, c)
			},
		},
		{name: "Id waiting for a notification", tracker: wire.StateIdle,
			script: func(tb testing.TB, bad []byte) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().SendRaw(bad)
			},
			call: func(ctx context.Context, c *conn.Conn) ([][][]byte, error) {
				n, err := c.WaitForNotification(ctx)
				if n != nil {
					return [][][]byte{{[]byte(n.Payload)}}, err
				}
				return nil, err
			},
		},

		// §2.6 simple query.
		faultQueryState("SQ Q.Start first reply"),
		faultQueryState("SQ Q.Start after C", fmCmd("SET")),
		faultQueryState("SQ Q.Rows", fmRowDesc("c"), fmDataRow("1")),
		faultQueryState("SQ Q.Empty", &pgproto3.EmptyQueryResponse{}),
		faultQueryState("SQ Q.Err", fmErr("ERROR", "42601", "syntax error")),

		// §2.5 extended protocol, ExecParams: Parse, Bind, Describe
		// portal, Execute, Sync; each head entry.
		faultExtendedState("EX Parse", wire.StateBusy),
		faultExtendedState("EX Bind", wire.StateBusy, &pgproto3.ParseComplete{}),
		faultExtendedState("EX Describe portal", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}),
		faultExtendedState("EX Execute", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c")),
		faultExtendedState("EX Execute after D", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("1")),
		faultExtendedState("EX Execute of NoData portal", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.NoData{}),
		faultExtendedState("EX Sync", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("1"), fmCmd("SELECT 1")),
		faultExtendedState("EX Sync after its E", wire.StateBusy, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"),
			fmCmd("SELECT 0"), fmErr("ERROR", "40001", "could not serialize access")),
		faultExtendedState("EX skipping to Sync", wire.StateBusy, &pgproto3.ParseComplete{}, fmErr("ERROR", "42P02", "there is no parameter $1")),

		// §2.5 a pipeline, after the first request's replies.
		{name: "EX pipeline", tracker: wire.StateBusy,
			script: func(tb testing.TB, bad []byte) *pgtest.Script {
				s := faultExpectPipeline(pgtest.NewScript().AcceptStartup())
				first := fmEnc(tb, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, fmRowDesc("c"), fmDataRow("1"), fmCmd("SELECT 1"))
				return s.SendRaw(fbCat(first, bad))
			},
			call: faultPipelineCall,
		},

		// §2.7 COPY through Exec.
		faultCopyOutState("CO after H"),
		faultCopyOutState("CO after d", &pgproto3.CopyData{Data: []byte("1\n")}),
		faultCopyOutState("CO after c", &pgproto3.CopyData{Data: []byte("1\n")}, &pgproto3.CopyDone{}),
		{name: "CI after the client's CopyFail", tracker: wire.StateCopyIn,
			script: func(_ testing.TB, bad []byte) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().Expect(&pgproto3.Query{String: "select 1"}).
					Send(&pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}}).
					ExpectType(&pgproto3.CopyFail{}).SendRaw(bad)
			},
			call: faultExecCall,
		},
	}
	out := make(map[string]faultState, len(states))
	for _, s := range states {
		out[s.name] = s
	}
	return out
}

// faultExpectPipeline expects the requests of faultPipelineCall: two
// queries (Parse, Bind, Describe portal, Execute each) and a Sync.
func faultExpectPipeline(s *pgtest.Script) *pgtest.Script {
	for range 2 {
		s = s.ExpectType(&pgproto3.Parse{}).ExpectType(&pgproto3.Bind{}).
			Expect(&pgproto3.Describe{ObjectType: 'P'}).Expect(&pgproto3.Execute{})
	}
	return s.Expect(&pgproto3.Sync{})
}

// faultPipelineCall runs a pipeline of "select 1" and "select 2" and
// returns the first error and the rows of the second query.
func faultPipelineCall(ctx context.Context, c *conn.Conn) (rows [][][]byte, err error) {
	p := c.StartPipeline(ctx)
	defer func() {
		if cerr := p.Close(); err == nil {
			err = cerr
		}
	}()
	for _, sql := range []string{"select 1", "select 2"} {
		if err := p.SendQueryParams(sql, nil, nil, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := p.Sync(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		res, err := p.GetResults()
		if err != nil || res == nil {
			return rows, err
		}
		if rr, ok := res.(*conn.ResultReader); ok {
			r := rr.Read()
			if r.Err != nil {
				return rows, r.Err
			}
			if i == 0 && (len(r.Rows) != 1 || string(r.Rows[0][0]) != "1") {
				return nil, fmt.Errorf("the first query must get its own row, got %q", r.Rows)
			}
			if i > 0 {
				rows = append(rows, r.Rows...)
			}
		}
	}
}

// faultCell is one illegal cell of the matrix.
type faultCell struct {
	state  string      // key of faultStates
	msg    string      // key of faultCatalogue
	reason wire.Reason // expected ProtocolError reason
	rule   string      // the rule of protocol.md that makes it illegal
}

// Reasons, shortened for the table.
const (
	rU  = wire.ReasonUnexpectedMessage
	rA  = wire.ReasonAuthentication
	rP  = wire.ReasonProtocolVersion
	rCS = wire.ReasonCopyState
	rFC = wire.ReasonFieldCountMismatch
)

// faultCells lists every illegal cell, one per line.
var faultCells = []faultCell{
	// A0: first reply to StartupMessage. Legal: R, v (first only), E.
	{"A0", mAuthSASLCont, rA, "§2.3 A0: SASLContinue without a SASL exchange"},
	{"A0", mAuthSASLFin, rA, "§2.3 A0: SASLFinal without a SASL exchange"},
	{"A0", mAuthGSSCont, rU, "§2.3 A0: GSSContinue without GSS"},
	{"A0", mKey, rU, "§2.3 A0: K before any auth reply"},
	{"A0", mParam, rU, "§2.3 A0: S before any auth reply"},
	{"A0", mNotice, rU, "§2.3 A0: N before any auth reply"},
	{"A0", mReady, rU, "§2.3 A0: Z before any auth reply"},
	{"A0", mNotify, rU, "§2.3 A0: A before any auth reply"},
	{"A0", mRowDesc, rU, "§2.9 T in A0"},
	{"A0", mDataRow, rU, "§2.9 D in A0"},
	{"A0", mComplete, rU, "§2.9 C in A0"},
	{"A0", mEmpty, rU, "§2.9 I in A0"},
	{"A0", mParseOk, rU, "§2.9 1 in A0"},
	{"A0", mBindOk, rU, "§2.9 2 in A0"},
	{"A0", mCloseOk, rU, "§2.9 3 in A0"},
	{"A0", mParamDesc, rU, "§2.9 t in A0"},
	{"A0", mNoData, rU, "§2.9 n in A0"},
	{"A0", mSuspended, rU, "§2.9 s in A0"},
	{"A0", mCopyIn, rU, "§2.9 G in A0"},
	{"A0", mCopyOut, rU, "§2.9 H in A0"},
	{"A0", mCopyBoth, rU, "§2.9 W in A0"},
	{"A0", mCopyData, rU, "§2.9 d in A0"},
	{"A0", mCopyDone, rU, "§2.9 c in A0"},
	{"A0", mFnResult, rU, "§2.9 V in A0"},

	// A1: password sent. Legal: R/0, E.
	{"A1 password sent", mAuthClear, rA, "§2.3 A1: the server may not re-challenge"},
	{"A1 password sent", mAuthMD5, rA, "§2.3 A1: the server may not re-challenge"},
	{"A1 password sent", mAuthSASL, rA, "§2.3 A1: the server may not re-challenge"},
	{"A1 password sent", mAuthGSS, rA, "§2.3 A1: the server may not re-challenge"},
	{"A1 password sent", mAuthSASLCont, rA, "§2.3 A1: SASLContinue without a SASL exchange"},
	{"A1 password sent", mAuthSASLFin, rA, "§2.3 A1: SASLFinal without a SASL exchange"},
	{"A1 password sent", mAuthGSSCont, rU, "§2.3 A1: GSSContinue without GSS"},
	{"A1 password sent", mNPV, rP, "§2.3/§5.6: v after an R"},
	{"A1 password sent", mKey, rU, "§2.9 K in A*"},
	{"A1 password sent", mParam, rU, "§2.9 S in A*"},
	{"A1 password sent", mNotice, rU, "§2.9 N in A*"},
	{"A1 password sent", mReady, rU, "§2.9 Z in A*"},
	{"A1 password sent", mNotify, rU, "§2.9 A in A*"},
	{"A1 password sent", mRowDesc, rU, "§2.9 T in A*"},
	{"A1 password sent", mDataRow, rU, "§2.9 D in A*"},
	{"A1 password sent", mComplete, rU, "§2.9 C in A*"},
	{"A1 password sent", mParseOk, rU, "§2.9 1 in A*"},
	{"A1 password sent", mCopyOut, rU, "§2.9 H in A*"},
	{"A1 password sent", mCopyData, rU, "§2.9 d in A*"},

	// A2: SASLInitialResponse sent. Legal: R/11, E.
	{"A2 SASLInitialResponse sent", mAuthOk, rA, "§2.3 A2: Ok without the exchange (auth bypass)"},
	{"A2 SASLInitialResponse sent", mAuthSASLFin, rA, "§2.3 A2: SASLFinal before SASLContinue"},
	{"A2 SASLInitialResponse sent", mAuthSASL, rA, "§2.3 A2: R/10 again"},
	{"A2 SASLInitialResponse sent", mAuthClear, rA, "§2.3 A2: another method mid-exchange"},
	{"A2 SASLInitialResponse sent", mAuthMD5, rA, "§2.3 A2: another method mid-exchange"},
	{"A2 SASLInitialResponse sent", mNPV, rP, "§2.3/§5.6: v after an R"},
	{"A2 SASLInitialResponse sent", mKey, rU, "§2.9 K in A*"},
	{"A2 SASLInitialResponse sent", mParam, rU, "§2.9 S in A*"},
	{"A2 SASLInitialResponse sent", mReady, rU, "§2.9 Z in A*"},
	{"A2 SASLInitialResponse sent", mNotice, rU, "§2.9 N in A*"},
	{"A2 SASLInitialResponse sent", mRowDesc, rU, "§2.9 T in A*"},

	// A3: SASLResponse sent. Legal: R/12, E.
	{"A3 SASLResponse sent", mAuthOk, rA, "§2.3 A3: Ok without SASLFinal (unverified server)"},
	{"A3 SASLResponse sent", mAuthSASLCont, rA, "§2.3 A3: SCRAM has exactly one round"},
	{"A3 SASLResponse sent", mAuthSASL, rA, "§2.3 A3: R/10 again"},
	{"A3 SASLResponse sent", mAuthClear, rA, "§2.3 A3: another method mid-exchange"},
	{"A3 SASLResponse sent", mNPV, rP, "§2.3/§5.6: v after an R"},
	{"A3 SASLResponse sent", mKey, rU, "§2.9 K in A*"},
	{"A3 SASLResponse sent", mParam, rU, "§2.9 S in A*"},
	{"A3 SASLResponse sent", mReady, rU, "§2.9 Z in A*"},
	{"A3 SASLResponse sent", mDataRow, rU, "§2.9 D in A*"},

	// A4: server signature verified. Legal: R/0, E.
	{"A4 server signature verified", mAuthSASLCont, rA, "§2.3 A4: anything but Ok"},
	{"A4 server signature verified", mAuthSASLFin, rA, "§2.3 A4: a second SASLFinal"},
	{"A4 server signature verified", mAuthSASL, rA, "§2.3 A4: R/10 again"},
	{"A4 server signature verified", mAuthClear, rA, "§2.3 A4: another method after the exchange"},
	{"A4 server signature verified", mNPV, rP, "§2.3/§5.6: v after an R"},
	{"A4 server signature verified", mKey, rU, "§2.9 K in A*"},
	{"A4 server signature verified", mParam, rU, "§2.9 S in A*"},
	{"A4 server signature verified", mReady, rU, "§2.9 Z in A*"},
	{"A4 server signature verified", mComplete, rU, "§2.9 C in A*"},

	// B0: after AuthenticationOk and one BackendKeyData. Legal: S, N,
	// FATAL E, Z(I).
	{"B0", mAuthOk, rU, "§2.3 B0: a second Ok"},
	{"B0", mAuthClear, rU, "§2.3 B0: a new challenge"},
	{"B0", mAuthSASL, rU, "§2.3 B0: a new challenge"},
	{"B0", mAuthSASLFin, rU, "§2.3 B0: any R"},
	{"B0", mNPV, rU, "§2.3 B0: v"},
	{"B0", mKey, rU, "§2.3 B0: a second K"},
	{"B0", mReadyT, rU, "§2.9 B0: the first Z must report I"},
	{"B0", mError, rU, "§2.3 B0: E must be FATAL"},
	{"B0", mNotify, rU, "§2.3 B0: A before the first Z"},
	{"B0", mRowDesc, rU, "§2.3 B0: T"},
	{"B0", mDataRow, rU, "§2.3 B0: D"},
	{"B0", mComplete, rU, "§2.3 B0: C"},
	{"B0", mEmpty, rU, "§2.9 I in B0"},
	{"B0", mParseOk, rU, "§2.9 1 in B0"},
	{"B0", mBindOk, rU, "§2.9 2 in B0"},
	{"B0", mCloseOk, rU, "§2.9 3 in B0"},
	{"B0", mParamDesc, rU, "§2.9 t in B0"},
	{"B0", mNoData, rU, "§2.9 n in B0"},
	{"B0", mSuspended, rU, "§2.9 s in B0"},
	{"B0", mCopyIn, rU, "§2.3 B0: copy messages"},
	{"B0", mCopyOut, rU, "§2.3 B0: copy messages"},
	{"B0", mCopyBoth, rU, "§2.3 B0: copy messages"},
	{"B0", mCopyData, rU, "§2.3 B0: copy messages"},
	{"B0", mCopyDone, rU, "§2.3 B0: copy messages"},
	{"B0", mFnResult, rU, "§2.9 V in B0"},

	// Idle after startup: only the asynchronous set and FATAL E.
	{"Id after startup", mAuthOk, rU, "§2.4 R while idle"},
	{"Id after startup", mAuthSASL, rU, "§2.4 R while idle"},
	{"Id after startup", mNPV, rU, "§2.4 v while idle"},
	{"Id after startup", mKey, rU, "§2.4 K while idle"},
	{"Id after startup", mReady, rU, "§2.4 Z while idle"},
	{"Id after startup", mError, rU, "§2.4 non-FATAL E while idle"},
	{"Id after startup", mRowDesc, rU, "§2.4 T while idle (stale result)"},
	{"Id after startup", mDataRow, rU, "§2.4 D while idle"},
	{"Id after startup", mComplete, rU, "§2.4 C while idle (stale result)"},
	{"Id after startup", mEmpty, rU, "§2.4 I while idle"},
	{"Id after startup", mParseOk, rU, "§2.4 1 while idle"},
	{"Id after startup", mBindOk, rU, "§2.4 2 while idle"},
	{"Id after startup", mCloseOk, rU, "§2.4 3 while idle"},
	{"Id after startup", mParamDesc, rU, "§2.4 t while idle"},
	{"Id after startup", mNoData, rU, "§2.4 n while idle"},
	{"Id after startup", mSuspended, rU, "§2.4 s while idle"},
	{"Id after startup", mCopyIn, rU, "§2.4 G while idle"},
	{"Id after startup", mCopyOut, rU, "§2.4 H while idle"},
	{"Id after startup", mCopyBoth, rU, "§2.4 W while idle"},
	{"Id after startup", mCopyData, rU, "§2.4 d while idle"},
	{"Id after startup", mCopyDone, rU, "§2.4 c while idle"},
	{"Id after startup", mFnResult, rU, "§2.4 V while idle"},

	// Idle after a query: the same, with ExecParams as the next call.
	{"Id after a query", mAuthOk, rU, "§2.4 R while idle"},
	{"Id after a query", mKey, rU, "§2.4 K while idle"},
	{"Id after a query", mReady, rU, "§2.4 a second Z"},
	{"Id after a query", mError, rU, "§2.4 non-FATAL E while idle"},
	{"Id after a query", mRowDesc, rU, "§2.4 T while idle (stale result)"},
	{"Id after a query", mDataRow, rU, "§2.4 D while idle (stale row)"},
	{"Id after a query", mComplete, rU, "§2.4 C while idle (stale result)"},
	{"Id after a query", mEmpty, rU, "§2.4 I while idle"},
	{"Id after a query", mParseOk, rU, "§2.4 1 while idle (stale extended reply)"},
	{"Id after a query", mBindOk, rU, "§2.4 2 while idle (stale extended reply)"},
	{"Id after a query", mParamDesc, rU, "§2.4 t while idle"},
	{"Id after a query", mNoData, rU, "§2.4 n while idle"},
	{"Id after a query", mCopyOut, rU, "§2.4 H while idle"},
	{"Id after a query", mCopyData, rU, "§2.4 d while idle"},

	// Waiting for a notification (idle).
	{"Id waiting for a notification", mDataRow, rU, "§2.4 D while idle"},
	{"Id waiting for a notification", mRowDesc, rU, "§2.4 T while idle"},
	{"Id waiting for a notification", mComplete, rU, "§2.4 C while idle"},
	{"Id waiting for a notification", mReady, rU, "§2.4 Z while idle"},
	{"Id waiting for a notification", mError, rU, "§2.4 non-FATAL E while idle"},
	{"Id waiting for a notification", mEmpty, rU, "§2.4 I while idle"},
	{"Id waiting for a notification", mParseOk, rU, "§2.4 1 while idle"},
	{"Id waiting for a notification", mNoData, rU, "§2.4 n while idle"},
	{"Id waiting for a notification", mCopyData, rU, "§2.4 d while idle"},
	{"Id waiting for a notification", mKey, rU, "§2.4 K while idle"},
	{"Id waiting for a notification", mAuthOk, rU, "§2.4 R while idle"},

	// SQ Q.Start, first reply. Legal: T, C, I, E, G, H.
	{"SQ Q.Start first reply", mReady, rU, "§2.6/G6: Z with no reply to the Query"},
	{"SQ Q.Start first reply", mDataRow, rU, "§2.6: D before T"},
	{"SQ Q.Start first reply", mParseOk, rU, "§2.6: 1 in a simple query"},
	{"SQ Q.Start first reply", mBindOk, rU, "§2.6: 2 in a simple query"},
	{"SQ Q.Start first reply", mCloseOk, rU, "§2.6: 3 in a simple query"},
	{"SQ Q.Start first reply", mParamDesc, rU, "§2.6: t in a simple query"},
	{"SQ Q.Start first reply", mNoData, rU, "§2.6: n in a simple query"},
	{"SQ Q.Start first reply", mSuspended, rU, "§2.6: s in a simple query"},
	{"SQ Q.Start first reply", mCopyBoth, rU, "§2.9: W outside a replication session"},
	{"SQ Q.Start first reply", mCopyData, rU, "§2.9: d when not copying"},
	{"SQ Q.Start first reply", mCopyDone, rU, "§2.9: c when not copying"},
	{"SQ Q.Start first reply", mFnResult, rU, "§2.9: V without a function call"},
	{"SQ Q.Start first reply", mAuthOk, rU, "§2.9: R after startup"},
	{"SQ Q.Start first reply", mNPV, rU, "§2.9: v after startup"},
	{"SQ Q.Start first reply", mKey, rU, "§2.9: K after startup"},

	// SQ Q.Start after a CommandComplete. Legal: T, C, E, G, H, Z.
	{"SQ Q.Start after C", mEmpty, rU, "§2.6: I only as the first reply"},
	{"SQ Q.Start after C", mDataRow, rU, "§2.6: D before T"},
	{"SQ Q.Start after C", mParseOk, rU, "§2.6: 1 in a simple query"},
	{"SQ Q.Start after C", mNoData, rU, "§2.6: n in a simple query"},
	{"SQ Q.Start after C", mSuspended, rU, "§2.6: s in a simple query"},
	{"SQ Q.Start after C", mCopyData, rU, "§2.9: d when not copying"},
	{"SQ Q.Start after C", mCopyDone, rU, "§2.9: c when not copying"},
	{"SQ Q.Start after C", mCopyBoth, rU, "§2.9: W outside a replication session"},

	// SQ Q.Rows. Legal: D (right count), C, E.
	{"SQ Q.Rows", mRowDesc, rU, "§2.6: a second T without C"},
	{"SQ Q.Rows", mReady, rU, "§2.6: Z in Q.Rows"},
	{"SQ Q.Rows", mEmpty, rU, "§2.6: I after other replies"},
	{"SQ Q.Rows", mDataRow2, rFC, "§2.6: D with another column count"},
	{"SQ Q.Rows", mCopyIn, rU, "§2.6: G in Q.Rows"},
	{"SQ Q.Rows", mCopyOut, rU, "§2.6: H in Q.Rows"},
	{"SQ Q.Rows", mCopyBoth, rU, "§2.6: W in Q.Rows"},
	{"SQ Q.Rows", mParseOk, rU, "§2.6: 1 in a simple query"},
	{"SQ Q.Rows", mBindOk, rU, "§2.6: 2 in a simple query"},
	{"SQ Q.Rows", mParamDesc, rU, "§2.6: t in a simple query"},
	{"SQ Q.Rows", mNoData, rU, "§2.6: n in a simple query"},
	{"SQ Q.Rows", mSuspended, rU, "§2.6: s in a simple query"},
	{"SQ Q.Rows", mCopyData, rU, "§2.9: d when not copying"},
	{"SQ Q.Rows", mCopyDone, rU, "§2.9: c when not copying"},
	{"SQ Q.Rows", mFnResult, rU, "§2.9: V without a function call"},
	{"SQ Q.Rows", mKey, rU, "§2.9: K after startup"},
	{"SQ Q.Rows", mAuthOk, rU, "§2.9: R after startup"},

	// SQ Q.Empty. Legal: Z.
	{"SQ Q.Empty", mRowDesc, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mDataRow, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mComplete, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mEmpty, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mError, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mCopyOut, rU, "§2.6: only Z after I"},
	{"SQ Q.Empty", mParseOk, rU, "§2.6: only Z after I"},

	// SQ Q.Err. Legal: Z.
	{"SQ Q.Err", mRowDesc, rU, "§2.6/G4: nothing runs after an error"},
	{"SQ Q.Err", mDataRow, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mComplete, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mEmpty, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mError, rU, "§2.6: a second E"},
	{"SQ Q.Err", mCopyIn, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mCopyOut, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mBindOk, rU, "§2.6: anything after E except Z"},
	{"SQ Q.Err", mNoData, rU, "§2.6: anything after E except Z"},

	// EX head entry Parse. Legal: 1, E.
	{"EX Parse", mBindOk, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mCloseOk, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mParamDesc, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mNoData, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mRowDesc, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mDataRow, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mComplete, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mEmpty, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mSuspended, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mCopyOut, rU, "§2.5 Parse: 1 | E"},
	{"EX Parse", mReady, rU, "§2.5/G15: no Z for Parse"},
	{"EX Parse", mCopyData, rU, "§2.9: d when not copying"},

	// EX head entry Bind. Legal: 2, E.
	{"EX Bind", mParseOk, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mCloseOk, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mParamDesc, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mNoData, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mRowDesc, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mDataRow, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mComplete, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mSuspended, rU, "§2.5 Bind: 2 | E"},
	{"EX Bind", mReady, rU, "§2.5/G15: no Z for Bind"},

	// EX head entry Describe portal. Legal: T, n, E.
	{"EX Describe portal", mParamDesc, rU, "§2.5 Describe P: (T | n) | E, no t"},
	{"EX Describe portal", mParseOk, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mBindOk, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mCloseOk, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mDataRow, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mComplete, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mEmpty, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mSuspended, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mCopyIn, rU, "§2.5 Describe P: (T | n) | E"},
	{"EX Describe portal", mReady, rU, "§2.5/G15: no Z for Describe"},

	// EX head entry Execute of a portal that returns rows. Legal: D, C, E.
	{"EX Execute", mRowDesc, rU, "§2.5/G8: Execute never sends T"},
	{"EX Execute", mParseOk, rU, "§2.5 Execute grammar"},
	{"EX Execute", mBindOk, rU, "§2.5 Execute grammar"},
	{"EX Execute", mCloseOk, rU, "§2.5 Execute grammar"},
	{"EX Execute", mNoData, rU, "§2.5 Execute grammar"},
	{"EX Execute", mParamDesc, rU, "§2.5 Execute grammar"},
	{"EX Execute", mSuspended, rU, "§2.5/G9: s only with a row limit"},
	{"EX Execute", mEmpty, rU, "§2.5: I only for an empty statement"},
	{"EX Execute", mReady, rU, "§2.5/G15: no Z for Execute"},
	{"EX Execute", mDataRow2, rFC, "§2.5: D with another column count"},
	{"EX Execute", mCopyData, rU, "§2.9: d when not copying"},
	{"EX Execute after D", mRowDesc, rU, "§2.5/G8: Execute never sends T"},
	{"EX Execute after D", mEmpty, rU, "§2.5: I only with zero D"},
	{"EX Execute after D", mSuspended, rU, "§2.5/G9: s only with a row limit"},
	{"EX Execute after D", mReady, rU, "§2.5/G15: no Z for Execute"},
	{"EX Execute after D", mDataRow2, rFC, "§2.5: D with another column count"},
	{"EX Execute after D", mCopyOut, rCS, "§2.5: H after D"},
	{"EX Execute of NoData portal", mDataRow, rU, "§2.5: D only if the portal returns rows"},
	{"EX Execute of NoData portal", mRowDesc, rU, "§2.5/G8: Execute never sends T"},

	// EX head entry Sync. Legal: E (commit failure), Z.
	{"EX Sync", mRowDesc, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mDataRow, rU, "§2.5 Sync: E? Z (a row after C)"},
	{"EX Sync", mComplete, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mEmpty, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mParseOk, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mBindOk, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mCloseOk, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mNoData, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mParamDesc, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mSuspended, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mCopyIn, rU, "§2.5 Sync: E? Z"},
	{"EX Sync", mCopyOut, rU, "§2.5 Sync: E? Z"},
	{"EX Sync after its E", mError, rU, "§2.5 Sync: at most one E"},
	{"EX Sync after its E", mComplete, rU, "§2.5 Sync: E? Z"},
	{"EX Sync after its E", mRowDesc, rU, "§2.5 Sync: E? Z"},
	{"EX skipping to Sync", mBindOk, rU, "§2.5/G2: no reply to a skipped Bind"},
	{"EX skipping to Sync", mRowDesc, rU, "§2.5/G2: no reply to a skipped Describe"},
	{"EX skipping to Sync", mNoData, rU, "§2.5/G2: no reply to a skipped Describe"},
	{"EX skipping to Sync", mComplete, rU, "§2.5/G2: no reply to a skipped Execute"},
	{"EX skipping to Sync", mDataRow, rU, "§2.5/G2: no reply to a skipped Execute"},
	{"EX skipping to Sync", mError, rU, "§2.5 skip mode: the next non-async message must be the Sync's Z"},

	// EX pipeline, after the first query's replies: the head is the
	// second query's Parse.
	{"EX pipeline", mReady, rU, "§2.5/G15: Z before the Sync's turn"},
	{"EX pipeline", mBindOk, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mRowDesc, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mDataRow, rU, "§2.5/G1: replies in request order (a row after C)"},
	{"EX pipeline", mComplete, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mNoData, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mParamDesc, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mEmpty, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mSuspended, rU, "§2.5/G1: replies in request order"},
	{"EX pipeline", mCloseOk, rU, "§2.5/G1: replies in request order"},

	// CO: COPY TO STDOUT. Legal: d, c, then C; E.
	{"CO after H", mComplete, rCS, "§2.7/G13: C before c"},
	{"CO after H", mReady, rCS, "§2.7: Z in CopyOut"},
	{"CO after H", mRowDesc, rCS, "§2.7: T in CopyOut"},
	{"CO after H", mDataRow, rCS, "§2.7: D in CopyOut"},
	{"CO after H", mEmpty, rCS, "§2.9: I in CopyOut"},
	{"CO after H", mCopyOut, rCS, "§2.9: a second CopyOutResponse"},
	{"CO after H", mCopyIn, rCS, "§2.9: G in CopyOut"},
	{"CO after H", mCopyBoth, rCS, "§2.9: W in CopyOut"},
	{"CO after H", mParseOk, rCS, "§2.9: 1 in CopyOut"},
	{"CO after H", mNoData, rCS, "§2.9: n in CopyOut"},
	{"CO after H", mFnResult, rCS, "§2.9: V in CopyOut"},
	{"CO after H", mKey, rCS, "§2.9: K in CopyOut"},
	{"CO after d", mComplete, rCS, "§2.7/G13: C before c"},
	{"CO after d", mReady, rCS, "§2.7: Z in CopyOut"},
	{"CO after d", mDataRow, rCS, "§2.7: D in CopyOut"},
	{"CO after c", mCopyData, rCS, "§2.7: d after c"},
	{"CO after c", mCopyDone, rCS, "§2.7: a second c"},
	{"CO after c", mReady, rCS, "§2.7: Z before C"},
	{"CO after c", mRowDesc, rCS, "§2.7: T in CopyOut"},

	// CI: COPY FROM STDIN through Exec, which answers CopyFail at once.
	// Legal: E.
	{"CI after the client's CopyFail", mComplete, rCS, "§2.7: C after CopyFail (the server must report an error)"},
	{"CI after the client's CopyFail", mCopyData, rCS, "§2.7: d in CopyIn"},
	{"CI after the client's CopyFail", mCopyDone, rCS, "§2.7: c in CopyIn"},
	{"CI after the client's CopyFail", mReady, rCS, "§2.7: Z in CopyIn"},
	{"CI after the client's CopyFail", mRowDesc, rCS, "§2.7: T in CopyIn"},
	{"CI after the client's CopyFail", mDataRow, rCS, "§2.7: D in CopyIn"},
	{"CI after the client's CopyFail", mCopyIn, rCS, "§2.9: a second CopyInResponse"},
	{"CI after the client's CopyFail", mCopyOut, rCS, "§2.9: H in CopyIn"},
	{"CI after the client's CopyFail", mEmpty, rCS, "§2.9: I in CopyIn"},
}

// TestFaultLegalityMatrix sends every illegal cell of the matrix in its
// state and checks that the call that meets it fails with the violation,
// reported for that message in that state.
func TestFaultLegalityMatrix(t *testing.T) {
	t.Parallel()
	states := faultStates()
	catalogue := faultCatalogue(t)
	for _, cell := range faultCells {
		st, ok := states[cell.state]
		require.True(t, ok, "unknown state %q", cell.state)
		bad, ok := catalogue[cell.msg]
		require.True(t, ok, "unknown message %q", cell.msg)
		t.Run(cell.state+"/"+cell.msg, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				var pe *wire.ProtocolError
				if st.startup {
					err := faultConnectErr(t, tr, st.script(t, bad).ExpectEOF(), st.mutate)
					pe = faultRequireReason(t, err, cell.reason)
				} else {
					c, _ := faultConnect(t, tr, st.script(t, bad).ExpectEOF(), st.mutate)
					rows, err := st.call(faultCtx(t), c)
					if len(st.rows) == 0 {
						assert.Empty(t, rows, "no row may come from an illegal reply")
					} else {
						assert.Equal(t, st.rows, rows, "only the rows of the legal part of the reply")
					}
					pe = faultAssertDesynced(t, c, err, cell.reason)
				}
				assert.Equal(t, wire.MessageName(bad[0]), wire.MessageName(pe.MsgType), "the violation must be the message under test (%s): %v", cell.rule, pe)
				assert.Equal(t, st.tracker.String(), pe.State.String(), "the violation must be found in the state under test (%s): %v", cell.rule, pe)
			})
		})
	}
}

// TestFaultMatrixStatesReachable runs each non-startup state of the matrix
// with a legal continuation, to show that the scripts do lead the client
// where the cells claim: the call then succeeds.
func TestFaultMatrixStatesReachable(t *testing.T) {
	t.Parallel()
	states := faultStates()
	controls := []struct {
		state string
		reply []pgproto3.BackendMessage // legal rest of the reply
	}{
		{"SQ Q.Start first reply", []pgproto3.BackendMessage{fmCmd("SET"), fmReady('I')}},
		{"SQ Q.Start after C", []pgproto3.BackendMessage{fmReady('I')}},
		{"SQ Q.Rows", []pgproto3.BackendMessage{fmCmd("SELECT 1"), fmReady('I')}},
		{"SQ Q.Empty", []pgproto3.BackendMessage{fmReady('I')}},
		{"EX Parse", []pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}, &pgproto3.NoData{}, fmCmd("SET"), fmReady('I')}},
		{"EX Execute of NoData portal", []pgproto3.BackendMessage{fmCmd("SET"), fmReady('I')}},
		{"EX Sync", []pgproto3.BackendMessage{fmReady('I')}},
		{"CO after c", []pgproto3.BackendMessage{fmCmd("COPY 1"), fmReady('I')}},
	}
	for _, ctl := range controls {
		st := states[ctl.state]
		t.Run(ctl.state, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				srv := faultServer(t, tr, st.script(t, fmEnc(t, ctl.reply...)).ExpectTerminate().ExpectEOF())
				c, err := conn.ConnectConfig(faultCtx(t), faultConfig(t, srv.Dial, st.mutate))
				require.NoError(t, err)
				_, err = st.call(faultCtx(t), c)
				require.NoError(t, err)
				assert.Equal(t, wire.StateIdle, c.State())
				assert.NoError(t, c.Err())
				require.NoError(t, c.Close(faultCtx(t)))
				require.NoError(t, srv.Wait(faultCtx(t)), "the script must run to its end")
			})
		})
	}
}
