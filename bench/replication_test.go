package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/replication"
)

// The replication benchmarks: decoding a recorded pgoutput stream of 1M
// changes (no server), the same stream through a whole client (connection,
// protocol tracker, Stream) from memory, and the end-to-end lag of a live
// logical stream under a write load.

// pgoutputChanges is the size of the recorded stream: 1M changes.
const pgoutputChanges = 1_000_000

// pgoutputStream is a pgoutput stream held in memory: the XLogData payloads
// (the output plugin's messages) back to back in data, message i being
// data[off[i]:off[i+1]] at WAL position lsn[i] (0 where the server sends 0).
type pgoutputStream struct {
	data    []byte
	off     []uint32
	lsn     []replication.LSN
	changes int
}

func (s *pgoutputStream) len() int { return len(s.lsn) }

func (s *pgoutputStream) msg(i int) []byte { return s.data[s.off[i]:s.off[i+1]] }

var (
	pgoutputOnce sync.Once
	pgoutputData *pgoutputStream
)

// recordedPgoutput returns the recorded stream (built once per process).
//
// It is synthesized byte for byte as PostgreSQL's pgoutput (protocol 1,
// text format) writes it for this workload on table public.orders (id int4
// primary key, customer text, amount numeric, note text, created
// timestamptz): transactions of 8 inserts, 1 update and 1 delete (old key),
// the Relation message before the first change, and the WAL positions the
// walsender puts in XLogData (0 for the Relation message, the record's LSN
// otherwise). The message encoders of package replication produce the
// server's exact layout, which the real-server tests of that package check
// against PostgreSQL.
func recordedPgoutput() *pgoutputStream {
	pgoutputOnce.Do(func() {
		s := &pgoutputStream{data: make([]byte, 0, 96*pgoutputChanges), off: []uint32{0}}
		add := func(lsn replication.LSN, m replication.Message) {
			s.data = m.Encode(s.data)
			s.off = append(s.off, uint32(len(s.data)))
			s.lsn = append(s.lsn, lsn)
		}
		const relID = 16385
		rel := &replication.Relation{ID: relID, Namespace: "public", Name: "orders", ReplicaIdentity: replication.ReplicaIdentityDefault,
			Columns: []replication.RelationColumn{
				{Flags: 1, Name: "id", TypeOID: 23, TypeModifier: -1},
				{Name: "customer", TypeOID: 25, TypeModifier: -1},
				{Name: "amount", TypeOID: 1700, TypeModifier: -1},
				{Name: "note", TypeOID: 25, TypeModifier: -1},
				{Name: "created", TypeOID: 1184, TypeModifier: -1},
			}}
		text := func(b []byte) replication.TupleColumn {
			return replication.TupleColumn{Kind: replication.ColumnText, Data: b}
		}
		commitTime := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		lsn := replication.LSN(0x1_6B37_4D48)
		row := make([]replication.TupleColumn, 5)
		var buf []byte
		id := 0
		for tx := 0; s.changes < pgoutputChanges; tx++ {
			begin := lsn
			lsn += 0x40
			final := lsn + 10*0xA0
			add(begin, &replication.Begin{FinalLSN: final, CommitTime: commitTime, Xid: uint32(1000 + tx)})
			if tx == 0 {
				add(0, rel)
			}
			for k := 0; k < 10 && s.changes < pgoutputChanges; k++ {
				buf = buf[:0]
				id++
				start := len(buf)
				buf = strconv.AppendInt(buf, int64(id), 10)
				idCol := buf[start:]
				start = len(buf)
				buf = append(buf, "customer-"...)
				buf = strconv.AppendInt(buf, int64(id%997), 10)
				cust := buf[start:]
				start = len(buf)
				buf = strconv.AppendInt(buf, int64(id%100000), 10)
				buf = append(buf, ".25"...)
				amount := buf[start:]
				row[0], row[1], row[2] = text(idCol), text(cust), text(amount)
				row[3] = text([]byte("standard delivery, leave at door"))
				row[4] = text([]byte("2026-11-22 10:00:00.123456+00"))
				switch k {
				case 8:
					add(lsn, &replication.Update{RelationID: relID, New: replication.TupleData{Columns: row}})
				case 9:
					old := []replication.TupleColumn{text(idCol), {Kind: replication.ColumnNull}, {Kind: replication.ColumnNull},
						{Kind: replication.ColumnNull}, {Kind: replication.ColumnNull}}
					add(lsn, &replication.Delete{RelationID: relID, OldKind: 'K', Old: replication.TupleData{Columns: old}})
				default:
					add(lsn, &replication.Insert{RelationID: relID, New: replication.TupleData{Columns: row}})
				}
				s.changes++
				lsn += 0xA0
			}
			end := final + 0x28
			add(end, &replication.Commit{CommitLSN: final, EndLSN: end, CommitTime: commitTime})
			lsn = end
		}
		pgoutputData = s
	})
	return pgoutputData
}

