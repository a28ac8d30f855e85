package decimal_test

import (
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/decimal"
)

func TestParseFormat(t *testing.T) {
	tests := []struct{ in, out string }{
		{"0", "0"}, {"-0", "0"}, {"+1.50", "1.50"}, {"-0.05", "-0.05"}, {"007.10", "7.10"},
		{"12345678901234567890123456789012345.123456789012345678901234567890", "12345678901234567890123456789012345.123456789012345678901234567890"},
		{"-0.000", "0.000"},
	}
	for _, tc := range tests {
		d, err := decimal.Parse(tc.in)
		if err != nil || d.String() != tc.out {
			t.Errorf("Parse(%q) = %s, %v; want %s", tc.in, d, err, tc.out)
		}
	}
	for _, bad := range []string{"", "-", ".5", "1.", "1e5", "1,5", "0x10", " 1", "1.2.3", "--1", "NaN"} {
		if _, err := decimal.Parse(bad); !errors.Is(err, decimal.ErrSyntax) {
			t.Errorf("Parse(%q): %v, want ErrSyntax", bad, err)
		}
	}
	if got := (decimal.Decimal{}).String(); got != "0" {
		t.Errorf("zero Decimal formats as %q", got)
	}
	if got := decimal.New(-5, 3).String(); got != "-0.005" {
		t.Errorf("New(-5, 3) = %s", got)
	}
}

// TestRescale checks each mode on ties, non-ties and signs, against the
// definitions (nearest; tie rule; direction).
func TestRescale(t *testing.T) {
	ins := []string{"2.5", "-2.5", "3.5", "-3.5", "2.51", "-2.49", "2.1", "-2.1", "2.9", "-2.9", "2.0", "0.4", "-0.4"}
	want := map[decimal.RoundingMode][]string{
		decimal.HalfUp:   {"3", "-3", "4", "-4", "3", "-2", "2", "-2", "3", "-3", "2", "0", "0"},
		decimal.HalfEven: {"2", "-2", "4", "-4", "3", "-2", "2", "-2", "3", "-3", "2", "0", "0"},
		decimal.Down:     {"2", "-2", "3", "-3", "2", "-2", "2", "-2", "2", "-2", "2", "0", "0"},
		decimal.Up:       {"3", "-3", "4", "-4", "3", "-3", "3", "-3", "3", "-3", "2", "1", "-1"},
		decimal.Floor:    {"2", "-3", "3", "-4", "2", "-3", "2", "-3", "2", "-3", "2", "0", "-1"},
		decimal.Ceiling:  {"3", "-2", "4", "-3", "3", "-2", "3", "-2", "3", "-2", "2", "1", "0"},
	}
	for mode, ws := range want {
		for i, in := range ins {
			if got := decimal.MustParse(in).Rescale(0, mode).String(); got != ws[i] {
				t.Errorf("%s %s → %s, want %s", mode, in, got, ws[i])
			}
		}
	}
	if got := decimal.MustParse("12.345").Rescale(2, decimal.HalfUp).String(); got != "12.35" {
		t.Errorf("12.345 at scale 2: %s", got)
	}
	if got := decimal.MustParse("1.5").Rescale(3, decimal.Down).String(); got != "1.500" {
		t.Errorf("1.5 at scale 3: %s", got)
	}
}

