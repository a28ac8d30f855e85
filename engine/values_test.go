package engine_test

import (
	"bytes"
	"testing"

	"github.com/pumacdc/puma/engine"
)

// engine.Values hands out copies (the source may change after), empty
// bytes that are not nil, rows of the length asked and no longer, and
// allocates only per block, not per value or row.
func TestValues(t *testing.T) {
	var v engine.Values
	src := []byte("user@example.com")
	s, b, empty := v.String(src), v.Bytes(src), v.Bytes(nil)
	row := v.Row(3)
	src[0] = 'X'
	if s != "user@example.com" || !bytes.Equal(b.([]byte), []byte("user@example.com")) {
		t.Fatalf("String %q, Bytes %q: not copies", s, b)
	}
	if e, ok := empty.([]byte); !ok || e == nil || len(e) != 0 {
		t.Fatalf("Bytes(nil) = %#v, want an empty, non-nil []byte", empty)
	}
	if len(row) != 3 || cap(row) != 3 || row[0] != nil {
		t.Fatalf("Row(3) = %v (cap %d)", row, cap(row))
	}
	if got := append(b.([]byte), '!'); &got[0] == &b.([]byte)[0] {
		t.Fatal("appending to a Bytes value wrote into the block")
	}
	const n = 1000
	if allocs := testing.AllocsPerRun(5, func() {
		for range n {
			r := v.Row(12)
			r[0], r[1] = v.String(src), v.Bytes(src)
		}
	}); allocs > n/50 {
		t.Errorf("%v allocations for %d rows of two values, want blocks only (at most %d)", allocs, n, n/50)
	}
}
