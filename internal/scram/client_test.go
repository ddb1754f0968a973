package scram_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/internal/scram"
)

// RFC 7677 §3 test vector.
const (
	rfcPassword    = "pencil"
	rfcUser        = "user"
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

// fixedRandom is 18 bytes whose base64 is the client nonce of most tests.
var fixedRandom = []byte("0123456789abcdefgh")

// fixedNonce is base64(fixedRandom).
var fixedNonce = base64.StdEncoding.EncodeToString(fixedRandom)

// newTestClient returns a client whose nonce is fixedNonce.
func newTestClient(tb testing.TB, mechanism, password string, cb *scram.ChannelBinding) *scram.Client {
	tb.Helper()
	c, err := scram.NewClient(mechanism, password, cb, bytes.NewReader(fixedRandom))
	require.NoError(tb, err)
	return c
}

// expectedKeys computes ClientProof and ServerSignature independently of the
// package, straight from the RFC 5802 §3 formulas.
func expectedKeys(tb testing.TB, password string, salt []byte, iterations int, authMessage string) (proof, serverSig []byte) {
	tb.Helper()
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	require.NoError(tb, err)
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	clientSig := mac(storedKey[:], authMessage)
	proof = make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ clientSig[i]
	}
	return proof, mac(mac(salted, "Server Key"), authMessage)
}

// requireReason asserts err is a *scram.Error with the given op and reason.
func requireReason(tb testing.TB, err error, op string, reason scram.Reason) *scram.Error {
	tb.Helper()
	var se *scram.Error
	require.ErrorAs(tb, err, &se)
	assert.Equal(tb, reason, se.Reason, "reason of %q", err.Error())
	assert.Equal(tb, op, se.Op)
	return se
}

func TestRFC7677Vector(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, scram.MechanismSCRAMSHA256, rfcPassword, nil)
	scram.SetUserAndNonce(c, rfcUser, rfcClientNonce)

	assert.Equal(t, rfcClientFirst, string(c.ClientFirst()))
	final, err := c.ServerFirst([]byte(rfcServerFirst))
	require.NoError(t, err)
	assert.Equal(t, rfcClientFinal, string(final))
	assert.False(t, c.Verified(), "verified before server-final")
	require.NoError(t, c.ServerFinal([]byte(rfcServerFinal)))
	assert.True(t, c.Verified())

	// Cross-check the vector's proof and signature from the formulas.
	salt, err := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	require.NoError(t, err)
	withoutProof := rfcClientFinal[:strings.Index(rfcClientFinal, ",p=")]
	authMessage := rfcClientFirst[3:] + "," + rfcServerFirst + "," + withoutProof
	proof, sig := expectedKeys(t, rfcPassword, salt, 4096, authMessage)
	assert.Equal(t, "p="+base64.StdEncoding.EncodeToString(proof), rfcClientFinal[len(withoutProof)+1:])
	assert.Equal(t, "v="+base64.StdEncoding.EncodeToString(sig), rfcServerFinal)
}

func TestSASLprepFeedsKeyDerivation(t *testing.T) {
	t.Parallel()
	// U+00AD (soft hyphen) is mapped to nothing, so the proof equals the
	// vector's proof for "pencil".
	c := newTestClient(t, scram.MechanismSCRAMSHA256, "pen\u00adcil", nil)
	scram.SetUserAndNonce(c, rfcUser, rfcClientNonce)
	c.ClientFirst()
	final, err := c.ServerFirst([]byte(rfcServerFirst))
	require.NoError(t, err)
	assert.Equal(t, rfcClientFinal, string(final))
}

func TestClientFirst(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, scram.MechanismSCRAMSHA256, "secret", nil)
	first := c.ClientFirst()
	assert.Equal(t, "n,,n=,r="+fixedNonce, string(first))
	assert.Len(t, fixedNonce, 24)

	first[0] = 'X' // the caller owns the slice
	assert.Equal(t, "n,,n=,r="+fixedNonce, string(c.ClientFirst()), "second call returns the same bytes")
}

func TestNonceUsesRandomSource(t *testing.T) {
	t.Parallel()
	a, err := scram.NewClient(scram.MechanismSCRAMSHA256, "pw", nil, nil)
	require.NoError(t, err)
	b, err := scram.NewClient(scram.MechanismSCRAMSHA256, "pw", nil, nil)
	require.NoError(t, err)
	assert.NotEqual(t, string(a.ClientFirst()), string(b.ClientFirst()), "two crypto/rand nonces collided")
	assert.Len(t, a.ClientFirst(), len("n,,n=,r=")+24)
}

