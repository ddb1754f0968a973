package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Default buffer sizes of a Reader.
const (
	// DefaultBufferSize is the initial size of a Reader's buffer: 8 KiB,
	// the size of PostgreSQL's send buffer (PQ_SEND_BUFFER_SIZE), which
	// the server fills before it writes. A larger buffer saves reads only
	// when the client lags behind the server, and costs every row: a read
	// of 32 KiB passes through a 32 KiB L1 data cache and evicts the start
	// of what it read before the rows there are checked (bench/README.md
	// §1 has the measurement).
	DefaultBufferSize = 8 << 10
	// DefaultRetainBuffer is the largest buffer a Reader keeps once the
	// message that needed it has been consumed.
	DefaultRetainBuffer = 4 << 20
)

// ReaderOptions configure a Reader. The zero value uses the defaults.
type ReaderOptions struct {
	// Limits are the per-type body caps. The zero value uses the defaults.
	Limits Limits
	// BufferSize is the initial buffer size. Zero means DefaultBufferSize.
	BufferSize int
	// RetainBuffer is the largest buffer kept after a large message has been
	// consumed; a larger one is released. Zero means DefaultRetainBuffer.
	RetainBuffer int
	// Gate, if set, is asked after every header and before the body is read
	// or allocated whether a message of this type and body length may arrive
	// now. A non-nil *ProtocolError refuses it (the Reader fills in the
	// offset). Tracker.Admit has this signature.
	Gate func(typ byte, bodyLen int) *ProtocolError
}

// Reader frames and strictly decodes the backend messages of one stream. It
// reads the header itself, checks the declared length against the cap for its
// type before the body is read, and keeps the body in a reusable buffer.
//
// A Reader is not safe for concurrent use. After it returns a *ProtocolError
// it returns the same error from every later call. Any other error from the
// underlying reader (a deadline, say) leaves the Reader where it was: the
// bytes already read stay buffered and a later call resumes the message.
type Reader struct {
	src     io.Reader
	buf     []byte // buffered input is buf[r:w]
	r, w    int
	pending int   // bytes of the last returned message still to consume
	base    int64 // stream offset of buf[0]
	msgOff  int64 // stream offset of the last message's type byte
	bounds  [256]bounds
	initial int
	retain  int
	gate    func(byte, int) *ProtocolError
	err     *ProtocolError
	held    error // a source error a fast path met, returned by the next read
	dec     decoder
}

// NewReader returns a Reader that reads backend messages from src.
func NewReader(src io.Reader, opts ReaderOptions) *Reader {
	rd := &Reader{src: src, bounds: opts.Limits.table(), gate: opts.Gate}
	rd.initial = opts.BufferSize
	if rd.initial <= 0 {
		rd.initial = DefaultBufferSize
	}
	rd.retain = opts.RetainBuffer
	if rd.retain <= 0 {
		rd.retain = DefaultRetainBuffer
	}
	if rd.retain < rd.initial {
		rd.retain = rd.initial
	}
	rd.buf = make([]byte, rd.initial)
	return rd
}

// Err returns the ProtocolError that stopped the Reader, or nil.
func (rd *Reader) Err() error {
	if rd.err == nil {
		return nil
	}
	return rd.err
}

// Offset returns the stream offset of the type byte of the message last
// returned by Next or Receive.
func (rd *Reader) Offset() int64 { return rd.msgOff }

// Buffered returns the number of bytes read from the source but not yet
// returned as part of a message.
func (rd *Reader) Buffered() int { return rd.w - rd.r - rd.pending }

// Next reads the next message and returns its type byte and body. The body
// aliases the Reader's buffer and is valid until the next call to Next or
// Receive. At a clean message boundary the end of the stream is io.EOF; the
// end of the stream inside a message is a *ProtocolError with
// ReasonTruncated.
func (rd *Reader) Next() (byte, []byte, error) {
	if rd.err != nil {
		return 0, nil, rd.err
	}
	rd.consume()
	if err := rd.fill(5); err != nil {
		return 0, nil, rd.readErr(err, 0)
	}
	hdr := rd.buf[rd.r : rd.r+5]
	typ := hdr[0]
	rd.msgOff = rd.base + int64(rd.r)
	n := int32(binary.BigEndian.Uint32(hdr[1:5]))
	if n < 4 {
		return 0, nil, rd.fail(&ProtocolError{Reason: ReasonBadLength, MsgType: typ, Offset: rd.msgOff + 1,
			Detail: "length word " + strconv.Itoa(int(n)) + " is below 4"})
	}
	size := int(n) - 4
	b := rd.bounds[typ]
	if b.max < 0 {
		if frontendOnly[typ] {
			return 0, nil, rd.fail(&ProtocolError{Reason: ReasonFrontendMessageType, MsgType: typ, Offset: rd.msgOff,
				Detail: "type byte " + strconv.QuoteRune(rune(typ)) + " is sent only by frontends"})
		}
		return 0, nil, rd.fail(&ProtocolError{Reason: ReasonUnknownMessageType, MsgType: typ, Offset: rd.msgOff,
			Detail: "type byte " + strconv.QuoteRune(rune(typ)) + " is not a backend message"})
	}
	switch {
	case b.min == b.max && size != b.min:
		return 0, nil, rd.fail(&ProtocolError{Reason: ReasonBadLength, MsgType: typ, Offset: rd.msgOff + 1,
			Detail: "body of " + strconv.Itoa(size) + " bytes, the message has exactly " + strconv.Itoa(b.min)})
	case size < b.min:
		return 0, nil, rd.fail(&ProtocolError{Reason: ReasonBadLength, MsgType: typ, Offset: rd.msgOff + 1,
			Detail: "body of " + strconv.Itoa(size) + " bytes, the message needs at least " + strconv.Itoa(b.min)})
	case size > b.max:
		tl := &MessageTooLargeError{MsgType: typ, Max: b.max, Got: int64(size)}
		return 0, nil, rd.fail(&ProtocolError{Reason: ReasonMessageTooLarge, MsgType: typ, Offset: rd.msgOff + 1,
			Detail: tl.Error(), Err: tl})
	}
	if rd.gate != nil {
		if pe := rd.gate(typ, size); pe != nil {
			pe.Offset = rd.msgOff
			return 0, nil, rd.fail(pe)
		}
	}
	if err := rd.fill(5 + size); err != nil {
		return 0, nil, rd.readErr(err, typ)
	}
	rd.pending = 5 + size
	start := rd.r + 5
	return typ, rd.buf[start : start+size : start+size], nil
}

