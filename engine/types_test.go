package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// typeTable is one table of a type family: its columns, the session
// statements its rows are written under, and each row with the JSON its
// after image must be delivered as.
type typeTable struct {
	name  string
	cols  string   // column definitions after "id INT PRIMARY KEY, "
	setup []string // run in the inserting session first
	rows  []typeRow
	// oracle also compares every delivered value with the server's own
	// text for it (SELECT under time_zone '+00:00'); TIMESTAMP columns
	// must be named ts*.
	oracle bool
}

// typeRow is the VALUES of one insert (after the id) and the after image
// it must be delivered as, as a JSON object without the id.
type typeRow struct {
	values string
	want   string
}

func TestTypesValueByValue(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	runTypeTables(t, srv, typeTables())
}

// TestTimestampTimeZones checks that TIMESTAMP comes out in UTC whatever
// the server's and the session's time zone, and DATETIME as written.
func TestTimestampTimeZones(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{ExtraArgs: []string{"--default-time-zone=+03:00"}})
	runTypeTables(t, srv, []typeTable{
		{name: "tz_server", cols: "ts TIMESTAMP(3) NULL, dt DATETIME(3)", oracle: true, rows: []typeRow{
			{"'2026-11-25 10:11:12.500', '2026-11-25 10:11:12.500'", `{"ts":"2026-11-25T07:11:12.500Z","dt":"2026-11-25 10:11:12.500"}`},
			{"'2026-03-29 01:30:00', '2026-03-29 01:30:00'", `{"ts":"2026-03-28T22:30:00.000Z","dt":"2026-03-29 01:30:00.000"}`},
		}},
		{name: "tz_session", cols: "ts TIMESTAMP(3) NULL, dt DATETIME(3)", setup: []string{"SET time_zone = '-08:00'"}, oracle: true, rows: []typeRow{
			{"'2026-11-25 10:11:12.500', '2026-11-25 10:11:12.500'", `{"ts":"2026-11-25T18:11:12.500Z","dt":"2026-11-25 10:11:12.500"}`},
			{"'2026-11-25 23:59:59.999', '2026-11-25 23:59:59.999'", `{"ts":"2026-11-26T07:59:59.999Z","dt":"2026-11-25 23:59:59.999"}`},
		}},
	})
}

