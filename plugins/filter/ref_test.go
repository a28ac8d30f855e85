package filter

import (
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

// This is the filter as it was before predicates were compiled per
// table: it evaluates the parsed predicate by column name, formats
// numbers and compares them as decimal text. It is kept, for tests only,
// as the reference the compiled filter must agree with.

// tri is a three-valued truth.
type tri uint8

const (
	unknown tri = iota
	no
	yes
)

func (t tri) not() tri {
	switch t {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

// refFilter decides as the filter does, from the same config.
type refFilter struct {
	include, exclude [][2]string
	ops              [256]bool
	anyOp            bool
	where            expr
}

func newRefFilter(cfg config) *refFilter {
	rf := &refFilter{anyOp: len(cfg.Ops) == 0}
	split := func(pats []string) [][2]string {
		var out [][2]string
		for _, p := range pats {
			db, table, _ := strings.Cut(p, ".")
			out = append(out, [2]string{db, table})
		}
		return out
	}
	rf.include, rf.exclude = split(cfg.Include), split(cfg.Exclude)
	for _, op := range cfg.Ops {
		switch op {
		case "c", "u", "d", "t", "r":
			rf.ops[op[0]] = true
		case "ddl":
			rf.ops[sdk.OpDDL] = true
		}
	}
	if strings.TrimSpace(cfg.Where) != "" {
		rf.where, _ = parse(cfg.Where)
	}
	return rf
}

func refMatch(pats [][2]string, db, table string) bool {
	for _, p := range pats {
		if ok, _ := path.Match(p[0], db); !ok {
			continue
		}
		if ok, _ := path.Match(p[1], table); ok {
			return true
		}
	}
	return false
}

func (rf *refFilter) keep(r *sdk.Row) bool {
	if !rf.anyOp && !rf.ops[r.Op()] {
		return false
	}
	db, table := r.DB(), ""
	if t := r.Table(); t != nil {
		db, table = t.DB, t.Name
	}
	if (len(rf.include) != 0 && !refMatch(rf.include, db, table)) || refMatch(rf.exclude, db, table) {
		return false
	}
	if rf.where == nil {
		return true
	}
	img := r.After()
	if r.Op() == sdk.OpDelete {
		img = r.Before()
	}
	if !img.Present() {
		return true
	}
	return refEval(rf.where, img) == yes
}

func refEval(e expr, img sdk.Image) tri {
	switch e := e.(type) {
	case andExpr:
		l := refEval(e.l, img)
		if l == no {
			return no
		}
		r := refEval(e.r, img)
		switch {
		case r == no:
			return no
		case l == yes && r == yes:
			return yes
		}
		return unknown
	case orExpr:
		l := refEval(e.l, img)
		if l == yes {
			return yes
		}
		r := refEval(e.r, img)
		switch {
		case r == yes:
			return yes
		case l == no && r == no:
			return no
		}
		return unknown
	case notExpr:
		return refEval(e.e, img).not()
	case isNull:
		v := img.Get(e.col)
		null := !v.Valid()
		if null != e.not {
			return yes
		}
		return no
	case cmpExpr:
		c, ok := refCompare(img.Get(e.col), &e.lit)
		if !ok {
			return unknown
		}
		var t bool
		switch e.op {
		case opEq:
			t = c == 0
		case opNe:
			t = c != 0
		case opLt:
			t = c < 0
		case opLe:
			t = c <= 0
		case opGt:
			t = c > 0
		case opGe:
			t = c >= 0
		}
		if t {
			return yes
		}
		return no
	case inExpr:
		v := img.Get(e.col)
		res := no
		for i := range e.lits {
			c, ok := refCompare(v, &e.lits[i])
			if !ok {
				res = unknown
				continue
			}
			if c == 0 {
				res = yes
				break
			}
		}
		if e.not {
			return res.not()
		}
		return res
	}
	panic("unknown expression")
}

// refCompare compares a column value with a literal; ok is false when the
// comparison is unknown.
func refCompare(v sdk.Value, lit *literal) (int, bool) {
	if !v.Valid() || lit.null {
		return 0, false
	}
	var num []byte
	switch v.Kind() {
	case sdk.KindInt, sdk.KindYear:
		num = strconv.AppendInt(nil, v.Int(), 10)
	case sdk.KindUint, sdk.KindBit:
		num = strconv.AppendUint(nil, v.Uint(), 10)
	case sdk.KindFloat, sdk.KindDouble:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		bits := 64
		if v.Kind() == sdk.KindFloat {
			bits = 32
		}
		num = strconv.AppendFloat(nil, f, 'f', -1, bits)
	default:
		if lit.number {
			return refCompareDecimal(v.Text(), lit.text)
		}
		return strings.Compare(v.Text(), lit.text), true
	}
	return refCompareDecimal(string(num), lit.text)
}

// refCompareDecimal compares two decimal numbers written as
// [+-]digits[.digits] exactly; ok is false when either is not one.
func refCompareDecimal(a, b string) (int, bool) {
	an, ai, af, ok := refSplitDecimal(a)
	if !ok {
		return 0, false
	}
	bn, bi, bf, ok := refSplitDecimal(b)
	if !ok {
		return 0, false
	}
	if ai == "" && af == "" {
		an = false // -0 is 0
	}
	if bi == "" && bf == "" {
		bn = false
	}
	if an != bn {
		if an {
			return -1, true
		}
		return 1, true
	}
	c := refCompareMagnitude(ai, af, bi, bf)
	if an {
		c = -c
	}
	return c, true
}

// refSplitDecimal returns the sign, the integer digits without leading
// zeros and the fraction digits without trailing zeros.
func refSplitDecimal(s string) (neg bool, ip, fp string, ok bool) {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip, fp, _ = strings.Cut(s, ".")
	if ip == "" && fp == "" {
		return false, "", "", false
	}
	for _, p := range [2]string{ip, fp} {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false, "", "", false
			}
		}
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	return neg, ip, fp, true
}

func refCompareMagnitude(ai, af, bi, bf string) int {
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf) // no trailing zeros: lexical order is numeric order
}
