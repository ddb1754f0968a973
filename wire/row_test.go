//go:build amd64 && !purego

package wire_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// Verdicts of wire.ScanRow (rowOK, rowRecheck, rowRefuse in the package).
const (
	scanOK      = 0
	scanRecheck = 1
	scanRefuse  = 2
)

// scanRowRef is the definition wire.ScanRow must match, written as plainly
// as possible: the rules of NextRow's Go loop, with asciiNoNULRef as the
// quick text test.
func scanRowRef(body []byte, text []bool) (verdict uint8, spans []uint32) {
	p, recheck := 2, false
	for i := range text {
		if len(body)-p < 4 {
			return scanRefuse, nil
		}
		l := int32(binary.BigEndian.Uint32(body[p:]))
		p += 4
		if l == -1 {
			spans = append(spans, uint32(p), 0xFFFFFFFF)
			continue
		}
		if l < 0 || int(l) > len(body)-p {
			return scanRefuse, nil
		}
		spans = append(spans, uint32(p), uint32(l))
		if text[i] && !asciiNoNULRef(body[p:p+int(l)]) {
			recheck = true
		}
		p += int(l)
	}
	if p != len(body) {
		return scanRefuse, nil
	}
	if recheck {
		return scanRecheck, spans
	}
	return scanOK, spans
}

// rowBody encodes a DataRow body with pgproto3 (nil: NULL): the message
// without its type byte and length word.
func rowBody(vals ...[]byte) []byte {
	msg, err := (&pgproto3.DataRow{Values: vals}).Encode(nil)
	if err != nil {
		panic(err)
	}
	return msg[5:]
}

// dataRow frames body as a DataRow message.
func dataRow(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{'D'}, uint32(4+len(body))), body...)
}

// scanFunc is the signature of wire.ScanRow.
type scanFunc = func(b []byte, max int, text []bool) (int, uint8, []uint32)

// checkScanRow runs wire.ScanRow on body, framed as a DataRow, and
// compares verdict and spans with scanRowRef; an accepted row's size must
// be its message's.
func checkScanRow(t *testing.T, scan scanFunc, body []byte, text []bool, format string, args ...any) {
	t.Helper()
	name := func() string { return fmt.Sprintf(format, args...) }
	want, wantSpans := scanRowRef(body, text)
	if len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(text) {
		want = scanRefuse // the header check: no count, or another count
	}
	msg := dataRow(body)
	size, got, spans := scan(msg, 1<<30, text)
	if got != want {
		t.Fatalf("%s: ScanRow(% x, %v) = %d, want %d", name(), body, text, got, want)
	}
	if want == scanRefuse {
		return
	}
	if size != len(msg) {
		t.Fatalf("%s: ScanRow(% x, %v) size %d, want %d", name(), body, text, size, len(msg))
	}
	if fmt.Sprint(spans) != fmt.Sprint(wantSpans) {
		t.Fatalf("%s: ScanRow(% x, %v) spans %v, want %v", name(), body, text, spans, wantSpans)
	}
}

// TestScanRowHeader checks what scanRowAVX2 requires of a message before
// its body: a whole DataRow within the cap whose column count is the
// result's. Each failure is a refusal, never a row.
func TestScanRowHeader(t *testing.T) {
	scan := wire.ScanRow
	if scan == nil {
		t.Skip("no register scan on this processor (no AVX2)")
	}
	body := rowBody([]byte("1"), nil, []byte("x"))
	text := []bool{true, true, true}
	msg := dataRow(body)
	next := append(bytes.Clone(msg), dataRow(rowBody())...) // a row and the start of another
	for _, tc := range []struct {
		name string
		b    []byte
		max  int
		text []bool
		size int // 0: refused
	}{
		{"the row", msg, len(body), text, len(msg)},
		{"the row and more", next, len(body), text, len(msg)},
		{"body over the cap", msg, len(body) - 1, text, 0},
		{"another type", append([]byte{'d'}, msg[1:]...), len(body), text, 0},
		{"fewer columns in the result", msg, len(body), text[:2], 0},
		{"more columns in the result", msg, len(body), append(text, true), 0},
		{"length word 5", append([]byte{'D', 0, 0, 0, 5, 0, 0}, 0, 0), 10, nil, 0},
		{"length word 6, no columns", []byte{'D', 0, 0, 0, 6, 0, 0}, 10, nil, 7},
		{"length word 2^32-1", append([]byte{'D', 0xff, 0xff, 0xff, 0xff}, body...), 1 << 40, text, 0},
		{"nothing", nil, 10, nil, 0},
	} {
		size, verdict, _ := scan(tc.b, tc.max, tc.text)
		if tc.size == 0 && verdict != scanRefuse {
			t.Errorf("%s: verdict %d, want a refusal", tc.name, verdict)
		}
		if tc.size != 0 && (verdict != scanOK || size != tc.size) {
			t.Errorf("%s: size %d, verdict %d, want %d, %d", tc.name, size, verdict, tc.size, scanOK)
		}
	}
	// Every prefix of the message is refused: it is not wholly buffered.
	for k := range len(msg) {
		if _, verdict, _ := scan(msg[:k], len(body), text); verdict != scanRefuse {
			t.Errorf("prefix %d of %d: verdict %d, want a refusal", k, len(msg), verdict)
		}
	}
}

