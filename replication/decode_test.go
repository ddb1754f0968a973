package replication_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

// Unit tests of the pgoutput Decoder: every message decodes and encodes back
// to the same bytes, and every ordering invariant of §6.6 is enforced.

// ts is a fixed timestamp with microsecond precision.
var ts = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

// testRel is the relation used by the changes: "public"."t" (id int4 key,
// v text).
func testRel(id uint32) *replication.Relation {
	return &replication.Relation{ID: id, Namespace: "public", Name: "t", ReplicaIdentity: replication.ReplicaIdentityDefault,
		Columns: []replication.RelationColumn{
			{Flags: 1, Name: "id", TypeOID: 23, TypeModifier: -1},
			{Flags: 0, Name: "v", TypeOID: 25, TypeModifier: -1},
		}}
}

func txt(s string) replication.TupleColumn {
	return replication.TupleColumn{Kind: replication.ColumnText, Data: []byte(s)}
}

var null = replication.TupleColumn{Kind: replication.ColumnNull}

func row(cols ...replication.TupleColumn) replication.TupleData {
	return replication.TupleData{Columns: cols}
}

// step is one message of a test stream and the WAL position it came at.
type step struct {
	lsn replication.LSN
	msg replication.Message
	raw []byte // used instead of msg when set
}

func (s step) bytes() []byte {
	if s.raw != nil {
		return s.raw
	}
	return s.msg.Encode(nil)
}

func newDecoder(t testing.TB, opts replication.DecoderOptions) *replication.Decoder {
	t.Helper()
	d, err := replication.NewDecoder(opts)
	require.NoError(t, err)
	return d
}

// allOpts turns every message type on.
var allOpts = replication.DecoderOptions{ProtoVersion: 4, Binary: true, Messages: true, Streaming: true, ParallelStreaming: true, TwoPhase: true}

