package wire_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

// trEncodeAll encodes backend messages into one stream.
func trEncodeAll(tb testing.TB, msgs ...pgproto3.BackendMessage) []byte {
	tb.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		out, err = m.Encode(out)
		require.NoError(tb, err)
	}
	return out
}

// trServerStartup is a trust startup reply with every watched parameter.
func trServerStartup() []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.AuthenticationOk{},
		trParamStatus("client_encoding", "UTF8"),
		trParamStatus("server_encoding", "UTF8"),
		trParamStatus("server_version", "18.4"),
		trParamStatus("standard_conforming_strings", "on"),
		trParamStatus("integer_datetimes", "on"),
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
}

// trStartupParams are valid startup parameters.
func trStartupParams() map[string]string {
	return map[string]string{"user": "alice", "database": "app", "client_encoding": "UTF8"}
}

// trFrontendIdle returns a Frontend at idle and the stream it reads, with
// its output buffer emptied.
func trFrontendIdle(tb testing.TB, opts wire.FrontendOptions) (*wire.Frontend, *bytes.Buffer) {
	tb.Helper()
	in := new(bytes.Buffer)
	f := wire.NewFrontend(in, opts)
	require.NoError(tb, f.SendStartup(trStartupParams()))
	in.Write(trEncodeAll(tb, trServerStartup()...))
	trReceiveAll(tb, f, in)
	require.Equal(tb, wire.StateIdle, f.State())
	f.ResetOutput()
	return f, in
}

// trReceiveAll receives every message in the stream so far, stopping
// before the end of the stream (which would close the session).
func trReceiveAll(tb testing.TB, f *wire.Frontend, in *bytes.Buffer) []wire.Event {
	tb.Helper()
	var evs []wire.Event
	for in.Len()+f.Buffered() > 0 {
		_, ev, err := f.Receive()
		require.NoError(tb, err)
		evs = append(evs, ev)
	}
	return evs
}

// trFrontendSnapshot is what a refused send must leave unchanged.
type trFrontendSnapshot struct {
	state     wire.State
	tx        wire.TxStatus
	pending   int
	awaitSync bool
	out       []byte
}

func trFrontendSnap(f *wire.Frontend) trFrontendSnapshot {
	return trFrontendSnapshot{state: f.State(), tx: f.TxStatus(), pending: f.Pending(), awaitSync: f.AwaitingSync(),
		out: append([]byte{}, f.Output()...)}
}

