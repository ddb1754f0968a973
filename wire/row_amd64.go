//go:build amd64 && !purego

package wire

// nextRow is NextRow's and ReadRow's implementation (read set for
// ReadRow): nextRowScan, which frames and checks a row with scanRowAVX2, in
// registers, where the processor has AVX2, else the Go column loop. Tests
// switch it to compare the two.
var nextRow = func() func(*Frontend, bool) ([][]byte, bool) {
	if useAVX2 {
		return (*Frontend).nextRowScan
	}
	return (*Frontend).nextRowGo
}()

// scanRowAVX2 takes the DataRow at the start of b, the buffered input from
// a message's type byte on: if b begins with a whole DataRow ('D', a
// length of at least 6, a body within max and buffered, a column count of
// len(text)), it frames the row's values and runs the quick text test on
// those whose text[i] is set. It returns the message's size (1 + its
// length word) and rowOK or rowRecheck, spans[i] holding the offset of
// value i in the body, b[5:size], and its length (nullSpan for NULL);
// anything else is rowRefuse. spans must hold len(text) entries. It
// applies the rules of NextRow's Go loop, and a differential test and
// FuzzScanRow hold it to them: every length is -1 or fits in what is left
// of the body, and the values end where the body ends.
//
//go:noescape
func scanRowAVX2(b []byte, max int, text []bool, spans []rowSpan) (size int, verdict uint8)

// nextRowScan is NextRow (ReadRow with read set) on amd64 with AVX2: the
// row's header, framing and quick text test in registers (scanRowAVX2).
func (f *Frontend) nextRowScan(read bool) ([][]byte, bool) {
	t := f.tr
	if !t.rowArmed() {
		return nil, false
	}
	// rowFast implies 0 <= t.cols == len(t.rowText) (enableRowFast); the
	// check costs nothing and turns a broken invariant into a decline.
	cols := t.cols
	if uint(cols) > uint(len(t.rowText)) {
		return nil, false
	}
	// The values' places come back in f.spans.
	if cap(f.spans) < cols {
		f.spans = make([]rowSpan, cols)
	}
	if cap(f.row) < cols {
		f.row = make([][]byte, cols)
	}
	spans := f.spans[:cols]
	rd := f.rd
	r := rd.r + rd.pending
	size, verdict := scanRowAVX2(rd.buf[r:rd.w], rd.bounds['D'].max, t.rowText[:cols], spans)
	if verdict == rowRefuse {
		if read && rd.complete(r, 'D') {
			return f.nextRowScan(false) // the row is buffered now
		}
		return nil, false
	}
	body := rd.buf[r+5 : r+size]
	vals := f.row[:len(spans)]
	for i, sp := range spans {
		if sp.n == nullSpan {
			vals[i] = nil
			continue
		}
		end := int(sp.off) + int(sp.n)
		vals[i] = body[sp.off:end:end]
	}
	if verdict == rowRecheck && !validValues(vals, t.rowText) {
		return nil, false
	}
	t.rows++
	rd.take(r, size)
	return vals, true
}
