package scram

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
)

// Mechanism names, as PostgreSQL lists them in AuthenticationSASL.
const (
	MechanismSCRAMSHA256     = "SCRAM-SHA-256"
	MechanismSCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// MaxIterations is the largest PBKDF2 iteration count ServerFirst accepts.
// PostgreSQL's default is 4096 (scram_iterations); the cap stops a hostile
// server from making the client burn minutes of CPU.
const MaxIterations = 10_000_000

// nonceRandomBytes is how many random bytes the client nonce encodes (24
// base64 characters), as libpq does.
const nonceRandomBytes = 18

// proofLen is the size of a SHA-256 HMAC: ClientProof and ServerSignature.
const proofLen = sha256.Size

// GS2 headers (RFC 5802 §7).
const (
	gs2NoBinding       = "n,,"
	gs2ClientSupports  = "y,,"
	gs2EndPointBinding = "p=" + ChannelBindingTypeEndPoint + ",,"
)

type clientState uint8

const (
	stateNew clientState = iota
	stateFirstSent
	stateFinalSent
	stateVerified
	stateFailed
)

// Client is the client side of one SCRAM-SHA-256 or SCRAM-SHA-256-PLUS
// exchange with PostgreSQL. Client is not safe for concurrent use.
//
// Its methods must be called in the order ClientFirst, ServerFirst,
// ServerFinal, each once; a Client cannot be reused, and after any error every
// later call fails too.
type Client struct {
	gs2Header     string
	cbData        []byte // channel binding data; only for SCRAM-SHA-256-PLUS
	password      string
	user          string // always empty outside tests: PostgreSQL ignores it
	clientNonce   string
	maxIterations int

	clientFirstBare string
	serverSignature []byte
	state           clientState
}

// NewClient starts an exchange.
//
// mechanism is MechanismSCRAMSHA256 or MechanismSCRAMSHA256Plus. The GS2
// header, which tells the server whether the client can bind to the TLS
// channel, follows from mechanism and cb:
//
//   - SCRAM-SHA-256-PLUS: cb is required, must have Type
//     "tls-server-end-point" and non-empty Data (see EndPointBinding); the
//     header is "p=tls-server-end-point,,".
//   - SCRAM-SHA-256 with cb == nil: "n,," — no TLS, or channel binding
//     disabled by the caller, or the binding cannot be computed.
//   - SCRAM-SHA-256 with cb != nil: "y,," — the client could bind (TLS is in
//     use and binding is not disabled) but the server did not offer
//     SCRAM-SHA-256-PLUS. Only cb's presence matters; its Data are not sent.
//     A server that did offer PLUS rejects "y", which detects a downgrade.
//
// password must not contain NUL bytes. Before key derivation it is prepared
// with SASLprep as PostgreSQL prepares it: ASCII and non-UTF-8 passwords are
// used as they are; otherwise non-ASCII spaces become U+0020 and characters
// "commonly mapped to nothing" are removed, and the raw password is used
// instead when the result is empty or holds a prohibited or unassigned
// character or breaks the bidirectional rule. NFKC normalization is not
// applied yet (golang.org/x/text is not available to this module), so a
// password holding compatibility characters (ligatures, full-width forms)
// does not match the server's verifier. rand supplies the 18 random bytes of
// the client nonce; nil means crypto/rand.Reader.
//
// Errors are *Error with ReasonUnsupportedMechanism, ReasonChannelBinding,
// ReasonInvalidPassword or ReasonRandom.
func NewClient(mechanism, password string, cb *ChannelBinding, rand io.Reader) (*Client, error) {
	c := &Client{password: password, maxIterations: MaxIterations}
	switch mechanism {
	case MechanismSCRAMSHA256:
		if cb == nil {
			c.gs2Header = gs2NoBinding
		} else {
			c.gs2Header = gs2ClientSupports
		}
	case MechanismSCRAMSHA256Plus:
		if cb == nil || cb.Type != ChannelBindingTypeEndPoint || len(cb.Data) == 0 {
			return nil, &Error{Op: OpNewClient, Reason: ReasonChannelBinding}
		}
		c.gs2Header = gs2EndPointBinding
		c.cbData = bytes.Clone(cb.Data)
	default:
		return nil, &Error{Op: OpNewClient, Reason: ReasonUnsupportedMechanism}
	}
	if strings.IndexByte(password, 0) >= 0 {
		return nil, &Error{Op: OpNewClient, Reason: ReasonInvalidPassword}
	}
	nonce, err := newNonce(rand)
	if err != nil {
		return nil, &Error{Op: OpNewClient, Reason: ReasonRandom, Err: err}
	}
	c.clientNonce = nonce
	return c, nil
}

func newNonce(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var buf [nonceRandomBytes]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf[:]), nil
}

