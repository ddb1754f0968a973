package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// envTraceRegress, set to 1 in the command's environment, makes --trace hide
// volatile fields (timestamps, process IDs, keys, server parameter values)
// so that traces can be compared with golden files.
const envTraceRegress = "PGSTRICT_TRACE_REGRESS"

// Bounds of the aligned table output.
const (
	// nullMarker is how the table shows SQL NULL.
	nullMarker = "(null)"
	// maxColumnWidth caps the width a column is padded to; wider values are
	// printed whole and push the rest of their row to the right.
	maxColumnWidth = 64
	// widthSampleRows is how many rows of a result are held back to measure
	// the column widths; later rows are printed at once with those widths.
	widthSampleRows = 1000
	// maxCaretLine is the widest SQL excerpt shown under an error position.
	maxCaretLine = 72
)

// execDrainTimeout bounds the recovery after Ctrl-C or --timeout: sending the
// CancelRequest and reading the outstanding replies. exec exits right after,
// so a longer wait would only delay the exit.
const execDrainTimeout = time.Second

// execLong is the description of "pgstrict exec --help".
const execLong = `Run SQL on one connection and print the results.

Each SQL argument is sent as one simple-protocol Query, in order, on one
connection; an argument may hold several statements separated by semicolons
(they run in one implicit transaction). exec stops at the first argument that
fails. Put -- before SQL that starts with a dash.

Connection: --url, else DATABASE_URL, else the libpq PG* variables (PGHOST,
PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and libpq's defaults.
A URL or keyword/value string (host=... dbname=...) is accepted.

Output (stdout): each result set is an aligned table (column names, a
separator line, one line per row) followed by its command tag (SELECT 2,
INSERT 0 1, ...) on a line of its own; a statement without rows prints only
its tag. NULL is shown as (null). Values stay on one line: a backslash is
shown as \\, a newline as \n, a carriage return as \r, a tab as \t and any
other control character as \xNN or \uNNNN; binary-format values (FETCH from a
BINARY cursor) as \x and hex digits. Numbers are right-aligned. Columns are
padded to their widest value (measured over the first 1000 rows, at most 64
columns wide); wider values are printed whole.

With --json: one JSON object per row, {"column":"value",...}, with the columns
in result order, every value as a JSON string of its text form and NULL as
null, then {"command_tag":"SELECT 2"}.

A result is complete only when its command tag follows it: a statement that
fails prints no tag, and none of its rows unless the first 1000 were already
printed (with --json, rows are printed as they arrive).

Diagnostics (stderr): notices (RAISE NOTICE, warnings) as they arrive; the
protocol trace with --trace, one line per message. A server error prints
  ERROR: <message>
  SQLSTATE: <code>
and DETAIL:, HINT:, POSITION: lines when the server sent them, with the SQL
line and a caret under the position. A protocol violation (the server sent
something not legal where it arrived; the connection is closed at once)
prints
  protocol violation: <reason>
  message: <message type>
  state: <protocol state>

Ctrl-C cancels the running statement (a CancelRequest is sent to the server)
and exits 1; --timeout does the same when the time is up.

Exit codes:
  0  every statement succeeded
  1  server error, connection failure, protocol violation, timeout or Ctrl-C
  2  usage error (no SQL given, bad flag, unparsable connection string)`

// execOptions are the flags of "pgstrict exec".
type execOptions struct {
	url     string
	json    bool
	trace   bool
	timeout time.Duration
}

// newExecCmd builds "pgstrict exec".
func newExecCmd(c *cli) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [flags] SQL [SQL...]",
		Short: "Run SQL statements and print their results",
		Long:  execLong,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("exec: no SQL given")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), c, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "connection string, a URL or key=value pairs (default $DATABASE_URL, then the PG* variables)")
	f.BoolVar(&o.json, "json", false, "print one JSON object per row, then one with the command tag")
	f.BoolVar(&o.trace, "trace", false, "write the protocol trace to stderr")
	f.DurationVar(&o.timeout, "timeout", 0, "give up (cancel and exit 1) after this long, connecting included; 0 means no limit")
	return cmd
}

// execConnString picks the connection string: --url, else DATABASE_URL from
// the command's environment, else "" (conn.ParseConfig then falls back to the
// PG* variables, which it reads from the process environment).
func (c *cli) execConnString(flagURL string) string {
	if flagURL != "" {
		return flagURL
	}
	if v, ok := c.lookupEnv("DATABASE_URL"); ok && v != "" {
		return v
	}
	return ""
}

