package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/pgstrict/pgstrict/wire"
)

// DecoderOptions say what the stream a Decoder reads was started with; a
// message the options rule out is a violation. The zero value is protocol
// version 1 with no options.
type DecoderOptions struct {
	// ProtoVersion is the pgoutput proto_version: 1 to 4. Zero means 1.
	ProtoVersion int
	// Binary is the binary option: ColumnBinary values may appear.
	Binary bool
	// Messages is the messages option: LogicalMessage may appear.
	Messages bool
	// Streaming is streaming 'on' or 'parallel' (protocol 2 or later):
	// StreamStart, StreamStop, StreamCommit and StreamAbort may appear.
	Streaming bool
	// ParallelStreaming is streaming 'parallel' (protocol 4): StreamAbort
	// carries the abort LSN and time. It implies Streaming.
	ParallelStreaming bool
	// TwoPhase is the two_phase option (protocol 3 or later): BeginPrepare,
	// Prepare, CommitPrepared, RollbackPrepared and (with Streaming)
	// StreamPrepare may appear.
	TwoPhase bool
	// SkipTextValidation turns off the UTF-8 and NUL check of ColumnText
	// values. Only for trusted streams: an invalid value is then handed to
	// the caller as it came. Names (relations, columns, types, prefixes,
	// GIDs) are always checked.
	SkipTextValidation bool
}

// Block states of the ordering state machine.
const (
	blockNone    uint8 = iota // between transactions
	blockTx                   // after Begin
	blockPrepare              // after BeginPrepare
	blockStream               // after StreamStart
)

// Decoder decodes the pgoutput messages of one logical replication stream,
// in order, and enforces the ordering invariants of the protocol (§6.6 of
// the protocol reference): changes only inside Begin…Commit,
// BeginPrepare…Prepare or StreamStart…StreamStop; no nested blocks; Origin
// only right after the message that opens a transaction; changes only for
// relations described by an earlier Relation message, with as many columns
// as the relation has; streamed transactions opened once and ended once;
// flags documented as 0 being 0; transaction end positions and the WAL
// positions inside a transaction never going backwards.
//
// Every field is bounds-checked: no input makes Decode panic or allocate more
// than the input's size. The first error is sticky: the stream can no longer
// be trusted and every later call returns it.
//
// Decode reuses one value per message type: the returned message, and every
// slice in it, is valid until the next call to Decode. Strings and *Relation
// values may be kept. Decoding allocates only for what the caller may keep:
// Relation and Type messages, GIDs, and an origin name or message prefix that
// differs from the previous one.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	opts DecoderOptions
	err  *DecodeError

	rels  map[uint32]*Relation
	types map[uint32]*Type

	block    uint8
	xid      uint32 // the open block's transaction
	finalLSN LSN    // Begin.FinalLSN of the open transaction
	blockLSN LSN    // highest WAL position seen in the open Begin or BeginPrepare block
	originOK bool   // the last message opened a transaction: Origin may follow
	streams  map[uint32]LSN
	lastEnd  LSN // end position of the last transaction end

	r reader

	begin   Begin
	commit  Commit
	origin  Origin
	insert  Insert
	update  Update
	del     Delete
	trunc   Truncate
	msg     LogicalMessage
	sstart  StreamStart
	sstop   StreamStop
	scommit StreamCommit
	sabort  StreamAbort
	bprep   BeginPrepare
	prep    Prepare
	cprep   CommitPrepared
	rprep   RollbackPrepared
	sprep   StreamPrepare
}

// NewDecoder returns a Decoder for a stream started with opts.
func NewDecoder(opts DecoderOptions) (*Decoder, error) {
	if opts.ProtoVersion == 0 {
		opts.ProtoVersion = 1
	}
	if opts.ParallelStreaming {
		opts.Streaming = true
	}
	switch {
	case opts.ProtoVersion < 1 || opts.ProtoVersion > 4:
		return nil, errors.New("replication: pgoutput protocol version " + strconv.Itoa(opts.ProtoVersion) + " is not 1 to 4")
	case opts.Streaming && opts.ProtoVersion < 2:
		return nil, errors.New("replication: streaming needs pgoutput protocol version 2 or later")
	case opts.TwoPhase && opts.ProtoVersion < 3:
		return nil, errors.New("replication: two_phase needs pgoutput protocol version 3 or later")
	case opts.ParallelStreaming && opts.ProtoVersion < 4:
		return nil, errors.New("replication: parallel streaming needs pgoutput protocol version 4")
	}
	return &Decoder{
		opts:    opts,
		rels:    make(map[uint32]*Relation),
		types:   make(map[uint32]*Type),
		streams: make(map[uint32]LSN),
	}, nil
}

// Relation returns the last Relation received for the table with OID id, or
// nil.
func (d *Decoder) Relation(id uint32) *Relation { return d.rels[id] }

// Type returns the last Type received for the data type with OID id, or nil.
func (d *Decoder) Type(id uint32) *Type { return d.types[id] }

