package pgcopy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrMalformed is wrapped by every error of a Decoder about data that is
// not valid in its format.
var ErrMalformed = errors.New("pgcopy: malformed COPY data")

// Decoder splits COPY data in one format into rows of raw field values, as
// the server sends them in COPY TO STDOUT (one row per CopyData message) or
// as they lie in a file. A Decoder is not safe for concurrent use.
//
// Values are not converted: a text or CSV value is
// the field's text with escapes and quotes removed, a binary value is the
// type's binary representation; nil is NULL.
//
// Fields alias the data given to Decode when the field needs no unescaping
// (always in binary), and the Decoder's own buffer otherwise; either way
// they are valid until the next call to Decode.
type Decoder struct {
	format  Format
	fields  [][]byte
	spans   []span
	scratch []byte
	started bool // binary: the header was consumed
	ended   bool // the end-of-data marker was consumed
	cols    int  // binary: the field count of the rows, -1 before the first
}

// span locates one decoded field: in the input, in the scratch buffer, or
// NULL.
type span struct {
	where uint8 // spanNull, spanData, spanScratch
	a, b  int
}

const (
	spanNull uint8 = iota
	spanData
	spanScratch
)

// NewDecoder returns a Decoder for data in format.
func NewDecoder(format Format) *Decoder {
	return &Decoder{format: format, cols: -1}
}

