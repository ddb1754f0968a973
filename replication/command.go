package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/wire"
)

// Connect opens a replication connection. connString must select a
// replication mode: replication=database for logical replication (the
// connection is bound to its database and also runs ordinary SQL), or
// replication=true for physical replication. It is ConnectConfig of the
// parsed string.
func Connect(ctx context.Context, connString string) (*conn.Conn, error) {
	cfg, err := conn.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return ConnectConfig(ctx, cfg)
}

// ConnectConfig opens a replication connection with cfg, whose Replication
// must be conn.ReplicationLogical or conn.ReplicationPhysical. The
// connection carries that mode for its whole life: a pool refuses it, and
// only the simple query protocol works on it (the server refuses the
// extended protocol on walsender connections).
func ConnectConfig(ctx context.Context, cfg *conn.Config) (*conn.Conn, error) {
	if cfg == nil {
		return nil, errors.New("replication: nil Config")
	}
	switch cfg.Replication {
	case conn.ReplicationLogical, conn.ReplicationPhysical:
	default:
		return nil, errors.New("replication: the connection string selects no replication mode (set replication=database or replication=true)")
	}
	return conn.ConnectConfig(ctx, cfg)
}

// QuoteIdentifier quotes s as an identifier of the replication command
// grammar: in double quotes, case kept. That grammar has no escape for a
// double quote inside a quoted identifier, so a name containing one (or a
// NUL byte, or invalid UTF-8, or nothing) is refused.
func QuoteIdentifier(s string) (string, error) {
	if err := checkName("identifier", s); err != nil {
		return "", err
	}
	if i := strings.IndexByte(s, '"'); i >= 0 {
		return "", &wire.InputError{Field: "identifier", Offset: i,
			Problem: "a double quote cannot be written in a replication command identifier"}
	}
	return `"` + s + `"`, nil
}

// QuoteLiteral quotes s as a string literal of the replication command
// grammar: in single quotes, with single quotes doubled (the grammar has no
// backslash escapes). A NUL byte or invalid UTF-8 is refused when the command
// is sent.
func QuoteLiteral(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// quoteListIdentifier quotes a name for an identifier list inside a string
// option (publication_names), which the server splits with the SQL
// identifier rules: double quotes, doubled inside.
func quoteListIdentifier(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// checkName validates a slot, plugin or publication name before it is
// quoted into a command.
func checkName(what, s string) error {
	if s == "" {
		return &wire.InputError{Field: what, Offset: -1, Problem: "empty"}
	}
	return wire.CheckString(what, s)
}

// ServerVersion returns the major version of the server c is connected to
// (15 for "15.8 (Debian …)", 9 for "9.6.24"), from the server_version
// parameter the server reported at startup.
func ServerVersion(c *conn.Conn) (int, error) {
	v := c.ParameterStatus("server_version")
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(v[:i])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("replication: cannot read the server version from server_version %q", v)
	}
	return n, nil
}

func needVersion(c *conn.Conn, feature string, need int) error {
	have, err := ServerVersion(c)
	if err != nil {
		return err
	}
	if have < need {
		return &VersionError{Feature: feature, Need: need, Have: have}
	}
	return nil
}

// resultRow runs sql, which must return exactly one row, and returns it as a
// map from column name to value (nil for NULL). A result of another shape
// desynchronizes the connection: the server broke the command's contract.
func resultRow(ctx context.Context, c *conn.Conn, command, sql string) (map[string][]byte, error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return nil, badResult(c, command, "expected one result with one row")
	}
	row := make(map[string][]byte, len(res[0].FieldDescriptions))
	for i, f := range res[0].FieldDescriptions {
		row[f.Name] = res[0].Rows[0][i]
	}
	return row, nil
}

// badResult desynchronizes c because of a malformed command result.
func badResult(c *conn.Conn, command, detail string) error {
	return fmt.Errorf("%s: %w", command, c.Desync(wire.ReasonReplicationState, 'D', "result of "+command+": "+detail))
}

