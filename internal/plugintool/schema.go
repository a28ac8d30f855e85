package plugintool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/pumacdc/puma/engine"
)

// schemaLine is a fixture's typed table: the columns of db.table with
// their SQL types, as the binary log's table map would give them.
//
//	{"schema":{"db":"shop","table":"orders","key":["id"],
//	  "columns":[{"name":"id","type":"bigint unsigned"},{"name":"total","type":"decimal(10,2)"},
//	             {"name":"paid_at","type":"timestamp(3)","nullable":true},{"name":"scan","type":"blob"}]}}
type schemaLine struct {
	DB      string         `json:"db"`
	Table   string         `json:"table"`
	Columns []schemaColumn `json:"columns"`
	// Key names the key columns; KeyKind is "primary" (the default),
	// "config" or "row".
	Key     []string `json:"key"`
	KeyKind string   `json:"key_kind"`
}

type schemaColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Nullable defaults to true but for key columns.
	Nullable *bool `json:"nullable"`
}

// typedDef reads a schema line into a table definition whose kinds are
// given, not guessed. prev is the table's definition so far, if any: the
// new one is its next version.
func typedDef(raw json.RawMessage, prev *tableDef) (*tableDef, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s schemaLine
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if s.DB == "" || s.Table == "" {
		return nil, errors.New(`schema: want "db" and "table"`)
	}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("schema of %s.%s: no columns", s.DB, s.Table)
	}
	d := &tableDef{db: s.DB, name: s.Table, index: map[string]int{}, keyKind: engine.KeyPrimary, key: s.Key, typed: true}
	switch s.KeyKind {
	case "", "primary":
	case "config":
		d.keyKind = engine.KeyConfig
	case "row":
		d.keyKind = engine.KeyRow
	default:
		return nil, fmt.Errorf("schema of %s.%s: key_kind %q: want primary, config or row", s.DB, s.Table, s.KeyKind)
	}
	version := uint64(1)
	switch {
	case prev != nil && prev.t != nil:
		version = prev.t.Version + 1
	case prev != nil:
		version = 2
	}
	t := &engine.Table{DB: s.DB, Name: s.Table, KeyKind: d.keyKind, Version: version}
	for i, sc := range s.Columns {
		if sc.Name == "" {
			return nil, fmt.Errorf("schema of %s.%s: column %d has no name", s.DB, s.Table, i+1)
		}
		if _, dup := d.index[sc.Name]; dup {
			return nil, fmt.Errorf("schema of %s.%s: column %q is listed twice", s.DB, s.Table, sc.Name)
		}
		c, err := ParseType(sc.Type)
		if err != nil {
			return nil, fmt.Errorf("schema of %s.%s: column %s: %w", s.DB, s.Table, sc.Name, err)
		}
		c.Name = sc.Name
		d.index[sc.Name] = i
		d.cols = append(d.cols, sc.Name)
		t.Columns = append(t.Columns, c)
	}
	for _, k := range s.Key {
		i, ok := d.index[k]
		if !ok {
			return nil, fmt.Errorf("schema of %s.%s: key column %q is not a column", s.DB, s.Table, k)
		}
		t.Key = append(t.Key, i)
	}
	for i, sc := range s.Columns {
		switch {
		case sc.Nullable != nil:
			t.Columns[i].Nullable = *sc.Nullable
		default:
			t.Columns[i].Nullable = !slices.Contains(t.Key, i)
		}
	}
	d.t = t
	return d, nil
}

// ParseType reads a column's SQL type as SHOW CREATE TABLE writes it
// ("bigint(20) unsigned", "decimal(10,2)", "varchar(64)", "timestamp(3)",
// "enum('new','paid')", "longblob", "json", MariaDB's "uuid" and
// "inet6") or a kind's name ("uint", "string", "bytes"): the column's
// kind, binary-log type, signedness, character set and members. Name is
// left empty.
func ParseType(s string) (engine.Column, error) {
	var c engine.Column
	typ := strings.ToLower(strings.TrimSpace(s))
	if typ == "" {
		return c, errors.New(`no type: want an SQL type such as "bigint", "decimal(10,2)" or "blob"`)
	}
	base, args, rest := typ, "", ""
	if i := strings.IndexByte(typ, '('); i >= 0 {
		j := strings.LastIndexByte(typ, ')')
		if j < i {
			return c, fmt.Errorf("type %q: unbalanced parentheses", s)
		}
		base, args, rest = strings.TrimSpace(typ[:i]), typ[i+1:j], typ[j+1:]
	} else if i := strings.IndexByte(typ, ' '); i >= 0 {
		base, rest = typ[:i], typ[i:]
	}
	for _, m := range strings.Fields(rest) {
		switch m {
		case "unsigned":
			c.Unsigned = true
		case "signed", "zerofill", "precision": // double precision
		default:
			return c, fmt.Errorf("type %q: unknown modifier %q", s, m)
		}
	}
	set := func(k engine.Kind, sqlType byte) { c.Kind, c.SQLType = k, sqlType }
	switch base {
	case "tinyint", "bool", "boolean":
		set(engine.KindInt, mysql.MYSQL_TYPE_TINY)
	case "smallint":
		set(engine.KindInt, mysql.MYSQL_TYPE_SHORT)
	case "mediumint":
		set(engine.KindInt, mysql.MYSQL_TYPE_INT24)
	case "int", "integer":
		set(engine.KindInt, mysql.MYSQL_TYPE_LONG)
	case "bigint":
		set(engine.KindInt, mysql.MYSQL_TYPE_LONGLONG)
	case "uint":
		set(engine.KindUint, mysql.MYSQL_TYPE_LONGLONG)
		c.Unsigned = true
	case "float":
		set(engine.KindFloat, mysql.MYSQL_TYPE_FLOAT)
	case "double", "real":
		set(engine.KindDouble, mysql.MYSQL_TYPE_DOUBLE)
	case "decimal", "numeric", "dec", "fixed":
		set(engine.KindDecimal, mysql.MYSQL_TYPE_NEWDECIMAL)
		prec, scale := uint64(10), uint64(0)
		if args != "" {
			p, sc, _ := strings.Cut(args, ",")
			var err1, err2 error
			prec, err1 = strconv.ParseUint(strings.TrimSpace(p), 10, 8)
			if sc != "" {
				scale, err2 = strconv.ParseUint(strings.TrimSpace(sc), 10, 8)
			}
			if err1 != nil || err2 != nil || prec == 0 || prec > 65 || scale > 38 || scale > prec {
				return c, fmt.Errorf("type %q: want decimal(precision 1..65, scale 0..38)", s)
			}
		}
		c.Meta = uint16(prec<<8 | scale)
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "string":
		set(engine.KindString, mysql.MYSQL_TYPE_VARCHAR)
		if base == "char" {
			c.SQLType = mysql.MYSQL_TYPE_STRING
		} else if strings.HasSuffix(base, "text") {
			c.SQLType = mysql.MYSQL_TYPE_BLOB
		}
		c.Charset = "utf8mb4"
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bytes":
		set(engine.KindBytes, mysql.MYSQL_TYPE_VARCHAR)
		if base == "binary" {
			c.SQLType = mysql.MYSQL_TYPE_STRING
		} else if strings.HasSuffix(base, "blob") {
			c.SQLType = mysql.MYSQL_TYPE_BLOB
		}
		c.Charset = "binary"
	case "date":
		set(engine.KindDate, mysql.MYSQL_TYPE_DATE)
	case "time":
		set(engine.KindTime, mysql.MYSQL_TYPE_TIME2)
	case "datetime":
		set(engine.KindDateTime, mysql.MYSQL_TYPE_DATETIME2)
	case "timestamp":
		set(engine.KindTimestamp, mysql.MYSQL_TYPE_TIMESTAMP2)
	case "year":
		set(engine.KindYear, mysql.MYSQL_TYPE_YEAR)
	case "bit":
		set(engine.KindBit, mysql.MYSQL_TYPE_BIT)
	case "enum", "set":
		set(engine.KindEnum, mysql.MYSQL_TYPE_ENUM)
		if base == "set" {
			set(engine.KindSet, mysql.MYSQL_TYPE_SET)
		}
		vals, err := members(args)
		if err != nil {
			return c, fmt.Errorf("type %q: %w", s, err)
		}
		c.Values = vals
		c.Charset = "utf8mb4"
	case "json":
		set(engine.KindJSON, mysql.MYSQL_TYPE_JSON)
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		set(engine.KindGeometry, mysql.MYSQL_TYPE_GEOMETRY)
	case "uuid":
		set(engine.KindUUID, mysql.MYSQL_TYPE_STRING)
	case "inet4", "inet6", "inet":
		set(engine.KindInet, mysql.MYSQL_TYPE_STRING)
	default:
		return c, fmt.Errorf("type %q: unknown SQL type %q", s, base)
	}
	if c.Unsigned && c.Kind == engine.KindInt {
		c.Kind = engine.KindUint
	}
	return c, nil
}

// members reads an ENUM or SET's quoted member list: 'a','b”c'.
func members(args string) ([]string, error) {
	var out []string
	s := strings.TrimSpace(args)
	for s != "" {
		if s[0] != '\'' {
			return nil, errors.New("want members in single quotes: enum('a','b')")
		}
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, errors.New("unterminated member")
		}
		out = append(out, b.String())
		s = strings.TrimSpace(s[i+1:])
		if s != "" {
			if s[0] != ',' {
				return nil, errors.New("want a comma between members")
			}
			s = strings.TrimSpace(s[1:])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no members: enum('a','b')")
	}
	return out, nil
}
