package wire

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"
)

// decoder holds one flyweight per backend message type. Decoded messages
// alias the body they were decoded from.
type decoder struct {
	// rowDescBody is a copy of the body of the last RowDescription decoded
	// without error, which d.rowDesc holds (its names alias the copy):
	// a repeated query's description is the same bytes, accepted again
	// without decoding.
	rowDescBody []byte
	rowDescOK   bool

	authOk        pgproto3.AuthenticationOk
	authCleartext pgproto3.AuthenticationCleartextPassword
	authMD5       pgproto3.AuthenticationMD5Password
	authGSS       pgproto3.AuthenticationGSS
	authGSSCont   pgproto3.AuthenticationGSSContinue
	authSASL      pgproto3.AuthenticationSASL
	authSASLCont  pgproto3.AuthenticationSASLContinue
	authSASLFinal pgproto3.AuthenticationSASLFinal
	npv           pgproto3.NegotiateProtocolVersion
	keyData       pgproto3.BackendKeyData
	paramStatus   pgproto3.ParameterStatus
	ready         pgproto3.ReadyForQuery
	errResp       pgproto3.ErrorResponse
	notice        pgproto3.NoticeResponse
	notification  pgproto3.NotificationResponse
	rowDesc       pgproto3.RowDescription
	dataRow       pgproto3.DataRow
	cmdComplete   pgproto3.CommandComplete
	emptyQuery    pgproto3.EmptyQueryResponse
	parseComplete pgproto3.ParseComplete
	bindComplete  pgproto3.BindComplete
	closeComplete pgproto3.CloseComplete
	noData        pgproto3.NoData
	suspended     pgproto3.PortalSuspended
	paramDesc     pgproto3.ParameterDescription
	copyIn        pgproto3.CopyInResponse
	copyOut       pgproto3.CopyOutResponse
	copyBoth      pgproto3.CopyBothResponse
	copyData      pgproto3.CopyData
	copyDone      pgproto3.CopyDone
	fnResult      pgproto3.FunctionCallResponse
}

// cursor reads fields from a body. Every read is bounded by the body; the
// first failure is kept in err and later reads return zero values.
type cursor struct {
	b   []byte
	p   int
	err *ProtocolError
}

func (c *cursor) failAt(pos int, r Reason, detail string) {
	if c.err == nil {
		c.err = &ProtocolError{Reason: r, Offset: int64(pos), Detail: detail}
	}
}

func (c *cursor) need(n int, what string) bool {
	if c.err != nil {
		return false
	}
	if len(c.b)-c.p < n {
		c.failAt(c.p, ReasonMalformed, what+" runs past the end of the body")
		return false
	}
	return true
}

func (c *cursor) u8(what string) byte {
	if !c.need(1, what) {
		return 0
	}
	v := c.b[c.p]
	c.p++
	return v
}

func (c *cursor) i16(what string) int16 {
	if !c.need(2, what) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(c.b[c.p:]))
	c.p += 2
	return v
}

func (c *cursor) i32(what string) int32 {
	if !c.need(4, what) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(c.b[c.p:]))
	c.p += 4
	return v
}

// count reads an Int16 count that must be non-negative, at most max, and fit
// the remaining body at minEach bytes per item.
func (c *cursor) count(what string, max, minEach int) int {
	pos := c.p
	n := int(c.i16(what))
	if c.err != nil {
		return 0
	}
	switch {
	case n < 0:
		c.failAt(pos, ReasonInvalidValue, what+" is negative ("+strconv.Itoa(n)+")")
	case n > max:
		c.failAt(pos, ReasonInvalidValue, what+" "+strconv.Itoa(n)+" is over the limit of "+strconv.Itoa(max))
	case n*minEach > len(c.b)-c.p:
		c.failAt(pos, ReasonMalformed, what+" "+strconv.Itoa(n)+" does not fit the "+strconv.Itoa(len(c.b)-c.p)+" bytes left")
	default:
		return n
	}
	return 0
}