// column returns a column that must be present and not NULL.
func column(c *conn.Conn, command string, row map[string][]byte, name string, nullable bool) ([]byte, error) {
	v, ok := row[name]
	if !ok {
		return nil, badResult(c, command, "no column "+strconv.Quote(name))
	}
	if v == nil && !nullable {
		return nil, badResult(c, command, "column "+strconv.Quote(name)+" is NULL")
	}
	return v, nil
}

func lsnColumn(c *conn.Conn, command string, row map[string][]byte, name string, nullable bool) (LSN, error) {
	v, err := column(c, command, row, name, nullable)
	if err != nil || v == nil {
		return 0, err
	}
	l, perr := ParseLSN(string(v))
	if perr != nil {
		return 0, badResult(c, command, "column "+strconv.Quote(name)+": "+perr.Error())
	}
	return l, nil
}

func intColumn(c *conn.Conn, command string, row map[string][]byte, name string, nullable bool) (int64, error) {
	v, err := column(c, command, row, name, nullable)
	if err != nil || v == nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(string(v), 10, 64)
	if perr != nil {
		return 0, badResult(c, command, "column "+strconv.Quote(name)+" is not an integer")
	}
	return n, nil
}

// IdentifySystemResult is the answer to IDENTIFY_SYSTEM.
type IdentifySystemResult struct {
	// SystemID is the cluster's system identifier.
	SystemID string
	// Timeline is the current timeline.
	Timeline int64
	// XLogPos is the current WAL flush position.
	XLogPos LSN
	// DBName is the database of a logical replication connection; empty on
	// a physical one.
	DBName string
}

// IdentifySystem runs IDENTIFY_SYSTEM.
func IdentifySystem(ctx context.Context, c *conn.Conn) (*IdentifySystemResult, error) {
	const cmd = "IDENTIFY_SYSTEM"
	row, err := resultRow(ctx, c, cmd, cmd)
	if err != nil {
		return nil, err
	}
	r := &IdentifySystemResult{}
	sys, err := column(c, cmd, row, "systemid", false)
	if err != nil {
		return nil, err
	}
	r.SystemID = string(sys)
	if r.Timeline, err = intColumn(c, cmd, row, "timeline", false); err != nil {
		return nil, err
	}
	if r.XLogPos, err = lsnColumn(c, cmd, row, "xlogpos", false); err != nil {
		return nil, err
	}
	db, err := column(c, cmd, row, "dbname", true)
	if err != nil {
		return nil, err
	}
	r.DBName = string(db)
	return r, nil
}

