package conn_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// Malformed and hostile authentication exchanges (§2.2, §2.3, §5.3, §5.5,
// §5.6): each must make the connection attempt fail, within the bound,
// with a *conn.ConnectError whose attempt wraps the right cause.

// faultPassword is the password the fake servers expect.
const faultPassword = "secret"

// faultSCRAM plays the server side of SCRAM-SHA-256 in a fake server
// script. Its steps run one after another on the server's goroutine, so
// the fields they share need no lock.
type faultSCRAM struct {
	mechanisms []string
	salt       []byte
	iterations int

	// Filled in by the steps as the exchange goes.
	clientNonce     string
	clientFirstBare string
	serverFirst     string
	clientFinalBare string // client-final-message without its proof
}

func newFaultSCRAM() *faultSCRAM {
	return &faultSCRAM{mechanisms: []string{"SCRAM-SHA-256"}, salt: []byte("pgstrict-fault-salt"), iterations: 4096}
}

// offer sends AuthenticationSASL and expects the client-first-message of
// plain SCRAM-SHA-256 without channel binding.
func (f *faultSCRAM) offer(s *pgtest.Script) *pgtest.Script {
	return s.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: f.mechanisms}).ExpectFunc(func(m pgproto3.FrontendMessage) error {
		ir, ok := m.(*pgproto3.SASLInitialResponse)
		if !ok || ir.AuthMechanism != "SCRAM-SHA-256" {
			return errors.New("want a SASLInitialResponse for SCRAM-SHA-256")
		}
		gs2, bare, ok := strings.Cut(string(ir.Data), ",,")
		if !ok || gs2 != "n" || !strings.HasPrefix(bare, "n=") {
			return errors.New("want the GS2 header n,, (no TLS)")
		}
		_, nonce, ok := strings.Cut(bare, ",r=")
		if !ok || nonce == "" {
			return errors.New("no client nonce")
		}
		f.clientFirstBare, f.clientNonce = bare, nonce
		return nil
	})
}

// challenge sends AuthenticationSASLContinue with the server-first-message
// first returns for the client's nonce; nil sends a valid one.
func (f *faultSCRAM) challenge(s *pgtest.Script, first func(clientNonce string) string) *pgtest.Script {
	return s.Do(func(_ context.Context, c net.Conn) error {
		if first == nil {
			f.serverFirst = "r=" + f.clientNonce + "fakeservernonce,s=" + base64.StdEncoding.EncodeToString(f.salt) +
				",i=" + strconv.Itoa(f.iterations)
		} else {
			f.serverFirst = first(f.clientNonce)
		}
		return faultWriteMsg(c, &pgproto3.AuthenticationSASLContinue{Data: []byte(f.serverFirst)})
	}).SetAuthType(pgproto3.AuthTypeSASLContinue)
}

// respond expects the client-final-message and checks its proof, which
// shows that the client computed the exchange right.
func (f *faultSCRAM) respond(s *pgtest.Script) *pgtest.Script {
	return s.ExpectFunc(func(m pgproto3.FrontendMessage) error {
		r, ok := m.(*pgproto3.SASLResponse)
		if !ok {
			return errors.New("want a SASLResponse")
		}
		bare, proof64, ok := strings.Cut(string(r.Data), ",p=")
		if !ok {
			return errors.New("no proof")
		}
		f.clientFinalBare = bare
		proof, err := base64.StdEncoding.DecodeString(proof64)
		if err != nil {
			return fmt.Errorf("proof: %w", err)
		}
		salted := f.saltedPassword()
		clientKey := faultHMAC(salted, "Client Key")
		stored := sha256.Sum256(clientKey)
		sig := faultHMAC(stored[:], f.authMessage())
		for i := range sig {
			sig[i] ^= clientKey[i]
		}
		if !hmac.Equal(sig, proof) {
			return errors.New("the client proof does not verify")
		}
		return nil
	})
}

// final sends AuthenticationSASLFinal with the server signature, or with
// a wrong one.
func (f *faultSCRAM) final(s *pgtest.Script, wrong bool) *pgtest.Script {
	return s.Do(func(_ context.Context, c net.Conn) error {
		sig := faultHMAC(faultHMAC(f.saltedPassword(), "Server Key"), f.authMessage())
		if wrong {
			sig[0] ^= 0x80
		}
		return faultWriteMsg(c, &pgproto3.AuthenticationSASLFinal{Data: []byte("v=" + base64.StdEncoding.EncodeToString(sig))})
	})
}

