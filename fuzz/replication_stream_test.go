package fuzz

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

// replicationStreamTarget names FuzzReplicationStream's seed directory for
// the recorder.
const replicationStreamTarget = "FuzzReplicationStream"

// Flags of FuzzReplicationStream.
const (
	// replLogical streams logical changes (pgoutput); otherwise physical
	// WAL.
	replLogical = 1 << iota
	// replComplete ends the records with the server's CopyDone and, once
	// the client answers with its own, the completion of
	// START_REPLICATION; otherwise the server closes the connection.
	replComplete
	// replProtoShift: bits 2 and 3 hold the pgoutput protocol version
	// minus one; every option the version allows is on.
	replProtoShift = 2
	// replTimedStatus sends status updates every millisecond.
	replTimedStatus = 1 << 4
	// replSplit writes the stream in small pieces.
	replSplit = 1 << 5
	// replShort gives Next a context of shortTimeout.
	replShort = 1 << 6
)

// maxStalls is how many Next calls in a row may end with their context
// before FuzzReplicationStream stops reading: a stream stalled for good
// (the server stopped inside a message, say) would otherwise cost
// 4*maxReads waits of callTimeout, 25 s, which the fuzzer takes for a
// hang.
const maxStalls = 3

// FuzzReplicationStream runs a replication.Stream (logical or physical)
// over a fake walsender: after the startup, the server answers
// START_REPLICATION with CopyBothResponse and sends the records, each one
// [kind, length (2 bytes), payload]: an even kind sends the payload as a
// CopyData (keepalives, XLogData, garbage), an odd kind sends the payload
// as raw bytes (any backend message). The client calls Next until an error,
// then Close.
//
// Properties:
//   - no panic, no hang;
//   - LSN monotonicity is never violated on accepted input: Received never
//     goes back; a physical XLogData starts where the previous one ended
//     and its server WAL end neither goes back nor falls behind the data;
//     a logical XLogData has its WAL end equal to its start, a Begin's
//     final LSN and a commit's LSN are not before the end of the previous
//     transaction, and a commit ends after it starts;
//   - a violation ends the stream with an error that carries a
//     *wire.ProtocolError with a defined reason, the connection is closed,
//     and every later call fails with an error matching conn.ErrClosed.
func FuzzReplicationStream(f *testing.F) {
	for _, s := range replicationSeeds() {
		f.Add(s.flags, s.start, s.records)
	}
	f.Fuzz(func(t *testing.T, flags byte, start uint64, records []byte) {
		if len(records) > maxStream {
			return
		}
		fuzzReplicationStream(t, flags, replication.LSN(start), records)
	})
}

func fuzzReplicationStream(t *testing.T, flags byte, start replication.LSN, records []byte) {
	meter := newAllocMeter()
	var g goroutines
	ws := &walServer{stream: walStream(records), complete: flags&replComplete != 0, split: flags&replSplit != 0}
	d := &pipeDialer{g: &g, serve: ws.serve}
	defer func() {
		d.closeAll()
		if !g.wait() {
			t.Fatalf("hang: the server goroutines did not end")
		}
		meter.check(t, 2<<20+64*uint64(len(records)))
	}()
	cfg := baseConfig(d.Dial)
	cfg.Replication = conn.ReplicationPhysical
	if flags&replLogical != 0 {
		cfg.Replication = conn.ReplicationLogical
	}
	cfg.Limits = sessionLimits
	status := replication.StreamOptions{StatusInterval: -1}
	if flags&replTimedStatus != 0 {
		status.StatusInterval = time.Millisecond
	}
	timeout := callTimeout
	if flags&replShort != 0 {
		timeout = shortTimeout
	}

	watchdog(t, hangLimit, func(step func(string)) {
		step("ConnectConfig")
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		c, err := replication.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer c.Close(context.Background())
		step("Start")
		var s *replication.Stream
		if flags&replLogical != 0 {
			proto := 1 + int(flags>>replProtoShift&3)
			opts := replication.LogicalOptions{ProtoVersion: proto, Publications: []string{"p"}, Binary: true,
				Messages: true, Stream: status}
			if proto >= 2 {
				opts.Streaming = replication.StreamingOn
			}
			if proto >= 3 {
				opts.TwoPhase = true
			}
			if proto >= 4 {
				opts.Streaming = replication.StreamingParallel
			}
			s, err = replication.StartLogical(ctx, c, "s", start, opts)
		} else {
			s, err = replication.StartPhysical(ctx, c, start, replication.PhysicalOptions{Stream: status})
		}
		if err != nil {
			t.Errorf("start: %v", err)
			return
		}
		m := &lsnModel{r: t, logical: flags&replLogical != 0, expect: start, received: s.Received()}
		stalls := 0
		for n := 0; n < 4*maxReads && stalls < maxStalls; n++ {
			step("Next")
			nctx, ncancel := context.WithTimeout(context.Background(), timeout)
			msg, err := s.Next(nctx)
			ncancel()
			if err != nil {
				if c.State() == wire.StateCopyBoth && errors.Is(err, context.DeadlineExceeded) {
					// The context ended while waiting: the stream is
					// intact. A server that stalls for good is left
					// after a few waits, for Close to end the stream.
					stalls++
					continue
				}
				checkStreamEnd(t, c, s, err)
				return
			}
			stalls = 0
			m.accepted(s, msg)
		}
		step("Close")
		cctx, ccancel := context.WithTimeout(context.Background(), callTimeout)
		err = s.Close(cctx)
		ccancel()
		if err != nil {
			checkStreamEnd(t, c, s, err)
		}
	})
}

