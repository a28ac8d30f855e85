package engine

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

// schemas turns TABLE_MAP events into Table versions, using only the
// metadata the event carries (binlog_row_metadata=FULL), so a row is always
// read with the shape it was written with.
//
// A schemas is owned by one reader goroutine.
type schemas struct {
	byID       map[uint64]tableMapping
	byName     map[string]*Table
	collations map[uint64]string // collation id -> charset name
	keyColumns map[string][]string
}

type tableMapping struct {
	event *replication.TableMapEvent
	table *Table
}

func newSchemas(collations map[uint64]string, keyColumns map[string][]string) *schemas {
	return &schemas{
		byID:       make(map[uint64]tableMapping),
		byName:     make(map[string]*Table),
		collations: collations,
		keyColumns: keyColumns,
	}
}

// table returns the Table version tm describes, reusing the previous
// version when the shape has not changed.
func (s *schemas) table(tm *replication.TableMapEvent) (*Table, error) {
	if m, ok := s.byID[tm.TableID]; ok && m.event == tm {
		return m.table, nil
	}
	t, err := s.build(tm)
	if err != nil {
		return nil, err
	}
	name := t.FullName()
	if prev, ok := s.byName[name]; ok {
		if sameShape(prev, t) {
			t = prev
		} else {
			t.Version = prev.Version + 1
		}
	} else {
		t.Version = 1
	}
	s.byName[name] = t
	s.byID[tm.TableID] = tableMapping{event: tm, table: t}
	return t, nil
}

func sameShape(a, b *Table) bool {
	return a.KeyKind == b.KeyKind && slices.Equal(a.Key, b.Key) &&
		slices.EqualFunc(a.Columns, b.Columns, func(x, y Column) bool {
			return x.Name == y.Name && x.Kind == y.Kind && x.SQLType == y.SQLType &&
				x.Meta == y.Meta && x.Unsigned == y.Unsigned && x.Nullable == y.Nullable &&
				x.Charset == y.Charset && slices.Equal(x.Values, y.Values)
		})
}

func (s *schemas) build(tm *replication.TableMapEvent) (*Table, error) {
	t := &Table{DB: string(tm.Schema), Name: string(tm.Table)}
	n := int(tm.ColumnCount)
	names := tm.ColumnNameString()
	if len(names) != n {
		return nil, &NoMetadataError{Table: t.FullName()}
	}
	unsigned := tm.UnsignedMap()
	charsets := tm.CollationMap()
	enumCharsets := tm.EnumSetCollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	t.Columns = make([]Column, n)
	for i := range n {
		c := &t.Columns[i]
		c.Name = names[i]
		c.SQLType = tm.ColumnType[i]
		c.Meta = tm.ColumnMeta[i]
		c.Unsigned = unsigned[i]
		if ok, null := tm.Nullable(i); ok {
			c.Nullable = null
		}
		if id, ok := charsets[i]; ok {
			c.Charset = s.charset(id)
		} else if id, ok := enumCharsets[i]; ok {
			c.Charset = s.charset(id)
		}
		kind, err := columnKind(tm, i, c)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.FullName(), c.Name, err)
		}
		c.Kind = kind
		switch kind {
		case KindEnum:
			c.Values = enums[i]
		case KindSet:
			c.Values = sets[i]
		case KindString:
			if !supportedCharset(c.Charset) {
				return nil, fmt.Errorf("table %s column %s: %w: %q", t.FullName(), c.Name, ErrUnsupportedCharset, c.Charset)
			}
		}
	}
	s.setKey(t, tm)
	return t, nil
}