func (f *faultSCRAM) saltedPassword() []byte {
	k, err := pbkdf2.Key(sha256.New, faultPassword, f.salt, f.iterations, sha256.Size)
	if err != nil {
		panic(err) // only for invalid parameters, which are constants here
	}
	return k
}

func (f *faultSCRAM) authMessage() string {
	return f.clientFirstBare + "," + f.serverFirst + "," + f.clientFinalBare
}

func faultHMAC(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// faultWriteMsg writes one backend message on a fake server's connection.
func faultWriteMsg(c net.Conn, m pgproto3.BackendMessage) error {
	b, err := m.Encode(nil)
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// faultRequireAuth sets require_auth as the connection string keyword
// does.
func faultRequireAuth(tb testing.TB, value string) func(*conn.Config) {
	tb.Helper()
	parsed, err := conn.ParseConfig("host=127.0.0.1 user=u require_auth=" + value)
	require.NoError(tb, err)
	return func(cfg *conn.Config) {
		cfg.RequireAuth = parsed.RequireAuth
		cfg.Password = faultPassword
	}
}

// faultWithPassword sets the password the fake servers expect.
func faultWithPassword(cfg *conn.Config) { cfg.Password = faultPassword }

// faultAuthCheck checks the error of the failed attempt.
type faultAuthCheck func(tb testing.TB, err error)

// faultWantAuthError wants a *conn.AuthError, decided by the client.
func faultWantAuthError(tb testing.TB, err error) {
	tb.Helper()
	assert.False(tb, faultIsCtxErr(err), "want an authentication error, got %v", err)
	var ae *conn.AuthError
	assert.ErrorAs(tb, err, &ae)
	var pe *wire.ProtocolError
	assert.False(tb, errors.As(err, &pe), "want an authentication error, got a protocol violation %v", pe)
}

// faultWantReason wants a *wire.ProtocolError with reason.
func faultWantReason(reason wire.Reason) faultAuthCheck {
	return func(tb testing.TB, err error) {
		tb.Helper()
		faultRequireReason(tb, err, reason)
	}
}

// faultWantPgError wants the server's ErrorResponse with code.
func faultWantPgError(code string) faultAuthCheck {
	return func(tb testing.TB, err error) {
		tb.Helper()
		var pg *conn.PgError
		if assert.ErrorAs(tb, err, &pg) {
			assert.Equal(tb, code, pg.Code)
		}
	}
}

// faultAuthCase is one hostile authentication exchange.
type faultAuthCase struct {
	name   string
	mutate func(*conn.Config)
	// script runs after the StartupMessage was received; the client must
	// then hang up without sending anything more.
	script func(tb testing.TB, s *pgtest.Script) *pgtest.Script
	check  faultAuthCheck
}

func faultAuthCases(tb testing.TB) []faultAuthCase {
	tb.Helper()
	scram := func(mutate func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script) func(testing.TB, *pgtest.Script) *pgtest.Script {
		return func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return mutate(newFaultSCRAM(), s) }
	}
	withFirst := func(first func(nonce string) string) func(testing.TB, *pgtest.Script) *pgtest.Script {
		return scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script { return f.challenge(f.offer(s), first) })
	}
	salt := base64.StdEncoding.EncodeToString([]byte("salt"))
	send := func(msgs ...pgproto3.BackendMessage) func(testing.TB, *pgtest.Script) *pgtest.Script {
		return func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s.Send(msgs...) }
	}
	npv := func(v uint32, opts ...string) *pgproto3.NegotiateProtocolVersion {
		return &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: v, UnrecognizedOptions: opts}
	}
	startup := func(r pgtest.StartupReply) []pgproto3.BackendMessage { return r.Messages(nil) }
	return []faultAuthCase{
		// §2.3 A2, §5.5 step 5: the server skips the SASL exchange.
		{name: "Ok straight after SASLInitialResponse", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script {
				return f.offer(s).Send(startup(pgtest.StartupReply{})...)
			})},
		{name: "Ok straight after SASLResponse", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script {
				return f.respond(f.challenge(f.offer(s), nil)).Send(startup(pgtest.StartupReply{})...)
			})},
		// §5.5 step 4: the server does not know the password (or is a MITM).
		{name: "SASLFinal with a wrong server signature", mutate: faultWithPassword, check: faultWantAuthError,
			script: scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script {
				return f.final(f.respond(f.challenge(f.offer(s), nil)), true)
			})},
		{name: "SASLFinal with an error attribute", mutate: faultWithPassword, check: faultWantAuthError,
			script: scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script {
				return f.respond(f.challenge(f.offer(s), nil)).Send(&pgproto3.AuthenticationSASLFinal{Data: []byte("e=other-error")})
			})},
		// §5.5 step 2: server-first-message checks.
		{name: "SASLContinue with a foreign nonce", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(string) string { return "r=someoneelsesnonce,s=" + salt + ",i=4096" })},
		{name: "SASLContinue with our nonce unextended", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n + ",s=" + salt + ",i=4096" })},
		{name: "SASLContinue with our nonce altered", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n[:len(n)-1] + "#server,s=" + salt + ",i=4096" })},
		{name: "SASLContinue with iteration count 0", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n + "x,s=" + salt + ",i=0" })},
		{name: "SASLContinue with a huge iteration count", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n + "x,s=" + salt + ",i=2000000000" })},
		{name: "SASLContinue with a negative iteration count", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n + "x,s=" + salt + ",i=-4096" })},
		{name: "SASLContinue with a salt that is not base64", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "r=" + n + "x,s=!!!,i=4096" })},
		{name: "SASLContinue with a mandatory extension", mutate: faultWithPassword, check: faultWantAuthError,
			script: withFirst(func(n string) string { return "m=ext,r=" + n + "x,s=" + salt + ",i=4096" })},
		// §5.5 mechanism choice.
		{name: "SASL offering only SCRAM-SHA-256-PLUS without TLS", mutate: faultWithPassword, check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS"}})},
		{name: "SASL offering PLUS and plain without TLS", mutate: faultWithPassword, check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}})},
		{name: "SASL offering only unknown mechanisms", mutate: faultWithPassword, check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"OAUTHBEARER", "SCRAM-SHA-1"}})},
		// §2.3 A2: a second AuthenticationSASL.
		{name: "a second AuthenticationSASL", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: scram(func(f *faultSCRAM, s *pgtest.Script) *pgtest.Script {
				return f.offer(s).Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
			})},
		// require_auth: the refused method's password is never sent.
		{name: "cleartext with require_auth=scram-sha-256", mutate: faultRequireAuth(tb, "scram-sha-256"), check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationCleartextPassword{})},
		{name: "MD5 with require_auth=!md5", mutate: faultRequireAuth(tb, "!md5"), check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}})},
		{name: "trust with require_auth=password", mutate: faultRequireAuth(tb, "password"), check: faultWantAuthError,
			script: send(startup(pgtest.StartupReply{})...)},
		{name: "SCRAM with require_auth=md5", mutate: faultRequireAuth(tb, "md5"), check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})},
		{name: "cleartext without a password", check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationCleartextPassword{})},
		// §1.2: methods the client does not support.
		{name: "GSS request", mutate: faultWithPassword, check: faultWantAuthError,
			script: send(&pgproto3.AuthenticationGSS{})},
		{name: "KerberosV5 request", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s.SendRaw(fbFrame('R', fbI32(2))) }},
		{name: "SCMCredential request", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s.SendRaw(fbFrame('R', fbI32(6))) }},
		{name: "SSPI request", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s.SendRaw(fbFrame('R', fbI32(9))) }},
		{name: "unknown authentication subtype", mutate: faultWithPassword, check: faultWantReason(wire.ReasonAuthentication),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script { return s.SendRaw(fbFrame('R', fbI32(99))) }},
		// §2.3: an authentication failure is the server's error.
		{name: "password rejected", mutate: faultWithPassword, check: faultWantPgError("28P01"),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
				return s.Send(&pgproto3.AuthenticationCleartextPassword{}).Expect(&pgproto3.PasswordMessage{Password: faultPassword}).
					Send(fmErr("FATAL", "28P01", "password authentication failed for user \"u\""))
			}},
		// §5.6 NegotiateProtocolVersion (the client requests 3.2 and no
		// protocol options).
		{name: "NegotiateProtocolVersion twice", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(wire.ProtocolVersion30), npv(wire.ProtocolVersion30))},
		{name: "NegotiateProtocolVersion after an authentication request", mutate: faultWithPassword, check: faultWantReason(wire.ReasonProtocolVersion),
			script: func(_ testing.TB, s *pgtest.Script) *pgtest.Script {
				return s.Send(&pgproto3.AuthenticationCleartextPassword{}).Expect(&pgproto3.PasswordMessage{Password: faultPassword}).
					Send(npv(wire.ProtocolVersion30))
			}},
		{name: "NegotiateProtocolVersion after AuthenticationOk", check: faultWantReason(wire.ReasonUnexpectedMessage),
			script: send(&pgproto3.AuthenticationOk{}, npv(wire.ProtocolVersion30))},
		{name: "NegotiateProtocolVersion offering 3.1", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(wire.ProtocolVersion30 + 1))},
		{name: "NegotiateProtocolVersion offering a newer version", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(wire.ProtocolVersion32 + 1))},
		{name: "NegotiateProtocolVersion offering 2.0", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(0x00020000))},
		{name: "NegotiateProtocolVersion offering 4.0", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(0x00040000))},
		{name: "NegotiateProtocolVersion listing options", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(wire.ProtocolVersion30, "_pq_.compression"))},
		{name: "NegotiateProtocolVersion with the same version and no option", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(npv(wire.ProtocolVersion32))},
		{name: "NegotiateProtocolVersion below min_protocol_version", check: faultWantReason(wire.ReasonProtocolVersion),
			mutate: func(cfg *conn.Config) { cfg.MinProtocolVersion = wire.ProtocolVersion32 },
			script: send(npv(wire.ProtocolVersion30))},
		// §4.3/§5.6: the cancel key length must fit the negotiated version.
		{name: "BackendKeyData with a 5-byte key under 3.0", check: faultWantReason(wire.ReasonProtocolVersion),
			mutate: func(cfg *conn.Config) { cfg.MaxProtocolVersion = wire.ProtocolVersion30 },
			script: send(startup(pgtest.StartupReply{SecretKey: []byte{1, 2, 3, 4, 5}})...)},
		{name: "BackendKeyData with a 32-byte key after downgrade to 3.0", check: faultWantReason(wire.ReasonProtocolVersion),
			script: send(append([]pgproto3.BackendMessage{npv(wire.ProtocolVersion30)},
				startup(pgtest.StartupReply{SecretKey: make([]byte, 32)})...)...)},
		{name: "BackendKeyData with an empty key", check: faultWantReason(wire.ReasonBadLength),
			script: send(startup(pgtest.StartupReply{SecretKey: []byte{}})...)},
		{name: "BackendKeyData with a 257-byte key under 3.2", check: faultWantReason(wire.ReasonMessageTooLarge),
			script: send(startup(pgtest.StartupReply{SecretKey: make([]byte, 257)})...)},
	}
}

