package pool_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/pool"
)

func ExampleParseConfig() {
	cfg, err := pool.ParseConfig("postgres://app@db.example/shop?pool_max_conns=8&pool_max_conn_lifetime=30m&pool_reset_query=DISCARD%20ALL")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.MaxConns, cfg.MaxConnLifetime, cfg.ResetQuery)
	fmt.Println(cfg.ConnConfig.User, cfg.ConnConfig.Database)
	// Output:
	// 8 30m0s DISCARD ALL
	// app shop
}

// A connection that breaks the protocol while borrowed is quarantined at
// Release and never handed out again: the next Acquire opens a new one.
// Here a scripted server answers "select 1" with a DataRow that no
// RowDescription announced.
func ExamplePool_quarantine() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := pgtest.NewScript().
		AcceptStartupWith(pgtest.StartupReply{ProcessID: 7}).
		Expect(&pgproto3.Query{String: "select 1"}).
		Send(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}}).
		ExpectEOF()
	srv, err := pgtest.StartFakeServer(script, pgtest.WithFakeTransport(pgtest.FakeTCP))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close(ctx)

	cc, err := conn.ParseConfig("host=127.0.0.1 user=app sslmode=disable")
	if err != nil {
		fmt.Println(err)
		return
	}
	cc.DialFunc = srv.Dial
	p, err := pool.New(ctx, &pool.Config{ConnConfig: cc, MaxConns: 1, HealthCheckPeriod: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	h, err := p.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = h.Exec(ctx, "select 1").ReadAll()
	fmt.Println(err != nil, h.Conn().State())
	h.Release()

	st := p.Stat()
	ev := st.RecentQuarantines[0]
	fmt.Println(st.Quarantined)
	fmt.Println(ev.Reason, ev.PID, ev.Statement)
	// Output:
	// true desynced
	// map[desynced:unexpected_message:1]
	// desynced:unexpected_message 7 select ?
}

func ExamplePool_Acquire() {
	ctx := context.Background()
	cfg, err := pool.ParseConfig(os.Getenv("DATABASE_URL") + "?pool_max_conns=4")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.ResetQuery = "DISCARD ALL"
	p, err := pool.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	h, err := p.Acquire(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Release() // back to the idle set only if provably clean
	rr := h.ExecParams(ctx, "select $1::int + 1", [][]byte{[]byte("41")}, nil, nil, nil)
	for rr.NextRow() {
		fmt.Println(string(rr.Values()[0]))
	}
	if _, err := rr.Close(); err != nil {
		fmt.Println(err)
	}
}

func ExamplePool_Stat() {
	ctx := context.Background()
	p, err := pool.New(ctx, nil) // the zero Config: PG* environment variables
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)
	if _, err := p.Exec(ctx, "select 1"); err != nil {
		fmt.Println(err)
	}
	st := p.Stat()
	fmt.Println(st.TotalConns, st.IdleConns, st.AcquireCount, st.AvgAcquireWait())
	for reason, n := range st.Quarantined {
		fmt.Println(reason, n)
	}
}
