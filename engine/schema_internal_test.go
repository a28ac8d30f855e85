package engine

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pumacdc/puma/engine/internal/cjk"
)

func TestSchemaStateTouch(t *testing.T) {
	tests := []struct {
		db, stmt string
		stale    []string
	}{
		{"", "ALTER TABLE shop.items ADD COLUMN x INT", []string{"shop.items"}},
		{"shop", "alter table `Items` drop column x", []string{"shop.items"}},
		{"shop", "RENAME TABLE items TO old_items, new_items TO items", []string{"shop.items"}},
		{"", "DROP DATABASE shop", []string{"shop.items", "shop.orders"}},
		{"shop", "CREATE TABLE items_log (id INT)", nil},
		{"shop", "/* items */ CREATE INDEX i ON orders (a)", []string{"shop.items", "shop.orders"}},
		{"other", "CREATE TABLE t (a INT)", nil},
	}
	for _, tc := range tests {
		t.Run(tc.stmt, func(t *testing.T) {
			st := newSchemaState()
			for _, k := range []string{"shop.items", "shop.orders", "other.zz"} {
				st.put(k, &tableDef{Columns: []colDef{{Name: "a", Type: "int"}}})
			}
			st.touch(tc.db, tc.stmt)
			var stale []string
			for k, v := range st.tables {
				if v.Stale {
					stale = append(stale, k)
				}
			}
			slices.Sort(stale)
			if !slices.Equal(stale, tc.stale) {
				t.Errorf("stale = %v, want %v", stale, tc.stale)
			}
		})
	}
}