// TestFrontendEncodesWhatABackendDecodes sends a whole session through a
// Frontend and decodes its output with pgproto3's Backend.
func TestFrontendEncodesWhatABackendDecodes(t *testing.T) {
	t.Parallel()
	in := new(bytes.Buffer)
	f := wire.NewFrontend(in, wire.FrontendOptions{Tracker: wire.TrackerOptions{ProtocolVersion: wire.ProtocolVersion32}})
	params := trStartupParams()
	params["application_name"] = "pgstrict ✓"
	require.NoError(t, f.SendStartup(params))

	in.Write(trEncodeAll(t, &pgproto3.AuthenticationMD5Password{Salt: [4]byte{9, 8, 7, 6}}))
	msg, _, err := f.Receive()
	require.NoError(t, err)
	require.IsType(t, &pgproto3.AuthenticationMD5Password{}, msg)
	require.NoError(t, f.SendPassword("md5abcdef"))

	startup := trServerStartup()
	startup[6] = &pgproto3.BackendKeyData{ProcessID: 1, SecretKey: bytes.Repeat([]byte{5}, 32)}
	in.Write(trEncodeAll(t, startup...))
	trReceiveAll(t, f, in)
	require.Equal(t, wire.StateIdle, f.State())

	seqQ, err := f.SendQuery("select 'é'")
	require.NoError(t, err)
	seqP, err := f.SendParse("s1", "select $1::text, $2::bytea", []uint32{25, 17})
	require.NoError(t, err)
	seqB, err := f.SendBind("p1", "s1", []int16{0, 1}, [][]byte{[]byte("x"), {0, 0xff}}, []int16{0, 1})
	require.NoError(t, err)
	seqD, err := f.SendDescribePortal("p1")
	require.NoError(t, err)
	seqDS, err := f.SendDescribeStatement("s1")
	require.NoError(t, err)
	seqE, err := f.SendExecute("p1", 10)
	require.NoError(t, err)
	seqC, err := f.SendClose('P', "p1")
	require.NoError(t, err)
	require.NoError(t, f.SendFlush())
	seqS, err := f.SendSync()
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8}, []uint64{seqQ, seqP, seqB, seqD, seqDS, seqE, seqC, seqS})
	f.SendTerminate()
	assert.Equal(t, wire.StateTerminating, f.State())

	out := append([]byte{}, f.Output()...)
	var written bytes.Buffer
	n, err := f.WriteTo(&written)
	require.NoError(t, err)
	assert.Equal(t, int64(len(out)), n)
	assert.Equal(t, out, written.Bytes(), "WriteTo writes exactly Output")
	assert.Empty(t, f.Output(), "WriteTo empties the output")

	be := pgproto3.NewBackend(bytes.NewReader(out), io.Discard)
	sm, err := be.ReceiveStartupMessage()
	require.NoError(t, err)
	require.Equal(t, &pgproto3.StartupMessage{ProtocolVersion: wire.ProtocolVersion32, Parameters: params}, sm)
	require.NoError(t, be.SetAuthType(pgproto3.AuthTypeMD5Password))
	want := []pgproto3.FrontendMessage{
		&pgproto3.PasswordMessage{Password: "md5abcdef"},
		&pgproto3.Query{String: "select 'é'"},
		&pgproto3.Parse{Name: "s1", Query: "select $1::text, $2::bytea", ParameterOIDs: []uint32{25, 17}},
		&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", ParameterFormatCodes: []int16{0, 1},
			Parameters: [][]byte{[]byte("x"), {0, 0xff}}, ResultFormatCodes: []int16{0, 1}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p1"},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
		&pgproto3.Execute{Portal: "p1", MaxRows: 10},
		&pgproto3.Close{ObjectType: 'P', Name: "p1"},
		&pgproto3.Flush{},
		&pgproto3.Sync{},
		&pgproto3.Terminate{},
	}
	for i, w := range want {
		got, err := be.Receive()
		require.NoErrorf(t, err, "message %d", i)
		assert.Equalf(t, w, got, "message %d", i)
	}
	_, err = be.Receive()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "nothing after Terminate")
}

// TestFrontendCopyMessagesEncode checks CopyData, CopyDone and CopyFail.
func TestFrontendCopyMessagesEncode(t *testing.T) {
	t.Parallel()
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	_, err := f.SendQuery("copy t from stdin")
	require.NoError(t, err)
	in.Write(trEncodeAll(t, &pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}}))
	trReceiveAll(t, f, in)
	require.Equal(t, wire.StateCopyIn, f.State())
	require.NoError(t, f.SendCopyData([]byte("1\t\x00\xff\n")), "copy data is bytes, not text")
	require.NoError(t, f.SendCopyFail("stopped: ✓"))

	be := pgproto3.NewBackend(bytes.NewReader(f.Output()), io.Discard)
	for _, w := range []pgproto3.FrontendMessage{
		&pgproto3.Query{String: "copy t from stdin"},
		&pgproto3.CopyData{Data: []byte("1\t\x00\xff\n")},
		&pgproto3.CopyFail{Message: "stopped: ✓"},
	} {
		got, err := be.Receive()
		require.NoError(t, err)
		assert.Equal(t, w, got)
	}

	f2, in2 := trFrontendIdle(t, wire.FrontendOptions{})
	_, err = f2.SendQuery("copy t from stdin")
	require.NoError(t, err)
	in2.Write(trEncodeAll(t, &pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}}))
	trReceiveAll(t, f2, in2)
	f2.ResetOutput()
	require.NoError(t, f2.SendCopyDone())
	assert.Equal(t, []byte{'c', 0, 0, 0, 4}, f2.Output())
}

