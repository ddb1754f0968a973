package replication

import (
	"encoding/binary"
	"time"
)

// Message is one message of a replication stream: *XLogData on a physical
// stream, or one of the pgoutput messages (*Begin, *Commit, *Insert, …) on a
// logical stream. Use a type switch to tell them apart.
//
// Messages returned by Stream.Next and Decoder.Decode are owned by the
// stream or decoder and reused: a message and every slice in it (tuple
// values, Data, Content) are valid until the next call to Next or Decode.
// Strings and *Relation values may be kept.
type Message interface {
	// MessageType returns the message's type byte: 'w' for XLogData, the
	// pgoutput type byte otherwise ('B', 'C', 'I', …).
	MessageType() byte
	// Encode appends the message in its wire form to dst and returns the
	// extended slice: the CopyData payload for XLogData, the XLogData
	// payload (the output plugin's bytes) for pgoutput messages.
	Encode(dst []byte) []byte
}

// ColumnKind says how a column of a TupleData is sent.
type ColumnKind byte

// Column kinds of TupleData.
const (
	// ColumnNull is SQL NULL ('n'); for the non-key columns of a key-only
	// old tuple it means "not sent".
	ColumnNull ColumnKind = 'n'
	// ColumnUnchanged is an unchanged TOASTed value that was not sent ('u').
	ColumnUnchanged ColumnKind = 'u'
	// ColumnText is a value in the type's text format ('t').
	ColumnText ColumnKind = 't'
	// ColumnBinary is a value in the type's binary (send) format ('b'),
	// sent only when the stream was started with the binary option.
	ColumnBinary ColumnKind = 'b'
)

// TupleColumn is one column of a TupleData.
type TupleColumn struct {
	// Kind says what Data holds.
	Kind ColumnKind
	// Data is the value for ColumnText and ColumnBinary, nil otherwise. It
	// aliases the decoder's input.
	Data []byte
}

// TupleData is a row: one column per column of its Relation, in order.
type TupleData struct {
	// Columns are the row's columns. The slice is reused by the decoder.
	Columns []TupleColumn
}

// RelationColumn describes one column of a Relation.
type RelationColumn struct {
	// Flags is 1 when the column is part of the replica identity key,
	// else 0.
	Flags uint8
	// Name is the column name.
	Name string
	// TypeOID is the column's data type.
	TypeOID uint32
	// TypeModifier is the type modifier (atttypmod), -1 when none.
	TypeModifier int32
}

// Key reports whether the column is part of the replica identity key.
func (c *RelationColumn) Key() bool { return c.Flags&1 != 0 }

// Replica identity settings of a Relation.
const (
	ReplicaIdentityDefault byte = 'd' // the primary key
	ReplicaIdentityNothing byte = 'n' // no old values
	ReplicaIdentityFull    byte = 'f' // every column
	ReplicaIdentityIndex   byte = 'i' // the columns of a chosen index
)

// Begin ('B') starts a transaction.
type Begin struct {
	// FinalLSN is the LSN of the transaction's commit record.
	FinalLSN LSN
	// CommitTime is the commit timestamp.
	CommitTime time.Time
	// Xid is the transaction ID.
	Xid uint32
}

// Commit ('C') ends the transaction started by the last Begin.
type Commit struct {
	// Flags is unused and always 0.
	Flags uint8
	// CommitLSN is the LSN of the commit record (Begin.FinalLSN).
	CommitLSN LSN
	// EndLSN is the end of the commit record: the position to confirm once
	// the transaction is processed.
	EndLSN LSN
	// CommitTime is the commit timestamp.
	CommitTime time.Time
}

// Origin ('O') names the replication origin of the transaction just begun.
type Origin struct {
	// CommitLSN is the commit LSN on the origin server.
	CommitLSN LSN
	// Name is the origin's name.
	Name string
}

// Relation ('R') describes a table before the first change to it in a
// session and again after its definition changed. The decoder keeps the last
// Relation of each table; a *Relation is never modified once published, so it
// may be kept.
type Relation struct {
	// Xid is the transaction ID when sent inside a streamed block, else 0.
	Xid uint32
	// ID is the table's OID.
	ID uint32
	// Namespace is the schema name; empty means pg_catalog.
	Namespace string
	// Name is the table name.
	Name string
	// ReplicaIdentity is one of the ReplicaIdentity constants.
	ReplicaIdentity byte
	// Columns are the published columns, in order.
	Columns []RelationColumn
}

