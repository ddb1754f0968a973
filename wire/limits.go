package wire

// MaxBody is the largest body any backend message can have: the server cannot
// allocate more than MaxAllocSize (1 GiB - 1) for one message.
const MaxBody = 0x3FFFFFFF

// Default caps in body bytes (protocol reference §4.3).
const (
	DefaultMaxErrorBody          = 1 << 20
	DefaultMaxRowDescriptionBody = 512 << 10
	DefaultMaxParameterStatus    = 30000
	DefaultMaxCommandTag         = 256
	DefaultMaxNotificationBody   = 8192 + 64
	DefaultMaxAuthBody           = 2000
	// MaxColumns is the most columns a row description, a DataRow or a COPY
	// response may declare (the server's MaxTupleAttributeNumber).
	MaxColumns = 1664
)

// Limits are the receive caps applied to a declared body length before any
// byte of the body is read or allocated. The zero Limits uses the defaults;
// a value above the protocol's hard maximum for its type is lowered to it.
// Caps of fixed-size messages (ReadyForQuery, ParseComplete, …) are exact
// and not configurable.
type Limits struct {
	// DataRow caps DataRow bodies. Zero means MaxBody.
	DataRow int
	// CopyData caps CopyData bodies. Zero means MaxBody.
	CopyData int
	// FunctionCallResponse caps FunctionCallResponse bodies. Zero means
	// MaxBody.
	FunctionCallResponse int
	// ErrorResponse caps ErrorResponse and NoticeResponse bodies. Zero means
	// DefaultMaxErrorBody (1 MiB).
	ErrorResponse int
	// RowDescription caps RowDescription bodies. Zero means
	// DefaultMaxRowDescriptionBody (512 KiB).
	RowDescription int
	// ParameterStatus caps ParameterStatus bodies. Zero means
	// DefaultMaxParameterStatus (30000).
	ParameterStatus int
	// CommandComplete caps CommandComplete bodies. Zero means
	// DefaultMaxCommandTag (256).
	CommandComplete int
	// NotificationResponse caps NotificationResponse bodies. Zero means
	// DefaultMaxNotificationBody (8256).
	NotificationResponse int
	// Authentication caps Authentication and NegotiateProtocolVersion
	// bodies. Zero means DefaultMaxAuthBody (2000).
	Authentication int
}

func capOr(v, def, hard int) int {
	if v <= 0 {
		v = def
	}
	if v > hard {
		v = hard
	}
	return v
}

// bounds is the inclusive [min, max] body size allowed for each type byte; a
// max of -1 marks a type that is not a backend message.
type bounds struct{ min, max int }

// table builds the per-type bounds for these limits.
func (l Limits) table() [256]bounds {
	var t [256]bounds
	for i := range t {
		t[i] = bounds{0, -1}
	}
	fixed := func(typ byte, n int) { t[typ] = bounds{n, n} }
	for _, typ := range []byte{'1', '2', '3', 'n', 's', 'I', 'c'} {
		fixed(typ, 0)
	}
	fixed('Z', 1)
	t['K'] = bounds{8, 4 + 256}
	auth := capOr(l.Authentication, DefaultMaxAuthBody, DefaultMaxAuthBody*8)
	t['R'] = bounds{4, auth}
	t['v'] = bounds{8, auth}
	for _, typ := range []byte{'G', 'H', 'W'} {
		t[typ] = bounds{3, 3 + 2*MaxColumns}
	}
	t['T'] = bounds{2, capOr(l.RowDescription, DefaultMaxRowDescriptionBody, MaxBody)}
	t['t'] = bounds{2, 2 + 4*65535}
	t['S'] = bounds{2, capOr(l.ParameterStatus, DefaultMaxParameterStatus, MaxBody)}
	t['C'] = bounds{1, capOr(l.CommandComplete, DefaultMaxCommandTag, MaxBody)}
	t['A'] = bounds{6, capOr(l.NotificationResponse, DefaultMaxNotificationBody, MaxBody)}
	e := capOr(l.ErrorResponse, DefaultMaxErrorBody, MaxBody)
	t['E'] = bounds{1, e}
	t['N'] = bounds{1, e}
	t['D'] = bounds{2, capOr(l.DataRow, MaxBody, MaxBody)}
	t['d'] = bounds{0, capOr(l.CopyData, MaxBody, MaxBody)}
	t['V'] = bounds{4, capOr(l.FunctionCallResponse, MaxBody, MaxBody)}
	return t
}

// frontendOnly marks type bytes that only a frontend sends and that no backend
// message shares (F4).
var frontendOnly = [256]bool{'Q': true, 'P': true, 'B': true, 'F': true, 'X': true, 'f': true, 'p': true}
