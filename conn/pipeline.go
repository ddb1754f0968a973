package conn

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ErrPipelineSkipped is the error of a pipeline request that the server
// skipped because an earlier request in the same segment (up to the next
// Sync) failed. The request did not run.
var ErrPipelineSkipped = errors.New("conn: skipped: an earlier request of the pipeline segment failed")

// PipelineSync is the result of a Sync in a pipeline: the end of a segment
// and its implicit transaction.
type PipelineSync struct{}

// CloseComplete is the result of SendDeallocate.
type CloseComplete struct{}

const (
	pipePrepare uint8 = iota + 1
	pipeParams
	pipePrepared
	pipeDeallocate
	pipeSync
)

type pipeReq struct {
	kind uint8
	name string
	sd   *StatementDescription // pipePrepare: filled while reading; pipePrepared: the cached description
	rf   []int16               // result formats
}

// Pipeline batches extended-protocol requests: they are queued with the
// Send methods, written by Flush (or Sync) while the caller goes on, and
// their results are read in order with GetResults. Writing happens on a
// goroutine owned by the Pipeline, so a large pipeline cannot deadlock on
// full socket buffers. A Pipeline is not safe for concurrent use; it must be
// closed before its connection is used again.
//
// When a request fails, the server skips every later request up to the next
// Sync: GetResults reports those as ErrPipelineSkipped, then the Sync's
// *PipelineSync.
type Pipeline struct {
	c      *Conn
	reqs   []pipeReq
	head   int
	skip   bool // a request failed: the rest of the segment is skipped
	err    error
	closed bool
	rr     ResultReader
	w      *pipeWriter
	spare  []byte
}

// StartPipeline starts a pipeline. The connection is busy until the
// pipeline is closed; ctx governs the whole pipeline as it does a result
// reader of Exec.
func (c *Conn) StartPipeline(ctx context.Context) *Pipeline {
	p := &Pipeline{c: c}
	if err := c.begin(ctx); err != nil {
		p.err, p.closed = err, true
		return p
	}
	c.drainHook = p.writerIdle
	// The previous pipeline's memory: no growth for a repeated pipeline.
	p.reqs, c.pipeReqs = c.pipeReqs[:0], nil
	p.spare, c.pipeSpare = c.pipeSpare, nil
	return p
}

// maxKeptPipelineBuffer bounds the output buffer a closed Pipeline leaves
// to the next one, like the read buffer's DefaultRetainBuffer.
const maxKeptPipelineBuffer = 4 << 20

func (p *Pipeline) queue(r pipeReq, reqs ...request) error {
	if p.err != nil {
		return p.err
	}
	if p.closed {
		return safeToRetry(errors.New("conn: pipeline is closed"))
	}
	if err := p.c.send(reqs...); err != nil {
		return err
	}
	p.reqs = append(p.reqs, r)
	return nil
}

// SendPrepare queues the creation of prepared statement name (Parse,
// Describe). Its result is a *StatementDescription, also cached for
// ExecPrepared and SendQueryPrepared.
func (p *Pipeline) SendPrepare(name, sql string, paramOIDs []uint32) error {
	return p.queue(pipeReq{kind: pipePrepare, name: name, sd: &StatementDescription{Name: name, SQL: sql}},
		request{kind: 'P', name: name, sql: sql, oids: paramOIDs}, request{kind: 'S', name: name})
}

// SendQueryParams queues one statement with parameters (Parse of the
// unnamed statement, Bind, Describe, Execute). Its result is a
// *ResultReader.
func (p *Pipeline) SendQueryParams(sql string, paramValues [][]byte, paramOIDs []uint32, paramFormats, resultFormats []int16) error {
	return p.queue(pipeReq{kind: pipeParams},
		request{kind: 'P', sql: sql, oids: paramOIDs},
		request{kind: 'B', params: paramValues, paramFormats: paramFormats, resultFormats: resultFormats},
		request{kind: 'D'}, request{kind: 'E'})
}

// SendQueryPrepared queues an execution of prepared statement name (Bind,
// Describe unless the description is cached, Execute). Its result is a
// *ResultReader.
func (p *Pipeline) SendQueryPrepared(name string, paramValues [][]byte, paramFormats, resultFormats []int16) error {
	sd := p.c.stmts[name]
	bind := request{kind: 'B', name: name, params: paramValues, paramFormats: paramFormats, resultFormats: resultFormats}
	if sd == nil {
		return p.queue(pipeReq{kind: pipePrepared}, bind, request{kind: 'D'}, request{kind: 'E'})
	}
	if err := checkResultFormats(len(sd.Fields), resultFormats); err != nil {
		return safeToRetry(err)
	}
	return p.queue(pipeReq{kind: pipePrepared, sd: sd, rf: slices.Clone(resultFormats)}, bind, request{kind: 'E'})
}