// Type ('Y') describes a data type that is not built in, before a Relation
// that uses it.
type Type struct {
	// Xid is the transaction ID when sent inside a streamed block, else 0.
	Xid uint32
	// ID is the type's OID.
	ID uint32
	// Namespace is the schema name; empty means pg_catalog.
	Namespace string
	// Name is the type name.
	Name string
}

// Insert ('I') is one inserted row.
type Insert struct {
	// Xid is the (sub)transaction ID when sent inside a streamed block,
	// else 0.
	Xid uint32
	// RelationID is the table's OID.
	RelationID uint32
	// Relation is the table, from the decoder's cache.
	Relation *Relation
	// New is the inserted row.
	New TupleData
}

// Update ('U') is one updated row.
type Update struct {
	// Xid is the (sub)transaction ID when sent inside a streamed block,
	// else 0.
	Xid uint32
	// RelationID is the table's OID.
	RelationID uint32
	// Relation is the table, from the decoder's cache.
	Relation *Relation
	// OldKind is 'K' when Old holds the old key (other columns
	// ColumnNull), 'O' when it holds the whole old row (REPLICA IDENTITY
	// FULL), 0 when no old values were sent.
	OldKind byte
	// Old is the old key or row; empty when OldKind is 0.
	Old TupleData
	// New is the new row; unchanged TOASTed values are ColumnUnchanged.
	New TupleData
}

// Delete ('D') is one deleted row.
type Delete struct {
	// Xid is the (sub)transaction ID when sent inside a streamed block,
	// else 0.
	Xid uint32
	// RelationID is the table's OID.
	RelationID uint32
	// Relation is the table, from the decoder's cache.
	Relation *Relation
	// OldKind is 'K' (old key) or 'O' (whole old row).
	OldKind byte
	// Old is the old key or row.
	Old TupleData
}

// Truncate options.
const (
	TruncateCascade         uint8 = 1
	TruncateRestartIdentity uint8 = 2
)

// Truncate ('T') truncates one or more tables.
type Truncate struct {
	// Xid is the (sub)transaction ID when sent inside a streamed block,
	// else 0.
	Xid uint32
	// Options is a combination of TruncateCascade and
	// TruncateRestartIdentity.
	Options uint8
	// RelationIDs are the tables' OIDs. The slice is reused.
	RelationIDs []uint32
	// Relations are the tables, from the decoder's cache, in the order of
	// RelationIDs. The slice is reused.
	Relations []*Relation
}

// LogicalMessage ('M') is a message written by pg_logical_emit_message,
// sent when the stream was started with the messages option.
type LogicalMessage struct {
	// Xid is the transaction ID when sent inside a streamed block, else 0.
	Xid uint32
	// Flags is 1 for a transactional message, 0 otherwise.
	Flags uint8
	// LSN is the message's WAL position.
	LSN LSN
	// Prefix is the prefix the message was emitted with.
	Prefix string
	// Content is the message; it aliases the decoder's input.
	Content []byte
}

// Transactional reports whether the message was emitted as part of a
// transaction (it then arrives between the transaction's Begin and Commit).
func (m *LogicalMessage) Transactional() bool { return m.Flags&1 != 0 }

// StreamStart ('S') opens a block of changes of a large in-progress
// transaction (streaming on, protocol 2 or later).
type StreamStart struct {
	// Xid is the top-level transaction ID.
	Xid uint32
	// FirstSegment is true for the transaction's first block.
	FirstSegment bool
}

// StreamStop ('E') closes the block opened by the last StreamStart.
type StreamStop struct{}

// StreamCommit ('c') commits a streamed transaction.
type StreamCommit struct {
	// Xid is the top-level transaction ID.
	Xid uint32
	// Flags is unused and always 0.
	Flags uint8
	// CommitLSN is the LSN of the commit record.
	CommitLSN LSN
	// EndLSN is the end of the commit record: the position to confirm.
	EndLSN LSN
	// CommitTime is the commit timestamp.
	CommitTime time.Time
}

// StreamAbort ('A') aborts a streamed transaction (SubXid == Xid) or one of
// its subtransactions.
type StreamAbort struct {
	// Xid is the top-level transaction ID.
	Xid uint32
	// SubXid is the aborted subtransaction, or Xid for the whole
	// transaction.
	SubXid uint32
	// AbortInfo is true when AbortLSN and AbortTime were sent (streaming =
	// parallel, protocol 4).
	AbortInfo bool
	// AbortLSN is the LSN of the abort record.
	AbortLSN LSN
	// AbortTime is the abort timestamp.
	AbortTime time.Time
}

