package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// expr is a parsed where predicate: an andExpr, orExpr, notExpr, isNull,
// cmpExpr or inExpr. compile turns it into a prog for each table.
type expr interface{ node() }

type andExpr struct{ l, r expr }
type orExpr struct{ l, r expr }
type notExpr struct{ e expr }
type isNull struct {
	col string
	not bool
}
type cmpExpr struct {
	col string
	op  cmpOp
	lit literal
}
type inExpr struct {
	col  string
	not  bool
	lits []literal
}

func (andExpr) node() {}
func (orExpr) node()  {}
func (notExpr) node() {}
func (isNull) node()  {}
func (cmpExpr) node() {}
func (inExpr) node()  {}

// columns appends to dst the columns e names, in order, each once.
func columns(e expr, dst []string) []string {
	add := func(c string) []string {
		for _, d := range dst {
			if d == c {
				return dst
			}
		}
		return append(dst, c)
	}
	switch e := e.(type) {
	case andExpr:
		return columns(e.r, columns(e.l, dst))
	case orExpr:
		return columns(e.r, columns(e.l, dst))
	case notExpr:
		return columns(e.e, dst)
	case isNull:
		return add(e.col)
	case cmpExpr:
		return add(e.col)
	case inExpr:
		return add(e.col)
	}
	return dst
}

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

// mask returns the outcomes of a comparison for which op holds: bit 0
// for less, bit 1 for equal, bit 2 for greater.
func (op cmpOp) mask() uint8 {
	switch op {
	case opEq:
		return 0b010
	case opNe:
		return 0b101
	case opLt:
		return 0b001
	case opLe:
		return 0b011
	case opGt:
		return 0b100
	}
	return 0b110 // opGe
}

func parseOp(s string) cmpOp {
	switch s {
	case "=":
		return opEq
	case "!=":
		return opNe
	case "<":
		return opLt
	case "<=":
		return opLe
	case ">":
		return opGt
	}
	return opGe
}

// literal is a constant of the predicate: text, a number (compared as an
// exact decimal), or NULL. Its typed forms, made once by prepare, are
// what comparisons with numeric columns use.
type literal struct {
	null   bool
	number bool
	text   string // the text, or the number as written

	// dec reports whether the literal reads as a decimal number (numbers
	// always do, text maybe): d and the forms below are then set.
	dec bool
	d   decimal
	i   bound[int64]
	u   bound[uint64]
	// f64 and f32 are the literal rounded to float64 and float32; c64
	// and c32 compare their shortest decimals with the literal.
	f64      float64
	f32      float32
	c64, c32 int8
}

func (l *literal) prepare() {
	if l.null {
		return
	}
	d, ok := parseDecimal(l.text)
	if !ok {
		return
	}
	l.dec, l.d = true, d
	l.i, l.u = bounds(d)
	s := d.String()
	l.f64, _ = strconv.ParseFloat(s, 64)
	f32, _ := strconv.ParseFloat(s, 32)
	l.f32 = float32(f32)
	l.c64 = shortestCmp(l.f64, 64, d)
	l.c32 = shortestCmp(float64(l.f32), 32, d)
}

// shortestCmp compares the shortest decimal that reads back as f (as
// strconv formats it, with bits of precision) with d. Infinities compare
// as 0: no finite value equals them.
func shortestCmp(f float64, bits int, d decimal) int8 {
	if math.IsInf(f, 0) {
		return 0
	}
	b := strconv.AppendFloat(nil, f, 'f', -1, bits)
	fd, _ := parseDecimal(string(b))
	return int8(cmpDecimal(fd, d))
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
		if _, ok := parseDecimal(p.tok.text); !ok {
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
		op := parseOp(p.tok.text)
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
	var l literal
	switch {
	case t.kind == tString:
		l = literal{text: t.text}
	case t.kind == tNumber:
		l = literal{number: true, text: t.text}
	case t.kind == tKeyword && t.text == "NULL":
		l = literal{null: true}
	default:
		p.fail("want a 'string', a number or NULL, got %s", t)
		return literal{}
	}
	p.next()
	l.prepare()
	return l
}