// lsnModel is what FuzzReplicationStream knows of WAL positions.
type lsnModel struct {
	r        reporter
	logical  bool
	expect   replication.LSN // physical: where the next XLogData starts
	walEnd   replication.LSN // physical: the highest server WAL end
	received replication.LSN
	lastEnd  replication.LSN // logical: the end of the last commit
}

func (m *lsnModel) accepted(s *replication.Stream, msg replication.Message) {
	m.r.Helper()
	m.check(s.XLogData(), s.Received(), msg)
}

// check checks an accepted message, its XLogData header x and the stream's
// Received position after it (0: not known).
func (m *lsnModel) check(x *replication.XLogData, received replication.LSN, msg replication.Message) {
	m.r.Helper()
	if received != 0 {
		if received < m.received {
			m.r.Errorf("Received went back from %v to %v", m.received, received)
		}
		m.received = max(m.received, received)
	}
	if !m.logical {
		end := x.WALStart + replication.LSN(len(x.Data))
		switch {
		case x.WALStart != m.expect:
			m.r.Errorf("accepted XLogData at %v, where the WAL received so far ends at %v", x.WALStart, m.expect)
		case x.ServerWALEnd < m.walEnd:
			m.r.Errorf("accepted a server WAL end %v before the earlier %v", x.ServerWALEnd, m.walEnd)
		case x.ServerWALEnd < end:
			m.r.Errorf("accepted a server WAL end %v before the end of the data %v", x.ServerWALEnd, end)
		}
		m.expect, m.walEnd = end, max(m.walEnd, x.ServerWALEnd)
		return
	}
	if x.WALStart != x.ServerWALEnd {
		m.r.Errorf("accepted logical XLogData with start %v and WAL end %v", x.WALStart, x.ServerWALEnd)
	}
	var commit, end replication.LSN
	switch v := msg.(type) {
	case *replication.Begin:
		if v.FinalLSN < m.lastEnd {
			m.r.Errorf("accepted Begin with final LSN %v before the end of the previous transaction %v", v.FinalLSN, m.lastEnd)
		}
		return
	case *replication.Commit:
		commit, end = v.CommitLSN, v.EndLSN
	case *replication.StreamCommit:
		commit, end = v.CommitLSN, v.EndLSN
	default:
		return
	}
	if commit < m.lastEnd || end <= commit {
		m.r.Errorf("accepted a commit at %v ending at %v after a transaction that ended at %v", commit, end, m.lastEnd)
	}
	m.lastEnd = max(m.lastEnd, end)
}

// checkStreamEnd checks the error that ended a stream: a protocol
// violation closes the connection for good with a defined reason; any
// other ending leaves the connection idle or closed, never in between.
func checkStreamEnd(t *testing.T, c *conn.Conn, s *replication.Stream, err error) {
	t.Helper()
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		if pe.Reason == wire.ReasonUnknown {
			t.Errorf("violation without a reason: %v", pe)
		}
		if c.Err() == nil || c.State() != wire.StateDesynced && c.State() != wire.StateClosed {
			t.Errorf("after %v the connection is still usable (state %s)", err, c.State())
		}
	}
	if cerr := c.Err(); cerr != nil {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if _, nerr := s.Next(ctx); nerr == nil {
			t.Errorf("Next returned a message after the stream ended with %v", err)
		}
		if xerr := c.Exec(ctx, "select 1").Close(); !errors.Is(xerr, conn.ErrClosed) {
			t.Errorf("after %v, Exec returned %v, not conn.ErrClosed", cerr, xerr)
		}
		return
	}
	if st := c.State(); st != wire.StateIdle || c.IsBusy() {
		t.Errorf("after %v the usable connection is in state %s (busy %v)", err, st, c.IsBusy())
	}
}

// walStream turns the records into the bytes the server sends after
// CopyBothResponse.
func walStream(records []byte) []byte {
	var out []byte
	for len(records) >= 3 {
		kind := records[0]
		n := min(int(binary.BigEndian.Uint16(records[1:])), len(records)-3)
		payload := records[3 : 3+n]
		records = records[3+n:]
		if kind&1 == 0 {
			out = append(out, frame('d', payload)...)
		} else {
			out = append(out, payload...)
		}
	}
	return out
}