// BeginPrepare ('b') starts a transaction prepared for two-phase commit
// (two_phase on, protocol 3 or later).
type BeginPrepare struct {
	// PrepareLSN is the LSN of the prepare record.
	PrepareLSN LSN
	// EndLSN is the end of the prepare record.
	EndLSN LSN
	// PrepareTime is the prepare timestamp.
	PrepareTime time.Time
	// Xid is the transaction ID.
	Xid uint32
	// GID is the global transaction identifier (PREPARE TRANSACTION 'gid').
	GID string
}

// Prepare ('P') ends the transaction started by the last BeginPrepare.
type Prepare struct {
	// Flags is unused and always 0.
	Flags uint8
	// PrepareLSN is the LSN of the prepare record.
	PrepareLSN LSN
	// EndLSN is the end of the prepare record: the position to confirm.
	EndLSN LSN
	// PrepareTime is the prepare timestamp.
	PrepareTime time.Time
	// Xid is the transaction ID.
	Xid uint32
	// GID is the global transaction identifier.
	GID string
}

// CommitPrepared ('K') commits a prepared transaction.
type CommitPrepared struct {
	// Flags is unused and always 0.
	Flags uint8
	// CommitLSN is the LSN of the commit record.
	CommitLSN LSN
	// EndLSN is the end of the commit record: the position to confirm.
	EndLSN LSN
	// CommitTime is the commit timestamp.
	CommitTime time.Time
	// Xid is the transaction ID.
	Xid uint32
	// GID is the global transaction identifier.
	GID string
}

// RollbackPrepared ('r') rolls back a prepared transaction.
type RollbackPrepared struct {
	// Flags is unused and always 0.
	Flags uint8
	// PrepareEndLSN is the end of the prepare record.
	PrepareEndLSN LSN
	// RollbackEndLSN is the end of the rollback record: the position to
	// confirm.
	RollbackEndLSN LSN
	// PrepareTime is the prepare timestamp.
	PrepareTime time.Time
	// RollbackTime is the rollback timestamp.
	RollbackTime time.Time
	// Xid is the transaction ID.
	Xid uint32
	// GID is the global transaction identifier.
	GID string
}

// StreamPrepare ('p') prepares a streamed transaction for two-phase commit.
// It has the layout of Prepare.
type StreamPrepare Prepare

// MessageType implements Message.
func (*Begin) MessageType() byte { return 'B' }

// MessageType implements Message.
func (*Commit) MessageType() byte { return 'C' }

// MessageType implements Message.
func (*Origin) MessageType() byte { return 'O' }

// MessageType implements Message.
func (*Relation) MessageType() byte { return 'R' }

// MessageType implements Message.
func (*Type) MessageType() byte { return 'Y' }

// MessageType implements Message.
func (*Insert) MessageType() byte { return 'I' }

// MessageType implements Message.
func (*Update) MessageType() byte { return 'U' }

// MessageType implements Message.
func (*Delete) MessageType() byte { return 'D' }

// MessageType implements Message.
func (*Truncate) MessageType() byte { return 'T' }

// MessageType implements Message.
func (*LogicalMessage) MessageType() byte { return 'M' }

// MessageType implements Message.
func (*StreamStart) MessageType() byte { return 'S' }

// MessageType implements Message.
func (*StreamStop) MessageType() byte { return 'E' }

// MessageType implements Message.
func (*StreamCommit) MessageType() byte { return 'c' }

// MessageType implements Message.
func (*StreamAbort) MessageType() byte { return 'A' }

// MessageType implements Message.
func (*BeginPrepare) MessageType() byte { return 'b' }

// MessageType implements Message.
func (*Prepare) MessageType() byte { return 'P' }

// MessageType implements Message.
func (*CommitPrepared) MessageType() byte { return 'K' }

// MessageType implements Message.
func (*RollbackPrepared) MessageType() byte { return 'r' }

// MessageType implements Message.
func (*StreamPrepare) MessageType() byte { return 'p' }

