package replication_test

import (
	"fmt"

	"github.com/pgstrict/pgstrict/replication"
)

// ParseLSN reads the text form PostgreSQL prints; String writes it back.
func ExampleParseLSN() {
	lsn, err := replication.ParseLSN("16/b374d848")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(uint64(lsn), lsn)
	_, err = replication.ParseLSN("16/B374D848 ")
	fmt.Println(err)
	// Output:
	// 97500059720 16/B374D848
	// replication: invalid LSN "16/B374D848 "
}

// A Decoder reads a recorded pgoutput stream and enforces its ordering
// rules: here a change for a table the stream never described.
func ExampleDecoder() {
	d, err := replication.NewDecoder(replication.DecoderOptions{ProtoVersion: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	rel := &replication.Relation{ID: 16384, Namespace: "public", Name: "t", ReplicaIdentity: replication.ReplicaIdentityDefault,
		Columns: []replication.RelationColumn{{Flags: 1, Name: "id", TypeOID: 23, TypeModifier: -1}}}
	text := func(s string) replication.TupleData {
		return replication.TupleData{Columns: []replication.TupleColumn{{Kind: replication.ColumnText, Data: []byte(s)}}}
	}
	stream := []replication.Message{
		&replication.Begin{FinalLSN: 0x1000, Xid: 7},
		rel,
		&replication.Insert{RelationID: 16384, New: text("42")},
		&replication.Insert{RelationID: 99, New: text("43")},
	}
	for _, m := range stream {
		msg, err := d.Decode(0, m.Encode(nil))
		if err != nil {
			fmt.Println(err)
			return
		}
		if ins, ok := msg.(*replication.Insert); ok {
			fmt.Printf("insert into %s.%s: %s\n", ins.Relation.Namespace, ins.Relation.Name, ins.New.Columns[0].Data)
		}
	}
	// Output:
	// insert into public.t: 42
	// replication: replication_state in message 'I': change for relation OID 99 with no Relation message before it
}
