package wire_test

import (
	"bytes"
	"testing"

	"github.com/pgstrict/pgstrict/wire"
)

// asciiNoNULRef is the byte-by-byte definition asciiNoNUL must match.
func asciiNoNULRef(b []byte) bool {
	for _, c := range b {
		if c == 0 || c >= 0x80 {
			return false
		}
	}
	return true
}

// TestValidTextMatchesCheckText places every kind of byte that matters at
// every position of values of every length up to 100 (the branches of
// validText are at 4, 8 and 16 bytes, the vector steps at 16 and 32), plus
// long values, and compares validText and asciiNoNUL with their
// definitions: CheckText, and a byte loop.
func TestValidTextMatchesCheckText(t *testing.T) {
	inserts := [][]byte{
		{0x00}, {0x01}, {0x7f}, {0x80}, {0xff}, {0xc3}, {0xc3, 0xa9}, {0xe2, 0x82, 0xac}, {0xe2, 0x82},
		{0xf0, 0x9f, 0x98, 0x80}, {0xf0, 0x9f, 0x98}, {0xed, 0xa0, 0x80}, {0xc0, 0xaf},
	}
	lengths := []int{}
	for n := 0; n <= 100; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 127, 128, 129, 255, 256, 257, 1023, 1024, 4097)
	kernels := wire.ASCIIKernels()
	t.Logf("asciiNoNUL kernels: %d", len(kernels))
	checked := 0
	for _, n := range lengths {
		base := bytes.Repeat([]byte("x"), n)
		try := func(v []byte) {
			t.Helper()
			checked++
			ok, _, _ := wire.CheckText(v)
			if got := wire.ValidText(v); got != ok {
				t.Fatalf("validText(%q) = %v, CheckText says %v", v, got, ok)
			}
			if len(v) >= 16 {
				want := asciiNoNULRef(v)
				for name, k := range kernels {
					if got := k(v); got != want {
						t.Fatalf("asciiNoNUL %s(%q) = %v, want %v", name, v, got, want)
					}
				}
			}
		}
		try(base)
		for pos := 0; pos < n; pos++ {
			if n > 300 && pos > 40 && pos < n-40 && pos%97 != 0 {
				continue // long values: the edges and a sample of the middle
			}
			for _, ins := range inserts {
				v := append(append(bytes.Clone(base[:pos]), ins...), base[pos:]...)
				try(v[:n]) // the same length, the insert cut at the end
				try(v)
			}
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d values checked", checked)
	}
}

// FuzzValidText checks the fast text check against its definitions:
// validText agrees with CheckText, asciiNoNUL with a byte loop.
func FuzzValidText(f *testing.F) {
	for _, s := range []string{"", "x", "héllo", "a\x00b", "0123456789abcdef", "0123456789abcdef\xff",
		"a long ASCII value of more than thirty-two bytes", "a long value with a \x00 inside it, past thirty-two",
		"€€€€€€€€€€€€", "\xed\xa0\x80 surrogate", "overlong \xc0\xaf in a value of some length"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ok, _, _ := wire.CheckText(b)
		if got := wire.ValidText(b); got != ok {
			t.Fatalf("validText(%q) = %v, CheckText says %v", b, got, ok)
		}
		if len(b) >= 16 {
			want := asciiNoNULRef(b)
			if got := wire.ASCIINoNUL(b); got != want {
				t.Fatalf("asciiNoNUL(%q) = %v, want %v", b, got, want)
			}
			for name, k := range wire.ASCIIKernels() {
				if got := k(b); got != want {
					t.Fatalf("asciiNoNUL %s(%q) = %v, want %v", name, b, got, want)
				}
			}
		}
	})
}
