package scram_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pgstrict/pgstrict/internal/scram"
)

func TestSASLprep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // what enters PBKDF2
	}{
		// ASCII and invalid UTF-8 pass through untouched, as in PostgreSQL.
		{name: "ascii", in: "pencil", want: "pencil"},
		{name: "ascii control kept", in: "a\x07b", want: "a\x07b"},
		{name: "invalid utf-8 is raw", in: "p\xffw\u00a0", want: "p\xffw\u00a0"},
		// Mapping (RFC 4013 §2.1, §2.2).
		{name: "soft hyphen removed (RFC 4013 example)", in: "I\u00adX", want: "IX"},
		{name: "no-break space to space", in: "a\u00a0b", want: "a b"},
		{name: "ideographic space to space", in: "a\u3000b", want: "a b"},
		{name: "zero width space becomes space", in: "a\u200bb", want: "a b"},
		{name: "variation selector removed", in: "a\ufe0fé", want: "aé"},
		{name: "byte order mark removed", in: "\ufeffé", want: "é"},
		{name: "precomposed letters kept", in: "pässwörd", want: "pässwörd"},
		// Fallback to the raw password.
		{name: "empty after mapping", in: "\u00ad\u200d", want: "\u00ad\u200d"},
		{name: "ascii control with non-ascii", in: "\u00a0\x07", want: "\u00a0\x07"},
		{name: "c1 control", in: "é\u0085\u00a0", want: "é\u0085\u00a0"},
		{name: "private use", in: "\ue000\u00a0", want: "\ue000\u00a0"},
		{name: "non-character", in: "\ufdd0\u00a0", want: "\ufdd0\u00a0"},
		{name: "plane-end non-character", in: "\U0001fffe\u00a0", want: "\U0001fffe\u00a0"},
		{name: "tagging character", in: "\U000e0041\u00a0", want: "\U000e0041\u00a0"},
		{name: "left-to-right mark", in: "\u200e\u00a0", want: "\u200e\u00a0"},
		{name: "ideographic description", in: "\u2ff0\u00a0", want: "\u2ff0\u00a0"},
		{name: "unassigned code point", in: "\u0378\u00a0", want: "\u0378\u00a0"},
		// Bidirectional rule (RFC 3454 §6).
		{name: "right-to-left only", in: "\u05d0\u00a0\u05d1", want: "\u05d0 \u05d1"},
		{name: "right-to-left with digits inside", in: "\u05d01\u00a0\u05d1", want: "\u05d01 \u05d1"},
		{name: "right-to-left not first", in: "1\u05d0\u00a0\u05d1", want: "1\u05d0\u00a0\u05d1"},
		{name: "right-to-left not last (RFC 4013 example)", in: "\u0627\u00a01", want: "\u0627\u00a01"},
		{name: "right-to-left mixed with latin", in: "\u05d0a\u00a0\u05d1", want: "\u05d0a\u00a0\u05d1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, scram.SASLprep(tc.in))
		})
	}
}

func TestSASLprepNormalizesNFKC(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		// Compatibility characters fold to their canonical letters.
		{"ligature", "ﬁné", "finé"},
		{"full-width", "ｐａｓｓ", "pass"},
		{"superscript", "x²é", "x2é"},
		// A decomposed accent composes.
		{"decomposed", "e\u0301té", "été"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := scram.SASLprep(tc.in); got != tc.want {
				t.Fatalf("saslPrep(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
