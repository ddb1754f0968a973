package pgcopy_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/pgstrict/pgstrict/copy"
	"github.com/pgstrict/pgstrict/wire"
)

func TestEncoderText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string // what the row holds
		format pgcopy.Format
		row    []any  // the values (column OIDs unknown)
		want   string // the encoded row
	}{
		{"plain text", pgcopy.FormatText, []any{"a", "b c"}, "a\tb c\n"},
		{"text NULL", pgcopy.FormatText, []any{nil, "x", []byte(nil)}, "\\N\tx\t\\N\n"},
		{"text escapes", pgcopy.FormatText, []any{"tab\there", "nl\ncr\r", `back\slash`}, "tab\\there\tnl\\ncr\\r\tback\\\\slash\n"},
		{"text looks like NULL", pgcopy.FormatText, []any{`\N`}, "\\\\N\n"},
		{"text end marker", pgcopy.FormatText, []any{`\.`}, "\\\\.\n"},
		{"text empty string", pgcopy.FormatText, []any{""}, "\n"},
		{"text bytes are raw text", pgcopy.FormatText, []any{[]byte("é\t")}, "é\\t\n"},
		{"text numbers", pgcopy.FormatText, []any{int64(-7), 2.5, true, int32(3)}, "-7\t2.5\tt\t3\n"},
		{"text timestamp", pgcopy.FormatText, []any{time.Date(2024, 2, 29, 13, 4, 5, 123456000, time.UTC)}, "2024-02-29 13:04:05.123456Z\n"},
		{"csv plain", pgcopy.FormatCSV, []any{"a", int64(1)}, "a,1\n"},
		{"csv NULL and empty", pgcopy.FormatCSV, []any{nil, ""}, ",\"\"\n"},
		{"csv quoting", pgcopy.FormatCSV, []any{"a,b", `say "hi"`, "l1\nl2", "cr\r"}, "\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",\"cr\r\"\n"},
		{"csv end marker", pgcopy.FormatCSV, []any{`\.`}, "\"\\.\"\n"},
		{"csv tab needs no quotes", pgcopy.FormatCSV, []any{"a\tb"}, "a\tb\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := pgcopy.NewEncoder(tc.format, nil)
			got, err := enc.AppendRow([]byte("prefix|"), tc.row)
			require.NoError(t, err)
			assert.Equal(t, "prefix|"+tc.want, string(got))
			assert.Empty(t, enc.AppendHeader(nil), "text and CSV have no header")
			assert.Empty(t, enc.AppendTrailer(nil), "text and CSV have no trailer")
		})
	}
}

func TestEncoderRejects(t *testing.T) {
	t.Parallel()
	cols := []pgcopy.Column{{Name: "a", OID: 25}, {Name: "b", OID: 25}}
	cases := []struct {
		name    string        // what is wrong
		format  pgcopy.Format // the format
		row     []any         // the second row
		column  string        // the column the error names
		problem string        // a substring of the error
	}{
		{"invalid UTF-8 in text", pgcopy.FormatText, []any{"ok", "bad \xff"}, "b", "invalid UTF-8"},
		{"NUL in text", pgcopy.FormatText, []any{"x\x00y", "ok"}, "a", "NUL"},
		{"invalid UTF-8 in CSV bytes", pgcopy.FormatCSV, []any{"ok", []byte{0xc3}}, "b", "invalid UTF-8"},
		{"NUL in binary text", pgcopy.FormatBinary, []any{"ok", "nul\x00"}, "b", "NUL"},
		{"invalid UTF-8 in binary text", pgcopy.FormatBinary, []any{"\xe2\x82", "ok"}, "a", "invalid UTF-8"},
		{"unencodable type", pgcopy.FormatBinary, []any{"ok", make(chan int)}, "b", "cannot encode"},
		{"wrong value count", pgcopy.FormatText, []any{"only one"}, "", "1 values for 2 columns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := pgcopy.NewEncoder(tc.format, cols)
			buf, err := enc.AppendRow(enc.AppendHeader(nil), []any{"first", "row"})
			require.NoError(t, err)
			before := append([]byte(nil), buf...)
			got, err := enc.AppendRow(buf, tc.row)
			var re *pgcopy.RowError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, int64(2), re.Row)
			assert.Equal(t, tc.column, re.Column)
			assert.ErrorContains(t, err, tc.problem)
			assert.Equal(t, before, got, "nothing of the refused row is appended")
			if tc.name != "unencodable type" && tc.name != "wrong value count" {
				var ie *wire.InputError
				assert.ErrorAs(t, err, &ie)
			}
		})
	}
}

