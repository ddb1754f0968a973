package scram

import (
	"strconv"
	"strings"
)

// Reason says why a SCRAM operation failed. Callers branch on it after
// errors.As; the string form is the message used by [Error.Error].
type Reason string

// Reasons reported in [Error.Reason].
const (
	// ReasonUnsupportedMechanism: NewClient was given a mechanism other than
	// SCRAM-SHA-256 or SCRAM-SHA-256-PLUS.
	ReasonUnsupportedMechanism Reason = "unsupported mechanism"
	// ReasonChannelBinding: SCRAM-SHA-256-PLUS was requested without usable
	// tls-server-end-point data, or a binding of another type was given.
	ReasonChannelBinding Reason = "missing or invalid channel binding"
	// ReasonInvalidPassword: the password contains a NUL byte, which no
	// PostgreSQL password can contain.
	ReasonInvalidPassword Reason = "password contains a nul byte"
	// ReasonRandom: the random source failed while making the client nonce.
	ReasonRandom Reason = "cannot read random bytes"
	// ReasonOutOfOrder: a method was called in the wrong order, or after the
	// exchange had already failed.
	ReasonOutOfOrder Reason = "call out of order"
	// ReasonMalformed: a server message does not follow the SCRAM grammar that
	// PostgreSQL uses (attribute names, order, count); Error.Detail says where.
	ReasonMalformed Reason = "malformed message"
	// ReasonMandatoryExtension: server-first-message starts with "m=", a
	// mandatory extension this client does not implement.
	ReasonMandatoryExtension Reason = "unsupported mandatory extension"
	// ReasonInvalidNonce: the server nonce contains a byte outside printable
	// ASCII (or a comma).
	ReasonInvalidNonce Reason = "invalid nonce"
	// ReasonNonceMismatch: the combined nonce does not start with the client
	// nonce or adds nothing to it.
	ReasonNonceMismatch Reason = "server nonce does not extend the client nonce"
	// ReasonInvalidSalt: the salt is empty or not valid base64.
	ReasonInvalidSalt Reason = "invalid salt"
	// ReasonInvalidIterations: the iteration count is not a positive decimal
	// integer without leading zeros.
	ReasonInvalidIterations Reason = "invalid iteration count"
	// ReasonTooManyIterations: the iteration count exceeds MaxIterations.
	ReasonTooManyIterations Reason = "iteration count exceeds limit"
	// ReasonKeyDerivation: PBKDF2 refused its input (only possible when the
	// Go FIPS 140-3 mode rejects the parameters).
	ReasonKeyDerivation Reason = "key derivation failed"
	// ReasonServerError: server-final-message carried "e=<value>"; the value
	// is in Error.ServerError.
	ReasonServerError Reason = "server reported an error"
	// ReasonInvalidServerSignature: the "v=" value is not base64 of a
	// 32-byte signature.
	ReasonInvalidServerSignature Reason = "invalid server signature"
	// ReasonServerSignatureMismatch: the server signature does not match:
	// the server does not know the password, or someone is in the middle.
	ReasonServerSignatureMismatch Reason = "server signature mismatch"
	// ReasonUnsupportedCertificate: tls-server-end-point is undefined for the
	// certificate's signature algorithm (RFC 5929 §4.1), for example Ed25519,
	// or the certificate is missing.
	ReasonUnsupportedCertificate Reason = "channel binding undefined for certificate"
)

// Operation names used in [Error.Op].
const (
	OpNewClient      = "new client"
	OpServerFirst    = "server-first-message"
	OpServerFinal    = "server-final-message"
	OpChannelBinding = "channel binding"
)

// Error is the only error type returned by this package; it is a plain value,
// safe to share. It never contains the password, keys, proofs or signatures.
type Error struct {
	// Op is the step that failed: one of the Op* constants.
	Op string
	// Reason is the typed cause.
	Reason Reason
	// Detail is a short fixed description (no server-supplied bytes) of
	// where a malformed message went wrong; empty for most reasons.
	Detail string
	// ServerError is the value of the server's "e=" attribute when Reason is
	// ReasonServerError.
	ServerError string
	// Err is an underlying error (random source, base64 decoder, PBKDF2), or
	// nil.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scram: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(string(e.Reason))
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	if e.Reason == ReasonServerError {
		b.WriteString(" ")
		b.WriteString(strconv.QuoteToASCII(e.ServerError))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }
