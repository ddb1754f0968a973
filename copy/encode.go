package pgcopy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgstrict/pgstrict/wire"
)

// Format is a COPY data format.
type Format uint8

// COPY formats. Each uses PostgreSQL's default options: text with a tab
// delimiter and \N for NULL, CSV with a comma delimiter, double quotes and an
// unquoted empty string for NULL.
const (
	// FormatText is COPY's text format.
	FormatText Format = iota
	// FormatCSV is COPY's CSV format.
	FormatCSV
	// FormatBinary is COPY's binary format.
	FormatBinary
)

// String returns "text", "csv" or "binary", the name COPY's FORMAT option
// takes.
func (f Format) String() string {
	switch f {
	case FormatText:
		return "text"
	case FormatCSV:
		return "csv"
	case FormatBinary:
		return "binary"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

func (f Format) valid() bool { return f <= FormatBinary }

// binarySignature starts every binary COPY stream.
const binarySignature = "PGCOPY\n\xff\r\n\x00"

// Type OIDs whose binary form is text (checked like text-format values).
const (
	oidBytea   = 17
	oidName    = 19
	oidText    = 25
	oidJSON    = 114
	oidBPChar  = 1042
	oidVarchar = 1043
	oidJSONB   = 3802
)

// Column describes one column of the rows an Encoder writes.
type Column struct {
	// Name names the column in errors.
	Name string
	// OID is the column's type. Binary COPY needs the exact type of the
	// column; for text and CSV it decides how Go values are formatted ([]byte
	// is hex for bytea and raw text otherwise, say). Zero: the type is chosen
	// from the Go value (int64 → int8, string → text, …).
	OID uint32
}

// Encoder appends rows of Go values in one COPY format to a buffer. An
// Encoder is not safe for concurrent use.
//
// Values are converted with the codecs of pgx's pgtype package: nil and
// typed nil pointers are NULL; string, []byte, the integer and float types,
// bool, time.Time, time.Duration, netip and pgtype values, slices for
// arrays, and json-marshalable values for json and jsonb columns, as pgtype
// supports them. In text and CSV every value must be valid UTF-8 without NUL bytes,
// and so must binary values of text types (text, varchar, char, name, json,
// jsonb); a value that is not is refused with a *RowError before anything of
// its row is appended.
type Encoder struct {
	format  Format
	cols    []Column
	plans   []colPlan
	m       *pgtype.Map
	scratch []byte
	row     int64
}

// colPlan caches the pgtype encode plan of a column for one Go type.
type colPlan struct {
	typ  reflect.Type
	plan pgtype.EncodePlan
}

// NewEncoder returns an Encoder for rows of the given columns. With nil
// columns any number of values is accepted and every type is chosen from the
// Go value.
func NewEncoder(format Format, columns []Column) *Encoder {
	return &Encoder{format: format, cols: columns, m: pgtype.NewMap(), scratch: make([]byte, 0, 128)}
}

// Rows returns the number of rows appended so far.
func (e *Encoder) Rows() int64 { return e.row }

// AppendHeader appends what precedes the rows: the signature, flags and
// header extension of the binary format; nothing for text and CSV.
func (e *Encoder) AppendHeader(dst []byte) []byte {
	if e.format != FormatBinary {
		return dst
	}
	dst = append(dst, binarySignature...)
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
}

// AppendTrailer appends what follows the rows: the -1 field count of the
// binary format; nothing for text and CSV.
func (e *Encoder) AppendTrailer(dst []byte) []byte {
	if e.format != FormatBinary {
		return dst
	}
	return append(dst, 0xff, 0xff)
}

// AppendRow appends one row. On error dst is returned as it was and the
// error is a *RowError naming the row (counted from 1 by this Encoder) and
// the column.
func (e *Encoder) AppendRow(dst []byte, values []any) ([]byte, error) {
	e.row++
	start := len(dst)
	if e.cols != nil && len(values) != len(e.cols) {
		return dst, &RowError{Row: e.row, Err: fmt.Errorf("%d values for %d columns", len(values), len(e.cols))}
	}
	if !e.format.valid() {
		return dst, &RowError{Row: e.row, Err: fmt.Errorf("unknown format %s", e.format)}
	}
	if e.format == FormatBinary {
		if len(values) > 0x7fff {
			return dst, &RowError{Row: e.row, Err: fmt.Errorf("%d values do not fit a binary COPY row", len(values))}
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(values)))
	}
	var err error
	for i, v := range values {
		switch e.format {
		case FormatBinary:
			dst, err = e.appendBinary(dst, i, v)
		default:
			if i > 0 {
				dst = append(dst, e.delimiter())
			}
			dst, err = e.appendTextual(dst, i, v)
		}
		if err != nil {
			return dst[:start], &RowError{Row: e.row, Column: e.name(i), Err: err}
		}
	}
	if e.format != FormatBinary {
		dst = append(dst, '\n')
	}
	return dst, nil
}

func (e *Encoder) delimiter() byte {
	if e.format == FormatCSV {
		return ','
	}
	return '\t'
}

func (e *Encoder) name(i int) string {
	if i < len(e.cols) {
		return e.cols[i].Name
	}
	return ""
}

func (e *Encoder) oid(i int) uint32 {
	if i < len(e.cols) {
		return e.cols[i].OID
	}
	return 0
}

// plan returns the cached encode plan of column i for v's type.
func (e *Encoder) plan(i int, format int16, v any) (pgtype.EncodePlan, error) {
	t := reflect.TypeOf(v)
	for len(e.plans) <= i {
		e.plans = append(e.plans, colPlan{})
	}
	if p := &e.plans[i]; p.plan != nil && p.typ == t {
		return p.plan, nil
	}
	oid := e.oid(i)
	plan := e.m.PlanEncode(oid, format, v)
	if plan == nil {
		return nil, fmt.Errorf("cannot encode a %T for type OID %d in %s format", v, oid, e.format)
	}
	e.plans[i] = colPlan{typ: t, plan: plan}
	return plan, nil
}

// appendTextual appends one text or CSV field.
func (e *Encoder) appendTextual(dst []byte, i int, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return e.appendNull(dst), nil
	case string:
		return appendField(dst, x, e.format)
	case []byte:
		if e.oid(i) != oidBytea {
			if x == nil {
				return e.appendNull(dst), nil
			}
			return appendField(dst, x, e.format)
		}
	}
	plan, err := e.plan(i, pgtype.TextFormatCode, v)
	if err != nil {
		return dst, err
	}
	b, err := plan.Encode(v, e.scratch[:0])
	if err != nil {
		return dst, err
	}
	if b == nil {
		return e.appendNull(dst), nil
	}
	e.scratch = b[:0]
	return appendField(dst, b, e.format)
}

