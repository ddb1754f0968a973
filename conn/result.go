package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// FieldDescription describes one result column (from RowDescription).
type FieldDescription struct {
	// Name is the column name.
	Name string
	// TableOID and TableAttributeNumber identify the source column, or 0.
	TableOID             uint32
	TableAttributeNumber uint16
	// DataTypeOID is the column's type.
	DataTypeOID uint32
	// DataTypeSize is the type's size (negative: variable width).
	DataTypeSize int16
	// TypeModifier is the type modifier, -1 when none.
	TypeModifier int32
	// Format is 0 for text, 1 for binary.
	Format int16
}

// copyFields copies src into dst's memory. A column name equal to the one
// already at its place is kept, so a repeated query allocates nothing.
func copyFields(dst []FieldDescription, src []pgproto3.FieldDescription) []FieldDescription {
	if cap(dst) < len(src) {
		dst = append(dst[:cap(dst)], make([]FieldDescription, len(src)-cap(dst))...)
	}
	dst = dst[:len(src)]
	for i := range src {
		f, d := &src[i], &dst[i]
		if d.Name != string(f.Name) { // compared without a conversion
			d.Name = string(f.Name)
		}
		d.TableOID, d.TableAttributeNumber = f.TableOID, f.TableAttributeNumber
		d.DataTypeOID, d.DataTypeSize, d.TypeModifier, d.Format = f.DataTypeOID, f.DataTypeSize, f.TypeModifier, f.Format
	}
	return dst
}

// tag returns the CommandTag of a CommandComplete's tag bytes, sharing the
// string of the previous tag when they are equal.
func (c *Conn) tag(b []byte) CommandTag {
	if c.lastTag != string(b) {
		c.lastTag = string(b)
	}
	return CommandTag{s: c.lastTag}
}

// CommandTag is the tag of a CommandComplete: "INSERT 0 1", "SELECT 3",
// "CREATE TABLE".
type CommandTag struct{ s string }

// ParseCommandTag returns the CommandTag for s.
func ParseCommandTag(s string) CommandTag { return CommandTag{s: s} }

// String returns the tag as the server sent it.
func (t CommandTag) String() string { return t.s }