// cstr reads a NUL-terminated string whose terminator lies inside the body
// and checks that it is valid UTF-8. The result aliases the body.
func (c *cursor) cstr(what string) []byte {
	if c.err != nil {
		return nil
	}
	// Most strings (names, tags, parameter values) are short ASCII: one
	// loop finds the terminator and checks the bytes; a longer string is
	// left to the vectorized search and UTF-8 validation.
	rest := c.b[c.p:]
	n := min(len(rest), 32)
	i, ascii := 0, true
	for ; i < n && rest[i] != 0; i++ {
		if rest[i] >= utf8.RuneSelf {
			ascii = false
		}
	}
	if i == n {
		j := bytes.IndexByte(rest[n:], 0)
		if j < 0 {
			c.failAt(c.p, ReasonUnterminatedString, what+" has no terminator inside the body")
			return nil
		}
		i, ascii = n+j, false
	}
	s := rest[:i:i]
	if !ascii && !utf8.Valid(s) {
		c.failAt(c.p+invalidUTF8At(s), ReasonInvalidUTF8, what+" is not valid UTF-8")
		return nil
	}
	c.p += i + 1
	return s
}

func (c *cursor) rest() []byte {
	if c.err != nil {
		return nil
	}
	s := c.b[c.p:len(c.b):len(c.b)]
	c.p = len(c.b)
	return s
}

// end checks that the whole body was consumed.
func (c *cursor) end(what string) *ProtocolError {
	if c.err == nil && c.p != len(c.b) {
		c.failAt(c.p, ReasonTrailingBytes, strconv.Itoa(len(c.b)-c.p)+" bytes after the last field of "+what)
	}
	return c.err
}

func invalid(pos int, r Reason, detail string) *ProtocolError {
	return &ProtocolError{Reason: r, Offset: int64(pos), Detail: detail}
}

// decode decodes body strictly into the flyweight for typ. The Reader has
// already checked that typ is a backend message type and that the body size
// is within its bounds. Offsets in the returned error are relative to the
// body.
func (d *decoder) decode(typ byte, body []byte) (pgproto3.BackendMessage, *ProtocolError) {
	c := cursor{b: body}
	switch typ {
	case 'D':
		return d.decodeDataRow(&c)
	case 'd':
		d.copyData.Data = body
		return &d.copyData, nil
	case 'C':
		d.cmdComplete.CommandTag = c.cstr("command tag")
		return &d.cmdComplete, c.end("CommandComplete")
	case 'T':
		return d.decodeRowDescriptionCached(body)
	case 'Z':
		switch body[0] {
		case 'I', 'T', 'E':
			d.ready.TxStatus = body[0]
			return &d.ready, nil
		}
		return nil, invalid(0, ReasonInvalidValue, "transaction status "+strconv.QuoteRune(rune(body[0]))+" is not I, T or E")
	case '1':
		return &d.parseComplete, nil
	case '2':
		return &d.bindComplete, nil
	case '3':
		return &d.closeComplete, nil
	case 'n':
		return &d.noData, nil
	case 's':
		return &d.suspended, nil
	case 'I':
		return &d.emptyQuery, nil
	case 'c':
		return &d.copyDone, nil
	case 'E':
		if err := decodeFields(&c, (*pgproto3.ErrorResponse)(&d.errResp), true); err != nil {
			return nil, err
		}
		return &d.errResp, nil
	case 'N':
		if err := decodeFields(&c, (*pgproto3.ErrorResponse)(&d.notice), false); err != nil {
			return nil, err
		}
		return &d.notice, nil
	case 'S':
		name := c.cstr("parameter name")
		value := c.cstr("parameter value")
		if err := c.end("ParameterStatus"); err != nil {
			return nil, err
		}
		if len(name) == 0 {
			return nil, invalid(0, ReasonInvalidValue, "empty parameter name")
		}
		d.paramStatus.Name = string(name)
		d.paramStatus.Value = string(value)
		return &d.paramStatus, nil
	case 'A':
		pid := c.i32("process ID")
		ch := c.cstr("channel")
		payload := c.cstr("payload")
		if err := c.end("NotificationResponse"); err != nil {
			return nil, err
		}
		d.notification.PID = uint32(pid)
		d.notification.Channel = string(ch)
		d.notification.Payload = string(payload)
		return &d.notification, nil
	case 't':
		n := c.count("parameter count", 65535, 4)
		if cap(d.paramDesc.ParameterOIDs) < n {
			d.paramDesc.ParameterOIDs = make([]uint32, n)
		}
		d.paramDesc.ParameterOIDs = d.paramDesc.ParameterOIDs[:n]
		for i := range n {
			d.paramDesc.ParameterOIDs[i] = uint32(c.i32("parameter type"))
		}
		return &d.paramDesc, c.end("ParameterDescription")
	case 'G':
		f, codes, err := decodeCopyResponse(&c, d.copyIn.ColumnFormatCodes)
		d.copyIn.OverallFormat, d.copyIn.ColumnFormatCodes = f, codes
		return &d.copyIn, err
	case 'H':
		f, codes, err := decodeCopyResponse(&c, d.copyOut.ColumnFormatCodes)
		d.copyOut.OverallFormat, d.copyOut.ColumnFormatCodes = f, codes
		return &d.copyOut, err
	case 'W':
		f, codes, err := decodeCopyResponse(&c, d.copyBoth.ColumnFormatCodes)
		d.copyBoth.OverallFormat, d.copyBoth.ColumnFormatCodes = f, codes
		return &d.copyBoth, err
	case 'K':
		d.keyData.ProcessID = uint32(c.i32("process ID"))
		d.keyData.SecretKey = c.rest()
		return &d.keyData, nil
	case 'R':
		return d.decodeAuth(&c)
	case 'v':
		return d.decodeNPV(&c)
	case 'V':
		n := c.i32("result length")
		switch {
		case n == -1:
			d.fnResult.Result = nil
		case n < 0:
			return nil, invalid(0, ReasonInvalidValue, "result length "+strconv.Itoa(int(n)))
		default:
			if !c.need(int(n), "result") {
				return nil, c.err
			}
			d.fnResult.Result = body[4 : 4+n : 4+n]
			c.p += int(n)
		}
		return &d.fnResult, c.end("FunctionCallResponse")
	}
	return nil, invalid(0, ReasonUnknownMessageType, "no decoder")
}

