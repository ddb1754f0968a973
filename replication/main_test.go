package replication_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/replication"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// realTimeout bounds each real-server test.
const realTimeout = 60 * time.Second

func realCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), realTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// realDB returns a fresh database on the managed cluster. Before it is
// dropped, the cleanup waits until no walsender holds a slot of it (a closed
// replication connection releases its slot asynchronously) and drops the
// slots left.
func realDB(tb testing.TB) *pgtest.Database {
	tb.Helper()
	pgtest.RequireManaged(tb)
	db := pgtest.MustDatabase(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := conn.Connect(ctx, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
		if err != nil {
			tb.Errorf("cleanup: %v", err)
			return
		}
		defer c.Close(ctx)
		name := replication.QuoteLiteral(db.Name())
		for {
			res, err := c.Exec(ctx, "SELECT count(*) FROM pg_replication_slots WHERE active AND database = "+name).ReadAll()
			if err != nil {
				tb.Errorf("cleanup: %v", err)
				return
			}
			if string(res[0].Rows[0][0]) == "0" {
				break
			}
			if ctx.Err() != nil {
				tb.Errorf("cleanup: slots of %s still active", db.Name())
				return
			}
			// A bounded poll: the walsender's exit has no event we can wait on.
			time.Sleep(20 * time.Millisecond)
		}
		_, err = c.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = "+name).ReadAll()
		if err != nil {
			tb.Errorf("cleanup: drop slots: %v", err)
		}
	})
	return db
}

// slotName returns a slot name unique in the cluster (slots are per
// cluster, databases per test): base and the database's random suffix.
func slotName(db *pgtest.Database, base string) string {
	n := db.Name()
	return base + "_" + n[len(n)-8:]
}

// superConn connects as the superuser (for DDL and the workload).
func superConn(tb testing.TB, db *pgtest.Database) *conn.Conn {
	tb.Helper()
	c, err := conn.Connect(realCtx(tb), db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// replConn opens a replication connection: mode is "database" or "true";
// params are extra startup settings (key=value).
func replConn(tb testing.TB, db *pgtest.Database, mode string, params ...string) *conn.Conn {
	tb.Helper()
	cfg, err := conn.ParseConfig(db.URL(pgtest.RoleReplication, "replication="+mode, "sslmode=disable"))
	require.NoError(tb, err)
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams[k] = v
	}
	c, err := replication.ConnectConfig(realCtx(tb), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// exec runs SQL and fails the test on error.
func exec(tb testing.TB, c *conn.Conn, sql string) {
	tb.Helper()
	_, err := c.Exec(realCtx(tb), sql).ReadAll()
	require.NoError(tb, err, sql)
}

// query runs SQL and returns the rows as text (nil for NULL).
func query(tb testing.TB, c *conn.Conn, sql string) [][]*string {
	tb.Helper()
	res, err := c.Exec(realCtx(tb), sql).ReadAll()
	require.NoError(tb, err, sql)
	require.Len(tb, res, 1, sql)
	out := make([][]*string, len(res[0].Rows))
	for i, r := range res[0].Rows {
		out[i] = make([]*string, len(r))
		for j, v := range r {
			if v != nil {
				s := string(v)
				out[i][j] = &s
			}
		}
	}
	return out
}

func queryValue(tb testing.TB, c *conn.Conn, sql string) string {
	tb.Helper()
	rows := query(tb, c, sql)
	require.Len(tb, rows, 1, sql)
	require.Len(tb, rows[0], 1, sql)
	require.NotNil(tb, rows[0][0], sql)
	return *rows[0][0]
}

// col is a copied tuple column: kind and value.
type col struct {
	kind replication.ColumnKind
	val  string
}

func (c col) String() string {
	if c.kind == replication.ColumnText || c.kind == replication.ColumnBinary {
		return fmt.Sprintf("%c:%q", c.kind, c.val)
	}
	return string(c.kind)
}

func cols(td *replication.TupleData) []col {
	out := make([]col, len(td.Columns))
	for i, c := range td.Columns {
		out[i] = col{kind: c.Kind, val: string(c.Data)}
	}
	return out
}

// event is a copied message, kept past the next Next.
type event struct {
	typ      byte
	rel      string // relation of a change, or of a Relation message
	xid      uint32
	oldKind  byte
	old, new []col
	gid      string
	prefix   string
	content  string
	flags    uint8
	first    bool            // StreamStart.FirstSegment
	subXid   uint32          // StreamAbort.SubXid
	end      replication.LSN // end position of a transaction end
	rels     []string        // Truncate
	relation *replication.Relation
}

func snapshot(m replication.Message) event {
	e := event{typ: m.MessageType()}
	switch v := m.(type) {
	case *replication.Begin:
		e.xid = v.Xid
	case *replication.Commit:
		e.end, e.flags = v.EndLSN, v.Flags
	case *replication.Relation:
		e.rel, e.xid, e.relation = v.Name, v.Xid, v
	case *replication.Insert:
		e.rel, e.xid, e.new = v.Relation.Name, v.Xid, cols(&v.New)
	case *replication.Update:
		e.rel, e.xid, e.oldKind, e.old, e.new = v.Relation.Name, v.Xid, v.OldKind, cols(&v.Old), cols(&v.New)
	case *replication.Delete:
		e.rel, e.xid, e.oldKind, e.old = v.Relation.Name, v.Xid, v.OldKind, cols(&v.Old)
	case *replication.Truncate:
		e.xid, e.flags = v.Xid, v.Options
		for _, r := range v.Relations {
			e.rels = append(e.rels, r.Name)
		}
	case *replication.LogicalMessage:
		e.xid, e.flags, e.prefix, e.content = v.Xid, v.Flags, v.Prefix, string(v.Content)
	case *replication.StreamStart:
		e.xid, e.first = v.Xid, v.FirstSegment
	case *replication.StreamCommit:
		e.xid, e.end = v.Xid, v.EndLSN
	case *replication.StreamAbort:
		e.xid, e.subXid = v.Xid, v.SubXid
	case *replication.BeginPrepare:
		e.xid, e.gid = v.Xid, v.GID
	case *replication.Prepare:
		e.xid, e.gid, e.end = v.Xid, v.GID, v.EndLSN
	case *replication.CommitPrepared:
		e.xid, e.gid, e.end = v.Xid, v.GID, v.EndLSN
	case *replication.RollbackPrepared:
		e.xid, e.gid, e.end = v.Xid, v.GID, v.RollbackEndLSN
	case *replication.StreamPrepare:
		e.xid, e.gid, e.end = v.Xid, v.GID, v.EndLSN
	}
	return e
}

// collect reads the stream until stop returns true for an event (included).
func collect(tb testing.TB, st *replication.Stream, stop func(event) bool) []event {
	tb.Helper()
	ctx := realCtx(tb)
	var out []event
	for {
		m, err := st.Next(ctx)
		require.NoError(tb, err)
		e := snapshot(m)
		out = append(out, e)
		if stop(e) {
			return out
		}
	}
}

// countEnds returns a stop function that is true at the nth transaction
// end (Commit, StreamCommit, Prepare, CommitPrepared, RollbackPrepared, …).
func countEnds(n int) func(event) bool {
	seen := 0
	return func(e event) bool {
		switch e.typ {
		case 'C', 'c', 'P', 'K', 'r', 'p':
			seen++
		}
		return seen >= n
	}
}

// types returns the message type bytes of events.
func types(events []event) string {
	b := make([]byte, len(events))
	for i, e := range events {
		b[i] = e.typ
	}
	return string(b)
}