// runExec is the body of "pgstrict exec".
func runExec(ctx context.Context, c *cli, o execOptions, sqls []string) error {
	if o.timeout < 0 {
		return usageErrorf("exec: --timeout must not be negative, got %s", o.timeout)
	}
	cfg, err := conn.ParseConfig(c.execConnString(o.url))
	if err != nil {
		return &usageError{err: fmt.Errorf("exec: %w", err)}
	}
	cfg.OnNotice = func(n *conn.Notice) { writeNotice(c.stderr, n) }
	cfg.DrainTimeout = execDrainTimeout
	if o.trace {
		cfg.Tracer = c.stderr
		v, _ := c.lookupEnv(envTraceRegress)
		cfg.TraceOptions.Regress = v == "1"
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}

	pc, err := conn.ConnectConfig(ctx, cfg)
	if err != nil {
		writeDiagnostics(c.stderr, err, "")
		// The whole error: with several hosts it names every attempt.
		msg := sanitizeMessage(err.Error())
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			msg = failure(err, o.timeout)
		}
		return &reportedError{msg: "exec: connect: " + msg, err: err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		pc.Close(cctx)
	}()

	out := &stickyWriter{w: c.stdout}
	buf := bufio.NewWriter(out)
	var p resultPrinter = &tablePrinter{w: buf}
	if o.json {
		p = &jsonPrinter{w: buf}
	}
	for i, sql := range sqls {
		err := execOne(ctx, pc, p, out, sql)
		if ferr := buf.Flush(); ferr != nil && out.err == nil {
			out.err = ferr
		}
		if out.err != nil {
			return fmt.Errorf("exec: write output: %w", out.err)
		}
		if err != nil {
			writeDiagnostics(c.stderr, err, sql)
			what := fmt.Sprintf("exec: SQL argument %d of %d", i+1, len(sqls))
			return &reportedError{msg: what + ": " + failure(err, o.timeout), err: err}
		}
	}
	return nil
}

// execOne runs one SQL argument and prints its results with p. It stops
// early when writing to stdout fails (recorded in out).
func execOne(ctx context.Context, pc *conn.Conn, p resultPrinter, out *stickyWriter, sql string) error {
	mrr := pc.Exec(ctx, sql)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		p.begin(rr.FieldDescriptions())
		for rr.NextRow() {
			p.row(rr.Values())
			if out.err != nil {
				return nil
			}
		}
		tag, err := rr.Close()
		if err != nil {
			p.abort()
			break
		}
		p.end(tag)
	}
	return mrr.Close()
}

// reportedError is the error runExec returns once it has written the details
// of a failure to stderr: its message is a one-line summary, and it wraps
// the cause.
type reportedError struct {
	msg string
	err error
}

func (e *reportedError) Error() string { return e.msg }
func (e *reportedError) Unwrap() error { return e.err }

// failure summarizes err in a few words for the last line of stderr. A
// protocol violation comes first, whatever else happened; then a context
// that ended, which is the cause of whatever the server said after it.
func failure(err error, timeout time.Duration) string {
	var pe *wire.ProtocolError
	var pgErr *conn.PgError
	switch {
	case errors.As(err, &pe):
		return "protocol violation"
	case errors.Is(err, context.DeadlineExceeded) && timeout > 0:
		return "timed out after " + timeout.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &pgErr):
		return "server error " + sanitizeMessage(pgErr.Code)
	}
	return sanitizeMessage(err.Error())
}

// writeDiagnostics writes the details of a protocol violation or a server
// error found in err; for other errors the summary line says everything.
// sql is the text that was running, for the caret under an error position.
func writeDiagnostics(w io.Writer, err error, sql string) {
	var pe *wire.ProtocolError
	var pgErr *conn.PgError
	switch {
	case errors.As(err, &pe):
		writeProtocolError(w, pe)
	case errors.As(err, &pgErr):
		writePgError(w, pgErr, sql)
	}
}

// writeProtocolError writes what the server did wrong.
func writeProtocolError(w io.Writer, pe *wire.ProtocolError) {
	var b strings.Builder
	b.WriteString("protocol violation: " + pe.Reason.String() + "\n")
	msg := "none"
	if pe.MsgType != 0 {
		msg = wire.MessageName(pe.MsgType)
	}
	b.WriteString("message: " + msg + "\n")
	b.WriteString("state: " + pe.State.String() + "\n")
	if pe.Detail != "" {
		b.WriteString("detail: " + sanitizeMessage(pe.Detail) + "\n")
	}
	io.WriteString(w, b.String())
}

