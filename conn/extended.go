package conn

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// StatementDescription describes a prepared statement.
type StatementDescription struct {
	// Name is the statement name ("" for the unnamed statement).
	Name string
	// SQL is the statement text.
	SQL string
	// ParamOIDs are the parameter types the server inferred or was given.
	ParamOIDs []uint32
	// Fields are the result columns (text format, as Describe reports
	// them before any Bind); empty when the statement returns no rows.
	Fields []FieldDescription
}

// request is one extended-protocol message to send.
type request struct {
	kind          byte // 'P' Parse, 'B' Bind, 'S' Describe statement, 'D' Describe portal, 'E' Execute, 'C' Close, 'Y' Sync
	name, sql     string
	oids          []uint32
	params        [][]byte
	paramFormats  []int16
	resultFormats []int16
}

// send encodes reqs as one unit: if any is refused, none is sent and the
// connection is unchanged.
func (c *Conn) send(reqs ...request) error {
	m := c.fe.Mark()
	for i := range reqs {
		r := &reqs[i]
		var err error
		switch r.kind {
		case 'P':
			_, err = c.fe.SendParse(r.name, r.sql, r.oids)
		case 'B':
			_, err = c.fe.SendBind("", r.name, r.paramFormats, r.params, r.resultFormats)
		case 'S':
			_, err = c.fe.SendDescribeStatement(r.name)
		case 'D':
			_, err = c.fe.SendDescribePortal("")
		case 'E':
			_, err = c.fe.SendExecute("", 0)
		case 'C':
			_, err = c.fe.SendClose('S', r.name)
		case 'Y':
			_, err = c.fe.SendSync()
		}
		if err != nil {
			c.fe.Rollback(m)
			return safeToRetry(err)
		}
	}
	if c.tr != nil {
		for i := range reqs {
			c.traceRequest(&reqs[i])
		}
	}
	return nil
}

// ExecParams runs one statement through the extended protocol: Parse of
// the unnamed statement, Bind with the parameters, Describe, Execute and
// Sync. paramValues in text format (the default) must be valid UTF-8 without
// NUL; nil is NULL. paramOIDs may be nil (the server infers types).
// paramFormats and resultFormats follow the protocol: empty means all text,
// one code applies to all, otherwise one per parameter or column. Up to 65535
// parameters. The reader must be closed before the connection is used again;
// context handling is as for Exec.
func (c *Conn) ExecParams(ctx context.Context, sql string, paramValues [][]byte, paramOIDs []uint32, paramFormats, resultFormats []int16) *ResultReader {
	return c.execExtended(ctx, nil, request{kind: 'P', sql: sql, oids: paramOIDs},
		request{kind: 'B', params: paramValues, paramFormats: paramFormats, resultFormats: resultFormats},
		request{kind: 'D'}, request{kind: 'E'}, request{kind: 'Y'})
}

// ExecPrepared runs the prepared statement name with the given parameters
// (Bind, Execute, Sync). The column descriptions come from the describe
// cache filled by Prepare, so no Describe round trip is needed; for a
// statement not prepared through this connection's Prepare a Describe is
// sent.
func (c *Conn) ExecPrepared(ctx context.Context, name string, paramValues [][]byte, paramFormats, resultFormats []int16) *ResultReader {
	sd := c.stmts[name]
	bind := request{kind: 'B', name: name, params: paramValues, paramFormats: paramFormats, resultFormats: resultFormats}
	if sd == nil {
		return c.execExtended(ctx, nil, bind, request{kind: 'D'}, request{kind: 'E'}, request{kind: 'Y'})
	}
	return c.execExtended(ctx, sd, bind, request{kind: 'E'}, request{kind: 'Y'})
}

