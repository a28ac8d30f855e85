// Package decimal is exact decimal arithmetic for DECIMAL columns, on
// math/big: parse a column's text, add, subtract, multiply, divide at a
// chosen scale, compare, rescale with a stated rounding mode, and format
// back as the text a DECIMAL column takes. Nothing passes through a
// float.
//
//	total, err := decimal.FromValue(r.After().Get("total"))
//	// …
//	vat := total.Mul(decimal.MustParse("0.21")).Rescale(2, decimal.HalfUp)
//	err = r.Set("vat", vat.Value())
//
// A Decimal is an immutable value: every operation returns a new one, and
// Decimals may be shared between goroutines. The zero Decimal is 0.
package decimal

import (
	"errors"
	"math/big"
	"strconv"

	"github.com/pumacdc/puma/sdk"
)

// Errors, wrapped with the offending input.
var (
	// ErrSyntax: text that is not [+-]digits[.digits].
	ErrSyntax = errors.New("not a decimal number [-]digits[.digits]")
	// ErrDivisionByZero: Quo by a zero Decimal.
	ErrDivisionByZero = errors.New("division by zero")
	// ErrKind: FromValue of a value that is not an exact number.
	ErrKind = errors.New("not an integer or decimal value")
)

// Decimal is the number unscaled × 10^-scale, with scale ≥ 0: "12.50" is
// 1250 at scale 2. The scale is kept as given (12.50 and 12.5 are equal
// by Cmp, and format differently), as a DECIMAL column's values keep
// theirs.
type Decimal struct {
	u     *big.Int // nil for 0
	scale int
}

// RoundingMode says how Rescale and Quo drop digits.
type RoundingMode uint8

// Rounding modes. HalfUp is what MariaDB's ROUND does to a DECIMAL and how
// it stores a value with more digits than the column's scale.
const (
	HalfUp   RoundingMode = iota // to nearest; a tie away from zero: 2.5 → 3, -2.5 → -3
	HalfEven                     // to nearest; a tie to the even neighbour: 2.5 → 2, 3.5 → 4 (banker's)
	Down                         // toward zero (MariaDB's TRUNCATE): 2.9 → 2, -2.9 → -2
	Up                           // away from zero: 2.1 → 3, -2.1 → -3
	Floor                        // toward negative infinity: 2.9 → 2, -2.1 → -3
	Ceiling                      // toward positive infinity: 2.1 → 3, -2.9 → -2
)

var modeNames = [...]string{HalfUp: "half-up", HalfEven: "half-even", Down: "down", Up: "up", Floor: "floor", Ceiling: "ceiling"}

// String names the mode.
func (m RoundingMode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "rounding(" + strconv.Itoa(int(m)) + ")"
}

// New returns unscaled × 10^-scale; a negative scale is taken as 0.
func New(unscaled int64, scale int) Decimal {
	return Decimal{u: big.NewInt(unscaled), scale: max(scale, 0)}
}

// Parse reads [+-]digits[.digits], the text of a DECIMAL column (leading
// '+' allowed); the scale is the number of digits after the point.
func Parse(s string) (Decimal, error) {
	t := s
	neg := false
	if len(t) > 0 && (t[0] == '-' || t[0] == '+') {
		neg, t = t[0] == '-', t[1:]
	}
	ip, fp := t, ""
	for i := 0; i < len(t); i++ {
		if t[i] == '.' {
			ip, fp = t[:i], t[i+1:]
			if fp == "" {
				ip = "" // "1." is refused
			}
			break
		}
	}
	if ip == "" || !digits(ip) || !digits(fp) {
		return Decimal{}, &opError{"parse " + strconv.Quote(s), ErrSyntax}
	}
	u, _ := new(big.Int).SetString(ip+fp, 10)
	if neg {
		u.Neg(u)
	}
	return Decimal{u: u, scale: len(fp)}, nil
}