// TestFrontendRefusesUnsafeInput covers §4.5 and DESIGN rule 3: nothing
// unsafe is encoded, the caller gets an *InputError, and the Frontend is
// exactly as it was (same output bytes, same state), so the correct call
// that follows succeeds.
func TestFrontendRefusesUnsafeInput(t *testing.T) {
	t.Parallel()
	big := func(n int) string { return strings.Repeat("a", n) }
	// at drives a new Frontend to a state.
	type at func(tb testing.TB) *wire.Frontend
	fresh := func(tb testing.TB) *wire.Frontend {
		return wire.NewFrontend(new(bytes.Buffer), wire.FrontendOptions{})
	}
	idle := func(tb testing.TB) *wire.Frontend {
		f, _ := trFrontendIdle(tb, wire.FrontendOptions{})
		_, err := f.SendQuery("select 1") // something already in the output
		require.NoError(tb, err)
		return f
	}
	authAsked := func(sub pgproto3.BackendMessage) at {
		return func(tb testing.TB) *wire.Frontend {
			in := new(bytes.Buffer)
			f := wire.NewFrontend(in, wire.FrontendOptions{})
			require.NoError(tb, f.SendStartup(trStartupParams()))
			in.Write(trEncodeAll(tb, sub))
			trReceiveAll(tb, f, in)
			return f
		}
	}
	saslContinue := func(tb testing.TB) *wire.Frontend {
		in := new(bytes.Buffer)
		f := wire.NewFrontend(in, wire.FrontendOptions{})
		require.NoError(tb, f.SendStartup(trStartupParams()))
		in.Write(trEncodeAll(tb, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}))
		trReceiveAll(tb, f, in)
		require.NoError(tb, f.SendSASLInitialResponse("SCRAM-SHA-256", []byte("n,,n=,r=x")))
		in.Write(trEncodeAll(tb, &pgproto3.AuthenticationSASLContinue{Data: []byte("r=xy,s=c2FsdA==,i=4096")}))
		trReceiveAll(tb, f, in)
		return f
	}
	copyIn := func(tb testing.TB) *wire.Frontend {
		f, in := trFrontendIdle(tb, wire.FrontendOptions{})
		_, err := f.SendQuery("copy t from stdin")
		require.NoError(tb, err)
		in.Write(trEncodeAll(tb, &pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}}))
		trReceiveAll(tb, f, in)
		require.Equal(tb, wire.StateCopyIn, f.State())
		return f
	}
	parseQueued := func(tb testing.TB) *wire.Frontend {
		f := idle(tb)
		_, err := f.SendParse("s1", "select 1", nil)
		require.NoError(tb, err)
		return f
	}
	seqErr := func(_ uint64, err error) error { return err }
	manyParams := make([][]byte, wire.MaxParams+1)
	manyFormats := make([]int16, wire.MaxParams+1)
	manyOIDs := make([]uint32, wire.MaxParams+1)
	startupWith := func(k, v string) func(f *wire.Frontend) error {
		return func(f *wire.Frontend) error {
			p := trStartupParams()
			p[k] = v
			return f.SendStartup(p)
		}
	}
	cases := []struct {
		name  string
		at    at                           // the state the call is made in
		call  func(f *wire.Frontend) error // the refused call
		field string                       // InputError.Field contains this
		fix   func(f *wire.Frontend) error // the correct call that must then succeed
	}{
		{"startup value with NUL", fresh, startupWith("application_name", "x\x00user\x00admin"), "application_name",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup value with invalid UTF-8", fresh, startupWith("application_name", "\xff"), "application_name",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup name with NUL", fresh, startupWith("a\x00b", "x"), "startup parameter name",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup name with invalid UTF-8", fresh, startupWith("\xc3", "x"), "startup parameter name",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup empty name", fresh, startupWith("", "x"), "startup parameter name",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup client_encoding LATIN1", fresh, startupWith("client_encoding", "LATIN1"), "client_encoding",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup client_encoding in lower case", fresh, startupWith("client_encoding", "utf8"), "client_encoding",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"startup packet over 10000 bytes", fresh, startupWith("options", big(wire.MaxStartupBody)), "startup",
			func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }},
		{"password with NUL", authAsked(&pgproto3.AuthenticationCleartextPassword{}),
			func(f *wire.Frontend) error { return f.SendPassword("se\x00cret") }, "password",
			func(f *wire.Frontend) error { return f.SendPassword("secret") }},
		{"password with invalid UTF-8", authAsked(&pgproto3.AuthenticationCleartextPassword{}),
			func(f *wire.Frontend) error { return f.SendPassword("\xfe\xff") }, "password",
			func(f *wire.Frontend) error { return f.SendPassword("secret") }},
		{"password too long", authAsked(&pgproto3.AuthenticationMD5Password{}),
			func(f *wire.Frontend) error { return f.SendPassword(big(wire.MaxPasswordLength + 1)) }, "password",
			func(f *wire.Frontend) error { return f.SendPassword(big(wire.MaxPasswordLength)) }},
		{"password nobody asked for", authAsked(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}),
			func(f *wire.Frontend) error { return f.SendPassword("secret") }, "PasswordMessage",
			func(f *wire.Frontend) error { return f.SendSASLInitialResponse("SCRAM-SHA-256", nil) }},
		{"SASL mechanism with NUL", authAsked(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}),
			func(f *wire.Frontend) error { return f.SendSASLInitialResponse("SCRAM\x00", nil) }, "SASL mechanism",
			func(f *wire.Frontend) error { return f.SendSASLInitialResponse("SCRAM-SHA-256", []byte("n,,n=,r=x")) }},
		{"SASL initial response too long", authAsked(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}),
			func(f *wire.Frontend) error {
				return f.SendSASLInitialResponse("SCRAM-SHA-256", make([]byte, wire.MaxAuthToken+1))
			}, "SASL message",
			func(f *wire.Frontend) error { return f.SendSASLInitialResponse("SCRAM-SHA-256", []byte("n,,n=,r=x")) }},
		{"SASL response too long", saslContinue,
			func(f *wire.Frontend) error { return f.SendSASLResponse(make([]byte, wire.MaxAuthToken+1)) }, "SASL message",
			func(f *wire.Frontend) error { return f.SendSASLResponse([]byte("c=biws,r=xy,p=z")) }},
		{"query with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendQuery("select 1\x00; drop table t")) }, "query",
			func(f *wire.Frontend) error { return seqErr(f.SendQuery("select 1")) }},
		{"query with invalid UTF-8", idle, func(f *wire.Frontend) error { return seqErr(f.SendQuery("select '\xc0\xaf'")) }, "query",
			func(f *wire.Frontend) error { return seqErr(f.SendQuery("select '/'")) }},
		{"statement name with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse("s\x001", "select 1", nil)) }, "statement name",
			func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", nil)) }},
		{"statement name with invalid UTF-8", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse("s\xff", "select 1", nil)) }, "statement name",
			func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", nil)) }},
		{"statement name too long", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse(big(wire.MaxNameLength+1), "select 1", nil)) }, "statement name",
			func(f *wire.Frontend) error { return seqErr(f.SendParse(big(wire.MaxNameLength), "select 1", nil)) }},
		{"parse SQL with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select \x00", nil)) }, "query",
			func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", nil)) }},
		{"parse SQL with invalid UTF-8", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select '\xed\xa0\x80'", nil)) }, "query",
			func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", nil)) }},
		{"too many parameter types", idle, func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", manyOIDs)) }, "parameter types",
			func(f *wire.Frontend) error { return seqErr(f.SendParse("s1", "select 1", manyOIDs[:wire.MaxParams])) }},
		{"portal name with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendBind("p\x00", "s1", nil, nil, nil)) }, "portal name",
			func(f *wire.Frontend) error { return seqErr(f.SendBind("p", "s1", nil, nil, nil)) }},
		{"bound statement name with invalid UTF-8", idle, func(f *wire.Frontend) error { return seqErr(f.SendBind("", "\x80", nil, nil, nil)) }, "statement name",
			func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, nil, nil)) }},
		{"text parameter with NUL (default format)", idle,
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", nil, [][]byte{[]byte("a\x00b")}, nil))
			}, "parameter 1",
			func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, [][]byte{[]byte("ab")}, nil)) }},
		{"text parameter with invalid UTF-8 (format 0 for all)", idle,
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{0}, [][]byte{[]byte("ok"), []byte("\xe2\x82")}, nil))
			}, "parameter 2",
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{0}, [][]byte{[]byte("ok"), []byte("€")}, nil))
			}},
		{"text parameter with invalid UTF-8 among binary ones", idle,
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{1, 0}, [][]byte{{0, 0xff}, []byte("\xff")}, nil))
			}, "parameter 2",
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{1, 1}, [][]byte{{0, 0xff}, []byte("\xff")}, nil))
			}},
		{"too many parameters", idle, func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, manyParams, nil)) }, "parameters",
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", nil, manyParams[:wire.MaxParams], nil))
			}},
		{"too many result formats", idle, func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, nil, manyFormats)) }, "result formats",
			func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, nil, manyFormats[:3])) }},
		{"parameter format count mismatch", idle,
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{0, 0}, [][]byte{[]byte("1"), []byte("2"), []byte("3")}, nil))
			}, "parameter formats",
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{0, 0, 0}, [][]byte{[]byte("1"), []byte("2"), []byte("3")}, nil))
			}},
		{"parameter format code 2", idle,
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{2}, [][]byte{[]byte("1")}, nil))
			}, "parameter 1",
			func(f *wire.Frontend) error {
				return seqErr(f.SendBind("", "s1", []int16{1}, [][]byte{[]byte("1")}, nil))
			}},
		{"result format code 2", idle,
			func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, nil, []int16{0, 2})) }, "result format 1",
			func(f *wire.Frontend) error { return seqErr(f.SendBind("", "s1", nil, nil, []int16{0, 1})) }},
		{"describe statement name with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendDescribeStatement("\x00")) }, "statement name",
			func(f *wire.Frontend) error { return seqErr(f.SendDescribeStatement("s1")) }},
		{"describe portal name with invalid UTF-8", idle, func(f *wire.Frontend) error { return seqErr(f.SendDescribePortal("\xc3\x28")) }, "portal name",
			func(f *wire.Frontend) error { return seqErr(f.SendDescribePortal("p")) }},
		{"execute portal name with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendExecute("p\x00", 0)) }, "portal name",
			func(f *wire.Frontend) error { return seqErr(f.SendExecute("p", 0)) }},
		{"execute with a negative row limit", idle, func(f *wire.Frontend) error { return seqErr(f.SendExecute("p", -1)) }, "Execute",
			func(f *wire.Frontend) error { return seqErr(f.SendExecute("p", 1)) }},
		{"close name with NUL", idle, func(f *wire.Frontend) error { return seqErr(f.SendClose('S', "s\x00")) }, "name",
			func(f *wire.Frontend) error { return seqErr(f.SendClose('S', "s")) }},
		{"close kind X", idle, func(f *wire.Frontend) error { return seqErr(f.SendClose('X', "s")) }, "Close",
			func(f *wire.Frontend) error { return seqErr(f.SendClose('P', "s")) }},
		{"CopyFail reason with NUL", copyIn, func(f *wire.Frontend) error { return f.SendCopyFail("bad\x00") }, "copy fail reason",
			func(f *wire.Frontend) error { return f.SendCopyFail("bad") }},
		{"CopyFail reason with invalid UTF-8", copyIn, func(f *wire.Frontend) error { return f.SendCopyFail("bad \xff") }, "copy fail reason",
			func(f *wire.Frontend) error { return f.SendCopyFail("bad") }},
		{"CopyFail reason too long", copyIn, func(f *wire.Frontend) error { return f.SendCopyFail(big(9001)) }, "copy fail reason",
			func(f *wire.Frontend) error { return f.SendCopyFail(big(9000)) }},
		{"Query while a Parse is queued without Sync", parseQueued, func(f *wire.Frontend) error { return seqErr(f.SendQuery("select 2")) }, "Query",
			func(f *wire.Frontend) error { return seqErr(f.SendSync()) }},
		{"CopyData when not copying", idle, func(f *wire.Frontend) error { return f.SendCopyData([]byte("x")) }, "CopyData",
			func(f *wire.Frontend) error { return seqErr(f.SendSync()) }},
		{"CopyDone when not copying", idle, func(f *wire.Frontend) error { return f.SendCopyDone() }, "CopyDone",
			func(f *wire.Frontend) error { return f.SendFlush() }},
		{"Sync in COPY IN", copyIn, func(f *wire.Frontend) error { return seqErr(f.SendSync()) }, "Sync",
			func(f *wire.Frontend) error { return f.SendCopyDone() }},
		{"StartupMessage twice", idle, func(f *wire.Frontend) error { return f.SendStartup(trStartupParams()) }, "StartupMessage",
			func(f *wire.Frontend) error { return f.SendFlush() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.at(t)
			before := trFrontendSnap(f)
			err := tc.call(f)
			var ie *wire.InputError
			require.ErrorAs(t, err, &ie)
			assert.Contains(t, ie.Field, tc.field)
			assert.True(t, ie.SafeToRetry())
			assert.NotContains(t, ie.Error(), "secret", "the value is not echoed")
			assert.Equal(t, before, trFrontendSnap(f), "a refused call changes nothing")
			assert.NoError(t, f.Err())
			require.NoError(t, tc.fix(f), "the correct call succeeds after the refusal")
			assert.Greater(t, len(f.Output()), len(before.out), "the correct call was encoded")
		})
	}
}