// writePgError writes a server error the way the help text describes.
func writePgError(w io.Writer, e *conn.PgError, sql string) {
	var b strings.Builder
	b.WriteString(severity(e.SeverityUnlocalized, e.Severity) + ": " + sanitizeMessage(e.Message) + "\n")
	b.WriteString("SQLSTATE: " + sanitizeMessage(e.Code) + "\n")
	if e.Detail != "" {
		b.WriteString("DETAIL: " + sanitizeMessage(e.Detail) + "\n")
	}
	if e.Hint != "" {
		b.WriteString("HINT: " + sanitizeMessage(e.Hint) + "\n")
	}
	if e.Position > 0 {
		b.WriteString("POSITION: " + strconv.Itoa(int(e.Position)) + "\n")
		if line, caret, ok := caretLines(sql, int(e.Position)); ok {
			b.WriteString(line + "\n" + caret + "\n")
		}
	}
	if e.Where != "" {
		b.WriteString("CONTEXT: " + sanitizeMessage(e.Where) + "\n")
	}
	io.WriteString(w, b.String())
}

// writeNotice writes a NoticeResponse to w.
func writeNotice(w io.Writer, n *conn.Notice) {
	var b strings.Builder
	b.WriteString(severity(n.SeverityUnlocalized, n.Severity) + ": " + sanitizeMessage(n.Message) + "\n")
	if n.Detail != "" {
		b.WriteString("DETAIL: " + sanitizeMessage(n.Detail) + "\n")
	}
	if n.Hint != "" {
		b.WriteString("HINT: " + sanitizeMessage(n.Hint) + "\n")
	}
	io.WriteString(w, b.String())
}

// severity prefers the untranslated severity, so that output does not
// depend on the server's lc_messages.
func severity(unlocalized, localized string) string {
	if unlocalized != "" {
		return sanitizeMessage(unlocalized)
	}
	return sanitizeMessage(localized)
}

// caretLines renders the line of sql that holds the 1-based character
// position pos as "LINE n: text", and a second line with a caret under the
// position. A long line is cut around the position, with "..." where text
// was left out. ok is false when pos is outside sql.
func caretLines(sql string, pos int) (line, caret string, ok bool) {
	runes := []rune(sql)
	idx := pos - 1
	if sql == "" || idx < 0 || idx > len(runes) {
		return "", "", false
	}
	start := idx
	for start > 0 && runes[start-1] != '\n' {
		start--
	}
	end := idx
	for end < len(runes) && runes[end] != '\n' {
		end++
	}
	lineNo := 1 + strings.Count(string(runes[:start]), "\n")
	// Render each character of the line as it will be shown.
	type cell struct {
		text  string
		width int
	}
	cells := make([]cell, 0, end-start)
	for _, r := range runes[start:end] {
		var t string
		switch {
		case r == '\t':
			t = " "
		case r == '\r':
			t = ""
		default:
			t = escapeRune(r, false)
		}
		cells = append(cells, cell{text: t, width: stringWidth(t)})
	}
	col := idx - start
	width := func(cs []cell) int {
		n := 0
		for _, c := range cs {
			n += c.width
		}
		return n
	}
	// Keep a little context after the caret; move the start of the window
	// right until the caret fits, then extend the end as far as it goes.
	from, to := 0, len(cells)
	const after = 10
	for from < col && width(cells[from:col])+after > maxCaretLine {
		from++
	}
	for to > from && width(cells[from:to]) > maxCaretLine {
		to--
	}
	if to < col {
		to = col
	}
	var b strings.Builder
	prefix := "LINE " + strconv.Itoa(lineNo) + ": "
	b.WriteString(prefix)
	offset := len(prefix)
	if from > 0 {
		b.WriteString("...")
		offset += 3
	}
	for _, c := range cells[from:to] {
		b.WriteString(c.text)
	}
	if to < len(cells) {
		b.WriteString("...")
	}
	offset += width(cells[from:col])
	return b.String(), strings.Repeat(" ", offset) + "^", true
}

// resultPrinter writes result sets to stdout. The calls for one result are
// begin, any number of row, then end (complete) or abort (failed).
type resultPrinter interface {
	// begin starts a result with these columns (none for a statement that
	// returns no rows). fields is only valid during the call.
	begin(fields []conn.FieldDescription)
	// row prints one row; values alias the connection's buffer and are
	// only valid during the call.
	row(values [][]byte)
	// end finishes the result with its command tag.
	end(tag conn.CommandTag)
	// abort ends a result that failed.
	abort()
}

