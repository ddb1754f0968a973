package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ReplayConn is a net.Conn that plays a server from memory. The first
// Write (the StartupMessage) releases head, the startup reply; every later
// Write releases one more copy of loop, the reply to one request. Read
// serves the released bytes and, like a socket whose peer has nothing more
// to say, blocks at the end of a reply until the client writes again (or
// closes): no byte of the next reply is ever readable before its request
// was sent, as with a real server. Written bytes are discarded; deadlines
// are accepted and ignored.
//
// Every client under test reads the same bytes, so the difference between
// them is the client's own cost: no server, no kernel, no scheduling noise.
//
// ReplayConn is safe for concurrent use by multiple goroutines (a pipeline
// writes from its own goroutine while the caller reads); concurrent reads
// interleave arbitrarily.
type ReplayConn struct {
	head, loop []byte

	mu       sync.Mutex // guards following fields
	wake     *sync.Cond // signalled by Write and Close
	cur      []byte     // the reply being served; nil between replies
	off      int        // read position in cur
	headDone bool       // head was released
	released bool       // a Write arrived since the last reply started
	served   int64
	closed   bool
	dialed   bool
}

var _ net.Conn = (*ReplayConn)(nil)

// NewReplayConn returns a ReplayConn that answers the first write with head
// and every later one with loop.
func NewReplayConn(head, loop []byte) *ReplayConn {
	c := &ReplayConn{head: head, loop: loop}
	c.wake = sync.NewCond(&c.mu)
	return c
}

// ErrReplayClosed is returned by Read and Write after Close.
var ErrReplayClosed = fmt.Errorf("bench: replay connection closed: %w", net.ErrClosed)

// errRedial reports a second dial of a one-connection replay.
var errRedial = errors.New("bench: the replay serves one connection only")

// Dial returns c itself the first time and an error afterwards; it has the
// signature of both conn.DialFunc and pgconn.DialFunc.
func (c *ReplayConn) Dial(_ context.Context, _, _ string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialed {
		return nil, errRedial
	}
	c.dialed = true
	return c, nil
}

// Read serves the rest of the current reply, up to len(p) bytes. Between
// replies it waits for the next Write; an empty reply (a loop of no bytes)
// is the end of the stream, io.EOF.
func (c *ReplayConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.closed {
			return 0, ErrReplayClosed
		}
		if c.off < len(c.cur) {
			n := copy(p, c.cur[c.off:])
			c.off += n
			c.served += int64(n)
			return n, nil
		}
		if c.released {
			c.released = false
			c.cur, c.off = c.loop, 0
			if !c.headDone {
				c.cur, c.headDone = c.head, true
			}
			if len(c.cur) == 0 {
				return 0, io.EOF
			}
			continue
		}
		c.wake.Wait()
	}
}

// Served returns the number of bytes Read has returned so far.
func (c *ReplayConn) Served() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

// Write discards p and releases the next reply.
func (c *ReplayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrReplayClosed
	}
	if len(p) > 0 && !c.released {
		c.released = true
		c.wake.Broadcast()
	}
	return len(p), nil
}

// Close makes later reads and writes fail and wakes a blocked Read. It is
// idempotent.
func (c *ReplayConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.wake.Broadcast()
	return nil
}

// LocalAddr returns 127.0.0.1:5432.
func (c *ReplayConn) LocalAddr() net.Addr { return replayAddr() }

// RemoteAddr returns 127.0.0.1:5432.
func (c *ReplayConn) RemoteAddr() net.Addr { return replayAddr() }

func replayAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432} }

// SetDeadline does nothing.
func (c *ReplayConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing.
func (c *ReplayConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing.
func (c *ReplayConn) SetWriteDeadline(time.Time) error { return nil }

// ---- recorded streams -------------------------------------------------------

// ReplayDSN is the connection string both clients parse for a replay: no TLS
// (the replay speaks plaintext), protocol 3.0 (what the StartupReply
// answers), and a host that is never resolved because DialFunc is replaced.
const ReplayDSN = "host=127.0.0.1 port=5432 user=bench dbname=bench sslmode=disable max_protocol_version=3.0"

// StartupReply returns what PostgreSQL 15 sends after the StartupMessage of
// a trust-authenticated protocol 3.0 session: AuthenticationOk, the
// reported parameters, BackendKeyData and ReadyForQuery.
func StartupReply() []byte {
	msgs := []pgproto3.BackendMessage{&pgproto3.AuthenticationOk{}}
	for _, p := range [][2]string{
		{"application_name", ""},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"default_transaction_read_only", "off"},
		{"in_hot_standby", "off"},
		{"integer_datetimes", "on"},
		{"IntervalStyle", "postgres"},
		{"is_superuser", "off"},
		{"server_encoding", "UTF8"},
		{"server_version", "15.18 (Debian 15.18-0+deb12u1)"},
		{"session_authorization", "bench"},
		{"standard_conforming_strings", "on"},
		{"TimeZone", "Etc/UTC"},
	} {
		msgs = append(msgs, &pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	msgs = append(msgs, &pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: []byte{0x12, 0x34, 0x56, 0x78}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return encode(msgs...)
}

// MixedRowsQuery returns the SQL whose result MixedRowsReply synthesizes:
// n rows of four text-format columns of mixed widths (an int4, a short
// text, a NULL and a 100-byte text that is 1 KiB on every 16th row).
func MixedRowsQuery(n int) string {
	return "select g as id, 'row ' || g as name, null::text as note, " +
		"repeat('x', case when g % 16 = 0 then 1024 else 100 end) as payload " +
		"from generate_series(1, " + strconv.Itoa(n) + ") as g"
}

// MixedRowsReply returns, byte for byte, what PostgreSQL sends in answer
// to MixedRowsQuery(n): through a simple Query (RowDescription, the
// DataRows, CommandComplete, ReadyForQuery), or with extended set, through
// Parse, Bind, Describe portal, Execute and Sync (ParseComplete and
// BindComplete first). TestReplayMatchesServer checks it against a real
// server.
func MixedRowsReply(n int, extended bool) []byte {
	var out []byte
	if extended {
		out = encode(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{})
	}
	text := func(name string) pgproto3.FieldDescription {
		return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
	}
	out = append(out, encode(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1},
		text("name"), text("note"), text("payload"),
	}})...)
	short, wide := make([]byte, 100), make([]byte, 1024)
	for i := range wide {
		wide[i] = 'x'
	}
	copy(short, wide)
	// Rows are encoded one by one into out: a million of them as message
	// values would cost far more memory than their bytes.
	row := &pgproto3.DataRow{Values: make([][]byte, 4)}
	var id, name []byte
	for g := 1; g <= n; g++ {
		payload := short
		if g%16 == 0 {
			payload = wide
		}
		id = strconv.AppendInt(id[:0], int64(g), 10)
		name = append(append(name[:0], "row "...), id...)
		row.Values[0], row.Values[1], row.Values[2], row.Values[3] = id, name, nil, payload
		var err error
		if out, err = row.Encode(out); err != nil {
			panic(fmt.Sprintf("bench: encode DataRow: %v", err))
		}
	}
	return append(out, encode(&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(n))},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})...)
}