// ClientFirst returns client-first-message, the payload of
// SASLInitialResponse: the GS2 header followed by "n=,r=<nonce>". PostgreSQL
// takes the user name from the startup packet, so the SCRAM user name is left
// empty as libpq does.
//
// ClientFirst may be called again before ServerFirst and returns the same
// bytes; the result is a fresh slice the caller owns.
func (c *Client) ClientFirst() []byte {
	if c.state == stateNew {
		c.clientFirstBare = "n=" + escapeSASLName(c.user) + ",r=" + c.clientNonce
		c.state = stateFirstSent
	}
	return []byte(c.gs2Header + c.clientFirstBare)
}

// ServerFirst validates server-first-message, the payload of
// AuthenticationSASLContinue, and returns client-final-message, the payload
// of SASLResponse.
//
// Validation is strict: exactly the attributes r, s and i in that order and
// nothing after them; no "m=" extension; r must start with the client nonce,
// be longer than it, and contain only printable ASCII other than ','; s must
// be non-empty, valid padded base64; i must be a decimal integer from 1 to
// MaxIterations without leading zeros. Any violation returns an *Error whose
// Reason says which, and ends the exchange.
func (c *Client) ServerFirst(serverFirst []byte) ([]byte, error) {
	if c.state != stateFirstSent {
		return nil, c.fail(&Error{Op: OpServerFirst, Reason: ReasonOutOfOrder})
	}
	msg := string(serverFirst)
	nonce, salt, iterations, err := c.parseServerFirst(msg)
	if err != nil {
		return nil, c.fail(err)
	}

	salted, kerr := pbkdf2.Key(sha256.New, saslPrep(c.password), salt, iterations, sha256.Size)
	if kerr != nil {
		return nil, c.fail(&Error{Op: OpServerFirst, Reason: ReasonKeyDerivation, Err: kerr})
	}
	c.password = ""

	cbindInput := append([]byte(c.gs2Header), c.cbData...)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(cbindInput) + ",r=" + nonce
	authMessage := []byte(c.clientFirstBare + "," + msg + "," + withoutProof)

	clientKey := hmacSHA256(salted, []byte("Client Key"))
	storedKey := sha256.Sum256(clientKey)
	proof := hmacSHA256(storedKey[:], authMessage)
	subtle.XORBytes(proof, proof, clientKey)

	serverKey := hmacSHA256(salted, []byte("Server Key"))
	c.serverSignature = hmacSHA256(serverKey, authMessage)
	c.state = stateFinalSent

	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// parseServerFirst checks the grammar and returns the combined nonce, the
// decoded salt and the iteration count.
func (c *Client) parseServerFirst(msg string) (nonce string, salt []byte, iterations int, err error) {
	if strings.HasPrefix(msg, "m=") {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonMandatoryExtension}
	}
	attrs := strings.Split(msg, ",")
	for i, name := range [...]string{"r=", "s=", "i="} {
		if i >= len(attrs) || !strings.HasPrefix(attrs[i], name) {
			return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonMalformed, Detail: "expected attribute " + name[:1] + " in position " + strconv.Itoa(i+1)}
		}
	}
	if len(attrs) > 3 {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonMalformed, Detail: "unexpected attribute after i"}
	}

	nonce = attrs[0][2:]
	if !isPrintableNonce(nonce) {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonInvalidNonce}
	}
	if len(nonce) <= len(c.clientNonce) || !strings.HasPrefix(nonce, c.clientNonce) {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonNonceMismatch}
	}

	salt, serr := decodeBase64(attrs[1][2:])
	if serr != nil {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonInvalidSalt, Err: serr}
	}
	if len(salt) == 0 {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: ReasonInvalidSalt, Detail: "empty"}
	}

	iterations, reason := parseIterations(attrs[2][2:], c.maxIterations)
	if reason != "" {
		return "", nil, 0, &Error{Op: OpServerFirst, Reason: reason}
	}
	return nonce, salt, iterations, nil
}