func (d *decoder) decodeDataRow(c *cursor) (pgproto3.BackendMessage, *ProtocolError) {
	n := c.count("column count", MaxColumns, 4)
	if c.err != nil {
		return nil, c.err
	}
	vals := d.dataRow.Values
	if cap(vals) < n {
		vals = make([][]byte, n)
	}
	vals = vals[:n]
	b := c.b
	p := c.p
	for i := range vals {
		if len(b)-p < 4 {
			return nil, invalid(p, ReasonMalformed, "column "+strconv.Itoa(i)+" length runs past the end of the body")
		}
		l := int32(binary.BigEndian.Uint32(b[p:]))
		p += 4
		switch {
		case l == -1:
			vals[i] = nil
		case l < 0:
			return nil, invalid(p-4, ReasonInvalidValue, "column "+strconv.Itoa(i)+" length "+strconv.Itoa(int(l)))
		case int(l) > len(b)-p:
			return nil, invalid(p-4, ReasonMalformed, "column "+strconv.Itoa(i)+" value runs past the end of the body")
		default:
			vals[i] = b[p : p+int(l) : p+int(l)]
			p += int(l)
		}
	}
	d.dataRow.Values = vals
	if p != len(b) {
		return nil, invalid(p, ReasonTrailingBytes, strconv.Itoa(len(b)-p)+" bytes after the last column of DataRow")
	}
	return &d.dataRow, nil
}

// maxCachedRowDescription bounds the RowDescription body the decoder keeps
// a copy of (a few hundred columns of short names).
const maxCachedRowDescription = 16 << 10

// decodeRowDescriptionCached decodes a RowDescription from a copy of body
// that it keeps, so that the next RowDescription with the same bytes, which
// would decode to the same message and pass the same checks, is returned
// as it is.
func (d *decoder) decodeRowDescriptionCached(body []byte) (pgproto3.BackendMessage, *ProtocolError) {
	if d.rowDescOK && bytes.Equal(body, d.rowDescBody) {
		return &d.rowDesc, nil
	}
	d.rowDescOK = false
	if len(body) > maxCachedRowDescription {
		return d.decodeRowDescription(&cursor{b: body})
	}
	d.rowDescBody = append(d.rowDescBody[:0], body...)
	msg, err := d.decodeRowDescription(&cursor{b: d.rowDescBody})
	d.rowDescOK = err == nil
	return msg, err
}

