package conn_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/internal/pgtest"
	"github.com/pgstrict/pgstrict/wire"
)

// Type OIDs of the built-in types used below (pg_type.dat).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidJSON        = 114
	oidFloat8      = 701
	oidInt4Array   = 1007
	oidDate        = 1082
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// trustConn connects to a fresh database as RoleTrust without TLS.
func trustConn(tb testing.TB) *conn.Conn {
	tb.Helper()
	return mustConnect(tb, managedDB(tb).URL(pgtest.RoleTrust, "sslmode=disable"))
}

// TestExecMultiStatement checks the results of a simple-protocol Query with
// several statements: one result per statement, with its tag, rows and
// NULLs.
func TestExecMultiStatement(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	res, err := c.Exec(t.Context(), `select 1 as a, null::text as b, 'é' as c;
		create temp table t (x int);
		insert into t values (1), (2), (null);
		select x from t order by x nulls first;
		update t set x = x + 10 where x is not null;
		delete from t where x is null;
		select count(*) from t`).ReadAll()
	require.NoError(t, err)
	want := []struct {
		tag  string
		cols []string
		rows [][][]byte
	}{
		{tag: "SELECT 1", cols: []string{"a", "b", "c"}, rows: [][][]byte{{[]byte("1"), nil, []byte("é")}}},
		{tag: "CREATE TABLE"},
		{tag: "INSERT 0 3"},
		{tag: "SELECT 3", cols: []string{"x"}, rows: [][][]byte{{nil}, {[]byte("1")}, {[]byte("2")}}},
		{tag: "UPDATE 2"},
		{tag: "DELETE 1"},
		{tag: "SELECT 1", cols: []string{"count"}, rows: [][][]byte{{[]byte("2")}}},
	}
	require.Len(t, res, len(want))
	for i, w := range want {
		r := res[i]
		assert.NoError(t, r.Err, i)
		assert.Equal(t, w.tag, r.CommandTag.String(), i)
		var cols []string
		for _, f := range r.FieldDescriptions {
			cols = append(cols, f.Name)
		}
		assert.Equal(t, w.cols, cols, i)
		assert.Equal(t, w.rows, r.Rows, i)
	}
	assert.Equal(t, int64(3), res[2].CommandTag.RowsAffected())
	assert.Equal(t, "INSERT", res[2].CommandTag.Command())
	assert.Equal(t, wire.TxIdle, c.TxStatus())
}

// TestExecEmptyQuery checks that a query with no statement yields one empty
// result (EmptyQueryResponse) and no error.
func TestExecEmptyQuery(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	for _, sql := range []string{"", "   ", ";", "-- only a comment"} {
		res, err := c.Exec(t.Context(), sql).ReadAll()
		require.NoError(t, err, "%q", sql)
		require.Len(t, res, 1, "%q", sql)
		assert.Empty(t, res[0].Rows)
		assert.Empty(t, res[0].FieldDescriptions)
		assert.Empty(t, res[0].CommandTag.String())
		assert.NoError(t, res[0].Err)
	}
	requireUsable(t, c)
}

// TestExecErrorStopsLaterStatements checks that an error in the middle of a
// multi-statement Query ends it: the rows before the error are returned, the
// statements after it never run, and the implicit transaction is rolled back.
func TestExecErrorStopsLaterStatements(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	mustExec(t, c, "create sequence s; create table t (x int)")
	res, err := c.Exec(t.Context(), `insert into t values (1);
		select 10 / x from (values (1), (0), (2)) v(x);
		select nextval('s')`).ReadAll()
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "22012", pe.Code, "division_by_zero")
	assert.False(t, pe.Fatal())
	require.Len(t, res, 2, "no result for the statement after the error")
	assert.Equal(t, "INSERT 0 1", res[0].CommandTag.String())
	assert.Equal(t, [][][]byte{{[]byte("10")}}, res[1].Rows, "the row sent before the error")
	assert.ErrorAs(t, res[1].Err, &pe)
	// nextval is not transactional: it would show even after the rollback.
	assert.Equal(t, "f", mustQueryValue(t, c, "select is_called from s"))
	assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from t"), "the implicit transaction was rolled back")
	requireUsable(t, c)
}

