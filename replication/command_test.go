package replication_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/replication"
	"github.com/pgstrict/pgstrict/wire"
)

func TestQuoting(t *testing.T) {
	t.Parallel()
	q, err := replication.QuoteIdentifier("Slot")
	require.NoError(t, err)
	assert.Equal(t, `"Slot"`, q)
	for _, bad := range []string{`a"b`, "", "a\x00b", "\xff"} {
		_, err := replication.QuoteIdentifier(bad)
		var ie *wire.InputError
		assert.ErrorAs(t, err, &ie, "%q", bad)
	}
	assert.Equal(t, `'it''s'`, replication.QuoteLiteral("it's"))
	assert.Equal(t, `'a\b'`, replication.QuoteLiteral(`a\b`), "no backslash escapes in the replication grammar")
}

func TestCreateSlotCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		slot    string
		opts    replication.CreateSlotOptions
		version int
		want    string
		wantErr bool
	}{
		{name: "logical", slot: "s", opts: replication.CreateSlotOptions{Plugin: "pgoutput"}, version: 15,
			want: `CREATE_REPLICATION_SLOT "s" LOGICAL "pgoutput"`},
		{name: "logical options", slot: "s", version: 15,
			opts: replication.CreateSlotOptions{Plugin: "pgoutput", Temporary: true, Snapshot: replication.SnapshotNothing, TwoPhase: true},
			want: `CREATE_REPLICATION_SLOT "s" TEMPORARY LOGICAL "pgoutput" (SNAPSHOT 'nothing', TWO_PHASE true)`},
		{name: "failover on 17", slot: "s", version: 17, opts: replication.CreateSlotOptions{Plugin: "pgoutput", Failover: true},
			want: `CREATE_REPLICATION_SLOT "s" LOGICAL "pgoutput" (FAILOVER true)`},
		{name: "failover on 15", slot: "s", version: 15, opts: replication.CreateSlotOptions{Plugin: "pgoutput", Failover: true}, wantErr: true},
		{name: "two-phase on 14", slot: "s", version: 14, opts: replication.CreateSlotOptions{Plugin: "pgoutput", TwoPhase: true}, wantErr: true},
		{name: "legacy syntax", slot: "s", version: 14, opts: replication.CreateSlotOptions{Plugin: "pgoutput", Snapshot: replication.SnapshotUse},
			want: `CREATE_REPLICATION_SLOT "s" LOGICAL "pgoutput" USE_SNAPSHOT`},
		{name: "physical", slot: "p", version: 15, opts: replication.CreateSlotOptions{ReserveWAL: true},
			want: `CREATE_REPLICATION_SLOT "p" PHYSICAL (RESERVE_WAL true)`},
		{name: "physical legacy", slot: "p", version: 12, opts: replication.CreateSlotOptions{ReserveWAL: true, Temporary: true},
			want: `CREATE_REPLICATION_SLOT "p" TEMPORARY PHYSICAL RESERVE_WAL`},
		{name: "quoted name", slot: "We ird", version: 15, opts: replication.CreateSlotOptions{Plugin: "pgoutput"},
			want: `CREATE_REPLICATION_SLOT "We ird" LOGICAL "pgoutput"`},
		{name: "double quote in a name", slot: `we"ird`, version: 15, opts: replication.CreateSlotOptions{Plugin: "pgoutput"}, wantErr: true},
		{name: "empty name", slot: "", version: 15, opts: replication.CreateSlotOptions{Plugin: "pgoutput"}, wantErr: true},
		{name: "NUL in name", slot: "a\x00b", version: 15, opts: replication.CreateSlotOptions{Plugin: "pgoutput"}, wantErr: true},
		{name: "snapshot on physical", slot: "p", version: 15, opts: replication.CreateSlotOptions{Snapshot: replication.SnapshotExport}, wantErr: true},
		{name: "reserve on logical", slot: "p", version: 15, opts: replication.CreateSlotOptions{Plugin: "x", ReserveWAL: true}, wantErr: true},
		{name: "unknown snapshot action", slot: "p", version: 15, opts: replication.CreateSlotOptions{Plugin: "x", Snapshot: "keep"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := replication.CreateSlotCommand(tc.slot, tc.opts, tc.version)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := replication.CreateSlotCommand("s", replication.CreateSlotOptions{Plugin: "pgoutput", Failover: true}, 15)
	var ve *replication.VersionError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 17, ve.Need)
	assert.Equal(t, 15, ve.Have)
}

func TestLogicalCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      replication.LogicalOptions
		version   int
		start     replication.LSN
		want      string
		wantProto int
		wantErr   bool
	}{
		{name: "defaults on 15", version: 15, opts: replication.LogicalOptions{Publications: []string{"pub"}},
			want: `START_REPLICATION SLOT "s" LOGICAL 0/0 (proto_version '3', publication_names '"pub"')`, wantProto: 3},
		{name: "defaults on 16", version: 16, opts: replication.LogicalOptions{Publications: []string{"pub"}}, wantProto: 4,
			want: `START_REPLICATION SLOT "s" LOGICAL 0/0 (proto_version '4', publication_names '"pub"')`},
		{name: "every option on 16", version: 16, start: 0x1_0000_0010,
			opts: replication.LogicalOptions{ProtoVersion: 4, Publications: []string{"a", `b"c`, "d'e"}, Binary: true, Messages: true,
				Streaming: replication.StreamingParallel, TwoPhase: true, Origin: "none"},
			want: `START_REPLICATION SLOT "s" LOGICAL 1/10 (proto_version '4', publication_names '"a","b""c","d''e"', ` +
				`binary 'true', messages 'true', streaming 'parallel', two_phase 'true', origin 'none')`, wantProto: 4},
		{name: "proto 4 on 15", version: 15, opts: replication.LogicalOptions{ProtoVersion: 4, Publications: []string{"p"}}, wantErr: true},
		{name: "proto 5", version: 17, opts: replication.LogicalOptions{ProtoVersion: 5, Publications: []string{"p"}}, wantErr: true},
		{name: "streaming on proto 1", version: 15, opts: replication.LogicalOptions{ProtoVersion: 1, Publications: []string{"p"},
			Streaming: replication.StreamingOn}, wantErr: true},
		{name: "parallel on proto 3", version: 16, opts: replication.LogicalOptions{ProtoVersion: 3, Publications: []string{"p"},
			Streaming: replication.StreamingParallel}, wantErr: true},
		{name: "two-phase on proto 2", version: 15, opts: replication.LogicalOptions{ProtoVersion: 2, Publications: []string{"p"},
			TwoPhase: true}, wantErr: true},
		{name: "origin on 15", version: 15, opts: replication.LogicalOptions{Publications: []string{"p"}, Origin: "none"}, wantErr: true},
		{name: "bad origin", version: 16, opts: replication.LogicalOptions{Publications: []string{"p"}, Origin: "some"}, wantErr: true},
		{name: "binary on 13", version: 13, opts: replication.LogicalOptions{Publications: []string{"p"}, Binary: true}, wantErr: true},
		{name: "no publication", version: 15, opts: replication.LogicalOptions{}, wantErr: true},
		{name: "empty publication", version: 15, opts: replication.LogicalOptions{Publications: []string{""}}, wantErr: true},
		{name: "unknown streaming", version: 15, opts: replication.LogicalOptions{Publications: []string{"p"}, Streaming: "yes"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, resolved, err := replication.LogicalCommand("s", tc.start, tc.opts, tc.version)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantProto, resolved.ProtoVersion)
		})
	}
}

func TestPhysicalCommand(t *testing.T) {
	t.Parallel()
	got, err := replication.PhysicalCommand(0x3000000, replication.PhysicalOptions{Slot: "phys", Timeline: 2})
	require.NoError(t, err)
	assert.Equal(t, `START_REPLICATION SLOT "phys" PHYSICAL 0/3000000 TIMELINE 2`, got)
	got, err = replication.PhysicalCommand(0x10, replication.PhysicalOptions{})
	require.NoError(t, err)
	assert.Equal(t, `START_REPLICATION PHYSICAL 0/10`, got)
	_, err = replication.PhysicalCommand(0x10, replication.PhysicalOptions{Timeline: -1})
	assert.Error(t, err)
}
