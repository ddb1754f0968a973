package pgtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/internal/pgtest"
)

// A script accepts the startup, answers one query with a DataRow whose
// length field lies, and expects the client to hang up. Tests use
// NewFakeServer, which closes the server and reports its outcome in
// t.Cleanup; StartFakeServer does the same without a testing.TB.
func ExampleStartFakeServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	script := pgtest.NewScript().
		AcceptStartup().
		Expect(&pgproto3.Query{String: "select 1"}).
		SendRaw([]byte{'D', 0, 0, 0, 99}). // claims 95 body bytes, sends none
		ExpectEOF()
	srv, err := pgtest.StartFakeServer(script, pgtest.WithFakeTransport(pgtest.FakeTCP))
	if err != nil {
		fmt.Println(err)
		return
	}

	// The client under test would use srv.Dial as its dial function.
	conn, err := srv.Dial(ctx, "tcp", "db.example:5432")
	if err != nil {
		fmt.Println(err)
		return
	}
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": "alice"},
	})
	if err := fe.Flush(); err != nil {
		fmt.Println(err)
		return
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			fmt.Println(err)
			return
		}
		if rfq, ok := msg.(*pgproto3.ReadyForQuery); ok {
			fmt.Printf("ready, status %c\n", rfq.TxStatus)
			break
		}
	}
	fe.Send(&pgproto3.Query{String: "select 1"})
	if err := fe.Flush(); err != nil {
		fmt.Println(err)
		return
	}
	// Read what is there, see that the message is truncated, hang up.
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	fmt.Printf("got % x\n", buf[:n])
	_ = conn.Close()

	fmt.Println("script:", srv.Wait(ctx))
	fmt.Println("received:", len(srv.Received()), "messages")
	fmt.Println("close:", srv.Close(ctx))
	// Output:
	// ready, status I
	// got 44 00 00 00 63
	// script: <nil>
	// received: 2 messages
	// close: <nil>
}