// RowsAffected returns the row count at the end of the tag (INSERT, UPDATE,
// DELETE, MERGE, SELECT, FETCH, MOVE, COPY), or 0.
func (t CommandTag) RowsAffected() int64 {
	i := strings.LastIndexByte(t.s, ' ')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(t.s[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Command returns the command name: the tag without its counts.
func (t CommandTag) Command() string {
	s := t.s
	for {
		i := strings.LastIndexByte(s, ' ')
		if i < 0 {
			return s
		}
		if _, err := strconv.ParseInt(s[i+1:], 10, 64); err != nil {
			return s
		}
		s = s[:i]
	}
}

// resultOwner says what ends with a result: nothing, a statement of a
// simple Query, an extended-protocol operation, or a pipeline request. (A
// field instead of a callback: a closure per query would allocate.)
type resultOwner uint8

const (
	ownerNone resultOwner = iota
	ownerMulti
	ownerExtended
	ownerPipeline
)

// ResultReader streams the rows of one result. Values returned by Values
// alias the connection's read buffer and are valid only until the next call
// to NextRow or Close; copy what you keep. A ResultReader is not safe for
// concurrent use.
type ResultReader struct {
	c      *Conn
	fields []FieldDescription
	values [][]byte
	tag    CommandTag
	err    error
	done   bool        // the result's last message was read
	owner  resultOwner // what happens once when the result is done
	mrr    *MultiResultReader
	pipe   *Pipeline
	ended  bool
}

// FieldDescriptions returns the columns of the result. Valid until the next
// call to NextRow or Close.
func (rr *ResultReader) FieldDescriptions() []FieldDescription { return rr.fields }

// NextRow advances to the next row and reports whether there is one.
func (rr *ResultReader) NextRow() bool {
	if rr.done {
		return false
	}
	if c := rr.c; c.pushback == nil && c.tr == nil {
		// A row that continues the result: the wire Frontend checks it
		// exactly as Receive would, without decoding it into a message.
		// ReadRow also reads the rest of a row that straddles the end of
		// the buffered input (recv, next, would block on it anyway).
		if vals, ok := c.fe.ReadRow(); ok {
			rr.values = vals
			return true
		}
	}
	msg, _, err := rr.c.recv()
	if err != nil {
		rr.fail(err)
		return false
	}
	switch m := msg.(type) {
	case *pgproto3.DataRow:
		rr.values = m.Values
		return true
	case *pgproto3.CommandComplete:
		rr.tag = rr.c.tag(m.CommandTag)
		rr.c.noteTag(m.CommandTag)
	case *pgproto3.EmptyQueryResponse:
	case *pgproto3.PortalSuspended:
	case *pgproto3.ErrorResponse:
		rr.err = newPgError(m)
	case *pgproto3.CopyOutResponse:
		return rr.discardCopyOut()
	case *pgproto3.CopyInResponse:
		return rr.refuseCopyIn()
	default:
		rr.fail(rr.c.die(fmt.Errorf("%w: unexpected %s in a result", errInternal, msgName(msg))))
		return false
	}
	rr.finish()
	return false
}

// Values returns the current row's values: nil for SQL NULL. They alias the
// read buffer and are valid until the next call to NextRow or Close.
func (rr *ResultReader) Values() [][]byte { return rr.values }

// Close reads the rest of the result and returns its command tag and error.
func (rr *ResultReader) Close() (CommandTag, error) {
	for rr.NextRow() {
	}
	rr.values = nil
	return rr.tag, rr.err
}

// Read buffers the whole result.
func (rr *ResultReader) Read() *Result {
	r := &Result{FieldDescriptions: append([]FieldDescription(nil), rr.fields...)}
	for rr.NextRow() {
		row := make([][]byte, len(rr.values))
		for i, v := range rr.values {
			if v != nil {
				row[i] = bytes.Clone(v)
			}
		}
		r.Rows = append(r.Rows, row)
	}
	r.CommandTag, r.Err = rr.Close()
	return r
}

func (rr *ResultReader) fail(err error) {
	if rr.err == nil {
		rr.err = err
	}
	rr.finish()
}

func (rr *ResultReader) finish() {
	rr.done = true
	rr.values = nil
	if rr.ended {
		return
	}
	rr.ended = true
	switch rr.owner {
	case ownerMulti:
		rr.mrr.stmtDone()
	case ownerExtended:
		rr.c.finishExtended(rr)
	case ownerPipeline:
		rr.pipe.resultDone(rr)
	}
}

// discardCopyOut reads and drops a COPY TO STDOUT started through a query
// API (package pgcopy streams it instead).
func (rr *ResultReader) discardCopyOut() bool {
	for {
		msg, _, err := rr.c.recv()
		if err != nil {
			rr.fail(err)
			return false
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData, *pgproto3.CopyDone:
		case *pgproto3.CommandComplete:
			rr.tag = rr.c.tag(m.CommandTag)
			rr.finish()
			return false
		case *pgproto3.ErrorResponse:
			rr.err = newPgError(m)
			rr.finish()
			return false
		}
	}
}

// refuseCopyIn ends a COPY FROM STDIN started through a query API: there is
// no data source, so the copy is failed cleanly (the server answers with an
// error) instead of hanging.
func (rr *ResultReader) refuseCopyIn() bool {
	const reason = "COPY FROM STDIN needs a data source: use package pgcopy"
	if err := rr.c.fe.SendCopyFail(reason); err != nil {
		rr.fail(rr.c.die(err))
		return false
	}
	if rr.c.tr != nil {
		rr.c.traceSend(&pgproto3.CopyFail{Message: reason})
	}
	if rr.c.fe.AwaitingSync() {
		rr.c.fe.SendSync()
		if rr.c.tr != nil {
			rr.c.traceSend(&pgproto3.Sync{})
		}
	}
	if err := rr.c.flush(); err != nil {
		rr.fail(err)
		return false
	}
	msg, _, err := rr.c.recv()
	if err != nil {
		rr.fail(err)
		return false
	}
	if m, ok := msg.(*pgproto3.ErrorResponse); ok {
		rr.err = newPgError(m)
	}
	rr.finish()
	return false
}

// Result is a buffered result.
type Result struct {
	// FieldDescriptions are the columns.
	FieldDescriptions []FieldDescription
	// Rows are copies of the row values (nil = NULL).
	Rows [][][]byte
	// CommandTag is the result's tag.
	CommandTag CommandTag
	// Err is the server's error for this statement, if any.
	Err error
}

// MultiResultReader reads the results of a simple-protocol Query, which may
// hold several statements. It is not safe for concurrent use.
type MultiResultReader struct {
	c    *Conn
	rr   *ResultReader
	err  error
	done bool
}

// Exec sends sql as one simple-protocol Query (it may hold several
// statements separated by semicolons; they run in one implicit transaction)
// and returns a reader for its results. The reader must be closed before the
// connection is used again.
//
// If ctx ends while results are outstanding, a CancelRequest is sent and the
// remaining replies are drained within Config.DrainTimeout; the connection is
// then idle again, or closed if the drain did not complete (see State). The
// reader reports the context's error.
func (c *Conn) Exec(ctx context.Context, sql string) *MultiResultReader {
	if c.busy && c.err == nil {
		// c.mrr and c.rr belong to the open operation: do not reset them.
		return &MultiResultReader{c: c, err: safeToRetry(ErrBusy), done: true}
	}
	mrr := &c.mrr
	*mrr = MultiResultReader{c: c}
	if err := c.begin(ctx); err != nil {
		mrr.err, mrr.done = err, true
		return mrr
	}
	if _, err := c.fe.SendQuery(sql); err != nil {
		c.end()
		mrr.err, mrr.done = safeToRetry(err), true
		return mrr
	}
	if c.tr != nil {
		c.traceSend(&pgproto3.Query{String: sql})
	}
	if err := c.flush(); err != nil {
		c.end()
		mrr.err, mrr.done = err, true
	}
	return mrr
}

// NextResult advances to the next result and reports whether there is one.
// An unread rest of the previous result is discarded.
func (mrr *MultiResultReader) NextResult() bool {
	if mrr.rr != nil && !mrr.rr.done {
		mrr.rr.Close()
	}
	for !mrr.done {
		msg, _, err := mrr.c.recv()
		if err != nil {
			mrr.finish(err)
			return false
		}
		rr := &mrr.c.rr
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			*rr = ResultReader{c: mrr.c, fields: copyFields(rr.fields, m.Fields), owner: ownerMulti, mrr: mrr}
			mrr.rr = rr
			return true
		case *pgproto3.CommandComplete:
			*rr = ResultReader{c: mrr.c, fields: rr.fields[:0], tag: mrr.c.tag(m.CommandTag), done: true}
			mrr.c.noteTag(m.CommandTag)
			mrr.rr = rr
			return true
		case *pgproto3.EmptyQueryResponse:
			*rr = ResultReader{c: mrr.c, fields: rr.fields[:0], done: true}
			mrr.rr = rr
			return true
		case *pgproto3.ErrorResponse:
			mrr.err = newPgError(m)
		case *pgproto3.CopyOutResponse, *pgproto3.CopyInResponse:
			*rr = ResultReader{c: mrr.c, fields: rr.fields[:0], owner: ownerMulti, mrr: mrr}
			mrr.rr = rr // before the copy ends: stmtDone reads it
			if _, ok := m.(*pgproto3.CopyOutResponse); ok {
				rr.discardCopyOut()
			} else {
				rr.refuseCopyIn()
			}
			if rr.err != nil && mrr.err == nil {
				mrr.err = rr.err
			}
			if mrr.c.err != nil {
				mrr.finish(mrr.c.err)
			}
			return true
		case *pgproto3.CopyBothResponse:
			// START_REPLICATION through Exec: there is no consumer for the
			// stream, so end it at once (package replication streams it).
			*rr = ResultReader{c: mrr.c, fields: rr.fields[:0], owner: ownerMulti, mrr: mrr}
			mrr.rr = rr
			rr.endCopyBoth()
			if rr.err != nil && mrr.err == nil {
				mrr.err = rr.err
			}
			if mrr.c.err != nil {
				mrr.finish(mrr.c.err)
			}
			return true
		case *pgproto3.ReadyForQuery:
			mrr.finish(nil)
			return false
		}
	}
	return false
}

// endCopyBoth ends a COPY BOTH started through a query API: it sends
// CopyDone and discards what the server still sends up to the first
// CommandComplete of the completion sequence.
func (rr *ResultReader) endCopyBoth() {
	if err := rr.c.fe.SendCopyDone(); err != nil {
		rr.fail(rr.c.die(err))
		return
	}
	if rr.c.tr != nil {
		rr.c.traceSend(&pgproto3.CopyDone{})
	}
	if err := rr.c.flush(); err != nil {
		rr.fail(err)
		return
	}
	for {
		msg, _, err := rr.c.recv()
		if err != nil {
			rr.fail(err)
			return
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData, *pgproto3.CopyDone:
		case *pgproto3.RowDescription:
			// Physical end of timeline: a result set precedes the tags.
			rr.fields = copyFields(rr.fields, m.Fields)
		case *pgproto3.DataRow:
		case *pgproto3.CommandComplete:
			rr.tag = rr.c.tag(m.CommandTag)
			rr.finish()
			return
		case *pgproto3.ErrorResponse:
			rr.err = newPgError(m)
			rr.finish()
			return
		}
	}
}

// stmtDone runs when a row-returning statement's result ends.
func (mrr *MultiResultReader) stmtDone() {
	err := mrr.rr.err
	if err == nil {
		return
	}
	var pe *PgError
	if errors.As(err, &pe) && mrr.c.err == nil {
		// A statement error: ReadyForQuery follows.
		if mrr.err == nil {
			mrr.err = err
		}
		return
	}
	// A context or connection error ended the whole Query.
	mrr.finish(err)
}

func (mrr *MultiResultReader) finish(err error) {
	if mrr.done {
		return
	}
	mrr.done = true
	if mrr.err == nil {
		mrr.err = err
	} else if err != nil && err != mrr.err {
		// A statement error, then the connection failed: report both, so
		// that the caller sees the connection is gone (ErrClosed).
		mrr.err = errors.Join(mrr.err, err)
	}
	mrr.c.end()
}

// ResultReader returns the current result.
func (mrr *MultiResultReader) ResultReader() *ResultReader { return mrr.rr }

// Close discards the remaining results and returns the first error.
func (mrr *MultiResultReader) Close() error {
	for mrr.NextResult() {
	}
	return mrr.err
}

// ReadAll buffers every result. The returned error is the first error
// (statements after a failing one do not run).
func (mrr *MultiResultReader) ReadAll() ([]*Result, error) {
	var out []*Result
	for mrr.NextResult() {
		out = append(out, mrr.rr.Read())
	}
	return out, mrr.Close()
}

// noteTag drops the describe cache when SQL deallocated statements.
func (c *Conn) noteTag(tag []byte) {
	if bytes.HasPrefix(tag, []byte("DEALLOCATE")) || bytes.Equal(tag, []byte("DISCARD ALL")) {
		clear(c.stmts)
	}
}

func msgName(msg pgproto3.BackendMessage) string {
	b, err := msg.Encode(nil)
	if err != nil || len(b) == 0 {
		return "message"
	}
	return wire.MessageName(b[0])
}