var (
	_ Message = (*XLogData)(nil)
	_ Message = (*Begin)(nil)
	_ Message = (*Commit)(nil)
	_ Message = (*Origin)(nil)
	_ Message = (*Relation)(nil)
	_ Message = (*Type)(nil)
	_ Message = (*Insert)(nil)
	_ Message = (*Update)(nil)
	_ Message = (*Delete)(nil)
	_ Message = (*Truncate)(nil)
	_ Message = (*LogicalMessage)(nil)
	_ Message = (*StreamStart)(nil)
	_ Message = (*StreamStop)(nil)
	_ Message = (*StreamCommit)(nil)
	_ Message = (*StreamAbort)(nil)
	_ Message = (*BeginPrepare)(nil)
	_ Message = (*Prepare)(nil)
	_ Message = (*CommitPrepared)(nil)
	_ Message = (*RollbackPrepared)(nil)
	_ Message = (*StreamPrepare)(nil)
)

// ---- encoding ----------------------------------------------------------------

// pgEpochUnix is 2000-01-01 00:00:00 UTC in Unix seconds: the epoch of the
// microsecond timestamps of the replication protocol.
const pgEpochUnix = 946684800

// TimeFromPG converts a replication-protocol timestamp (microseconds since
// 2000-01-01 00:00:00 UTC) to a time.Time in UTC.
func TimeFromPG(us int64) time.Time {
	sec, rem := us/1e6, us%1e6
	if rem < 0 {
		rem += 1e6
		sec--
	}
	return time.Unix(sec+pgEpochUnix, rem*1e3).UTC()
}

// TimeToPG converts t to a replication-protocol timestamp, truncating to the
// microsecond. TimeToPG(TimeFromPG(us)) == us for every us.
func TimeToPG(t time.Time) int64 {
	return (t.Unix()-pgEpochUnix)*1e6 + int64(t.Nanosecond()/1e3)
}

func put16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }
func put32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }
func put64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }
func putTime(dst []byte, t time.Time) []byte {
	return put64(dst, uint64(TimeToPG(t)))
}
func putString(dst []byte, s string) []byte { return append(append(dst, s...), 0) }

// putXid writes the optional transaction ID of messages that may be sent in
// a streamed block: present exactly when it is not 0 (InvalidTransactionId),
// as the server writes it.
func putXid(dst []byte, xid uint32) []byte {
	if xid == 0 {
		return dst
	}
	return put32(dst, xid)
}

// Encode appends the TupleData: the column count, then each column.
func (t *TupleData) Encode(dst []byte) []byte {
	dst = put16(dst, uint16(len(t.Columns)))
	for i := range t.Columns {
		c := &t.Columns[i]
		dst = append(dst, byte(c.Kind))
		if c.Kind == ColumnText || c.Kind == ColumnBinary {
			dst = put32(dst, uint32(len(c.Data)))
			dst = append(dst, c.Data...)
		}
	}
	return dst
}

// Encode implements Message.
func (m *Begin) Encode(dst []byte) []byte {
	dst = append(dst, 'B')
	dst = put64(dst, uint64(m.FinalLSN))
	dst = putTime(dst, m.CommitTime)
	return put32(dst, m.Xid)
}

// Encode implements Message.
func (m *Commit) Encode(dst []byte) []byte {
	dst = append(dst, 'C', m.Flags)
	dst = put64(dst, uint64(m.CommitLSN))
	dst = put64(dst, uint64(m.EndLSN))
	return putTime(dst, m.CommitTime)
}

// Encode implements Message.
func (m *Origin) Encode(dst []byte) []byte {
	dst = append(dst, 'O')
	dst = put64(dst, uint64(m.CommitLSN))
	return putString(dst, m.Name)
}

// Encode implements Message.
func (m *Relation) Encode(dst []byte) []byte {
	dst = append(dst, 'R')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, m.ID)
	dst = putString(dst, m.Namespace)
	dst = putString(dst, m.Name)
	dst = append(dst, m.ReplicaIdentity)
	dst = put16(dst, uint16(len(m.Columns)))
	for i := range m.Columns {
		c := &m.Columns[i]
		dst = append(dst, c.Flags)
		dst = putString(dst, c.Name)
		dst = put32(dst, c.TypeOID)
		dst = put32(dst, uint32(c.TypeModifier))
	}
	return dst
}

// Encode implements Message.
func (m *Type) Encode(dst []byte) []byte {
	dst = append(dst, 'Y')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, m.ID)
	dst = putString(dst, m.Namespace)
	return putString(dst, m.Name)
}

// Encode implements Message.
func (m *Insert) Encode(dst []byte) []byte {
	dst = append(dst, 'I')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, m.RelationID)
	dst = append(dst, 'N')
	return m.New.Encode(dst)
}