// Decode decodes the row at the start of data and returns its fields and
// the number of bytes it took. When data does not hold a complete row it
// returns io.ErrUnexpectedEOF and consumes nothing (call again with more
// data). The end-of-data marker (the binary trailer, or a \. line in text
// and CSV) returns io.EOF with the bytes it took; data after it is an
// error. In binary the file header is consumed together with the first row.
// Other errors wrap ErrMalformed.
func (d *Decoder) Decode(data []byte) (fields [][]byte, n int, err error) {
	if d.ended {
		if len(data) == 0 {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("%w: data after the end marker", ErrMalformed)
	}
	switch d.format {
	case FormatText:
		return d.decodeText(data)
	case FormatCSV:
		return d.decodeCSV(data)
	case FormatBinary:
		return d.decodeBinary(data)
	}
	return nil, 0, fmt.Errorf("%w: unknown format %s", ErrMalformed, d.format)
}

// build turns the spans into field slices.
func (d *Decoder) build(data []byte) [][]byte {
	d.fields = d.fields[:0]
	for _, s := range d.spans {
		switch s.where {
		case spanNull:
			d.fields = append(d.fields, nil)
		case spanData:
			d.fields = append(d.fields, data[s.a:s.b:s.b])
		default:
			d.fields = append(d.fields, d.scratch[s.a:s.b:s.b])
		}
	}
	return d.fields
}

// isEndMarker reports whether line (without its newline) is \. alone.
func isEndMarker(line []byte) bool {
	return len(line) == 2 && line[0] == '\\' && line[1] == '.'
}

func (d *Decoder) decodeText(data []byte) ([][]byte, int, error) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	line := data[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if isEndMarker(line) {
		d.ended = true
		return nil, nl + 1, io.EOF
	}
	d.spans, d.scratch = d.spans[:0], d.scratch[:0]
	start := 0
	for {
		j, escaped := start, false
		for j < len(line) && line[j] != '\t' {
			if line[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		if j > len(line) {
			j = len(line)
		}
		raw := line[start:j]
		switch {
		case len(raw) == 2 && raw[0] == '\\' && raw[1] == 'N':
			d.spans = append(d.spans, span{where: spanNull})
		case !escaped:
			d.spans = append(d.spans, span{where: spanData, a: start, b: j})
		default:
			a := len(d.scratch)
			d.scratch = unescapeText(d.scratch, raw)
			d.spans = append(d.spans, span{where: spanScratch, a: a, b: len(d.scratch)})
		}
		if j >= len(line) {
			break
		}
		start = j + 1
	}
	return d.build(data), nl + 1, nil
}

// unescapeText appends raw with the text format's backslash escapes
// resolved: \b \f \n \r \t \v, octal \ooo, hex \xhh, and a backslash before
// any other byte standing for that byte.
func unescapeText(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i == len(raw) {
			return append(dst, '\\')
		}
		c = raw[i]
		switch {
		case c >= '0' && c <= '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(raw) && raw[i+1] >= '0' && raw[i+1] <= '7'; k++ {
				i++
				v = v*8 + int(raw[i]-'0')
			}
			dst = append(dst, byte(v))
		case c == 'x' && i+1 < len(raw) && hexVal(raw[i+1]) >= 0:
			i++
			v := hexVal(raw[i])
			if i+1 < len(raw) && hexVal(raw[i+1]) >= 0 {
				i++
				v = v*16 + hexVal(raw[i])
			}
			dst = append(dst, byte(v))
		case c == 'b':
			dst = append(dst, '\b')
		case c == 'f':
			dst = append(dst, '\f')
		case c == 'n':
			dst = append(dst, '\n')
		case c == 'r':
			dst = append(dst, '\r')
		case c == 't':
			dst = append(dst, '\t')
		case c == 'v':
			dst = append(dst, '\v')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (d *Decoder) decodeCSV(data []byte) ([][]byte, int, error) {
	if len(data) >= 3 && data[0] == '\\' && data[1] == '.' && (data[2] == '\n' || (data[2] == '\r' && len(data) >= 4 && data[3] == '\n')) {
		d.ended = true
		if data[2] == '\r' {
			return nil, 4, io.EOF
		}
		return nil, 3, io.EOF
	}
	d.spans, d.scratch = d.spans[:0], d.scratch[:0]
	i := 0
	for {
		start := i
		quoted, inQuote, simple := false, false, true
		for {
			if i >= len(data) {
				return nil, 0, io.ErrUnexpectedEOF
			}
			c := data[i]
			if inQuote {
				if c == '"' {
					if i+1 < len(data) && data[i+1] == '"' {
						simple = false
						i += 2
						continue
					}
					if i+1 >= len(data) {
						return nil, 0, io.ErrUnexpectedEOF
					}
					inQuote = false
				}
				i++
				continue
			}
			if c == ',' || c == '\n' || (c == '\r' && i+1 < len(data) && data[i+1] == '\n') {
				break
			}
			if c == '"' {
				if i != start {
					simple = false
				}
				quoted, inQuote = true, true
			} else if quoted {
				simple = false // text after the closing quote
			}
			i++
		}
		end := i
		switch {
		case !quoted && end == start:
			d.spans = append(d.spans, span{where: spanNull})
		case !quoted:
			d.spans = append(d.spans, span{where: spanData, a: start, b: end})
		case simple:
			d.spans = append(d.spans, span{where: spanData, a: start + 1, b: end - 1})
		default:
			a := len(d.scratch)
			d.scratch = unquoteCSV(d.scratch, data[start:end])
			d.spans = append(d.spans, span{where: spanScratch, a: a, b: len(d.scratch)})
		}
		switch data[i] {
		case ',':
			i++
			continue
		case '\r':
			i += 2
		default:
			i++
		}
		return d.build(data), i, nil
	}
}

// unquoteCSV appends a CSV field with its quoting removed: quotes toggle
// quoting, and a doubled quote inside quotes stands for one quote.
func unquoteCSV(dst, raw []byte) []byte {
	inQuote := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '"' {
			dst = append(dst, c)
			continue
		}
		if inQuote && i+1 < len(raw) && raw[i+1] == '"' {
			dst = append(dst, '"')
			i++
			continue
		}
		inQuote = !inQuote
	}
	return dst
}

func (d *Decoder) decodeBinary(data []byte) ([][]byte, int, error) {
	p := 0
	if !d.started {
		if len(data) < len(binarySignature)+8 {
			if !bytes.HasPrefix([]byte(binarySignature), data[:min(len(data), len(binarySignature))]) {
				return nil, 0, fmt.Errorf("%w: binary: missing signature", ErrMalformed)
			}
			return nil, 0, io.ErrUnexpectedEOF
		}
		if string(data[:len(binarySignature)]) != binarySignature {
			return nil, 0, fmt.Errorf("%w: binary: missing signature", ErrMalformed)
		}
		p = len(binarySignature)
		flags := binary.BigEndian.Uint32(data[p:])
		if flags&0x1ffff != 0 {
			return nil, 0, fmt.Errorf("%w: binary: unsupported header flags %#x", ErrMalformed, flags)
		}
		ext := binary.BigEndian.Uint32(data[p+4:])
		p += 8
		if ext > uint32(len(data)-p) {
			if ext > 1<<30 {
				return nil, 0, fmt.Errorf("%w: binary: header extension of %d bytes", ErrMalformed, ext)
			}
			return nil, 0, io.ErrUnexpectedEOF
		}
		p += int(ext)
	}
	if len(data)-p < 2 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	count := int16(binary.BigEndian.Uint16(data[p:]))
	p += 2
	if count == -1 {
		d.started, d.ended = true, true
		return nil, p, io.EOF
	}
	if count < 0 {
		return nil, 0, fmt.Errorf("%w: binary: field count %d", ErrMalformed, count)
	}
	if d.cols >= 0 && int(count) != d.cols {
		return nil, 0, fmt.Errorf("%w: binary: row of %d fields after rows of %d", ErrMalformed, count, d.cols)
	}
	d.fields = d.fields[:0]
	for range int(count) {
		if len(data)-p < 4 {
			return nil, 0, io.ErrUnexpectedEOF
		}
		l := int32(binary.BigEndian.Uint32(data[p:]))
		p += 4
		switch {
		case l == -1:
			d.fields = append(d.fields, nil)
			continue
		case l < 0:
			return nil, 0, fmt.Errorf("%w: binary: field length %d", ErrMalformed, l)
		case int(l) > len(data)-p:
			return nil, 0, io.ErrUnexpectedEOF
		}
		d.fields = append(d.fields, data[p:p+int(l):p+int(l)])
		p += int(l)
	}
	d.started = true
	d.cols = int(count)
	return d.fields, p, nil
}
