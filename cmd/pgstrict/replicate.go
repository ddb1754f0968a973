package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/replication"
)

// replicateLong is the description of "pgstrict replicate --help".
const replicateLong = `Stream the changes of a logical replication slot as JSON lines.

replicate opens a logical replication connection (replication=database is
added to the connection string), starts the pgoutput plugin on --slot for the
publications given with --publication, and prints one JSON object per line
for every message: begin, insert, update, delete, truncate, message, commit,
and for streamed and two-phase transactions stream_start, stream_stop,
stream_commit, stream_abort, begin_prepare, prepare, commit_prepared,
rollback_prepared, stream_prepare. The slot must exist (CREATE_REPLICATION_SLOT
or pg_create_logical_replication_slot with the pgoutput plugin).

Row values are JSON strings in the column's text form (with --binary, as \x
and hex digits), SQL NULL is null, and an unchanged TOASTed value that the
server did not send is listed in "unchanged" instead of in the row.

Once the commit (or prepare, or rollback) line of a transaction is written to
stdout, its end position is confirmed to the server, which will not send that
transaction again to this slot. The stream then restarts after it.

Connection: --url, else DATABASE_URL, else the libpq PG* variables. The role
needs the REPLICATION attribute and a pg_hba.conf line for replication.

Progress (stderr): a line every 1000 changes and at the end, with the
position confirmed.

Stops: at the end of the transaction in which the --max-changes-th change
arrives; when --timeout has passed; on Ctrl-C. Each stops the stream cleanly
(a last status update, CopyDone) and exits 0.

Exit codes:
  0  the stream ended as asked (limit, timeout, Ctrl-C)
  1  server error, connection failure, protocol violation
  2  usage error (no slot, no publication, bad flag)`

// replicateOptions are the flags of "pgstrict replicate".
type replicateOptions struct {
	url            string
	slot           string
	publications   []string
	start          string
	proto          int
	binary         bool
	messages       bool
	streaming      string
	twoPhase       bool
	maxChanges     int64
	timeout        time.Duration
	statusInterval time.Duration
}

// newReplicateCmd builds "pgstrict replicate".
func newReplicateCmd(c *cli) *cobra.Command {
	var o replicateOptions
	cmd := &cobra.Command{
		Use:   "replicate --slot SLOT --publication PUB [flags]",
		Short: "Stream logical replication changes as JSON lines",
		Long:  replicateLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReplicate(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "connection string, a URL or key=value pairs (default $DATABASE_URL, then the PG* variables)")
	f.StringVar(&o.slot, "slot", "", "logical replication slot to stream from (required)")
	f.StringArrayVar(&o.publications, "publication", nil, "publication to stream (required; repeat for several)")
	f.StringVar(&o.start, "start", "0/0", "start position; 0/0 resumes after the slot's confirmed position")
	f.IntVar(&o.proto, "proto", 0, "pgoutput protocol version 1 to 4; 0 means the highest the server supports")
	f.BoolVar(&o.binary, "binary", false, "ask for values in binary format (printed as hex)")
	f.BoolVar(&o.messages, "messages", false, "include logical decoding messages (pg_logical_emit_message)")
	f.StringVar(&o.streaming, "streaming", "off", "stream large transactions while in progress: off, on or parallel")
	f.BoolVar(&o.twoPhase, "two-phase", false, "decode prepared transactions at PREPARE (the slot must have two_phase)")
	f.Int64Var(&o.maxChanges, "max-changes", 0, "stop after the transaction of the N-th change; 0 means no limit")
	f.DurationVar(&o.timeout, "timeout", 0, "stop after this long, connecting included; 0 means no limit")
	f.DurationVar(&o.statusInterval, "status-interval", replication.DefaultStatusInterval, "how often to send a status update to the server")
	return cmd
}

// replicateDrainTimeout bounds the clean end of the stream.
const replicateDrainTimeout = 5 * time.Second

func runReplicate(ctx context.Context, c *cli, o replicateOptions) error {
	if o.slot == "" {
		return usageErrorf("replicate: --slot is required")
	}
	if len(o.publications) == 0 {
		return usageErrorf("replicate: at least one --publication is required")
	}
	if o.maxChanges < 0 || o.timeout < 0 || o.statusInterval <= 0 {
		return usageErrorf("replicate: --max-changes and --timeout must not be negative, --status-interval must be positive")
	}
	start, err := replication.ParseLSN(o.start)
	if err != nil {
		return &usageError{err: fmt.Errorf("replicate: --start: %w", err)}
	}
	var streaming replication.StreamingMode
	switch o.streaming {
	case "off", "":
	case "on":
		streaming = replication.StreamingOn
	case "parallel":
		streaming = replication.StreamingParallel
	default:
		return usageErrorf("replicate: --streaming must be off, on or parallel, not %q", o.streaming)
	}
	cfg, err := conn.ParseConfig(c.execConnString(o.url))
	if err != nil {
		return &usageError{err: fmt.Errorf("replicate: %w", err)}
	}
	if cfg.Replication == conn.ReplicationNone {
		cfg.Replication = conn.ReplicationLogical
	}
	if cfg.Replication != conn.ReplicationLogical {
		return usageErrorf("replicate: the connection string must not select physical replication")
	}

	// runCtx ends the stream: the caller's context (Ctrl-C) or --timeout.
	runCtx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	rc, err := replication.ConnectConfig(runCtx, cfg)
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), replicateDrainTimeout)
		defer cancel()
		rc.Close(cctx)
	}()
	st, err := replication.StartLogical(runCtx, rc, o.slot, start, replication.LogicalOptions{
		ProtoVersion: o.proto, Publications: o.publications, Binary: o.binary, Messages: o.messages,
		Streaming: streaming, TwoPhase: o.twoPhase,
		Stream: replication.StreamOptions{StatusInterval: o.statusInterval},
	})
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	p := &replicatePrinter{out: bufio.NewWriter(c.stdout), progress: c.stderr}
	streamErr := p.run(runCtx, st, o.maxChanges)
	cctx, cancel := context.WithTimeout(context.Background(), replicateDrainTimeout)
	defer cancel()
	closeErr := st.Close(cctx)
	p.report(st, true)
	if streamErr != nil {
		return fmt.Errorf("replicate: %w", streamErr)
	}
	if closeErr != nil {
		return fmt.Errorf("replicate: %w", closeErr)
	}
	return nil
}

