package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pgstrict/pgstrict/conn"
)

// Copier runs COPY statements with non-default settings. The zero Copier is
// valid and is what the package-level functions use. A Copier is a plain
// value, safe for concurrent use (each call still needs its own
// connection).
type Copier struct {
	// ChunkSize is the size of the CopyData messages sent by From and
	// FromRows (each message carries up to ChunkSize bytes) and of the
	// batches To writes. Zero: conn.DefaultCopyChunkSize.
	ChunkSize int
	// Extended runs the COPY statement through the extended protocol
	// (Parse, Bind, Execute, Sync) instead of a simple Query. Zero: simple
	// protocol.
	Extended bool
}

func (cp Copier) chunk() int {
	if cp.ChunkSize > 0 {
		return cp.ChunkSize
	}
	return conn.DefaultCopyChunkSize
}

func (cp Copier) start(ctx context.Context, c *conn.Conn, sql string, dir conn.CopyDirection) (*conn.Copy, error) {
	return c.CopyStart(ctx, sql, conn.CopyOptions{Direction: dir, ChunkSize: cp.ChunkSize, Extended: cp.Extended})
}

// From runs sql, a COPY … FROM STDIN statement, with the zero Copier.
func From(ctx context.Context, c *conn.Conn, sql string, r io.Reader) (int64, error) {
	return Copier{}.From(ctx, c, sql, r)
}

// To runs sql, a COPY … TO STDOUT statement, with the zero Copier.
func To(ctx context.Context, c *conn.Conn, sql string, w io.Writer) (int64, error) {
	return Copier{}.To(ctx, c, sql, w)
}

// FromRows copies the rows of src into table with the zero Copier.
func FromRows(ctx context.Context, c *conn.Conn, table string, columns []string, src RowSource, format Format) (int64, error) {
	return Copier{}.FromRows(ctx, c, table, columns, src, format)
}

// ToRows runs sql, a COPY … TO STDOUT statement, with the zero Copier and
// decodes its rows.
func ToRows(ctx context.Context, c *conn.Conn, sql string, format Format, fn func(row [][]byte) error) (int64, error) {
	return Copier{}.ToRows(ctx, c, sql, format, fn)
}

// From runs sql, which must be a COPY … FROM STDIN statement, and streams
// everything r yields to the server as COPY data (in whatever format the
// statement names), in CopyData messages of ChunkSize bytes. It returns the
// row count of the command tag.
//
// A statement that does not start a COPY FROM STDIN fails at once with an
// error matching conn.ErrNotCopy (or the server's *conn.PgError) and leaves
// the connection idle. If r fails, the COPY is ended with a CopyFail that
// names r's error, and that error is returned. A server error (bad data, a
// constraint violation) stops the sending at once and is returned as a
// *RowError with the line the server names, wrapping the *conn.PgError. If
// ctx ends, a CopyFail is sent and the connection drained; From returns the
// context's error. In each of these cases nothing of the COPY is committed
// and the connection is idle again (or closed, when the failure was the
// connection's own: see conn.Conn.Err).
func (cp Copier) From(ctx context.Context, c *conn.Conn, sql string, r io.Reader) (int64, error) {
	x, err := cp.start(ctx, c, sql, conn.CopyIn)
	if err != nil {
		return 0, err
	}
	if _, err := x.ReadFrom(r); err != nil {
		return 0, withRow(err)
	}
	tag, err := x.Finish()
	if err != nil {
		return 0, withRow(err)
	}
	return tag.RowsAffected(), nil
}

// To runs sql, which must be a COPY … TO STDOUT statement, and writes the
// data the server sends to w, batched into writes of up to ChunkSize bytes
// (a row larger than that is written alone). It returns the row count of the
// command tag.
//
// A statement that does not start a COPY TO STDOUT fails at once as for
// From. If w fails, the query is cancelled (CancelRequest) and the
// connection drained, and w's error is returned. If ctx ends, the same
// happens and To returns the context's error.
func (cp Copier) To(ctx context.Context, c *conn.Conn, sql string, w io.Writer) (int64, error) {
	x, err := cp.start(ctx, c, sql, conn.CopyOut)
	if err != nil {
		return 0, err
	}
	bw := &batchWriter{w: w}
	if n := cp.chunk(); n == conn.DefaultCopyChunkSize {
		bp := batchBufs.Get().(*[]byte)
		defer batchBufs.Put(bp)
		bw.buf = (*bp)[:0]
	} else {
		bw.buf = make([]byte, 0, n)
	}
	if _, err := x.WriteTo(bw); err != nil {
		return 0, err
	}
	if err := bw.flush(); err != nil {
		return 0, fmt.Errorf("pgcopy: writing the destination: %w", err)
	}
	return x.Tag().RowsAffected(), nil
}

