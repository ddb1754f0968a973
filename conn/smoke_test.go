package conn_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSmoke(t *testing.T) {
	db := pgtest.MustDatabase(t)
	ctx := context.Background()
	for _, role := range []pgtest.Role{pgtest.RoleTrust, pgtest.RolePassword, pgtest.RoleMD5, pgtest.RoleSCRAM} {
		c, err := conn.Connect(ctx, db.URL(role, "sslmode=prefer"))
		require.NoError(t, err, role)
		res, err := c.Exec(ctx, "select 1, 'x'; select 2").ReadAll()
		require.NoError(t, err)
		require.Len(t, res, 2)
		rr := c.ExecParams(ctx, "select $1::int + 1", [][]byte{[]byte("41")}, nil, nil, nil)
		r := rr.Read()
		require.NoError(t, r.Err)
		require.Equal(t, "42", string(r.Rows[0][0]))
		t.Log(role, c.TLSConnectionState() != nil, string(res[0].Rows[0][1]))
		require.NoError(t, c.Close(ctx))
	}
}