// SendDeallocate queues a Close of prepared statement name. Its result is
// a *CloseComplete.
func (p *Pipeline) SendDeallocate(name string) error {
	delete(p.c.stmts, name)
	return p.queue(pipeReq{kind: pipeDeallocate, name: name}, request{kind: 'C', name: name})
}

// Sync queues a Sync, which ends the segment (and its implicit transaction)
// and makes the server flush its replies, and flushes the pipeline. Its
// result is a *PipelineSync.
func (p *Pipeline) Sync() error {
	if err := p.queue(pipeReq{kind: pipeSync}, request{kind: 'Y'}); err != nil {
		return err
	}
	return p.Flush()
}

// Flush hands the queued requests to the pipeline's writer and returns
// without waiting for them to be written.
func (p *Pipeline) Flush() error {
	if p.err != nil {
		return p.err
	}
	if len(p.c.fe.Output()) == 0 {
		return nil
	}
	if p.spare == nil && p.w != nil {
		p.spare = p.w.takeWritten()
	}
	out := p.c.fe.TakeOutput(p.spare)
	p.spare = nil
	if p.w == nil {
		p.w = newPipeWriter(p.c)
	}
	p.w.enqueue(out)
	return nil
}

// writerIdle waits until the writer has written everything queued, and
// returns its error: a failed write means the server saw a partial request.
func (p *Pipeline) writerIdle() error {
	if p.w == nil {
		return nil
	}
	return p.w.idle()
}

// GetResults returns the result of the next queued request: a
// *StatementDescription, a *ResultReader (which must be closed, or read to
// the end, before the next call), a *CloseComplete or a *PipelineSync. It
// returns (nil, nil) when no request is left. A request that failed returns
// its *PgError (for a *ResultReader, from its Close); a skipped request
// returns ErrPipelineSkipped.
func (p *Pipeline) GetResults() (any, error) {
	if p.rr.c != nil && !p.rr.done {
		p.rr.Close()
	}
	if p.err != nil {
		return nil, p.err
	}
	if p.head == len(p.reqs) {
		return nil, nil
	}
	if len(p.c.fe.Output()) > 0 {
		if err := p.Flush(); err != nil {
			return nil, err
		}
	}
	r := &p.reqs[p.head]
	if p.skip && r.kind != pipeSync {
		p.head++
		return nil, ErrPipelineSkipped
	}
	switch r.kind {
	case pipeSync:
		return p.readSync()
	case pipeDeallocate:
		return p.readOne(r, func(m pgproto3.BackendMessage) (any, bool) {
			_, ok := m.(*pgproto3.CloseComplete)
			return &CloseComplete{}, ok
		})
	case pipePrepare:
		return p.readPrepare(r)
	}
	return p.readRows(r)
}

// readOne reads until accept reports the request done or an error ends it.
func (p *Pipeline) readOne(r *pipeReq, accept func(pgproto3.BackendMessage) (any, bool)) (any, error) {
	for {
		msg, _, err := p.c.recv()
		if err != nil {
			return nil, p.fail(err)
		}
		if m, ok := msg.(*pgproto3.ErrorResponse); ok {
			p.head++
			p.skip = true
			return nil, newPgError(m)
		}
		if res, done := accept(msg); done {
			p.head++
			return res, nil
		}
	}
}

func (p *Pipeline) readPrepare(r *pipeReq) (any, error) {
	sd := r.sd
	return p.readOne(r, func(m pgproto3.BackendMessage) (any, bool) {
		switch m := m.(type) {
		case *pgproto3.ParameterDescription:
			sd.ParamOIDs = slices.Clone(m.ParameterOIDs)
		case *pgproto3.RowDescription:
			sd.Fields = copyFields(nil, m.Fields)
			p.cache(sd)
			return sd, true
		case *pgproto3.NoData:
			p.cache(sd)
			return sd, true
		}
		return nil, false
	})
}

func (p *Pipeline) cache(sd *StatementDescription) {
	if p.c.stmts == nil {
		p.c.stmts = make(map[string]*StatementDescription)
	}
	p.c.stmts[sd.Name] = sd
}