// endPointData is fake certificate hash bytes for the PLUS tests.
var endPointData = bytes.Repeat([]byte{0xAB}, 32)

func TestGS2HeaderAndChannelBindingData(t *testing.T) {
	t.Parallel()
	cb := &scram.ChannelBinding{Type: scram.ChannelBindingTypeEndPoint, Data: endPointData}
	tests := []struct {
		name      string
		mechanism string
		cb        *scram.ChannelBinding
		header    string // GS2 header at the start of client-first-message
		cbind     []byte // bytes encoded in the c= attribute
	}{
		{name: "no binding", mechanism: scram.MechanismSCRAMSHA256, header: "n,,", cbind: []byte("n,,")},
		{name: "client could bind", mechanism: scram.MechanismSCRAMSHA256, cb: cb, header: "y,,", cbind: []byte("y,,")},
		{
			name: "plus", mechanism: scram.MechanismSCRAMSHA256Plus, cb: cb,
			header: "p=tls-server-end-point,,",
			cbind:  append([]byte("p=tls-server-end-point,,"), endPointData...),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, tc.mechanism, "pw", tc.cb)
			first := string(c.ClientFirst())
			assert.Equal(t, tc.header+"n=,r="+fixedNonce, first)

			serverFirst := "r=" + fixedNonce + "srv,s=" + base64.StdEncoding.EncodeToString([]byte("salt")) + ",i=16"
			final, err := c.ServerFirst([]byte(serverFirst))
			require.NoError(t, err)
			withoutProof := "c=" + base64.StdEncoding.EncodeToString(tc.cbind) + ",r=" + fixedNonce + "srv"
			require.True(t, strings.HasPrefix(string(final), withoutProof+",p="), "client-final %q", final)

			authMessage := first[len(tc.header):] + "," + serverFirst + "," + withoutProof
			proof, sig := expectedKeys(t, "pw", []byte("salt"), 16, authMessage)
			assert.Equal(t, withoutProof+",p="+base64.StdEncoding.EncodeToString(proof), string(final))
			require.NoError(t, c.ServerFinal([]byte("v="+base64.StdEncoding.EncodeToString(sig))))
			assert.True(t, c.Verified())
		})
	}
}

func TestNewClientErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mechanism string
		password  string
		cb        *scram.ChannelBinding
		rand      io.Reader
		reason    scram.Reason
	}{
		{name: "unknown mechanism", mechanism: "SCRAM-SHA-1", reason: scram.ReasonUnsupportedMechanism},
		{name: "mechanism is case sensitive", mechanism: "scram-sha-256", reason: scram.ReasonUnsupportedMechanism},
		{name: "empty mechanism", reason: scram.ReasonUnsupportedMechanism},
		{name: "plus without binding", mechanism: scram.MechanismSCRAMSHA256Plus, reason: scram.ReasonChannelBinding},
		{
			name: "plus with other binding type", mechanism: scram.MechanismSCRAMSHA256Plus,
			cb: &scram.ChannelBinding{Type: "tls-unique", Data: endPointData}, reason: scram.ReasonChannelBinding,
		},
		{
			name: "plus with empty data", mechanism: scram.MechanismSCRAMSHA256Plus,
			cb: &scram.ChannelBinding{Type: scram.ChannelBindingTypeEndPoint}, reason: scram.ReasonChannelBinding,
		},
		{name: "nul in password", mechanism: scram.MechanismSCRAMSHA256, password: "a\x00b", reason: scram.ReasonInvalidPassword},
		{name: "short random source", mechanism: scram.MechanismSCRAMSHA256, rand: bytes.NewReader(make([]byte, 17)), reason: scram.ReasonRandom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.rand
			if r == nil {
				r = bytes.NewReader(fixedRandom)
			}
			c, err := scram.NewClient(tc.mechanism, tc.password, tc.cb, r)
			assert.Nil(t, c)
			requireReason(t, err, scram.OpNewClient, tc.reason)
		})
	}
}

