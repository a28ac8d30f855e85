package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

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

type expr interface {
	eval(img sdk.Image) tri
}

type andExpr struct{ l, r expr }
type orExpr struct{ l, r expr }
type notExpr struct{ e expr }
type isNull struct {
	col string
	not bool
}
type cmpExpr struct {
	col string
	op  string
	lit literal
}
type inExpr struct {
	col  string
	not  bool
	lits []literal
}

func (e andExpr) eval(img sdk.Image) tri {
	l := e.l.eval(img)
	if l == no {
		return no
	}
	r := e.r.eval(img)
	switch {
	case r == no:
		return no
	case l == yes && r == yes:
		return yes
	}
	return unknown
}

func (e orExpr) eval(img sdk.Image) tri {
	l := e.l.eval(img)
	if l == yes {
		return yes
	}
	r := e.r.eval(img)
	switch {
	case r == yes:
		return yes
	case l == no && r == no:
		return no
	}
	return unknown
}

func (e notExpr) eval(img sdk.Image) tri { return e.e.eval(img).not() }

func (e isNull) eval(img sdk.Image) tri {
	v := img.Get(e.col)
	null := !v.Valid()
	if null != e.not {
		return yes
	}
	return no
}

func (e cmpExpr) eval(img sdk.Image) tri {
	c, ok := compare(img.Get(e.col), &e.lit)
	if !ok {
		return unknown
	}
	var t bool
	switch e.op {
	case "=":
		t = c == 0
	case "!=":
		t = c != 0
	case "<":
		t = c < 0
	case "<=":
		t = c <= 0
	case ">":
		t = c > 0
	case ">=":
		t = c >= 0
	}
	if t {
		return yes
	}
	return no
}