// BenchmarkPgoutputDecode decodes the recorded stream of 1M changes with a
// fresh Decoder per op (its relation cache is filled by the stream's
// Relation message): ns/msg and allocs/msg are per pgoutput message, msgs/s
// the throughput, MB/s the pgoutput bytes. "validate" checks every text
// value for UTF-8 as the Stream does by default; "skip-validation" is
// DecoderOptions.SkipTextValidation.
func BenchmarkPgoutputDecode(b *testing.B) {
	s := recordedPgoutput()
	for _, skip := range []bool{false, true} {
		name := "validate"
		if skip {
			name = "skip-validation"
		}
		b.Run(name, func(b *testing.B) {
			m := newMeter(b, "msg", s.len(), len(s.data))
			m.reportRate()
			for b.Loop() {
				d, err := replication.NewDecoder(replication.DecoderOptions{ProtoVersion: 1, SkipTextValidation: skip})
				if err != nil {
					b.Fatal(err)
				}
				changes := 0
				for i := range s.len() {
					msg, err := d.Decode(s.lsn[i], s.msg(i))
					if err != nil {
						b.Fatal(err)
					}
					switch msg.(type) {
					case *replication.Insert, *replication.Update, *replication.Delete:
						changes++
					}
				}
				if changes != s.changes {
					b.Fatalf("decoded %d changes, want %d", changes, s.changes)
				}
				m.op()
			}
			m.done()
			b.ReportMetric(float64(s.changes), "changes/op")
		})
	}
}

// replayChanges is the part of the recorded stream the client replay
// serves per op: 100k changes, enough that the connection set-up is noise.
const replayChanges = 100_000

// replicationReplay returns what a walsender sends, after the startup reply,
// in answer to START_REPLICATION for the first n changes of the recorded
// stream: CopyBothResponse and one CopyData with an XLogData per message;
// and the message count.
func replicationReplay(n int) ([]byte, int) {
	s := recordedPgoutput()
	out, _ := (&pgproto3.CopyBothResponse{}).Encode(nil)
	sendTime := time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC)
	msgs, changes := 0, 0
	var payload []byte
	for i := 0; i < s.len() && changes < n; i++ {
		m := s.msg(i)
		x := replication.XLogData{WALStart: s.lsn[i], ServerWALEnd: s.lsn[i], ServerTime: sendTime, Data: m}
		payload = x.Encode(payload[:0])
		out, _ = (&pgproto3.CopyData{Data: payload}).Encode(out)
		msgs++
		if t := m[0]; t == 'I' || t == 'U' || t == 'D' {
			changes++
		}
		if m[0] == 'C' && changes >= n {
			break
		}
	}
	return out, msgs
}