// validStream is a stream with every message type, in a legal order.
func validStream() []step {
	rel := testRel(16384)
	return []step{
		{0, &replication.Begin{FinalLSN: 0x1000, CommitTime: ts, Xid: 700}, nil},
		{0, &replication.Origin{CommitLSN: 0x99, Name: "node_a"}, nil},
		{0, &replication.Type{ID: 90000, Namespace: "public", Name: "mood"}, nil},
		{0, rel, nil},
		{0x900, &replication.Insert{RelationID: 16384, New: row(txt("1"), txt("héllo"))}, nil},
		{0x910, &replication.Update{RelationID: 16384, OldKind: 'K', Old: row(txt("1"), null),
			New: row(txt("1"), replication.TupleColumn{Kind: replication.ColumnUnchanged})}, nil},
		{0x920, &replication.Update{RelationID: 16384, New: row(txt("2"), null)}, nil},
		{0x930, &replication.Delete{RelationID: 16384, OldKind: 'O', Old: row(txt("2"),
			replication.TupleColumn{Kind: replication.ColumnBinary, Data: []byte{0, 1}})}, nil},
		{0x940, &replication.Truncate{Options: replication.TruncateCascade, RelationIDs: []uint32{16384}}, nil},
		{0x950, &replication.LogicalMessage{Flags: 1, LSN: 0x950, Prefix: "p", Content: []byte("in tx")}, nil},
		{0x1010, &replication.Commit{CommitLSN: 0x1000, EndLSN: 0x1010, CommitTime: ts}, nil},
		{0x1020, &replication.LogicalMessage{Flags: 0, LSN: 0x1020, Prefix: "p", Content: []byte{}}, nil},
		// A streamed transaction in two blocks, with a whole transaction
		// between them, and a subtransaction abort.
		{0x1100, &replication.StreamStart{Xid: 800, FirstSegment: true}, nil},
		{0x1100, &replication.Insert{Xid: 800, RelationID: 16384, New: row(txt("3"), txt("x"))}, nil},
		{0, &replication.Relation{Xid: 801, ID: 16385, Namespace: "", Name: "pg_thing", ReplicaIdentity: 'f'}, nil},
		{0x1110, &replication.StreamStop{}, nil},
		{0x1200, &replication.Begin{FinalLSN: 0x1200, CommitTime: ts, Xid: 900}, nil},
		{0x1200, &replication.Insert{RelationID: 16384, New: row(txt("4"), null)}, nil},
		{0x1210, &replication.Commit{CommitLSN: 0x1200, EndLSN: 0x1210, CommitTime: ts}, nil},
		{0x1300, &replication.StreamStart{Xid: 800}, nil},
		{0x1300, &replication.Insert{Xid: 801, RelationID: 16384, New: row(txt("5"), null)}, nil},
		{0x1310, &replication.StreamStop{}, nil},
		{0x1320, &replication.StreamAbort{Xid: 800, SubXid: 801, AbortInfo: true, AbortLSN: 0x1320, AbortTime: ts}, nil},
		{0x1410, &replication.StreamCommit{Xid: 800, CommitLSN: 0x1400, EndLSN: 0x1410, CommitTime: ts}, nil},
		// Two-phase: prepared, then committed and rolled back.
		{0x1500, &replication.BeginPrepare{PrepareLSN: 0x1500, EndLSN: 0x1510, PrepareTime: ts, Xid: 1000, GID: "gid-1"}, nil},
		{0x1500, &replication.Insert{RelationID: 16384, New: row(txt("6"), null)}, nil},
		{0x1510, &replication.Prepare{PrepareLSN: 0x1500, EndLSN: 0x1510, PrepareTime: ts, Xid: 1000, GID: "gid-1"}, nil},
		{0x1610, &replication.CommitPrepared{CommitLSN: 0x1600, EndLSN: 0x1610, CommitTime: ts, Xid: 1000, GID: "gid-1"}, nil},
		{0x1710, &replication.RollbackPrepared{PrepareEndLSN: 0x1510, RollbackEndLSN: 0x1710, PrepareTime: ts, RollbackTime: ts, Xid: 1001, GID: "gid-2"}, nil},
		// A streamed transaction that is prepared.
		{0x1800, &replication.StreamStart{Xid: 1100, FirstSegment: true}, nil},
		{0x1800, &replication.Delete{Xid: 1100, RelationID: 16384, OldKind: 'K', Old: row(txt("1"), null)}, nil},
		{0x1800, &replication.StreamStop{}, nil},
		{0x1910, &replication.StreamPrepare{PrepareLSN: 0x1900, EndLSN: 0x1910, PrepareTime: ts, Xid: 1100, GID: "gid-3"}, nil},
		// A streamed transaction aborted as a whole.
		{0x2000, &replication.StreamStart{Xid: 1200, FirstSegment: true}, nil},
		{0x2000, &replication.StreamStop{}, nil},
		{0x2010, &replication.StreamAbort{Xid: 1200, SubXid: 1200, AbortInfo: true, AbortLSN: 0x2010, AbortTime: ts}, nil},
	}
}

func TestDecoderValidStream(t *testing.T) {
	t.Parallel()
	d := newDecoder(t, allOpts)
	for i, s := range validStream() {
		in := s.bytes()
		m, err := d.Decode(s.lsn, in)
		require.NoError(t, err, "step %d (%c)", i, in[0])
		assert.Equal(t, in[0], m.MessageType())
		assert.Equal(t, in, m.Encode(nil), "step %d (%c) round trip", i, in[0])
		switch want := s.msg.(type) {
		case *replication.Insert, *replication.Update, *replication.Delete, *replication.Truncate:
			// Compared through the encoding; Relation pointers are set by
			// the decoder.
		default:
			assert.Equal(t, want, m, "step %d (%c)", i, in[0])
		}
		if ins, ok := m.(*replication.Insert); ok {
			require.NotNil(t, ins.Relation)
			assert.Equal(t, "t", ins.Relation.Name)
		}
	}
	assert.True(t, d.Idle(), "every block and streamed transaction ended")
	assert.Equal(t, "pg_thing", d.Relation(16385).Name)
	assert.Equal(t, "mood", d.Type(90000).Name)
	assert.Nil(t, d.Relation(1))
}

