package wire_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgstrict/pgstrict/wire"
)

// benchRows are DataRows of mixed widths, served in a cycle: a narrow
// integer row (the common OLTP case), a typical mixed row with a NULL, a
// wide row of many short columns, and a row with one 1 KiB text value (to
// show per-byte validation cost).
func benchRows(tb testing.TB) (rowDesc []byte, rows []byte, n int) {
	tb.Helper()
	fields := make([]pgproto3.FieldDescription, 4)
	for i := range fields {
		fields[i] = pgproto3.FieldDescription{Name: []byte("c"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
	}
	mixed := [][][]byte{
		{[]byte("42"), []byte("7"), []byte("1"), []byte("0")},
		{[]byte("123456"), []byte("alice@example.com"), nil, []byte("2026-11-22 10:00:00+00")},
		{[]byte("a"), []byte("b"), []byte("c"), []byte("d")},
		{[]byte("9"), bytes.Repeat([]byte("x"), 1024), []byte("ünïcödé"), nil},
	}
	var out []byte
	for _, v := range mixed {
		var err error
		out, err = (&pgproto3.DataRow{Values: v}).Encode(out)
		if err != nil {
			tb.Fatal(err)
		}
	}
	rd, err := (&pgproto3.RowDescription{Fields: fields}).Encode(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rd, out, len(mixed)
}

// startupReply is what a server sends after authentication.
func startupReply(tb testing.TB) []byte {
	return encode(tb,
		&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.ParameterStatus{Name: "server_encoding", Value: "UTF8"},
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
}

// BenchmarkReadDataRows reads DataRows through the full wire Frontend
// (framing, caps, strict decode, state tracking, UTF-8 validation of text
// values) and through a bare pgproto3 Frontend.Receive loop over the same
// bytes, which checks none of that (the floor). One op is one row.
//
//	go test -run '^$' -bench ReadDataRows -benchmem ./wire/
func BenchmarkReadDataRows(b *testing.B) {
	for _, set := range []struct {
		name       string
		desc, rows []byte
	}{
		{"mixed", nil, nil},
		{"replay", nil, nil},
	} {
		if set.name == "mixed" {
			set.desc, set.rows, _ = benchRows(b)
		} else {
			set.desc, set.rows = replayRows(b)
		}
		b.Run(set.name, func(b *testing.B) { benchReadDataRows(b, set.desc, set.rows) })
	}
}

// replayRows are 16 DataRows of the shape bench.MixedRowsQuery reads (an
// int, "row N", a NULL, 100 'x' and 1 KiB on the 16th row): the row of the
// replay benchmarks, here served from the cache.
func replayRows(tb testing.TB) (rowDesc []byte, rows []byte) {
	tb.Helper()
	text := func(name string) pgproto3.FieldDescription {
		return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
	}
	rd, err := (&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1},
		text("name"), text("note"), text("payload"),
	}}).Encode(nil)
	if err != nil {
		tb.Fatal(err)
	}
	for g := 500_001; g <= 500_016; g++ {
		id := strconv.Itoa(g)
		payload := bytes.Repeat([]byte("x"), 100)
		if g%16 == 0 {
			payload = bytes.Repeat([]byte("x"), 1024)
		}
		rows, err = (&pgproto3.DataRow{Values: [][]byte{[]byte(id), []byte("row " + id), nil, payload}}).Encode(rows)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return rd, rows
}

func benchReadDataRows(b *testing.B, desc, rows []byte) {
	// open returns a Frontend that has read the RowDescription.
	open := func(b *testing.B) *wire.Frontend {
		src := io.MultiReader(bytes.NewReader(startupReply(b)), bytes.NewReader(desc), &cycle{b: rows})
		fe := wire.NewFrontend(src, wire.FrontendOptions{})
		if err := fe.SendStartup(map[string]string{"user": "u"}); err != nil {
			b.Fatal(err)
		}
		for fe.State() != wire.StateIdle {
			if _, _, err := fe.Receive(); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := fe.SendQuery("select"); err != nil {
			b.Fatal(err)
		}
		if _, _, err := fe.Receive(); err != nil { // RowDescription
			b.Fatal(err)
		}
		return fe
	}
	// Every row through Receive: decoded into a pgproto3.DataRow.
	b.Run("wire-Receive", func(b *testing.B) {
		fe := open(b)
		b.ReportAllocs()
		var total int
		for b.Loop() {
			msg, _, err := fe.Receive()
			if err != nil {
				b.Fatal(err)
			}
			total += len(msg.(*pgproto3.DataRow).Values)
		}
		_ = total
	})
	// As conn reads rows: NextRow, and Receive when it declines (the first
	// row, a row not yet wholly buffered). wire-NextRow-goloop is the same
	// with NextRow's Go column loop instead of its register scan (amd64
	// with AVX2 only).
	for _, v := range []struct {
		name string
		scan bool
	}{{"wire-NextRow", true}, {"wire-NextRow-goloop", false}} {
		b.Run(v.name, func(b *testing.B) {
			if !v.scan {
				restore, ok := wire.SetRowScan(false)
				defer restore()
				if !ok {
					b.Skip("no register scan in this build")
				}
			}
			fe := open(b)
			b.ReportAllocs()
			var total int
			for b.Loop() {
				if vals, ok := fe.NextRow(); ok {
					total += len(vals)
					continue
				}
				msg, _, err := fe.Receive()
				if err != nil {
					b.Fatal(err)
				}
				total += len(msg.(*pgproto3.DataRow).Values)
			}
			_ = total
		})
	}
	b.Run("pgproto3", func(b *testing.B) {
		src := io.MultiReader(bytes.NewReader(desc), &cycle{b: rows})
		fe := pgproto3.NewFrontend(src, io.Discard)
		if _, err := fe.Receive(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var total int
		for b.Loop() {
			msg, err := fe.Receive()
			if err != nil {
				b.Fatal(err)
			}
			total += len(msg.(*pgproto3.DataRow).Values)
		}
		_ = total
	})
}

// BenchmarkCheckText measures the UTF-8 and NUL check of text values.
func BenchmarkCheckText(b *testing.B) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"ascii16", []byte("0123456789abcdef")},
		{"ascii100", bytes.Repeat([]byte("x"), 100)},
		{"ascii1k", bytes.Repeat([]byte("x"), 1024)},
		{"utf8_1k", bytes.Repeat([]byte("ü"), 512)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				if ok, _, _ := wire.CheckText(tc.in); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}