// TestFrontendInputErrorOffsets checks that an InputError points at the
// first offending byte.
func TestFrontendInputErrorOffsets(t *testing.T) {
	t.Parallel()
	f, _ := trFrontendIdle(t, wire.FrontendOptions{})
	cases := []struct {
		name   string
		call   func() error
		offset int
	}{
		{"NUL in query", func() error { _, err := f.SendQuery("abc\x00"); return err }, 3},
		{"invalid UTF-8 in query after a multi-byte rune", func() error { _, err := f.SendQuery("é\xff"); return err }, 2},
		{"invalid UTF-8 in a text parameter", func() error {
			_, err := f.SendBind("", "", nil, [][]byte{[]byte("12345678\xff")}, nil)
			return err
		}, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ie *wire.InputError
			require.ErrorAs(t, tc.call(), &ie)
			assert.Equal(t, tc.offset, ie.Offset)
		})
	}
}

// TestFrontendAcceptsBinaryParameterBytes checks that the bytes refused as
// text are sent unchanged as binary parameters, and that NULL is accepted in
// a text position.
func TestFrontendAcceptsBinaryParameterBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		formats []int16
		params  [][]byte
	}{
		{"one binary format for all", []int16{1}, [][]byte{{0}, []byte("\xff\xfe"), []byte("a\x00b")}},
		{"per-parameter formats", []int16{0, 1, 1}, [][]byte{[]byte("ok"), []byte("\xc3\x28"), {0, 0, 0, 1}}},
		{"NULL as a text parameter", nil, [][]byte{nil, []byte("x")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _ := trFrontendIdle(t, wire.FrontendOptions{})
			_, err := f.SendBind("", "s1", tc.formats, tc.params, nil)
			require.NoError(t, err)
			be := pgproto3.NewBackend(bytes.NewReader(f.Output()), io.Discard)
			got, err := be.Receive()
			require.NoError(t, err)
			require.IsType(t, &pgproto3.Bind{}, got)
			assert.Equal(t, tc.params, got.(*pgproto3.Bind).Parameters)
			assert.Equal(t, tc.formats, got.(*pgproto3.Bind).ParameterFormatCodes)
		})
	}
}