// batchBufs keeps To's batch buffers of the default chunk size between
// COPYs, so that a COPY TO neither allocates nor zeroes 256 KiB. A buffer
// is free again when To returns: io.Writer implementations must not
// retain what they are given.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, conn.DefaultCopyChunkSize)
	return &b
}}

// batchWriter gathers the rows of COPY TO STDOUT into larger writes.
type batchWriter struct {
	w   io.Writer
	buf []byte
}

func (b *batchWriter) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b.buf) {
			return b.w.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *batchWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n != len(b.buf) {
		err = io.ErrShortWrite
	}
	b.buf = b.buf[:0]
	return err
}

// RowSource yields the rows FromRows copies, one at a time, so that they
// need not be held in memory together.
type RowSource interface {
	// Next advances to the next row and reports whether there is one.
	Next() bool
	// Values returns the current row's values, one per column. The slice
	// and the values may be reused after the next call to Next.
	Values() ([]any, error)
	// Err returns the error that stopped the source, or nil when it ran
	// out of rows.
	Err() error
}

// SliceRows returns a RowSource over rows held in memory.
func SliceRows(rows [][]any) RowSource { return &sliceRows{rows: rows, i: -1} }

type sliceRows struct {
	rows [][]any
	i    int
}

var _ RowSource = (*sliceRows)(nil)

func (s *sliceRows) Next() bool {
	s.i++
	return s.i < len(s.rows)
}

func (s *sliceRows) Values() ([]any, error) { return s.rows[s.i], nil }

func (s *sliceRows) Err() error { return nil }

// QuoteIdentifier quotes name as an SQL identifier: in double quotes, with
// double quotes doubled. Join the parts of a qualified name with a dot:
// QuoteIdentifier("public") + "." + QuoteIdentifier("t").
func QuoteIdentifier(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// FromRows copies the rows of src into table through COPY … FROM STDIN in
// format. table is SQL text naming the table, inserted as is (quote it with
// QuoteIdentifier when it comes from outside); columns are column names,
// quoted by FromRows, or nil for every column in order. The column types are
// read first (a SELECT … LIMIT 0 through the extended protocol) so that
// values are encoded for the column, not for their Go type.
//
// A value that cannot be encoded (invalid UTF-8 or a NUL byte in text, a Go
// type that does not fit the column) or an error of src ends the COPY with a
// CopyFail before its row is sent, and is returned as a *RowError; errors
// during the COPY are handled as in From. It returns the row count of the
// command tag.
func (cp Copier) FromRows(ctx context.Context, c *conn.Conn, table string, columns []string, src RowSource, format Format) (int64, error) {
	if !format.valid() {
		return 0, fmt.Errorf("pgcopy: unknown format %s", format)
	}
	cols, err := describe(ctx, c, table, columns)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = QuoteIdentifier(col.Name)
	}
	sql := "COPY " + table + " (" + strings.Join(names, ", ") + ") FROM STDIN WITH (FORMAT " + format.String() + ")"
	x, err := cp.start(ctx, c, sql, conn.CopyIn)
	if err != nil {
		return 0, err
	}
	chunk := cp.chunk()
	enc := NewEncoder(format, cols)
	buf := enc.AppendHeader(make([]byte, 0, chunk+chunk/4))
	for src.Next() {
		values, err := src.Values()
		if err != nil {
			return 0, failCopy(x, &RowError{Row: enc.Rows() + 1, Err: err})
		}
		rowStart := len(buf)
		buf, err = enc.AppendRow(buf, values)
		if err != nil {
			return 0, failCopy(x, err)
		}
		if len(buf) < chunk {
			continue
		}
		// Send whole rows in messages of at most ChunkSize bytes; a row
		// larger than that is split by Write.
		send := buf
		if rowStart > 0 && len(buf) > chunk {
			send = buf[:rowStart]
		}
		if _, err := x.Write(send); err != nil {
			return 0, withRow(err)
		}
		buf = buf[:copy(buf, buf[len(send):])]
	}
	if err := src.Err(); err != nil {
		return 0, failCopy(x, err)
	}
	buf = enc.AppendTrailer(buf)
	if len(buf) > 0 {
		if _, err := x.Write(buf); err != nil {
			return 0, withRow(err)
		}
	}
	tag, err := x.Finish()
	if err != nil {
		return 0, withRow(err)
	}
	return tag.RowsAffected(), nil
}

