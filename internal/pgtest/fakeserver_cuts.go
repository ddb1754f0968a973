package pgtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// MustEncodeBackend encodes msgs back to back with their Encode methods and
// fails the test if one cannot be encoded.
func MustEncodeBackend(tb testing.TB, msgs ...pgproto3.BackendMessage) []byte {
	tb.Helper()
	b, err := fakeEncodeBackend(msgs)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return b
}

// FakeCut is one place to cut a stream of encoded backend messages, for
// exhaustive tests: split the stream there (Script.SendSplit), or send only
// what comes before it and close (Script.SendRaw then Script.Close).
//
// FakeCut is a plain value, safe for concurrent use as long as nobody
// modifies Data.
type FakeCut struct {
	// Name identifies the cut for t.Run, e.g. "2-ParameterStatus+7" (inside
	// message 2, 7 bytes in) or "end".
	Name string
	// Data is the whole stream; every cut of one FakeCuts call shares it, so
	// it must not be modified.
	Data []byte
	// Offset is where the cut falls in Data, from 0 to len(Data).
	Offset int
	// Message is the index of the message the cut falls in, or the number of
	// messages for the cut at the end.
	Message int
	// Inside is how far into that message the cut falls: 0 is the boundary
	// before it, 1 to 4 fall inside the 5-byte header.
	Inside int
}

// FakeCuts encodes msgs back to back and returns one cut per offset of the
// stream, from 0 to its length: every message cut at every offset, message
// boundaries included (Inside 0), and the end.
func FakeCuts(msgs ...pgproto3.BackendMessage) ([]FakeCut, error) {
	var (
		data   []byte
		starts []int
	)
	for i, m := range msgs {
		if fakeIsNil(m) {
			return nil, fmt.Errorf("pgtest: fake cuts: message %d is nil", i)
		}
		starts = append(starts, len(data))
		var err error
		if data, err = m.Encode(data); err != nil {
			return nil, fmt.Errorf("pgtest: fake cuts: encode message %d (%s): %w", i, fakeTypeName(m), err)
		}
	}
	cuts := make([]FakeCut, 0, len(data)+1)
	for i, m := range msgs {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		short := strings.TrimPrefix(fakeTypeName(m), "*pgproto3.")
		for off := starts[i]; off < end; off++ {
			inside := off - starts[i]
			cuts = append(cuts, FakeCut{
				Name:    fmt.Sprintf("%d-%s+%d", i, short, inside),
				Data:    data,
				Offset:  off,
				Message: i,
				Inside:  inside,
			})
		}
	}
	return append(cuts, FakeCut{Name: "end", Data: data, Offset: len(data), Message: len(msgs)}), nil
}