func TestNewClientRandomErrorIsWrapped(t *testing.T) {
	t.Parallel()
	_, err := scram.NewClient(scram.MechanismSCRAMSHA256, "pw", nil, bytes.NewReader(nil))
	requireReason(t, err, scram.OpNewClient, scram.ReasonRandom)
	assert.ErrorIs(t, err, io.EOF)
}

func TestServerFirstValidation(t *testing.T) {
	t.Parallel()
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	r := "r=" + fixedNonce + "XYZ"
	tests := []struct {
		name   string
		msg    string // server-first-message
		reason scram.Reason
	}{
		{name: "empty", msg: "", reason: scram.ReasonMalformed},
		{name: "mandatory extension", msg: "m=ext," + r + ",s=" + salt + ",i=4096", reason: scram.ReasonMandatoryExtension},
		{name: "salt first", msg: "s=" + salt + "," + r + ",i=4096", reason: scram.ReasonMalformed},
		{name: "iterations before salt", msg: r + ",i=4096,s=" + salt, reason: scram.ReasonMalformed},
		{name: "missing iterations", msg: r + ",s=" + salt, reason: scram.ReasonMalformed},
		{name: "missing salt and iterations", msg: r, reason: scram.ReasonMalformed},
		{name: "extension after iterations", msg: r + ",s=" + salt + ",i=4096,x=1", reason: scram.ReasonMalformed},
		{name: "trailing comma", msg: r + ",s=" + salt + ",i=4096,", reason: scram.ReasonMalformed},
		{name: "upper-case attribute", msg: "R=" + fixedNonce + "XYZ,s=" + salt + ",i=4096", reason: scram.ReasonMalformed},
		{name: "duplicate nonce", msg: r + "," + r + ",s=" + salt + ",i=4096", reason: scram.ReasonMalformed},
		{name: "nonce of another client", msg: "r=AAAAAAAAAAAAAAAAAAAAAAAAXYZ,s=" + salt + ",i=4096", reason: scram.ReasonNonceMismatch},
		{name: "nonce equal to client nonce", msg: "r=" + fixedNonce + ",s=" + salt + ",i=4096", reason: scram.ReasonNonceMismatch},
		{name: "nonce truncated", msg: "r=" + fixedNonce[:10] + ",s=" + salt + ",i=4096", reason: scram.ReasonNonceMismatch},
		{name: "empty nonce", msg: "r=,s=" + salt + ",i=4096", reason: scram.ReasonNonceMismatch},
		{name: "nonce with space", msg: r + " z,s=" + salt + ",i=4096", reason: scram.ReasonInvalidNonce},
		{name: "nonce with control byte", msg: r + "\x01,s=" + salt + ",i=4096", reason: scram.ReasonInvalidNonce},
		{name: "nonce with DEL", msg: r + "\x7f,s=" + salt + ",i=4096", reason: scram.ReasonInvalidNonce},
		{name: "nonce with nul", msg: r + "\x00,s=" + salt + ",i=4096", reason: scram.ReasonInvalidNonce},
		{name: "nonce with non-ASCII", msg: r + "é,s=" + salt + ",i=4096", reason: scram.ReasonInvalidNonce},
		{name: "empty salt", msg: r + ",s=,i=4096", reason: scram.ReasonInvalidSalt},
		{name: "salt not base64", msg: r + ",s=!!!!,i=4096", reason: scram.ReasonInvalidSalt},
		{name: "salt without padding", msg: r + ",s=QUI,i=4096", reason: scram.ReasonInvalidSalt},
		{name: "salt with newline", msg: r + ",s=QUJD\nREVG,i=4096", reason: scram.ReasonInvalidSalt},
		{name: "salt with non-canonical padding bits", msg: r + ",s=QUJ=,i=4096", reason: scram.ReasonInvalidSalt},
		{name: "zero iterations", msg: r + ",s=" + salt + ",i=0", reason: scram.ReasonInvalidIterations},
		{name: "negative iterations", msg: r + ",s=" + salt + ",i=-1", reason: scram.ReasonInvalidIterations},
		{name: "plus sign", msg: r + ",s=" + salt + ",i=+4096", reason: scram.ReasonInvalidIterations},
		{name: "leading zero", msg: r + ",s=" + salt + ",i=04096", reason: scram.ReasonInvalidIterations},
		{name: "trailing garbage", msg: r + ",s=" + salt + ",i=4096x", reason: scram.ReasonInvalidIterations},
		{name: "empty iterations", msg: r + ",s=" + salt + ",i=", reason: scram.ReasonInvalidIterations},
		{name: "leading space", msg: r + ",s=" + salt + ",i= 4096", reason: scram.ReasonInvalidIterations},
		{name: "exponent", msg: r + ",s=" + salt + ",i=1e3", reason: scram.ReasonInvalidIterations},
		{name: "one over the cap", msg: r + ",s=" + salt + ",i=10000001", reason: scram.ReasonTooManyIterations},
		{name: "would overflow int64", msg: r + ",s=" + salt + ",i=99999999999999999999999999", reason: scram.ReasonTooManyIterations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, scram.MechanismSCRAMSHA256, "secret-password", nil)
			c.ClientFirst()
			final, err := c.ServerFirst([]byte(tc.msg))
			assert.Nil(t, final)
			requireReason(t, err, scram.OpServerFirst, tc.reason)
			assert.NotContains(t, err.Error(), "secret-password")
			assert.Equal(t, strings.ToLower(err.Error()[:1]), err.Error()[:1], "lowercase message")

			// The exchange is over: nothing afterwards succeeds.
			requireReason(t, c.ServerFinal([]byte("v=AAAA")), scram.OpServerFinal, scram.ReasonOutOfOrder)
			assert.False(t, c.Verified())
		})
	}
}

