package replication_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/replication"
)

func TestParseLSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want replication.LSN
		ok   bool
	}{
		{name: "zero", in: "0/0", want: 0, ok: true},
		{name: "typical", in: "16/B374D848", want: 0x16B374D848, ok: true},
		{name: "lower case", in: "16/b374d848", want: 0x16B374D848, ok: true},
		{name: "leading zeros", in: "00000001/00000002", want: 1<<32 | 2, ok: true},
		{name: "max", in: "FFFFFFFF/FFFFFFFF", want: ^replication.LSN(0), ok: true},
		{name: "nine digits", in: "1/123456789"},
		{name: "nine digits high", in: "123456789/1"},
		{name: "empty", in: ""},
		{name: "no slash", in: "1234"},
		{name: "empty high", in: "/1"},
		{name: "empty low", in: "1/"},
		{name: "trailing space", in: "1/2 "},
		{name: "leading space", in: " 1/2"},
		{name: "sign", in: "+1/2"},
		{name: "two slashes", in: "1/2/3"},
		{name: "not hex", in: "1/G"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := replication.ParseLSN(tc.in)
			if !tc.ok {
				var se *replication.LSNSyntaxError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.in, se.Text)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestLSNString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   replication.LSN
		want string
	}{
		{name: "zero", in: 0, want: "0/0"},
		{name: "typical", in: 0x16B374D848, want: "16/B374D848"},
		{name: "low only", in: 0x1000, want: "0/1000"},
		{name: "max", in: ^replication.LSN(0), want: "FFFFFFFF/FFFFFFFF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.in.String())
			back, err := replication.ParseLSN(tc.want)
			require.NoError(t, err)
			assert.Equal(t, tc.in, back)
		})
	}
}

func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "ffffffff/0", "1/", "x", "1/123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := replication.ParseLSN(s)
		if err != nil {
			return
		}
		back, err := replication.ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("%q parsed as %v, which does not round-trip (%v)", s, l, err)
		}
	})
}
