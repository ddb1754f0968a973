package conn_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// TestFaultBadRowAmongGoodRows sends a bad DataRow after three good ones in
// the same write, so that it reaches the client already buffered, in the
// middle of a result: where ResultReader takes rows through the wire fast
// path (wire.Frontend.NextRow) instead of the full Receive. Each bad row
// must still desynchronize the connection with its reason, after exactly
// the good rows, through the simple and the extended protocol.
func TestFaultBadRowAmongGoodRows(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 70)
	row2 := func(a, b []byte) []byte {
		return fbFrame('D', fbI16(2), fbI32(int32(len(a))), a, fbI32(int32(len(b))), b)
	}
	cases := []struct {
		name   string
		bad    []byte
		reason wire.Reason
		limits wire.Limits
	}{
		{"NUL in a short value", row2([]byte("4"), []byte("a\x00b")), wire.ReasonNULInText, wire.Limits{}},
		{"NUL in a long value", row2([]byte("4"), []byte(long+"\x00")), wire.ReasonNULInText, wire.Limits{}},
		{"invalid UTF-8 in a short value", row2([]byte("\xc3\x28"), []byte("x")), wire.ReasonInvalidUTF8, wire.Limits{}},
		{"invalid UTF-8 in a long value", row2([]byte("4"), []byte(long+"\xe2\x82")), wire.ReasonInvalidUTF8, wire.Limits{}},
		{"a surrogate", row2([]byte("4"), []byte("\xed\xa0\x80")), wire.ReasonInvalidUTF8, wire.Limits{}},
		{"one column too many", fmEnc(t, fmDataRow("4", "x", "y")), wire.ReasonFieldCountMismatch, wire.Limits{}},
		{"one column too few", fmEnc(t, fmDataRow("4")), wire.ReasonFieldCountMismatch, wire.Limits{}},
		{"value longer than the body", fbFrame('D', fbI16(2), fbI32(1), []byte("4"), fbI32(5), []byte("abc")), wire.ReasonMalformed, wire.Limits{}},
		{"bytes after the last value", fbFrame('D', fbI16(2), fbI32(1), []byte("4"), fbI32(1), []byte("x"), []byte("zz")), wire.ReasonTrailingBytes, wire.Limits{}},
		{"row over the DataRow cap", row2([]byte("4"), []byte(long)), wire.ReasonMessageTooLarge, wire.Limits{DataRow: 64}},
	}
	good := fmEnc(t, fmRowDesc("a", "b"), fmDataRow("1", "one"), fmDataRow("2", "two"), fmDataRow("3", "three"))
	want := [][][]byte{{[]byte("1"), []byte("one")}, {[]byte("2"), []byte("two")}, {[]byte("3"), []byte("three")}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			limits := func(cfg *conn.Config) { cfg.Limits = tc.limits }
			t.Run("Exec", func(t *testing.T) {
				c, _ := faultConnect(t, pgtest.FakeTCP, faultQueryScript(fbCat(good, tc.bad)), limits)
				rr := c.Exec(faultCtx(t), "select 1")
				require.True(t, rr.NextResult())
				var rows [][][]byte
				r := rr.ResultReader()
				for r.NextRow() {
					rows = append(rows, cloneRow(r.Values()))
				}
				_, err := r.Close()
				assert.Equal(t, want, rows)
				faultAssertDesynced(t, c, err, tc.reason)
			})
			t.Run("ExecParams", func(t *testing.T) {
				script := faultExpectExtended(pgtest.NewScript().AcceptStartup()).
					SendRaw(fbCat(fmEnc(t, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}), good, tc.bad)).ExpectEOF()
				c, _ := faultConnect(t, pgtest.FakeTCP, script, limits)
				res := c.ExecParams(faultCtx(t), "select 1", nil, nil, nil, nil).Read()
				assert.Equal(t, want, res.Rows)
				faultAssertDesynced(t, c, res.Err, tc.reason)
			})
		})
	}
}

func cloneRow(vals [][]byte) [][]byte {
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			out[i] = append([]byte{}, v...)
		}
	}
	return out
}
