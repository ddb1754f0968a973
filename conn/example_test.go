package conn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pgstrict/pgstrict/conn"
)

// The examples that need a server have no Output comment: they are
// compiled, not run.

func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := conn.Connect(ctx, "postgres://app@db.example.com:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.crt")
	if err != nil {
		// A *conn.ConnectError lists every host and address tried.
		var ce *conn.ConnectError
		if errors.As(err, &ce) {
			for _, a := range ce.Attempts {
				log.Printf("%s:%d: %v", a.Host, a.Port, a.Err)
			}
		}
		log.Fatal(err)
	}
	defer c.Close(context.Background())
	fmt.Println("connected to backend", c.PID(), "running", c.ParameterStatus("server_version"))
}

func ExampleConn_Exec() {
	ctx := context.Background()
	c, err := conn.Connect(ctx, "host=/var/run/postgresql dbname=app")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	// One simple-protocol Query may hold several statements; each has its
	// own result. Values alias the read buffer until the next NextRow.
	mrr := c.Exec(ctx, "create temp table t (n int); insert into t values (1), (2); select n, n * n from t order by n")
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			v := rr.Values()
			fmt.Printf("n=%s square=%s\n", v[0], v[1])
		}
		tag, err := rr.Close()
		if err != nil {
			break // the statement failed; mrr.Close reports it
		}
		fmt.Println(tag)
	}
	if err := mrr.Close(); err != nil {
		var pe *conn.PgError
		if errors.As(err, &pe) {
			log.Fatalf("SQLSTATE %s at character %d: %s", pe.Code, pe.Position, pe.Message)
		}
		log.Fatal(err)
	}
}

func ExampleConn_ExecParams() {
	ctx := context.Background()
	c, err := conn.Connect(ctx, "host=/var/run/postgresql dbname=app")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	// Parameters travel apart from the SQL text: no quoting, no injection.
	// nil is NULL; text-format values must be valid UTF-8 without NUL.
	r := c.ExecParams(ctx, "select $1::text || ' ' || coalesce($2::text, 'nobody')",
		[][]byte{[]byte("hello"), nil}, nil, nil, nil).Read()
	if r.Err != nil {
		log.Fatal(r.Err)
	}
	fmt.Println(string(r.Rows[0][0]))
}

func ExamplePipeline() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := conn.Connect(ctx, "host=/var/run/postgresql dbname=app")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())

	// Queue many requests, send them in one go, then read the results in
	// order. A failing request makes the server skip the rest of its
	// segment (up to the Sync): those report conn.ErrPipelineSkipped.
	p := c.StartPipeline(ctx)
	for _, name := range []string{"ada", "grace", "edsger"} {
		if err := p.SendQueryParams("insert into people (name) values ($1)", [][]byte{[]byte(name)}, nil, nil, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Sync(); err != nil {
		log.Fatal(err)
	}
	for {
		res, err := p.GetResults()
		if res == nil && err == nil {
			break // every result read
		}
		switch r := res.(type) {
		case *conn.ResultReader:
			tag, err := r.Close()
			fmt.Println(tag, err)
		case *conn.PipelineSync:
			fmt.Println("segment committed:", err == nil)
		default:
			fmt.Println("skipped or failed:", err)
		}
	}
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
}

func ExampleConn_WaitForNotification() {
	ctx := context.Background()
	c, err := conn.Connect(ctx, "host=/var/run/postgresql dbname=app")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	if err := c.Exec(ctx, "listen jobs").Close(); err != nil {
		log.Fatal(err)
	}
	for {
		// A wait whose context ends leaves the connection idle and
		// usable: poll with a timeout and do other work in between.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := c.WaitForNotification(wctx)
		cancel()
		var dropped *conn.DroppedNotificationsError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			continue
		case errors.As(err, &dropped):
			log.Printf("missed %d notifications: rescan the jobs table", dropped.Dropped)
			continue
		case err != nil:
			log.Fatal(err)
		}
		fmt.Printf("job %s (from backend %d)\n", n.Payload, n.PID)
	}
}

func ExampleParseCommandTag() {
	for _, s := range []string{"INSERT 0 3", "UPDATE 12", "SELECT 1", "CREATE TABLE"} {
		tag := conn.ParseCommandTag(s)
		fmt.Printf("%-12s command=%q rows=%d\n", tag, tag.Command(), tag.RowsAffected())
	}
	// Output:
	// INSERT 0 3   command="INSERT" rows=3
	// UPDATE 12    command="UPDATE" rows=12
	// SELECT 1     command="SELECT" rows=1
	// CREATE TABLE command="CREATE TABLE" rows=0
}
