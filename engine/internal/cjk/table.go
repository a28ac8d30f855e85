// Package cjk converts text in MariaDB's multi-byte character sets (sjis,
// cp932, ujis, eucjpms, gbk, gb2312, big5, euckr) to UTF-8 exactly as the
// server's own CONVERT(... USING utf8mb4) does.
//
// Each charset is a Table read off a MariaDB server, sequence by sequence
// (see engine/internal/gencharset), and committed under data/: every byte
// sequence the server takes for one character and the character it
// converts it to, '?' included where the server has none. A Table is
// loaded on first use. Text holding a sequence that is no character of
// its charset is an error, never a guessed character.
package cjk

//go:generate go run ../gencharset -out data

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"
)

// none marks a byte sequence that is no character. U+FFFF is a
// noncharacter: no charset maps to it.
const none = 0xffff

// Table is the characters of one charset: sequences of one byte, of two
// bytes led by a byte ≥ 0x80, and of three bytes led by one prefix byte
// (EUC's SS3, 0x8F), each with the character (in the BMP) it converts to.
// No character is the start of a longer one, so text splits into
// characters one way only.
//
// A Table is built with Set, or read with UnmarshalBinary; once built it
// is read-only and safe for concurrent use.
type Table struct {
	single [256]uint16
	// double is by (lead-0x80)<<8 | trail.
	double []uint16
	// prefix leads the three-byte characters (0: none); triple is by
	// second<<8 | third.
	prefix byte
	triple []uint16
	// ascii: every byte below 0x80 is its own character.
	ascii bool
}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{}
	for i := range t.single {
		t.single[i] = none
	}
	return t
}

// Set records that seq is one character converting to r.
func (t *Table) Set(seq []byte, r rune) error {
	if r < 0 || r >= none {
		return fmt.Errorf("set % X: %U is outside the Basic Multilingual Plane or a noncharacter", seq, r)
	}
	switch len(seq) {
	case 1:
		t.single[seq[0]] = uint16(r)
	case 2:
		if seq[0] < 0x80 {
			return fmt.Errorf("set % X: a two-byte character must start with a byte ≥ 0x80", seq)
		}
		if t.double == nil {
			t.double = filled(128 << 8)
		}
		t.double[int(seq[0]-0x80)<<8|int(seq[1])] = uint16(r)
	case 3:
		if t.prefix != 0 && t.prefix != seq[0] || seq[0] < 0x80 {
			return fmt.Errorf("set % X: three-byte characters must all start with one byte ≥ 0x80 (%#x so far)", seq, t.prefix)
		}
		if t.triple == nil {
			t.triple = filled(1 << 16)
		}
		t.prefix = seq[0]
		t.triple[int(seq[1])<<8|int(seq[2])] = uint16(r)
	default:
		return fmt.Errorf("set % X: a character has one to three bytes", seq)
	}
	t.ascii = t.asciiIdentity()
	return nil
}

func filled(n int) []uint16 {
	s := make([]uint16, n)
	for i := range s {
		s[i] = none
	}
	return s
}

func (t *Table) asciiIdentity() bool {
	for i := range 0x80 {
		if t.single[i] != uint16(i) {
			return false
		}
	}
	return true
}

// Lookup returns the character seq converts to, and whether seq is one
// character.
func (t *Table) Lookup(seq []byte) (rune, bool) {
	var v uint16 = none
	switch len(seq) {
	case 1:
		v = t.single[seq[0]]
	case 2:
		if seq[0] >= 0x80 && t.double != nil {
			v = t.double[int(seq[0]-0x80)<<8|int(seq[1])]
		}
	case 3:
		if seq[0] == t.prefix && t.triple != nil {
			v = t.triple[int(seq[1])<<8|int(seq[2])]
		}
	}
	return rune(v), v != none
}

// Each calls f for every character of t, shortest sequences first, in
// byte order. seq is valid only during the call.
func (t *Table) Each(f func(seq []byte, r rune)) {
	var b [3]byte
	for i, v := range t.single {
		if v != none {
			b[0] = byte(i)
			f(b[:1], rune(v))
		}
	}
	for i, v := range t.double {
		if v != none {
			b[0], b[1] = byte(0x80+i>>8), byte(i)
			f(b[:2], rune(v))
		}
	}
	for i, v := range t.triple {
		if v != none {
			b[0], b[1], b[2] = t.prefix, byte(i>>8), byte(i)
			f(b[:3], rune(v))
		}
	}
}

// Check reports whether t can be decoded one way only: every byte below
// 0x80 is a character, and no character starts a longer one.
func (t *Table) Check() error {
	for i := range 0x80 {
		if t.single[i] == none {
			return fmt.Errorf("byte %#02x is no character", i)
		}
	}
	var err error
	t.Each(func(seq []byte, _ rune) {
		for n := 1; n < len(seq) && err == nil; n++ {
			if _, ok := t.Lookup(seq[:n]); ok {
				err = fmt.Errorf("% X is a character and starts the character % X", seq[:n], seq)
			}
		}
	})
	return err
}

// IllFormedError reports text holding bytes that are no character of its
// charset: MariaDB stores none such in a column of that charset.
type IllFormedError struct {
	Charset string
	Offset  int // of Bytes in the text
	// Bytes are the byte at Offset and as many more as a character
	// starting with it has (fewer where the text ends).
	Bytes []byte
}

func (e *IllFormedError) Error() string {
	return fmt.Sprintf("%s text: bytes % X at offset %d are not a %s character (MariaDB stores no such text)", e.Charset, e.Bytes, e.Offset, e.Charset)
}

// Append appends b, text in t's charset (named cs in errors), to dst as
// UTF-8. It allocates only when dst must grow, or to report an error.
func (t *Table) Append(dst []byte, cs string, b []byte) ([]byte, error) {
	i := 0
	for i < len(b) {
		c := b[i]
		if c < 0x80 && t.ascii {
			j := i + ASCIIPrefix(b[i:])
			dst = append(dst, b[i:j]...)
			i = j
			continue
		}
		if v := t.single[c]; v != none {
			dst = utf8.AppendRune(dst, rune(v))
			i++
			continue
		}
		if c >= 0x80 && i+1 < len(b) && t.double != nil {
			if v := t.double[int(c-0x80)<<8|int(b[i+1])]; v != none {
				dst = utf8.AppendRune(dst, rune(v))
				i += 2
				continue
			}
		}
		if c == t.prefix && i+2 < len(b) && t.triple != nil {
			if v := t.triple[int(b[i+1])<<8|int(b[i+2])]; v != none {
				dst = utf8.AppendRune(dst, rune(v))
				i += 3
				continue
			}
		}
		return dst, t.illFormed(cs, b, i)
	}
	return dst, nil
}

// illFormed reports the bytes at b[i], which start no character: as many
// as a character starting with b[i] would have, as far as b goes.
func (t *Table) illFormed(cs string, b []byte, i int) error {
	n := 1
	switch c := b[i]; {
	case c == t.prefix && t.triple != nil:
		n = 3
	case c >= 0x80 && t.double != nil && slices.ContainsFunc(t.double[int(c-0x80)<<8:int(c-0x7f)<<8], func(v uint16) bool { return v != none }):
		n = 2
	}
	return &IllFormedError{Charset: cs, Offset: i, Bytes: slices.Clone(b[i:min(i+n, len(b))])}
}

// ASCIIPrefix returns the length of b's leading run of ASCII bytes,
// eight at a time.
func ASCIIPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) && b[i] < 0x80 {
		i++
	}
	return i
}
