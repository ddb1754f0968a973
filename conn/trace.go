package conn

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TraceOptions configure the protocol tracer.
type TraceOptions struct {
	// Regress hides volatile fields (timestamps, process IDs, secret keys,
	// SCRAM nonces and proofs, passwords, the server version and run-time
	// parameter values reported by the server, with the length of the
	// messages that carry them, and table OIDs in row descriptions) so that
	// traces can be compared with golden files. Zero: show everything but
	// passwords.
	Regress bool
}

// tracer writes one line per protocol message in the style of libpq's
// PQtrace: "timestamp<TAB>F|B<TAB>length<TAB>MessageName<TAB>fields".
type tracer struct {
	mu   sync.Mutex // guards w and buf
	w    io.Writer
	opts TraceOptions
	buf  []byte
}

func newTracer(w io.Writer, opts TraceOptions) *tracer { return &tracer{w: w, opts: opts} }

func (c *Conn) traceSend(msg pgproto3.FrontendMessage) {
	if c.tr != nil {
		c.tr.message('F', msg)
	}
}

func (c *Conn) traceRecv(msg pgproto3.BackendMessage) {
	if c.tr != nil {
		c.tr.message('B', msg)
	}
}

func (c *Conn) traceRequest(r *request) {
	switch r.kind {
	case 'P':
		c.traceSend(&pgproto3.Parse{Name: r.name, Query: r.sql, ParameterOIDs: r.oids})
	case 'B':
		c.traceSend(&pgproto3.Bind{PreparedStatement: r.name, ParameterFormatCodes: r.paramFormats, Parameters: r.params, ResultFormatCodes: r.resultFormats})
	case 'S':
		c.traceSend(&pgproto3.Describe{ObjectType: 'S', Name: r.name})
	case 'D':
		c.traceSend(&pgproto3.Describe{ObjectType: 'P'})
	case 'E':
		c.traceSend(&pgproto3.Execute{})
	case 'C':
		c.traceSend(&pgproto3.Close{ObjectType: 'S', Name: r.name})
	case 'Y':
		c.traceSend(&pgproto3.Sync{})
	}
}

func (t *tracer) message(dir byte, msg pgproto3.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf[:0]
	if !t.opts.Regress {
		b = time.Now().UTC().AppendFormat(b, "2006-01-02 15:04:05.000000")
		b = append(b, '\t')
	}
	enc, _ := msg.Encode(nil)
	size := len(enc)
	if _, ok := msg.(*pgproto3.StartupMessage); !ok && size > 0 {
		size-- // the length word excludes the type byte
	}
	b = append(b, dir, '\t')
	if t.opts.Regress && regressHidesLength(msg) {
		b = append(b, "<hidden>"...)
	} else {
		b = strconv.AppendInt(b, int64(size), 10)
	}
	b = append(b, '\t')
	b = t.fields(b, msg)
	b = append(b, '\n')
	t.buf = b
	t.w.Write(b)
}

// regressHidesLength reports whether the length of msg would give away a
// value that Regress hides: a run-time parameter's value, or the size of the
// cancel key (which depends on the protocol version).
func regressHidesLength(msg pgproto3.Message) bool {
	switch msg.(type) {
	case *pgproto3.ParameterStatus, *pgproto3.BackendKeyData:
		return true
	}
	return false
}

func (t *tracer) str(b []byte, s string) []byte { return strconv.AppendQuote(append(b, ' '), s) }

func (t *tracer) bytesField(b, v []byte) []byte {
	if v == nil {
		return append(b, " NULL"...)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ' ')
	return strconv.AppendQuote(b, string(v))
}

func (t *tracer) num(b []byte, n int64) []byte { return strconv.AppendInt(append(b, ' '), n, 10) }

func (t *tracer) volatile(b []byte, s string) []byte {
	if t.opts.Regress {
		return append(b, " <hidden>"...)
	}
	return t.str(b, s)
}