// Encode implements Message.
func (m *Update) Encode(dst []byte) []byte {
	dst = append(dst, 'U')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, m.RelationID)
	if m.OldKind != 0 {
		dst = append(dst, m.OldKind)
		dst = m.Old.Encode(dst)
	}
	dst = append(dst, 'N')
	return m.New.Encode(dst)
}

// Encode implements Message.
func (m *Delete) Encode(dst []byte) []byte {
	dst = append(dst, 'D')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, m.RelationID)
	dst = append(dst, m.OldKind)
	return m.Old.Encode(dst)
}

// Encode implements Message.
func (m *Truncate) Encode(dst []byte) []byte {
	dst = append(dst, 'T')
	dst = putXid(dst, m.Xid)
	dst = put32(dst, uint32(len(m.RelationIDs)))
	dst = append(dst, m.Options)
	for _, id := range m.RelationIDs {
		dst = put32(dst, id)
	}
	return dst
}

// Encode implements Message.
func (m *LogicalMessage) Encode(dst []byte) []byte {
	dst = append(dst, 'M')
	dst = putXid(dst, m.Xid)
	dst = append(dst, m.Flags)
	dst = put64(dst, uint64(m.LSN))
	dst = putString(dst, m.Prefix)
	dst = put32(dst, uint32(len(m.Content)))
	return append(dst, m.Content...)
}

// Encode implements Message.
func (m *StreamStart) Encode(dst []byte) []byte {
	dst = append(dst, 'S')
	dst = put32(dst, m.Xid)
	if m.FirstSegment {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// Encode implements Message.
func (m *StreamStop) Encode(dst []byte) []byte { return append(dst, 'E') }

// Encode implements Message.
func (m *StreamCommit) Encode(dst []byte) []byte {
	dst = append(dst, 'c')
	dst = put32(dst, m.Xid)
	dst = append(dst, m.Flags)
	dst = put64(dst, uint64(m.CommitLSN))
	dst = put64(dst, uint64(m.EndLSN))
	return putTime(dst, m.CommitTime)
}

// Encode implements Message.
func (m *StreamAbort) Encode(dst []byte) []byte {
	dst = append(dst, 'A')
	dst = put32(dst, m.Xid)
	dst = put32(dst, m.SubXid)
	if m.AbortInfo {
		dst = put64(dst, uint64(m.AbortLSN))
		dst = putTime(dst, m.AbortTime)
	}
	return dst
}

// Encode implements Message.
func (m *BeginPrepare) Encode(dst []byte) []byte {
	dst = append(dst, 'b')
	dst = put64(dst, uint64(m.PrepareLSN))
	dst = put64(dst, uint64(m.EndLSN))
	dst = putTime(dst, m.PrepareTime)
	dst = put32(dst, m.Xid)
	return putString(dst, m.GID)
}

func encodePrepare(dst []byte, typ byte, m *Prepare) []byte {
	dst = append(dst, typ, m.Flags)
	dst = put64(dst, uint64(m.PrepareLSN))
	dst = put64(dst, uint64(m.EndLSN))
	dst = putTime(dst, m.PrepareTime)
	dst = put32(dst, m.Xid)
	return putString(dst, m.GID)
}

// Encode implements Message.
func (m *Prepare) Encode(dst []byte) []byte { return encodePrepare(dst, 'P', m) }

// Encode implements Message.
func (m *StreamPrepare) Encode(dst []byte) []byte { return encodePrepare(dst, 'p', (*Prepare)(m)) }

// Encode implements Message.
func (m *CommitPrepared) Encode(dst []byte) []byte {
	dst = append(dst, 'K', m.Flags)
	dst = put64(dst, uint64(m.CommitLSN))
	dst = put64(dst, uint64(m.EndLSN))
	dst = putTime(dst, m.CommitTime)
	dst = put32(dst, m.Xid)
	return putString(dst, m.GID)
}

// Encode implements Message.
func (m *RollbackPrepared) Encode(dst []byte) []byte {
	dst = append(dst, 'r', m.Flags)
	dst = put64(dst, uint64(m.PrepareEndLSN))
	dst = put64(dst, uint64(m.RollbackEndLSN))
	dst = putTime(dst, m.PrepareTime)
	dst = putTime(dst, m.RollbackTime)
	dst = put32(dst, m.Xid)
	return putString(dst, m.GID)
}