// replicatePrinter writes the JSON lines and the progress.
type replicatePrinter struct {
	out      *bufio.Writer
	progress io.Writer
	changes  int64
	txs      int64
	line     []byte
}

// run prints messages until the limit, the end of ctx, or an error. A
// context that ends is a normal stop.
func (p *replicatePrinter) run(ctx context.Context, st *replication.Stream, maxChanges int64) error {
	for {
		m, err := st.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				return p.out.Flush()
			}
			p.out.Flush()
			return err
		}
		end, isEnd := p.print(m, st.XLogData().WALStart)
		if err := p.out.Flush(); err != nil {
			return err
		}
		if isEnd {
			p.txs++
			// The transaction is on stdout: the server may forget it.
			if err := st.Confirm(end); err != nil {
				return err
			}
			if maxChanges > 0 && p.changes >= maxChanges {
				return nil
			}
		}
	}
}

// report writes a progress line; every 1000 changes, and at the end.
func (p *replicatePrinter) report(st *replication.Stream, final bool) {
	state := "progress"
	if final {
		state = "done"
	}
	fmt.Fprintf(p.progress, "replicate: %s: %d changes in %d transactions, confirmed %s\n", state, p.changes, p.txs, st.Confirmed())
}

// print writes one message as a JSON line and reports the end position of a
// transaction end.
func (p *replicatePrinter) print(m replication.Message, walStart replication.LSN) (replication.LSN, bool) {
	b := p.line[:0]
	var end replication.LSN
	isEnd := false
	field := func(name string) { b = append(b, ',', '"'); b = append(b, name...); b = append(b, '"', ':') }
	str := func(s string) { b = replJSONString(b, s) }
	num := func(n uint64) { b = strconv.AppendUint(b, n, 10) }
	lsn := func(name string, l replication.LSN) {
		field(name)
		b = append(b, '"')
		b = l.AppendText(b)
		b = append(b, '"')
	}
	tm := func(name string, t time.Time) {
		field(name)
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	kind := func(k string) { b = append(b, `{"kind":`...); str(k) }
	xid := func(x uint32) {
		if x != 0 {
			field("xid")
			num(uint64(x))
		}
	}
	change := func(k string, x uint32, rel *replication.Relation) {
		p.changes++
		if p.changes%1000 == 0 {
			fmt.Fprintf(p.progress, "replicate: progress: %d changes\n", p.changes)
		}
		kind(k)
		xid(x)
		if walStart != 0 {
			lsn("lsn", walStart)
		}
		field("schema")
		str(rel.Namespace)
		field("table")
		str(rel.Name)
	}
	switch v := m.(type) {
	case *replication.Begin:
		kind("begin")
		xid(v.Xid)
		lsn("commit_lsn", v.FinalLSN)
		tm("commit_time", v.CommitTime)
	case *replication.Commit:
		kind("commit")
		lsn("commit_lsn", v.CommitLSN)
		lsn("end_lsn", v.EndLSN)
		tm("commit_time", v.CommitTime)
		end, isEnd = v.EndLSN, true
	case *replication.Origin:
		kind("origin")
		field("name")
		str(v.Name)
		lsn("origin_lsn", v.CommitLSN)
	case *replication.Relation, *replication.Type:
		// Schema: the changes carry the table names.
		return 0, false
	case *replication.Insert:
		change("insert", v.Xid, v.Relation)
		b = appendRow(b, "new", v.Relation, &v.New)
	case *replication.Update:
		change("update", v.Xid, v.Relation)
		if v.OldKind != 0 {
			name := "old_key"
			if v.OldKind == 'O' {
				name = "old"
			}
			b = appendRow(b, name, v.Relation, &v.Old)
		}
		b = appendRow(b, "new", v.Relation, &v.New)
	case *replication.Delete:
		change("delete", v.Xid, v.Relation)
		name := "old_key"
		if v.OldKind == 'O' {
			name = "old"
		}
		b = appendRow(b, name, v.Relation, &v.Old)
	case *replication.Truncate:
		p.changes++
		kind("truncate")
		xid(v.Xid)
		field("tables")
		b = append(b, '[')
		for i, r := range v.Relations {
			if i > 0 {
				b = append(b, ',')
			}
			str(r.Namespace + "." + r.Name)
		}
		b = append(b, ']')
		field("cascade")
		b = strconv.AppendBool(b, v.Options&replication.TruncateCascade != 0)
		field("restart_identity")
		b = strconv.AppendBool(b, v.Options&replication.TruncateRestartIdentity != 0)
	case *replication.LogicalMessage:
		kind("message")
		xid(v.Xid)
		lsn("lsn", v.LSN)
		field("transactional")
		b = strconv.AppendBool(b, v.Transactional())
		field("prefix")
		str(v.Prefix)
		field("content")
		b = appendValue(b, v.Content, !utf8.Valid(v.Content))
	case *replication.StreamStart:
		kind("stream_start")
		xid(v.Xid)
		field("first_segment")
		b = strconv.AppendBool(b, v.FirstSegment)
	case *replication.StreamStop:
		kind("stream_stop")
	case *replication.StreamCommit:
		kind("stream_commit")
		xid(v.Xid)
		lsn("commit_lsn", v.CommitLSN)
		lsn("end_lsn", v.EndLSN)
		tm("commit_time", v.CommitTime)
		end, isEnd = v.EndLSN, true
	case *replication.StreamAbort:
		kind("stream_abort")
		xid(v.Xid)
		field("subxid")
		num(uint64(v.SubXid))
	case *replication.BeginPrepare:
		kind("begin_prepare")
		xid(v.Xid)
		field("gid")
		str(v.GID)
		lsn("prepare_lsn", v.PrepareLSN)
	case *replication.Prepare:
		kind("prepare")
		xid(v.Xid)
		field("gid")
		str(v.GID)
		lsn("end_lsn", v.EndLSN)
		end, isEnd = v.EndLSN, true
	case *replication.StreamPrepare:
		kind("stream_prepare")
		xid(v.Xid)
		field("gid")
		str(v.GID)
		lsn("end_lsn", v.EndLSN)
		end, isEnd = v.EndLSN, true
	case *replication.CommitPrepared:
		kind("commit_prepared")
		xid(v.Xid)
		field("gid")
		str(v.GID)
		lsn("end_lsn", v.EndLSN)
		end, isEnd = v.EndLSN, true
	case *replication.RollbackPrepared:
		kind("rollback_prepared")
		xid(v.Xid)
		field("gid")
		str(v.GID)
		lsn("end_lsn", v.RollbackEndLSN)
		end, isEnd = v.RollbackEndLSN, true
	default:
		return 0, false
	}
	b = append(b, '}', '\n')
	p.out.Write(b)
	p.line = b
	return end, isEnd
}

// appendRow appends `,"name":{"col":value,...}` and, when some columns are
// unchanged TOASTed values, `,"unchanged":["col",...]` after it.
func appendRow(b []byte, name string, rel *replication.Relation, td *replication.TupleData) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	var unchanged []string
	first := true
	for i, col := range td.Columns {
		cname := rel.Columns[i].Name
		if col.Kind == replication.ColumnUnchanged {
			unchanged = append(unchanged, cname)
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = replJSONString(b, cname)
		b = append(b, ':')
		switch col.Kind {
		case replication.ColumnNull:
			b = append(b, "null"...)
		default:
			b = appendValue(b, col.Data, col.Kind == replication.ColumnBinary)
		}
	}
	b = append(b, '}')
	if len(unchanged) > 0 {
		b = append(b, `,"unchanged":[`...)
		for i, u := range unchanged {
			if i > 0 {
				b = append(b, ',')
			}
			b = replJSONString(b, u)
		}
		b = append(b, ']')
	}
	return b
}

// appendValue appends a value as a JSON string: its text, or \x and hex
// digits for binary data.
func appendValue(b, v []byte, binary bool) []byte {
	if binary {
		return replJSONString(b, `\x`+hex.EncodeToString(v))
	}
	return replJSONString(b, string(v))
}

// replJSONString appends s as a JSON string.
func replJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		// A string always marshals; keep the output valid regardless.
		return append(b, `""`...)
	}
	return append(b, q...)
}