// TestFrontendReceiveProtocolErrorIsSticky checks a violation through the
// Frontend: the error names the stream offset of the message, the stream is
// desynced, and every later call returns the same error.
func TestFrontendReceiveProtocolErrorIsSticky(t *testing.T) {
	t.Parallel()
	in := new(bytes.Buffer)
	f := wire.NewFrontend(in, wire.FrontendOptions{})
	require.NoError(t, f.SendStartup(trStartupParams()))
	startup := trEncodeAll(t, trServerStartup()...)
	in.Write(startup)
	trReceiveAll(t, f, in)
	in.Write(trEncodeAll(t, &pgproto3.DataRow{Values: [][]byte{[]byte("stale")}}))
	msg, ev, err := f.Receive()
	assert.Nil(t, msg)
	assert.Zero(t, ev)
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, wire.ReasonUnexpectedMessage, pe.Reason)
	assert.Equal(t, byte('D'), pe.MsgType)
	assert.Equal(t, wire.StateIdle, pe.State)
	assert.Equal(t, int64(len(startup)), pe.Offset, "the offset of the DataRow's type byte")
	assert.Equal(t, wire.StateDesynced, f.State())
	for range 3 {
		_, _, err := f.Receive()
		var again *wire.ProtocolError
		require.ErrorAs(t, err, &again)
		assert.Same(t, pe, again)
	}
	out := append([]byte{}, f.Output()...)
	_, err = f.SendQuery("select 1")
	assert.Same(t, error(pe), err)
	assert.Same(t, error(pe), f.SendCopyData(nil))
	assert.Same(t, error(pe), f.SASLVerified())
	assert.Same(t, error(pe), f.Err())
	assert.Equal(t, out, append([]byte{}, f.Output()...), "nothing was encoded")
	assert.Same(t, error(pe), f.Desync(wire.ReasonLSNBackwards, 0, "later"), "the first cause wins")
}

