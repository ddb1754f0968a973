package pgcopy_test

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/pgstrict/pgstrict/copy"
)

// nul marks a NULL field in the tables below.
const nul = "\x00NULL"

// fieldsOf turns decoded fields into strings, nul for NULL.
func fieldsOf(fields [][]byte) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		if f == nil {
			out[i] = nul
			continue
		}
		out[i] = string(f)
	}
	return out
}

func TestDecoderRows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string        // what the input shows
		format pgcopy.Format // its format
		data   string        // one row (and maybe more after it)
		want   []string      // the fields of the first row
		n      int           // bytes the row takes (0: all of data)
	}{
		{"text plain", pgcopy.FormatText, "a\tb c\n", []string{"a", "b c"}, 0},
		{"text NULL", pgcopy.FormatText, "\\N\tx\t\\N\n", []string{nul, "x", nul}, 0},
		{"text escapes", pgcopy.FormatText, "t\\tab\tn\\nl\\r\\\\\\b\\f\\v\n", []string{"t\tab", "n\nl\r\\\b\f\v"}, 0},
		{"text octal and hex", pgcopy.FormatText, "\\101\\x41\\x4a\\7x\\xg\n", []string{"AAJ\axxg"}, 0},
		{"text escaped delimiter", pgcopy.FormatText, "a\\\tb\tc\n", []string{"a\tb", "c"}, 0},
		{"text backslash N inside", pgcopy.FormatText, "a\\N\t\\\\N\n", []string{"aN", `\N`}, 0},
		{"text empty fields", pgcopy.FormatText, "\t\n", []string{"", ""}, 0},
		{"text one empty field", pgcopy.FormatText, "\n", []string{""}, 0},
		{"text CRLF", pgcopy.FormatText, "a\tb\r\n", []string{"a", "b"}, 0},
		{"text two rows", pgcopy.FormatText, "1\n2\n", []string{"1"}, 2},
		{"csv plain", pgcopy.FormatCSV, "a,1\n", []string{"a", "1"}, 0},
		{"csv NULL and empty", pgcopy.FormatCSV, ",\"\"\n", []string{nul, ""}, 0},
		{"csv quoted", pgcopy.FormatCSV, "\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\"\n", []string{"a,b", `say "hi"`, "l1\nl2"}, 0},
		{"csv quote mid-field", pgcopy.FormatCSV, "a\"b,c\"d,e\n", []string{"ab,cd", "e"}, 0},
		{"csv backslash is data", pgcopy.FormatCSV, "\\N,\"\\.\"\n", []string{`\N`, `\.`}, 0},
		{"csv CRLF", pgcopy.FormatCSV, "a,b\r\n", []string{"a", "b"}, 0},
		{"csv two rows", pgcopy.FormatCSV, "1\n2\n", []string{"1"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fields, n, err := pgcopy.NewDecoder(tc.format).Decode([]byte(tc.data))
			require.NoError(t, err)
			assert.Equal(t, tc.want, fieldsOf(fields))
			if tc.n == 0 {
				tc.n = len(tc.data)
			}
			assert.Equal(t, tc.n, n)
		})
	}
}

// binaryStream builds binary COPY data: the header, rows of fields (nil =
// NULL) and the trailer.
func binaryStream(rows ...[][]byte) []byte {
	b := []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	for _, r := range rows {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		for _, f := range r {
			if f == nil {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
	}
	return append(b, 0xff, 0xff)
}

func TestDecoderBinary(t *testing.T) {
	t.Parallel()
	data := binaryStream([][]byte{[]byte("ab"), nil, {}}, [][]byte{[]byte("c"), []byte("d"), nil})
	dec := pgcopy.NewDecoder(pgcopy.FormatBinary)
	var rows [][]string
	for {
		fields, n, err := dec.Decode(data)
		if err == io.EOF {
			data = data[n:]
			break
		}
		require.NoError(t, err)
		rows = append(rows, fieldsOf(fields))
		data = data[n:]
	}
	assert.Empty(t, data, "the trailer is consumed")
	assert.Equal(t, [][]string{{"ab", nul, ""}, {"c", "d", nul}}, rows)
	_, _, err := dec.Decode([]byte{0})
	assert.ErrorIs(t, err, pgcopy.ErrMalformed, "data after the trailer")
	_, _, err = dec.Decode(nil)
	assert.ErrorIs(t, err, io.EOF)
}

func TestDecoderIncomplete(t *testing.T) {
	t.Parallel()
	full := map[pgcopy.Format]string{
		pgcopy.FormatText:   "a\tb\\tc\n",
		pgcopy.FormatCSV:    "\"a\"\"\nb\",c\r\n",
		pgcopy.FormatBinary: string(binaryStream([][]byte{[]byte("xyz"), nil})),
	}
	for format, data := range full {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			end := len(data)
			if format == pgcopy.FormatBinary {
				end -= 2 // the trailer
			}
			for cut := 0; cut < end; cut++ {
				dec := pgcopy.NewDecoder(format)
				_, n, err := dec.Decode([]byte(data[:cut]))
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
				assert.Zero(t, n, "an incomplete row consumes nothing")
				fields, n, err := dec.Decode([]byte(data))
				require.NoError(t, err, "the same Decoder continues after more data arrives (cut %d)", cut)
				assert.Equal(t, end, n)
				assert.Len(t, fields, 2)
			}
		})
	}
}

