package filter

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// decimalLiterals are the numbers TestDecimalHolds compares text with.
var decimalLiterals = []string{"0", "-0", "1", "-1", "1234.56", "100", "-1.5", "0.05", "99999999", "12345678", "1.0000001",
	"-99999999.5", "0.0000001", "5.5", "9223372036854775807", "-9223372036854775809", "123456789012345678901234567890"}

var decimalOps = []cmpOp{opEq, opNe, opLt, opLe, opGt, opGe}

// decimalTest is a tDecimal test and its literal.
type decimalTest struct {
	test
	lit string
}

func newDecimalTest(t *testing.T, lit string, op cmpOp) decimalTest {
	d, ok := parseDecimal(lit)
	if !ok {
		t.Fatalf("literal %s", lit)
	}
	mask := op.mask()
	return decimalTest{test{mode: tDecimal, mask: mask, dec: d, spans: scaledSpans(d, mask)}, lit}
}

func (dt *decimalTest) check(t *testing.T, s string) {
	t.Helper()
	c, ok := refCompareDecimal(s, dt.lit)
	want := ok && dt.mask>>uint(c+1)&1 != 0
	if got := dt.decimalHolds(s); got != want {
		t.Fatalf("%q vs %s, mask %03b: %v, want %v", s, dt.lit, dt.mask, got, want)
	}
}

// TestDecimalHolds checks the comparison of text read as a decimal with
// a number against the reference, on every short string of an alphabet
// that makes decimals and near misses, and on random longer ones.
func TestDecimalHolds(t *testing.T) {
	var tests []decimalTest
	for _, lit := range decimalLiterals {
		for _, op := range decimalOps {
			tests = append(tests, newDecimalTest(t, lit, op))
		}
	}
	const alphabet = "059.-+ a\xb5"
	var walk func(b []byte)
	walk = func(b []byte) {
		for i := range tests {
			tests[i].check(t, string(b))
		}
		if len(b) == 5 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(append(b, alphabet[i]))
		}
	}
	walk(nil)
	r := rand.New(rand.NewSource(1))
	for range 300000 {
		s := randomDecimalText(r)
		tests[r.Intn(len(tests))].check(t, s)
		if d, ok := parseDecimal(s); ok && len(d.ip)+len(d.fp) < 30 && r.Intn(8) == 0 {
			// Against itself: equal, and the scales line up.
			dt := newDecimalTest(t, d.String(), decimalOps[r.Intn(len(decimalOps))])
			dt.check(t, s)
		}
	}
}

// randomDecimalText returns mostly well-formed decimals of up to ~20
// bytes, and some text that is not one.
func randomDecimalText(r *rand.Rand) string {
	if r.Intn(4) == 0 {
		const chars = "0123456789012345678901234567890123456789.-+ \t\u00a0x°²"
		b := make([]byte, r.Intn(14))
		for i := range b {
			b[i] = chars[r.Intn(len(chars))]
		}
		return string(b)
	}
	s := strconv.FormatInt(r.Int63()>>r.Intn(63), 10)
	if k := r.Intn(len(s) + 2); k < len(s) {
		s = s[:k] + "." + s[k:]
	} else if k == len(s) {
		s += "."
	}
	return []string{"", "-", "+"}[r.Intn(3)] + strings.Repeat("0", r.Intn(3)) + s
}

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

// TestReadDigits checks readDigits against parseDecimal.
func TestReadDigits(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for range 300000 {
		s := randomDecimalText(r)
		d, dok := parseDecimal(s)
		m, scale, ok := readDigits(s)
		if !ok {
			if dok && strings.TrimSpace(s) == s && len(strings.TrimLeft(strings.TrimLeft(s, "+-"), "0")) <= maxScale-1 {
				t.Errorf("readDigits(%q) not ok, want %+v", s, d)
			}
			continue
		}
		if !dok {
			t.Fatalf("readDigits(%q) = %d, %d: not a decimal", s, m, scale)
		}
		if got := refDecimal(m, scale); cmpDecimal(got, d) != 0 {
			t.Fatalf("readDigits(%q) = %d/10^%d, want %+v", s, m, scale, d)
		}
	}
}