func TestIterationCapBoundary(t *testing.T) {
	t.Parallel()
	salt := base64.StdEncoding.EncodeToString([]byte("salt"))
	tests := []struct {
		name       string
		iterations string
		wantErr    bool // whether ServerFirst must fail with ReasonTooManyIterations
	}{
		{name: "at the cap", iterations: "64"},
		{name: "one over the cap", iterations: "65", wantErr: true},
		{name: "one", iterations: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, scram.MechanismSCRAMSHA256, "pw", nil)
			scram.SetMaxIterations(c, 64)
			c.ClientFirst()
			_, err := c.ServerFirst([]byte("r=" + fixedNonce + "x,s=" + salt + ",i=" + tc.iterations))
			if tc.wantErr {
				requireReason(t, err, scram.OpServerFirst, scram.ReasonTooManyIterations)
				return
			}
			require.NoError(t, err)
		})
	}
	assert.Equal(t, 10_000_000, scram.MaxIterations)
}

// readyForFinal runs a client up to the point where it awaits
// server-final-message and returns it with the correct server signature.
func readyForFinal(tb testing.TB) (*scram.Client, []byte) {
	tb.Helper()
	c := newTestClient(tb, scram.MechanismSCRAMSHA256, "pw", nil)
	first := string(c.ClientFirst())
	serverFirst := "r=" + fixedNonce + "s3rv3r,s=c2FsdA==,i=32"
	final, err := c.ServerFirst([]byte(serverFirst))
	require.NoError(tb, err)
	withoutProof := string(final[:bytes.Index(final, []byte(",p="))])
	_, sig := expectedKeys(tb, "pw", []byte("salt"), 32, first[3:]+","+serverFirst+","+withoutProof)
	return c, sig
}