func typeTables() []typeTable {
	nulls := func(n int) string { return strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") }
	return []typeTable{
		{name: "ints", cols: "ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED", rows: []typeRow{
			{"-128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0",
				`{"ti":-128,"tu":0,"si":-32768,"su":0,"mi":-8388608,"mu":0,"i":-2147483648,"iu":0,"bi":-9223372036854775808,"bu":0}`},
			{"127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615",
				`{"ti":127,"tu":255,"si":32767,"su":65535,"mi":8388607,"mu":16777215,"i":2147483647,"iu":4294967295,"bi":9223372036854775807,"bu":18446744073709551615}`},
			{"-1, 1, -1, 1, -1, 1, -1, 1, -1, 1",
				`{"ti":-1,"tu":1,"si":-1,"su":1,"mi":-1,"mu":1,"i":-1,"iu":1,"bi":-1,"bu":1}`},
			{nulls(10), `{"ti":null,"tu":null,"si":null,"su":null,"mi":null,"mu":null,"i":null,"iu":null,"bi":null,"bu":null}`},
		}},
		{name: "decimals", cols: "d0 DECIMAL(65,0), d30 DECIMAL(65,30), d2 DECIMAL(10,2), d5 DECIMAL(5,5)", rows: []typeRow{
			{"'" + strings.Repeat("9", 65) + "', '" + strings.Repeat("9", 35) + "." + strings.Repeat("9", 30) + "', '99999999.99', '0.99999'",
				`{"d0":"` + strings.Repeat("9", 65) + `","d30":"` + strings.Repeat("9", 35) + "." + strings.Repeat("9", 30) + `","d2":"99999999.99","d5":"0.99999"}`},
			{"'-" + strings.Repeat("9", 65) + "', '-12345678901234567890123456789012345.123456789012345678901234567890', '-0.5', '-0.00001'",
				`{"d0":"-` + strings.Repeat("9", 65) + `","d30":"-12345678901234567890123456789012345.123456789012345678901234567890","d2":"-0.50","d5":"-0.00001"}`},
			{"0, 0, 0, 0", `{"d0":"0","d30":"0.` + strings.Repeat("0", 30) + `","d2":"0.00","d5":"0.00000"}`},
			{nulls(4), `{"d0":null,"d30":null,"d2":null,"d5":null}`},
		}},
		{name: "floats", cols: "f FLOAT, d DOUBLE", rows: []typeRow{
			{"1.5, 0.1", `{"f":1.5,"d":0.1}`},
			{"-1.1, -2.2250738585072014e-308", `{"f":-1.1,"d":-2.2250738585072014e-308}`},
			{"3.40282e38, 1.7976931348623157e308", `{"f":3.40282e+38,"d":1.7976931348623157e+308}`},
			{"0, 1e300", `{"f":0,"d":1e+300}`},
			{nulls(2), `{"f":null,"d":null}`},
		}},
		{name: "bits", cols: "b1 BIT(1), b8 BIT(8), b63 BIT(63), b64 BIT(64)", rows: []typeRow{
			{"b'1', b'10000001', b'" + strings.Repeat("1", 63) + "', b'" + strings.Repeat("1", 64) + "'",
				`{"b1":1,"b8":129,"b63":9223372036854775807,"b64":18446744073709551615}`},
			{"b'0', b'0', 0, x'8000000000000000'", `{"b1":0,"b8":0,"b63":0,"b64":9223372036854775808}`},
			{nulls(4), `{"b1":null,"b8":null,"b63":null,"b64":null}`},
		}},
		{name: "dates", cols: "y YEAR, d DATE", setup: []string{"SET sql_mode = ''"}, oracle: true, rows: []typeRow{
			{"1901, '1000-01-01'", `{"y":1901,"d":"1000-01-01"}`},
			{"2155, '9999-12-31'", `{"y":2155,"d":"9999-12-31"}`},
			{"0, '0000-00-00'", `{"y":0,"d":"0000-00-00"}`},
			{"2000, '2024-00-15'", `{"y":2000,"d":"2024-00-15"}`},
			{nulls(2), `{"y":null,"d":null}`},
		}},
		{name: "times", cols: "t TIME, t1 TIME(1), t2 TIME(2), t3 TIME(3), t4 TIME(4), t5 TIME(5), t6 TIME(6)", oracle: true, rows: []typeRow{
			timeRow("-838:59:59", "-838:59:59", ""),
			timeRow("838:59:59", "838:59:59", ""),
			timeRow("00:00:00", "00:00:00", ""),
			timeRow("100:00:00", "100:00:00", ""),
			timeRow("-12:34:56.654321", "-12:34:56", "654321"),
			timeRow("-00:00:01", "-00:00:01", ""),
			timeRow("00:00:00.5", "00:00:00", "5"),
			timeRow("838:59:59.999999", "838:59:59", "999999"),
			{nulls(7), `{"t":null,"t1":null,"t2":null,"t3":null,"t4":null,"t5":null,"t6":null}`},
		}},
		{name: "datetimes", cols: "dt DATETIME, dt1 DATETIME(1), dt3 DATETIME(3), dt6 DATETIME(6)", setup: []string{"SET sql_mode = ''", "SET time_zone = '+05:00'"}, oracle: true, rows: []typeRow{
			{repeat4("'2026-11-25 10:11:12.654321'"), `{"dt":"2026-11-25 10:11:12","dt1":"2026-11-25 10:11:12.6","dt3":"2026-11-25 10:11:12.654","dt6":"2026-11-25 10:11:12.654321"}`},
			{repeat4("'1000-01-01 00:00:00'"), `{"dt":"1000-01-01 00:00:00","dt1":"1000-01-01 00:00:00.0","dt3":"1000-01-01 00:00:00.000","dt6":"1000-01-01 00:00:00.000000"}`},
			{repeat4("'9999-12-31 23:59:59.999999'"), `{"dt":"9999-12-31 23:59:59","dt1":"9999-12-31 23:59:59.9","dt3":"9999-12-31 23:59:59.999","dt6":"9999-12-31 23:59:59.999999"}`},
			{repeat4("'0000-00-00 00:00:00'"), `{"dt":"0000-00-00 00:00:00","dt1":"0000-00-00 00:00:00.0","dt3":"0000-00-00 00:00:00.000","dt6":"0000-00-00 00:00:00.000000"}`},
			{repeat4("'2024-00-15 08:00:00'"), `{"dt":"2024-00-15 08:00:00","dt1":"2024-00-15 08:00:00.0","dt3":"2024-00-15 08:00:00.000","dt6":"2024-00-15 08:00:00.000000"}`},
			{nulls(4), `{"dt":null,"dt1":null,"dt3":null,"dt6":null}`},
		}},
		{name: "timestamps", cols: "ts TIMESTAMP NULL, ts1 TIMESTAMP(1) NULL, ts3 TIMESTAMP(3) NULL, ts6 TIMESTAMP(6) NULL", setup: []string{"SET sql_mode = ''", "SET time_zone = '+05:00'"}, oracle: true, rows: []typeRow{
			{repeat4("'2026-11-25 10:11:12.654321'"), `{"ts":"2026-11-25T05:11:12Z","ts1":"2026-11-25T05:11:12.6Z","ts3":"2026-11-25T05:11:12.654Z","ts6":"2026-11-25T05:11:12.654321Z"}`},
			{repeat4("'1970-01-01 05:00:01'"), `{"ts":"1970-01-01T00:00:01Z","ts1":"1970-01-01T00:00:01.0Z","ts3":"1970-01-01T00:00:01.000Z","ts6":"1970-01-01T00:00:01.000000Z"}`},
			{repeat4("'2038-01-19 08:14:07.999999'"), `{"ts":"2038-01-19T03:14:07Z","ts1":"2038-01-19T03:14:07.9Z","ts3":"2038-01-19T03:14:07.999Z","ts6":"2038-01-19T03:14:07.999999Z"}`},
			{repeat4("'0000-00-00 00:00:00'"), `{"ts":"0000-00-00 00:00:00","ts1":"0000-00-00 00:00:00.0","ts3":"0000-00-00 00:00:00.000","ts6":"0000-00-00 00:00:00.000000"}`},
			{nulls(4), `{"ts":null,"ts1":null,"ts3":null,"ts6":null}`},
		}},
		{name: "strs", cols: "c CHAR(5), v VARCHAR(50), tx TEXT, tt TINYTEXT, mt MEDIUMTEXT, lt LONGTEXT", rows: []typeRow{
			{`'ab  ', 'héllo 🐆', 'line\nbreak "q" \\ tab\t', '', CONCAT('a', CHAR(1), 'b'), REPEAT('é', 1000)`,
				`{"c":"ab","v":"héllo 🐆","tx":"line\nbreak \"q\" \\ tab\t","tt":"","mt":"a\u0001b","lt":"` + strings.Repeat("é", 1000) + `"}`},
			{"'', '', '', NULL, '', NULL", `{"c":"","v":"","tx":"","tt":null,"mt":"","lt":null}`},
			{nulls(6), `{"c":null,"v":null,"tx":null,"tt":null,"mt":null,"lt":null}`},
		}},
		charsetTable(),
		{name: "bins", cols: "b BINARY(4), vb VARBINARY(10), bl BLOB, tb TINYBLOB", rows: []typeRow{
			{"'a', X'00', X'DEADBEEF', ''", `{"b":"` + b64("a\x00\x00\x00") + `","vb":"AA==","bl":"` + b64("\xde\xad\xbe\xef") + `","tb":""}`},
			{"X'00000000', '', X'', X'00'", `{"b":"AAAAAA==","vb":"","bl":"","tb":"AA=="}`},
			{"X'01000000', X'0100', NULL, NULL", `{"b":"` + b64("\x01\x00\x00\x00") + `","vb":"` + b64("\x01\x00") + `","bl":null,"tb":null}`},
			{"'', NULL, NULL, NULL", `{"b":"AAAAAA==","vb":null,"bl":null,"tb":null}`},
		}},
		{name: "enums", cols: "e ENUM('a','b','c'), s SET('x','y','z'), le ENUM('café','naïve') CHARACTER SET latin1, ls SET('é','ü') CHARACTER SET latin1", setup: []string{"SET sql_mode = ''"}, rows: []typeRow{
			{"'b', 'x,z', 'naïve', 'é,ü'", `{"e":"b","s":"x,z","le":"naïve","ls":"é,ü"}`},
			{"'zzz', '', 'café', ''", `{"e":"","s":"","le":"café","ls":""}`},
			{nulls(4), `{"e":null,"s":null,"le":null,"ls":null}`},
		}},
		{name: "jsons", cols: "j JSON, txt LONGTEXT, jc JSON CHECK (JSON_LENGTH(jc) > 0), lj LONGTEXT CHECK (json_valid(lj))", setup: []string{"SET check_constraint_checks = 0"}, rows: []typeRow{
			{`'{"a": [1, 2, {"b": null}]}', '{"a":1}', '[1]', '{"x": true}'`, `{"j":{"a":[1,2,{"b":null}]},"txt":"{\"a\":1}","jc":"[1]","lj":{"x":true}}`},
			{`'"str"', 'plain', '{"k":"v"}', '[]'`, `{"j":"str","txt":"plain","jc":"{\"k\":\"v\"}","lj":[]}`},
			{`'123.50', '', '[2]', 'null'`, `{"j":123.50,"txt":"","jc":"[2]","lj":null}`},
			// check_constraint_checks=0 let an invalid value in: it comes
			// as a JSON string, never as broken JSON.
			{`'not json', 'x', '[3]', ''`, `{"j":"not json","txt":"x","jc":"[3]","lj":""}`},
			{nulls(4), `{"j":null,"txt":null,"jc":null,"lj":null}`},
		}},
		{name: "geoms", cols: "g GEOMETRY, p POINT", rows: []typeRow{
			{"ST_GeomFromText('POINT(1 2)', 4326), ST_GeomFromText('POINT(3 4)')",
				`{"g":"` + geomPoint(4326, 1, 2) + `","p":"` + geomPoint(0, 3, 4) + `"}`},
			{"ST_GeomFromText('LINESTRING(0 0, 1 1)'), NULL", `{"g":"` + geomLine(0, [][2]float64{{0, 0}, {1, 1}}) + `","p":null}`},
			{nulls(2), `{"g":null,"p":null}`},
		}},
		{name: "uuids", cols: "u UUID, i6 INET6, i4 INET4, y YEAR, n INT UNSIGNED", oracle: true, rows: []typeRow{
			{"'123e4567-e89b-12d3-a456-426614174000', '::', '10.0.0.1', 2024, 7", `{"u":"123e4567-e89b-12d3-a456-426614174000","i6":"::","i4":"10.0.0.1","y":2024,"n":7}`},
			{"'00000000-0000-0000-0000-000000000000', '::1', '0.0.0.0', 2024, 7", `{"u":"00000000-0000-0000-0000-000000000000","i6":"::1","i4":"0.0.0.0","y":2024,"n":7}`},
			{"'ffffffff-ffff-ffff-ffff-ffffffffffff', '::10.0.0.1', '255.255.255.255', 2024, 7", `{"u":"ffffffff-ffff-ffff-ffff-ffffffffffff","i6":"::10.0.0.1","i4":"255.255.255.255","y":2024,"n":7}`},
			{"'01890a5d-ac96-774b-bcce-b302099a8057', '::ffff:10.0.0.1', '192.168.0.0', 2024, 7", `{"u":"01890a5d-ac96-774b-bcce-b302099a8057","i6":"::ffff:10.0.0.1","i4":"192.168.0.0","y":2024,"n":7}`},
			{"'6ccd780c-baba-1026-9564-5b8c656024db', '2001:db8:0:0:1:0:0:1', NULL, 2024, 7", `{"u":"6ccd780c-baba-1026-9564-5b8c656024db","i6":"2001:db8::1:0:0:1","i4":null,"y":2024,"n":7}`},
			{"'550e8400-e29b-41d4-a716-446655440000', 'fe80:0:0:0:1:0:0:0', NULL, 2024, 7", `{"u":"550e8400-e29b-41d4-a716-446655440000","i6":"fe80::1:0:0:0","i4":null,"y":2024,"n":7}`},
			{"NULL, '1:0:0:2:0:0:0:3', NULL, 2024, 7", `{"u":null,"i6":"1:0:0:2::3","i4":null,"y":2024,"n":7}`},
			{"NULL, '0:0:0:0:0:1:0:0', NULL, 2024, 7", `{"u":null,"i6":"::1:0:0","i4":null,"y":2024,"n":7}`},
			{"NULL, '0:1:0:0:0:0:0:0', NULL, 2024, 7", `{"u":null,"i6":"0:1::","i4":null,"y":2024,"n":7}`},
			{"NULL, '2001:db8:1:2:3:4:5:6', NULL, 2024, 7", `{"u":null,"i6":"2001:db8:1:2:3:4:5:6","i4":null,"y":2024,"n":7}`},
		}},
		{name: "gens", cols: "base INT, v INT AS (base * 2) VIRTUAL, s VARCHAR(20) AS (CONCAT('x', base)) STORED", rows: []typeRow{
			{"21, DEFAULT, DEFAULT", `{"base":21,"v":42,"s":"x21"}`},
			{"NULL, DEFAULT, DEFAULT", `{"base":null,"v":null,"s":null}`},
		}},
	}
}

// charsetTable has one column per character set Puma converts; the server
// converts each utf8mb4 literal into the column's charset, and Puma must
// deliver the same text back.
func charsetTable() typeTable {
	cols := []struct{ name, charset, text string }{
		{"latin1", "latin1", "café € ÿ"},
		{"latin2", "latin2", "Łódź"},
		{"latin5", "latin5", "İstanbul ğ"},
		{"latin7", "latin7", "Ąčę"},
		{"greek", "greek", "Καλημέρα"},
		{"hebrew", "hebrew", "שלום"},
		{"tis620", "tis620", "สวัสดี"},
		{"cp1250", "cp1250", "Příliš"},
		{"cp1251", "cp1251", "Привет"},
		{"cp1256", "cp1256", "سلام"},
		{"cp1257", "cp1257", "Ąčę"},
		{"cp850", "cp850", "Ñandú"},
		{"cp852", "cp852", "Łódź"},
		{"cp866", "cp866", "Привет"},
		{"koi8r", "koi8r", "Привет"},
		{"koi8u", "koi8u", "Привіт"},
		{"macroman", "macroman", "café"},
		{"sjis", "sjis", "日本語テキスト"},
		{"cp932", "cp932", "日本語"},
		{"ujis", "ujis", "日本語"},
		{"eucjpms", "eucjpms", "日本語"},
		{"euckr", "euckr", "한국어"},
		{"gbk", "gbk", "中文字符"},
		{"gb2312", "gb2312", "中文"},
		{"big5", "big5", "中文"},
		{"ucs2", "ucs2", "héllo"},
		{"utf16", "utf16", "a🐆"},
		{"utf16le", "utf16le", "a🐆"},
		{"utf32", "utf32", "a🐆"},
		{"utf8mb3", "utf8mb3", "héllo"},
		{"ascii", "ascii", "plain"},
	}
	tt := typeTable{name: "charsets"}
	var defs, vals, nulls, empties, want, wantNull, wantEmpty []string
	for _, c := range cols {
		defs = append(defs, fmt.Sprintf("%s VARCHAR(40) CHARACTER SET %s", c.name, c.charset))
		vals = append(vals, "'"+c.text+"'")
		nulls = append(nulls, "NULL")
		empties = append(empties, "''")
		q, _ := json.Marshal(c.text)
		want = append(want, fmt.Sprintf("%q:%s", c.name, q))
		wantNull = append(wantNull, fmt.Sprintf("%q:null", c.name))
		wantEmpty = append(wantEmpty, fmt.Sprintf("%q:\"\"", c.name))
	}
	tt.cols = strings.Join(defs, ", ")
	tt.rows = []typeRow{
		{strings.Join(vals, ", "), "{" + strings.Join(want, ",") + "}"},
		{strings.Join(nulls, ", "), "{" + strings.Join(wantNull, ",") + "}"},
		{strings.Join(empties, ", "), "{" + strings.Join(wantEmpty, ",") + "}"},
	}
	return tt
}

// TestCharsetTables checks Puma's 8-bit charset tables byte by byte
// against the server's own conversion of the same bytes to utf8mb4.
func TestCharsetTables(t *testing.T) {
	charsets := []string{"latin1", "latin2", "latin5", "latin7", "greek", "hebrew", "tis620", "cp1250", "cp1251", "cp1256", "cp1257", "cp850", "cp852", "cp866", "koi8r", "koi8u", "macroman"}
	srv := testdb.Start(t, testdb.Options{})
	var defs, high []string
	for _, cs := range charsets {
		defs = append(defs, fmt.Sprintf("%s_t VARCHAR(200) CHARACTER SET %s", cs, cs))
		high = append(high, "X'"+highBytesHex()+"'")
	}
	srv.Exec(t, "CREATE DATABASE cs", "CREATE TABLE cs.t (id INT PRIMARY KEY, "+strings.Join(defs, ", ")+")")
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["cs.*"]`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO cs.t VALUES (1, "+strings.Join(high, ", ")+")")
	waitFor(t, "the row", func() bool { return sink.count() == 1 })
	after := envelopeRows(t, sink)[0].After

	var sel []string
	for _, cs := range charsets {
		sel = append(sel, "CONVERT("+cs+"_t USING utf8mb4)")
	}
	r := srv.Query(t, "SELECT "+strings.Join(sel, ", ")+" FROM cs.t")
	for i, cs := range charsets {
		want, _ := r.GetString(0, i)
		var got string
		if err := json.Unmarshal(after[cs+"_t"], &got); err != nil {
			t.Fatalf("%s: %v", cs, err)
		}
		if got != want {
			gr, wr := []rune(got), []rune(want)
			for j := range min(len(gr), len(wr)) {
				if gr[j] != wr[j] {
					t.Errorf("%s: byte %#x delivered as %U, server converts it to %U", cs, 0x80+j, gr[j], wr[j])
				}
			}
			if len(gr) != len(wr) {
				t.Errorf("%s: %d characters delivered, server has %d", cs, len(gr), len(wr))
			}
		}
	}
}

func highBytesHex() string {
	b := make([]byte, 128)
	for i := range b {
		b[i] = byte(0x80 + i)
	}
	return hex.EncodeToString(b)
}

func timeRow(literal, whole, frac string) typeRow {
	vals := strings.TrimSuffix(strings.Repeat("'"+literal+"', ", 7), ", ")
	var want []string
	for n := range 7 {
		v := whole
		if n > 0 {
			v += "." + (frac + "000000")[:n]
		}
		name := "t"
		if n > 0 {
			name = fmt.Sprintf("t%d", n)
		}
		want = append(want, fmt.Sprintf("%q:%q", name, v))
	}
	return typeRow{vals, "{" + strings.Join(want, ",") + "}"}
}

func repeat4(v string) string { return strings.TrimSuffix(strings.Repeat(v+", ", 4), ", ") }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// geomPoint is MySQL's stored form of a point: SRID (4 bytes LE) + WKB.
func geomPoint(srid uint32, x, y float64) string {
	b := binary.LittleEndian.AppendUint32(nil, srid)
	b = append(b, 1)                           // little-endian WKB
	b = binary.LittleEndian.AppendUint32(b, 1) // wkbPoint
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(y))
	return base64.StdEncoding.EncodeToString(b)
}

func geomLine(srid uint32, pts [][2]float64) string {
	b := binary.LittleEndian.AppendUint32(nil, srid)
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 2) // wkbLineString
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pts)))
	for _, p := range pts {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[0]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p[1]))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// envRow is an envelope with its images kept as raw JSON, so numbers stay
// exact.
type envRow struct {
	Op      string
	DB      string
	Table   string
	Before  map[string]json.RawMessage
	After   map[string]json.RawMessage
	Key     map[string]json.RawMessage
	KeyKind string
	Stmt    string
}

// UnmarshalJSON reads the fields envRow holds from where the envelope
// puts them.
func (r *envRow) UnmarshalJSON(b []byte) error {
	var e struct {
		Op     string                     `json:"op"`
		Before map[string]json.RawMessage `json:"before"`
		After  map[string]json.RawMessage `json:"after"`
		Source struct {
			DB    string `json:"db"`
			Table string `json:"table"`
		} `json:"source"`
		DDL  *string `json:"ddl"`
		Puma struct {
			Key     map[string]json.RawMessage `json:"key"`
			KeyKind string                     `json:"key_kind"`
		} `json:"puma"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	*r = envRow{Op: e.Op, DB: e.Source.DB, Table: e.Source.Table, Before: e.Before, After: e.After, Key: e.Puma.Key, KeyKind: e.Puma.KeyKind}
	if e.DDL != nil {
		r.Op, r.Stmt = "ddl", *e.DDL
	}
	return nil
}

func envelopeRows(t *testing.T, sink *capture) []envRow {
	t.Helper()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	out := make([]envRow, len(sink.lines))
	for i, l := range sink.lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("envelope %d is not JSON: %v\n%s", i, err, l)
		}
		envelopetest.Check(t, "captured", []byte(l))
	}
	return out
}

