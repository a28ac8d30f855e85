package filter

import (
	"math"
	"math/bits"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

// A prog is a where predicate compiled for one table version: it reads
// columns by index, and each comparison is specialized to its column's
// kind and its literal's typed form.
//
// A row is kept when the predicate is true, so the prog only answers
// "true?": NOTs are pushed down to the tests (in three-valued logic, NOT
// (a AND b) is NOT a OR NOT b, NOT x < 1 is x >= 1 and NOT x IS NULL is x
// IS NOT NULL), and AND and OR become jumps. Each test sends evaluation
// to its yes target when true and to its no target when false or unknown,
// until it reaches accept or reject.
type prog struct {
	tests []test
	entry int32
}

const (
	accept int32 = -1
	reject int32 = -2
)

type testMode uint8

const (
	tValid   testMode = iota // the value is valid (not NULL or absent) == valid
	tInt                     // Int, Year: ilo <= x <= ihi, != not
	tUint                    // Uint, Bit: ulo <= x <= uhi, != not
	tIntIn                   // x is among ints, != not
	tUintIn                  // x is among uints, != not
	tDouble                  // Double vs a number: outcome in mask
	tFloat                   // Float vs a number: outcome in mask
	tDecimal                 // text read as a decimal vs a number: in spans
	tTextEq                  // text == text, != not
	tText                    // text vs text: outcome in mask
	tIn                      // [NOT] IN, any other case
)

type test struct {
	mode  testMode
	valid bool
	not   bool
	mask  uint8
	c     int8 // tDouble, tFloat: the outcome when x equals the rounded literal
	class class
	col   int
	yes   int32
	no    int32
	ilo   int64
	ihi   int64
	ulo   uint64
	uhi   uint64
	f64   float64
	f32   float32
	dec   decimal
	// spans[s] holds the integers m for which m/10^s stands in the
	// test's relation to its number (tDecimal).
	spans *[maxScale + 1]span[int64]
	text  string
	ints  []int64
	uints []uint64
	lits  []*literal
}

// class is how a column's values compare with literals.
type class uint8

const (
	cText class = iota
	cInt
	cUint
	cFloat
	cDouble
)

func classOf(k sdk.Kind) class {
	switch k {
	case sdk.KindInt, sdk.KindYear:
		return cInt
	case sdk.KindUint, sdk.KindBit:
		return cUint
	case sdk.KindFloat:
		return cFloat
	case sdk.KindDouble:
		return cDouble
	}
	return cText
}

// compile compiles e for t (nil: a table without columns).
func compile(e expr, t *sdk.Table) prog {
	c := compiler{t: t}
	entry := c.gen(e, false, accept, reject)
	return prog{tests: c.tests, entry: entry}
}

type compiler struct {
	t     *sdk.Table
	tests []test
}

// gen compiles e (negated when neg) to go to yes when true and to no
// otherwise, and returns its entry.
func (c *compiler) gen(e expr, neg bool, yes, no int32) int32 {
	switch e := e.(type) {
	case andExpr:
		if neg { // NOT l OR NOT r
			return c.gen(e.l, neg, yes, c.gen(e.r, neg, yes, no))
		}
		return c.gen(e.l, neg, c.gen(e.r, neg, yes, no), no)
	case orExpr:
		if neg { // NOT l AND NOT r
			return c.gen(e.l, neg, c.gen(e.r, neg, yes, no), no)
		}
		return c.gen(e.l, neg, yes, c.gen(e.r, neg, yes, no))
	case notExpr:
		return c.gen(e.e, !neg, yes, no)
	}
	t, always, never := c.test(e, neg)
	switch {
	case always:
		return yes
	case never:
		return no
	}
	t.yes, t.no = yes, no
	c.tests = append(c.tests, t)
	return int32(len(c.tests) - 1)
}

func (c *compiler) column(name string) (int, class, bool) {
	if c.t == nil {
		return -1, cText, false
	}
	i := c.t.Index(name)
	if i < 0 {
		return -1, cText, false
	}
	return i, classOf(c.t.Columns[i].Kind), true
}

// test compiles a leaf of the predicate; always and never report that it
// is true, or not true, whatever the row.
func (c *compiler) test(e expr, neg bool) (t test, always, never bool) {
	switch e := e.(type) {
	case isNull:
		col, _, ok := c.column(e.col)
		valid := e.not != neg
		if !ok { // reads as absent
			return t, !valid, valid
		}
		return test{mode: tValid, col: col, valid: valid}, false, false
	case cmpExpr:
		col, cl, ok := c.column(e.col)
		lit := &e.lit
		mask := e.op.mask()
		if neg {
			mask ^= 0b111
		}
		if !ok || lit.null || (cl != cText && !lit.dec) {
			return t, false, true // unknown
		}
		t = test{col: col, mask: mask, class: cl}
		switch cl {
		case cInt:
			s := spanOf(lit.i, mask, math.MinInt64, math.MaxInt64)
			if !s.some {
				return t, false, true
			}
			if !s.not && s.lo == math.MinInt64 && s.hi == math.MaxInt64 {
				return test{mode: tValid, col: col, valid: true}, false, false
			}
			t.mode, t.ilo, t.ihi, t.not = tInt, s.lo, s.hi, s.not
		case cUint:
			s := spanOf(lit.u, mask, 0, math.MaxUint64)
			if !s.some {
				return t, false, true
			}
			if !s.not && s.lo == 0 && s.hi == math.MaxUint64 {
				return test{mode: tValid, col: col, valid: true}, false, false
			}
			t.mode, t.ulo, t.uhi, t.not = tUint, s.lo, s.hi, s.not
		case cDouble:
			t.mode, t.f64, t.c = tDouble, lit.f64, lit.c64
		case cFloat:
			t.mode, t.f32, t.c = tFloat, lit.f32, lit.c32
		default:
			switch {
			case lit.number:
				t.mode, t.dec, t.spans = tDecimal, lit.d, scaledSpans(lit.d, mask)
			case mask == 0b010 || mask == 0b101:
				t.mode, t.text, t.not = tTextEq, lit.text, mask == 0b101
			default:
				t.mode, t.text = tText, lit.text
			}
		}
		return t, false, false
	case inExpr:
		col, cl, ok := c.column(e.col)
		not := e.not != neg
		if !ok {
			return t, false, true // unknown
		}
		// NOT IN is true only when no literal is unknown.
		unknown := false
		for i := range e.lits {
			l := &e.lits[i]
			if l.null || (cl != cText && !l.dec) {
				unknown = true
			}
		}
		if not && unknown {
			return t, false, true
		}
		t = test{col: col, not: not, class: cl}
		switch cl {
		case cInt:
			t.mode = tIntIn
			for i := range e.lits {
				if l := &e.lits[i]; l.dec && l.i.pos == 0 && !l.i.frac {
					t.ints = append(t.ints, l.i.lo)
				}
			}
			if len(t.ints) == 0 && !not {
				return t, false, true
			}
		case cUint:
			t.mode = tUintIn
			for i := range e.lits {
				if l := &e.lits[i]; l.dec && l.u.pos == 0 && !l.u.frac {
					t.uints = append(t.uints, l.u.lo)
				}
			}
			if len(t.uints) == 0 && !not {
				return t, false, true
			}
		default:
			t.mode = tIn
			for i := range e.lits {
				t.lits = append(t.lits, &e.lits[i])
			}
		}
		return t, false, false
	}
	return t, false, true
}

// run reports whether the predicate is true for img.
func (p *prog) run(img sdk.Image) bool {
	pc := p.entry
	for pc >= 0 {
		t := &p.tests[pc]
		v := img.At(t.col)
		ok := false
		switch t.mode {
		case tValid:
			ok = v.Valid() == t.valid
		case tInt:
			if v.Valid() {
				x := v.Int()
				ok = (uint64(x-t.ilo) <= uint64(t.ihi-t.ilo)) != t.not
			}
		case tUint:
			if v.Valid() {
				x := v.Uint()
				ok = (x-t.ulo <= t.uhi-t.ulo) != t.not
			}
		case tIntIn:
			if v.Valid() {
				x := v.Int()
				for _, n := range t.ints {
					if n == x {
						ok = true
						break
					}
				}
				ok = ok != t.not
			}
		case tUintIn:
			if v.Valid() {
				x := v.Uint()
				for _, n := range t.uints {
					if n == x {
						ok = true
						break
					}
				}
				ok = ok != t.not
			}
		case tDouble:
			if v.Valid() {
				if c, known := cmpDouble(v.Float(), t.f64, t.c); known {
					ok = t.mask>>uint(c+1)&1 != 0
				}
			}
		case tFloat:
			if v.Valid() {
				if c, known := cmpFloat(v.Float(), t.f32, t.c); known {
					ok = t.mask>>uint(c+1)&1 != 0
				}
			}
		case tDecimal:
			ok = v.Valid() && t.decimalHolds(v.Text())
		case tTextEq:
			if v.Valid() {
				ok = (v.Text() == t.text) != t.not
			}
		case tText:
			if v.Valid() {
				ok = t.mask>>uint(strings.Compare(v.Text(), t.text)+1)&1 != 0
			}
		case tIn:
			if v.Valid() {
				ok = t.in(v)
			}
		}
		if ok {
			pc = t.yes
		} else {
			pc = t.no
		}
	}
	return pc == accept
}

// scaledSpans returns, for each scale s up to maxScale, the span of the
// integers m for which m/10^s compares with d as mask says; an empty span
// is written as every integer, negated.
func scaledSpans(d decimal, mask uint8) *[maxScale + 1]span[int64] {
	var spans [maxScale + 1]span[int64]
	for s := range spans {
		b, _ := bounds(d.shift(s))
		sp := spanOf(b, mask, math.MinInt64, math.MaxInt64)
		if !sp.some {
			sp = span[int64]{not: true, lo: math.MinInt64, hi: math.MaxInt64}
		}
		spans[s] = sp
	}
	return &spans
}

// decimalHolds reports whether text, read as a decimal, stands in a
// tDecimal test's relation to its number: false when it is not a
// decimal.
//
// Inside Wasm each call and each branch taken costs much more than
// arithmetic (Go's Wasm code dispatches every jump through a table, and
// the host counts them), so text of at most 8 bytes, the common case, is
// read here as one 64-bit word, without a loop: the digits and the dot
// are found and checked in all bytes at once, and the digits added up
// pairwise.
func (t *test) decimalHolds(s string) bool {
	n := uint(len(s))
	if n-1 >= 8 { // not 1 to 8 bytes
		return t.decimalHoldsSlow(s)
	}
	var w uint64 // the bytes, the first in the low byte
	if n >= 4 {  // two overlapping 4-byte loads
		k := n - 4
		w = uint64(le32(s)) | uint64(le32(s[k:]))<<(8*k)
	} else {
		w = uint64(s[0]) | uint64(s[n>>1])<<(8*(n>>1)) | uint64(s[n-1])<<(8*(n-1))
	}
	b0 := w & 0xff
	neg := b2u(b0 == '-')
	sign := neg | b2u(b0 == '+')
	w >>= 8 * sign
	n -= sign
	valid := uint64(1)<<(8*n) - 1 // the bytes of the number (all when n is 8)
	x := w ^ '0'*lanes01          // digits are now 0 to 9
	d := w ^ '.'*lanes01          // the dot is now 0
	dot := ^((d&lanes7f + lanes7f) | d) & valid & lanes80
	bad := ((x&lanes7f + (0x80-10)*lanes01) | x) & valid & lanes80 &^ dot
	dots := uint(bits.OnesCount64(dot))
	digits := n - dots
	if bad|uint64(dots>>1)|uint64(b2u(digits == 0)) != 0 {
		return t.decimalHoldsSlow(s) // white space, or not a decimal
	}
	p := min(uint(bits.TrailingZeros64(dot))/8, n) // the dot's byte, or n
	x &= valid
	x = x&(uint64(1)<<(8*p)-1) | x>>(8*(p+1))<<(8*p) // the digits without the dot
	x <<= 8 * (8 - digits)                           // leading zeros up to 8 digits
	// Add up the digits pairwise, the more significant first in each lane.
	x = (x&0x000f000f000f000f)*10 + (x&0x0f000f000f000f00)>>8
	x = (x&0x000000ff000000ff)*100 + (x&0x00ff000000ff0000)>>16
	x = (x&0x000000000000ffff)*10000 + (x&0x0000ffff00000000)>>32
	m := (int64(x) ^ -int64(neg)) + int64(neg)
	sp := &t.spans[(n-p-dots)&7] // the scale: at most 7 fraction digits
	return (uint64(m-sp.lo) <= uint64(sp.hi-sp.lo)) != sp.not
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// decimalHoldsSlow is decimalHolds for text it does not read.
func (t *test) decimalHoldsSlow(s string) bool {
	m, scale, ok := readDigits(s)
	if !ok {
		d, ok := parseDecimal(s)
		return ok && t.mask>>uint(cmpDecimal(d, t.dec)+1)&1 != 0
	}
	sp := &t.spans[scale]
	return (uint64(m-sp.lo) <= uint64(sp.hi-sp.lo)) != sp.not
}

// in evaluates a tIn test on a valid value: IN is true when some literal
// equals v, NOT IN when every literal is known and none equals v.
func (t *test) in(v sdk.Value) bool {
	unknown := false
	for _, l := range t.lits {
		c, known := cmpLiteral(v, t.class, l)
		if !known {
			unknown = true
			continue
		}
		if c == 0 {
			return !t.not
		}
	}
	return t.not && !unknown
}

// cmpLiteral compares a valid value of class cl with a literal; known is
// false when the comparison is unknown.
func cmpLiteral(v sdk.Value, cl class, l *literal) (c int, known bool) {
	if l.null {
		return 0, false
	}
	if cl == cText {
		if !l.number {
			return strings.Compare(v.Text(), l.text), true
		}
		d, ok := parseDecimal(v.Text())
		if !ok {
			return 0, false
		}
		return cmpDecimal(d, l.d), true
	}
	if !l.dec {
		return 0, false
	}
	switch cl {
	case cInt:
		return cmpBound(v.Int(), l.i), true
	case cUint:
		return cmpBound(v.Uint(), l.u), true
	case cFloat:
		return cmpFloat(v.Float(), l.f32, l.c32)
	}
	return cmpDouble(v.Float(), l.f64, l.c64)
}

// cmpBound compares x with the decimal b places.
func cmpBound[T int64 | uint64](x T, b bound[T]) int {
	switch {
	case b.pos != 0:
		return -int(b.pos)
	case x > b.lo:
		return 1 // x >= lo+1, beyond a fraction
	case x == b.lo && !b.frac:
		return 0
	}
	return -1
}

// cmpDouble compares the shortest decimal that reads back as x with a
// number literal, given the literal rounded to a float64, lf, and the
// outcome c when x is lf. Rounding is monotonic, so x < lf means the
// decimal is less than the literal (were it not, it would round to at
// least lf), and x > lf greater; x == lf means the decimal is lf's. NaN
// and infinities are unknown.
func cmpDouble(x, lf float64, c int8) (int, bool) {
	switch {
	case x != x || x > math.MaxFloat64 || x < -math.MaxFloat64:
		return 0, false
	case x < lf:
		return -1, true
	case x > lf:
		return 1, true
	}
	return int(c), true
}

// cmpFloat is cmpDouble for Float columns, whose values compare as
// float32s.
func cmpFloat(x float64, lf float32, c int8) (int, bool) {
	if x != x || x > math.MaxFloat64 || x < -math.MaxFloat64 {
		return 0, false
	}
	f := float32(x)
	switch {
	case f > math.MaxFloat32 || f < -math.MaxFloat32:
		return 0, false
	case f < lf:
		return -1, true
	case f > lf:
		return 1, true
	}
	return int(c), true
}