// TestFrontendGateRefusesBeforeTheBody checks that an illegal message is
// refused from its header alone: the body is never read (or allocated).
func TestFrontendGateRefusesBeforeTheBody(t *testing.T) {
	t.Parallel()
	in := new(bytes.Buffer)
	f := wire.NewFrontend(in, wire.FrontendOptions{})
	require.NoError(t, f.SendStartup(trStartupParams()))
	startup := trEncodeAll(t, trServerStartup()...)
	in.Write(startup)
	trReceiveAll(t, f, in)
	// A DataRow header that claims 512 MiB, with no body at all: in idle
	// it is refused as unexpected, not as truncated.
	hdr := []byte{'D', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], 512<<20)
	in.Write(hdr)
	_, _, err := f.Receive()
	var pe *wire.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, wire.ReasonUnexpectedMessage, pe.Reason)
	assert.Equal(t, int64(len(startup)), pe.Offset)
}

// TestFrontendEOF covers the end of the stream through a Frontend.
func TestFrontendEOF(t *testing.T) {
	t.Parallel()
	t.Run("clean in idle", func(t *testing.T) {
		t.Parallel()
		f, _ := trFrontendIdle(t, wire.FrontendOptions{})
		for range 2 {
			_, _, err := f.Receive()
			assert.Same(t, io.EOF, err)
			assert.Equal(t, wire.StateClosed, f.State())
			assert.NoError(t, f.Err())
		}
	})
	t.Run("while a query is outstanding", func(t *testing.T) {
		t.Parallel()
		f, _ := trFrontendIdle(t, wire.FrontendOptions{})
		_, err := f.SendQuery("select 1")
		require.NoError(t, err)
		_, _, err = f.Receive()
		var pe *wire.ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, wire.ReasonUnexpectedEOF, pe.Reason)
		assert.Equal(t, wire.StateBusy, pe.State)
		_, _, again := f.Receive()
		assert.Same(t, error(pe), again)
	})
	t.Run("inside a message", func(t *testing.T) {
		t.Parallel()
		f, in := trFrontendIdle(t, wire.FrontendOptions{})
		_, err := f.SendQuery("select 1")
		require.NoError(t, err)
		row := trEncodeAll(t, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trTextField("a")}})
		in.Write(row[:len(row)-3])
		_, _, err = f.Receive()
		var pe *wire.ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, wire.ReasonTruncated, pe.Reason)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, wire.StateDesynced, f.State())
		assert.Same(t, error(pe), f.Err())
		_, _, again := f.Receive()
		assert.Same(t, error(pe), again)
	})
	t.Run("after Terminate", func(t *testing.T) {
		t.Parallel()
		f, in := trFrontendIdle(t, wire.FrontendOptions{})
		_, err := f.SendQuery("select 1")
		require.NoError(t, err)
		f.SendTerminate()
		in.Write(trEncodeAll(t, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{trTextField("a")}}))
		msg, ev, err := f.Receive()
		require.NoError(t, err)
		assert.NotNil(t, msg)
		assert.True(t, ev.Discard)
		_, _, err = f.Receive()
		assert.Same(t, io.EOF, err)
		assert.Equal(t, wire.StateClosed, f.State())
	})
}

