package replication_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/replication"
)

// TestDecoderSteadyStateAllocations checks the claim of Decoder: once the
// relation is known, decoding transactions of changes allocates nothing.
func TestDecoderSteadyStateAllocations(t *testing.T) {
	d := newDecoder(t, replication.DecoderOptions{ProtoVersion: 1})
	rel := testRel(16384)
	tx := [][]byte{
		(&replication.Insert{RelationID: 16384, New: row(txt("1"), txt("a text value"))}).Encode(nil),
		(&replication.Update{RelationID: 16384, OldKind: 'K', Old: row(txt("1"), null), New: row(txt("2"), txt("b"))}).Encode(nil),
		(&replication.Delete{RelationID: 16384, OldKind: 'K', Old: row(txt("2"), null)}).Encode(nil),
	}
	_, err := d.Decode(0, (&replication.Begin{FinalLSN: 0x10, Xid: 1}).Encode(nil))
	require.NoError(t, err)
	_, err = d.Decode(0, rel.Encode(nil))
	require.NoError(t, err)
	lsn := replication.LSN(0x10)
	var begin, commit []byte
	step := func() {
		for _, m := range tx {
			if _, err := d.Decode(0, m); err != nil {
				t.Fatal(err)
			}
		}
		commit = (&replication.Commit{CommitLSN: lsn, EndLSN: lsn + 8}).Encode(commit[:0])
		if _, err := d.Decode(lsn+8, commit); err != nil {
			t.Fatal(err)
		}
		lsn += 0x10
		begin = (&replication.Begin{FinalLSN: lsn, Xid: 2}).Encode(begin[:0])
		if _, err := d.Decode(0, begin); err != nil {
			t.Fatal(err)
		}
	}
	step() // grow the reused buffers
	assert.Zero(t, testing.AllocsPerRun(100, step), "allocations per transaction of three changes")
}