// TestExecSyntaxErrorPosition checks the error position (P) of a syntax
// error: a 1-based count of characters, not bytes.
func TestExecSyntaxErrorPosition(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	tests := []struct {
		name string
		sql  string
		at   string // the token the error points at
	}{
		{name: "ascii", sql: "select 1 from from", at: "from"},
		{name: "after multibyte characters", sql: "select 'ééé😀' as x frm t", at: "frm"},
		{name: "second statement", sql: "select 1; select 2 2", at: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Exec(t.Context(), tc.sql).ReadAll()
			var pe *conn.PgError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "42601", pe.Code, "syntax_error")
			want := utf8.RuneCountInString(tc.sql[:strings.LastIndex(tc.sql, tc.at)]) + 1
			assert.Equal(t, int32(want), pe.Position)
			requireUsable(t, c)
		})
	}
	// The extended protocol reports the same position.
	r := c.ExecParams(t.Context(), "select 'ééé😀' as x frm t", nil, nil, nil, nil).Read()
	var pe *conn.PgError
	require.ErrorAs(t, r.Err, &pe)
	assert.Equal(t, int32(20), pe.Position, "the 20th character, the 26th byte")
	requireUsable(t, c)
}

// typeCase is one value of a built-in type, sent as a text parameter and
// read back in text and binary format.
type typeCase struct {
	name string
	// sql selects the value from parameter $1.
	sql string
	// param is the text-format parameter.
	param string
	// oid is the type of the result column.
	oid uint32
	// text is the exact text-format result.
	text string
	// binary checks the binary-format result.
	binary func(t *testing.T, v []byte)
}

// pgEpoch is PostgreSQL's date and timestamp epoch.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func binaryEquals(want ...byte) func(t *testing.T, v []byte) {
	return func(t *testing.T, v []byte) { assert.Equal(t, want, v) }
}

var typeCases = []typeCase{
	{
		name: "int2", sql: "select $1::int2", param: "-32768", oid: oidInt2, text: "-32768",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 2)
			assert.Equal(t, int16(math.MinInt16), int16(binary.BigEndian.Uint16(v)))
		},
	},
	{
		name: "int4", sql: "select $1::int4", param: "2147483647", oid: oidInt4, text: "2147483647",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 4)
			assert.Equal(t, int32(math.MaxInt32), int32(binary.BigEndian.Uint32(v)))
		},
	},
	{
		name: "int8", sql: "select $1::int8", param: "-9223372036854775808", oid: oidInt8, text: "-9223372036854775808",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 8)
			assert.Equal(t, int64(math.MinInt64), int64(binary.BigEndian.Uint64(v)))
		},
	},
	{
		name: "float8", sql: "select $1::float8", param: "-1.5e-300", oid: oidFloat8, text: "-1.5e-300",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 8)
			assert.Equal(t, -1.5e-300, math.Float64frombits(binary.BigEndian.Uint64(v)))
		},
	},
	{
		name: "numeric", sql: "select $1::numeric", param: "-12345678901234567890.000000000001", oid: oidNumeric,
		text: "-12345678901234567890.000000000001",
		// ndigits 8 (base 10000), weight 4, sign 0x4000 (negative), dscale 12;
		// then the digit groups 1234 5678 9012 3456 7890 . 0000 0000 0001.
		binary: binaryEquals(0, 8, 0, 4, 0x40, 0, 0, 12,
			0x04, 0xd2, 0x16, 0x2e, 0x23, 0x34, 0x0d, 0x80, 0x1e, 0xd2, 0, 0, 0, 0, 0, 1),
	},
	{
		name: "bool", sql: "select $1::bool", param: "true", oid: oidBool, text: "t",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 1)
			assert.Equal(t, byte(1), v[0])
		},
	},
	{
		name: "text with unicode", sql: "select $1::text", param: "héllo, 世界 🐘 \u00a0end", oid: oidText,
		text: "héllo, 世界 🐘 \u00a0end", binary: binaryEquals([]byte("héllo, 世界 🐘 \u00a0end")...),
	},
	{
		name: "bytea", sql: "select $1::bytea", param: `\x00ff10`, oid: oidBytea, text: `\x00ff10`,
		binary: binaryEquals(0x00, 0xff, 0x10),
	},
	{
		name: "date", sql: "select $1::date", param: "2024-02-29", oid: oidDate, text: "2024-02-29",
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 4)
			days := int32(binary.BigEndian.Uint32(v))
			assert.Equal(t, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), pgEpoch.AddDate(0, 0, int(days)))
		},
	},
	{
		name: "timestamptz", sql: "select $1::timestamptz", param: "2024-02-29 23:59:58.123456+02", oid: oidTimestamptz,
		text: "2024-02-29 21:59:58.123456+00", // the session runs in UTC
		binary: func(t *testing.T, v []byte) {
			require.Len(t, v, 8)
			us := int64(binary.BigEndian.Uint64(v))
			want := time.Date(2024, 2, 29, 21, 59, 58, 123456000, time.UTC)
			assert.Equal(t, want, pgEpoch.Add(time.Duration(us)*time.Microsecond))
		},
	},
	{
		name: "uuid", sql: "select $1::uuid", param: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", oid: oidUUID,
		text:   "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		binary: binaryEquals(0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11),
	},
	{
		// json keeps the text as given.
		name: "json", sql: "select $1::json", param: `{"b": 1,  "a": ["é", null]}`, oid: oidJSON,
		text: `{"b": 1,  "a": ["é", null]}`, binary: binaryEquals([]byte(`{"b": 1,  "a": ["é", null]}`)...),
	},
	{
		// jsonb normalizes; its binary form is a version byte and the text.
		name: "jsonb", sql: "select $1::jsonb", param: `{"b": 1,  "a": ["é", null]}`, oid: oidJSONB,
		text: `{"a": ["é", null], "b": 1}`, binary: binaryEquals(append([]byte{1}, `{"a": ["é", null], "b": 1}`...)...),
	},
	{
		name: "int4[] with NULL", sql: "select $1::int4[]", param: "{1,NULL,-3}", oid: oidInt4Array, text: "{1,NULL,-3}",
		binary: func(t *testing.T, v []byte) {
			// ndim, has-null flag, element type, then per dimension its
			// length and lower bound, then length-prefixed elements.
			require.Len(t, v, 12+8+3*4+2*4)
			be := binary.BigEndian
			assert.Equal(t, uint32(1), be.Uint32(v[0:]), "ndim")
			assert.Equal(t, uint32(1), be.Uint32(v[4:]), "has nulls")
			assert.Equal(t, uint32(oidInt4), be.Uint32(v[8:]), "element type")
			assert.Equal(t, uint32(3), be.Uint32(v[12:]), "length")
			assert.Equal(t, uint32(1), be.Uint32(v[16:]), "lower bound")
			assert.Equal(t, uint32(4), be.Uint32(v[20:]))
			assert.Equal(t, int32(1), int32(be.Uint32(v[24:])))
			assert.Equal(t, int32(-1), int32(be.Uint32(v[28:])), "NULL")
			assert.Equal(t, uint32(4), be.Uint32(v[32:]))
			assert.Equal(t, int32(-3), int32(be.Uint32(v[36:])))
		},
	},
}

