package replication_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pgstrict/pgstrict/replication"
)

// Fuzz targets of the replication decoders. Properties beyond "no panic":
// every accepted message encodes back to the input bytes, an independent
// model of the ordering rules accepts every accepted sequence, and errors
// are sticky.

// fuzzOpts maps a byte to decoder options.
func fuzzOpts(b byte) replication.DecoderOptions {
	o := replication.DecoderOptions{ProtoVersion: 1 + int(b&3), Binary: b&4 != 0, Messages: b&8 != 0}
	if o.ProtoVersion >= 2 && b&16 != 0 {
		o.Streaming = true
	}
	if o.ProtoVersion >= 3 && b&32 != 0 {
		o.TwoPhase = true
	}
	if o.ProtoVersion == 4 && o.Streaming && b&64 != 0 {
		o.ParallelStreaming = true
	}
	return o
}

// fuzzFrame appends one record of a fuzz stream: a WAL position step (0
// means the position 0), a 16-bit length and the message.
func fuzzFrame(dst []byte, step byte, msg []byte) []byte {
	dst = append(dst, step)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...)
}

// fuzzRecords splits a fuzz stream into WAL positions and messages.
func fuzzRecords(data []byte, fn func(lsn replication.LSN, msg []byte)) {
	var pos replication.LSN
	for len(data) >= 3 {
		step := data[0]
		n := int(binary.BigEndian.Uint16(data[1:]))
		data = data[3:]
		if n > len(data) {
			n = len(data)
		}
		lsn := replication.LSN(0)
		if step != 0 {
			pos += replication.LSN(step)
			lsn = pos
		}
		fn(lsn, data[:n])
		data = data[n:]
	}
}

// orderModel is an independent statement of the §6.6 ordering rules, used
// to check what the Decoder accepts.
type orderModel struct {
	block   byte // 0, 'B', 'b', 'S'
	rels    map[uint32]int
	lastEnd replication.LSN
}

func (m *orderModel) end(t *testing.T, lsn replication.LSN) {
	t.Helper()
	if lsn < m.lastEnd {
		t.Fatalf("accepted a transaction end %v before %v", lsn, m.lastEnd)
	}
	m.lastEnd = lsn
}

func (m *orderModel) need(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Fatalf("accepted %s in block %q", what, m.block)
	}
}

func (m *orderModel) cols(t *testing.T, id uint32, td *replication.TupleData) {
	t.Helper()
	n, ok := m.rels[id]
	if !ok {
		t.Fatalf("accepted a change for unknown relation %d", id)
	}
	if td != nil && len(td.Columns) != n {
		t.Fatalf("accepted %d columns for a relation of %d", len(td.Columns), n)
	}
}

func (m *orderModel) apply(t *testing.T, msg replication.Message) {
	t.Helper()
	switch v := msg.(type) {
	case *replication.Begin:
		m.need(t, m.block == 0, "Begin")
		m.block = 'B'
	case *replication.BeginPrepare:
		m.need(t, m.block == 0, "BeginPrepare")
		m.block = 'b'
	case *replication.StreamStart:
		m.need(t, m.block == 0, "StreamStart")
		m.block = 'S'
	case *replication.Commit:
		m.need(t, m.block == 'B', "Commit")
		m.block = 0
		m.end(t, v.EndLSN)
	case *replication.Prepare:
		m.need(t, m.block == 'b', "Prepare")
		m.block = 0
		m.end(t, v.EndLSN)
	case *replication.StreamStop:
		m.need(t, m.block == 'S', "StreamStop")
		m.block = 0
	case *replication.StreamCommit:
		m.need(t, m.block == 0, "StreamCommit")
		m.end(t, v.EndLSN)
	case *replication.StreamPrepare:
		m.need(t, m.block == 0, "StreamPrepare")
		m.end(t, v.EndLSN)
	case *replication.CommitPrepared:
		m.need(t, m.block == 0, "CommitPrepared")
		m.end(t, v.EndLSN)
	case *replication.RollbackPrepared:
		m.need(t, m.block == 0, "RollbackPrepared")
		m.end(t, v.RollbackEndLSN)
	case *replication.StreamAbort:
		m.need(t, m.block == 0, "StreamAbort")
	case *replication.Relation:
		m.need(t, m.block != 0, "Relation")
		m.rels[v.ID] = len(v.Columns)
	case *replication.Type:
		m.need(t, m.block != 0, "Type")
	case *replication.Insert:
		m.need(t, m.block != 0, "Insert")
		m.cols(t, v.RelationID, &v.New)
	case *replication.Update:
		m.need(t, m.block != 0, "Update")
		m.cols(t, v.RelationID, &v.New)
		if v.OldKind != 0 {
			m.cols(t, v.RelationID, &v.Old)
		}
	case *replication.Delete:
		m.need(t, m.block != 0, "Delete")
		m.cols(t, v.RelationID, &v.Old)
	case *replication.Truncate:
		m.need(t, m.block != 0, "Truncate")
		for _, id := range v.RelationIDs {
			m.cols(t, id, nil)
		}
	case *replication.LogicalMessage:
		m.need(t, (m.block != 0) == v.Transactional(), "LogicalMessage")
	}
}