// TestFaultAuth runs each hostile authentication exchange.
func TestFaultAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range faultAuthCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				script := tc.script(t, pgtest.NewScript().ExpectStartup()).ExpectEOF()
				err := faultConnectErr(t, tr, script, tc.mutate)
				tc.check(t, err)
			})
		})
	}
}

// TestFaultAuthAccepted shows that the fake exchanges above are hostile
// only where they say so: the same servers, played right, are accepted.
func TestFaultAuthAccepted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mutate func(*conn.Config)
		script func(s *pgtest.Script) *pgtest.Script
	}{
		{name: "SCRAM-SHA-256", mutate: faultWithPassword, script: func(s *pgtest.Script) *pgtest.Script {
			f := newFaultSCRAM()
			return f.final(f.respond(f.challenge(f.offer(s), nil)), false).Send(pgtest.StartupReply{}.Messages(nil)...)
		}},
		{name: "SCRAM with require_auth=scram-sha-256", mutate: faultRequireAuth(t, "scram-sha-256"), script: func(s *pgtest.Script) *pgtest.Script {
			f := newFaultSCRAM()
			return f.final(f.respond(f.challenge(f.offer(s), nil)), false).Send(pgtest.StartupReply{}.Messages(nil)...)
		}},
		{name: "cleartext password", mutate: faultWithPassword, script: func(s *pgtest.Script) *pgtest.Script {
			return s.Send(&pgproto3.AuthenticationCleartextPassword{}).Expect(&pgproto3.PasswordMessage{Password: faultPassword}).
				Send(pgtest.StartupReply{}.Messages(nil)...)
		}},
		{name: "downgrade to 3.0 with a 4-byte key", script: func(s *pgtest.Script) *pgtest.Script {
			return s.Send(append([]pgproto3.BackendMessage{&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: wire.ProtocolVersion30}},
				pgtest.StartupReply{}.Messages(nil)...)...)
		}},
		{name: "3.2 with a 32-byte key", script: func(s *pgtest.Script) *pgtest.Script {
			return s.Send(pgtest.StartupReply{SecretKey: make([]byte, 32)}.Messages(nil)...)
		}},
		{name: "no BackendKeyData", script: func(s *pgtest.Script) *pgtest.Script {
			return s.Send(pgtest.StartupReply{OmitBackendKeyData: true}.Messages(nil)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				srv := faultServer(t, tr, tc.script(pgtest.NewScript().ExpectStartup()).ExpectTerminate().ExpectEOF())
				c, err := conn.ConnectConfig(faultCtx(t), faultConfig(t, srv.Dial, tc.mutate))
				require.NoError(t, err)
				assert.Equal(t, wire.StateIdle, c.State())
				require.NoError(t, c.Close(faultCtx(t)))
				require.NoError(t, srv.Wait(faultCtx(t)))
			})
		})
	}
}

