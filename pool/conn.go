package pool

import (
	"context"

	"github.com/pgstrict/pgstrict/conn"
)

// usedAfterRelease is the panic value of a Conn method called after
// Release: the connection may already belong to another borrower, so the
// call must not reach it.
const usedAfterRelease = "pool: Conn used after Release"

// Conn is a connection borrowed from a Pool, returned by Acquire. It is not
// safe for concurrent use by multiple goroutines, like the conn.Conn it
// wraps.
//
// Its query methods are those of conn.Conn and follow the same rules (one
// operation at a time, close each reader before the next call); they also
// record the statement whose fingerprint a quarantine event reports.
// Release gives the connection back; after Release every method except
// Release panics, and readers obtained before must not be used. A Conn that
// becomes unreachable without Release (together with every reader and the
// *conn.Conn it handed out) is detected by the garbage collector and its
// connection quarantined as ReasonLeaked.
type Conn struct {
	p *Pool
	m *member
	c *conn.Conn
}

func (h *Conn) conn() *conn.Conn {
	if h.c == nil {
		panic(usedAfterRelease)
	}
	return h.c
}

// Conn returns the underlying connection, for what the wrapper methods do
// not cover (notifications, COPY with package pgcopy). It belongs to the
// borrower until Release and must not be used, closed or kept after it.
// Statements issued on it directly are not recorded for quarantine events.
func (h *Conn) Conn() *conn.Conn { return h.conn() }

// PID returns the server process ID of the connection.
func (h *Conn) PID() uint32 { return h.conn().PID() }

// Exec is conn.Conn.Exec: one simple-protocol Query. The reader must be
// closed before the next call and before Release, or the connection is
// quarantined as busy.
func (h *Conn) Exec(ctx context.Context, sql string) *conn.MultiResultReader {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = sql, stmtSQL
	return c.Exec(ctx, sql)
}

// ExecParams is conn.Conn.ExecParams: one statement through the extended
// protocol. Values read from the reader alias the connection's buffer and
// are valid until the next NextRow or Close.
func (h *Conn) ExecParams(ctx context.Context, sql string, paramValues [][]byte, paramOIDs []uint32, paramFormats, resultFormats []int16) *conn.ResultReader {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = sql, stmtSQL
	return c.ExecParams(ctx, sql, paramValues, paramOIDs, paramFormats, resultFormats)
}

// Prepare is conn.Conn.Prepare. Prepared statements live as long as the
// connection, across borrowers, unless ResetQuery removes them (DISCARD
// ALL does).
func (h *Conn) Prepare(ctx context.Context, name, sql string, paramOIDs []uint32) (*conn.StatementDescription, error) {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = sql, stmtSQL
	return c.Prepare(ctx, name, sql, paramOIDs)
}

// ExecPrepared is conn.Conn.ExecPrepared.
func (h *Conn) ExecPrepared(ctx context.Context, name string, paramValues [][]byte, paramFormats, resultFormats []int16) *conn.ResultReader {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = name, stmtPrepared
	return c.ExecPrepared(ctx, name, paramValues, paramFormats, resultFormats)
}

// Deallocate is conn.Conn.Deallocate.
func (h *Conn) Deallocate(ctx context.Context, name string) error {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = name, stmtPrepared
	return c.Deallocate(ctx, name)
}

// StartPipeline is conn.Conn.StartPipeline. The pipeline must be closed
// before Release, or the connection is quarantined as busy.
func (h *Conn) StartPipeline(ctx context.Context) *conn.Pipeline {
	c := h.conn()
	h.m.lastSQL, h.m.lastKind = "", stmtPipeline
	return c.StartPipeline(ctx)
}

// Release returns the connection to its pool, which keeps it for the next
// borrower only if it is provably clean (see Pool) and quarantines it
// otherwise. Release may block while ResetQuery and BeforeRelease run
// (bounded by ResetTimeout) or while a quarantined connection is closed
// (bounded by one second). Calling Release again does nothing.
func (h *Conn) Release() {
	p, m, c := h.p, h.m, h.c
	if c == nil {
		return
	}
	h.p, h.m, h.c = nil, nil, nil
	p.release(m, c)
}

// Exec acquires a connection, runs sql as one simple-protocol Query (it may
// hold several statements), reads every result and releases the
// connection. The error is the acquire error or the first statement error.
func (p *Pool) Exec(ctx context.Context, sql string) ([]*conn.Result, error) {
	h, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return h.Exec(ctx, sql).ReadAll()
}

// ExecParams acquires a connection, runs one statement through the
// extended protocol (see conn.Conn.ExecParams), reads the whole result and
// releases the connection. The error is the acquire error or the
// statement's error (also in Result.Err).
func (p *Pool) ExecParams(ctx context.Context, sql string, paramValues [][]byte, paramOIDs []uint32, paramFormats, resultFormats []int16) (*conn.Result, error) {
	h, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	r := h.ExecParams(ctx, sql, paramValues, paramOIDs, paramFormats, resultFormats).Read()
	return r, r.Err
}

// AcquireFunc acquires a connection, calls f with it and releases it when f
// returns, whatever f did (a connection f leaves dirty is quarantined). It
// returns the acquire error or f's error.
func (p *Pool) AcquireFunc(ctx context.Context, f func(*Conn) error) error {
	h, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer h.Release()
	return f(h)
}
