package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// plain8 against its definition: every byte value at every position of
// an otherwise plain word, and every pair of bytes in the first two.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	word := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			w := append([]byte(nil), word...)
			w[pos] = byte(c)
			if got := plain8(string(w)); got != plain(byte(c)) {
				t.Fatalf("plain8(%q) = %v, byte %#x at %d", w, got, c, pos)
			}
		}
	}
	for a := range 256 {
		for b := range 256 {
			w := []byte{byte(a), byte(b), 'x', 'y', ' ', '~', '!', '#'}
			if got, want := plain8(string(w)), plain(byte(a)) && plain(byte(b)); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
			}
		}
	}
}

// appendJSONStringRef is AppendJSONString's definition one rune at a
// time, without the eight-byte fast path.
func appendJSONStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{
		"", "plain ascii text, longer than eight", `quote " and \ back`,
		"tab\tnew\nline\r\x00\x1f\x7f", "ünïcödé and 漢字 and emoji 😀",
		"bad \xff utf-8 \xc3", "line\u2028para\u2029", strings.Repeat("abcdefg\"", 5),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(AppendJSONString(nil, s))
		if want := string(appendJSONStringRef(nil, s)); got != want {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: not JSON: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendJSONString(%q) reads back as %q", s, back)
		}
	})
}
