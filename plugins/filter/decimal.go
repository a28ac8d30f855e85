package filter

import (
	"math"
	"strings"
)

// decimal is a decimal number [+-]digits[.digits], split into its sign,
// its integer digits without leading zeros and its fraction digits
// without trailing zeros; zero is never negative. The digits view the
// text it was read from.
type decimal struct {
	neg    bool
	ip, fp string
}

// parseDecimal reads s, less surrounding white space, as a decimal; ok is
// false when it is not one.
func parseDecimal(s string) (d decimal, ok bool) {
	if n := len(s); n > 0 && (s[0] <= ' ' || s[0] >= 0x80 || s[n-1] <= ' ' || s[n-1] >= 0x80) {
		s = strings.TrimSpace(s)
	}
	i := 0
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		i = 1
	}
	start := i
	for i < len(s) && s[i] == '0' {
		i++
	}
	ip := i
	for i < len(s) && s[i]-'0' <= 9 {
		i++
	}
	d.ip = s[ip:i]
	digits := i > start
	if i < len(s) {
		if s[i] != '.' {
			return decimal{}, false
		}
		i++
		fp := i
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
		if i < len(s) {
			return decimal{}, false
		}
		digits = digits || i > fp
		for i > fp && s[i-1] == '0' {
			i--
		}
		d.fp = s[fp:i]
	}
	if !digits {
		return decimal{}, false
	}
	if d.ip == "" && d.fp == "" {
		d.neg = false
	}
	return d, true
}

// cmpDecimal compares a and b: -1, 0 or 1.
func cmpDecimal(a, b decimal) int {
	if a.neg != b.neg {
		if a.neg {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case len(a.ip) != len(b.ip):
		c = 1
		if len(a.ip) < len(b.ip) {
			c = -1
		}
	case a.ip != b.ip:
		c = strings.Compare(a.ip, b.ip)
	default:
		c = strings.Compare(a.fp, b.fp) // no trailing zeros: lexical order is numeric order
	}
	if a.neg {
		c = -c
	}
	return c
}

// shift returns d times 10^n.
func (d decimal) shift(n int) decimal {
	k := min(n, len(d.fp))
	ip := strings.TrimLeft(d.ip+d.fp[:k]+strings.Repeat("0", n-k), "0")
	return decimal{neg: d.neg, ip: ip, fp: d.fp[k:]}
}

// String returns d as ParseFloat reads it.
func (d decimal) String() string {
	s := d.ip
	if s == "" {
		s = "0"
	}
	if d.fp != "" {
		s += "." + d.fp
	}
	if d.neg {
		s = "-" + s
	}
	return s
}

// bound places a decimal among the values of an integer type T: below
// them all (pos -1), above them all (pos 1), or (pos 0) at lo when exact,
// between lo and lo+1 when frac.
type bound[T int64 | uint64] struct {
	pos  int8
	frac bool
	lo   T
}

func bounds(d decimal) (i bound[int64], u bound[uint64]) {
	mag, over := uint64(0), false
	for k := 0; k < len(d.ip); k++ {
		dg := uint64(d.ip[k] - '0')
		if mag > (math.MaxUint64-dg)/10 {
			over = true
			break
		}
		mag = mag*10 + dg
	}
	frac := d.fp != ""
	i.frac, u.frac = frac, frac
	switch {
	case !d.neg && (over || mag > math.MaxInt64):
		i.pos = 1
	case !d.neg:
		i.lo = int64(mag)
	default:
		// The floor of a negative number with a fraction is one further
		// from zero.
		m, mover := mag, over
		if frac {
			if m == math.MaxUint64 {
				mover = true
			}
			m++
		}
		if mover || m > 1<<63 {
			i.pos = -1
		} else {
			i.lo = int64(-m)
		}
	}
	switch {
	case d.neg:
		u.pos = -1
	case over:
		u.pos = 1
	default:
		u.lo = mag
	}
	return i, u
}

// span is the set of values x of T for which comparing x with a bound
// gives an outcome in a mask (as cmpOp.mask): none when !some, else lo <= x
// <= hi, or every x but lo when not.
type span[T int64 | uint64] struct {
	some, not bool
	lo, hi    T
}

func spanOf[T int64 | uint64](b bound[T], mask uint8, min, max T) span[T] {
	// The values less than, equal to and greater than the bound are three
	// adjacent intervals, each possibly empty.
	var part [3]span[T]
	switch b.pos {
	case -1:
		part[2] = span[T]{some: true, lo: min, hi: max}
	case 1:
		part[0] = span[T]{some: true, lo: min, hi: max}
	default:
		if b.frac {
			part[0] = span[T]{some: true, lo: min, hi: b.lo}
		} else {
			part[0] = span[T]{some: b.lo != min, lo: min, hi: b.lo - 1}
			part[1] = span[T]{some: true, lo: b.lo, hi: b.lo}
		}
		part[2] = span[T]{some: b.lo != max, lo: b.lo + 1, hi: max}
	}
	if mask == 0b101 {
		if part[1].some {
			return span[T]{some: true, not: true, lo: b.lo, hi: b.lo}
		}
		return span[T]{some: true, lo: min, hi: max}
	}
	var s span[T]
	for k := range part {
		if mask>>k&1 == 0 || !part[k].some {
			continue
		}
		if !s.some {
			s = part[k]
		} else {
			s.hi = part[k].hi
		}
	}
	return s
}

// maxScale is the most digits readDigits reads.
const maxScale = 18

func b2u(b bool) uint {
	if b {
		return 1
	}
	return 0
}

const (
	lanes01 = 0x0101010101010101
	lanes7f = 0x7f * lanes01
	lanes80 = 0x80 * lanes01
)

// readDigits reads s, a decimal [+-]digits[.digits] of at most maxScale
// digits after its leading zeros, as m/10^scale. ok is false for
// anything else, which parseDecimal then reads: surrounding white space,
// more digits, or not a decimal.
func readDigits(s string) (m int64, scale int, ok bool) {
	if len(s) == 0 {
		return 0, 0, false
	}
	i, neg := 0, s[0] == '-'
	if neg || s[0] == '+' {
		i = 1
	}
	start := i
	for i < len(s) && s[i] == '0' {
		i++
	}
	var u uint64
	j := i
	for ; j < len(s); j++ {
		d := s[j] - '0'
		if d > 9 {
			break
		}
		u = u*10 + uint64(d)
	}
	digits := j - start
	if j < len(s) && s[j] == '.' {
		j++
		k := j
		for ; j < len(s); j++ {
			d := s[j] - '0'
			if d > 9 {
				break
			}
			u = u*10 + uint64(d)
		}
		scale = j - k
		digits += scale
	}
	// At most maxScale bytes from the first significant digit: at most
	// maxScale digits, and m < 10^18.
	if j != len(s) || digits == 0 || j-i > maxScale {
		return 0, 0, false
	}
	m = int64(u)
	if neg {
		m = -m
	}
	return m, scale, true
}
