package replication

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/pgstrict/pgstrict/wire"
)

// The CopyData payloads of a replication stream (§6.4 of the protocol
// reference). Each Parse function takes the whole CopyData payload, sub-type
// byte included; each Encode method produces it.

// XLogData ('w') carries WAL: raw WAL bytes on a physical stream, one
// output-plugin message on a logical stream.
type XLogData struct {
	// WALStart is the WAL position of the start of Data. On a logical
	// stream it is the LSN of the record the message comes from, or 0 for
	// all but the last message written for one record.
	WALStart LSN
	// ServerWALEnd is the server's current end of WAL (physical) or, on a
	// logical stream, equal to WALStart.
	ServerWALEnd LSN
	// ServerTime is the server's clock when it sent the message.
	ServerTime time.Time
	// Data is the payload; it aliases the input and is valid until the
	// next call that reads the stream.
	Data []byte
}

// xlogHeader is the size of the XLogData payload before Data.
const xlogHeader = 1 + 8 + 8 + 8

// ParseXLogData parses an XLogData CopyData payload. Data aliases payload.
func ParseXLogData(payload []byte) (XLogData, error) {
	var x XLogData
	err := parseXLogData(&x, payload)
	return x, err
}

func parseXLogData(x *XLogData, p []byte) error {
	if len(p) < xlogHeader || p[0] != 'w' {
		return shortPayload('w', p, xlogHeader, false)
	}
	x.WALStart = LSN(binary.BigEndian.Uint64(p[1:]))
	x.ServerWALEnd = LSN(binary.BigEndian.Uint64(p[9:]))
	x.ServerTime = TimeFromPG(int64(binary.BigEndian.Uint64(p[17:])))
	x.Data = p[xlogHeader:len(p):len(p)]
	return nil
}

// MessageType implements Message.
func (*XLogData) MessageType() byte { return 'w' }

// Encode implements Message: it appends the CopyData payload.
func (x *XLogData) Encode(dst []byte) []byte {
	dst = append(dst, 'w')
	dst = put64(dst, uint64(x.WALStart))
	dst = put64(dst, uint64(x.ServerWALEnd))
	dst = putTime(dst, x.ServerTime)
	return append(dst, x.Data...)
}

// PrimaryKeepalive ('k') is the server's heartbeat.
type PrimaryKeepalive struct {
	// ServerWALEnd is the server's current end of WAL (the position sent
	// so far).
	ServerWALEnd LSN
	// ServerTime is the server's clock when it sent the message.
	ServerTime time.Time
	// ReplyRequested asks the client to answer with a status update at
	// once, or be disconnected after wal_sender_timeout.
	ReplyRequested bool
}

const keepaliveSize = 1 + 8 + 8 + 1

// ParsePrimaryKeepalive parses a keepalive CopyData payload: exactly 18
// bytes, with a reply-requested byte of 0 or 1.
func ParsePrimaryKeepalive(payload []byte) (PrimaryKeepalive, error) {
	var k PrimaryKeepalive
	p := payload
	if len(p) != keepaliveSize || p[0] != 'k' {
		return k, shortPayload('k', p, keepaliveSize, true)
	}
	k.ServerWALEnd = LSN(binary.BigEndian.Uint64(p[1:]))
	k.ServerTime = TimeFromPG(int64(binary.BigEndian.Uint64(p[9:])))
	switch p[17] {
	case 0:
	case 1:
		k.ReplyRequested = true
	default:
		return k, &DecodeError{Reason: wire.ReasonInvalidValue, MsgType: 'k', Offset: 17,
			Detail: "reply-requested byte " + strconv.Itoa(int(p[17])) + " is not 0 or 1"}
	}
	return k, nil
}

// Encode appends the CopyData payload.
func (k *PrimaryKeepalive) Encode(dst []byte) []byte {
	dst = append(dst, 'k')
	dst = put64(dst, uint64(k.ServerWALEnd))
	dst = putTime(dst, k.ServerTime)
	return append(dst, boolByte(k.ReplyRequested))
}

// StandbyStatusUpdate ('r') reports the client's progress. Each position is
// the end of what was processed (the last byte + 1): a logical slot's
// confirmed_flush_lsn and a physical slot's restart_lsn follow WALFlushed.
type StandbyStatusUpdate struct {
	// WALWritten is the end of the WAL received and written.
	WALWritten LSN
	// WALFlushed is the end of the WAL durably stored (processed).
	WALFlushed LSN
	// WALApplied is the end of the WAL applied.
	WALApplied LSN
	// ClientTime is the client's clock.
	ClientTime time.Time
	// ReplyRequested asks the server to answer with a keepalive at once.
	ReplyRequested bool
}

