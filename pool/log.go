package pool

// Attribute keys of the records written to Config.Logger.
const (
	logKeyReason        = "reason"
	logKeyCause         = "cause"
	logKeyPID           = "pid"
	logKeyAge           = "age"
	logKeyStatement     = "statement"
	logKeyStatementHash = "statement_hash"
	logKeyError         = "error"
	logKeyFaults        = "faults"
	logKeyUntil         = "until"
)