func TestServerFinalValidation(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name   string
		msg    func(sig []byte) string // server-final-message built from the right signature
		reason scram.Reason
	}{
		{name: "empty", msg: func([]byte) string { return "" }, reason: scram.ReasonMalformed},
		{name: "unknown attribute", msg: func(s []byte) string { return "x=" + b64(s) }, reason: scram.ReasonMalformed},
		{name: "extension after verifier", msg: func(s []byte) string { return "v=" + b64(s) + ",x=1" }, reason: scram.ReasonMalformed},
		{name: "not base64", msg: func([]byte) string { return "v=%%%%" }, reason: scram.ReasonInvalidServerSignature},
		{name: "newline in base64", msg: func(s []byte) string { e := b64(s); return "v=" + e[:4] + "\n" + e[4:] }, reason: scram.ReasonInvalidServerSignature},
		{name: "short signature", msg: func(s []byte) string { return "v=" + b64(s[:31]) }, reason: scram.ReasonInvalidServerSignature},
		{name: "long signature", msg: func(s []byte) string { return "v=" + b64(append(bytes.Clone(s), 0)) }, reason: scram.ReasonInvalidServerSignature},
		{name: "empty signature", msg: func([]byte) string { return "v=" }, reason: scram.ReasonInvalidServerSignature},
		{
			name: "wrong signature",
			msg: func(s []byte) string {
				w := bytes.Clone(s)
				w[31] ^= 1
				return "v=" + b64(w)
			},
			reason: scram.ReasonServerSignatureMismatch,
		},
		{name: "server error", msg: func([]byte) string { return "e=invalid-proof" }, reason: scram.ReasonServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, sig := readyForFinal(t)
			err := c.ServerFinal([]byte(tc.msg(sig)))
			se := requireReason(t, err, scram.OpServerFinal, tc.reason)
			assert.False(t, c.Verified())
			assert.NotContains(t, err.Error(), b64(sig), "error leaks the expected signature")
			if tc.reason == scram.ReasonServerError {
				assert.Equal(t, "invalid-proof", se.ServerError)
				assert.Contains(t, err.Error(), `"invalid-proof"`)
			}
			// A correct signature can no longer rescue the exchange.
			requireReason(t, c.ServerFinal([]byte("v="+b64(sig))), scram.OpServerFinal, scram.ReasonOutOfOrder)
			assert.False(t, c.Verified())
		})
	}
}

func TestServerErrorValueIsBounded(t *testing.T) {
	t.Parallel()
	c, _ := readyForFinal(t)
	err := c.ServerFinal([]byte("e=" + strings.Repeat("x", 10000)))
	se := requireReason(t, err, scram.OpServerFinal, scram.ReasonServerError)
	assert.Len(t, se.ServerError, 256)
}

func TestCallsOutOfOrder(t *testing.T) {
	t.Parallel()
	serverFirst := []byte("r=" + fixedNonce + "x,s=c2FsdA==,i=1")
	tests := []struct {
		name string
		run  func(c *scram.Client) error // the misordered call sequence; returns the last error
		op   string
	}{
		{name: "server-first before client-first", op: scram.OpServerFirst, run: func(c *scram.Client) error {
			_, err := c.ServerFirst(serverFirst)
			return err
		}},
		{name: "server-final before server-first", op: scram.OpServerFinal, run: func(c *scram.Client) error {
			c.ClientFirst()
			return c.ServerFinal([]byte("v=AAAA"))
		}},
		{name: "server-first twice", op: scram.OpServerFirst, run: func(c *scram.Client) error {
			c.ClientFirst()
			if _, err := c.ServerFirst(serverFirst); err != nil {
				return err
			}
			_, err := c.ServerFirst(serverFirst)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, scram.MechanismSCRAMSHA256, "pw", nil)
			requireReason(t, tc.run(c), tc.op, scram.ReasonOutOfOrder)
			assert.False(t, c.Verified())
		})
	}
}

func TestServerFinalTwiceRevokesVerification(t *testing.T) {
	t.Parallel()
	c, sig := readyForFinal(t)
	v := []byte("v=" + base64.StdEncoding.EncodeToString(sig))
	require.NoError(t, c.ServerFinal(v))
	require.True(t, c.Verified())
	requireReason(t, c.ServerFinal(v), scram.OpServerFinal, scram.ReasonOutOfOrder)
	assert.False(t, c.Verified(), "a misused client must not stay verified")
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	inner := errors.New("boom")
	tests := []struct {
		name string
		err  *scram.Error
		want string
	}{
		{name: "plain", err: &scram.Error{Op: scram.OpServerFirst, Reason: scram.ReasonInvalidSalt}, want: "scram: server-first-message: invalid salt"},
		{name: "detail", err: &scram.Error{Op: scram.OpServerFirst, Reason: scram.ReasonMalformed, Detail: "expected attribute r in position 1"}, want: "scram: server-first-message: malformed message (expected attribute r in position 1)"},
		{name: "server error is quoted", err: &scram.Error{Op: scram.OpServerFinal, Reason: scram.ReasonServerError, ServerError: "bad\x00"}, want: `scram: server-final-message: server reported an error "bad\x00"`},
		{name: "wrapped", err: &scram.Error{Op: scram.OpNewClient, Reason: scram.ReasonRandom, Err: inner}, want: "scram: new client: cannot read random bytes: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
			assert.Equal(t, tc.err.Err, errors.Unwrap(tc.err))
		})
	}
}