// Show runs SHOW name on a replication connection and returns the setting.
func Show(ctx context.Context, c *conn.Conn, name string) (string, error) {
	q, err := QuoteIdentifier(name)
	if err != nil {
		return "", err
	}
	res, err := c.Exec(ctx, "SHOW "+q).ReadAll()
	if err != nil {
		return "", fmt.Errorf("SHOW: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 || res[0].Rows[0][0] == nil {
		return "", badResult(c, "SHOW", "expected one non-NULL value")
	}
	return string(res[0].Rows[0][0]), nil
}

// SnapshotAction says what CREATE_REPLICATION_SLOT does with the snapshot at
// the slot's consistent point (logical slots).
type SnapshotAction string

// Snapshot actions.
const (
	// SnapshotDefault lets the server choose (it exports).
	SnapshotDefault SnapshotAction = ""
	// SnapshotExport exports the snapshot for pg_export_snapshot-style use
	// until the next command on the connection; not in a transaction block.
	SnapshotExport SnapshotAction = "export"
	// SnapshotUse makes the snapshot the current transaction's; it must be
	// the first command of a REPEATABLE READ READ ONLY transaction.
	SnapshotUse SnapshotAction = "use"
	// SnapshotNothing does nothing with it.
	SnapshotNothing SnapshotAction = "nothing"
)

// CreateSlotOptions configure CreateSlot.
type CreateSlotOptions struct {
	// Plugin is the output plugin of a logical slot ("pgoutput"). Empty
	// creates a physical slot.
	Plugin string
	// Temporary makes a slot dropped when the connection ends.
	Temporary bool
	// Snapshot is the snapshot action of a logical slot. Zero: the
	// server's default (export).
	Snapshot SnapshotAction
	// TwoPhase enables decoding of prepared transactions on a logical slot
	// (PostgreSQL 15 or later).
	TwoPhase bool
	// Failover makes a logical slot synchronized to standbys (PostgreSQL 17
	// or later).
	Failover bool
	// ReserveWAL makes a physical slot reserve WAL at once.
	ReserveWAL bool
}

// CreateSlotResult is the answer to CREATE_REPLICATION_SLOT.
type CreateSlotResult struct {
	// SlotName is the slot's name.
	SlotName string
	// ConsistentPoint is the LSN at which the slot became consistent:
	// changes committed after it will be streamed.
	ConsistentPoint LSN
	// SnapshotName is the exported snapshot, empty unless exported.
	SnapshotName string
	// OutputPlugin is the plugin, empty for a physical slot.
	OutputPlugin string
}

// CreateSlotCommand returns the CREATE_REPLICATION_SLOT command for a server
// of major version serverVersion: the option-list syntax on PostgreSQL 15 and
// later, the keyword syntax before. Names are quoted as identifiers.
func CreateSlotCommand(name string, opts CreateSlotOptions, serverVersion int) (string, error) {
	qname, err := QuoteIdentifier(name)
	if err != nil {
		return "", err
	}
	logical := opts.Plugin != ""
	var qplugin string
	if logical {
		if qplugin, err = QuoteIdentifier(opts.Plugin); err != nil {
			return "", err
		}
	}
	switch {
	case !logical && (opts.Snapshot != "" || opts.TwoPhase || opts.Failover):
		return "", errors.New("replication: Snapshot, TwoPhase and Failover apply to logical slots (set Plugin)")
	case logical && opts.ReserveWAL:
		return "", errors.New("replication: ReserveWAL applies to physical slots")
	}
	switch opts.Snapshot {
	case SnapshotDefault, SnapshotExport, SnapshotUse, SnapshotNothing:
	default:
		return "", fmt.Errorf("replication: unknown snapshot action %q", opts.Snapshot)
	}
	if opts.TwoPhase && serverVersion < 15 {
		return "", &VersionError{Feature: "CREATE_REPLICATION_SLOT with TWO_PHASE", Need: 15, Have: serverVersion}
	}
	if opts.Failover && serverVersion < 17 {
		return "", &VersionError{Feature: "CREATE_REPLICATION_SLOT with FAILOVER", Need: 17, Have: serverVersion}
	}
	var b strings.Builder
	b.WriteString("CREATE_REPLICATION_SLOT ")
	b.WriteString(qname)
	if opts.Temporary {
		b.WriteString(" TEMPORARY")
	}
	if logical {
		b.WriteString(" LOGICAL ")
		b.WriteString(qplugin)
	} else {
		b.WriteString(" PHYSICAL")
	}
	var o []string
	if serverVersion >= 15 {
		if opts.Snapshot != "" {
			o = append(o, "SNAPSHOT "+QuoteLiteral(string(opts.Snapshot)))
		}
		if opts.TwoPhase {
			o = append(o, "TWO_PHASE true")
		}
		if opts.Failover {
			o = append(o, "FAILOVER true")
		}
		if opts.ReserveWAL {
			o = append(o, "RESERVE_WAL true")
		}
		if len(o) > 0 {
			b.WriteString(" (" + strings.Join(o, ", ") + ")")
		}
		return b.String(), nil
	}
	switch opts.Snapshot {
	case SnapshotExport:
		b.WriteString(" EXPORT_SNAPSHOT")
	case SnapshotUse:
		b.WriteString(" USE_SNAPSHOT")
	case SnapshotNothing:
		b.WriteString(" NOEXPORT_SNAPSHOT")
	}
	if opts.ReserveWAL {
		b.WriteString(" RESERVE_WAL")
	}
	return b.String(), nil
}

// CreateSlot runs CREATE_REPLICATION_SLOT. A logical slot needs a
// replication=database connection.
func CreateSlot(ctx context.Context, c *conn.Conn, name string, opts CreateSlotOptions) (*CreateSlotResult, error) {
	const cmd = "CREATE_REPLICATION_SLOT"
	v, err := ServerVersion(c)
	if err != nil {
		return nil, err
	}
	sql, err := CreateSlotCommand(name, opts, v)
	if err != nil {
		return nil, err
	}
	row, err := resultRow(ctx, c, cmd, sql)
	if err != nil {
		return nil, err
	}
	r := &CreateSlotResult{}
	sn, err := column(c, cmd, row, "slot_name", false)
	if err != nil {
		return nil, err
	}
	r.SlotName = string(sn)
	if r.ConsistentPoint, err = lsnColumn(c, cmd, row, "consistent_point", false); err != nil {
		return nil, err
	}
	snap, err := column(c, cmd, row, "snapshot_name", true)
	if err != nil {
		return nil, err
	}
	r.SnapshotName = string(snap)
	plugin, err := column(c, cmd, row, "output_plugin", true)
	if err != nil {
		return nil, err
	}
	r.OutputPlugin = string(plugin)
	return r, nil
}

// DropSlotOptions configure DropSlot.
type DropSlotOptions struct {
	// Wait waits until a slot in use by another connection is released,
	// instead of failing.
	Wait bool
}

// DropSlot runs DROP_REPLICATION_SLOT.
func DropSlot(ctx context.Context, c *conn.Conn, name string, opts DropSlotOptions) error {
	q, err := QuoteIdentifier(name)
	if err != nil {
		return err
	}
	sql := "DROP_REPLICATION_SLOT " + q
	if opts.Wait {
		sql += " WAIT"
	}
	if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("DROP_REPLICATION_SLOT: %w", err)
	}
	return nil
}

