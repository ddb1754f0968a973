package pgcopy_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pgstrict/pgstrict/conn"
	pgcopy "github.com/pgstrict/pgstrict/copy"
)

func ExampleEncoder_AppendRow() {
	enc := pgcopy.NewEncoder(pgcopy.FormatCSV, []pgcopy.Column{{Name: "id"}, {Name: "note"}})
	var buf []byte
	for _, row := range [][]any{{1, "plain"}, {2, `with "quotes", a comma`}, {3, nil}, {4, ""}} {
		var err error
		if buf, err = enc.AppendRow(buf, row); err != nil {
			fmt.Println(err)
			return
		}
	}
	_, err := enc.AppendRow(buf, []any{5, "bad \xff"})
	fmt.Print(string(buf))
	fmt.Println(err)
	// Output:
	// 1,plain
	// 2,"with ""quotes"", a comma"
	// 3,
	// 4,""
	// pgcopy: row 5, column "note": wire: value: invalid UTF-8 at byte 4
}

func ExampleDecoder_Decode() {
	data := []byte("1\tone\n2\t\\N\n3\ttab\\there\n")
	dec := pgcopy.NewDecoder(pgcopy.FormatText)
	for len(data) > 0 {
		fields, n, err := dec.Decode(data)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q %v\n", fields[0], fields[1] == nil)
		data = data[n:]
	}
	// Output:
	// "1" false
	// "2" true
	// "3" false
}

func ExampleFrom() {
	ctx := context.Background()
	c, err := conn.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	n, err := pgcopy.From(ctx, c, "COPY items (id, name) FROM STDIN WITH (FORMAT csv)",
		strings.NewReader("1,apple\n2,pear\n"))
	fmt.Println(n, err)
}

func ExampleFromRows() {
	ctx := context.Background()
	c, err := conn.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	rows := pgcopy.SliceRows([][]any{{1, "apple", 0.5}, {2, "pear", nil}})
	n, err := pgcopy.FromRows(ctx, c, pgcopy.QuoteIdentifier("items"), []string{"id", "name", "price"}, rows, pgcopy.FormatBinary)
	fmt.Println(n, err)
}