// TestExecParamsTypes sends a value of each type as a text parameter and
// reads it back in text and in binary format.
func TestExecParamsTypes(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	for _, tc := range typeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			cfg.RuntimeParams = map[string]string{"TimeZone": "UTC"}
			c := mustConnectConfig(t, cfg)
			for _, format := range []int16{0, 1} {
				rr := c.ExecParams(t.Context(), tc.sql, [][]byte{[]byte(tc.param)}, nil, nil, []int16{format})
				r := rr.Read()
				require.NoError(t, r.Err)
				require.Len(t, r.FieldDescriptions, 1)
				assert.Equal(t, tc.oid, r.FieldDescriptions[0].DataTypeOID)
				assert.Equal(t, format, r.FieldDescriptions[0].Format)
				require.Len(t, r.Rows, 1)
				v := r.Rows[0][0]
				require.NotNil(t, v)
				if format == 0 {
					assert.Equal(t, tc.text, string(v))
				} else {
					tc.binary(t, v)
				}
				assert.Equal(t, "SELECT 1", r.CommandTag.String())
			}
			// NULL of the same type, in both formats.
			r := c.ExecParams(t.Context(), tc.sql, [][]byte{nil}, nil, nil, []int16{0}).Read()
			require.NoError(t, r.Err)
			assert.Equal(t, [][][]byte{{nil}}, r.Rows)
			r = c.ExecParams(t.Context(), tc.sql, [][]byte{nil}, nil, nil, []int16{1}).Read()
			require.NoError(t, r.Err)
			assert.Equal(t, [][][]byte{{nil}}, r.Rows)
		})
	}
}

// TestExecParamsBinaryParams sends binary-format parameters, which may hold
// any bytes, including NUL and invalid UTF-8.
func TestExecParamsBinaryParams(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	i8 := binary.BigEndian.AppendUint64(nil, uint64(1<<40+7))
	r := c.ExecParams(t.Context(), "select $1::int8 + 1, encode($2::bytea, 'hex'), $3::text",
		[][]byte{i8, {0x00, 0xff, 0xfe}, []byte("texte")}, []uint32{oidInt8, oidBytea, oidText}, []int16{1, 1, 0}, nil).Read()
	require.NoError(t, r.Err)
	assert.Equal(t, [][][]byte{{[]byte(strconv.FormatInt(1<<40+8, 10)), []byte("00fffe"), []byte("texte")}}, r.Rows)
}

// TestPrepare checks Prepare, ExecPrepared with the cached description (no
// Describe round trip; the result formats are applied to it) and Deallocate.
func TestPrepare(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	cfg, trace := tracedConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	c := mustConnectConfig(t, cfg)
	ctx := t.Context()

	sd, err := c.Prepare(ctx, "s1", "select $1::int4 + 1 as n, $2::text as t, $1::int8 as big", nil)
	require.NoError(t, err)
	assert.Equal(t, "s1", sd.Name)
	assert.Equal(t, []uint32{oidInt4, oidText}, sd.ParamOIDs)
	require.Len(t, sd.Fields, 3)
	assert.Equal(t, "n", sd.Fields[0].Name)
	assert.Equal(t, uint32(oidInt4), sd.Fields[0].DataTypeOID)
	assert.Equal(t, uint32(oidText), sd.Fields[1].DataTypeOID)
	assert.Equal(t, uint32(oidInt8), sd.Fields[2].DataTypeOID)

	before := len(trace.String())
	r := c.ExecPrepared(ctx, "s1", [][]byte{[]byte("41"), []byte("x")}, nil, []int16{1, 0, 1}).Read()
	require.NoError(t, r.Err)
	sent := frontendLines(trace.String()[before:])
	for _, l := range sent {
		assert.NotContains(t, l, "Describe", "the cached description is used")
	}
	assert.Len(t, sent, 3, "Bind, Execute, Sync: %q", sent)
	require.Len(t, r.FieldDescriptions, 3)
	assert.Equal(t, []int16{1, 0, 1}, []int16{r.FieldDescriptions[0].Format, r.FieldDescriptions[1].Format, r.FieldDescriptions[2].Format})
	assert.Equal(t, "n", r.FieldDescriptions[0].Name)
	require.Len(t, r.Rows, 1)
	assert.Equal(t, int32(42), int32(binary.BigEndian.Uint32(r.Rows[0][0])))
	assert.Equal(t, "x", string(r.Rows[0][1]))
	assert.Equal(t, int64(41), int64(binary.BigEndian.Uint64(r.Rows[0][2])))

	// One format for all columns.
	r = c.ExecPrepared(ctx, "s1", [][]byte{[]byte("1"), []byte("y")}, nil, []int16{0}).Read()
	require.NoError(t, r.Err)
	assert.Equal(t, [][][]byte{{[]byte("2"), []byte("y"), []byte("1")}}, r.Rows)
	assert.Equal(t, int16(0), r.FieldDescriptions[2].Format)

	// A wrong number of result formats is refused before sending.
	before = len(trace.String())
	r = c.ExecPrepared(ctx, "s1", [][]byte{[]byte("1"), []byte("y")}, nil, []int16{0, 1}).Read()
	var ie *wire.InputError
	require.ErrorAs(t, r.Err, &ie)
	assert.True(t, conn.SafeToRetry(r.Err))
	assert.Empty(t, frontendLines(trace.String()[before:]), "nothing sent")
	requireUsable(t, c)

	// Deallocate, then the statement is gone on the server too.
	require.NoError(t, c.Deallocate(ctx, "s1"))
	r = c.ExecPrepared(ctx, "s1", [][]byte{[]byte("1"), []byte("y")}, nil, nil).Read()
	var pe *conn.PgError
	require.ErrorAs(t, r.Err, &pe)
	assert.Equal(t, "26000", pe.Code, "invalid_sql_statement_name")
	require.NoError(t, c.Deallocate(ctx, "never-prepared"), "closing an unknown name succeeds")
	requireUsable(t, c)

	// A statement prepared in SQL is not in the cache: ExecPrepared
	// describes it.
	mustExec(t, c, "prepare s2 (int4) as select $1 * 2 as double")
	r = c.ExecPrepared(ctx, "s2", [][]byte{[]byte("21")}, nil, nil).Read()
	require.NoError(t, r.Err)
	assert.Equal(t, "double", r.FieldDescriptions[0].Name)
	assert.Equal(t, [][][]byte{{[]byte("42")}}, r.Rows)

	// A Prepare that fails leaves nothing cached and the connection idle.
	_, err = c.Prepare(ctx, "bad", "select from from", nil)
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "42601", pe.Code)
	requireUsable(t, c)
}