const statusSize = 1 + 8 + 8 + 8 + 8 + 1

// Encode appends the CopyData payload.
func (u *StandbyStatusUpdate) Encode(dst []byte) []byte {
	dst = append(dst, 'r')
	dst = put64(dst, uint64(u.WALWritten))
	dst = put64(dst, uint64(u.WALFlushed))
	dst = put64(dst, uint64(u.WALApplied))
	dst = putTime(dst, u.ClientTime)
	return append(dst, boolByte(u.ReplyRequested))
}

// ParseStandbyStatusUpdate parses a status update payload (for servers and
// tests): exactly 34 bytes.
func ParseStandbyStatusUpdate(payload []byte) (StandbyStatusUpdate, error) {
	var u StandbyStatusUpdate
	p := payload
	if len(p) != statusSize || p[0] != 'r' {
		return u, shortPayload('r', p, statusSize, true)
	}
	u.WALWritten = LSN(binary.BigEndian.Uint64(p[1:]))
	u.WALFlushed = LSN(binary.BigEndian.Uint64(p[9:]))
	u.WALApplied = LSN(binary.BigEndian.Uint64(p[17:]))
	u.ClientTime = TimeFromPG(int64(binary.BigEndian.Uint64(p[25:])))
	switch p[33] {
	case 0:
	case 1:
		u.ReplyRequested = true
	default:
		return u, &DecodeError{Reason: wire.ReasonInvalidValue, MsgType: 'r', Offset: 33,
			Detail: "reply-requested byte " + strconv.Itoa(int(p[33])) + " is not 0 or 1"}
	}
	return u, nil
}

// HotStandbyFeedback ('h') tells a primary the oldest transaction a standby
// still needs (physical replication). A zero Xmin clears it.
type HotStandbyFeedback struct {
	// ClientTime is the client's clock.
	ClientTime time.Time
	// Xmin and XminEpoch are the standby's oldest xmin.
	Xmin, XminEpoch uint32
	// CatalogXmin and CatalogXminEpoch are the oldest catalog xmin of the
	// standby's replication slots.
	CatalogXmin, CatalogXminEpoch uint32
}

const feedbackSize = 1 + 8 + 4*4

// Encode appends the CopyData payload.
func (h *HotStandbyFeedback) Encode(dst []byte) []byte {
	dst = append(dst, 'h')
	dst = putTime(dst, h.ClientTime)
	dst = put32(dst, h.Xmin)
	dst = put32(dst, h.XminEpoch)
	dst = put32(dst, h.CatalogXmin)
	return put32(dst, h.CatalogXminEpoch)
}

// ParseHotStandbyFeedback parses a hot-standby feedback payload (for servers
// and tests): exactly 25 bytes.
func ParseHotStandbyFeedback(payload []byte) (HotStandbyFeedback, error) {
	var h HotStandbyFeedback
	p := payload
	if len(p) != feedbackSize || p[0] != 'h' {
		return h, shortPayload('h', p, feedbackSize, true)
	}
	h.ClientTime = TimeFromPG(int64(binary.BigEndian.Uint64(p[1:])))
	h.Xmin = binary.BigEndian.Uint32(p[9:])
	h.XminEpoch = binary.BigEndian.Uint32(p[13:])
	h.CatalogXmin = binary.BigEndian.Uint32(p[17:])
	h.CatalogXminEpoch = binary.BigEndian.Uint32(p[21:])
	return h, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// shortPayload reports a payload of the wrong sub-type or size.
func shortPayload(typ byte, p []byte, size int, exact bool) *DecodeError {
	switch {
	case len(p) == 0:
		return &DecodeError{Reason: wire.ReasonMalformed, MsgType: typ, Offset: 0, Detail: "empty payload"}
	case p[0] != typ:
		return &DecodeError{Reason: wire.ReasonInvalidValue, MsgType: typ, Offset: 0,
			Detail: "sub-type " + strconv.QuoteRune(rune(p[0])) + " is not " + strconv.QuoteRune(rune(typ))}
	case len(p) > size && exact:
		return &DecodeError{Reason: wire.ReasonTrailingBytes, MsgType: typ, Offset: size,
			Detail: strconv.Itoa(len(p)) + " bytes, the message has exactly " + strconv.Itoa(size)}
	}
	return &DecodeError{Reason: wire.ReasonMalformed, MsgType: typ, Offset: len(p),
		Detail: strconv.Itoa(len(p)) + " bytes, the message needs " + strconv.Itoa(size)}
}
