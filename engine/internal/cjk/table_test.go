package cjk

import (
	"bytes"
	"errors"
	"testing"
)

// TestAppend checks conversions MariaDB 10.11 gives for CONVERT(X'…' USING
// cs) → utf8mb4 where the charsets differ from each other or from the
// common tables (sjis ≠ cp932, ujis ≠ eucjpms), and '?' where the server
// has no character. TestCJKTables checks every character against a live
// server.
func TestAppend(t *testing.T) {
	tests := []struct {
		cs   string
		in   string
		want string
	}{
		{"sjis", "\x81\x60", "\u301c"},
		{"cp932", "\x81\x60", "\uff5e"},
		{"sjis", "\x81\x7c", "\u2212"},
		{"cp932", "\x81\x7c", "\uff0d"},
		{"sjis", "\x81\x91", "\u00a2"},
		{"cp932", "\x81\x91", "\uffe0"},
		{"sjis", "\x87\x40", "?"}, // NEC ① is not in sjis
		{"cp932", "\x87\x40", "\u2460"},
		{"sjis", "\xb1", "\uff71"}, // half-width katakana, one byte
		{"ujis", "\xa1\xc1", "\u301c"},
		{"eucjpms", "\xa1\xc1", "\uff5e"},
		{"ujis", "\xa1\xdd", "\u2212"},
		{"eucjpms", "\xa1\xdd", "\uff0d"},
		{"ujis", "\x8f\xb0\xa1", "\u4e02"}, // JIS X 0212, three bytes
		{"ujis", "\x8f\xa1\xa1", "?"},      // well-formed, no character
		{"ujis", "\x8e\xb1", "\uff71"},     // half-width katakana, two bytes
		{"gbk", "\xc4\xe3\xba\xc3", "你好"},  // 你好
		{"gb2312", "\xd6\xd0\xce\xc4", "中文"},
		{"big5", "\xa4\xa4\xa4\xe5", "中文"},
		{"euckr", "\xc7\xd1\xb1\xb9", "한국"},
		{"sjis", "abc\x82\xa0xyz0123456789", "abcあxyz0123456789"},
		{"sjis", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cs+"/"+tt.in, func(t *testing.T) {
			tab := mustLookup(t, tt.cs)
			got, err := tab.Append([]byte("<"), tt.cs, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "<"+tt.want {
				t.Errorf("% X = %+q, want %+q", tt.in, got[1:], tt.want)
			}
		})
	}
}

// TestAppendIllFormed: bytes that are no character are an error naming
// them and where they are, never another character.
func TestAppendIllFormed(t *testing.T) {
	tests := []struct {
		cs     string
		in     string
		offset int
		bytes  string
	}{
		{"sjis", "ab\x81", 2, "\x81"},             // cut short
		{"sjis", "ab\x81\x7f", 2, "\x81\x7f"},     // bad trail byte
		{"sjis", "\x82\xa0\xa0", 2, "\xa0"},       // no character at all
		{"cp932", "\xfd", 0, "\xfd"},              //
		{"ujis", "x\x8f\xb0", 1, "\x8f\xb0"},      // three bytes cut short
		{"ujis", "\x8f\xa1\x41z", 0, "\x8f\xa1A"}, // bad third byte
		{"eucjpms", "\x8e\xe0", 0, "\x8e\xe0"},    // no such katakana
		{"gbk", "\x80", 0, "\x80"},
		{"gb2312", "\xa1\x40", 0, "\xa1\x40"},
		{"big5", "\xa1\x20", 0, "\xa1 "},
		{"euckr", "\xff\xa1", 0, "\xff"}, // no character starts with FF
		{"gbk", "x\x81", 1, "\x81"},      // cut short
	}
	for _, tt := range tests {
		t.Run(tt.cs+"/"+tt.in, func(t *testing.T) {
			tab := mustLookup(t, tt.cs)
			_, err := tab.Append(nil, tt.cs, []byte(tt.in))
			var ill *IllFormedError
			if !errors.As(err, &ill) {
				t.Fatalf("% X: error %v, want an IllFormedError", tt.in, err)
			}
			if ill.Charset != tt.cs || ill.Offset != tt.offset || string(ill.Bytes) != tt.bytes {
				t.Errorf("% X: %+v, want offset %d bytes % X", tt.in, ill, tt.offset, tt.bytes)
			}
		})
	}
}

// TestTables: every committed table loads, converts ASCII as itself, and
// reads back what it writes.
func TestTables(t *testing.T) {
	for _, cs := range Charsets {
		tab := mustLookup(t, cs)
		if !tab.ascii {
			t.Errorf("%s: ASCII is not itself", cs)
		}
		data, err := tab.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Table
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatalf("%s: %v", cs, err)
		}
		if !equal(tab, &back) {
			t.Errorf("%s: table differs once written and read back", cs)
		}
		n := 0
		tab.Each(func([]byte, rune) { n++ })
		if n < 8000 {
			t.Errorf("%s: %d characters, want thousands", cs, n)
		}
	}
	if tab, err := Lookup("latin1"); tab != nil || err != nil || Has("latin1") {
		t.Errorf("Lookup(latin1) = %v, %v; want none", tab, err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := mustLookup(t, "ujis").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)/2],
		"not flate": []byte("PCJK\x01"),
	} {
		if err := new(Table).UnmarshalBinary(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A table in which a character starts a longer one cannot be read
	// one way only.
	tab := NewTable()
	for i := range 0x80 {
		_ = tab.Set([]byte{byte(i)}, rune(i))
	}
	_ = tab.Set([]byte{0xa1}, 'x')
	_ = tab.Set([]byte{0xa1, 0xa1}, 'y')
	data, err := tab.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := new(Table).UnmarshalBinary(data); err == nil {
		t.Error("ambiguous table: no error")
	}
	if err := tab.Set([]byte{0x81, 0x40}, 0x1f600); err == nil {
		t.Error("a character outside the BMP: no error")
	}
}

// TestAppendAllocs: with room in dst, converting allocates nothing.
func TestAppendAllocs(t *testing.T) {
	in := bytes.Repeat([]byte("id 42: \x93\xfa\x96\x7b\x8c\xea\xb1 "), 20)
	tab := mustLookup(t, "sjis")
	dst := make([]byte, 0, 4*len(in))
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = tab.Append(dst[:0], "sjis", in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per conversion, want 0", allocs)
	}
}

func mustLookup(t *testing.T, cs string) *Table {
	t.Helper()
	tab, err := Lookup(cs)
	if err != nil || tab == nil {
		t.Fatalf("Lookup(%s) = %v, %v", cs, tab, err)
	}
	return tab
}

func equal(a, b *Table) bool {
	type char struct {
		seq string
		r   rune
	}
	var ca, cb []char
	a.Each(func(seq []byte, r rune) { ca = append(ca, char{string(seq), r}) })
	b.Each(func(seq []byte, r rune) { cb = append(cb, char{string(seq), r}) })
	if len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if ca[i] != cb[i] {
			return false
		}
	}
	return true
}

// TestLookupConcurrent: the first uses of a table may race; all get the
// one table.
func TestLookupConcurrent(t *testing.T) {
	for _, cs := range Charsets {
		tables[cs] = &loaded{} // unread again
	}
	for _, cs := range Charsets {
		t.Run(cs, func(t *testing.T) {
			t.Parallel()
			got := make(chan *Table, 4)
			for range cap(got) {
				go func() {
					tab, _ := Lookup(cs)
					got <- tab
				}()
			}
			first := <-got
			for range cap(got) - 1 {
				if tab := <-got; tab != first || tab == nil {
					t.Errorf("Lookup(%s) gave %p and %p", cs, first, tab)
				}
			}
		})
	}
}