// TestDeallocateAllInSQL checks that DEALLOCATE ALL run as SQL drops the
// describe cache: a statement prepared again under the same name with other
// columns is described anew.
func TestDeallocateAllInSQL(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	ctx := t.Context()
	_, err := c.Prepare(ctx, "s", "select 1 as one", nil)
	require.NoError(t, err)
	mustExec(t, c, "deallocate all")
	mustExec(t, c, "prepare s as select 'a' as x, 'b' as y")
	r := c.ExecPrepared(ctx, "s", nil, nil, nil).Read()
	require.NoError(t, r.Err)
	require.Len(t, r.FieldDescriptions, 2)
	assert.Equal(t, "x", r.FieldDescriptions[0].Name)
	assert.Equal(t, [][][]byte{{[]byte("a"), []byte("b")}}, r.Rows)
}

// paramSQL returns "select $1::int4 + $n::int4" and n parameters of type
// int4, each "1".
func paramSQL(n int) (string, [][]byte, []uint32) {
	params := make([][]byte, n)
	oids := make([]uint32, n)
	for i := range params {
		params[i] = []byte("1")
		oids[i] = oidInt4
	}
	return "select $1::int4 + $" + strconv.Itoa(n) + "::int4", params, oids
}

// TestExecParamsParameterLimit checks that 65535 parameters are accepted
// and that 65536 are refused before anything is sent.
func TestExecParamsParameterLimit(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	sql, params, oids := paramSQL(65535)
	r := c.ExecParams(t.Context(), sql, params, oids, nil, nil).Read()
	require.NoError(t, r.Err)
	assert.Equal(t, [][][]byte{{[]byte("2")}}, r.Rows)

	sql, params, oids = paramSQL(65536)
	for _, tc := range []struct {
		name string
		oids []uint32
	}{
		{name: "with types", oids: oids},
		{name: "without types", oids: nil},
	} {
		r = c.ExecParams(t.Context(), sql, params, tc.oids, nil, nil).Read()
		var ie *wire.InputError
		require.ErrorAs(t, r.Err, &ie, tc.name)
		assert.True(t, conn.SafeToRetry(r.Err), tc.name)
		requireUsable(t, c)
	}
	_, err := c.Prepare(t.Context(), "p", sql, oids)
	var ie *wire.InputError
	require.ErrorAs(t, err, &ie)
	requireUsable(t, c)
}