func (c *Conn) execExtended(ctx context.Context, sd *StatementDescription, reqs ...request) *ResultReader {
	if c.busy && c.err == nil {
		// c.rr belongs to the open operation: do not reset it.
		return &ResultReader{c: c, err: safeToRetry(ErrBusy), done: true}
	}
	rr := &c.rr
	*rr = ResultReader{c: c, fields: rr.fields[:0]}
	if err := c.begin(ctx); err != nil {
		rr.err, rr.done = err, true
		return rr
	}
	if sd != nil {
		if err := checkResultFormats(len(sd.Fields), reqs[0].resultFormats); err != nil {
			c.end()
			rr.err, rr.done = safeToRetry(err), true
			return rr
		}
	}
	if err := c.send(reqs...); err != nil {
		c.end()
		rr.err, rr.done = err, true
		return rr
	}
	if err := c.flush(); err != nil {
		c.end()
		rr.err, rr.done = err, true
		return rr
	}
	rr.owner = ownerExtended
	if sd != nil {
		rr.fields = append(rr.fields, sd.Fields...)
		for i := range rr.fields {
			rr.fields[i].Format = formatFor(reqs[0].resultFormats, i)
		}
	}
	// Read up to the first row: ParseComplete, BindComplete and the
	// RowDescription or NoData of the portal.
	for {
		msg, _, err := c.recv()
		if err != nil {
			rr.fail(err)
			return rr
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
			return rr
		default:
			// The first reply of Execute (a row, a tag, COPY): hand it
			// back to the row loop.
			c.pushback = msg
		}
		return rr
	}
}

func checkResultFormats(cols int, formats []int16) error {
	if len(formats) > 1 && len(formats) != cols {
		return &wire.InputError{Field: "result formats", Offset: -1, Problem: "count does not match the statement's columns"}
	}
	return nil
}

func formatFor(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	return formats[i]
}

// finishExtended ends an extended-protocol result: it reads up to
// ReadyForQuery (a commit failure at Sync becomes the result's error) and
// ends the operation.
func (c *Conn) finishExtended(rr *ResultReader) {
	{
		defer c.end()
		if c.err != nil || c.fe.State() == wire.StateIdle {
			return
		}
		for {
			msg, _, err := c.recv()
			if err != nil {
				if rr.err == nil {
					rr.err = err
				} else if err != rr.err {
					// The statement failed, then the connection: report both.
					rr.err = errors.Join(rr.err, err)
				}
				return
			}
			switch m := msg.(type) {
			case *pgproto3.ErrorResponse:
				if rr.err == nil {
					rr.err = newPgError(m)
				}
			case *pgproto3.ReadyForQuery:
				return
			}
		}
	}
}

// Prepare creates the prepared statement name (Parse, Describe, Sync) and
// returns its description, which is also cached for ExecPrepared.
func (c *Conn) Prepare(ctx context.Context, name, sql string, paramOIDs []uint32) (*StatementDescription, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.end()
	if err := c.send(request{kind: 'P', name: name, sql: sql, oids: paramOIDs}, request{kind: 'S', name: name}, request{kind: 'Y'}); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	sd := &StatementDescription{Name: name, SQL: sql}
	var opErr error
	for {
		msg, _, err := c.recv()
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.ParameterDescription:
			sd.ParamOIDs = slices.Clone(m.ParameterOIDs)
		case *pgproto3.RowDescription:
			sd.Fields = copyFields(nil, m.Fields)
		case *pgproto3.ErrorResponse:
			opErr = newPgError(m)
		case *pgproto3.ReadyForQuery:
			if opErr != nil {
				return nil, opErr
			}
			if c.stmts == nil {
				c.stmts = make(map[string]*StatementDescription)
			}
			c.stmts[name] = sd
			return sd, nil
		}
	}
}

// Deallocate closes the prepared statement name (Close, Sync) and drops it
// from the describe cache. Closing a name that does not exist succeeds.
func (c *Conn) Deallocate(ctx context.Context, name string) error {
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.end()
	if err := c.send(request{kind: 'C', name: name}, request{kind: 'Y'}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	delete(c.stmts, name)
	var opErr error
	for {
		msg, _, err := c.recv()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			opErr = newPgError(m)
		case *pgproto3.ReadyForQuery:
			return opErr
		}
	}
}