func (e inExpr) eval(img sdk.Image) tri {
	v := img.Get(e.col)
	res := no
	for i := range e.lits {
		c, ok := compare(v, &e.lits[i])
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

// literal is a constant of the predicate: text, a number (kept as text
// and compared as an exact decimal), or NULL.
type literal struct {
	null   bool
	number bool
	text   string
}

// numBuf formats column numbers for comparison; the handler runs on one
// goroutine.
var numBuf []byte

// compare compares a column value with a literal; ok is false when the
// comparison is unknown.
func compare(v sdk.Value, lit *literal) (int, bool) {
	if !v.Valid() || lit.null {
		return 0, false
	}
	switch v.Kind() {
	case sdk.KindInt, sdk.KindYear:
		numBuf = strconv.AppendInt(numBuf[:0], v.Int(), 10)
	case sdk.KindUint, sdk.KindBit:
		numBuf = strconv.AppendUint(numBuf[:0], v.Uint(), 10)
	case sdk.KindFloat, sdk.KindDouble:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		bits := 64
		if v.Kind() == sdk.KindFloat {
			bits = 32
		}
		numBuf = strconv.AppendFloat(numBuf[:0], f, 'f', -1, bits)
	default:
		if lit.number {
			return compareDecimal(v.Text(), lit.text)
		}
		return strings.Compare(v.Text(), lit.text), true
	}
	return compareDecimal(string(numBuf), lit.text)
}

// compareDecimal compares two decimal numbers written as
// [+-]digits[.digits] exactly; ok is false when either is not one.
func compareDecimal(a, b string) (int, bool) {
	an, ai, af, ok := splitDecimal(a)
	if !ok {
		return 0, false
	}
	bn, bi, bf, ok := splitDecimal(b)
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
	c := compareMagnitude(ai, af, bi, bf)
	if an {
		c = -c
	}
	return c, true
}

// splitDecimal returns the sign, the integer digits without leading zeros
// and the fraction digits without trailing zeros.
func splitDecimal(s string) (neg bool, ip, fp string, ok bool) {
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

func compareMagnitude(ai, af, bi, bf string) int {
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

// parse compiles a where predicate.
func parse(src string) (expr, error) {
	p := &parser{src: src}
	p.next()
	e := p.or()
	if p.err == nil && p.tok.kind != tEOF {
		p.fail("unexpected %s", p.tok)
	}
	if p.err != nil {
		return nil, p.err
	}
	return e, nil
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tKeyword
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return "'" + t.text + "'"
	}
	return strconv.Quote(t.text)
}

type parser struct {
	src string
	pos int
	tok token
	err error
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("at character %d: %s", p.tok.pos+1, fmt.Sprintf(format, args...))
	}
}

var keywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "IN": true}

func (p *parser) next() {
	s := p.src
	for p.pos < len(s) && (s[p.pos] == ' ' || s[p.pos] == '\t' || s[p.pos] == '\n' || s[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	p.tok = token{pos: start}
	if p.pos >= len(s) {
		p.tok.kind = tEOF
		return
	}
	c := s[p.pos]
	switch {
	case c == '(':
		p.pos++
		p.tok.kind, p.tok.text = tLParen, "("
	case c == ')':
		p.pos++
		p.tok.kind, p.tok.text = tRParen, ")"
	case c == ',':
		p.pos++
		p.tok.kind, p.tok.text = tComma, ","
	case c == '=' || c == '<' || c == '>' || c == '!':
		p.pos++
		if p.pos < len(s) && (s[p.pos] == '=' || (c == '<' && s[p.pos] == '>')) {
			p.pos++
		}
		p.tok.kind, p.tok.text = tOp, s[start:p.pos]
		if p.tok.text == "!" {
			p.fail(`"!" must be followed by "="`)
		}
		if p.tok.text == "<>" {
			p.tok.text = "!="
		}
	case c == '\'':
		var b strings.Builder
		p.pos++
		for {
			if p.pos >= len(s) {
				p.fail("unterminated string")
				return
			}
			if s[p.pos] == '\'' {
				if p.pos+1 < len(s) && s[p.pos+1] == '\'' {
					b.WriteByte('\'')
					p.pos += 2
					continue
				}
				p.pos++
				break
			}
			b.WriteByte(s[p.pos])
			p.pos++
		}
		p.tok.kind, p.tok.text = tString, b.String()
	case c == '`':
		end := strings.IndexByte(s[p.pos+1:], '`')
		if end < 0 {
			p.fail("unterminated `name`")
			p.pos = len(s)
			return
		}
		p.tok.kind, p.tok.text = tIdent, s[p.pos+1:p.pos+1+end]
		p.pos += end + 2
	case c == '-' || c == '.' || (c >= '0' && c <= '9'):
		p.pos++
		for p.pos < len(s) && (s[p.pos] == '.' || (s[p.pos] >= '0' && s[p.pos] <= '9')) {
			p.pos++
		}
		p.tok.kind, p.tok.text = tNumber, s[start:p.pos]
		if _, _, _, ok := splitDecimal(p.tok.text); !ok {
			p.fail("bad number %q", p.tok.text)
		}
	case c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z'):
		for p.pos < len(s) && (s[p.pos] == '_' || s[p.pos]|0x20 >= 'a' && s[p.pos]|0x20 <= 'z' || s[p.pos] >= '0' && s[p.pos] <= '9') {
			p.pos++
		}
		p.tok.kind, p.tok.text = tIdent, s[start:p.pos]
		if up := strings.ToUpper(p.tok.text); keywords[up] {
			p.tok.kind, p.tok.text = tKeyword, up
		}
	default:
		p.fail("unexpected character %q", c)
		p.pos = len(s)
		p.tok.kind = tEOF
	}
}

func (p *parser) keyword(k string) bool {
	if p.tok.kind == tKeyword && p.tok.text == k {
		p.next()
		return true
	}
	return false
}

func (p *parser) or() expr {
	e := p.and()
	for p.err == nil && p.keyword("OR") {
		e = orExpr{e, p.and()}
	}
	return e
}

func (p *parser) and() expr {
	e := p.not()
	for p.err == nil && p.keyword("AND") {
		e = andExpr{e, p.not()}
	}
	return e
}

func (p *parser) not() expr {
	if p.keyword("NOT") {
		return notExpr{p.not()}
	}
	return p.primary()
}

func (p *parser) primary() expr {
	if p.err != nil {
		return nil
	}
	if p.tok.kind == tLParen {
		p.next()
		e := p.or()
		if p.tok.kind != tRParen {
			p.fail("want ), got %s", p.tok)
			return nil
		}
		p.next()
		return e
	}
	if p.tok.kind != tIdent {
		p.fail("want a column name, got %s", p.tok)
		return nil
	}
	col := p.tok.text
	p.next()
	switch {
	case p.keyword("IS"):
		not := p.keyword("NOT")
		if !p.keyword("NULL") {
			p.fail("want NULL, got %s", p.tok)
			return nil
		}
		return isNull{col: col, not: not}
	case p.keyword("NOT"):
		if !p.keyword("IN") {
			p.fail("want IN after NOT, got %s", p.tok)
			return nil
		}
		return p.in(col, true)
	case p.keyword("IN"):
		return p.in(col, false)
	case p.tok.kind == tOp:
		op := p.tok.text
		p.next()
		return cmpExpr{col: col, op: op, lit: p.literal()}
	}
	p.fail("want a comparison, IS or IN after %q, got %s", col, p.tok)
	return nil
}

func (p *parser) in(col string, not bool) expr {
	if p.tok.kind != tLParen {
		p.fail("want ( after IN, got %s", p.tok)
		return nil
	}
	p.next()
	e := inExpr{col: col, not: not}
	for p.err == nil {
		e.lits = append(e.lits, p.literal())
		if p.tok.kind == tComma {
			p.next()
			continue
		}
		if p.tok.kind != tRParen {
			p.fail("want , or ), got %s", p.tok)
			return nil
		}
		p.next()
		break
	}
	return e
}

func (p *parser) literal() literal {
	t := p.tok
	switch {
	case t.kind == tString:
		p.next()
		return literal{text: t.text}
	case t.kind == tNumber:
		p.next()
		return literal{number: true, text: t.text}
	case t.kind == tKeyword && t.text == "NULL":
		p.next()
		return literal{null: true}
	}
	p.fail("want a 'string', a number or NULL, got %s", t)
	return literal{}
}
