package main

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// refDecimal is m/10^scale as a decimal.
func refDecimal(m int64, scale int) decimal {
	s := strconv.FormatInt(m, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	d, ok := parseDecimal(map[bool]string{true: "-"}[neg] + s[:len(s)-scale] + "." + s[len(s)-scale:])
	if !ok {
		panic(s)
	}
	return d
}

func checkSmallDecimal(t *testing.T, s string) {
	t.Helper()
	d, dok := parseDecimal(s)
	m, scale, ok := readSmallDecimal(s)
	if !ok {
		// Only white space or many digits may fall back.
		if dok && strings.TrimSpace(s) == s && len(strings.TrimLeft(strings.TrimLeft(s, "+-"), "0")) <= 8 {
			t.Errorf("readSmallDecimal(%q) not ok, want %+v", s, d)
		}
		return
	}
	if !dok {
		t.Fatalf("readSmallDecimal(%q) = %d, %d: not a decimal", s, m, scale)
	}
	if scale < 0 || scale > maxScale {
		t.Fatalf("readSmallDecimal(%q): scale %d", s, scale)
	}
	if got := refDecimal(m, scale); cmpDecimal(got, d) != 0 {
		t.Fatalf("readSmallDecimal(%q) = %d/10^%d, want %+v", s, m, scale, d)
	}
}

// TestReadSmallDecimal checks the word-at-a-time reader against
// parseDecimal on every short string of an alphabet that makes decimals
// and near misses, and on random longer ones.
func TestReadSmallDecimal(t *testing.T) {
	const alphabet = "019.-+ a\x00"
	var walk func(b []byte)
	walk = func(b []byte) {
		checkSmallDecimal(t, string(b))
		if len(b) == 6 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(append(b, alphabet[i]))
		}
	}
	walk(nil)
	r := rand.New(rand.NewSource(1))
	const digitsAndMore = "0123456789012345678901234567890123456789.-+ \t"
	for range 200000 {
		b := make([]byte, r.Intn(26))
		for i := range b {
			b[i] = digitsAndMore[r.Intn(len(digitsAndMore))]
		}
		if r.Intn(2) == 0 { // mostly well formed
			s := strconv.FormatInt(r.Int63()>>r.Intn(63), 10)
			if k := r.Intn(len(s) + 1); k < len(s) {
				s = s[:k] + "." + s[k:]
			}
			b = []byte([]string{"", "-", "+"}[r.Intn(3)] + strings.Repeat("0", r.Intn(3)) + s)
		}
		checkSmallDecimal(t, string(b))
	}
}