// walServer is a fake walsender.
type walServer struct {
	stream   []byte
	complete bool
	split    bool
}

func (ws *walServer) serve(nc *duplex) {
	defer nc.Close()
	fr := newFrontendReader(nc)
	if _, _, err := fr.startup(); err != nil {
		return
	}
	if _, err := nc.Write(startupBytes(11)); err != nil {
		return
	}
	var buf []byte
	for {
		typ, body, err := fr.next(buf)
		if err != nil {
			return
		}
		buf = body
		if typ == 'Q' {
			break
		}
	}
	// The client sends status updates and, at the end, CopyDone while the
	// server writes: a reader goroutine keeps reading.
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		var buf []byte
		for {
			typ, body, err := fr.next(buf)
			if err != nil || typ == 'c' {
				return
			}
			buf = body
		}
	}()
	out := append(encodeBackend(&pgproto3.CopyBothResponse{}), ws.stream...)
	if ws.complete {
		out = append(out, encodeBackend(&pgproto3.CopyDone{})...)
	}
	for len(out) > 0 {
		n := len(out)
		if ws.split {
			n = min(n, 7)
		}
		if _, err := nc.Write(out[:n]); err != nil {
			nc.Close()
			<-clientDone
			return
		}
		out = out[n:]
	}
	if !ws.complete {
		// The end of the stream: the client reads what was sent, then
		// io.EOF, while its status updates are still read.
		nc.CloseWrite()
		<-clientDone
		return
	}
	<-clientDone
	nc.Write(encodeBackend(&pgproto3.CommandComplete{CommandTag: []byte("COPY 0")},
		&pgproto3.CommandComplete{CommandTag: []byte("START_REPLICATION")}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	// Serve until the client closes (its Terminate).
	for {
		if _, _, err := fr.next(buf); err != nil {
			return
		}
	}
}

// replicationSeed is one input of FuzzReplicationStream.
type replicationSeed struct {
	flags   byte
	start   uint64
	records []byte
}

// replicationSeeds are hand-made streams; the recorded ones are in
// testdata/fuzz.
func replicationSeeds() []replicationSeed {
	rec := func(kind byte, payload []byte) []byte {
		out := []byte{kind, 0, 0}
		binary.BigEndian.PutUint16(out[1:], uint16(len(payload)))
		return append(out, payload...)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	xlog := func(start, end uint64, data []byte) []byte {
		x := replication.XLogData{WALStart: replication.LSN(start), ServerWALEnd: replication.LSN(end), Data: data}
		return rec(0, x.Encode(nil))
	}
	keep := func(end uint64, reply bool) []byte {
		k := replication.PrimaryKeepalive{ServerWALEnd: replication.LSN(end), ReplyRequested: reply}
		return rec(0, k.Encode(nil))
	}
	logical := func(lsn uint64, m replication.Message) []byte { return xlog(lsn, lsn, m.Encode(nil)) }
	rel := &replication.Relation{ID: 16384, Namespace: "public", Name: "t", ReplicaIdentity: 'd',
		Columns: []replication.RelationColumn{{Flags: 1, Name: "id", TypeOID: 23, TypeModifier: -1}}}
	ins := &replication.Insert{RelationID: 16384, New: replication.TupleData{Columns: []replication.TupleColumn{
		{Kind: replication.ColumnText, Data: []byte("1")}}}}
	tx := cat(
		logical(0x100, &replication.Begin{FinalLSN: 0x120, Xid: 700}),
		logical(0x100, rel),
		logical(0x108, ins),
		logical(0x120, &replication.Commit{CommitLSN: 0x120, EndLSN: 0x150}),
	)
	return []replicationSeed{
		{replLogical | 3<<replProtoShift, 0x100, cat(keep(0x100, true), tx, keep(0x150, false))},
		{replLogical | replComplete | 3<<replProtoShift, 0, cat(tx, keep(0x150, true))},
		{replLogical, 0, cat(logical(0x100, &replication.Begin{FinalLSN: 0x120, Xid: 1}), logical(0x10, &replication.Begin{FinalLSN: 0x20, Xid: 2}))},
		{0, 0x1000, cat(xlog(0x1000, 0x2000, []byte("walwalwal")), xlog(0x1009, 0x2000, []byte("more")), keep(0x2000, true))},
		{replComplete | replSplit, 0x1000, cat(xlog(0x1000, 0x1004, []byte("abcd")), xlog(0x1004, 0x1000, []byte("x")))},
		{replTimedStatus, 0x10, cat(keep(0x10, false), rec(0, []byte("?")), rec(1, encodeBackend(&pgproto3.ErrorResponse{
			Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "XX000", Message: "boom"})))},
	}
}
