package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	pgcopy "github.com/pgstrict/pgstrict/copy"
	"github.com/pgstrict/pgstrict/wire"
)

// probeEvery is how many rows pass between two calls of a query's probe.
const probeEvery = 1 << 16

// Client names: the last element of every side-by-side sub-benchmark, which
// cmd/benchtable pairs up.
const (
	clientPgstrict = "pgstrict"
	clientPgconn   = "pgconn"
	clientPgproto3 = "pgproto3" // the floor: framing and decoding only
)

// ClientOrderEnv, set to 1 in the environment, makes every side-by-side
// benchmark run its clients in the opposite order. The client measured
// first in a process pays for what warms up (a new server backend, caches);
// cmd/benchtable sets it on every other run so that neither side always
// pays.
const ClientOrderEnv = "PGSTRICT_BENCH_REVERSE"

// NoSendWakeEnv, set to 1 in the environment, turns off the send wake
// (conn.Config.NoSendWake) of pgstrict's sessions, to measure what it
// changes in the real-server benchmarks.
const NoSendWakeEnv = "PGSTRICT_BENCH_NO_SEND_WAKE"

// clientOrder returns clients in the order of this run (see ClientOrderEnv).
func clientOrder(clients ...string) []string {
	if os.Getenv(ClientOrderEnv) == "1" {
		slices.Reverse(clients)
	}
	return clients
}

// session is one client connection under test. Each method runs one
// request to the end and reads every row the way an application would:
// row by row, touching the length of every value. It returns the number of
// rows and the sum of the value lengths, which the caller checks, so that a
// client that skipped work could not look fast.
type session interface {
	// query runs sql as one simple-protocol Query. probe, if not nil, is
	// called every probeEvery rows (to sample the heap).
	query(ctx context.Context, sql string, probe func()) (rows, size int, err error)
	// execParams runs sql through Parse, Bind, Describe, Execute, Sync.
	execParams(ctx context.Context, sql string, params [][]byte) (rows, size int, err error)
	// pipeline queues k executions of sql with params and one Sync, then
	// reads every result.
	pipeline(ctx context.Context, sql string, params [][]byte, k int) (rows, size int, err error)
	// copyTo runs a COPY TO STDOUT and writes its data to w; it returns
	// the row count of the command tag.
	copyTo(ctx context.Context, sql string, w io.Writer) (rows int64, err error)
	close(ctx context.Context) error
}

// dialFunc has the signature of both conn.DialFunc and pgconn.DialFunc.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// openSession connects client to dsn; dial, if set, replaces the dialer
// (a ReplayConn's Dial). The pgproto3 floor needs dial: it has no
// connection logic of its own.
func openSession(ctx context.Context, client, dsn string, dial dialFunc) (session, error) {
	switch client {
	case clientPgstrict:
		cfg, err := conn.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		if dial != nil {
			cfg.DialFunc = dial
		}
		cfg.NoSendWake = os.Getenv(NoSendWakeEnv) == "1"
		c, err := conn.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &pgstrictSession{c: c}, nil
	case clientPgconn:
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		if dial != nil {
			cfg.DialFunc = dial
		}
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &pgconnSession{c: c}, nil
	case clientPgproto3:
		if dial == nil {
			return nil, errors.New("bench: the pgproto3 floor runs on a replay only")
		}
		nc, err := dial(ctx, "tcp", "127.0.0.1:5432")
		if err != nil {
			return nil, err
		}
		s := &floorSession{nc: nc, fe: pgproto3.NewFrontend(nc, nc)}
		if err := s.startup(); err != nil {
			nc.Close()
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("bench: unknown client %q", client)
}

// mustOpen is openSession for benchmarks and tests; the session is closed
// in tb.Cleanup.
func mustOpen(tb testing.TB, client, dsn string, dial dialFunc) session {
	tb.Helper()
	s, err := openSession(context.Background(), client, dsn, dial)
	if err != nil {
		tb.Fatalf("%s: connect: %v", client, err)
	}
	tb.Cleanup(func() { s.close(context.Background()) })
	return s
}

// countingDiscard counts the bytes written to it, so that a client cannot
// skip work.
type countingDiscard struct{ n int64 }

func (w *countingDiscard) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingDiscard)(nil)

// ---- pgstrict ---------------------------------------------------------------

type pgstrictSession struct{ c *conn.Conn }

func (s *pgstrictSession) query(ctx context.Context, sql string, probe func()) (rows, size int, err error) {
	mrr := s.c.Exec(ctx, sql)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			rows++
			if probe != nil && rows%probeEvery == 0 {
				probe()
			}
			for _, v := range rr.Values() {
				size += len(v)
			}
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return rows, size, err
		}
	}
	return rows, size, mrr.Close()
}