// MustParse is Parse for constants; it panics on a syntax error.
func MustParse(s string) Decimal {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FromValue returns the exact number v holds: an Int, Year, Uint or Bit
// value (scale 0), or a Decimal value or decimal text (a String value).
// NULL, absent, floats and other kinds are an error wrapping ErrKind (a
// float has no exact decimal: format it with strconv and Parse that if
// that is what is meant).
func FromValue(v sdk.Value) (Decimal, error) {
	if v.Valid() {
		switch v.Kind() {
		case sdk.KindInt, sdk.KindYear:
			return Decimal{u: big.NewInt(v.Int())}, nil
		case sdk.KindUint, sdk.KindBit:
			return Decimal{u: new(big.Int).SetUint64(v.Uint())}, nil
		case sdk.KindDecimal, sdk.KindString:
			return Parse(v.Text())
		}
	}
	what := "NULL"
	switch {
	case v.IsAbsent():
		what = "an absent value"
	case v.Valid():
		what = "a " + v.Kind().String() + " value"
	}
	return Decimal{}, &opError{"from " + what, ErrKind}
}

// opError is an operation's failure: what was asked, and one of the
// package's errors.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return "decimal: " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// Value returns d as a value Row.Set takes for a DECIMAL (or text)
// column: its String text.
func (d Decimal) Value() sdk.Value { return sdk.String(d.String()) }

// int returns d's unscaled value; do not modify it.
func (d Decimal) int() *big.Int {
	if d.u == nil {
		return new(big.Int)
	}
	return d.u
}

// Scale returns the number of digits after the point.
func (d Decimal) Scale() int { return d.scale }

// Sign returns -1, 0 or 1.
func (d Decimal) Sign() int { return d.int().Sign() }

// Precision returns the number of significant digits of the unscaled
// value (1 for 0): 12.50 has 4.
func (d Decimal) Precision() int {
	if d.Sign() == 0 {
		return 1
	}
	return len(new(big.Int).Abs(d.int()).String())
}

// Fits reports whether d can be stored in a DECIMAL(precision, scale)
// column unchanged: at most scale digits after the point and
// precision-scale before it. Rescale first to round to the column's
// scale.
func (d Decimal) Fits(precision, scale int) bool {
	if d.scale > scale {
		return false
	}
	intDigits := 0
	if d.Sign() != 0 {
		intDigits = max(0, d.Precision()-d.scale)
	}
	return intDigits <= precision-scale
}

// String formats d as a DECIMAL column's text: an optional '-', the
// integer digits (at least "0"), and, with a scale, '.' and exactly
// Scale digits. Zero has no sign.
func (d Decimal) String() string {
	u := d.int()
	s := new(big.Int).Abs(u).String()
	if d.scale > 0 {
		if len(s) <= d.scale {
			s = zeros(d.scale-len(s)+1) + s
		}
		s = s[:len(s)-d.scale] + "." + s[len(s)-d.scale:]
	}
	if u.Sign() < 0 {
		s = "-" + s
	}
	return s
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// pow10 returns 10^n.
func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// scaled returns d's unscaled value at scale s ≥ d.scale.
func (d Decimal) scaled(s int) *big.Int {
	if s == d.scale {
		return d.int()
	}
	return new(big.Int).Mul(d.int(), pow10(s-d.scale))
}

// Neg returns -d.
func (d Decimal) Neg() Decimal { return Decimal{u: new(big.Int).Neg(d.int()), scale: d.scale} }

// Add returns d + e, exactly, at the larger of their scales.
func (d Decimal) Add(e Decimal) Decimal {
	s := max(d.scale, e.scale)
	return Decimal{u: new(big.Int).Add(d.scaled(s), e.scaled(s)), scale: s}
}

// Sub returns d - e, exactly, at the larger of their scales.
func (d Decimal) Sub(e Decimal) Decimal {
	s := max(d.scale, e.scale)
	return Decimal{u: new(big.Int).Sub(d.scaled(s), e.scaled(s)), scale: s}
}

// Mul returns d × e, exactly, at the sum of their scales (1.25 × 0.2 is
// 0.250).
func (d Decimal) Mul(e Decimal) Decimal {
	return Decimal{u: new(big.Int).Mul(d.int(), e.int()), scale: d.scale + e.scale}
}

// Quo returns d ÷ e at the given scale, rounded by mode; an error
// wrapping ErrDivisionByZero when e is 0. A negative scale is taken as 0.
func (d Decimal) Quo(e Decimal, scale int, mode RoundingMode) (Decimal, error) {
	if e.Sign() == 0 {
		return Decimal{}, &opError{d.String() + " / " + e.String(), ErrDivisionByZero}
	}
	scale = max(scale, 0)
	// d/e × 10^scale = du × 10^(es+scale) / (eu × 10^ds)
	num := new(big.Int).Mul(d.int(), pow10(e.scale+scale))
	den := new(big.Int).Mul(e.int(), pow10(d.scale))
	return Decimal{u: roundQuo(num, den, mode), scale: scale}, nil
}

// Cmp returns -1, 0 or 1 as d is less than, equal to or greater than e;
// scales do not matter (1.5 equals 1.50).
func (d Decimal) Cmp(e Decimal) int {
	s := max(d.scale, e.scale)
	return d.scaled(s).Cmp(e.scaled(s))
}

// Rescale returns d with the given number of digits after the point:
// padded with zeros, or rounded by mode (12.345 at scale 2 is 12.35
// HalfUp, 12.34 Down). A negative scale is taken as 0.
func (d Decimal) Rescale(scale int, mode RoundingMode) Decimal {
	scale = max(scale, 0)
	if scale >= d.scale {
		return Decimal{u: d.scaled(scale), scale: scale}
	}
	return Decimal{u: roundQuo(d.int(), pow10(d.scale-scale), mode), scale: scale}
}

// roundQuo returns num / den rounded by mode.
func roundQuo(num, den *big.Int, mode RoundingMode) *big.Int {
	if den.Sign() < 0 {
		num, den = new(big.Int).Neg(num), new(big.Int).Neg(den)
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() == 0 {
		return q
	}
	sign := num.Sign() // of the exact quotient, den being positive
	half := new(big.Int).Abs(r)
	half.Lsh(half, 1)
	c := half.Cmp(den) // twice the remainder against the divisor: the tie test
	var away bool
	switch mode {
	case HalfUp:
		away = c >= 0
	case HalfEven:
		away = c > 0 || c == 0 && q.Bit(0) == 1
	case Up:
		away = true
	case Floor:
		away = sign < 0
	case Ceiling:
		away = sign > 0
	}
	if away {
		q.Add(q, big.NewInt(int64(sign)))
	}
	return q
}
