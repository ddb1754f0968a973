package replication

import (
	"encoding/binary"
	"testing"
)

// FuzzStreamState drives the stream state machine (the checks Stream.Next
// applies to every CopyData payload) with arbitrary payloads. Properties:
// no panic; on a physical stream every accepted XLogData starts where the
// previous one ended and stays within its WAL end; on a logical stream
// every accepted XLogData has WAL end == WAL start; keepalive WAL ends and
// the received position never go backwards.
func FuzzStreamState(f *testing.F) {
	phys := []byte{}
	x := XLogData{WALStart: 0x100, ServerWALEnd: 0x200, Data: []byte("abcd")}
	phys = frame(phys, x.Encode(nil))
	x = XLogData{WALStart: 0x104, ServerWALEnd: 0x200, Data: []byte("ef")}
	phys = frame(phys, x.Encode(nil))
	k := PrimaryKeepalive{ServerWALEnd: 0x106, ReplyRequested: true}
	phys = frame(phys, k.Encode(nil))
	f.Add(false, uint64(0x100), phys)
	logical := frame(nil, (&XLogData{WALStart: 0x10, ServerWALEnd: 0x10,
		Data: (&Begin{FinalLSN: 0x20, Xid: 1}).Encode(nil)}).Encode(nil))
	logical = frame(logical, (&PrimaryKeepalive{ServerWALEnd: 0x30}).Encode(nil))
	f.Add(true, uint64(0), logical)
	f.Fuzz(func(t *testing.T, isLogical bool, start uint64, data []byte) {
		var dec *Decoder
		if isLogical {
			var err error
			dec, err = NewDecoder(DecoderOptions{ProtoVersion: 4, Streaming: true, TwoPhase: true, Messages: true, Binary: true})
			if err != nil {
				t.Fatal(err)
			}
		}
		st := newStreamState(dec, LSN(start))
		expect := LSN(start)
		var keepalive, received LSN = 0, LSN(start)
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			payload := data[:n]
			data = data[n:]
			m, _, err := st.apply(payload)
			if err != nil {
				return
			}
			if st.received < received {
				t.Fatalf("received went back from %v to %v", received, st.received)
			}
			received = st.received
			if m == nil {
				if st.keepalive < keepalive {
					t.Fatalf("accepted keepalive %v after %v", st.keepalive, keepalive)
				}
				keepalive = st.keepalive
				if dec == nil && keepalive < expect {
					t.Fatalf("accepted keepalive %v behind the data %v", keepalive, expect)
				}
				continue
			}
			x := &st.xlog
			if dec == nil {
				if x.WALStart != expect {
					t.Fatalf("accepted XLogData at %v, expected %v", x.WALStart, expect)
				}
				expect += LSN(len(x.Data))
				if x.ServerWALEnd < expect {
					t.Fatalf("accepted WAL end %v before the data end %v", x.ServerWALEnd, expect)
				}
			} else if x.WALStart != x.ServerWALEnd {
				t.Fatalf("accepted logical XLogData with start %v end %v", x.WALStart, x.ServerWALEnd)
			}
		}
	})
}

func frame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...)
}