// TestFaultSSLRequest covers the answers to SSLRequest (§2.2 N1, §5.3).
func TestFaultSSLRequest(t *testing.T) {
	t.Parallel()
	// What follows 'E' is unauthenticated text that must never be read or
	// shown (CVE-2024-10977).
	const secretText = "SFATAL\x00MYou have been hacked, visit evil.example\x00\x00"
	for _, tc := range []struct {
		name  string
		mode  conn.SSLMode
		reply []byte
		check faultAuthCheck
	}{
		{name: "E with sslmode=require", mode: conn.SSLModeRequire, reply: []byte("E" + secretText)},
		{name: "E with sslmode=prefer", mode: conn.SSLModePrefer, reply: []byte("E" + secretText)},
		{name: "unknown byte", mode: conn.SSLModeRequire, reply: []byte("X")},
		{name: "N with sslmode=require", mode: conn.SSLModeRequire, reply: []byte("N"), check: faultWantAuthError},
		{name: "N with sslmode=verify-full", mode: conn.SSLModeVerifyFull, reply: []byte("N"), check: faultWantAuthError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
				script := pgtest.NewScript().ExpectSSLRequest().SendRaw(tc.reply).ExpectEOF()
				err := faultConnectErr(t, tr, script, func(cfg *conn.Config) { cfg.SSLMode = tc.mode })
				assert.False(t, faultIsCtxErr(err), "want a refusal, got %v", err)
				assert.NotContains(t, err.Error(), "hacked", "the text after 'E' must not be read")
				if tc.check != nil {
					tc.check(t, err)
				}
			})
		})
	}
	t.Run("E then EOF", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().ExpectSSLRequest().SendRaw([]byte("E")).Close()
			err := faultConnectErr(t, tr, script, func(cfg *conn.Config) { cfg.SSLMode = conn.SSLModeRequire })
			assert.False(t, faultIsCtxErr(err), "want a refusal, got %v", err)
		})
	})
	t.Run("EOF instead of an answer", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().ExpectSSLRequest().Close()
			err := faultConnectErr(t, tr, script, func(cfg *conn.Config) { cfg.SSLMode = conn.SSLModeRequire })
			assert.False(t, faultIsCtxErr(err), "want a refusal, got %v", err)
			assert.True(t, faultIsConnEnd(err), "want an end-of-stream error, got %v", err)
		})
	})
}

