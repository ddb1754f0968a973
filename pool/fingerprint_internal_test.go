package pool

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNormalizeSQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		// name names the case.
		name string
		// sql is the input.
		sql string
		// want is the fingerprint text.
		want string
	}{
		{name: "placeholders kept", sql: "select $1::int", want: "select $1::int"},
		{name: "numbers masked", sql: "select 1, 2.5, .5, 1e-3, 0x1F from t1", want: "select ?, ?, ?, ?, ? from t1"},
		{name: "strings masked", sql: "select 'secret', 'it''s', E'a\\'b' , x", want: "select ?, ?, ? , x"},
		{name: "prefixed strings masked", sql: "select B'101', X'ff', N'x', U&'d'", want: "select ?, ?, ?, U&?"},
		{name: "dollar quotes masked", sql: "do $$ begin perform 'x'; end $$; select $tag$ 1 $tag$", want: "do ?; select ?"},
		{name: "comments removed", sql: "select /* a /* nested */ c */ 1 -- trailing\n from t", want: "select ? from t"},
		{name: "whitespace collapsed", sql: "  select\n\t a \r\n  from   t  ", want: "select a from t"},
		{name: "quoted identifiers kept", sql: `select "Weird ""x"" 1" from "T"`, want: `select "Weird ""x"" 1" from "T"`},
		{name: "identifiers with digits", sql: "select col1, t2.c$3 from s1.t2", want: "select col1, t2.c$3 from s1.t2"},
		{name: "unterminated string", sql: "select 'oops", want: "select ?"},
		{name: "unterminated quoted identifier dropped", sql: `select "oops`, want: "select"},
		{name: "empty", sql: "  -- nothing\n", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, normalizeSQL(tc.sql))
		})
	}
}

func TestFingerprintCutsAndHashes(t *testing.T) {
	t.Parallel()
	long := "select " + strings.Repeat("é", 40) + " from t"
	s, h := fingerprint(long)
	assert.LessOrEqual(t, len(s), maxFingerprint)
	assert.True(t, strings.HasPrefix(long, s), "cut at a rune boundary")
	assert.NotZero(t, h)

	s2, h2 := fingerprint(long + " where a = 1")
	assert.Equal(t, s, s2, "same prefix")
	assert.NotEqual(t, h, h2, "the hash covers the whole statement")

	_, h3 := fingerprint("select 1")
	_, h4 := fingerprint("select   2")
	assert.Equal(t, h3, h4, "literals and spacing do not change the hash")

	s, h = fingerprint("")
	assert.Empty(t, s)
	assert.Zero(t, h)
}