// SlotInfo is the answer to READ_REPLICATION_SLOT.
type SlotInfo struct {
	// Exists is false when there is no slot of that name (the other fields
	// are then zero).
	Exists bool
	// Type is "physical" or "logical".
	Type string
	// RestartLSN is the oldest WAL the slot needs (0 when not reserved).
	RestartLSN LSN
	// RestartTimeline is the timeline of RestartLSN (0 when unknown).
	RestartTimeline int64
}

// ReadSlot runs READ_REPLICATION_SLOT (PostgreSQL 15 or later).
func ReadSlot(ctx context.Context, c *conn.Conn, name string) (*SlotInfo, error) {
	const cmd = "READ_REPLICATION_SLOT"
	q, err := QuoteIdentifier(name)
	if err != nil {
		return nil, err
	}
	if err := needVersion(c, cmd, 15); err != nil {
		return nil, err
	}
	row, err := resultRow(ctx, c, cmd, cmd+" "+q)
	if err != nil {
		return nil, err
	}
	r := &SlotInfo{}
	typ, err := column(c, cmd, row, "slot_type", true)
	if err != nil {
		return nil, err
	}
	if typ == nil {
		return r, nil
	}
	r.Exists, r.Type = true, string(typ)
	if r.RestartLSN, err = lsnColumn(c, cmd, row, "restart_lsn", true); err != nil {
		return nil, err
	}
	if r.RestartTimeline, err = intColumn(c, cmd, row, "restart_tli", true); err != nil {
		return nil, err
	}
	return r, nil
}

// TimelineHistory is the answer to TIMELINE_HISTORY.
type TimelineHistory struct {
	// FileName is the history file's name ("00000002.history").
	FileName string
	// Content is the file's content.
	Content []byte
}

// ReadTimelineHistory runs TIMELINE_HISTORY for timeline tli (2 or later:
// timeline 1 has no history file).
func ReadTimelineHistory(ctx context.Context, c *conn.Conn, tli int64) (*TimelineHistory, error) {
	const cmd = "TIMELINE_HISTORY"
	if tli <= 0 || tli > 0xFFFFFFFF {
		return nil, &wire.InputError{Field: "timeline", Offset: -1, Problem: "out of range"}
	}
	row, err := resultRow(ctx, c, cmd, cmd+" "+strconv.FormatInt(tli, 10))
	if err != nil {
		return nil, err
	}
	name, err := column(c, cmd, row, "filename", false)
	if err != nil {
		return nil, err
	}
	content, err := column(c, cmd, row, "content", false)
	if err != nil {
		return nil, err
	}
	return &TimelineHistory{FileName: string(name), Content: content}, nil
}