// BenchmarkReplicationReplay reads replayChanges changes of the recorded
// stream from memory through the whole client path: the wire framing and
// protocol tracker, COPY BOTH, the Stream's checks and the pgoutput
// decoder, against the pgproto3 floor (framing only, no checks, no
// decoding). One op is one stream; ns/msg and allocs/msg are per message.
func BenchmarkReplicationReplay(b *testing.B) {
	stream, msgs := replicationReplay(replayChanges)
	b.Run("pgstrict", func(b *testing.B) {
		cfg, err := conn.ParseConfig(ReplayDSN + " replication=database")
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		m := newMeter(b, "msg", msgs, len(stream))
		m.reportRate()
		for b.Loop() {
			// The stream is served after the startup reply, in answer to
			// START_REPLICATION; its repetitions are never read.
			rc := NewReplayConn(StartupReply(), stream)
			cfg.DialFunc = rc.Dial
			c, err := replication.ConnectConfig(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			st, err := replication.StartLogical(ctx, c, "bench", 0, replication.LogicalOptions{ProtoVersion: 1, Publications: []string{"p"},
				Stream: replication.StreamOptions{StatusInterval: -1}})
			if err != nil {
				b.Fatal(err)
			}
			for range msgs {
				if _, err := st.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
			c.Close(ctx)
			m.op()
		}
		m.done()
	})
	b.Run("pgproto3-floor", func(b *testing.B) {
		m := newMeter(b, "msg", msgs, len(stream))
		m.reportRate()
		for b.Loop() {
			fe := pgproto3.NewFrontend(bytes.NewReader(stream), io.Discard)
			n := 0
			for {
				msg, err := fe.Receive()
				if err != nil {
					if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
						break
					}
					b.Fatal(err)
				}
				if _, ok := msg.(*pgproto3.CopyData); ok {
					n++
				}
			}
			if n != msgs {
				b.Fatalf("read %d CopyData, want %d", n, msgs)
			}
			m.op()
		}
		m.done()
	})
}

// BenchmarkReplicationLag measures the end-to-end lag of a live logical
// stream while a writer commits transactions of 10 inserts as fast as it
// can: from the commit timestamp the server records to the moment the
// client has decoded the Commit message (same host, same clock). One op is
// one transaction read; the lag percentiles and the change rate are
// reported. The writer stops when the benchmark loop ends.
func BenchmarkReplicationLag(b *testing.B) {
	pgtest.RequireManaged(b)
	db := pgtest.MustDatabase(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	su, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	if err != nil {
		b.Fatal(err)
	}
	defer su.Close(ctx)
	if _, err := su.Exec(ctx, `CREATE TABLE lag (id bigserial PRIMARY KEY, v text); CREATE PUBLICATION lagpub FOR TABLE lag`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	rc, err := replication.Connect(ctx, db.URL(pgtest.RoleReplication, "sslmode=disable", "replication=database"))
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close(ctx)
	// Slots are per cluster: the database's name keeps this one apart.
	slot := db.Name()
	if _, err := replication.CreateSlot(ctx, rc, slot, replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true,
		Snapshot: replication.SnapshotNothing}); err != nil {
		b.Fatal(err)
	}
	st, err := replication.StartLogical(ctx, rc, slot, 0, replication.LogicalOptions{ProtoVersion: 1, Publications: []string{"lagpub"}})
	if err != nil {
		b.Fatal(err)
	}
	wc, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	if err != nil {
		b.Fatal(err)
	}
	defer wc.Close(ctx)
	// The test cluster runs with synchronous_commit off, which delays the
	// WAL flush (and so its decoding) by up to wal_writer_delay; the writer
	// commits as a default server would.
	if _, err := wc.Exec(ctx, "SET synchronous_commit = on").ReadAll(); err != nil {
		b.Fatal(err)
	}

	// The writer: owned here, stopped and waited for after the loop.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			_, err := wc.Exec(wctx, "INSERT INTO lag (v) SELECT 'row ' || g FROM generate_series(1, 10) g").ReadAll()
			if err != nil && wctx.Err() == nil {
				werr = err
				return
			}
		}
	}()

	lags := make([]time.Duration, 0, 1024)
	start := time.Now()
	changes := 0
	for b.Loop() {
		for done := false; !done; {
			msg, err := st.Next(ctx)
			if err != nil {
				stop()
				wg.Wait()
				b.Fatal(err, werr)
			}
			switch m := msg.(type) {
			case *replication.Insert:
				changes++
			case *replication.Commit:
				lags = append(lags, time.Since(m.CommitTime))
				if err := st.Confirm(m.EndLSN); err != nil {
					b.Fatal(err)
				}
				done = true
			}
		}
	}
	elapsed := time.Since(start)
	stop()
	wg.Wait()
	if werr != nil {
		b.Fatal(werr)
	}
	if err := st.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if err := rc.Close(ctx); err != nil {
		b.Fatal(err)
	}
	waitSlotReleased(b, ctx, su, slot)
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-lag-ms")
	b.ReportMetric(pct(0.99), "p99-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-lag-ms")
	b.ReportMetric(float64(changes)/elapsed.Seconds(), "changes/s")
}

// waitSlotReleased waits until no walsender holds slot (a closed
// replication connection releases it asynchronously), so that the
// database can be dropped: a bounded poll, there is no event to wait on.
func waitSlotReleased(b *testing.B, ctx context.Context, c *conn.Conn, slot string) {
	b.Helper()
	for {
		res, err := c.Exec(ctx, "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = "+replication.QuoteLiteral(slot)).ReadAll()
		if err != nil {
			b.Fatal(err)
		}
		if string(res[0].Rows[0][0]) == "0" {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