// TestFaultSSLPlaintextAfterS answers SSLRequest with 'S' immediately
// followed by plaintext protocol bytes, as a man in the middle would
// (CVE-2021-23222): the bytes must reach the TLS handshake, which fails,
// and never be taken for the server's messages. Over TCP only: over
// net.Pipe the client's ClientHello and the server's unread bytes would
// block each other.
func TestFaultSSLPlaintextAfterS(t *testing.T) {
	t.Parallel()
	for _, mode := range []conn.SSLMode{conn.SSLModeRequire, conn.SSLModePrefer} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			injected := fbCat([]byte("S"), fmStartup(t))
			script := pgtest.NewScript().ExpectSSLRequest().SendRaw(injected).StallUntilClosed()
			err := faultConnectErr(t, pgtest.FakeTCP, script, func(cfg *conn.Config) { cfg.SSLMode = mode })
			assert.False(t, faultIsCtxErr(err), "want a handshake failure, got %v", err)
			var rh tls.RecordHeaderError
			assert.ErrorAs(t, err, &rh, "the plaintext must reach the TLS record layer: %v", err)
		})
	}
	t.Run("S then EOF", func(t *testing.T) {
		t.Parallel()
		faultEachTransport(t, func(t *testing.T, tr pgtest.FakeTransport) {
			script := pgtest.NewScript().ExpectSSLRequest().SendRaw([]byte("S")).Close()
			err := faultConnectErr(t, tr, script, func(cfg *conn.Config) { cfg.SSLMode = conn.SSLModeRequire })
			assert.False(t, faultIsCtxErr(err), "want a handshake failure, got %v", err)
		})
	})
}