func (d *decoder) decodeRowDescription(c *cursor) (pgproto3.BackendMessage, *ProtocolError) {
	// Each field needs at least a terminator and 18 fixed bytes.
	n := c.count("field count", MaxColumns, 19)
	if c.err != nil {
		return nil, c.err
	}
	fields := d.rowDesc.Fields
	if cap(fields) < n {
		fields = make([]pgproto3.FieldDescription, n)
	}
	fields = fields[:n]
	for i := range fields {
		f := &fields[i]
		f.Name = c.cstr("field name")
		f.TableOID = uint32(c.i32("table OID"))
		f.TableAttributeNumber = uint16(c.i16("column number"))
		f.DataTypeOID = uint32(c.i32("type OID"))
		f.DataTypeSize = c.i16("type size")
		f.TypeModifier = c.i32("type modifier")
		pos := c.p
		f.Format = c.i16("format code")
		if c.err != nil {
			return nil, c.err
		}
		if f.Format != 0 && f.Format != 1 {
			return nil, invalid(pos, ReasonInvalidValue, "field "+strconv.Itoa(i)+" format code "+strconv.Itoa(int(f.Format)))
		}
	}
	d.rowDesc.Fields = fields
	return &d.rowDesc, c.end("RowDescription")
}

func decodeCopyResponse(c *cursor, codes []uint16) (byte, []uint16, *ProtocolError) {
	format := c.u8("overall format")
	if format > 1 {
		return 0, codes[:0], invalid(0, ReasonInvalidValue, "overall format "+strconv.Itoa(int(format)))
	}
	n := c.count("column count", MaxColumns, 2)
	if c.err != nil {
		return 0, codes[:0], c.err
	}
	if cap(codes) < n {
		codes = make([]uint16, n)
	}
	codes = codes[:n]
	for i := range codes {
		pos := c.p
		v := c.i16("column format")
		if c.err != nil {
			return 0, codes[:0], c.err
		}
		if int(v) != int(format) {
			return 0, codes[:0], invalid(pos, ReasonInvalidValue, "column "+strconv.Itoa(i)+" format "+strconv.Itoa(int(v))+
				" disagrees with overall format "+strconv.Itoa(int(format)))
		}
		codes[i] = uint16(v)
	}
	return format, codes, c.end("copy response")
}

func (d *decoder) decodeAuth(c *cursor) (pgproto3.BackendMessage, *ProtocolError) {
	sub := c.i32("authentication type")
	switch sub {
	case 0:
		return &d.authOk, c.end("AuthenticationOk")
	case 3:
		return &d.authCleartext, c.end("AuthenticationCleartextPassword")
	case 5:
		if c.need(4, "salt") {
			copy(d.authMD5.Salt[:], c.b[c.p:c.p+4])
			c.p += 4
		}
		return &d.authMD5, c.end("AuthenticationMD5Password")
	case 7:
		return &d.authGSS, c.end("AuthenticationGSS")
	case 8:
		d.authGSSCont.Data = c.rest()
		return &d.authGSSCont, nil
	case 10:
		d.authSASL.AuthMechanisms = d.authSASL.AuthMechanisms[:0]
		for {
			m := c.cstr("SASL mechanism")
			if c.err != nil {
				return nil, c.err
			}
			if len(m) == 0 {
				break
			}
			if len(d.authSASL.AuthMechanisms) >= 32 {
				return nil, invalid(c.p, ReasonInvalidValue, "more than 32 SASL mechanisms")
			}
			d.authSASL.AuthMechanisms = append(d.authSASL.AuthMechanisms, string(m))
		}
		return &d.authSASL, c.end("AuthenticationSASL")
	case 11:
		d.authSASLCont.Data = c.rest()
		return &d.authSASLCont, nil
	case 12:
		d.authSASLFinal.Data = c.rest()
		return &d.authSASLFinal, nil
	}
	if c.err != nil {
		return nil, c.err
	}
	return nil, invalid(0, ReasonAuthentication, "unsupported authentication type "+strconv.Itoa(int(sub)))
}

