package engine

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pumacdc/puma/engine/internal/cjk"
	"golang.org/x/text/encoding/charmap"
)

// charsetName names the character set of a collation id: from collations
// (the source's), else the built-in table.
func charsetName(collations map[uint64]string, collation uint64) string {
	if cs, ok := collations[collation]; ok {
		return cs
	}
	if cs, ok := builtinCollations[collation]; ok {
		return cs
	}
	return "collation:" + strconv.FormatUint(collation, 10)
}

// builtinCollations covers the common collation ids when the server's
// information_schema could not be read.
var builtinCollations = map[uint64]string{
	8: "latin1", 5: "latin1", 31: "latin1", 47: "latin1", 48: "latin1", 49: "latin1", 94: "latin1",
	11: "ascii", 65: "ascii", 63: "binary",
	33: "utf8mb3", 83: "utf8mb3", 192: "utf8mb3",
	45: "utf8mb4", 46: "utf8mb4", 224: "utf8mb4", 255: "utf8mb4", 309: "utf8mb4", 2304: "utf8mb4",
}

func supportedCharset(cs string) bool {
	switch cs {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "latin1", "binary", "ucs2", "utf16", "utf16le", "utf32":
		return true
	}
	_, single := singleByteCharsets[cs]
	return single || cjk.Has(cs)
}

// latin1 is MySQL's latin1, which is Windows-1252 with the five undefined
// bytes mapped to the C1 controls of the same value.
var latin1High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// singleByteCharsets are MariaDB's 8-bit charsets Puma converts, each from
// golang.org/x/text's table patched where MariaDB's own table differs
// (checked byte by byte against CONVERT(... USING utf8mb4) on the server,
// see TestCharsetTables): C1 controls where x/text has none, and '?' where
// MariaDB has no character.
var singleByteCharsets = map[string]*[256]rune{
	"latin2":   singleByte(charmap.ISO8859_2, true, nil),
	"latin5":   singleByte(charmap.ISO8859_9, false, nil),
	"latin7":   singleByte(charmap.ISO8859_13, true, nil),
	"greek":    singleByte(charmap.ISO8859_7, true, map[byte]rune{0xa1: 0x02bd, 0xa2: 0x02bc, 0xa4: '?', 0xa5: '?', 0xaa: '?', 0xae: '?', 0xd2: '?', 0xff: '?'}),
	"hebrew":   singleByte(charmap.ISO8859_8, true, hebrewPatch()),
	"tis620":   singleByte(charmap.Windows874, true, map[byte]rune{0xa0: utf8.RuneError}),
	"cp1250":   singleByte(charmap.Windows1250, false, qmarks(0x81, 0x83, 0x88, 0x90, 0x98)),
	"cp1251":   singleByte(charmap.Windows1251, false, qmarks(0x98)),
	"cp1256":   singleByte(charmap.Windows1256, false, qmarks(0x8a, 0x8f, 0x98, 0x9a, 0x9f, 0xaa, 0xc0, 0xff)),
	"cp1257":   singleByte(charmap.Windows1257, false, qmarks(0x81, 0x83, 0x88, 0x8a, 0x8c, 0x90, 0x98, 0x9a, 0x9c, 0x9f, 0xa1, 0xa5)),
	"cp850":    singleByte(charmap.CodePage850, false, nil),
	"cp852":    singleByte(charmap.CodePage852, false, nil),
	"cp866":    singleByte(charmap.CodePage866, false, map[byte]rune{0xfc: 0x207f, 0xfd: 0x00b2}),
	"koi8r":    singleByte(charmap.KOI8R, false, nil),
	"koi8u":    singleByte(charmap.KOI8U, false, map[byte]rune{0x95: 0x2022, 0xae: 0x255d, 0xbe: 0x256c}),
	"macroman": singleByte(charmap.Macintosh, false, nil),
}

func singleByte(cm *charmap.Charmap, c1 bool, patch map[byte]rune) *[256]rune {
	var t [256]rune
	for i := range t {
		t[i] = cm.DecodeByte(byte(i))
	}
	if c1 {
		for i := 0x80; i < 0xa0; i++ {
			t[i] = rune(i)
		}
	}
	for b, r := range patch {
		t[b] = r
	}
	return &t
}

func qmarks(bs ...byte) map[byte]rune {
	m := make(map[byte]rune, len(bs))
	for _, b := range bs {
		m[b] = '?'
	}
	return m
}

func hebrewPatch() map[byte]rune {
	m := qmarks(0xa1, 0xbf, 0xfb, 0xfc, 0xff)
	for b := 0xc0; b <= 0xde; b++ {
		m[byte(b)] = '?'
	}
	m[0xaf] = 0x203e
	return m
}

func toUTF8(charset string, b []byte) (string, error) {
	switch charset {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "", "binary":
		return string(b), nil
	case "latin1":
		if isASCII(b) {
			return string(b), nil
		}
	}
	out, err := appendUTF8(make([]byte, 0, len(b)+len(b)/2), charset, b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func isASCII(b []byte) bool { return asciiPrefix(b) == len(b) }

// asciiPrefix returns the length of b's leading run of ASCII bytes.
func asciiPrefix(b []byte) int { return cjk.ASCIIPrefix(b) }

// appendLatin1 appends b, MySQL latin1 text, to dst as UTF-8.
func appendLatin1(dst, b []byte) []byte {
	for {
		i := asciiPrefix(b)
		dst = append(dst, b[:i]...)
		if i == len(b) {
			return dst
		}
		if c := b[i]; c < 0xa0 {
			dst = utf8.AppendRune(dst, latin1High[c-0x80])
		} else {
			dst = utf8.AppendRune(dst, rune(c))
		}
		b = b[i+1:]
	}
}

// appendUTF8 appends b, text in charset, to dst as UTF-8.
func appendUTF8(dst []byte, charset string, b []byte) ([]byte, error) {
	switch charset {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "", "binary":
		return append(dst, b...), nil
	case "latin1":
		return appendLatin1(dst, b), nil
	case "ucs2", "utf16", "utf16le":
		if len(b)%2 != 0 {
			return dst, fmt.Errorf("%s value of odd length %d", charset, len(b))
		}
		unit := func(i int) rune { return rune(b[2*i])<<8 | rune(b[2*i+1]) }
		if charset == "utf16le" {
			unit = func(i int) rune { return rune(b[2*i+1])<<8 | rune(b[2*i]) }
		}
		// As utf16.Decode does: an unpaired surrogate becomes U+FFFD.
		n := len(b) / 2
		for i := 0; i < n; i++ {
			r := unit(i)
			if utf16.IsSurrogate(r) {
				if i+1 < n {
					if d := utf16.DecodeRune(r, unit(i+1)); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i++
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		}
		return dst, nil
	case "utf32":
		if len(b)%4 != 0 {
			return dst, fmt.Errorf("%s value of length %d", charset, len(b))
		}
		for i := 0; i < len(b); i += 4 {
			r := rune(b[i])<<24 | rune(b[i+1])<<16 | rune(b[i+2])<<8 | rune(b[i+3])
			dst = utf8.AppendRune(dst, r)
		}
		return dst, nil
	}
	if t, ok := singleByteCharsets[charset]; ok {
		for _, c := range b {
			dst = utf8.AppendRune(dst, t[c])
		}
		return dst, nil
	}
	if cjk.Has(charset) {
		t, err := cjk.Lookup(charset)
		if err != nil {
			return dst, err
		}
		return t.Append(dst, charset, b)
	}
	return dst, fmt.Errorf("%w: %q", ErrUnsupportedCharset, charset)
}
