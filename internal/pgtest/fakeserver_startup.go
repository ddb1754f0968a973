package pgtest

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FakeProcessID is the process ID AcceptStartup sends in BackendKeyData
// unless StartupReply.ProcessID says otherwise.
const FakeProcessID uint32 = 4242

// FakeSecretKey returns the 4-byte cancel key AcceptStartup sends in
// BackendKeyData unless StartupReply.SecretKey says otherwise. Each call
// returns a new slice.
func FakeSecretKey() []byte { return []byte{0x5e, 0xc7, 0xe7, 0x4b} }

// StartupReply configures AcceptStartupWith. The zero value accepts any
// StartupMessage and sends the reply of a PostgreSQL 16 server that trusts
// the client.
//
// StartupReply is a plain value, safe to share once built: AcceptStartupWith
// copies it and Messages does not modify it.
type StartupReply struct {
	// Parameters overrides the values of default ParameterStatus messages
	// and adds more (after the defaults, sorted by name). Nil means the
	// defaults only.
	Parameters map[string]string
	// Omit names ParameterStatus messages not to send, after Parameters is
	// applied.
	Omit []string
	// ProcessID is the process ID in BackendKeyData; zero means
	// FakeProcessID.
	ProcessID uint32
	// SecretKey is the cancel key in BackendKeyData; nil means
	// FakeSecretKey(). A non-nil empty slice sends an empty key.
	SecretKey []byte
	// OmitBackendKeyData leaves out BackendKeyData.
	OmitBackendKeyData bool
	// Check, if not nil, is called with the StartupMessage received; an
	// error fails the step. Nil accepts any StartupMessage.
	Check func(*pgproto3.StartupMessage) error
}

// Messages returns the messages AcceptStartupWith sends in reply to startup
// (which may be nil): AuthenticationOk, one ParameterStatus per parameter,
// BackendKeyData and ReadyForQuery with status 'I'. The defaults are what a
// PostgreSQL 16.4 server reports: client_encoding and server_encoding UTF8,
// standard_conforming_strings and integer_datetimes on, DateStyle "ISO, MDY",
// IntervalStyle postgres, TimeZone UTC, server_version 16.4, is_superuser,
// default_transaction_read_only and in_hot_standby off, scram_iterations
// 4096, application_name as the client sent it (else empty) and
// session_authorization set to the client's user (else postgres).
func (r StartupReply) Messages(startup *pgproto3.StartupMessage) []pgproto3.BackendMessage {
	var sent map[string]string
	if startup != nil {
		sent = startup.Parameters
	}
	user := sent["user"]
	if user == "" {
		user = "postgres"
	}
	params := []pgproto3.ParameterStatus{
		{Name: "in_hot_standby", Value: "off"},
		{Name: "integer_datetimes", Value: "on"},
		{Name: "TimeZone", Value: "UTC"},
		{Name: "IntervalStyle", Value: "postgres"},
		{Name: "is_superuser", Value: "off"},
		{Name: "application_name", Value: sent["application_name"]},
		{Name: "default_transaction_read_only", Value: "off"},
		{Name: "scram_iterations", Value: "4096"},
		{Name: "DateStyle", Value: "ISO, MDY"},
		{Name: "standard_conforming_strings", Value: "on"},
		{Name: "session_authorization", Value: user},
		{Name: "client_encoding", Value: "UTF8"},
		{Name: "server_version", Value: "16.4"},
		{Name: "server_encoding", Value: "UTF8"},
	}
	for i, p := range params {
		if v, ok := r.Parameters[p.Name]; ok {
			params[i].Value = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Parameters)) {
		if !slices.ContainsFunc(params, func(p pgproto3.ParameterStatus) bool { return p.Name == name }) {
			params = append(params, pgproto3.ParameterStatus{Name: name, Value: r.Parameters[name]})
		}
	}

	msgs := []pgproto3.BackendMessage{&pgproto3.AuthenticationOk{}}
	for _, p := range params {
		if !slices.Contains(r.Omit, p.Name) {
			msgs = append(msgs, &p)
		}
	}
	if !r.OmitBackendKeyData {
		pid := r.ProcessID
		if pid == 0 {
			pid = FakeProcessID
		}
		key := FakeSecretKey()
		if r.SecretKey != nil {
			key = slices.Clone(r.SecretKey)
		}
		msgs = append(msgs, &pgproto3.BackendKeyData{ProcessID: pid, SecretKey: key})
	}
	return append(msgs, &pgproto3.ReadyForQuery{TxStatus: 'I'})
}

// AcceptStartup is AcceptStartupWith(StartupReply{}): it expects any
// StartupMessage and answers like a PostgreSQL 16 server that trusts the
// client, ending at ReadyForQuery.
func (s *Script) AcceptStartup() *Script { return s.AcceptStartupWith(StartupReply{}) }

// AcceptStartupWith expects a StartupMessage (a startup packet: send DenySSL
// first for a client that asks for TLS), checks it with reply.Check, and
// answers with reply.Messages of it in one Write. It is one step; reply is
// copied now.
func (s *Script) AcceptStartupWith(reply StartupReply) *Script {
	reply.Parameters = maps.Clone(reply.Parameters)
	reply.Omit = slices.Clone(reply.Omit)
	reply.SecretKey = slices.Clone(reply.SecretKey)
	return s.add("accept startup", func(ctx context.Context, r *fakeRun) error {
		got, err := r.receive(ctx, true)
		if err != nil {
			return err
		}
		sm, ok := got.(*pgproto3.StartupMessage)
		if !ok {
			err := fakeSameType(&pgproto3.StartupMessage{}, got)
			if _, ssl := got.(*pgproto3.SSLRequest); ssl {
				err = fmt.Errorf("%w\n\t(add DenySSL before AcceptStartup for a client that asks for TLS)", err)
			}
			return err
		}
		if reply.Check != nil {
			if err := reply.Check(sm); err != nil {
				return fmt.Errorf("check startup: %w\n\tgot %s", err, fakeFormat(sm))
			}
		}
		data, err := fakeEncodeBackend(reply.Messages(sm))
		if err != nil {
			return err
		}
		if err := r.write(ctx, data); err != nil {
			return err
		}
		return r.be.SetAuthType(pgproto3.AuthTypeOk)
	})
}