func (s *pgstrictSession) execParams(ctx context.Context, sql string, params [][]byte) (rows, size int, err error) {
	rr := s.c.ExecParams(ctx, sql, params, nil, nil, nil)
	for rr.NextRow() {
		rows++
		for _, v := range rr.Values() {
			size += len(v)
		}
	}
	_, err = rr.Close()
	return rows, size, err
}

func (s *pgstrictSession) pipeline(ctx context.Context, sql string, params [][]byte, k int) (rows, size int, err error) {
	p := s.c.StartPipeline(ctx)
	defer func() {
		if cerr := p.Close(); err == nil {
			err = cerr
		}
	}()
	for range k {
		if err := p.SendQueryParams(sql, params, nil, nil, nil); err != nil {
			return 0, 0, err
		}
	}
	if err := p.Sync(); err != nil {
		return 0, 0, err
	}
	for {
		res, err := p.GetResults()
		if err != nil {
			return rows, size, err
		}
		switch r := res.(type) {
		case *conn.ResultReader:
			for r.NextRow() {
				rows++
				for _, v := range r.Values() {
					size += len(v)
				}
			}
			if _, err := r.Close(); err != nil {
				return rows, size, err
			}
		case *conn.PipelineSync:
			return rows, size, nil
		case nil:
			return rows, size, errors.New("pgstrict: pipeline ended before its Sync")
		}
	}
}

func (s *pgstrictSession) copyTo(ctx context.Context, sql string, w io.Writer) (int64, error) {
	return pgcopy.To(ctx, s.c, sql, w)
}

func (s *pgstrictSession) close(ctx context.Context) error { return s.c.Close(ctx) }

// ---- pgconn -----------------------------------------------------------------

type pgconnSession struct{ c *pgconn.PgConn }

func (s *pgconnSession) query(ctx context.Context, sql string, probe func()) (rows, size int, err error) {
	mrr := s.c.Exec(ctx, sql)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			rows++
			if probe != nil && rows%probeEvery == 0 {
				probe()
			}
			for _, v := range rr.Values() {
				size += len(v)
			}
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return rows, size, err
		}
	}
	return rows, size, mrr.Close()
}

func (s *pgconnSession) execParams(ctx context.Context, sql string, params [][]byte) (rows, size int, err error) {
	rr := s.c.ExecParams(ctx, sql, params, nil, nil, nil)
	for rr.NextRow() {
		rows++
		for _, v := range rr.Values() {
			size += len(v)
		}
	}
	_, err = rr.Close()
	return rows, size, err
}

func (s *pgconnSession) pipeline(ctx context.Context, sql string, params [][]byte, k int) (rows, size int, err error) {
	p := s.c.StartPipeline(ctx)
	defer func() {
		if cerr := p.Close(); err == nil {
			err = cerr
		}
	}()
	for range k {
		p.SendQueryParams(sql, params, nil, nil, nil)
	}
	if err := p.Sync(); err != nil {
		return 0, 0, err
	}
	for {
		res, err := p.GetResults()
		if err != nil {
			return rows, size, err
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			for r.NextRow() {
				rows++
				for _, v := range r.Values() {
					size += len(v)
				}
			}
			if _, err := r.Close(); err != nil {
				return rows, size, err
			}
		case *pgconn.PipelineSync:
			return rows, size, nil
		case nil:
			return rows, size, errors.New("pgconn: pipeline ended before its Sync")
		}
	}
}