// column is what a printer keeps of a FieldDescription.
type column struct {
	name   string
	binary bool // format code 1: the value is shown in hex
	right  bool // a number type in text format: right-aligned in the table
}

func columnsOf(fields []conn.FieldDescription) []column {
	cols := make([]column, len(fields))
	for i, f := range fields {
		binary := f.Format == 1
		cols[i] = column{name: f.Name, binary: binary, right: !binary && isNumberType(f.DataTypeOID)}
	}
	return cols
}

// isNumberType reports whether values of the type with this OID are numbers
// (int2, int4, int8, oid, xid, cid, float4, float8, money, numeric).
func isNumberType(oid uint32) bool {
	switch oid {
	case 20, 21, 23, 26, 28, 29, 700, 701, 790, 1700:
		return true
	}
	return false
}

// tableCell is one rendered value and its display width.
type tableCell struct {
	text  string
	width int
}

// tablePrinter prints aligned tables. It holds back up to widthSampleRows
// rows of each result to measure the column widths.
type tablePrinter struct {
	w       *bufio.Writer
	cols    []column
	header  []tableCell
	widths  []int
	pending [][]tableCell // rows held back; nil once the header is out
	started bool          // the header of the current result is out
	printed bool          // anything was printed (a blank line separates tables)
}

func (p *tablePrinter) begin(fields []conn.FieldDescription) {
	p.cols = columnsOf(fields)
	p.header = make([]tableCell, len(p.cols))
	p.widths = make([]int, len(p.cols))
	for i, c := range p.cols {
		t := string(escapeValue(nil, []byte(c.name)))
		p.header[i] = tableCell{text: t, width: stringWidth(t)}
		p.widths[i] = min(p.header[i].width, maxColumnWidth)
	}
	p.pending = p.pending[:0]
	p.started = false
}

func (p *tablePrinter) row(values [][]byte) {
	if len(p.cols) == 0 {
		return
	}
	cells := make([]tableCell, len(values))
	for i, v := range values {
		var t string
		switch {
		case v == nil:
			t = nullMarker
		case i < len(p.cols) && p.cols[i].binary:
			t = `\x` + hex.EncodeToString(v)
		default:
			t = string(escapeValue(nil, v))
		}
		cells[i] = tableCell{text: t, width: stringWidth(t)}
	}
	if p.started {
		p.writeRow(cells)
		return
	}
	for i, c := range cells {
		if i < len(p.widths) {
			p.widths[i] = max(p.widths[i], min(c.width, maxColumnWidth))
		}
	}
	p.pending = append(p.pending, cells)
	if len(p.pending) >= widthSampleRows {
		p.flushPending()
	}
}

// flushPending prints the header and the rows held back.
func (p *tablePrinter) flushPending() {
	if p.started || len(p.cols) == 0 {
		return
	}
	p.started = true
	if p.printed {
		p.w.WriteByte('\n')
	}
	p.printed = true
	p.writeRow(p.header)
	for i, w := range p.widths {
		if i > 0 {
			p.w.WriteString("-+-")
		}
		p.w.WriteString(strings.Repeat("-", w))
	}
	p.w.WriteByte('\n')
	for _, r := range p.pending {
		p.writeRow(r)
	}
	clear(p.pending)
	p.pending = p.pending[:0]
}

func (p *tablePrinter) writeRow(cells []tableCell) {
	for i, c := range cells {
		if i > 0 {
			p.w.WriteString(" | ")
		}
		pad := 0
		if i < len(p.widths) {
			pad = max(p.widths[i]-c.width, 0)
		}
		last := i == len(cells)-1
		right := i < len(p.cols) && p.cols[i].right
		if right {
			p.w.WriteString(strings.Repeat(" ", pad))
		}
		p.w.WriteString(c.text)
		if !right && !last {
			p.w.WriteString(strings.Repeat(" ", pad))
		}
	}
	p.w.WriteByte('\n')
}

func (p *tablePrinter) end(tag conn.CommandTag) {
	p.flushPending()
	if s := tag.String(); s != "" {
		p.w.WriteString(sanitizeMessage(s) + "\n")
		p.printed = true
	}
}

func (p *tablePrinter) abort() {
	// Rows held back are never printed: the result is incomplete.
	clear(p.pending)
	p.pending = p.pending[:0]
}

