package engine

import (
	"testing"

	"github.com/shopspring/decimal"
)

// checkCanonicalDecimal fails when canonicalDecimal takes the server's
// text as is but converting it as the binary log's value gives other text.
func checkCanonicalDecimal(t *testing.T, text string, scale int) {
	t.Helper()
	if !canonicalDecimal([]byte(text), scale) {
		return
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		t.Fatalf("canonicalDecimal(%q, %d) = true, but it is no decimal: %v", text, scale, err)
	}
	if want := d.StringFixed(int32(scale)); want != text {
		t.Fatalf("canonicalDecimal(%q, %d) = true, but the binary log's value converts to %q", text, scale, want)
	}
}

// TestCanonicalDecimal: the snapshot's shortcut for DECIMAL text keeps
// values byte-identical to the stream's, and takes the common text.
func TestCanonicalDecimal(t *testing.T) {
	for _, tc := range []struct {
		text  string
		scale int
		fast  bool
	}{
		{"123.45", 2, true},
		{"-123.45", 2, true},
		{"0.50", 2, true},
		{"-0.50", 2, true},
		{"0", 0, true},
		{"100", 0, true},
		{"0.00", 2, true},
		{"-0.00", 2, false}, // negative zero
		{"-0", 0, false},
		{"00123.45", 2, false}, // ZEROFILL
		{"123.4", 2, false},
		{"123.", 0, false},
		{"123", 2, false},
		{".5", 1, false},
		{"1e5", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"+1", 0, false},
	} {
		if got := canonicalDecimal([]byte(tc.text), tc.scale); got != tc.fast {
			t.Errorf("canonicalDecimal(%q, %d) = %v, want %v", tc.text, tc.scale, got, tc.fast)
		}
		checkCanonicalDecimal(t, tc.text, tc.scale)
	}
}

func FuzzCanonicalDecimal(f *testing.F) {
	for _, s := range []string{"123.45", "-0.50", "0", "00123.45", "-0.00", "9999999999999999999999999999.999999", "1."} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, text string, scale uint8) {
		checkCanonicalDecimal(t, text, int(scale%39))
	})
}
