package plugintool

import (
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/pumacdc/puma/engine"
)

const typedOrders = `{"schema":{"db":"shop","table":"orders","key":["id"],"columns":[{"name":"id","type":"bigint(20) unsigned"},{"name":"total","type":"decimal(10,2)"},{"name":"paid_at","type":"timestamp(3)"},{"name":"scan","type":"longblob"},{"name":"status","type":"enum('new','it''s paid')"},{"name":"rate","type":"float"},{"name":"born","type":"year"},{"name":"doc","type":"json"}]}}
{"before":null,"after":{"id":18446744073709551615,"total":"12.50","paid_at":"2025-11-25T10:00:00.250Z","scan":"AAEC/w==","status":"it's paid","rate":0.5,"born":1999,"doc":{"a":[1,2]}},"source":{"version":"2.0","connector":"mariadb","name":"test","ts_ms":1764064800000,"snapshot":"false","db":"shop","table":"orders","server_id":1,"gtid":"0-1-100","file":"mariadb-bin.000001","pos":640,"row":0,"thread":null,"query":null},"transaction":{"id":"0-1-100","total_order":1,"data_collection_order":1},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"0-1-100","seq":1},"key":{"id":18446744073709551615}}}
{"before":null,"after":{"id":1,"text":"hi"},"source":{"version":"2.0","connector":"mariadb","name":"test","ts_ms":1764064800000,"snapshot":"false","db":"shop","table":"notes","server_id":1,"gtid":"0-1-100","file":"mariadb-bin.000001","pos":700,"row":0,"thread":null,"query":null},"transaction":{"id":"0-1-100","total_order":2,"data_collection_order":1},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"0-1-100","seq":2},"key":{"id":1}}}`

// A schema line gives a table's columns their real kinds and values their
// Go types, as the binary log would; tables without one are guessed, and
// named. Either way the envelopes come back as they were.
func TestReadFixtureTyped(t *testing.T) {
	bs, guessed, err := ReadFixture(strings.NewReader(typedOrders), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(guessed, []string{"shop.notes"}) {
		t.Errorf("guessed %v, want [shop.notes]", guessed)
	}
	c := bs[0].Changes[0]
	var kinds []engine.Kind
	for _, col := range c.Table.Columns {
		kinds = append(kinds, col.Kind)
	}
	wantKinds := []engine.Kind{engine.KindUint, engine.KindDecimal, engine.KindTimestamp, engine.KindBytes, engine.KindEnum, engine.KindFloat, engine.KindYear, engine.KindJSON}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("kinds %v, want %v", kinds, wantKinds)
	}
	want := []any{uint64(18446744073709551615), "12.50", "2025-11-25T10:00:00.250Z", []byte{0, 1, 2, 0xff}, "it's paid", float32(0.5), int64(1999), `{"a":[1,2]}`}
	if !reflect.DeepEqual(c.After, want) {
		t.Errorf("after %#v\nwant %#v", c.After, want)
	}
	if cols := c.Table.Columns; cols[0].Nullable || !cols[1].Nullable || cols[1].Meta != 10<<8|2 ||
		cols[3].SQLType != mysql.MYSQL_TYPE_BLOB || cols[3].Charset != "binary" ||
		!reflect.DeepEqual(cols[4].Values, []string{"new", "it's paid"}) || !reflect.DeepEqual(c.Table.Key, []int{0}) {
		t.Errorf("columns %+v key %v", cols, c.Table.Key)
	}
	if k := bs[0].Changes[1].Table.Columns[1].Kind; k != engine.KindString {
		t.Errorf("guessed text column: %v", k)
	}
	lines := strings.Split(typedOrders, "\n")[1:]
	if got := render(bs, false); !reflect.DeepEqual(got, lines) {
		t.Errorf("round trip:\n got %s\nwant %s", got, lines)
	}
}

func TestReadFixtureSchemaErrors(t *testing.T) {
	row := "\n" + `{"op":"c","source":{"db":"a","table":"b"},"after":{"x":1},"puma":{"tx":{"id":"t","seq":1}}}`
	for _, tc := range []struct{ in, err string }{
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","typ":"int"}]}}`, `line 1: schema: json: unknown field "typ"`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","type":"integr"}]}}`, `column x: type "integr": unknown SQL type "integr"`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","type":"decimal(70,2)"}]}}`, `want decimal(precision 1..65`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","type":"enum(a,b)"}]}}`, `single quotes`},
		{`{"schema":{"db":"a","table":"b","columns":[]}}`, `no columns`},
		{`{"schema":{"db":"a","table":"b","key":["y"],"columns":[{"name":"x","type":"int"}]}}`, `key column "y" is not a column`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"y","type":"int"}]}}` + row, `line 2: column x is not in the schema of a.b`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","type":"blob"}]}}` + row, `line 2: column x: want base64 text`},
		{`{"schema":{"db":"a","table":"b","columns":[{"name":"x","type":"decimal"}]}}` + "\n" + `{"op":"c","source":{"db":"a","table":"b"},"after":{"x":true},"puma":{"tx":{"id":"t","seq":1}}}`, `true is not a decimal`},
	} {
		_, _, err := ReadFixture(strings.NewReader(tc.in), 0)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s:\n got %v\nwant %q", tc.in, err, tc.err)
		}
	}
}

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		typ      string
		kind     engine.Kind
		sqlType  byte
		unsigned bool
	}{
		{"INT", engine.KindInt, mysql.MYSQL_TYPE_LONG, false},
		{"int(10) unsigned", engine.KindUint, mysql.MYSQL_TYPE_LONG, true},
		{"tinyint(1)", engine.KindInt, mysql.MYSQL_TYPE_TINY, false},
		{"double precision", engine.KindDouble, mysql.MYSQL_TYPE_DOUBLE, false},
		{"varchar(64)", engine.KindString, mysql.MYSQL_TYPE_VARCHAR, false},
		{"mediumtext", engine.KindString, mysql.MYSQL_TYPE_BLOB, false},
		{"binary(16)", engine.KindBytes, mysql.MYSQL_TYPE_STRING, false},
		{"datetime(6)", engine.KindDateTime, mysql.MYSQL_TYPE_DATETIME2, false},
		{"date", engine.KindDate, mysql.MYSQL_TYPE_DATE, false},
		{"time", engine.KindTime, mysql.MYSQL_TYPE_TIME2, false},
		{"bit(8)", engine.KindBit, mysql.MYSQL_TYPE_BIT, false},
		{"set('a','b')", engine.KindSet, mysql.MYSQL_TYPE_SET, false},
		{"point", engine.KindGeometry, mysql.MYSQL_TYPE_GEOMETRY, false},
		{"uuid", engine.KindUUID, mysql.MYSQL_TYPE_STRING, false},
		{"inet6", engine.KindInet, mysql.MYSQL_TYPE_STRING, false},
		{"uint", engine.KindUint, mysql.MYSQL_TYPE_LONGLONG, true},
		{"bytes", engine.KindBytes, mysql.MYSQL_TYPE_VARCHAR, false},
	} {
		c, err := ParseType(tc.typ)
		if err != nil || c.Kind != tc.kind || c.SQLType != tc.sqlType || c.Unsigned != tc.unsigned {
			t.Errorf("%s: %v %v %d %v", tc.typ, err, c.Kind, c.SQLType, c.Unsigned)
		}
	}
	for _, bad := range []string{"", "int unsigned extra", "varchar(", "enum('a'", "geography"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