// TestScanRowMatchesReference holds NextRow's register scan to its
// definition: every byte that matters at every position of values of every
// length up to 300 (the branches are at 4, 8, 16, 32, 64 and 128 bytes),
// as a text and as a binary column, alone and between other columns; and
// every framing fault: each truncation of a row, lengths past the body,
// negative lengths other than -1, trailing bytes, a body shorter than its
// column count.
func TestScanRowMatchesReference(t *testing.T) {
	scan := wire.ScanRow
	if scan == nil {
		t.Skip("no register scan on this processor (no AVX2)")
	}
	var lengths []int
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 511, 512, 513, 1023, 1024, 1025, 4097)
	bytesAt := []byte{0x00, 0x01, 0x7f, 0x80, 0xc3, 0xff}
	neighbours := [][]byte{nil, {}, []byte("a"), []byte("row 123456"), bytes.Repeat([]byte("y"), 40)}
	checked := 0
	for _, n := range lengths {
		base := bytes.Repeat([]byte("x"), n)
		for pos := -1; pos < n; pos++ {
			if n > 300 && pos > 70 && pos < n-70 && pos%61 != 0 {
				continue // long values: the edges and a sample of the middle
			}
			for _, c := range bytesAt {
				if pos < 0 && c != 0 {
					continue // pos -1: the value as it is, once
				}
				v := bytes.Clone(base)
				if pos >= 0 {
					v[pos] = c
				}
				for _, text := range []bool{true, false} {
					checkScanRow(t, scan, rowBody(v), []bool{text}, "len %d, byte %#x at %d", n, c, pos)
					checked++
				}
				// The value between others, whose own checks must
				// neither hide its failure nor invent one: at the edges
				// and in the middle.
				if pos != -1 && pos != 0 && pos != n/2 && pos != n-1 {
					continue
				}
				for _, other := range neighbours {
					body := rowBody(other, v, other)
					checkScanRow(t, scan, body, []bool{true, true, true}, "len %d between %q", n, other)
					checkScanRow(t, scan, body, []bool{true, false, true}, "len %d between %q, binary", n, other)
					checked += 2
				}
			}
		}
	}
	// Framing: every prefix of a row is refused (but the whole row), and
	// so is the row with any byte appended.
	good := rowBody([]byte("12345"), []byte("row 12345"), nil, bytes.Repeat([]byte("x"), 100), []byte{})
	text := []bool{true, true, true, true, true}
	for k := 0; k <= len(good)+1; k++ {
		body := good
		if k <= len(good) {
			body = good[:k]
		} else {
			body = append(bytes.Clone(good), 'z')
		}
		checkScanRow(t, scan, body, text, "prefix %d of %d", k, len(good))
		checked++
	}
	// Every length word of the row set to each value that matters.
	for col, at := 0, 2; col < len(text); col++ {
		l := int(int32(binary.BigEndian.Uint32(good[at:])))
		for _, bad := range []uint32{0xFFFFFFFE, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0, 1, uint32(len(good)), uint32(l + 1)} {
			body := bytes.Clone(good)
			binary.BigEndian.PutUint32(body[at:], bad)
			checkScanRow(t, scan, body, text, "column %d length %#x", col, bad)
			checked++
		}
		at += 4
		if l > 0 {
			at += l
		}
	}
	// No columns: only the count.
	checkScanRow(t, scan, rowBody(), nil, "no columns")
	checkScanRow(t, scan, append(rowBody(), 0), nil, "no columns, a stray byte")
	t.Logf("%d rows checked", checked)
}

// FuzzScanRow compares NextRow's register scan with its definition on
// arbitrary bodies: the fuzzer picks the body's bytes (its column count
// taken modulo 128) and which of its columns are text.
func FuzzScanRow(f *testing.F) {
	f.Add(rowBody([]byte("12345"), []byte("row 12345"), nil, bytes.Repeat([]byte("x"), 100)), uint64(0xF))
	f.Add(rowBody(bytes.Repeat([]byte("x"), 70), []byte("a\x00b"), []byte("é")), uint64(0x5))
	f.Add(rowBody(nil, []byte{}, bytes.Repeat([]byte{0x80}, 33)), uint64(0x6))
	f.Fuzz(func(t *testing.T, body []byte, textMask uint64) {
		scan := wire.ScanRow
		if scan == nil {
			t.Skip("no register scan on this processor (no AVX2)")
		}
		if len(body) < 2 {
			// No column count: a message of length 4 or 5, refused.
			checkScanRow(t, scan, body, nil, "fuzzed, no count")
			return
		}
		// The count must equal len(text): at most 127 columns, so that the
		// mask covers every column at most twice.
		body = bytes.Clone(body)
		cols := int(binary.BigEndian.Uint16(body)) % 128
		binary.BigEndian.PutUint16(body, uint16(cols))
		text := make([]bool, cols)
		for i := range text {
			text[i] = textMask&(1<<(i%64)) != 0
		}
		checkScanRow(t, scan, body, text, "fuzzed")
	})
}
