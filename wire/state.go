package wire

// State is the coarse protocol state of a connection as the Tracker sees it.
type State uint8

// States of the client protocol state machine. The authentication states
// follow the A0 to A4 and B0 states of the protocol reference.
const (
	// StateUnknown is the zero value; a Tracker never reports it.
	StateUnknown State = iota
	// StateNew: nothing has been sent yet.
	StateNew
	// StateAuthStart (A0): StartupMessage sent, awaiting the first reply.
	StateAuthStart
	// StateAuthPassword (A1): password sent, awaiting the verdict.
	StateAuthPassword
	// StateAuthSASLContinue (A2): SASLInitialResponse sent, awaiting
	// SASLContinue.
	StateAuthSASLContinue
	// StateAuthSASLFinal (A3): SASLResponse sent, awaiting SASLFinal.
	StateAuthSASLFinal
	// StateAuthSASLOk (A4): server signature verified, awaiting
	// AuthenticationOk.
	StateAuthSASLOk
	// StateAwaitReady (B0): authenticated, awaiting ReadyForQuery.
	StateAwaitReady
	// StateIdle: nothing outstanding; the transaction status is in TxStatus.
	StateIdle
	// StateBusy: replies are expected (simple or extended protocol).
	StateBusy
	// StateCopyIn: the server awaits CopyData from the client.
	StateCopyIn
	// StateCopyOut: the server sends CopyData.
	StateCopyOut
	// StateCopyBoth: both sides send CopyData (replication).
	StateCopyBoth
	// StateTerminating: Terminate was sent; input is discarded.
	StateTerminating
	// StateClosed: the session ended (EOF, a FATAL error, Terminate, or a
	// failed startup). Terminal.
	StateClosed
	// StateDesynced: a protocol violation was detected. Terminal.
	StateDesynced
	stateCount
)

var stateNames = [stateCount]string{
	StateUnknown:          "unknown",
	StateNew:              "new",
	StateAuthStart:        "auth_start",
	StateAuthPassword:     "auth_password",
	StateAuthSASLContinue: "auth_sasl_continue",
	StateAuthSASLFinal:    "auth_sasl_final",
	StateAuthSASLOk:       "auth_sasl_ok",
	StateAwaitReady:       "await_ready",
	StateIdle:             "idle",
	StateBusy:             "busy",
	StateCopyIn:           "copy_in",
	StateCopyOut:          "copy_out",
	StateCopyBoth:         "copy_both",
	StateTerminating:      "terminating",
	StateClosed:           "closed",
	StateDesynced:         "desynced",
}

// String returns the snake_case name of s.
func (s State) String() string {
	if s < stateCount {
		return stateNames[s]
	}
	return "state(?)"
}

// Terminal reports whether s is StateClosed or StateDesynced.
func (s State) Terminal() bool { return s == StateClosed || s == StateDesynced }

// TxStatus is the transaction status byte of the last ReadyForQuery.
type TxStatus byte

// Transaction status values.
const (
	// TxIdle: not in a transaction block ('I').
	TxIdle TxStatus = 'I'
	// TxInBlock: in a transaction block ('T').
	TxInBlock TxStatus = 'T'
	// TxFailed: in a failed transaction block ('E').
	TxFailed TxStatus = 'E'
)

// String returns "I", "T", "E" or "?" for an unset status.
func (s TxStatus) String() string {
	switch s {
	case TxIdle, TxInBlock, TxFailed:
		return string(rune(s))
	}
	return "?"
}