// parseIterations parses a positive decimal without sign or leading zeros and
// checks it against limit.
func parseIterations(s string, limit int) (int, Reason) {
	if s == "" || s[0] == '0' {
		return 0, ReasonInvalidIterations
	}
	n := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '0' || ch > '9' {
			return 0, ReasonInvalidIterations
		}
		if n > limit {
			continue // keep validating the syntax without overflowing
		}
		n = n*10 + int(ch-'0')
	}
	if n > limit {
		return 0, ReasonTooManyIterations
	}
	return n, ""
}

// ServerFinal validates server-final-message, the payload of
// AuthenticationSASLFinal. It must be exactly "v=<base64 ServerSignature>";
// the signature is compared in constant time. "e=<value>" yields an *Error
// with ReasonServerError and the value in ServerError (PostgreSQL itself
// reports failures with ErrorResponse instead).
func (c *Client) ServerFinal(serverFinal []byte) error {
	if c.state != stateFinalSent {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonOutOfOrder})
	}
	msg := string(serverFinal)
	if v, ok := strings.CutPrefix(msg, "e="); ok {
		const maxServerError = 256
		if len(v) > maxServerError {
			v = v[:maxServerError]
		}
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonServerError, ServerError: v})
	}
	v, ok := strings.CutPrefix(msg, "v=")
	if !ok {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonMalformed, Detail: "expected attribute v"})
	}
	if strings.IndexByte(v, ',') >= 0 {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonMalformed, Detail: "unexpected attribute after v"})
	}
	sig, err := decodeBase64(v)
	if err != nil {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonInvalidServerSignature, Err: err})
	}
	if len(sig) != proofLen {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonInvalidServerSignature, Detail: "wrong length"})
	}
	if !hmac.Equal(sig, c.serverSignature) {
		return c.fail(&Error{Op: OpServerFinal, Reason: ReasonServerSignatureMismatch})
	}
	c.state = stateVerified
	return nil
}

// Verified reports whether ServerFinal succeeded, that is whether the server
// proved that it knows the password (and, with SCRAM-SHA-256-PLUS, that it
// holds the certificate's private key). Only then may the caller accept
// AuthenticationOk.
func (c *Client) Verified() bool { return c.state == stateVerified }

// fail ends the exchange and returns err.
func (c *Client) fail(err error) error {
	c.state = stateFailed
	c.password = ""
	c.serverSignature = nil
	return err
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// isPrintableNonce reports whether s holds only RFC 5802 "printable"
// characters: %x21-2B / %x2D-7E.
func isPrintableNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x21 || ch > 0x7E || ch == ',' {
			return false
		}
	}
	return true
}

// decodeBase64 decodes padded standard base64 and, unlike the encoding/base64
// decoder, rejects CR and LF.
func decodeBase64(s string) ([]byte, error) {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return nil, base64.CorruptInputError(i)
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// escapeSASLName encodes ',' and '=' in a SCRAM user name (RFC 5802 §5.1).
func escapeSASLName(name string) string {
	if !strings.ContainsAny(name, ",=") {
		return name
	}
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(name)
}