// TestFrontendBuffered checks Buffered: bytes read but not yet returned.
func TestFrontendBuffered(t *testing.T) {
	t.Parallel()
	in := new(bytes.Buffer)
	f := wire.NewFrontend(in, wire.FrontendOptions{})
	require.NoError(t, f.SendStartup(trStartupParams()))
	msgs := trServerStartup()
	rest := trEncodeAll(t, msgs[1:]...)
	in.Write(trEncodeAll(t, msgs[0]))
	in.Write(rest)
	_, _, err := f.Receive()
	require.NoError(t, err)
	assert.Equal(t, len(rest), f.Buffered())
	trReceiveAll(t, f, in)
	assert.Zero(t, f.Buffered())
}

// TestFrontendReportsTrackerState checks the Frontend's pass-through
// accessors on a short session.
func TestFrontendReportsTrackerState(t *testing.T) {
	t.Parallel()
	f, in := trFrontendIdle(t, wire.FrontendOptions{Tracker: wire.TrackerOptions{ProtocolVersion: wire.ProtocolVersion32}})
	assert.Equal(t, uint32(wire.ProtocolVersion32), f.ProtocolVersion())
	assert.Equal(t, wire.TxIdle, f.TxStatus())
	_, err := f.SendParse("", "select 1", nil)
	require.NoError(t, err)
	assert.Equal(t, 1, f.Pending())
	in.Write(trEncodeAll(t, trErrorResponse("ERROR", "42601", "syntax error")))
	_, ev, err := f.Receive()
	require.NoError(t, err)
	assert.Equal(t, wire.Event{Seq: 1, Done: true}, ev)
	assert.True(t, f.AwaitingSync())
	assert.Equal(t, wire.StateBusy, f.State())
	_, err = f.SendSync()
	require.NoError(t, err)
	assert.False(t, f.AwaitingSync())
	in.Write(trEncodeAll(t, &pgproto3.ReadyForQuery{TxStatus: 'E'}))
	_, ev, err = f.Receive()
	require.NoError(t, err)
	assert.Equal(t, wire.Event{Seq: 2, Done: true}, ev)
	assert.Equal(t, wire.TxFailed, f.TxStatus())
	assert.Equal(t, wire.StateIdle, f.State())
}

