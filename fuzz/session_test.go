package fuzz

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// A session is a sequence of client operations decoded from bytes, one byte
// per operation: the low four bits choose the operation (modulo opCount),
// bit 4 gives it a context of shortTimeout instead of callTimeout, and the
// top three bits are its argument (which statement, how far to read, …).
// The connection-stream target runs sessions against a fuzzed byte stream;
// the recorder (record_test.go) runs the same sessions against a real
// server to make the seed streams, so the requests of a seed match its
// replies.

// Operations of a session.
const (
	opExec         = iota // Exec of execSQL[arg], every result read
	opExecParams          // ExecParams, text or binary results
	opPrepare             // Prepare of statement s0 or s1
	opExecPrepared        // ExecPrepared of s0 or s1
	opDeallocate          // Deallocate of s0 or s1
	opPipeline            // a pipeline of pipelineShapes[arg]
	opCopyIn              // COPY FROM STDIN: one row, then Finish or Fail
	opCopyOut             // COPY TO STDOUT read to the end or abandoned
	opWait                // WaitForNotification
	opCancel              // CancelRequest (to a sink)
	opBusy                // a second Exec while the first is open: ErrBusy
	opPartial             // Exec, read one row, Close
	opCount
)

var opNames = [opCount]string{"Exec", "ExecParams", "Prepare", "ExecPrepared", "Deallocate", "Pipeline",
	"CopyIn", "CopyOut", "WaitForNotification", "CancelRequest", "Busy", "Partial"}

// execSQL are the statements of opExec, chosen by the argument. They need
// a table t (statement 3 creates it) and cover rows, several results,
// notifications, notices, errors, transactions and COPY through Exec.
var execSQL = [8]string{
	"select 1",
	"select 'a' as x, null as y, 2 as z; select 3",
	"listen c; notify c, 'payload'",
	"create temp table if not exists t (a int, b text); insert into t values (1, 'x'), (2, null)",
	"begin",
	"commit",
	"do $$begin raise notice 'note'; end$$; select 1/0",
	"copy t to stdout",
}

// copyOutSQL are the statements of opCopyOut.
var copyOutSQL = [4]string{
	"copy t to stdout",
	"copy (select 1, 'a') to stdout (format csv)",
	"copy t to stdout (format binary)",
	"copy (select generate_series(1, 3)) to stdout",
}

// decodeOp splits a session byte.
func decodeOp(b byte) (op int, short bool, arg int) {
	return int(b&0x0f) % opCount, b&0x10 != 0, int(b >> 5)
}

// encodeOp is the inverse of decodeOp, for seeds.
func encodeOp(op int, short bool, arg int) byte {
	b := byte(op) | byte(arg)<<5
	if short {
		b |= 0x10
	}
	return b
}

// streamCheck checks what the calls of a session return against the
// stream the server sent. With a nil stream (a recording against a real
// server) it checks nothing.
type streamCheck struct {
	r      reporter
	stream []byte // every byte the server sent after the startup
	caps   wire.Limits

	op     string // the operation running, for messages
	closed bool   // the connection was unusable before this operation
	got    int    // values this operation returned
}

func (k *streamCheck) fail(format string, args ...any) {
	k.r.Helper()
	k.r.Errorf("%s: "+format, append([]any{k.op}, args...)...)
}

// contains reports a returned string that does not come from the stream.
func (k *streamCheck) contains(what string, v []byte) {
	k.r.Helper()
	if k.stream != nil && len(v) > 0 && !bytes.Contains(k.stream, v) {
		k.fail("%s %q does not appear in what the server sent", what, v)
	}
}

// bytes checks a value the client returned: it must come from the stream
// and be within limit.
func (k *streamCheck) bytes(what string, v []byte, limit int) {
	k.r.Helper()
	k.got++
	if k.stream != nil && len(v) > limit {
		k.fail("%s of %d bytes passed the cap of %d", what, len(v), limit)
	}
	k.contains(what, v)
}