// TestInputRejected checks that text the server could misread (NUL bytes,
// invalid UTF-8) is refused with a *wire.InputError before anything is
// sent, and that the connection stays usable.
func TestInputRejected(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	ctx := t.Context()
	tests := []struct {
		name string
		run  func() error
	}{
		{name: "NUL in simple query", run: func() error { return c.Exec(ctx, "select 1\x00; drop table x").Close() }},
		{name: "invalid UTF-8 in simple query", run: func() error { return c.Exec(ctx, "select '\xff'").Close() }},
		{name: "NUL in extended query", run: func() error {
			return c.ExecParams(ctx, "select 1\x00", nil, nil, nil, nil).Read().Err
		}},
		{name: "invalid UTF-8 text parameter", run: func() error {
			return c.ExecParams(ctx, "select $1::text", [][]byte{[]byte("ab\xc3")}, nil, nil, nil).Read().Err
		}},
		{name: "NUL in text parameter", run: func() error {
			return c.ExecParams(ctx, "select $1::text", [][]byte{[]byte("a\x00b")}, nil, nil, nil).Read().Err
		}},
		{name: "invalid UTF-8 in the second parameter", run: func() error {
			return c.ExecParams(ctx, "select $1::text, $2::text", [][]byte{[]byte("ok"), []byte("\xed\xa0\x80")}, nil, nil, nil).Read().Err
		}},
		{name: "NUL in statement name", run: func() error {
			_, err := c.Prepare(ctx, "a\x00b", "select 1", nil)
			return err
		}},
		{name: "NUL in prepared SQL", run: func() error {
			_, err := c.Prepare(ctx, "p", "select \x00", nil)
			return err
		}},
		{name: "invalid UTF-8 parameter of a prepared statement", run: func() error {
			return c.ExecPrepared(ctx, "never", [][]byte{[]byte("\x80")}, nil, nil).Read().Err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var ie *wire.InputError
			require.ErrorAs(t, err, &ie)
			assert.True(t, conn.SafeToRetry(err))
			var pe *conn.PgError
			assert.False(t, errors.As(err, &pe), "nothing reached the server: %v", err)
			requireUsable(t, c)
		})
	}
}