// TestDecoderTupleAliasing documents the buffer contract: values alias the
// input, and the message is reused by the next Decode.
func TestDecoderTupleAliasing(t *testing.T) {
	t.Parallel()
	d := newDecoder(t, replication.DecoderOptions{})
	for _, s := range validStream()[:1] {
		_, err := d.Decode(s.lsn, s.bytes())
		require.NoError(t, err)
	}
	_, err := d.Decode(0, testRel(16384).Encode(nil))
	require.NoError(t, err)
	in := (&replication.Insert{RelationID: 16384, New: row(txt("1"), txt("abc"))}).Encode(nil)
	m, err := d.Decode(0, in)
	require.NoError(t, err)
	ins := m.(*replication.Insert)
	v := ins.New.Columns[1].Data
	in[len(in)-1] = 'X'
	assert.Equal(t, "abX", string(v), "values alias the input")
	m2, err := d.Decode(0, (&replication.Insert{RelationID: 16384, New: row(txt("2"), null)}).Encode(nil))
	require.NoError(t, err)
	assert.Same(t, m, m2, "the Insert value is reused")
}

func TestNewDecoderOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts replication.DecoderOptions
		ok   bool
	}{
		{name: "zero", opts: replication.DecoderOptions{}, ok: true},
		{name: "version 5", opts: replication.DecoderOptions{ProtoVersion: 5}},
		{name: "negative version", opts: replication.DecoderOptions{ProtoVersion: -1}},
		{name: "streaming on v1", opts: replication.DecoderOptions{ProtoVersion: 1, Streaming: true}},
		{name: "streaming on v2", opts: replication.DecoderOptions{ProtoVersion: 2, Streaming: true}, ok: true},
		{name: "two-phase on v2", opts: replication.DecoderOptions{ProtoVersion: 2, TwoPhase: true}},
		{name: "two-phase on v3", opts: replication.DecoderOptions{ProtoVersion: 3, TwoPhase: true}, ok: true},
		{name: "parallel on v3", opts: replication.DecoderOptions{ProtoVersion: 3, ParallelStreaming: true}},
		{name: "parallel on v4", opts: replication.DecoderOptions{ProtoVersion: 4, ParallelStreaming: true}, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := replication.NewDecoder(tc.opts)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// begin and friends build the common prefixes of the invariant cases.
var (
	relMsg   = step{0, testRel(16384), nil}
	beginMsg = step{0x100, &replication.Begin{FinalLSN: 0x1000, CommitTime: ts, Xid: 7}, nil}
	ins      = func(vals ...replication.TupleColumn) step {
		return step{0x200, &replication.Insert{RelationID: 16384, New: row(vals...)}, nil}
	}
	commitMsg = step{0x1010, &replication.Commit{CommitLSN: 0x1000, EndLSN: 0x1010, CommitTime: ts}, nil}
)

// appendRaw returns b with more bytes.
func appendRaw(b []byte, more ...byte) []byte { return append(bytes.Clone(b), more...) }

// TestDecoderInvariants feeds streams whose last message breaks a rule and
// checks the typed reason. The prefix must decode cleanly.
func TestDecoderInvariants(t *testing.T) {
	t.Parallel()
	insertRaw := ins(txt("1"), txt("a")).bytes()
	tests := []struct {
		name   string
		opts   replication.DecoderOptions
		steps  []step
		reason wire.Reason
	}{
		{name: "empty message", steps: []step{{raw: []byte{}}}, reason: wire.ReasonMalformed},
		{name: "unknown type", steps: []step{{raw: []byte{'Z', 0}}}, reason: wire.ReasonUnknownMessageType},
		{name: "insert outside a transaction", steps: []step{beginMsg, relMsg, commitMsg, ins(txt("1"), txt("a"))}, reason: wire.ReasonReplicationState},
		{name: "relation outside a transaction", steps: []step{relMsg}, reason: wire.ReasonReplicationState},
		{name: "commit without begin", steps: []step{commitMsg}, reason: wire.ReasonReplicationState},
		{name: "nested begin", steps: []step{beginMsg, beginMsg}, reason: wire.ReasonReplicationState},
		{name: "begin inside a streamed block", opts: allOpts,
			steps: []step{{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, beginMsg}, reason: wire.ReasonReplicationState},
		{name: "unknown relation", steps: []step{beginMsg, ins(txt("1"), txt("a"))}, reason: wire.ReasonReplicationState},
		{name: "too few columns", steps: []step{beginMsg, relMsg, ins(txt("1"))}, reason: wire.ReasonFieldCountMismatch},
		{name: "too many columns", steps: []step{beginMsg, relMsg, ins(txt("1"), txt("2"), txt("3"))}, reason: wire.ReasonFieldCountMismatch},
		{name: "commit flags not 0", steps: []step{beginMsg, {0x1010, &replication.Commit{Flags: 1, CommitLSN: 0x1000, EndLSN: 0x1010}, nil}},
			reason: wire.ReasonInvalidValue},
		{name: "commit LSN differs from begin", steps: []step{beginMsg, {0x1010, &replication.Commit{CommitLSN: 0x1001, EndLSN: 0x1010}, nil}},
			reason: wire.ReasonReplicationState},
		{name: "end before commit", steps: []step{beginMsg, {0x1010, &replication.Commit{CommitLSN: 0x1000, EndLSN: 0x1000}, nil}},
			reason: wire.ReasonLSNBackwards},
		{name: "begin before the last commit end", steps: []step{beginMsg, commitMsg, {0, &replication.Begin{FinalLSN: 0x1005, Xid: 8}, nil}},
			reason: wire.ReasonLSNBackwards},
		{name: "WAL position backwards in a transaction", steps: []step{beginMsg, relMsg, ins(txt("1"), txt("a")),
			{0x150, &replication.Insert{RelationID: 16384, New: row(txt("1"), txt("a"))}, nil}}, reason: wire.ReasonLSNBackwards},
		{name: "truncated insert", steps: []step{beginMsg, relMsg, {raw: insertRaw[:len(insertRaw)-1]}}, reason: wire.ReasonMalformed},
		{name: "trailing bytes", steps: []step{beginMsg, relMsg, {raw: appendRaw(insertRaw, 0)}}, reason: wire.ReasonTrailingBytes},
		{name: "truncated begin", steps: []step{{raw: []byte{'B', 0, 0}}}, reason: wire.ReasonMalformed},
		{name: "unterminated relation name", steps: []step{beginMsg, {raw: []byte{'R', 0, 0, 0x40, 0, 'p', 0, 't'}}}, reason: wire.ReasonUnterminatedString},
		{name: "invalid UTF-8 in a text value", steps: []step{beginMsg, relMsg, ins(txt("1"), txt("\xff"))}, reason: wire.ReasonInvalidUTF8},
		{name: "NUL in a text value", steps: []step{beginMsg, relMsg, ins(txt("1"), txt("a\x00b"))}, reason: wire.ReasonNULInText},
		{name: "invalid UTF-8 in a relation name", steps: []step{beginMsg, {0, &replication.Relation{ID: 1, Name: "\xc3", ReplicaIdentity: 'd'}, nil}},
			reason: wire.ReasonInvalidUTF8},
		{name: "binary value without the binary option", steps: []step{beginMsg, relMsg,
			ins(txt("1"), replication.TupleColumn{Kind: replication.ColumnBinary, Data: []byte{1}})}, reason: wire.ReasonInvalidValue},
		{name: "unchanged value in an insert", steps: []step{beginMsg, relMsg,
			ins(txt("1"), replication.TupleColumn{Kind: replication.ColumnUnchanged})}, reason: wire.ReasonInvalidValue},
		{name: "unknown column kind", steps: []step{beginMsg, relMsg,
			ins(txt("1"), replication.TupleColumn{Kind: 'x'})}, reason: wire.ReasonInvalidValue},
		{name: "negative column length", steps: []step{beginMsg, relMsg,
			{raw: []byte{'I', 0, 0, 0x40, 0, 'N', 0, 2, 'n', 't', 0xff, 0xff, 0xff, 0xff}}}, reason: wire.ReasonInvalidValue},
		{name: "huge column count", steps: []step{beginMsg, relMsg,
			{raw: []byte{'I', 0, 0, 0x40, 0, 'N', 0x7f, 0xff, 'n'}}}, reason: wire.ReasonMalformed},
		{name: "negative column count", steps: []step{beginMsg, relMsg,
			{raw: []byte{'I', 0, 0, 0x40, 0, 'N', 0xff, 0xff}}}, reason: wire.ReasonInvalidValue},
		{name: "insert without N marker", steps: []step{beginMsg, relMsg,
			{raw: []byte{'I', 0, 0, 0x40, 0, 'X', 0, 0}}}, reason: wire.ReasonInvalidValue},
		{name: "key-only old tuple with a non-key value", steps: []step{beginMsg, relMsg,
			{0x200, &replication.Delete{RelationID: 16384, OldKind: 'K', Old: row(txt("1"), txt("secret"))}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "delete with N marker", steps: []step{beginMsg, relMsg,
			{0x200, &replication.Delete{RelationID: 16384, OldKind: 'N', Old: row(txt("1"), null)}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "relation with bad replica identity", steps: []step{beginMsg, {0, &replication.Relation{ID: 1, Name: "t", ReplicaIdentity: 'x'}, nil}},
			reason: wire.ReasonInvalidValue},
		{name: "relation OID 0", steps: []step{beginMsg, {0, &replication.Relation{ID: 0, Name: "t", ReplicaIdentity: 'd'}, nil}},
			reason: wire.ReasonInvalidValue},
		{name: "relation column flags 2", steps: []step{beginMsg, {0, &replication.Relation{ID: 1, Name: "t", ReplicaIdentity: 'd',
			Columns: []replication.RelationColumn{{Flags: 2, Name: "c", TypeOID: 23}}}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "truncate of an unknown relation", steps: []step{beginMsg, {0x200, &replication.Truncate{RelationIDs: []uint32{5}}, nil}},
			reason: wire.ReasonReplicationState},
		{name: "truncate with no relation", steps: []step{beginMsg, {0x200, &replication.Truncate{}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "truncate with unknown option bits", steps: []step{beginMsg, relMsg,
			{0x200, &replication.Truncate{Options: 4, RelationIDs: []uint32{16384}}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "truncate count beyond the message", steps: []step{beginMsg, relMsg,
			{raw: []byte{'T', 0x10, 0, 0, 0, 0, 0, 0, 0x40, 0}}}, reason: wire.ReasonMalformed},
		{name: "origin not after begin", steps: []step{beginMsg, relMsg, {0, &replication.Origin{Name: "o"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "origin outside a transaction", steps: []step{{0, &replication.Origin{Name: "o"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "message without the messages option", steps: []step{{0, &replication.LogicalMessage{Prefix: "p"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "transactional message outside a transaction", opts: allOpts,
			steps: []step{{0, &replication.LogicalMessage{Flags: 1, Prefix: "p"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "non-transactional message inside a transaction", opts: allOpts,
			steps: []step{beginMsg, {0, &replication.LogicalMessage{Flags: 0, Prefix: "p"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "message flags 2", opts: allOpts, steps: []step{{0, &replication.LogicalMessage{Flags: 2, Prefix: "p"}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "stream start without streaming", steps: []step{{0, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}},
			reason: wire.ReasonReplicationState},
		{name: "later segment never opened", opts: allOpts, steps: []step{{0, &replication.StreamStart{Xid: 5}, nil}}, reason: wire.ReasonReplicationState},
		{name: "first segment twice", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x10, &replication.StreamStop{}, nil},
			{0x20, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}}, reason: wire.ReasonReplicationState},
		{name: "nested stream start", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil},
			{0x20, &replication.StreamStart{Xid: 6, FirstSegment: true}, nil}}, reason: wire.ReasonReplicationState},
		{name: "stream stop outside a block", opts: allOpts, steps: []step{{0, &replication.StreamStop{}, nil}}, reason: wire.ReasonReplicationState},
		{name: "stream commit inside its block", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil},
			{0x30, &replication.StreamCommit{Xid: 5, CommitLSN: 0x20, EndLSN: 0x30}, nil}}, reason: wire.ReasonReplicationState},
		{name: "stream commit of an unknown transaction", opts: allOpts, steps: []step{
			{0x30, &replication.StreamCommit{Xid: 5, CommitLSN: 0x20, EndLSN: 0x30}, nil}}, reason: wire.ReasonReplicationState},
		{name: "stream commit flags not 0", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x10, &replication.StreamStop{}, nil},
			{0x30, &replication.StreamCommit{Xid: 5, Flags: 3, CommitLSN: 0x20, EndLSN: 0x30}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "streamed transaction ended twice", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x10, &replication.StreamStop{}, nil},
			{0x30, &replication.StreamCommit{Xid: 5, CommitLSN: 0x20, EndLSN: 0x30}, nil},
			{0x40, &replication.StreamAbort{Xid: 5, SubXid: 5, AbortInfo: true}, nil}}, reason: wire.ReasonReplicationState},
		{name: "stream change without xid", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil},
			{raw: []byte{'I', 0, 0, 0, 0}}}, reason: wire.ReasonInvalidValue},
		{name: "stream abort without abort info on parallel", opts: allOpts, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x10, &replication.StreamStop{}, nil},
			{raw: (&replication.StreamAbort{Xid: 5, SubXid: 5}).Encode(nil)}}, reason: wire.ReasonMalformed},
		{name: "stream abort with abort info on streaming on", opts: replication.DecoderOptions{ProtoVersion: 2, Streaming: true}, steps: []step{
			{0x10, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x10, &replication.StreamStop{}, nil},
			{raw: (&replication.StreamAbort{Xid: 5, SubXid: 5, AbortInfo: true}).Encode(nil)}}, reason: wire.ReasonTrailingBytes},
		{name: "WAL position backwards in a streamed transaction", opts: allOpts, steps: []step{
			{0x100, &replication.StreamStart{Xid: 5, FirstSegment: true}, nil}, {0x100, &replication.StreamStop{}, nil},
			{0x50, &replication.StreamStart{Xid: 5}, nil}}, reason: wire.ReasonLSNBackwards},
		{name: "prepare without two_phase", steps: []step{
			{0, &replication.BeginPrepare{PrepareLSN: 0x10, EndLSN: 0x20, GID: "g"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "prepare does not match begin prepare", opts: allOpts, steps: []step{
			{0, &replication.BeginPrepare{PrepareLSN: 0x10, EndLSN: 0x20, Xid: 1, GID: "g"}, nil},
			{0, &replication.Prepare{PrepareLSN: 0x10, EndLSN: 0x20, Xid: 1, GID: "other"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "commit prepared inside a transaction", opts: allOpts, steps: []step{beginMsg,
			{0, &replication.CommitPrepared{CommitLSN: 0x10, EndLSN: 0x20, GID: "g"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "commit prepared flags not 0", opts: allOpts, steps: []step{
			{0, &replication.CommitPrepared{Flags: 1, CommitLSN: 0x10, EndLSN: 0x20, GID: "g"}, nil}}, reason: wire.ReasonInvalidValue},
		{name: "rollback prepared before the last end", opts: allOpts, steps: []step{
			{0, &replication.CommitPrepared{CommitLSN: 0x100, EndLSN: 0x200, GID: "g"}, nil},
			{0, &replication.RollbackPrepared{PrepareEndLSN: 0x10, RollbackEndLSN: 0x150, GID: "h"}, nil}}, reason: wire.ReasonLSNBackwards},
		{name: "begin prepare inside a transaction", opts: allOpts, steps: []step{beginMsg,
			{0, &replication.BeginPrepare{PrepareLSN: 0x1000, EndLSN: 0x1010, GID: "g"}, nil}}, reason: wire.ReasonReplicationState},
		{name: "invalid UTF-8 in a GID", opts: allOpts, steps: []step{
			{0, &replication.CommitPrepared{CommitLSN: 0x10, EndLSN: 0x20, GID: "\xff"}, nil}}, reason: wire.ReasonInvalidUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDecoder(t, tc.opts)
			last := len(tc.steps) - 1
			for i, s := range tc.steps[:last] {
				_, err := d.Decode(s.lsn, s.bytes())
				require.NoError(t, err, "prefix step %d", i)
			}
			s := tc.steps[last]
			m, err := d.Decode(s.lsn, s.bytes())
			require.Error(t, err)
			assert.Nil(t, m)
			var de *replication.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.reason.String(), de.Reason.String(), "%v", err)
			// The error is sticky.
			_, again := d.Decode(0, commitMsg.bytes())
			assert.Equal(t, err, again)
			assert.Equal(t, err, d.Err())
		})
	}
}