func (s *pgconnSession) copyTo(ctx context.Context, sql string, w io.Writer) (int64, error) {
	tag, err := s.c.CopyTo(ctx, w, sql)
	return tag.RowsAffected(), err
}

func (s *pgconnSession) close(ctx context.Context) error { return s.c.Close(ctx) }

// ---- pgproto3 floor ---------------------------------------------------------

// floorSession drives a bare pgproto3.Frontend: it frames and decodes but
// tracks no state, validates nothing and has no context handling. It is
// the lower bound of what any client built on pgproto3 can cost.
type floorSession struct {
	nc net.Conn
	fe *pgproto3.Frontend
}

func (s *floorSession) startup() error {
	s.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: wire.ProtocolVersion30,
		Parameters: map[string]string{"user": "bench", "database": "bench"}})
	if err := s.fe.Flush(); err != nil {
		return err
	}
	_, _, err := s.drain(nil)
	return err
}

// drain receives up to ReadyForQuery, counting rows and value bytes.
func (s *floorSession) drain(probe func()) (rows, size int, err error) {
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			return rows, size, err
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows++
			if probe != nil && rows%probeEvery == 0 {
				probe()
			}
			for _, v := range m.Values {
				size += len(v)
			}
		case *pgproto3.ErrorResponse:
			err = fmt.Errorf("pgproto3: server error %s: %s", m.Code, m.Message)
			_, _, derr := s.drain(nil)
			return rows, size, errors.Join(err, derr)
		case *pgproto3.ReadyForQuery:
			return rows, size, nil
		}
	}
}

func (s *floorSession) query(_ context.Context, sql string, probe func()) (rows, size int, err error) {
	s.fe.SendQuery(&pgproto3.Query{String: sql})
	if err := s.fe.Flush(); err != nil {
		return 0, 0, err
	}
	return s.drain(probe)
}

func (s *floorSession) sendExtended(sql string, params [][]byte) {
	s.fe.SendParse(&pgproto3.Parse{Query: sql})
	s.fe.SendBind(&pgproto3.Bind{Parameters: params})
	s.fe.SendDescribe(&pgproto3.Describe{ObjectType: 'P'})
	s.fe.SendExecute(&pgproto3.Execute{})
}

func (s *floorSession) execParams(_ context.Context, sql string, params [][]byte) (rows, size int, err error) {
	s.sendExtended(sql, params)
	s.fe.SendSync(&pgproto3.Sync{})
	if err := s.fe.Flush(); err != nil {
		return 0, 0, err
	}
	return s.drain(nil)
}

func (s *floorSession) pipeline(_ context.Context, sql string, params [][]byte, k int) (rows, size int, err error) {
	for range k {
		s.sendExtended(sql, params)
	}
	s.fe.SendSync(&pgproto3.Sync{})
	if err := s.fe.Flush(); err != nil {
		return 0, 0, err
	}
	return s.drain(nil)
}

func (s *floorSession) copyTo(_ context.Context, sql string, w io.Writer) (rows int64, err error) {
	s.fe.SendQuery(&pgproto3.Query{String: sql})
	if err := s.fe.Flush(); err != nil {
		return 0, err
	}
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			return rows, err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if _, err := w.Write(m.Data); err != nil {
				return rows, err
			}
		case *pgproto3.CommandComplete:
			tag := string(m.CommandTag)
			if i := strings.LastIndexByte(tag, ' '); i >= 0 {
				rows, _ = strconv.ParseInt(tag[i+1:], 10, 64)
			}
		case *pgproto3.ErrorResponse:
			err = fmt.Errorf("pgproto3: server error %s: %s", m.Code, m.Message)
			_, _, derr := s.drain(nil)
			return rows, errors.Join(err, derr)
		case *pgproto3.ReadyForQuery:
			return rows, nil
		}
	}
}

func (s *floorSession) close(context.Context) error {
	s.fe.Send(&pgproto3.Terminate{})
	s.fe.Flush()
	return s.nc.Close()
}
