//go:build amd64 && !purego

package wire

// rowScan reports whether NextRow frames and checks a row with
// scanRowAVX2, in registers, instead of its Go column loop. Tests turn it
// off to compare the two.
var rowScan = useAVX2

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