func (p *Pipeline) readSync() (any, error) {
	var opErr error
	for {
		msg, _, err := p.c.recv()
		if err != nil {
			return nil, p.fail(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			opErr = newPgError(m) // the implicit COMMIT at Sync failed
		case *pgproto3.ReadyForQuery:
			p.head++
			p.skip = false
			return &PipelineSync{}, opErr
		}
	}
}

// readRows reads up to the first row of a parameterized or prepared query
// and returns its reader.
func (p *Pipeline) readRows(r *pipeReq) (any, error) {
	rr := &p.rr
	*rr = ResultReader{c: p.c, fields: rr.fields[:0]}
	rr.owner, rr.pipe = ownerPipeline, p
	if r.sd != nil {
		rr.fields = append(rr.fields, r.sd.Fields...)
		for i := range rr.fields {
			rr.fields[i].Format = formatFor(r.rf, i)
		}
	}
	for {
		msg, _, err := p.c.recv()
		if err != nil {
			rr.fail(err)
			return rr, nil
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete, *pgproto3.BindComplete:
			continue
		case *pgproto3.RowDescription:
			rr.fields = copyFields(rr.fields, m.Fields)
		case *pgproto3.NoData:
		case *pgproto3.ErrorResponse:
			rr.err = newPgError(m)
			rr.finish()
		default:
			p.c.pushback = msg
		}
		return rr, nil
	}
}

// resultDone advances past a request whose result reader ended.
func (p *Pipeline) resultDone(rr *ResultReader) {
	p.head++
	if rr.err != nil {
		var pe *PgError
		if errors.As(rr.err, &pe) {
			p.skip = true
		} else {
			p.fail(rr.err)
		}
	}
}

// fail records a connection-level error: the pipeline is over.
func (p *Pipeline) fail(err error) error {
	if p.err == nil {
		p.err = err
	}
	return p.err
}

// Close sends a Sync if requests are queued without one, reads and discards
// every remaining result, stops the writer and releases the connection. It
// returns the first connection-level error (a request's own error is
// reported by GetResults).
func (p *Pipeline) Close() error {
	if p.closed {
		return p.err
	}
	if p.err == nil && len(p.reqs) > p.head && p.reqs[len(p.reqs)-1].kind != pipeSync {
		if err := p.Sync(); err != nil {
			p.fail(err)
		}
	}
	for p.err == nil {
		res, err := p.GetResults()
		if res == nil && err == nil {
			break
		}
		if rr, ok := res.(*ResultReader); ok {
			rr.Close()
		}
	}
	p.closed = true
	if p.w != nil {
		if err := p.w.stop(); err != nil {
			p.fail(p.c.die(err))
		}
		if b := p.w.takeWritten(); cap(b) > cap(p.spare) {
			p.spare = b
		}
	}
	if p.err == nil {
		clear(p.reqs)
		p.c.pipeReqs = p.reqs[:0]
		if cap(p.spare) <= maxKeptPipelineBuffer {
			p.c.pipeSpare = p.spare
		}
	}
	p.reqs, p.spare = nil, nil
	p.c.drainHook = nil
	p.c.end()
	return p.err
}

// pipeWriter writes queued buffers on its own goroutine, so that the
// caller can read results while a large pipeline is still being written.
type pipeWriter struct {
	c       *Conn
	mu      sync.Mutex // guards following fields
	cond    *sync.Cond
	queue   [][]byte
	written []byte // the largest buffer written, for reuse
	writing bool
	stopped bool
	err     error
	done    chan struct{}
}

func newPipeWriter(c *Conn) *pipeWriter {
	w := &pipeWriter{c: c, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

func (w *pipeWriter) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for len(w.queue) == 0 && !w.stopped {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		b := w.queue[0]
		w.queue = w.queue[1:]
		w.writing = true
		failed := w.err != nil
		w.mu.Unlock()
		var err error
		if !failed {
			_, err = w.c.nc.Write(b)
		}
		w.mu.Lock()
		w.writing = false
		if err != nil && w.err == nil {
			w.err = err
		}
		if cap(b) > cap(w.written) {
			w.written = b[:0]
		}
		w.cond.Broadcast()
	}
}

func (w *pipeWriter) enqueue(b []byte) {
	w.mu.Lock()
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	w.cond.Broadcast()
}

// takeWritten returns the largest buffer written so far (its length reset
// to 0), or nil, and forgets it.
func (w *pipeWriter) takeWritten() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.written
	w.written = nil
	return b
}

func (w *pipeWriter) idle() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) > 0 || w.writing {
		w.cond.Wait()
	}
	return w.err
}

func (w *pipeWriter) stop() error {
	err := w.idle()
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cond.Broadcast()
	<-w.done
	return err
}