// jsonPrinter prints one JSON object per row and one per command tag.
type jsonPrinter struct {
	w    *bufio.Writer
	cols []column
	keys [][]byte // the JSON-encoded column names, with their colon
	line []byte
}

func (p *jsonPrinter) begin(fields []conn.FieldDescription) {
	p.cols = columnsOf(fields)
	p.keys = p.keys[:0]
	for _, c := range p.cols {
		k := appendJSONString(nil, []byte(c.name))
		p.keys = append(p.keys, append(k, ':'))
	}
}

func (p *jsonPrinter) row(values [][]byte) {
	b := append(p.line[:0], '{')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		if i < len(p.keys) {
			b = append(b, p.keys[i]...)
		}
		switch {
		case v == nil:
			b = append(b, "null"...)
		case i < len(p.cols) && p.cols[i].binary:
			b = append(b, `"\\x`...)
			b = hex.AppendEncode(b, v)
			b = append(b, '"')
		default:
			b = appendJSONString(b, v)
		}
	}
	b = append(b, '}', '\n')
	p.line = b
	p.w.Write(b)
}

func (p *jsonPrinter) end(tag conn.CommandTag) {
	if s := tag.String(); s != "" {
		b := append(p.line[:0], `{"command_tag":`...)
		b = appendJSONString(b, []byte(s))
		b = append(b, '}', '\n')
		p.line = b
		p.w.Write(b)
	}
}

func (p *jsonPrinter) abort() {}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped so that the line is also valid
// JavaScript.
func appendJSONString(b, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		default:
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return append(b, '"')
}

// escapeValue appends v for display on one line: a backslash doubled, \n,
// \r and \t as such, other control characters (C0, DEL, C1) and the
// bidirectional formatting characters as \xNN or \uNNNN, and each byte of
// invalid UTF-8 as \xNN.
func escapeValue(b, v []byte) []byte {
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		if r == utf8.RuneError && n == 1 {
			b = fmt.Appendf(b, `\x%02x`, v[0])
		} else {
			b = append(b, escapeRune(r, true)...)
		}
		v = v[n:]
	}
	return b
}

// escapeRune returns r as escapeValue shows it; with backslash false a
// backslash is left alone (server messages and SQL excerpts, where it is not
// an escape).
func escapeRune(r rune, backslash bool) string {
	switch {
	case r == '\\' && backslash:
		return `\\`
	case r == '\n':
		return `\n`
	case r == '\r':
		return `\r`
	case r == '\t':
		return `\t`
	case r < 0x20 || r == 0x7F:
		return fmt.Sprintf(`\x%02x`, r)
	case (r >= 0x80 && r < 0xA0) || isBidiControl(r):
		return fmt.Sprintf(`\u%04x`, r)
	}
	return string(r)
}

// isBidiControl reports whether r is a bidirectional embedding, override or
// isolate character, which can make displayed text read differently from
// what it is.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// sanitizeMessage makes server-supplied text safe for a terminal: control
// characters other than newline and tab, and bidirectional formatting
// characters, are escaped.
func sanitizeMessage(s string) string {
	clean := true
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7F || (r >= 0x80 && r < 0xA0) || isBidiControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b []byte
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b = append(b, byte(r))
		default:
			b = append(b, escapeRune(r, false)...)
		}
	}
	return string(b)
}

// stringWidth returns the number of terminal columns s takes, counting East
// Asian wide characters as two and combining marks and format characters as
// none. It is an approximation of wcwidth that is good enough to align
// tables.
func stringWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r < 0x300:
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	case isWide(r):
		return 2
	}
	return 1
}

// wideRanges are the main blocks of East Asian Wide and Fullwidth characters
// and of emoji presented as wide, sorted.
var wideRanges = [...][2]rune{
	{0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC},
	{0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF},
	{0xA000, 0xA4CF}, {0xA960, 0xA97F}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
	{0xFE10, 0xFE19}, {0xFE30, 0xFE6F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6},
	{0x16FE0, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
	{0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F2FF}, {0x1F300, 0x1F64F},
	{0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
	{0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
}

func isWide(r rune) bool {
	for _, w := range wideRanges {
		if r < w[0] {
			return false
		}
		if r <= w[1] {
			return true
		}
	}
	return false
}

// stickyWriter remembers the first write error, so that a long result stops
// being read as soon as stdout is gone.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(b)
	if err != nil {
		s.err = err
	}
	return n, err
}