// TestBusy checks that every call made while an operation is open fails
// with ErrBusy, before sending anything, without disturbing the open
// operation.
func TestBusy(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	const sql = "select g from generate_series(1, 3) g"
	tests := []struct {
		name string
		// open starts the operation and reads its first row; rest reads
		// the remaining rows and ends it.
		open func(t *testing.T, c *conn.Conn) (rest func() []string)
	}{
		{name: "Exec reader", open: func(t *testing.T, c *conn.Conn) func() []string {
			mrr := c.Exec(t.Context(), sql)
			require.True(t, mrr.NextResult())
			rr := mrr.ResultReader()
			require.True(t, rr.NextRow())
			require.Equal(t, "1", string(rr.Values()[0]))
			return func() []string {
				rest := readColumn(rr)
				assert.False(t, mrr.NextResult())
				assert.NoError(t, mrr.Close())
				return rest
			}
		}},
		{name: "ExecParams reader", open: func(t *testing.T, c *conn.Conn) func() []string {
			rr := c.ExecParams(t.Context(), sql, nil, nil, nil, nil)
			require.True(t, rr.NextRow())
			require.Equal(t, "1", string(rr.Values()[0]))
			return func() []string {
				rest := readColumn(rr)
				tag, err := rr.Close()
				assert.NoError(t, err)
				assert.Equal(t, "SELECT 3", tag.String())
				return rest
			}
		}},
		{name: "pipeline", open: func(t *testing.T, c *conn.Conn) func() []string {
			p := c.StartPipeline(t.Context())
			require.NoError(t, p.SendQueryParams(sql, nil, nil, nil, nil))
			require.NoError(t, p.Sync())
			res, err := p.GetResults()
			require.NoError(t, err)
			rr := res.(*conn.ResultReader)
			require.True(t, rr.NextRow())
			require.Equal(t, "1", string(rr.Values()[0]))
			return func() []string {
				rest := readColumn(rr)
				_, err := rr.Close()
				assert.NoError(t, err)
				res, err := p.GetResults()
				assert.NoError(t, err)
				assert.IsType(t, &conn.PipelineSync{}, res)
				assert.NoError(t, p.Close())
				return rest
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, trace := tracedConfig(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
			c := mustConnectConfig(t, cfg)
			ctx := t.Context()
			rest := tc.open(t, c)
			assert.True(t, c.IsBusy())
			sentBefore := len(frontendLines(trace.String()))
			calls := []struct {
				name string
				run  func() error
			}{
				{name: "Exec", run: func() error { return c.Exec(ctx, "select 'other'").Close() }},
				{name: "ExecParams", run: func() error { return c.ExecParams(ctx, "select 'other'", nil, nil, nil, nil).Read().Err }},
				{name: "Prepare", run: func() error { _, err := c.Prepare(ctx, "p", "select 1", nil); return err }},
				{name: "ExecPrepared", run: func() error { return c.ExecPrepared(ctx, "p", nil, nil, nil).Read().Err }},
				{name: "Deallocate", run: func() error { return c.Deallocate(ctx, "p") }},
				{name: "StartPipeline", run: func() error { return c.StartPipeline(ctx).Close() }},
				{name: "WaitForNotification", run: func() error { _, err := c.WaitForNotification(ctx); return err }},
			}
			for _, call := range calls {
				err := call.run()
				assert.ErrorIs(t, err, conn.ErrBusy, call.name)
				assert.True(t, conn.SafeToRetry(err), call.name)
			}
			assert.NoError(t, c.Err())
			assert.Len(t, frontendLines(trace.String()), sentBefore, "nothing sent")
			// The open operation goes on undisturbed.
			assert.Equal(t, []string{"2", "3"}, rest())
			requireUsable(t, c)
		})
	}
}

// readColumn reads the remaining rows of rr and returns their first
// column.
func readColumn(rr *conn.ResultReader) []string {
	var out []string
	for rr.NextRow() {
		out = append(out, string(rr.Values()[0]))
	}
	return out
}

// TestCopyThroughQueryAPIs checks COPY started through Exec and ExecParams:
// FROM STDIN fails cleanly (there is no data source), TO STDOUT is
// discarded with its tag.
func TestCopyThroughQueryAPIs(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	ctx := t.Context()
	mustExec(t, c, "create table t (x int)")

	t.Run("from stdin, simple", func(t *testing.T) {
		res, err := c.Exec(ctx, "copy t from stdin; select 'not reached'").ReadAll()
		var pe *conn.PgError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "57014", pe.Code, "the server's answer to CopyFail")
		for _, r := range res {
			assert.Empty(t, r.Rows)
		}
		assert.Equal(t, wire.TxIdle, c.TxStatus())
		assert.Equal(t, "0", mustQueryValue(t, c, "select count(*) from t"))
		requireUsable(t, c)
	})
	t.Run("from stdin, extended", func(t *testing.T) {
		r := c.ExecParams(ctx, "copy t from stdin", nil, nil, nil, nil).Read()
		var pe *conn.PgError
		require.ErrorAs(t, r.Err, &pe)
		assert.Equal(t, "57014", pe.Code)
		requireUsable(t, c)
	})
	t.Run("from stdin inside a transaction", func(t *testing.T) {
		mustExec(t, c, "begin")
		err := c.Exec(ctx, "copy t from stdin").Close()
		var pe *conn.PgError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, wire.TxFailed, c.TxStatus())
		mustExec(t, c, "rollback")
		requireUsable(t, c)
	})
	t.Run("to stdout, simple", func(t *testing.T) {
		res, err := c.Exec(ctx, "copy (select g from generate_series(1, 1000) g) to stdout; select 'after'").ReadAll()
		require.NoError(t, err)
		require.Len(t, res, 2)
		assert.Equal(t, "COPY 1000", res[0].CommandTag.String())
		assert.Empty(t, res[0].Rows)
		assert.Equal(t, [][][]byte{{[]byte("after")}}, res[1].Rows)
		requireUsable(t, c)
	})
	t.Run("to stdout, extended", func(t *testing.T) {
		r := c.ExecParams(ctx, "copy (select g from generate_series(1, 1000) g) to stdout", nil, nil, nil, nil).Read()
		require.NoError(t, r.Err)
		assert.Equal(t, "COPY 1000", r.CommandTag.String())
		assert.Empty(t, r.Rows)
		requireUsable(t, c)
	})
}