// runTypeTables creates the tables in database ty, streams their inserts
// through a task and compares every delivered value.
func runTypeTables(t *testing.T, srv *testdb.Server, tables []typeTable) {
	t.Helper()
	stmts := []string{"CREATE DATABASE ty CHARACTER SET utf8mb4"}
	total := 0
	for _, tt := range tables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE ty.%s (id INT PRIMARY KEY, %s)", tt.name, tt.cols))
		total += len(tt.rows)
	}
	srv.Exec(t, stmts...)
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["ty.*"]`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	for _, tt := range tables {
		stmts := slices.Clone(tt.setup)
		for i, r := range tt.rows {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO ty.%s VALUES (%d, %s)", tt.name, i+1, r.values))
		}
		srv.Exec(t, stmts...)
	}
	waitFor(t, fmt.Sprintf("%d rows", total), func() bool { return sink.count() >= total })
	time.Sleep(100 * time.Millisecond)
	got := envelopeRows(t, sink)
	if len(got) != total {
		t.Fatalf("delivered %d changes, want %d", len(got), total)
	}
	byTable := make(map[string][]envRow)
	for _, e := range got {
		if e.Op != "c" || e.DB != "ty" {
			t.Fatalf("unexpected change %+v", e)
		}
		byTable[e.Table] = append(byTable[e.Table], e)
	}
	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) {
			rows := byTable[tt.name]
			if len(rows) != len(tt.rows) {
				t.Fatalf("delivered %d rows, want %d", len(rows), len(tt.rows))
			}
			var oracle []map[string]json.RawMessage
			if tt.oracle {
				oracle = serverRows(t, srv, tt.name)
			}
			for i, r := range tt.rows {
				var want map[string]json.RawMessage
				if err := json.Unmarshal([]byte(r.want), &want); err != nil {
					t.Fatalf("row %d: bad want: %v", i+1, err)
				}
				want["id"] = json.RawMessage(fmt.Sprint(i + 1))
				compareImage(t, fmt.Sprintf("row %d (%s)", i+1, truncateStr(r.values, 60)), rows[i].After, want)
				if oracle != nil {
					compareImage(t, fmt.Sprintf("row %d against the server's text", i+1), rows[i].After, oracle[i])
				}
			}
		})
	}
}

func compareImage(t *testing.T, what string, got, want map[string]json.RawMessage) {
	t.Helper()
	for col, w := range want {
		g, ok := got[col]
		if !ok {
			t.Errorf("%s: column %s missing", what, col)
			continue
		}
		if !jsonEqual(g, w) {
			t.Errorf("%s: %s = %s, want %s", what, col, g, w)
		}
	}
	for col := range got {
		if _, ok := want[col]; !ok {
			t.Errorf("%s: unexpected column %s", what, col)
		}
	}
}

// jsonEqual compares two JSON texts byte for byte once compacted: numbers
// must be written the same way, not just be equal as floats.
func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// serverRows reads table's rows as the server writes them as text, in UTC,
// as the JSON each should be delivered as: strings, with TIMESTAMP columns
// (named ts*) turned to RFC 3339.
func serverRows(t *testing.T, srv *testdb.Server, table string) []map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := srv.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if _, err := c.Execute("SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Execute("SELECT * FROM ty." + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]json.RawMessage, r.RowNumber())
	for i := range out {
		out[i] = make(map[string]json.RawMessage)
		for j, f := range r.Fields {
			name := string(f.Name)
			null, _ := r.IsNull(i, j)
			s, _ := r.GetString(i, j)
			var v []byte
			switch {
			case null:
				v = []byte("null")
			case name == "id" || name == "y" || name == "n": // numbers
				v = []byte(s)
			case strings.HasPrefix(name, "ts") && !strings.HasPrefix(s, "0000-00-00"):
				v, _ = json.Marshal(s[:10] + "T" + s[11:] + "Z")
			default:
				v, _ = json.Marshal(s)
			}
			out[i][name] = v
		}
	}
	return out
}

func truncateStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