// text checks a string the client returned; an empty one is nothing.
func (k *streamCheck) text(what, s string) {
	k.r.Helper()
	if s == "" {
		return
	}
	k.got++
	k.contains(what, []byte(s))
}

func (k *streamCheck) row(values [][]byte) {
	k.r.Helper()
	for _, v := range values {
		k.bytes("row value", v, k.caps.DataRow)
	}
}

func (k *streamCheck) fields(fds []conn.FieldDescription) {
	k.r.Helper()
	for _, f := range fds {
		k.text("column name", f.Name)
	}
}

func (k *streamCheck) tag(t conn.CommandTag) {
	k.r.Helper()
	k.text("command tag", t.String())
}

// pgErr checks the server error inside err, if any. An error is not a
// value: a closed connection returns its cause (a FATAL error, say) again.
func (k *streamCheck) pgErr(err error) {
	k.r.Helper()
	var pe *conn.PgError
	if errors.As(err, &pe) {
		k.contains("error message", []byte(pe.Message))
		k.contains("SQLSTATE", []byte(pe.Code))
	}
}

func (k *streamCheck) notice(n *conn.Notice) {
	k.r.Helper()
	k.contains("notice message", []byte(n.Message))
}

func (k *streamCheck) notification(n *conn.Notification) {
	k.r.Helper()
	k.text("notification channel", n.Channel)
	k.text("notification payload", n.Payload)
}

// after checks the connection once an operation returned err (the first
// error it reported, nil if none).
//   - A connection that was unusable before the operation must have failed
//     it with an error matching conn.ErrClosed, and returned nothing.
//   - A *wire.ProtocolError means the connection is closed.
//   - An unusable connection is closed or desynced, for good; a usable one
//     is idle, not busy, with a defined transaction status.
func (k *streamCheck) after(c *conn.Conn, err error) {
	k.r.Helper()
	if k.stream == nil {
		return
	}
	if k.closed {
		if err == nil || !errors.Is(err, conn.ErrClosed) {
			k.fail("on a connection closed earlier (%v) the call returned %v, not an error matching conn.ErrClosed", c.Err(), err)
		}
		if k.got > 0 {
			k.fail("on a connection closed earlier the call returned %d values", k.got)
		}
	}
	var pe *wire.ProtocolError
	if errors.As(err, &pe) && c.Err() == nil {
		k.fail("returned protocol error %v, but the connection is still usable", pe)
	}
	if cerr := c.Err(); cerr != nil {
		if !errors.Is(cerr, conn.ErrClosed) {
			k.fail("Err() = %v does not match conn.ErrClosed", cerr)
		}
		if s := c.State(); s != wire.StateClosed && s != wire.StateDesynced {
			k.fail("unusable connection (%v) in state %s", cerr, s)
		}
		k.closed = true
	} else {
		if s := c.State(); s != wire.StateIdle {
			k.fail("usable connection left in state %s after %v", s, err)
		}
		if c.IsBusy() {
			k.fail("connection busy after the operation ended")
		}
		if tx := c.TxStatus(); tx != wire.TxIdle && tx != wire.TxInBlock && tx != wire.TxFailed {
			k.fail("transaction status %q", byte(tx))
		}
	}
	k.got = 0
}

// first keeps the first non-nil error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// maxReads bounds the loops of a session (rows of a result, results of a
// pipeline, COPY payloads), so that a session ends on any stream.
const maxReads = 64