func FuzzDecoder(f *testing.F) {
	// Seeds: the valid stream of the unit tests under every option set
	// that accepts it, and each message alone.
	var all []byte
	for _, s := range validStream() {
		step := byte(0)
		if s.lsn != 0 {
			step = 1
		}
		all = fuzzFrame(all, step, s.bytes())
		f.Add(byte(0xff), fuzzFrame(nil, 0, s.bytes()))
	}
	f.Add(byte(0x7f), all)
	f.Add(byte(0), fuzzFrame(fuzzFrame(nil, 1, beginMsg.bytes()), 0, relMsg.bytes()))
	f.Fuzz(func(t *testing.T, optByte byte, data []byte) {
		d, err := replication.NewDecoder(fuzzOpts(optByte))
		if err != nil {
			t.Fatal(err)
		}
		model := &orderModel{rels: map[uint32]int{}}
		var firstErr error
		fuzzRecords(data, func(lsn replication.LSN, in []byte) {
			msg, err := d.Decode(lsn, in)
			if firstErr != nil {
				if err != firstErr {
					t.Fatalf("error not sticky: %v then %v", firstErr, err)
				}
				return
			}
			if err != nil {
				firstErr = err
				return
			}
			if out := msg.Encode(nil); !bytes.Equal(out, in) {
				t.Fatalf("round trip of %q:\n in  %x\n out %x", in[0], in, out)
			}
			model.apply(t, msg)
		})
	})
}

func FuzzParseXLogData(f *testing.F) {
	f.Add((&replication.XLogData{WALStart: 1, ServerWALEnd: 2, Data: []byte("x")}).Encode(nil))
	f.Add([]byte("w"))
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := replication.ParseXLogData(in)
		if err != nil {
			return
		}
		if out := x.Encode(nil); !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}

func FuzzParsePrimaryKeepalive(f *testing.F) {
	f.Add((&replication.PrimaryKeepalive{ServerWALEnd: 5, ReplyRequested: true}).Encode(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := replication.ParsePrimaryKeepalive(in)
		if err != nil {
			return
		}
		if out := k.Encode(nil); !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}

func FuzzParseStandbyStatusUpdate(f *testing.F) {
	f.Add((&replication.StandbyStatusUpdate{WALWritten: 5, WALFlushed: 4}).Encode(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		u, err := replication.ParseStandbyStatusUpdate(in)
		if err != nil {
			return
		}
		if out := u.Encode(nil); !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}

func FuzzParseHotStandbyFeedback(f *testing.F) {
	f.Add((&replication.HotStandbyFeedback{Xmin: 5}).Encode(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := replication.ParseHotStandbyFeedback(in)
		if err != nil {
			return
		}
		if out := h.Encode(nil); !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}