// Idle reports whether the stream is between transactions: no Begin,
// BeginPrepare or StreamStart block is open and no streamed transaction
// awaits its end.
func (d *Decoder) Idle() bool { return d.block == blockNone && len(d.streams) == 0 }

// Err returns the error that stopped the Decoder, or nil.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return d.err
}

// Decode decodes the next message of the stream from data, the payload of
// an XLogData, whose WALStart is walStart (0 when unknown or not sent). See
// Decoder for what is checked and how long the result is valid.
func (d *Decoder) Decode(walStart LSN, data []byte) (Message, error) {
	if d.err != nil {
		return nil, d.err
	}
	m, err := d.decode(walStart, data)
	if err != nil {
		d.err = err
		return nil, err
	}
	return m, nil
}

// ---- reading ----------------------------------------------------------------

// reader reads fields from a message. The first failure sticks and later
// reads return zero values, so a decoder can read a whole layout and check
// once.
type reader struct {
	b      []byte
	off    int
	fail   wire.Reason
	failAt int
	field  string
}

func (r *reader) need(n int, field string) bool {
	if r.fail != wire.ReasonUnknown {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail, r.failAt, r.field = wire.ReasonMalformed, r.off, field
		return false
	}
	return true
}

func (r *reader) u8(field string) uint8 {
	if !r.need(1, field) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16(field string) uint16 {
	if !r.need(2, field) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(field string) uint32 {
	if !r.need(4, field) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64(field string) uint64 {
	if !r.need(8, field) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) lsn(field string) LSN { return LSN(r.u64(field)) }

// cstr reads a NUL-terminated string and returns it without the NUL.
func (r *reader) cstr(field string) []byte {
	if r.fail != wire.ReasonUnknown {
		return nil
	}
	i := bytes.IndexByte(r.b[r.off:], 0)
	if i < 0 {
		r.fail, r.failAt, r.field = wire.ReasonUnterminatedString, r.off, field
		return nil
	}
	s := r.b[r.off : r.off+i : r.off+i]
	r.off += i + 1
	return s
}

// bytes reads n bytes.
func (r *reader) bytes(n int, field string) []byte {
	if !r.need(n, field) {
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *reader) remaining() int { return len(r.b) - r.off }

// setFail records a failure at the current offset.
func (r *reader) setFail(reason wire.Reason, field string) {
	if r.fail == wire.ReasonUnknown {
		r.fail, r.failAt, r.field = reason, r.off, field
	}
}

// ---- errors -----------------------------------------------------------------

func decodeErr(reason wire.Reason, typ byte, off int, detail string) *DecodeError {
	return &DecodeError{Reason: reason, MsgType: typ, Offset: off, Detail: detail}
}

// done checks that the whole message was read without failure.
func (d *Decoder) done(typ byte) *DecodeError {
	r := &d.r
	if r.fail == wire.ReasonUnknown && r.off != len(r.b) {
		return decodeErr(wire.ReasonTrailingBytes, typ, r.off, strconv.Itoa(len(r.b)-r.off)+" bytes after the last field")
	}
	if r.fail == wire.ReasonUnknown {
		return nil
	}
	var detail string
	switch r.fail {
	case wire.ReasonMalformed:
		detail = r.field + " runs past the end of the message"
	case wire.ReasonUnterminatedString:
		detail = r.field + " has no terminator inside the message"
	default:
		detail = r.field
	}
	return decodeErr(r.fail, typ, r.failAt, detail)
}

func stateErr(typ byte, detail string) *DecodeError {
	return decodeErr(wire.ReasonReplicationState, typ, -1, detail)
}

func backwards(typ byte, what string, got, floor LSN) *DecodeError {
	return decodeErr(wire.ReasonLSNBackwards, typ, -1, what+" "+got.String()+" is before "+floor.String())
}

// text checks a name: valid UTF-8 (it can hold no NUL).
func text(typ byte, off int, field string, b []byte) *DecodeError {
	if ok, at, reason := wire.CheckText(b); !ok {
		return decodeErr(reason, typ, off+at, field+" is not valid text")
	}
	return nil
}

// ---- state helpers ------------------------------------------------------------

func (d *Decoder) where() string {
	switch d.block {
	case blockTx:
		return "inside a transaction (Begin)"
	case blockPrepare:
		return "inside a prepared transaction (BeginPrepare)"
	case blockStream:
		return "inside a streamed block (StreamStart)"
	}
	return "outside any transaction"
}

// needBlock checks that a change-like message arrives inside a block.
func (d *Decoder) needBlock(typ byte, what string) *DecodeError {
	if d.block == blockNone {
		return stateErr(typ, what+" outside a transaction or streamed block")
	}
	return nil
}

// needNone checks that a message that opens or ends a transaction arrives
// between transactions.
func (d *Decoder) needNone(typ byte, what string) *DecodeError {
	if d.block != blockNone {
		return stateErr(typ, what+" "+d.where())
	}
	return nil
}

func (d *Decoder) needStreaming(typ byte, what string) *DecodeError {
	if !d.opts.Streaming {
		return stateErr(typ, what+" on a stream started without streaming")
	}
	return nil
}

func (d *Decoder) needTwoPhase(typ byte, what string) *DecodeError {
	if !d.opts.TwoPhase {
		return stateErr(typ, what+" on a stream started without two_phase")
	}
	return nil
}

// twoPhaseFields checks what the two-phase messages have in common once
// their fields are read: the body ends after the GID (read at offset at),
// the GID is text, the flags, for the messages that have them, are zero,
// and the stream was started with two_phase.
func (d *Decoder) twoPhaseFields(typ byte, what string, at int, gid []byte, flags *uint8) *DecodeError {
	if err := d.done(typ); err != nil {
		return err
	}
	if err := text(typ, at, "GID", gid); err != nil {
		return err
	}
	if flags != nil {
		if err := flagsZero(typ, 1, *flags); err != nil {
			return err
		}
	}
	return d.needTwoPhase(typ, what)
}

// readXid reads the transaction ID that messages carry inside a streamed block.
func (d *Decoder) readXid() uint32 {
	if d.block != blockStream {
		return 0
	}
	x := d.r.u32("transaction ID")
	if x == 0 {
		d.r.setFail(wire.ReasonInvalidValue, "transaction ID 0 in a streamed block")
	}
	return x
}

// advance applies a WAL position inside the open block: it may not go
// backwards within a transaction (or within one streamed transaction).
func (d *Decoder) advance(typ byte, walStart LSN) *DecodeError {
	if walStart == 0 {
		return nil
	}
	if d.block == blockStream {
		return d.advanceStream(typ, d.xid, walStart)
	}
	if walStart < d.blockLSN {
		return backwards(typ, "WAL position", walStart, d.blockLSN)
	}
	d.blockLSN = walStart
	return nil
}

func (d *Decoder) advanceStream(typ byte, xid uint32, walStart LSN) *DecodeError {
	if walStart == 0 {
		return nil
	}
	if last := d.streams[xid]; walStart < last {
		return backwards(typ, "WAL position of streamed transaction "+strconv.FormatUint(uint64(xid), 10), walStart, last)
	}
	d.streams[xid] = walStart
	return nil
}

// endAt checks and records a transaction end: start is the position of the
// end record, end its end.
func (d *Decoder) endAt(typ byte, start, end LSN) *DecodeError {
	if start < d.lastEnd {
		return backwards(typ, "transaction end record", start, d.lastEnd)
	}
	if end <= start {
		return backwards(typ, "end LSN", end, start+1)
	}
	d.lastEnd = end
	return nil
}

func flagsZero(typ byte, off int, flags uint8) *DecodeError {
	if flags != 0 {
		return decodeErr(wire.ReasonInvalidValue, typ, off, "flags "+strconv.Itoa(int(flags))+" must be 0")
	}
	return nil
}

// ---- decoding -----------------------------------------------------------------

func (d *Decoder) decode(walStart LSN, p []byte) (Message, *DecodeError) {
	if len(p) == 0 {
		return nil, decodeErr(wire.ReasonMalformed, 0, 0, "empty pgoutput message")
	}
	typ := p[0]
	d.r = reader{b: p, off: 1}
	originOK := d.originOK
	d.originOK = false
	switch typ {
	case 'B':
		return d.decodeBegin(walStart)
	case 'C':
		return d.decodeCommit(walStart)
	case 'O':
		return d.decodeOrigin(originOK)
	case 'R':
		return d.decodeRelation(walStart)
	case 'Y':
		return d.decodeType(walStart)
	case 'I':
		return d.decodeInsert(walStart)
	case 'U':
		return d.decodeUpdate(walStart)
	case 'D':
		return d.decodeDelete(walStart)
	case 'T':
		return d.decodeTruncate(walStart)
	case 'M':
		return d.decodeMessage(walStart)
	case 'S':
		return d.decodeStreamStart(walStart)
	case 'E':
		return d.decodeStreamStop(walStart)
	case 'c':
		return d.decodeStreamCommit(walStart)
	case 'A':
		return d.decodeStreamAbort(walStart)
	case 'b':
		return d.decodeBeginPrepare(walStart)
	case 'P':
		return d.decodePrepare(walStart)
	case 'K':
		return d.decodeCommitPrepared()
	case 'r':
		return d.decodeRollbackPrepared()
	case 'p':
		return d.decodeStreamPrepare(walStart)
	}
	return nil, decodeErr(wire.ReasonUnknownMessageType, typ, 0, "type byte "+strconv.QuoteRune(rune(typ))+" is not a pgoutput message")
}

func (d *Decoder) decodeBegin(walStart LSN) (Message, *DecodeError) {
	const typ = 'B'
	r, m := &d.r, &d.begin
	m.FinalLSN = r.lsn("final LSN")
	m.CommitTime = TimeFromPG(int64(r.u64("commit time")))
	m.Xid = r.u32("transaction ID")
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := d.needNone(typ, "Begin"); err != nil {
		return nil, err
	}
	if m.FinalLSN < d.lastEnd {
		return nil, backwards(typ, "final LSN", m.FinalLSN, d.lastEnd)
	}
	d.block, d.xid, d.finalLSN, d.blockLSN, d.originOK = blockTx, m.Xid, m.FinalLSN, walStart, true
	return m, nil
}

func (d *Decoder) decodeCommit(walStart LSN) (Message, *DecodeError) {
	const typ = 'C'
	r, m := &d.r, &d.commit
	m.Flags = r.u8("flags")
	m.CommitLSN = r.lsn("commit LSN")
	m.EndLSN = r.lsn("end LSN")
	m.CommitTime = TimeFromPG(int64(r.u64("commit time")))
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := flagsZero(typ, 1, m.Flags); err != nil {
		return nil, err
	}
	if d.block != blockTx {
		return nil, stateErr(typ, "Commit "+d.where())
	}
	if m.CommitLSN != d.finalLSN {
		return nil, stateErr(typ, "commit LSN "+m.CommitLSN.String()+" differs from the final LSN "+d.finalLSN.String()+" of its Begin")
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	if err := d.endAt(typ, m.CommitLSN, m.EndLSN); err != nil {
		return nil, err
	}
	d.block = blockNone
	return m, nil
}

func (d *Decoder) decodeOrigin(originOK bool) (Message, *DecodeError) {
	const typ = 'O'
	r, m := &d.r, &d.origin
	m.CommitLSN = r.lsn("origin commit LSN")
	at := r.off
	name := r.cstr("origin name")
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := text(typ, at, "origin name", name); err != nil {
		return nil, err
	}
	if !originOK {
		return nil, stateErr(typ, "Origin not right after Begin, BeginPrepare or the first StreamStart")
	}
	if string(name) != m.Name {
		m.Name = string(name)
	}
	return m, nil
}

func (d *Decoder) decodeRelation(walStart LSN) (Message, *DecodeError) {
	const typ = 'R'
	if err := d.needBlock(typ, "Relation"); err != nil {
		return nil, err
	}
	r := &d.r
	xid := d.readXid()
	id := r.u32("relation OID")
	nsAt := r.off
	ns := r.cstr("namespace")
	nameAt := r.off
	name := r.cstr("relation name")
	ri := r.u8("replica identity")
	n := int16(r.u16("column count"))
	if r.fail == wire.ReasonUnknown {
		switch {
		case n < 0:
			r.setFail(wire.ReasonInvalidValue, "negative column count")
		case int(n)*10 > r.remaining():
			// Each column takes at least 10 bytes: refuse before allocating.
			r.setFail(wire.ReasonMalformed, "columns")
		}
	}
	var cols []RelationColumn
	if r.fail == wire.ReasonUnknown && n > 0 {
		cols = make([]RelationColumn, n)
	}
	for i := range cols {
		c := &cols[i]
		flagsAt := r.off
		c.Flags = r.u8("column flags")
		if c.Flags > 1 {
			r.off = flagsAt
			r.setFail(wire.ReasonInvalidValue, "column flags "+strconv.Itoa(int(c.Flags))+" are not 0 or 1")
		}
		at := r.off
		cn := r.cstr("column name")
		if r.fail == wire.ReasonUnknown {
			if err := text(typ, at, "column name", cn); err != nil {
				return nil, err
			}
		}
		c.Name = string(cn)
		c.TypeOID = r.u32("column type OID")
		c.TypeModifier = int32(r.u32("column type modifier"))
	}
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := text(typ, nsAt, "namespace", ns); err != nil {
		return nil, err
	}
	if err := text(typ, nameAt, "relation name", name); err != nil {
		return nil, err
	}
	switch {
	case id == 0:
		return nil, decodeErr(wire.ReasonInvalidValue, typ, -1, "relation OID 0")
	case ri != ReplicaIdentityDefault && ri != ReplicaIdentityNothing && ri != ReplicaIdentityFull && ri != ReplicaIdentityIndex:
		return nil, decodeErr(wire.ReasonInvalidValue, typ, -1, "replica identity "+strconv.QuoteRune(rune(ri)))
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	rel := &Relation{Xid: xid, ID: id, Namespace: string(ns), Name: string(name), ReplicaIdentity: ri, Columns: cols}
	d.rels[id] = rel
	return rel, nil
}

func (d *Decoder) decodeType(walStart LSN) (Message, *DecodeError) {
	const typ = 'Y'
	if err := d.needBlock(typ, "Type"); err != nil {
		return nil, err
	}
	r := &d.r
	xid := d.readXid()
	id := r.u32("type OID")
	nsAt := r.off
	ns := r.cstr("namespace")
	nameAt := r.off
	name := r.cstr("type name")
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := text(typ, nsAt, "namespace", ns); err != nil {
		return nil, err
	}
	if err := text(typ, nameAt, "type name", name); err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, decodeErr(wire.ReasonInvalidValue, typ, -1, "type OID 0")
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	t := &Type{Xid: xid, ID: id, Namespace: string(ns), Name: string(name)}
	d.types[id] = t
	return t, nil
}

// tuple reads a TupleData into dst (reused). unchanged says whether
// ColumnUnchanged may appear.
func (d *Decoder) tuple(dst []TupleColumn, unchanged bool) []TupleColumn {
	r := &d.r
	dst = dst[:0]
	n := int16(r.u16("tuple column count"))
	if r.fail != wire.ReasonUnknown {
		return dst
	}
	if n < 0 {
		r.setFail(wire.ReasonInvalidValue, "negative tuple column count")
		return dst
	}
	if int(n) > r.remaining() {
		// Each column takes at least one byte: refuse before allocating.
		r.setFail(wire.ReasonMalformed, "tuple columns")
		return dst
	}
	if cap(dst) < int(n) {
		dst = make([]TupleColumn, 0, n)
	}
	for range n {
		at := r.off
		kind := ColumnKind(r.u8("column kind"))
		switch kind {
		case ColumnNull:
			dst = append(dst, TupleColumn{Kind: kind})
		case ColumnUnchanged:
			if !unchanged {
				r.off = at
				r.setFail(wire.ReasonInvalidValue, "unchanged TOAST column ('u') outside the new row of an Update")
				return dst
			}
			dst = append(dst, TupleColumn{Kind: kind})
		case ColumnText, ColumnBinary:
			if kind == ColumnBinary && !d.opts.Binary {
				r.off = at
				r.setFail(wire.ReasonInvalidValue, "binary column ('b') on a stream started without binary")
				return dst
			}
			l := int32(r.u32("column length"))
			if l < 0 {
				r.off -= 4
				r.setFail(wire.ReasonInvalidValue, "negative column length")
				return dst
			}
			vAt := r.off
			v := r.bytes(int(l), "column value")
			if r.fail != wire.ReasonUnknown {
				return dst
			}
			if kind == ColumnText && !d.opts.SkipTextValidation {
				if ok, off, reason := wire.CheckText(v); !ok {
					r.off = vAt + off
					r.setFail(reason, "text column value is not valid text")
					return dst
				}
			}
			dst = append(dst, TupleColumn{Kind: kind, Data: v})
		default:
			if r.fail == wire.ReasonUnknown {
				r.off = at
				r.setFail(wire.ReasonInvalidValue, "column kind "+strconv.QuoteRune(rune(kind)))
			}
			return dst
		}
	}
	return dst
}

// relation looks up the relation of a change.
func (d *Decoder) relation(typ byte, id uint32) (*Relation, *DecodeError) {
	rel := d.rels[id]
	if rel == nil {
		return nil, stateErr(typ, "change for relation OID "+strconv.FormatUint(uint64(id), 10)+" with no Relation message before it")
	}
	return rel, nil
}

// columns checks that a tuple has as many columns as its relation.
func columns(typ byte, rel *Relation, t []TupleColumn) *DecodeError {
	if len(t) != len(rel.Columns) {
		return decodeErr(wire.ReasonFieldCountMismatch, typ, -1, "tuple with "+strconv.Itoa(len(t))+" columns, relation "+
			strconv.Quote(rel.Name)+" has "+strconv.Itoa(len(rel.Columns)))
	}
	return nil
}

// keyOnly checks a key-only old tuple: columns outside the key are not sent.
func keyOnly(typ byte, rel *Relation, t []TupleColumn) *DecodeError {
	for i := range t {
		if t[i].Kind != ColumnNull && !rel.Columns[i].Key() {
			return decodeErr(wire.ReasonInvalidValue, typ, -1, "key-only old tuple carries non-key column "+strconv.Quote(rel.Columns[i].Name))
		}
	}
	return nil
}

// newMarker reads the 'N' that precedes a new tuple.
func (d *Decoder) newMarker(b uint8) {
	if b != 'N' && d.r.fail == wire.ReasonUnknown {
		d.r.off--
		d.r.setFail(wire.ReasonInvalidValue, "tuple marker "+strconv.QuoteRune(rune(b))+" (expected 'N')")
	}
}

func (d *Decoder) decodeInsert(walStart LSN) (Message, *DecodeError) {
	const typ = 'I'
	if err := d.needBlock(typ, "Insert"); err != nil {
		return nil, err
	}
	r, m := &d.r, &d.insert
	m.Xid = d.readXid()
	m.RelationID = r.u32("relation OID")
	d.newMarker(r.u8("tuple marker"))
	m.New.Columns = d.tuple(m.New.Columns, false)
	if err := d.done(typ); err != nil {
		return nil, err
	}
	rel, err := d.relation(typ, m.RelationID)
	if err != nil {
		return nil, err
	}
	if err := columns(typ, rel, m.New.Columns); err != nil {
		return nil, err
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	m.Relation = rel
	return m, nil
}

func (d *Decoder) decodeUpdate(walStart LSN) (Message, *DecodeError) {
	const typ = 'U'
	if err := d.needBlock(typ, "Update"); err != nil {
		return nil, err
	}
	r, m := &d.r, &d.update
	m.Xid = d.readXid()
	m.RelationID = r.u32("relation OID")
	k := r.u8("tuple marker")
	m.OldKind = 0
	m.Old.Columns = m.Old.Columns[:0]
	if k == 'K' || k == 'O' {
		m.OldKind = k
		m.Old.Columns = d.tuple(m.Old.Columns, false)
		k = r.u8("tuple marker")
	}
	d.newMarker(k)
	m.New.Columns = d.tuple(m.New.Columns, true)
	if err := d.done(typ); err != nil {
		return nil, err
	}
	rel, err := d.relation(typ, m.RelationID)
	if err != nil {
		return nil, err
	}
	if m.OldKind != 0 {
		if err := columns(typ, rel, m.Old.Columns); err != nil {
			return nil, err
		}
	}
	if err := columns(typ, rel, m.New.Columns); err != nil {
		return nil, err
	}
	if m.OldKind == 'K' {
		if err := keyOnly(typ, rel, m.Old.Columns); err != nil {
			return nil, err
		}
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	m.Relation = rel
	return m, nil
}

func (d *Decoder) decodeDelete(walStart LSN) (Message, *DecodeError) {
	const typ = 'D'
	if err := d.needBlock(typ, "Delete"); err != nil {
		return nil, err
	}
	r, m := &d.r, &d.del
	m.Xid = d.readXid()
	m.RelationID = r.u32("relation OID")
	at := r.off
	m.OldKind = r.u8("tuple marker")
	if r.fail == wire.ReasonUnknown && m.OldKind != 'K' && m.OldKind != 'O' {
		r.off = at
		r.setFail(wire.ReasonInvalidValue, "tuple marker "+strconv.QuoteRune(rune(m.OldKind))+" (expected 'K' or 'O')")
	}
	m.Old.Columns = d.tuple(m.Old.Columns, false)
	if err := d.done(typ); err != nil {
		return nil, err
	}
	rel, err := d.relation(typ, m.RelationID)
	if err != nil {
		return nil, err
	}
	if err := columns(typ, rel, m.Old.Columns); err != nil {
		return nil, err
	}
	if m.OldKind == 'K' {
		if err := keyOnly(typ, rel, m.Old.Columns); err != nil {
			return nil, err
		}
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	m.Relation = rel
	return m, nil
}

func (d *Decoder) decodeTruncate(walStart LSN) (Message, *DecodeError) {
	const typ = 'T'
	if err := d.needBlock(typ, "Truncate"); err != nil {
		return nil, err
	}
	r, m := &d.r, &d.trunc
	m.Xid = d.readXid()
	n := r.u32("relation count")
	at := r.off
	m.Options = r.u8("options")
	m.RelationIDs = m.RelationIDs[:0]
	m.Relations = m.Relations[:0]
	if r.fail == wire.ReasonUnknown {
		switch {
		case m.Options&^(TruncateCascade|TruncateRestartIdentity) != 0:
			r.off = at
			r.setFail(wire.ReasonInvalidValue, "truncate options "+strconv.Itoa(int(m.Options)))
		case n == 0:
			r.off = at - 4
			r.setFail(wire.ReasonInvalidValue, "relation count 0")
		case uint64(n)*4 > uint64(r.remaining()):
			r.setFail(wire.ReasonMalformed, "relation OIDs")
		}
	}
	if r.fail == wire.ReasonUnknown {
		for range n {
			m.RelationIDs = append(m.RelationIDs, r.u32("relation OID"))
		}
	}
	if err := d.done(typ); err != nil {
		return nil, err
	}
	for _, id := range m.RelationIDs {
		rel, err := d.relation(typ, id)
		if err != nil {
			return nil, err
		}
		m.Relations = append(m.Relations, rel)
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *Decoder) decodeMessage(walStart LSN) (Message, *DecodeError) {
	const typ = 'M'
	if !d.opts.Messages {
		return nil, stateErr(typ, "logical decoding message on a stream started without messages")
	}
	r, m := &d.r, &d.msg
	m.Xid = d.readXid()
	at := r.off
	m.Flags = r.u8("flags")
	m.LSN = r.lsn("message LSN")
	prefixAt := r.off
	prefix := r.cstr("prefix")
	l := int32(r.u32("content length"))
	if r.fail == wire.ReasonUnknown && l < 0 {
		r.off -= 4
		r.setFail(wire.ReasonInvalidValue, "negative content length")
	}
	m.Content = r.bytes(int(l), "content")
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := text(typ, prefixAt, "prefix", prefix); err != nil {
		return nil, err
	}
	switch {
	case m.Flags > 1:
		return nil, decodeErr(wire.ReasonInvalidValue, typ, at, "flags "+strconv.Itoa(int(m.Flags))+" are not 0 or 1")
	case m.Flags == 1 && d.block == blockNone:
		return nil, stateErr(typ, "transactional message outside a transaction or streamed block")
	case m.Flags == 0 && d.block != blockNone:
		return nil, stateErr(typ, "non-transactional message "+d.where())
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	if string(prefix) != m.Prefix {
		m.Prefix = string(prefix)
	}
	return m, nil
}

func (d *Decoder) decodeStreamStart(walStart LSN) (Message, *DecodeError) {
	const typ = 'S'
	r, m := &d.r, &d.sstart
	m.Xid = r.u32("transaction ID")
	at := r.off
	first := r.u8("first-segment flag")
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := d.needStreaming(typ, "StreamStart"); err != nil {
		return nil, err
	}
	if err := d.needNone(typ, "StreamStart"); err != nil {
		return nil, err
	}
	if m.Xid == 0 {
		return nil, decodeErr(wire.ReasonInvalidValue, typ, 1, "transaction ID 0")
	}
	_, open := d.streams[m.Xid]
	switch first {
	case 1:
		if open {
			return nil, stateErr(typ, "first segment of streamed transaction "+strconv.FormatUint(uint64(m.Xid), 10)+" that is already open")
		}
		d.streams[m.Xid] = 0
	case 0:
		if !open {
			return nil, stateErr(typ, "later segment of streamed transaction "+strconv.FormatUint(uint64(m.Xid), 10)+" that was never opened")
		}
	default:
		return nil, decodeErr(wire.ReasonInvalidValue, typ, at, "first-segment flag "+strconv.Itoa(int(first))+" is not 0 or 1")
	}
	m.FirstSegment = first == 1
	d.block, d.xid = blockStream, m.Xid
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	d.originOK = m.FirstSegment
	return m, nil
}

func (d *Decoder) decodeStreamStop(walStart LSN) (Message, *DecodeError) {
	const typ = 'E'
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if d.block != blockStream {
		return nil, stateErr(typ, "StreamStop "+d.where())
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	d.block = blockNone
	return &d.sstop, nil
}

// openStream checks a message that ends (part of) a streamed transaction.
func (d *Decoder) openStream(typ byte, what string, xid uint32) *DecodeError {
	if err := d.needStreaming(typ, what); err != nil {
		return err
	}
	if err := d.needNone(typ, what); err != nil {
		return err
	}
	if _, ok := d.streams[xid]; !ok {
		return stateErr(typ, what+" for transaction "+strconv.FormatUint(uint64(xid), 10)+" that is not an open streamed transaction")
	}
	return nil
}

func (d *Decoder) decodeStreamCommit(walStart LSN) (Message, *DecodeError) {
	const typ = 'c'
	r, m := &d.r, &d.scommit
	m.Xid = r.u32("transaction ID")
	m.Flags = r.u8("flags")
	m.CommitLSN = r.lsn("commit LSN")
	m.EndLSN = r.lsn("end LSN")
	m.CommitTime = TimeFromPG(int64(r.u64("commit time")))
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := flagsZero(typ, 5, m.Flags); err != nil {
		return nil, err
	}
	if err := d.openStream(typ, "StreamCommit", m.Xid); err != nil {
		return nil, err
	}
	if err := d.advanceStream(typ, m.Xid, walStart); err != nil {
		return nil, err
	}
	if err := d.endAt(typ, m.CommitLSN, m.EndLSN); err != nil {
		return nil, err
	}
	delete(d.streams, m.Xid)
	return m, nil
}

func (d *Decoder) decodeStreamAbort(walStart LSN) (Message, *DecodeError) {
	const typ = 'A'
	r, m := &d.r, &d.sabort
	m.Xid = r.u32("transaction ID")
	m.SubXid = r.u32("subtransaction ID")
	m.AbortInfo = d.opts.ParallelStreaming
	m.AbortLSN, m.AbortTime = 0, time.Time{}
	if m.AbortInfo {
		m.AbortLSN = r.lsn("abort LSN")
		m.AbortTime = TimeFromPG(int64(r.u64("abort time")))
	}
	if err := d.done(typ); err != nil {
		return nil, err
	}
	if err := d.openStream(typ, "StreamAbort", m.Xid); err != nil {
		return nil, err
	}
	if m.SubXid == 0 {
		return nil, decodeErr(wire.ReasonInvalidValue, typ, 5, "subtransaction ID 0")
	}
	if err := d.advanceStream(typ, m.Xid, walStart); err != nil {
		return nil, err
	}
	if m.SubXid == m.Xid {
		delete(d.streams, m.Xid)
	}
	return m, nil
}

// prepareFields reads the layout shared by Prepare and StreamPrepare.
func (d *Decoder) prepareFields(m *Prepare) []byte {
	r := &d.r
	m.Flags = r.u8("flags")
	m.PrepareLSN = r.lsn("prepare LSN")
	m.EndLSN = r.lsn("end LSN")
	m.PrepareTime = TimeFromPG(int64(r.u64("prepare time")))
	m.Xid = r.u32("transaction ID")
	return r.cstr("GID")
}

func (d *Decoder) decodeBeginPrepare(walStart LSN) (Message, *DecodeError) {
	const typ = 'b'
	r, m := &d.r, &d.bprep
	m.PrepareLSN = r.lsn("prepare LSN")
	m.EndLSN = r.lsn("end LSN")
	m.PrepareTime = TimeFromPG(int64(r.u64("prepare time")))
	m.Xid = r.u32("transaction ID")
	at := r.off
	gid := r.cstr("GID")
	if err := d.twoPhaseFields(typ, "BeginPrepare", at, gid, nil); err != nil {
		return nil, err
	}
	if err := d.needNone(typ, "BeginPrepare"); err != nil {
		return nil, err
	}
	if m.PrepareLSN < d.lastEnd {
		return nil, backwards(typ, "prepare LSN", m.PrepareLSN, d.lastEnd)
	}
	if m.EndLSN <= m.PrepareLSN {
		return nil, backwards(typ, "end LSN", m.EndLSN, m.PrepareLSN+1)
	}
	m.GID = string(gid)
	d.block, d.xid, d.blockLSN, d.originOK = blockPrepare, m.Xid, walStart, true
	return m, nil
}

func (d *Decoder) decodePrepare(walStart LSN) (Message, *DecodeError) {
	const typ = 'P'
	m := &d.prep
	at := d.r.off + 1 + 8 + 8 + 8 + 4
	gid := d.prepareFields(m)
	if err := d.twoPhaseFields(typ, "Prepare", at, gid, &m.Flags); err != nil {
		return nil, err
	}
	if d.block != blockPrepare {
		return nil, stateErr(typ, "Prepare "+d.where())
	}
	b := &d.bprep
	if m.PrepareLSN != b.PrepareLSN || m.EndLSN != b.EndLSN || m.Xid != b.Xid || string(gid) != b.GID {
		return nil, stateErr(typ, "Prepare does not match its BeginPrepare (LSNs, transaction ID or GID differ)")
	}
	if err := d.advance(typ, walStart); err != nil {
		return nil, err
	}
	if err := d.endAt(typ, m.PrepareLSN, m.EndLSN); err != nil {
		return nil, err
	}
	m.GID = b.GID
	d.block = blockNone
	return m, nil
}

func (d *Decoder) decodeStreamPrepare(walStart LSN) (Message, *DecodeError) {
	const typ = 'p'
	m := &d.sprep
	at := d.r.off + 1 + 8 + 8 + 8 + 4
	gid := d.prepareFields((*Prepare)(m))
	if err := d.twoPhaseFields(typ, "StreamPrepare", at, gid, &m.Flags); err != nil {
		return nil, err
	}
	if err := d.openStream(typ, "StreamPrepare", m.Xid); err != nil {
		return nil, err
	}
	if err := d.advanceStream(typ, m.Xid, walStart); err != nil {
		return nil, err
	}
	if err := d.endAt(typ, m.PrepareLSN, m.EndLSN); err != nil {
		return nil, err
	}
	delete(d.streams, m.Xid)
	m.GID = string(gid)
	return m, nil
}

func (d *Decoder) decodeCommitPrepared() (Message, *DecodeError) {
	const typ = 'K'
	r, m := &d.r, &d.cprep
	m.Flags = r.u8("flags")
	m.CommitLSN = r.lsn("commit LSN")
	m.EndLSN = r.lsn("end LSN")
	m.CommitTime = TimeFromPG(int64(r.u64("commit time")))
	m.Xid = r.u32("transaction ID")
	at := r.off
	gid := r.cstr("GID")
	if err := d.twoPhaseFields(typ, "CommitPrepared", at, gid, &m.Flags); err != nil {
		return nil, err
	}
	if err := d.needNone(typ, "CommitPrepared"); err != nil {
		return nil, err
	}
	if err := d.endAt(typ, m.CommitLSN, m.EndLSN); err != nil {
		return nil, err
	}
	m.GID = string(gid)
	return m, nil
}

func (d *Decoder) decodeRollbackPrepared() (Message, *DecodeError) {
	const typ = 'r'
	r, m := &d.r, &d.rprep
	m.Flags = r.u8("flags")
	m.PrepareEndLSN = r.lsn("prepare end LSN")
	m.RollbackEndLSN = r.lsn("rollback end LSN")
	m.PrepareTime = TimeFromPG(int64(r.u64("prepare time")))
	m.RollbackTime = TimeFromPG(int64(r.u64("rollback time")))
	m.Xid = r.u32("transaction ID")
	at := r.off
	gid := r.cstr("GID")
	if err := d.twoPhaseFields(typ, "RollbackPrepared", at, gid, &m.Flags); err != nil {
		return nil, err
	}
	if err := d.needNone(typ, "RollbackPrepared"); err != nil {
		return nil, err
	}
	if m.RollbackEndLSN < d.lastEnd {
		return nil, backwards(typ, "rollback end LSN", m.RollbackEndLSN, d.lastEnd)
	}
	if m.RollbackEndLSN <= m.PrepareEndLSN {
		return nil, backwards(typ, "rollback end LSN", m.RollbackEndLSN, m.PrepareEndLSN+1)
	}
	d.lastEnd = m.RollbackEndLSN
	m.GID = string(gid)
	return m, nil
}