// Receive reads the next message and decodes it strictly into a pgproto3
// message owned by the Reader. The message and every slice inside it alias
// the Reader's buffer and are valid until the next call to Next or Receive.
// Text fields are checked for valid UTF-8; text-format DataRow values are
// checked by the Tracker, which knows the column formats.
func (rd *Reader) Receive() (pgproto3.BackendMessage, error) {
	typ, body, err := rd.Next()
	if err != nil {
		return nil, err
	}
	msg, derr := rd.dec.decode(typ, body)
	if derr != nil {
		derr.MsgType = typ
		derr.Offset += rd.msgOff + 5
		return nil, rd.fail(derr)
	}
	return msg, nil
}

// take makes the size bytes at buf[r:] the message last returned: a fast
// path (Frontend.NextRow, NextCopyData) that accepted a buffered message
// consumes it this way, and the next call drops it.
func (rd *Reader) take(r, size int) {
	rd.r = r
	rd.pending = size
	rd.msgOff = rd.base + int64(r)
}

// complete is Frontend.ReadRow's read step, for a message that straddles
// the end of the buffered input:
// if the message at buf[r:] (r = rd.r + rd.pending) has type typ, a
// buffered header, a length whose body is within typ's cap, and is not
// wholly buffered, complete drops the message last returned and reads until
// the message is buffered. It reports whether it did; the fast path then
// checks the message as usual.
//
// A source error does not surface here: complete keeps it, and the next
// read of the Reader returns it instead of reading, so the Receive that
// follows meets it where it would have met it itself (the bytes read so
// far stay buffered, as fill keeps them). The caller has established that
// the message may arrive now (the gate would admit it).
func (rd *Reader) complete(r int, typ byte) bool {
	avail := rd.w - r
	if avail < 5 || rd.buf[r] != typ {
		return false
	}
	size := 1 + int(binary.BigEndian.Uint32(rd.buf[r+1:r+5])) // no overflow on 64-bit ints
	b := rd.bounds[typ]
	if size <= avail || size-5 < b.min || size-5 > b.max {
		return false
	}
	rd.consume()
	if err := rd.fill(size); err != nil {
		rd.held = err
		return false
	}
	return true
}

// consume drops the message last returned and, when the buffer is empty and
// was grown past the retain size, releases it.
func (rd *Reader) consume() {
	rd.r += rd.pending
	rd.pending = 0
	if rd.r == rd.w {
		rd.base += int64(rd.r)
		rd.r, rd.w = 0, 0
		if len(rd.buf) > rd.retain {
			rd.buf = make([]byte, rd.initial)
		}
	}
}

// fill makes sure at least n bytes are buffered at rd.r. It keeps whatever it
// read when the source fails, so a later call resumes.
func (rd *Reader) fill(n int) error {
	if rd.w-rd.r >= n {
		return nil
	}
	if len(rd.buf)-rd.r < n {
		if n <= len(rd.buf) && rd.r > 0 {
			copy(rd.buf, rd.buf[rd.r:rd.w])
		} else {
			size := 2 * len(rd.buf)
			if size < n {
				size = n
			}
			nb := make([]byte, size)
			copy(nb, rd.buf[rd.r:rd.w])
			rd.buf = nb
		}
		rd.base += int64(rd.r)
		rd.w -= rd.r
		rd.r = 0
	}
	for rd.w-rd.r < n {
		if err := rd.held; err != nil {
			rd.held = nil
			return err
		}
		m, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += m
		if err != nil {
			if rd.w-rd.r >= n {
				return nil
			}
			return err
		}
		if m == 0 {
			// A reader that returns (0, nil) repeatedly would spin; treat
			// it as a stall the caller can retry.
			return io.ErrNoProgress
		}
	}
	return nil
}

// readErr maps a source error. EOF with nothing buffered is a clean end of
// stream; EOF inside a message is a truncation. Other errors pass through.
func (rd *Reader) readErr(err error, typ byte) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if rd.w == rd.r && errors.Is(err, io.EOF) {
			return io.EOF
		}
		where := "inside a message header"
		if typ != 0 {
			where = "inside a message body"
		}
		return rd.fail(&ProtocolError{Reason: ReasonTruncated, MsgType: typ, Offset: rd.base + int64(rd.w),
			Detail: "stream ended " + where, Err: io.ErrUnexpectedEOF})
	}
	return err
}

func (rd *Reader) fail(pe *ProtocolError) error {
	rd.err = pe
	return pe
}
