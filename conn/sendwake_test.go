package conn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// TestSendWake checks where the send-wake hint is armed: on TCP (with and
// without TLS) and Unix sockets, not when Config.NoSendWake is set, not on
// a connection that is no socket (net.Pipe); and that no request leaves
// its timer armed after the write.
func TestSendWake(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cases := []struct {
		name    string
		params  []string
		noWake  bool
		wantHas bool
	}{
		{name: "tcp", params: []string{"sslmode=disable"}, wantHas: true},
		{name: "tls", params: []string{"sslmode=require"}, wantHas: true},
		{name: "unix", params: []string{"host=" + db.Cluster().SocketDir()}, wantHas: true},
		{name: "tcp NoSendWake", params: []string{"sslmode=disable"}, noWake: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, db.URL(pgtest.RoleTrust, tc.params...))
			cfg.NoSendWake = tc.noWake
			c := mustConnectConfig(t, cfg)
			has, armed := conn.SendWakeState(c)
			require.Equal(t, tc.wantHas, has)
			assert.False(t, armed, "armed after the startup")
			ctx := boundedCtx(t, faultTimeout)
			_, err := c.Exec(ctx, "select 1").ReadAll()
			require.NoError(t, err)
			_, armed = conn.SendWakeState(c)
			assert.False(t, armed, "armed after a simple query")
			r := c.ExecParams(ctx, "select $1::int", [][]byte{[]byte("7")}, nil, nil, nil).Read()
			require.NoError(t, r.Err)
			require.Equal(t, [][][]byte{{[]byte("7")}}, r.Rows)
			_, armed = conn.SendWakeState(c)
			assert.False(t, armed, "armed after an extended query")
			requireUsable(t, c)
		})
	}
	t.Run("pipe", func(t *testing.T) {
		t.Parallel()
		c, _ := faultConnect(t, pgtest.FakePipe, faultQueryPrefix(fmSelectOne(t)).StallUntilClosed(), nil)
		has, _ := conn.SendWakeState(c)
		assert.False(t, has, "net.Pipe is no socket: no hint")
		res, err := c.Exec(faultCtx(t), "select 1").ReadAll()
		require.NoError(t, err, "requests are written without the hint")
		require.Len(t, res, 1)
		assert.Equal(t, [][][]byte{{[]byte("1")}}, res[0].Rows)
	})
}
