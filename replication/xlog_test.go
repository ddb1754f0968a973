package replication_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

func TestXLogDataRoundTrip(t *testing.T) {
	t.Parallel()
	x := replication.XLogData{WALStart: 0x10, ServerWALEnd: 0x20, ServerTime: ts, Data: []byte("wal")}
	b := x.Encode(nil)
	assert.Equal(t, byte('w'), b[0])
	assert.Len(t, b, 25+3)
	got, err := replication.ParseXLogData(b)
	require.NoError(t, err)
	assert.Equal(t, x, got)
	b[len(b)-1] = 'X'
	assert.Equal(t, "waX", string(got.Data), "Data aliases the payload")
}

func TestKeepaliveAndStatusRoundTrip(t *testing.T) {
	t.Parallel()
	k := replication.PrimaryKeepalive{ServerWALEnd: 0x1234, ServerTime: ts, ReplyRequested: true}
	kb := k.Encode(nil)
	assert.Len(t, kb, 18)
	gotK, err := replication.ParsePrimaryKeepalive(kb)
	require.NoError(t, err)
	assert.Equal(t, k, gotK)

	u := replication.StandbyStatusUpdate{WALWritten: 3, WALFlushed: 2, WALApplied: 1, ClientTime: ts}
	ub := u.Encode(nil)
	assert.Len(t, ub, 34)
	gotU, err := replication.ParseStandbyStatusUpdate(ub)
	require.NoError(t, err)
	assert.Equal(t, u, gotU)

	h := replication.HotStandbyFeedback{ClientTime: ts, Xmin: 1, XminEpoch: 2, CatalogXmin: 3, CatalogXminEpoch: 4}
	hb := h.Encode(nil)
	assert.Len(t, hb, 25)
	gotH, err := replication.ParseHotStandbyFeedback(hb)
	require.NoError(t, err)
	assert.Equal(t, h, gotH)
}

func TestParsePayloadErrors(t *testing.T) {
	t.Parallel()
	keepalive := (&replication.PrimaryKeepalive{ServerWALEnd: 1}).Encode(nil)
	tests := []struct {
		name   string
		parse  func([]byte) error
		in     []byte
		reason wire.Reason
	}{
		{name: "xlogdata empty", parse: parseX, in: nil, reason: wire.ReasonMalformed},
		{name: "xlogdata short header", parse: parseX, in: []byte("w1234567"), reason: wire.ReasonMalformed},
		{name: "xlogdata wrong sub-type", parse: parseX, in: keepalive, reason: wire.ReasonInvalidValue},
		{name: "keepalive short", parse: parseK, in: keepalive[:17], reason: wire.ReasonMalformed},
		{name: "keepalive long", parse: parseK, in: append(append([]byte{}, keepalive...), 0), reason: wire.ReasonTrailingBytes},
		{name: "keepalive reply byte 2", parse: parseK, in: append(append([]byte{}, keepalive[:17]...), 2), reason: wire.ReasonInvalidValue},
		{name: "status short", parse: parseU, in: []byte{'r', 0}, reason: wire.ReasonMalformed},
		{name: "feedback wrong sub-type", parse: parseH, in: keepalive, reason: wire.ReasonInvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.parse(tc.in)
			var de *replication.DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.reason.String(), de.Reason.String(), "%v", err)
		})
	}
}

func parseX(b []byte) error { _, err := replication.ParseXLogData(b); return err }
func parseK(b []byte) error { _, err := replication.ParsePrimaryKeepalive(b); return err }
func parseU(b []byte) error { _, err := replication.ParseStandbyStatusUpdate(b); return err }
func parseH(b []byte) error { _, err := replication.ParseHotStandbyFeedback(b); return err }

func TestTimeConversion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		us   int64
	}{
		{name: "epoch", us: 0},
		{name: "before epoch", us: -1},
		{name: "typical", us: 768_000_000_123_456},
		{name: "min", us: -1 << 63},
		{name: "max", us: 1<<63 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.us, replication.TimeToPG(replication.TimeFromPG(tc.us)))
		})
	}
	assert.Equal(t, "2000-01-01T00:00:00Z", replication.TimeFromPG(0).Format("2006-01-02T15:04:05Z07:00"))
}