// failCopy ends x with a CopyFail naming cause and returns cause, joined
// with the error of the CopyFail exchange if it has one.
func failCopy(x *conn.Copy, cause error) error {
	if err := x.Fail(cause.Error()); err != nil {
		return errors.Join(cause, withRow(err))
	}
	return cause
}

// describe returns the names and types of columns of table (all its
// columns when columns is nil).
func describe(ctx context.Context, c *conn.Conn, table string, columns []string) ([]Column, error) {
	list := "*"
	if len(columns) > 0 {
		quoted := make([]string, len(columns))
		for i, name := range columns {
			quoted[i] = QuoteIdentifier(name)
		}
		list = strings.Join(quoted, ", ")
	}
	rr := c.ExecParams(ctx, "SELECT "+list+" FROM "+table+" LIMIT 0", nil, nil, nil, nil)
	fields := rr.FieldDescriptions()
	cols := make([]Column, len(fields))
	for i, f := range fields {
		cols[i] = Column{Name: f.Name, OID: f.DataTypeOID}
	}
	if len(columns) > 0 && len(cols) == len(columns) {
		for i := range cols {
			cols[i].Name = columns[i]
		}
	}
	if _, err := rr.Close(); err != nil {
		return nil, fmt.Errorf("pgcopy: reading the columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("pgcopy: %s has no columns to copy", table)
	}
	return cols, nil
}

// ToRows runs sql, which must be a COPY … TO STDOUT statement producing
// format, and calls fn with the fields of each row (nil for NULL). The
// fields alias internal buffers and are valid only during the call. If fn
// returns an error the query is cancelled and the connection drained, and
// the error is returned. It returns the row count of the command tag.
//
// The statement must use the default options of its format (delimiter,
// quote, NULL string), as the Decoder does.
func (cp Copier) ToRows(ctx context.Context, c *conn.Conn, sql string, format Format, fn func(row [][]byte) error) (int64, error) {
	if !format.valid() {
		return 0, fmt.Errorf("pgcopy: unknown format %s", format)
	}
	x, err := cp.start(ctx, c, sql, conn.CopyOut)
	if err != nil {
		return 0, err
	}
	if (x.Format() == 1) != (format == FormatBinary) {
		got := "text or CSV"
		if x.Format() == 1 {
			got = "binary"
		}
		return 0, failCopy(x, fmt.Errorf("pgcopy: the statement produces %s data, not %s", got, format))
	}
	dec := NewDecoder(format)
	var carry []byte
	ended := false
	for {
		data, err := x.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if len(carry) > 0 {
			carry = append(carry, data...)
			data = carry
		}
		for len(data) > 0 {
			if ended {
				return 0, failCopy(x, fmt.Errorf("%w: data after the end marker", ErrMalformed))
			}
			fields, n, err := dec.Decode(data)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if errors.Is(err, io.EOF) {
				ended = true
				data = data[n:]
				continue
			}
			if err != nil {
				return 0, failCopy(x, err)
			}
			if err := fn(fields); err != nil {
				return 0, failCopy(x, err)
			}
			data = data[n:]
		}
		carry = append(carry[:0], data...)
	}
	if len(carry) > 0 {
		return 0, fmt.Errorf("%w: the data ends inside a row", ErrMalformed)
	}
	if format == FormatBinary && !ended {
		return 0, fmt.Errorf("%w: binary data without a trailer", ErrMalformed)
	}
	return x.Tag().RowsAffected(), nil
}
