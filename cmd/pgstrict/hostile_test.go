package main

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// hostileBound is how long exec may take against a hostile server: the
// issue asks for "a second or two"; the stall cases add --timeout to it.
const hostileBound = 2 * time.Second

// textColumn is a RowDescription with one text column named name.
func textColumn(name string) *pgproto3.RowDescription {
	return &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
	}}
}

// rawDataRow encodes a one-column DataRow holding value, followed inside the
// message by extra bytes that do not belong to any field.
func rawDataRow(value string, extra string) []byte {
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = binary.BigEndian.AppendUint32(body, uint32(len(value)))
	body = append(body, value...)
	body = append(body, extra...)
	msg := []byte{'D'}
	msg = binary.BigEndian.AppendUint32(msg, uint32(4+len(body)))
	return append(msg, body...)
}

// withoutExtraConnection drops ErrExtraConnection from the failures a fake
// server reports: the CancelRequest that exec sends after --timeout opens a
// second connection, which the fake server refuses and records.
func withoutExtraConnection(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var kept []error
	for _, e := range errs {
		if !errors.Is(e, pgtest.ErrExtraConnection) {
			kept = append(kept, e)
		}
	}
	return errors.Join(kept...)
}

// TestExecHostileServer points exec at scripted servers that break the
// protocol. Each case must end with exit 1 and a clear message within a
// bounded time, and stdout must hold nothing that was not the answer to the
// statement asked.
func TestExecHostileServer(t *testing.T) {
	t.Parallel()
	startup := pgtest.StartupReply{}.Messages(nil)
	tests := []struct {
		name       string
		script     func(tb testing.TB) *pgtest.Script
		flags      []string // flags before the SQL
		sql        []string
		wantStderr []string // lines stderr must contain
		wantStdout string   // exact stdout
		forbidden  string   // must appear nowhere in stdout
		cancels    bool     // exec sends a CancelRequest (a second connection)
	}{
		{
			name: "unexpected message while idle after startup",
			script: func(tb testing.TB) *pgtest.Script {
				// A complete reply to a Query that was never sent, in the
				// same write as the ReadyForQuery that ends the startup.
				msgs := append(append([]pgproto3.BackendMessage(nil), startup...),
					&pgproto3.CommandComplete{CommandTag: []byte("DELETE 1000")},
					&pgproto3.ReadyForQuery{TxStatus: 'I'})
				return pgtest.NewScript().ExpectStartup().SendRaw(pgtest.MustEncodeBackend(tb, msgs...)).StallUntilClosed()
			},
			sql: []string{"select 1"},
			wantStderr: []string{
				"protocol violation: unexpected_message\n", "message: CommandComplete\n", "state: idle\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "DELETE",
		},
		{
			name: "stale second result after the first ReadyForQuery",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().
					Expect(&pgproto3.Query{String: "select 'fresh' as a"}).
					SendRaw(pgtest.MustEncodeBackend(tb,
						textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("fresh")}},
						&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
						textColumn("b"), &pgproto3.DataRow{Values: [][]byte{[]byte("stale-row")}},
						&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})).
					StallUntilClosed()
			},
			sql: []string{"select 'fresh' as a", "select 'second' as b"},
			wantStderr: []string{
				"protocol violation: unexpected_message\n", "message: RowDescription\n", "state: idle\n",
				"pgstrict: exec: SQL argument 2 of 2: protocol violation\n",
			},
			wantStdout: "a\n-----\nfresh\nSELECT 1\n",
			forbidden:  "stale-row",
		},
		{
			name: "DataRow with trailing bytes",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("good")}}).
					SendRaw(rawDataRow("evil", "zz")).
					StallUntilClosed()
			},
			sql: []string{"select a from t"},
			wantStderr: []string{
				"protocol violation: trailing_bytes\n", "message: DataRow\n", "state: busy\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "evil",
		},
		{
			name: "message declared at 2 GiB",
			script: func(tb testing.TB) *pgtest.Script {
				huge := binary.BigEndian.AppendUint32([]byte{'D'}, 0x7FFFFFFF)
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a")).SendRaw(append(huge, "evil"...)).StallUntilClosed()
			},
			sql: []string{"select a from t"},
			wantStderr: []string{
				"protocol violation: message_too_large\n", "message: DataRow\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "evil",
		},
		{
			name: "invalid UTF-8 in a text value",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("evil\xff\xfe")}},
						&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'}).
					StallUntilClosed()
			},
			sql: []string{"select a from t"},
			wantStderr: []string{
				"protocol violation: invalid_utf8\n", "message: DataRow\n", "state: busy\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "evil",
		},
		{
			name: "EOF between messages of a result",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("partial-row")}}).
					Close()
			},
			sql: []string{"select a from t"},
			wantStderr: []string{
				"protocol violation: unexpected_eof\n", "state: busy\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "partial-row",
		},
		{
			name: "EOF inside a message",
			script: func(tb testing.TB) *pgtest.Script {
				row := rawDataRow("partial-row", "")
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a")).SendRaw(row[:9]).Close()
			},
			sql: []string{"select a from t"},
			wantStderr: []string{
				"protocol violation: truncated\n", "message: DataRow\n",
				"pgstrict: exec: SQL argument 1 of 1: protocol violation\n",
			},
			forbidden: "partial",
		},
		{
			name: "server never answers the query",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
					Send(textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("partial-row")}}).
					StallUntilClosed()
			},
			flags:      []string{"--timeout", "500ms"},
			sql:        []string{"select a from t"},
			wantStderr: []string{"pgstrict: exec: SQL argument 1 of 1: timed out after 500ms\n"},
			forbidden:  "partial-row",
			cancels:    true,
		},
		{
			name: "server never answers the startup",
			script: func(tb testing.TB) *pgtest.Script {
				return pgtest.NewScript().ExpectStartup().StallUntilClosed()
			},
			flags:      []string{"--timeout", "500ms"},
			sql:        []string{"select 1"},
			wantStderr: []string{"pgstrict: exec: connect: timed out after 500ms\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			script := tc.script(t)
			require.NoError(t, script.Err())
			srv, err := pgtest.StartFakeServer(script, pgtest.WithFakeTransport(pgtest.FakeTCP), pgtest.AllowIncomplete())
			require.NoError(t, err)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := srv.Close(ctx)
				if tc.cancels {
					err = withoutExtraConnection(err)
				}
				assert.NoError(t, err, "fake server")
			})

			// A hang must fail the test rather than block it until the
			// test binary's deadline.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			url := "postgres://u@" + srv.Addr() + "/db?sslmode=disable"
			args := append(append([]string{"exec", "--url", url}, tc.flags...), tc.sql...)
			r := runWith(ctx, nil, args...)

			assert.Equal(t, exitFailure, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			bound := hostileBound
			if tc.flags != nil {
				bound += 500 * time.Millisecond
			}
			assert.Less(t, r.elapsed, bound, "exec took too long")
			for _, want := range tc.wantStderr {
				assert.Contains(t, r.stderr, want)
			}
			assert.True(t, strings.HasSuffix(r.stderr, tc.wantStderr[len(tc.wantStderr)-1]), "the summary comes last: %s", r.stderr)
			assert.Equal(t, tc.wantStdout, r.stdout)
			if tc.forbidden != "" {
				assert.NotContains(t, r.stdout, tc.forbidden)
			}
		})
	}
}

// TestExecHostileServerJSON repeats a mid-result violation in --json mode,
// which prints rows as they arrive: the row before the violation may be
// printed, the one that broke the protocol never is, and no command tag
// line claims the result complete.
func TestExecHostileServerJSON(t *testing.T) {
	t.Parallel()
	script := pgtest.NewScript().AcceptStartup().ExpectType(&pgproto3.Query{}).
		Send(textColumn("a"), &pgproto3.DataRow{Values: [][]byte{[]byte("good")}}).
		SendRaw(rawDataRow("evil", "zz")).
		StallUntilClosed()
	srv := pgtest.NewFakeServer(t, script, pgtest.WithFakeTransport(pgtest.FakeTCP), pgtest.AllowIncomplete())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r := runWith(ctx, nil, "exec", "--json", "--url", "postgres://u@"+srv.Addr()+"/db?sslmode=disable", "select a from t")
	assert.Equal(t, exitFailure, r.code)
	assert.Less(t, r.elapsed, hostileBound)
	assert.Equal(t, "{\"a\":\"good\"}\n", r.stdout)
	assert.Contains(t, r.stderr, "protocol violation: trailing_bytes\n")
}
