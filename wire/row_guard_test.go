//go:build amd64 && !purego && linux

package wire_test

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/pgstrict/pgstrict/wire"
)

// TestScanRowStaysInsideTheBody runs the register scan on rows placed
// against unreadable pages, once ending at the last byte before one and
// once starting at the first byte after one: a load outside the body (an
// overlapping word or vector reaching too far) faults and kills the test.
// Every value length up to 300 and a few long ones, as the only column and
// after a short one, text and binary.
func TestScanRowStaysInsideTheBody(t *testing.T) {
	scan := wire.ScanRow
	if scan == nil {
		t.Skip("no register scan on this processor (no AVX2)")
	}
	ps := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer func() {
		if err := syscall.Munmap(mem); err != nil {
			t.Errorf("munmap: %v", err)
		}
	}()
	for _, guard := range [][]byte{mem[:ps], mem[2*ps:]} {
		if err := syscall.Mprotect(guard, syscall.PROT_NONE); err != nil {
			t.Fatalf("mprotect: %v", err)
		}
	}
	page := mem[ps : 2*ps : 2*ps]
	var lengths []int
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1023, 1024, 1025, 2000)
	for _, n := range lengths {
		v := bytes.Repeat([]byte("x"), n)
		for _, body := range [][]byte{rowBody(v), rowBody([]byte("ab"), v)} {
			cols := int(body[1])
			body := dataRow(body)
			if len(body) > ps {
				t.Fatalf("a row of %d bytes does not fit a page of %d", len(body), ps)
			}
			for _, text := range [][]bool{{true, true}, {false, false}} {
				// Against the page after, then against the page before.
				for _, at := range []int{ps - len(body), 0} {
					b := page[at : at+len(body) : at+len(body)]
					copy(b, body)
					if _, got, _ := scan(b, len(b), text[:cols]); got != scanOK {
						t.Fatalf("value of %d bytes at page offset %d: verdict %d, want %d", n, at, got, scanOK)
					}
				}
			}
		}
	}
}