func (d *decoder) decodeNPV(c *cursor) (pgproto3.BackendMessage, *ProtocolError) {
	d.npv.NewestMinorProtocol = uint32(c.i32("protocol version"))
	pos := c.p
	n := int(c.i32("option count"))
	switch {
	case c.err != nil:
		return nil, c.err
	case n < 0:
		return nil, invalid(pos, ReasonInvalidValue, "option count is negative ("+strconv.Itoa(n)+")")
	case n > len(c.b)-c.p:
		return nil, invalid(pos, ReasonMalformed, "option count "+strconv.Itoa(n)+" does not fit the body")
	}
	d.npv.UnrecognizedOptions = d.npv.UnrecognizedOptions[:0]
	for range n {
		o := c.cstr("option name")
		if c.err != nil {
			return nil, c.err
		}
		d.npv.UnrecognizedOptions = append(d.npv.UnrecognizedOptions, string(o))
	}
	return &d.npv, c.end("NegotiateProtocolVersion")
}

// decodeFields decodes the fields of an ErrorResponse or NoticeResponse into
// e, which is reset first.
func decodeFields(c *cursor, e *pgproto3.ErrorResponse, isError bool) *ProtocolError {
	*e = pgproto3.ErrorResponse{}
	var seen [256]bool
	for {
		pos := c.p
		code := c.u8("field code")
		if c.err != nil {
			return c.err
		}
		if code == 0 {
			break
		}
		if seen[code] {
			return invalid(pos, ReasonMissingField, "field "+strconv.QuoteRune(rune(code))+" appears twice")
		}
		seen[code] = true
		vpos := c.p
		v := c.cstr("field " + strconv.QuoteRune(rune(code)))
		if c.err != nil {
			return c.err
		}
		s := string(v)
		switch code {
		case 'S':
			e.Severity = s
		case 'V':
			e.SeverityUnlocalized = s
		case 'C':
			if !validSQLState(v) {
				return invalid(vpos, ReasonInvalidValue, "SQLSTATE "+strconv.Quote(s)+" is not 5 characters of 0-9 and A-Z")
			}
			e.Code = s
		case 'M':
			e.Message = s
		case 'D':
			e.Detail = s
		case 'H':
			e.Hint = s
		case 'P', 'p', 'L':
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil || n < 0 {
				return invalid(vpos, ReasonInvalidValue, "field "+strconv.QuoteRune(rune(code))+" is not a number: "+strconv.Quote(s))
			}
			switch code {
			case 'P':
				e.Position = int32(n)
			case 'p':
				e.InternalPosition = int32(n)
			default:
				e.Line = int32(n)
			}
		case 'q':
			e.InternalQuery = s
		case 'W':
			e.Where = s
		case 's':
			e.SchemaName = s
		case 't':
			e.TableName = s
		case 'c':
			e.ColumnName = s
		case 'd':
			e.DataTypeName = s
		case 'n':
			e.ConstraintName = s
		case 'F':
			e.File = s
		case 'R':
			e.Routine = s
		default:
			if e.UnknownFields == nil {
				e.UnknownFields = make(map[byte]string)
			}
			e.UnknownFields[code] = s
		}
	}
	if err := c.end("error fields"); err != nil {
		return err
	}
	what := "NoticeResponse"
	if isError {
		what = "ErrorResponse"
	}
	for _, f := range [...]byte{'V', 'C', 'M'} {
		if !seen[f] {
			return invalid(0, ReasonMissingField, what+" has no "+strconv.QuoteRune(rune(f))+" field")
		}
	}
	if !validSeverity(e.SeverityUnlocalized, isError) {
		return invalid(0, ReasonInvalidValue, what+" has severity "+strconv.Quote(e.SeverityUnlocalized))
	}
	return nil
}

func validSQLState(v []byte) bool {
	if len(v) != 5 {
		return false
	}
	for _, b := range v {
		if (b < '0' || b > '9') && (b < 'A' || b > 'Z') {
			return false
		}
	}
	return true
}

func validSeverity(s string, isError bool) bool {
	if isError {
		return s == "ERROR" || s == "FATAL" || s == "PANIC"
	}
	switch s {
	case "WARNING", "NOTICE", "DEBUG", "INFO", "LOG":
		return true
	}
	return false
}