// TestArithmetic checks the operations against math/big.Rat, on values
// that a float64 cannot hold exactly.
func TestArithmetic(t *testing.T) {
	vals := []string{"0", "0.1", "-0.2", "12345678901234567890.000000000000000001", "-99999999999999999999.99", "3", "0.0003"}
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	for _, a := range vals {
		for _, b := range vals {
			da, db := decimal.MustParse(a), decimal.MustParse(b)
			ra, rb := rat(a), rat(b)
			check := func(op string, got decimal.Decimal, want *big.Rat) {
				t.Helper()
				if rat(got.String()).Cmp(want) != 0 {
					t.Errorf("%s %s %s = %s, want %s", a, op, b, got, want.FloatString(40))
				}
			}
			check("+", da.Add(db), new(big.Rat).Add(ra, rb))
			check("-", da.Sub(db), new(big.Rat).Sub(ra, rb))
			check("×", da.Mul(db), new(big.Rat).Mul(ra, rb))
			if got, want := da.Cmp(db), ra.Cmp(rb); got != want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", a, b, got, want)
			}
			q, err := da.Quo(db, 30, decimal.Down)
			if db.Sign() == 0 {
				if !errors.Is(err, decimal.ErrDivisionByZero) {
					t.Errorf("%s / 0: %v", a, err)
				}
				continue
			}
			// Down: |exact - q| < 10^-30 and q no farther from zero.
			exact := new(big.Rat).Quo(ra, rb)
			diff := new(big.Rat).Sub(exact, rat(q.String()))
			if diff.Abs(diff).Cmp(rat("0.000000000000000000000000000001")) >= 0 || rat(q.String()).Abs(rat(q.String())).Cmp(new(big.Rat).Abs(exact)) > 0 {
				t.Errorf("%s / %s = %s, exact %s", a, b, q, exact.FloatString(35))
			}
		}
	}
	if got := decimal.MustParse("1.25").Mul(decimal.MustParse("0.2")).String(); got != "0.250" {
		t.Errorf("1.25 × 0.2 = %s", got)
	}
	if q, _ := decimal.MustParse("2").Quo(decimal.MustParse("3"), 4, decimal.HalfUp); q.String() != "0.6667" {
		t.Errorf("2/3 = %s", q)
	}
	if q, _ := decimal.MustParse("-2").Quo(decimal.MustParse("0.3"), 2, decimal.HalfEven); q.String() != "-6.67" {
		t.Errorf("-2/0.3 = %s", q)
	}
}

func TestFits(t *testing.T) {
	tests := []struct {
		d           string
		prec, scale int
		want        bool
	}{
		{"12345678.99", 10, 2, true}, {"123456789.99", 10, 2, false}, {"1.999", 10, 2, false},
		{"0.00", 1, 0, false}, {"0", 1, 0, true}, {"-0.5", 1, 1, true}, {"99999", 5, 0, true},
	}
	for _, tc := range tests {
		if got := decimal.MustParse(tc.d).Fits(tc.prec, tc.scale); got != tc.want {
			t.Errorf("%s fits DECIMAL(%d,%d) = %v", tc.d, tc.prec, tc.scale, got)
		}
	}
}

func TestFromValue(t *testing.T) {
	for _, tc := range []struct {
		v    sdk.Value
		want string
	}{
		{sdk.Int(-7), "-7"}, {sdk.Uint(1 << 63), "9223372036854775808"}, {sdk.String("1.50"), "1.50"},
	} {
		d, err := decimal.FromValue(tc.v)
		if err != nil || d.String() != tc.want {
			t.Errorf("FromValue(%v) = %s, %v", tc.v, d, err)
		}
	}
	for _, v := range []sdk.Value{sdk.Float(1.5), sdk.Null(), sdk.Bytes([]byte("1")), sdk.Value{}} {
		if _, err := decimal.FromValue(v); !errors.Is(err, decimal.ErrKind) {
			t.Errorf("FromValue(%v): %v, want ErrKind", v, err)
		}
	}
	if _, err := decimal.FromValue(sdk.String("x")); !errors.Is(err, decimal.ErrSyntax) || err.Error() != `decimal: parse "x": not a decimal number [-]digits[.digits]` {
		t.Errorf("FromValue of text: %v", err)
	}
	if err := (&sdk.Column{Name: "c", Kind: sdk.KindDecimal}).Check(decimal.MustParse("-1.50").Value()); err != nil {
		t.Errorf("a Decimal's Value does not fit a decimal column: %v", err)
	}
}

func Example() {
	price := decimal.MustParse("19.99")
	qty := decimal.New(3, 0)
	rate := decimal.MustParse("0.21")
	net := price.Mul(qty)                           // 59.97
	vat := net.Mul(rate).Rescale(2, decimal.HalfUp) // 12.5937 → 12.59
	total := net.Add(vat)                           // 72.56
	share, _ := total.Quo(decimal.New(7, 0), 2, decimal.HalfEven)
	fmt.Println(net, vat, total, share, total.Cmp(decimal.MustParse("72.560")), total.Fits(4, 2))
	// Output: 59.97 12.59 72.56 10.37 0 true
}

func ExampleDecimal_Rescale() {
	d := decimal.MustParse("-2.345")
	for _, m := range []decimal.RoundingMode{decimal.HalfUp, decimal.HalfEven, decimal.Down, decimal.Up, decimal.Floor, decimal.Ceiling} {
		fmt.Println(m, d.Rescale(2, m))
	}
	// Output:
	// half-up -2.35
	// half-even -2.34
	// down -2.34
	// up -2.35
	// floor -2.35
	// ceiling -2.34
}