func TestEncoderBinary(t *testing.T) {
	t.Parallel()
	cols := []pgcopy.Column{{Name: "i", OID: pgtype.Int4OID}, {Name: "t", OID: pgtype.TextOID},
		{Name: "f", OID: pgtype.Float8OID}, {Name: "n", OID: pgtype.Int8OID}}
	enc := pgcopy.NewEncoder(pgcopy.FormatBinary, cols)
	buf := enc.AppendHeader(nil)
	buf, err := enc.AppendRow(buf, []any{int32(7), "hé", 1.5, nil})
	require.NoError(t, err)
	buf, err = enc.AppendRow(buf, []any{8, "", math.Inf(-1), (*int64)(nil)})
	require.NoError(t, err)
	buf = enc.AppendTrailer(buf)
	assert.Equal(t, int64(2), enc.Rows())

	want := []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	row := func(fields ...[]byte) {
		want = binary.BigEndian.AppendUint16(want, uint16(len(fields)))
		for _, f := range fields {
			if f == nil {
				want = binary.BigEndian.AppendUint32(want, math.MaxUint32)
				continue
			}
			want = binary.BigEndian.AppendUint32(want, uint32(len(f)))
			want = append(want, f...)
		}
	}
	row([]byte{0, 0, 0, 7}, []byte("hé"), binary.BigEndian.AppendUint64(nil, math.Float64bits(1.5)), nil)
	row([]byte{0, 0, 0, 8}, []byte{}, binary.BigEndian.AppendUint64(nil, math.Float64bits(math.Inf(-1))), nil)
	want = append(want, 0xff, 0xff)
	assert.Equal(t, want, buf)
}

func TestRowErrorFormat(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	err := &pgcopy.RowError{Row: 3, Column: "b", Err: cause}
	assert.Equal(t, `pgcopy: row 3, column "b": boom`, err.Error())
	assert.ErrorIs(t, err, cause)
	assert.Equal(t, "pgcopy: row 4: boom", (&pgcopy.RowError{Row: 4, Err: cause}).Error())
}

func TestParseWhere(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string // the context's shape
		where  string // the Where field
		line   int64  // the line expected
		column string // the column expected
		ok     bool   // whether a line is found
	}{
		{"line only", "COPY t, line 5", 5, "", true},
		{"column and value", `COPY t, line 12, column b: "x"`, 12, "b", true},
		{"null input", "COPY t, line 2, column c: null input", 2, "c", true},
		{"binary column", "COPY t, line 7, column a", 7, "a", true},
		{"raw line", `COPY t, line 3: "1	2"`, 3, "", true},
		{"inside a trigger", "PL/pgSQL function f() line 3 at RAISE\nCOPY t, line 9", 9, "", true},
		{"no line", "COPY t", 0, "", false},
		{"not COPY", "SQL statement \"select 1\"", 0, "", false},
		{"empty", "", 0, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line, column, ok := pgcopy.ParseWhere(tc.where)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.line, line)
			assert.Equal(t, tc.column, column)
		})
	}
}

func TestFormatString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "text", pgcopy.FormatText.String())
	assert.Equal(t, "csv", pgcopy.FormatCSV.String())
	assert.Equal(t, "binary", pgcopy.FormatBinary.String())
	assert.Equal(t, "format(9)", pgcopy.Format(9).String())
}

func TestQuoteIdentifier(t *testing.T) {
	t.Parallel()
	assert.Equal(t, `"t"`, pgcopy.QuoteIdentifier("t"))
	assert.Equal(t, `"My ""odd"" table"`, pgcopy.QuoteIdentifier(`My "odd" table`))
}

// TestEncoderZeroAllocs checks that encoding a row of common values
// allocates nothing once the column plans are cached.
func TestEncoderZeroAllocs(t *testing.T) {
	cols := []pgcopy.Column{{Name: "i", OID: pgtype.Int4OID}, {Name: "t", OID: pgtype.TextOID}, {Name: "f", OID: pgtype.Float8OID}}
	row := []any{int32(42), "some text", 3.25}
	for _, f := range []pgcopy.Format{pgcopy.FormatText, pgcopy.FormatCSV, pgcopy.FormatBinary} {
		t.Run(f.String(), func(t *testing.T) {
			enc := pgcopy.NewEncoder(f, cols)
			buf := make([]byte, 0, 1<<16)
			var err error
			buf, err = enc.AppendRow(buf, row)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() {
				if buf, err = enc.AppendRow(buf[:0], row); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}