// runSession runs the operations of ops on c. step is called before each
// call that may block (the watchdog's step).
func runSession(c *conn.Conn, ops []byte, k *streamCheck, step func(string)) {
	k.r.Helper()
	for _, b := range ops {
		op, short, arg := decodeOp(b)
		k.op = opNames[op]
		step(k.op)
		timeout := callTimeout
		if short {
			timeout = shortTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := runOp(ctx, c, op, arg, k)
		cancel()
		k.after(c, err)
	}
}

func runOp(ctx context.Context, c *conn.Conn, op, arg int, k *streamCheck) error {
	k.r.Helper()
	switch op {
	case opExec:
		return readMulti(c.Exec(ctx, execSQL[arg]), k, maxReads)
	case opPartial:
		return readMulti(c.Exec(ctx, execSQL[arg]), k, 1)
	case opExecParams:
		var rf []int16
		if arg&1 != 0 {
			rf = []int16{1}
		}
		rr := c.ExecParams(ctx, "select $1::text as v, length($1) as n", [][]byte{[]byte("seven")}, nil, nil, rf)
		return readRows(rr, k, maxReads)
	case opPrepare:
		sd, err := c.Prepare(ctx, stmtName(arg), "select $1::int + 1 as n", nil)
		k.pgErr(err)
		if err == nil {
			k.fields(sd.Fields)
		}
		return err
	case opExecPrepared:
		return readRows(c.ExecPrepared(ctx, stmtName(arg), [][]byte{[]byte("41")}, nil, nil), k, maxReads)
	case opDeallocate:
		err := c.Deallocate(ctx, stmtName(arg))
		k.pgErr(err)
		return err
	case opPipeline:
		return runPipeline(ctx, c, arg, k)
	case opCopyIn:
		return copyIn(ctx, c, arg, k)
	case opCopyOut:
		return copyOut(ctx, c, arg, k)
	case opWait:
		// Nothing may come: wait briefly (a notification that is on its
		// way is found on the next wait or by the next operation).
		wait := shortTimeout
		if arg&1 != 0 {
			wait = 10 * shortTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		n, err := c.WaitForNotification(ctx)
		if n != nil {
			k.notification(n)
		}
		return err
	case opCancel:
		return c.CancelRequest(ctx)
	case opBusy:
		mrr := c.Exec(ctx, "select 1")
		busy := c.IsBusy()
		second := c.Exec(ctx, "select 2")
		err2 := second.Close()
		if busy && k.stream != nil && (!errors.Is(err2, conn.ErrBusy) || !conn.SafeToRetry(err2)) {
			k.fail("a call on a busy connection returned %v, not a retryable conn.ErrBusy", err2)
		}
		err := readMulti(mrr, k, maxReads)
		if !busy {
			return first(err, err2)
		}
		return err
	}
	return nil
}

func stmtName(arg int) string {
	if arg&1 == 0 {
		return "s0"
	}
	return "s1"
}

// readMulti reads the results of an Exec, at most limit rows of each.
func readMulti(mrr *conn.MultiResultReader, k *streamCheck, limit int) error {
	k.r.Helper()
	var err error
	for n := 0; n < maxReads && mrr.NextResult(); n++ {
		rr := mrr.ResultReader()
		k.fields(rr.FieldDescriptions())
		err = first(err, readRows(rr, k, limit))
	}
	err = first(mrr.Close(), err)
	k.pgErr(err)
	return err
}

// readRows reads at most limit rows of rr and closes it. A row must have
// as many values as the result has columns.
func readRows(rr *conn.ResultReader, k *streamCheck, limit int) error {
	k.r.Helper()
	k.fields(rr.FieldDescriptions())
	for n := 0; n < limit && rr.NextRow(); n++ {
		if cols, vals := len(rr.FieldDescriptions()), len(rr.Values()); k.stream != nil && cols != vals {
			k.fail("a row of %d values in a result of %d columns", vals, cols)
		}
		k.row(rr.Values())
	}
	tag, err := rr.Close()
	k.tag(tag)
	k.pgErr(err)
	return err
}

// pipelineShapes are the pipelines of opPipeline, one letter a request:
// Q SendQueryParams, P SendPrepare of s2, E SendQueryPrepared of s2,
// D SendDeallocate of s2, S Sync, F Flush. A server flushes its replies at
// a Sync only, so a pipeline that does not end with S is not read: Close
// adds the Sync and discards the results.
var pipelineShapes = [8]string{
	"QS",
	"QQS",
	"PESQS",
	"PEDS",
	"QSQS",
	"QFQS",
	"PEEQS",
	"QQ",
}

func runPipeline(ctx context.Context, c *conn.Conn, arg int, k *streamCheck) error {
	k.r.Helper()
	p := c.StartPipeline(ctx)
	shape := pipelineShapes[arg]
	var err error
	for _, r := range shape {
		switch r {
		case 'Q':
			err = p.SendQueryParams("select $1::text as v", [][]byte{[]byte("p")}, nil, nil, nil)
		case 'P':
			err = p.SendPrepare("s2", "select $1::int * 2 as d", nil)
		case 'E':
			err = p.SendQueryPrepared("s2", [][]byte{[]byte("21")}, nil, nil)
		case 'D':
			err = p.SendDeallocate("s2")
		case 'S':
			err = p.Sync()
		case 'F':
			err = p.Flush()
		}
		if err != nil {
			break
		}
	}
	for n := 0; err == nil && shape[len(shape)-1] == 'S' && n < maxReads; n++ {
		res, rerr := p.GetResults()
		k.pgErr(rerr)
		if res == nil && rerr == nil {
			break
		}
		switch r := res.(type) {
		case *conn.ResultReader:
			// A request's own error is the pipeline's business, not the
			// connection's: only a connection error ends the loop.
			readRows(r, k, maxReads)
		case *conn.StatementDescription:
			k.fields(r.Fields)
		}
		if rerr != nil && c.Err() != nil {
			err = rerr
		}
	}
	return first(err, p.Close())
}

func copyIn(ctx context.Context, c *conn.Conn, arg int, k *streamCheck) error {
	k.r.Helper()
	cp, err := c.CopyStart(ctx, "copy t from stdin", conn.CopyOptions{Direction: conn.CopyIn})
	k.pgErr(err)
	if err != nil {
		return err
	}
	if _, err = cp.Write([]byte("3\tz\n")); err == nil {
		if arg&1 != 0 {
			err = cp.Fail("stopped by the client")
		} else {
			var tag conn.CommandTag
			tag, err = cp.Finish()
			k.tag(tag)
		}
	}
	k.pgErr(err)
	if !cp.Done() && k.stream != nil {
		k.fail("the Copy still owns the connection after %v", err)
	}
	return err
}

func copyOut(ctx context.Context, c *conn.Conn, arg int, k *streamCheck) error {
	k.r.Helper()
	cp, err := c.CopyStart(ctx, copyOutSQL[arg&3], conn.CopyOptions{Direction: conn.CopyOut})
	k.pgErr(err)
	if err != nil {
		return err
	}
	limit := maxReads
	if arg&4 != 0 {
		limit = 1 // abandon the rest: Finish discards it
	}
	for n := 0; n < limit; n++ {
		var b []byte
		b, err = cp.Read()
		if err != nil {
			break
		}
		k.bytes("COPY data", b, k.caps.CopyData)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if !cp.Done() {
		var tag conn.CommandTag
		tag, err = cp.Finish()
		k.tag(tag)
	} else {
		k.tag(cp.Tag())
	}
	k.pgErr(err)
	if !cp.Done() && k.stream != nil {
		k.fail("the Copy still owns the connection after %v", err)
	}
	return err
}

// sessionLimits are the receive caps of the sessions: small, so that the
// caps are reached by inputs the fuzzer can build.
var sessionLimits = wire.Limits{
	DataRow:              1 << 12,
	CopyData:             1 << 12,
	FunctionCallResponse: 1 << 10,
	ErrorResponse:        1 << 11,
	RowDescription:       1 << 12,
	ParameterStatus:      256,
	CommandComplete:      64,
	NotificationResponse: 512,
	Authentication:       512,
}

// sessionDeadline bounds a whole session run by the recorder.
const sessionDeadline = 10 * time.Second