// MixedRowsValueBytes returns the total length of the non-NULL values of
// MixedRowsQuery(n): what a reader that touches every value's length adds
// up, used to check that a benchmark really read every row.
func MixedRowsValueBytes(n int) int {
	total := 0
	for g := 1; g <= n; g++ {
		id := len(strconv.Itoa(g))
		total += id + 4 + id + 100
		if g%16 == 0 {
			total += 1024 - 100
		}
	}
	return total
}

// CopyOutQuery returns the COPY TO STDOUT whose reply CopyOutReply
// synthesizes: n rows of an int4, a text and a float8, as CopyOutRow prints
// them (the rows of the COPY benchmarks on the real server).
func CopyOutQuery(n int) string {
	return "copy (select g::int4, 'row ' || g || ' of text', (g + 0.25)::float8 from generate_series(1, " +
		strconv.Itoa(n) + ") as g) to stdout"
}

// CopyOutRow appends row g of CopyOutQuery in the text COPY format.
func CopyOutRow(dst []byte, g int) []byte {
	dst = strconv.AppendInt(dst, int64(g), 10)
	dst = append(dst, "\trow "...)
	dst = strconv.AppendInt(dst, int64(g), 10)
	dst = append(dst, " of text\t"...)
	dst = strconv.AppendFloat(dst, float64(g)+0.25, 'f', -1, 64)
	return append(dst, '\n')
}

// CopyOutReply returns, byte for byte, what PostgreSQL sends in answer to
// CopyOutQuery(n): CopyOutResponse (text, three columns), one CopyData per
// row, CopyDone, CommandComplete and ReadyForQuery. TestReplayMatchesServer
// checks it against a real server.
func CopyOutReply(n int) []byte {
	out := encode(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0, 0, 0}})
	var line []byte
	for g := 1; g <= n; g++ {
		line = CopyOutRow(line[:0], g)
		out = append(out, 'd')
		out = binary.BigEndian.AppendUint32(out, uint32(4+len(line)))
		out = append(out, line...)
	}
	return append(out, encode(&pgproto3.CopyDone{}, &pgproto3.CommandComplete{CommandTag: []byte("COPY " + strconv.Itoa(n))},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})...)
}

// CopyOutDataBytes returns the number of COPY data bytes of CopyOutQuery(n):
// what a client must write out.
func CopyOutDataBytes(n int) int {
	total := 0
	var line []byte
	for g := 1; g <= n; g++ {
		line = CopyOutRow(line[:0], g)
		total += len(line)
	}
	return total
}

// PipelineQuery is the statement a pipeline benchmark queues, with one
// text parameter.
const PipelineQuery = "select $1::int"

// PipelineValue is the parameter (and the result) of every PipelineQuery.
const PipelineValue = "42"

// PipelineReply returns what PostgreSQL sends in answer to k queued
// SendQueryParams(PipelineQuery, PipelineValue) (Parse, Bind, Describe
// portal, Execute each) followed by one Sync.
func PipelineReply(k int) []byte {
	one := encode(&pgproto3.ParseComplete{}, &pgproto3.BindComplete{},
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("int4"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1},
		}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(PipelineValue)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	out := make([]byte, 0, k*len(one)+6)
	for range k {
		out = append(out, one...)
	}
	return append(out, encode(&pgproto3.ReadyForQuery{TxStatus: 'I'})...)
}

// encode appends the wire form of msgs. pgproto3 fails only on a message
// over 1 GiB, which these fixed, small messages never are: an error is a
// bug of this package, hence the panic.
func encode(msgs ...pgproto3.BackendMessage) []byte {
	var out []byte
	for _, m := range msgs {
		var err error
		out, err = m.Encode(out)
		if err != nil {
			panic(fmt.Sprintf("bench: encode %T: %v", m, err))
		}
	}
	return out
}