func (s *schemas) setKey(t *Table, tm *replication.TableMapEvent) {
	if cols, ok := s.keyColumns[t.FullName()]; ok {
		key := make([]int, 0, len(cols))
		for _, name := range cols {
			for i := range t.Columns {
				if t.Columns[i].Name == name {
					key = append(key, i)
				}
			}
		}
		if len(key) == len(cols) {
			t.Key, t.KeyKind = key, KeyConfig
			return
		}
	}
	if len(tm.PrimaryKey) > 0 {
		t.Key = make([]int, len(tm.PrimaryKey))
		for i, k := range tm.PrimaryKey {
			t.Key[i] = int(k)
		}
		t.KeyKind = KeyPrimary
		return
	}
	t.Key = make([]int, len(t.Columns))
	for i := range t.Key {
		t.Key[i] = i
	}
	t.KeyKind = KeyRow
}

func (s *schemas) charset(collation uint64) string {
	if cs, ok := s.collations[collation]; ok {
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
	return false
}

func columnKind(tm *replication.TableMapEvent, i int, c *Column) (Kind, error) {
	typ := tm.ColumnType[i]
	if typ == mysql.MYSQL_TYPE_STRING && c.Meta >= 256 {
		if rt := byte(c.Meta >> 8); rt == mysql.MYSQL_TYPE_ENUM {
			return KindEnum, nil
		} else if rt == mysql.MYSQL_TYPE_SET {
			return KindSet, nil
		}
	}
	switch typ {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24,
		mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
		if c.Unsigned {
			return KindUint, nil
		}
		return KindInt, nil
	case mysql.MYSQL_TYPE_FLOAT:
		return KindFloat, nil
	case mysql.MYSQL_TYPE_DOUBLE:
		return KindDouble, nil
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return KindDecimal, nil
	case mysql.MYSQL_TYPE_YEAR:
		return KindYear, nil
	case mysql.MYSQL_TYPE_BIT:
		return KindBit, nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		return KindDate, nil
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		return KindTime, nil
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		return KindDateTime, nil
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		return KindTimestamp, nil
	case mysql.MYSQL_TYPE_JSON:
		return KindJSON, nil
	case mysql.MYSQL_TYPE_GEOMETRY:
		return KindGeometry, nil
	case mysql.MYSQL_TYPE_ENUM:
		return KindEnum, nil
	case mysql.MYSQL_TYPE_SET:
		return KindSet, nil
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB:
		if c.Charset == "binary" || (c.Charset == "" && typ == mysql.MYSQL_TYPE_BLOB) {
			return KindBytes, nil
		}
		return KindString, nil
	case mysql.MYSQL_TYPE_VECTOR:
		return KindBytes, nil
	}
	return 0, fmt.Errorf("%w: binary log type %d", ErrUnsupportedType, typ)
}

// convert turns a go-mysql decoded value into the Change value for column
// c. Strings and byte slices are copied: go-mysql's may alias the packet.
func convert(c *Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindYear:
		switch x := v.(type) {
		case int8:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		}
	case KindUint:
		switch x := v.(type) {
		case uint8:
			return uint64(x), nil
		case uint16:
			return uint64(x), nil
		case uint32:
			return uint64(x), nil
		case uint64:
			return x, nil
		}
	case KindBit:
		if x, ok := v.(int64); ok {
			return uint64(x), nil
		}
	case KindFloat:
		if x, ok := v.(float32); ok {
			return x, nil
		}
	case KindDouble:
		if x, ok := v.(float64); ok {
			return x, nil
		}
	case KindDecimal:
		if x, ok := v.(decimal.Decimal); ok {
			return x.StringFixed(int32(c.Meta & 0xff)), nil
		}
	case KindDate, KindTime, KindDateTime:
		if x, ok := v.(string); ok {
			return strings.Clone(x), nil
		}
	case KindTimestamp:
		if x, ok := v.(string); ok {
			return timestampRFC3339(x), nil
		}
	case KindEnum:
		if x, ok := v.(int64); ok {
			if x == 0 {
				return "", nil // the "invalid value" member MySQL stores as 0
			}
			if int(x) <= len(c.Values) {
				return c.Values[x-1], nil
			}
			return nil, fmt.Errorf("enum index %d out of range (%d members)", x, len(c.Values))
		}
	case KindSet:
		if x, ok := v.(int64); ok {
			var b strings.Builder
			for i, m := range c.Values {
				if x&(1<<uint(i)) != 0 {
					if b.Len() > 0 {
						b.WriteByte(',')
					}
					b.WriteString(m)
				}
			}
			return b.String(), nil
		}
	case KindJSON:
		switch x := v.(type) {
		case string:
			return strings.Clone(x), nil
		case []byte:
			return string(x), nil
		}
	case KindBytes, KindGeometry:
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		case []byte:
			b = bytes.Clone(x)
		default:
			return nil, fmt.Errorf("want bytes, got %T", v)
		}
		if n := binaryPadLength(c); n > len(b) {
			b = append(b, make([]byte, n-len(b))...)
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	case KindString:
		switch x := v.(type) {
		case string:
			return toUTF8(c.Charset, []byte(x))
		case []byte:
			return toUTF8(c.Charset, x)
		}
	}
	return nil, fmt.Errorf("%s column: unexpected decoded value %T", c.Kind, v)
}