// TestFrontendFrameCopyData checks the in-place framing of CopyData: the
// header it writes makes the buffer decode as the CopyData SendCopyData
// would encode, it is refused outside COPY IN and without room (changing
// nothing), and after CopyDone the Tracker refuses more data, as it would
// had the data been sent with SendCopyData.
func TestFrontendFrameCopyData(t *testing.T) {
	t.Parallel()
	f, in := trFrontendIdle(t, wire.FrontendOptions{})
	msg := append(make([]byte, wire.CopyDataHeader), "1\tone\n"...)
	var ie *wire.InputError
	require.ErrorAs(t, f.FrameCopyData(msg), &ie, "FrameCopyData while idle")
	assert.Equal(t, make([]byte, wire.CopyDataHeader), msg[:wire.CopyDataHeader], "a refused frame writes no header")

	_, err := f.SendQuery("copy t from stdin")
	require.NoError(t, err)
	in.Write(trEncodeAll(t, &pgproto3.CopyInResponse{ColumnFormatCodes: []uint16{0}}))
	trReceiveAll(t, f, in)
	require.Equal(t, wire.StateCopyIn, f.State())
	f.ResetOutput()
	require.ErrorAs(t, f.FrameCopyData(make([]byte, 4)), &ie, "no room for the header")
	require.NoError(t, f.FrameCopyData(msg))
	assert.Empty(t, f.Output(), "the frame is the caller's to write")
	want, err := (&pgproto3.CopyData{Data: []byte("1\tone\n")}).Encode(nil)
	require.NoError(t, err)
	assert.Equal(t, want, msg)
	require.NoError(t, f.FrameCopyData(make([]byte, wire.CopyDataHeader)), "an empty CopyData")
	require.NoError(t, f.SendCopyDone())
	require.Error(t, f.FrameCopyData(msg), "data after CopyDone")
}