func TestDecoderEndMarker(t *testing.T) {
	t.Parallel()
	for _, f := range []pgcopy.Format{pgcopy.FormatText, pgcopy.FormatCSV} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			dec := pgcopy.NewDecoder(f)
			_, n, err := dec.Decode([]byte("\\.\n"))
			assert.ErrorIs(t, err, io.EOF)
			assert.Equal(t, 3, n)
			_, _, err = dec.Decode([]byte("1\n"))
			assert.ErrorIs(t, err, pgcopy.ErrMalformed)
		})
	}
}

func TestDecoderMalformedBinary(t *testing.T) {
	t.Parallel()
	header := "PGCOPY\n\xff\r\n\x00"
	cases := []struct {
		name string // what is wrong
		data []byte // the input
	}{
		{"bad signature", []byte("PGCOPY\n\xff\r\n\x01\x00\x00\x00\x00\x00\x00\x00\x00")},
		{"not COPY data", []byte("hello")},
		{"critical flag", []byte(header + "\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00")},
		{"OID flag", []byte(header + "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")},
		{"negative field count", []byte(header + "\x00\x00\x00\x00\x00\x00\x00\x00\xff\xfe")},
		{"negative field length", []byte(header + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xfe")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := pgcopy.NewDecoder(pgcopy.FormatBinary).Decode(tc.data)
			assert.ErrorIs(t, err, pgcopy.ErrMalformed)
		})
	}
	t.Run("changing field count", func(t *testing.T) {
		t.Parallel()
		data := binaryStream([][]byte{[]byte("a")}, [][]byte{[]byte("a"), []byte("b")})
		dec := pgcopy.NewDecoder(pgcopy.FormatBinary)
		_, n, err := dec.Decode(data)
		require.NoError(t, err)
		_, _, err = dec.Decode(data[n:])
		assert.ErrorIs(t, err, pgcopy.ErrMalformed)
	})
}

// TestDecoderZeroCopy checks that fields that need no unescaping alias the
// input.
func TestDecoderZeroCopy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format pgcopy.Format
		data   []byte
	}{
		{pgcopy.FormatText, []byte("abc\tdef\n")},
		{pgcopy.FormatCSV, []byte("abc,\"def\"\n")},
		{pgcopy.FormatBinary, binaryStream([][]byte{[]byte("abc"), []byte("def")})},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			t.Parallel()
			fields, _, err := pgcopy.NewDecoder(tc.format).Decode(tc.data)
			require.NoError(t, err)
			require.Len(t, fields, 2)
			fields[0][0] = 'X'
			assert.Contains(t, string(tc.data), "Xbc", "the field aliases the input")
		})
	}
}

func TestDecoderZeroAllocs(t *testing.T) {
	for _, tc := range []struct {
		format pgcopy.Format
		data   []byte
	}{
		{pgcopy.FormatText, []byte("123\tsome \\ttext\t4.5\n")},
		{pgcopy.FormatCSV, []byte("123,\"some, text\",4.5\n")},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			dec := pgcopy.NewDecoder(tc.format)
			_, _, err := dec.Decode(tc.data)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() {
				if _, _, err := dec.Decode(tc.data); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}