// binaryPadLength is the declared length of a BINARY(n) column, whose
// trailing zero bytes the binary log strips; 0 for other columns.
func binaryPadLength(c *Column) int {
	if c.SQLType != mysql.MYSQL_TYPE_STRING || c.Kind != KindBytes {
		return 0
	}
	if c.Meta >= 256 {
		b0, b1 := byte(c.Meta>>8), byte(c.Meta&0xff)
		if b0&0x30 != 0x30 {
			return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
		}
		return int(b1)
	}
	return int(c.Meta)
}

// timestampRFC3339 turns go-mysql's "YYYY-MM-DD HH:MM:SS[.f]" (already in
// UTC) into RFC 3339 with a Z; zero timestamps stay as MySQL writes them.
func timestampRFC3339(s string) string {
	if strings.HasPrefix(s, "0000-00-00") || len(s) < 19 {
		return strings.Clone(s)
	}
	return s[:10] + "T" + s[11:] + "Z"
}

// latin1 is MySQL's latin1, which is Windows-1252 with the five undefined
// bytes mapped to the C1 controls of the same value.
var latin1High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

func toUTF8(charset string, b []byte) (string, error) {
	switch charset {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "":
		return string(b), nil
	case "latin1":
		ascii := true
		for _, c := range b {
			if c >= 0x80 {
				ascii = false
				break
			}
		}
		if ascii {
			return string(b), nil
		}
		out := make([]byte, 0, len(b)+len(b)/2)
		for _, c := range b {
			switch {
			case c < 0x80:
				out = append(out, c)
			case c < 0xa0:
				out = utf8.AppendRune(out, latin1High[c-0x80])
			default:
				out = utf8.AppendRune(out, rune(c))
			}
		}
		return string(out), nil
	case "ucs2", "utf16":
		if len(b)%2 != 0 {
			return "", fmt.Errorf("%s value of odd length %d", charset, len(b))
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), nil
	case "utf16le":
		if len(b)%2 != 0 {
			return "", fmt.Errorf("%s value of odd length %d", charset, len(b))
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
		return string(utf16.Decode(u)), nil
	case "utf32":
		if len(b)%4 != 0 {
			return "", fmt.Errorf("%s value of length %d", charset, len(b))
		}
		out := make([]byte, 0, len(b))
		for i := 0; i < len(b); i += 4 {
			r := rune(b[i])<<24 | rune(b[i+1])<<16 | rune(b[i+2])<<8 | rune(b[i+3])
			out = utf8.AppendRune(out, r)
		}
		return string(out), nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedCharset, charset)
}

// truncateTable returns the latest known version of db.table for a
// TRUNCATE, or a column-less stand-in when no row of it was seen yet.
func (s *schemas) truncateTable(db, table string) *Table {
	if t, ok := s.byName[db+"."+table]; ok {
		return t
	}
	return &Table{DB: db, Name: table}
}
