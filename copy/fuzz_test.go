package pgcopy_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	pgcopy "github.com/pgstrict/pgstrict/copy"
)

// fuzzFormats are the formats the fuzz targets pick from with one byte.
var fuzzFormats = []pgcopy.Format{pgcopy.FormatText, pgcopy.FormatCSV, pgcopy.FormatBinary}

// fuzzRow splits a fuzz input into a row: fields separated by 0x1f, a field
// that is exactly 0x1e is NULL.
func fuzzRow(data []byte) []any {
	parts := bytes.Split(data, []byte{0x1f})
	row := make([]any, len(parts))
	for i, p := range parts {
		if len(p) == 1 && p[0] == 0x1e {
			row[i] = nil
			continue
		}
		row[i] = string(p)
	}
	return row
}

// sendable reports whether every field of row may be sent as text.
func sendable(row []any) bool {
	for _, v := range row {
		if s, ok := v.(string); ok && (!utf8.ValidString(s) || bytes.IndexByte([]byte(s), 0) >= 0) {
			return false
		}
	}
	return true
}

// FuzzEncodeDecodeRow checks the round trip of the text and CSV escapers
// and of the binary layout: every row of valid text values decodes to
// itself, and a row with an invalid value is refused whole.
func FuzzEncodeDecodeRow(f *testing.F) {
	// Seeds: plain values, every byte the escapers treat specially, NULL
	// next to empty strings, the end-of-data marker, invalid text.
	for _, s := range []string{
		"a\x1fb", "", "\x1e", "\x1e\x1f", "\x1f\x1e\x1f",
		"tab\there\x1fnl\ncr\r\x1fback\\slash", `\N`, `\.`, "\"quoted\",comma",
		"é\x1f日本", "nul\x00", "bad\xff", "\r\n\x1f\n\r",
	} {
		for i := range fuzzFormats {
			f.Add(byte(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, fb byte, data []byte) {
		format := fuzzFormats[int(fb)%len(fuzzFormats)]
		row := fuzzRow(data)
		enc := pgcopy.NewEncoder(format, nil)
		buf, err := enc.AppendRow(enc.AppendHeader([]byte("keep")), row)
		if !sendable(row) {
			var re *pgcopy.RowError
			if !errors.As(err, &re) {
				t.Fatalf("an invalid row must be refused with a *RowError, got %v", err)
			}
			if string(buf) != string(enc.AppendHeader([]byte("keep"))) {
				t.Fatalf("a refused row left bytes behind: %q", buf)
			}
			return
		}
		if err != nil {
			t.Fatalf("encode %q: %v", row, err)
		}
		buf = enc.AppendTrailer(buf)[len("keep"):]
		dec := pgcopy.NewDecoder(format)
		fields, n, err := dec.Decode(buf)
		if err != nil {
			t.Fatalf("decode %q (encoded %q): %v", row, buf, err)
		}
		if len(fields) != len(row) {
			t.Fatalf("%d fields decoded from %q, want %d", len(fields), buf, len(row))
		}
		for i, v := range row {
			switch {
			case v == nil && fields[i] != nil:
				t.Fatalf("field %d: NULL decoded as %q (encoded %q)", i, fields[i], buf)
			case v != nil && (fields[i] == nil || string(fields[i]) != v.(string)):
				t.Fatalf("field %d: %q decoded as %q (encoded %q)", i, v, fields[i], buf)
			}
		}
		rest := buf[n:]
		if format == pgcopy.FormatBinary {
			if _, _, err := dec.Decode(rest); !errors.Is(err, io.EOF) {
				t.Fatalf("the trailer decodes as %v", err)
			}
		} else if len(rest) != 0 {
			t.Fatalf("%d bytes left after one row", len(rest))
		}
	})
}

// FuzzDecoder feeds arbitrary bytes to the decoders: they must not panic,
// must consume nothing or a prefix, and a decoded row must encode to data
// that decodes to the same row.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"a\tb\n", "\\N\t\\101\\x4g\\\n", "\\.\n", "\"a\"\"b\",\n", "a\"b,c\"d\r\n", "\"open\n",
		"PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01a\xff\xff",
		"PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x04abcd\x00\x00",
	} {
		for i := range fuzzFormats {
			f.Add(byte(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, fb byte, data []byte) {
		format := fuzzFormats[int(fb)%len(fuzzFormats)]
		dec := pgcopy.NewDecoder(format)
		fields, n, err := dec.Decode(data)
		if n < 0 || n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && n != 0 {
				t.Fatalf("an incomplete row consumed %d bytes", n)
			}
			return
		}
		row := make([]any, len(fields))
		for i, fv := range fields {
			if fv != nil {
				row[i] = string(fv)
			}
		}
		if !sendable(row) {
			return // octal or hex escapes can decode to bytes that cannot be sent back
		}
		enc := pgcopy.NewEncoder(format, nil)
		buf, err := enc.AppendRow(enc.AppendHeader(nil), row)
		if err != nil {
			t.Fatalf("re-encode %q: %v", row, err)
		}
		again, _, err := pgcopy.NewDecoder(format).Decode(buf)
		if err != nil {
			t.Fatalf("decode the re-encoded %q: %v", buf, err)
		}
		if len(again) != len(fields) {
			t.Fatalf("%d fields, then %d", len(fields), len(again))
		}
		for i := range fields {
			if (fields[i] == nil) != (again[i] == nil) || string(fields[i]) != string(again[i]) {
				t.Fatalf("field %d: %q, then %q", i, fields[i], again[i])
			}
		}
	})
}
