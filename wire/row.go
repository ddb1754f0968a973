package wire

// Verdicts of a row scan (scanRowAVX2): the framing is exact and every text
// value passed the quick ASCII-without-NUL test (rowOK); the framing is
// exact but some text value failed the quick test and needs the exact
// UTF-8 check (rowRecheck); the framing is not exact (rowRefuse: the row
// is left to Receive, which refuses it with its reason).
const (
	rowOK      = 0
	rowRecheck = 1
	rowRefuse  = 2
)

// rowSpan is where a row scan found one value: its offset in the DataRow
// body and its length, nullSpan for NULL. A body is shorter than 2^32
// bytes (its length word says so). The assembly takes its layout, and the
// verdicts above, from go_asm.h, so they change with these declarations.
type rowSpan struct {
	off, n uint32
}

// nullSpan is the length a row scan records for a NULL value.
const nullSpan = 0xFFFFFFFF