func TestSchemaStateRoundTrip(t *testing.T) {
	st := newSchemaState()
	st.put("d.t", &tableDef{Columns: []colDef{{Name: "j", Type: "longtext", Charset: "utf8mb4", JSON: true}, {Name: "e", Type: "enum", Values: []string{"a", "b'c"}}}, Key: []string{"j"}})
	st.put("d.gone", nil)
	st.touch("d", "ALTER TABLE t ADD x INT")
	enc := st.encoded()
	back, err := decodeSchemaState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.tables["d.gone"]; ok {
		t.Error("a table the source did not show was saved")
	}
	got := back.tables["d.t"]
	if got == nil || !got.Stale || !got.Def.Columns[0].JSON || got.Def.Columns[1].Values[1] != "b'c" || got.Def.Key[0] != "j" {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := decodeSchemaState([]byte(`{"version":99}`)); err == nil {
		t.Error("unknown version accepted")
	}
}

func TestQualifiers(t *testing.T) {
	tests := []struct {
		stmt string
		want []string
	}{
		{"ALTER TABLE shop.items ADD x INT", []string{"shop"}},
		{"RENAME TABLE `my db`.`t` TO `o``k`.t2", []string{"my db", "o`k"}},
		{"ALTER TABLE t COMMENT 'a.b'", nil},
		{"ALTER TABLE t ADD x DECIMAL(10,2) DEFAULT 1.5", []string{"1"}},
		{"CREATE TABLE t (a INT)", nil},
	}
	for _, tc := range tests {
		if got := qualifiers(tc.stmt); !slices.Equal(got, tc.want) {
			t.Errorf("qualifiers(%q) = %q, want %q", tc.stmt, got, tc.want)
		}
	}
}

func TestParseMembers(t *testing.T) {
	got, err := parseMembers(`enum('a\\b','q''r','x"y','p,q','')`)
	want := []string{`a\b`, "q'r", `x"y`, "p,q", ""}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// TestUUIDText: a UUID column's 16 bytes come out in MariaDB's text form
// (TestTypesValueByValue also compares with the server's own text).
func TestUUIDText(t *testing.T) {
	c := &Column{Kind: KindUUID, SQLType: mysql.MYSQL_TYPE_STRING, Meta: 0xfe10}
	for in, want := range map[string]string{
		"123e4567e89b12d3a456426614174000": "123e4567-e89b-12d3-a456-426614174000",
		"00000000000000000000000000000000": "00000000-0000-0000-0000-000000000000",
		"ffffffffffffffffffffffffffffffff": "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"01890a5dac96774bbccEb302099a8057": "01890a5d-ac96-774b-bcce-b302099a8057",
		"123e4567e89b12d3a4564266141740":   "123e4567-e89b-12d3-a456-426614174000", // trailing zeros stripped by the binary log
	} {
		b, err := hex.DecodeString(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := convert(c, b)
		if err != nil || got != want {
			t.Errorf("uuid %s = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := convert(&Column{Kind: KindUUID}, []byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte uuid converted")
	}
}

func TestFormatInet(t *testing.T) {
	for in, want := range map[string]string{
		"::": "::", "::1": "::1", "::10.0.0.1": "::10.0.0.1", "::ffff:10.0.0.1": "::ffff:10.0.0.1",
		"2001:db8:0:0:1:0:0:1": "2001:db8::1:0:0:1", "fe80:0:0:0:1:0:0:0": "fe80::1:0:0:0",
		"1:0:0:2:0:0:0:3": "1:0:0:2::3", "0:1:0:0:0:0:0:0": "0:1::", "1:2:3:4:5:6:7:8": "1:2:3:4:5:6:7:8",
		"1:0:2:3:4:5:6:7": "1:0:2:3:4:5:6:7", "0:0:0:0:0:1:0:0": "::1:0:0",
	} {
		a := netip.MustParseAddr(in).As16()
		got, err := formatInet(a[:])
		if err != nil || got != want {
			t.Errorf("formatInet(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzToUTF8 feeds every converted charset arbitrary bytes: no panic, the
// 8-bit charsets always give valid UTF-8, and the CJK charsets give valid
// UTF-8 or an error naming the first bytes that are no character.
func FuzzToUTF8(f *testing.F) {
	f.Add([]byte("caf\xe9"))
	f.Add([]byte("\x82\xa0\x93\xfa"))                 // sjis あ日
	f.Add([]byte("\x81\x60\x87\x40\xb1abc"))          // sjis 〜, NEC ①, ｱ
	f.Add([]byte("\xa4\xa2\x8f\xb0\xa1\x8e\xb1"))     // ujis あ, 丂 (3 bytes), ｱ
	f.Add([]byte("\x8f\xb0"))                         // a 3-byte ujis character cut short
	f.Add([]byte("\x82"))                             // a 2-byte character cut short
	f.Add([]byte("\xc4\xe3\xba\xc3\xa4\x40\xb0\xa1")) // gbk 你好, big5 一, euckr 가
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for cs := range singleByteCharsets {
			if s, err := toUTF8(cs, b); err != nil || !utf8.ValidString(s) {
				t.Fatalf("%s: %q, %v", cs, s, err)
			}
		}
		for _, cs := range cjk.Charsets {
			s, err := toUTF8(cs, b)
			var ill *cjk.IllFormedError
			switch {
			case err == nil && !utf8.ValidString(s):
				t.Fatalf("%s: invalid UTF-8 %q", cs, s)
			case err != nil && !errors.As(err, &ill):
				t.Fatalf("%s: %v", cs, err)
			case err != nil && (ill.Offset >= len(b) || !bytes.HasPrefix(b[ill.Offset:], ill.Bytes) || len(ill.Bytes) == 0):
				t.Fatalf("%s: error names bytes % X at %d of % X", cs, ill.Bytes, ill.Offset, b)
			}
		}
		for _, cs := range []string{"latin1", "ucs2", "utf16", "utf16le", "utf32"} {
			_, _ = toUTF8(cs, b)
		}
	})
}

// FuzzDecodeSchemaState: a checkpoint's schemas must decode or fail, never
// panic.
func FuzzDecodeSchemaState(f *testing.F) {
	st := newSchemaState()
	st.put("d.t", &tableDef{Columns: []colDef{{Name: "a", Type: "int"}}})
	f.Add(st.encoded())
	f.Add([]byte(`{"version":1,"tables":{"x":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := decodeSchemaState(b); err == nil {
			st.touch("d", "ALTER TABLE t ADD b INT")
			_ = st.encoded()
		}
	})
}