func (t *tracer) fields(b []byte, msg pgproto3.Message) []byte {
	switch m := msg.(type) {
	case *pgproto3.StartupMessage:
		b = append(b, "StartupMessage"...)
		b = t.num(b, int64(m.ProtocolVersion>>16))
		b = t.num(b, int64(m.ProtocolVersion&0xffff))
		for _, k := range slices.Sorted(maps.Keys(m.Parameters)) {
			b = t.str(b, k)
			b = t.str(b, m.Parameters[k])
		}
	case *pgproto3.PasswordMessage:
		b = append(b, "PasswordMessage <hidden>"...)
	case *pgproto3.SASLInitialResponse:
		b = append(b, "SASLInitialResponse"...)
		b = t.str(b, m.AuthMechanism)
		b = append(b, " <hidden>"...)
	case *pgproto3.SASLResponse:
		b = append(b, "SASLResponse <hidden>"...)
	case *pgproto3.Query:
		b = t.str(append(b, "Query"...), m.String)
	case *pgproto3.Parse:
		b = t.str(t.str(append(b, "Parse"...), m.Name), m.Query)
		b = t.num(b, int64(len(m.ParameterOIDs)))
		for _, o := range m.ParameterOIDs {
			b = t.num(b, int64(o))
		}
	case *pgproto3.Bind:
		b = t.str(t.str(append(b, "Bind"...), m.DestinationPortal), m.PreparedStatement)
		b = t.num(b, int64(len(m.ParameterFormatCodes)))
		for _, f := range m.ParameterFormatCodes {
			b = t.num(b, int64(f))
		}
		b = t.num(b, int64(len(m.Parameters)))
		for _, p := range m.Parameters {
			b = t.bytesField(b, p)
		}
		b = t.num(b, int64(len(m.ResultFormatCodes)))
		for _, f := range m.ResultFormatCodes {
			b = t.num(b, int64(f))
		}
	case *pgproto3.Describe:
		b = t.str(append(append(b, "Describe "...), m.ObjectType), m.Name)
	case *pgproto3.Execute:
		b = t.num(t.str(append(b, "Execute"...), m.Portal), int64(m.MaxRows))
	case *pgproto3.Close:
		b = t.str(append(append(b, "Close "...), m.ObjectType), m.Name)
	case *pgproto3.Sync:
		b = append(b, "Sync"...)
	case *pgproto3.Flush:
		b = append(b, "Flush"...)
	case *pgproto3.Terminate:
		b = append(b, "Terminate"...)
	case *pgproto3.CopyFail:
		b = t.str(append(b, "CopyFail"...), m.Message)
	case *pgproto3.CopyData:
		b = t.bytesField(append(b, "CopyData"...), m.Data)
	case *pgproto3.CopyDone:
		b = append(b, "CopyDone"...)
	case *pgproto3.AuthenticationOk:
		b = append(b, "AuthenticationOk"...)
	case *pgproto3.AuthenticationCleartextPassword:
		b = append(b, "AuthenticationCleartextPassword"...)
	case *pgproto3.AuthenticationMD5Password:
		b = append(b, "AuthenticationMD5Password <hidden>"...)
	case *pgproto3.AuthenticationSASL:
		b = append(b, "AuthenticationSASL"...)
		for _, s := range m.AuthMechanisms {
			b = t.str(b, s)
		}
	case *pgproto3.AuthenticationSASLContinue:
		b = append(b, "AuthenticationSASLContinue <hidden>"...)
	case *pgproto3.AuthenticationSASLFinal:
		b = append(b, "AuthenticationSASLFinal <hidden>"...)
	case *pgproto3.BackendKeyData:
		b = append(b, "BackendKeyData"...)
		if t.opts.Regress {
			b = append(b, " <hidden>"...)
		} else {
			b = t.num(b, int64(m.ProcessID))
			b = append(b, " <key>"...)
		}
	case *pgproto3.ParameterStatus:
		b = t.str(append(b, "ParameterStatus"...), m.Name)
		b = t.volatile(b, m.Value)
	case *pgproto3.ReadyForQuery:
		b = append(append(b, "ReadyForQuery "...), m.TxStatus)
	case *pgproto3.RowDescription:
		b = t.num(append(b, "RowDescription"...), int64(len(m.Fields)))
		for _, f := range m.Fields {
			b = t.str(b, string(f.Name))
			if t.opts.Regress && f.TableOID != 0 {
				b = append(b, " <hidden>"...) // an OID of this cluster
			} else {
				b = t.num(b, int64(f.TableOID))
			}
			b = t.num(b, int64(f.TableAttributeNumber))
			b = t.num(b, int64(f.DataTypeOID))
			b = t.num(b, int64(f.DataTypeSize))
			b = t.num(b, int64(f.TypeModifier))
			b = t.num(b, int64(f.Format))
		}
	case *pgproto3.DataRow:
		b = t.num(append(b, "DataRow"...), int64(len(m.Values)))
		for _, v := range m.Values {
			b = t.bytesField(b, v)
		}
	case *pgproto3.CommandComplete:
		b = t.str(append(b, "CommandComplete"...), string(m.CommandTag))
	case *pgproto3.ErrorResponse:
		b = t.errFields(append(b, "ErrorResponse"...), m)
	case *pgproto3.NoticeResponse:
		b = t.errFields(append(b, "NoticeResponse"...), (*pgproto3.ErrorResponse)(m))
	case *pgproto3.NotificationResponse:
		b = append(b, "NotificationResponse"...)
		if t.opts.Regress {
			b = append(b, " <hidden>"...)
		} else {
			b = t.num(b, int64(m.PID))
		}
		b = t.str(t.str(b, m.Channel), m.Payload)
	case pgproto3.BackendMessage:
		b = append(b, msgName(m)...)
	default:
		b = append(b, "Message"...)
	}
	return b
}

func (t *tracer) errFields(b []byte, m *pgproto3.ErrorResponse) []byte {
	add := func(code byte, v string) {
		if v != "" {
			b = append(b, ' ', code)
			b = strconv.AppendQuote(b, v)
		}
	}
	add('S', m.Severity)
	add('V', m.SeverityUnlocalized)
	add('C', m.Code)
	add('M', m.Message)
	add('D', m.Detail)
	add('H', m.Hint)
	if m.Position != 0 {
		add('P', strconv.Itoa(int(m.Position)))
	}
	if !t.opts.Regress {
		add('F', m.File)
		if m.Line != 0 {
			add('L', strconv.Itoa(int(m.Line)))
		}
		add('R', m.Routine)
	}
	return b
}