func (e *Encoder) appendNull(dst []byte) []byte {
	if e.format == FormatCSV {
		return dst
	}
	return append(dst, '\\', 'N')
}

// appendBinary appends one binary field: its length word and bytes.
func (e *Encoder) appendBinary(dst []byte, i int, v any) ([]byte, error) {
	if v == nil {
		return append(dst, 0xff, 0xff, 0xff, 0xff), nil
	}
	plan, err := e.plan(i, pgtype.BinaryFormatCode, v)
	if err != nil {
		return dst, err
	}
	at := len(dst)
	b, err := plan.Encode(v, append(dst, 0, 0, 0, 0))
	if err != nil {
		return dst, err
	}
	if b == nil {
		return append(dst[:at], 0xff, 0xff, 0xff, 0xff), nil
	}
	n := len(b) - at - 4
	if n > 0x3fffffff {
		return dst[:at], fmt.Errorf("value of %d bytes is over the 1 GiB field limit", n)
	}
	binary.BigEndian.PutUint32(b[at:], uint32(n))
	val := b[at+4:]
	check := false
	switch e.oid(i) {
	case oidJSONB:
		if len(val) > 0 {
			val = val[1:] // the version byte
		}
		check = true
	case oidText, oidVarchar, oidBPChar, oidName, oidJSON:
		check = true
	case 0:
		_, check = v.(string) // sent as text
	}
	if check {
		if ok, off, r := wire.CheckText(val); !ok {
			return dst[:at], valueError(off, r)
		}
	}
	return b, nil
}

// valueError describes a value byte that cannot be sent as text.
func valueError(off int, r wire.Reason) error {
	problem := "invalid UTF-8"
	if r == wire.ReasonNULInText {
		problem = "NUL byte"
	}
	return &wire.InputError{Field: "value", Offset: off, Problem: problem}
}

// checkString is wire.CheckText for a string.
func checkString(s string) (int, wire.Reason) {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return -1, 0
	}
	for i := 0; i < len(s); {
		if s[i] == 0 {
			return i, wire.ReasonNULInText
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i, wire.ReasonInvalidUTF8
		}
		i += size
	}
	return -1, 0
}

func checkBytes(b []byte) (int, wire.Reason) {
	if bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) {
		return -1, 0
	}
	_, off, r := wire.CheckText(b)
	return off, r
}

// appendField validates v and appends it as a text or CSV field.
func appendField[T string | []byte](dst []byte, v T, f Format) ([]byte, error) {
	var off int
	var r wire.Reason
	switch x := any(v).(type) {
	case string:
		off, r = checkString(x)
	case []byte:
		off, r = checkBytes(x)
	}
	if off >= 0 {
		return dst, valueError(off, r)
	}
	if f == FormatCSV {
		return appendCSV(dst, v), nil
	}
	return appendText(dst, v), nil
}

// textEscapes maps the bytes the text format must escape to the letter that
// follows the backslash.
var textEscapes = [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r'}

// appendText appends v escaped for the text format: backslash, tab, newline
// and carriage return become two-byte escapes. v must be valid text.
func appendText[T string | []byte](dst []byte, v T) []byte {
	start := 0
	for i := 0; i < len(v); i++ {
		if esc := textEscapes[v[i]]; esc != 0 {
			dst = append(dst, v[start:i]...)
			dst = append(dst, '\\', esc)
			start = i + 1
		}
	}
	return append(dst, v[start:]...)
}

// csvQuote marks the bytes that force a CSV field into quotes. A backslash
// does so too, so that a lone \. can never be taken for the end-of-data
// marker.
var csvQuote = [256]bool{',': true, '"': true, '\n': true, '\r': true, '\\': true}

// appendCSV appends v as a CSV field: quoted (with quotes doubled) when it
// is empty (an unquoted empty field is NULL) or holds a delimiter, quote,
// newline, carriage return or backslash. v must be valid text.
func appendCSV[T string | []byte](dst []byte, v T) []byte {
	quote := len(v) == 0
	for i := 0; i < len(v) && !quote; i++ {
		quote = csvQuote[v[i]]
	}
	if !quote {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(v); i++ {
		if v[i] == '"' {
			dst = append(dst, v[start:i+1]...)
			dst = append(dst, '"')
			start = i + 1
		}
	}
	dst = append(dst, v[start:]...)
	return append(dst, '"')
}