// TestTxStatus follows the transaction status through a failed
// transaction block.
func TestTxStatus(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	ctx := t.Context()
	assert.Equal(t, wire.TxIdle, c.TxStatus())
	mustExec(t, c, "begin")
	assert.Equal(t, wire.TxInBlock, c.TxStatus())
	err := c.Exec(ctx, "select 1/0").Close()
	var pe *conn.PgError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, wire.TxFailed, c.TxStatus())

	// Every statement fails until the block ends, through both protocols.
	err = c.Exec(ctx, "select 1").Close()
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "25P02", pe.Code, "in_failed_sql_transaction")
	r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
	require.ErrorAs(t, r.Err, &pe)
	assert.Equal(t, "25P02", pe.Code)
	assert.Equal(t, wire.TxFailed, c.TxStatus())

	res, err := c.Exec(ctx, "rollback").ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "ROLLBACK", res[0].CommandTag.String())
	assert.Equal(t, wire.TxIdle, c.TxStatus())
	requireUsable(t, c)
}

// TestClosedConnection checks that every call on a closed connection
// returns an error matching ErrClosed and no data.
func TestClosedConnection(t *testing.T) {
	t.Parallel()
	c := trustConn(t)
	ctx := context.Background()
	require.NoError(t, c.Close(ctx))
	require.NoError(t, c.Close(ctx), "Close is idempotent")
	assert.ErrorIs(t, c.Err(), conn.ErrClosed)
	assert.Equal(t, wire.StateClosed, c.State())
	res, err := c.Exec(ctx, "select 1").ReadAll()
	assert.ErrorIs(t, err, conn.ErrClosed)
	assert.Empty(t, res)
	r := c.ExecParams(ctx, "select 1", nil, nil, nil, nil).Read()
	assert.ErrorIs(t, r.Err, conn.ErrClosed)
	assert.Empty(t, r.Rows)
	_, err = c.WaitForNotification(ctx)
	assert.ErrorIs(t, err, conn.ErrClosed)
}

// TestServerTerminatesSession checks that a session ended by the server
// (pg_terminate_backend: FATAL 57P01) closes the connection with the FATAL
// error as its cause.
func TestServerTerminatesSession(t *testing.T) {
	t.Parallel()
	db := managedDB(t)
	victim := mustConnect(t, db.URL(pgtest.RoleTrust, "sslmode=disable"))
	admin := mustConnect(t, db.URL(pgtest.RoleSuperuser, "sslmode=disable"))
	assert.Equal(t, "t", mustQueryValue(t, admin, "select pg_terminate_backend("+strconv.Itoa(int(victim.PID()))+")"))
	err := victim.Exec(t.Context(), "select 1").Close()
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrClosed)
	var pe *conn.PgError
	if assert.ErrorAs(t, victim.Err(), &pe) {
		assert.Equal(t, "57P01", pe.Code, "admin_shutdown")
		assert.True(t, pe.Fatal())
	}
	assert.Equal(t, wire.StateClosed, victim.State())
}
