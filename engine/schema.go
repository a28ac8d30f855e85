package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// schemas turns TABLE_MAP events into Table versions.
//
// With binlog_row_metadata=FULL a TABLE_MAP carries every column's name,
// signedness, charset and ENUM/SET members and the primary key: schemas
// uses that, so a row is always read with the shape it was written with.
// What the binary log cannot say (a MariaDB JSON column is a LONGTEXT, a
// UUID or INET6 a BINARY(16), an INET4 a BINARY(4)) comes from the table
// definition in information_schema, used only when it agrees with the
// TABLE_MAP on every column (see definition). With schema = "live" the
// whole definition comes from there and every TABLE_MAP is checked against
// it (see checkShape).
//
// A schemas is owned by one reader goroutine and lives for one connection;
// its state (the definitions read) outlives it and is saved with the
// checkpoint.
type schemas struct {
	cfg    schemaConfig
	state  *schemaState
	byID   map[uint64]*tableMapping
	byName map[string]*Table
	warned map[string]bool
	// rechecked is, by table, the TABLE_MAP table id for which a definition
	// that did not fit was read again: once per table version is enough.
	rechecked map[string]uint64
	// gen counts the DDL statements seen.
	gen uint64
}

// schemaConfig is what a reader's schemas need from the task and the
// connected source.
type schemaConfig struct {
	// Collations maps collation ids to charset names (from the source).
	Collations map[uint64]string
	// KeyColumns is the task's key_columns.
	KeyColumns map[string][]string
	// Live is schema = "live": tables without column names in the binary
	// log are described by information_schema.
	Live bool
	// Flavor is the source's (mysql.MariaDBFlavor or mysql.MySQLFlavor).
	Flavor string
	// Catalog reads table definitions from the source; nil disables it
	// (no JSON/UUID/INET detection on MariaDB, and no live schemas).
	Catalog catalog
	Log     *slog.Logger
}

type tableMapping struct {
	event *replication.TableMapEvent
	table *Table
	name  string // table.FullName()
	gen   uint64 // schemas.gen when built
	// plan is the last rowDecoder plan its rows came with, fix the
	// columns that plan leaves to the reader.
	plan *decodePlan
	fix  []int
}

// newSchemas returns the schemas of one connection, carrying state (the
// definitions read so far, restored from the checkpoint) across
// connections (nil: start empty).
func newSchemas(cfg schemaConfig, state *schemaState) *schemas {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if state == nil {
		state = newSchemaState()
	}
	return &schemas{
		cfg:       cfg,
		state:     state,
		byID:      make(map[uint64]*tableMapping),
		byName:    make(map[string]*Table),
		warned:    make(map[string]bool),
		rechecked: make(map[string]uint64),
	}
}

// table returns the Table version tm describes, reusing the previous
// version when the shape has not changed.
func (s *schemas) table(ctx context.Context, tm *replication.TableMapEvent) (*Table, error) {
	m, err := s.mapping(ctx, tm)
	if err != nil {
		return nil, err
	}
	return m.table, nil
}

// mapping returns the mapping of tm's table id. A TABLE_MAP comes with
// every transaction: one equal to the last of its table id, with no DDL
// seen since, maps to the same Table without building it again.
func (s *schemas) mapping(ctx context.Context, tm *replication.TableMapEvent) (*tableMapping, error) {
	if m, ok := s.byID[tm.TableID]; ok {
		if m.event == tm {
			return m, nil
		}
		if m.gen == s.gen && s.byName[m.name] == m.table && sameTableMap(m.event, tm) {
			m.event = tm
			return m, nil
		}
	}
	t, err := s.build(ctx, tm)
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
	m := &tableMapping{event: tm, table: t, name: name, gen: s.gen}
	s.byID[tm.TableID] = m
	return m, nil
}

// fixups returns the columns of m's table whose values a rowDecoder left
// for the reader to convert, having decoded them with plan p.
func (s *schemas) fixups(m *tableMapping, p *decodePlan) ([]int, error) {
	if m.plan == p {
		return m.fix, nil
	}
	fix, err := p.fixups(m.table)
	if err != nil {
		return nil, err
	}
	m.plan, m.fix = p, fix
	return fix, nil
}

// ddl records a DDL statement seen in the binary log: the definitions of
// the tables it may touch are read again when next needed.
func (s *schemas) ddl(db, stmt string) {
	s.state.touch(db, stmt)
	s.gen++
}

func sameShape(a, b *Table) bool {
	return a.KeyKind == b.KeyKind && slices.Equal(a.Key, b.Key) &&
		slices.EqualFunc(a.Columns, b.Columns, func(x, y Column) bool {
			return x.Name == y.Name && x.Kind == y.Kind && x.SQLType == y.SQLType &&
				x.Meta == y.Meta && x.Unsigned == y.Unsigned && x.Nullable == y.Nullable &&
				x.Charset == y.Charset && slices.Equal(x.Values, y.Values)
		})
}

func (s *schemas) build(ctx context.Context, tm *replication.TableMapEvent) (*Table, error) {
	t := &Table{DB: string(tm.Schema), Name: string(tm.Table)}
	name := t.FullName()
	n := int(tm.ColumnCount)
	names := tm.ColumnNameString()
	var def *tableDef
	switch {
	case len(names) == n:
	case s.cfg.Live && s.cfg.Catalog != nil:
		var err error
		if def, err = s.liveDefinition(ctx, tm); err != nil {
			return nil, err
		}
		names = def.names()
	default:
		return nil, &NoMetadataError{Table: name}
	}

	var hasSign bool
	t.Columns, hasSign = mapColumns(tm, s.charset)
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	for i := range n {
		c := &t.Columns[i]
		c.Name = names[i]
		var defValues []string
		if def != nil {
			d := &def.Columns[i]
			if !hasSign {
				c.Unsigned = d.Unsigned
			}
			if c.Charset == "" {
				c.Charset = d.Charset
			}
			defValues = d.Values
		}
		members := enums[i]
		if members == nil {
			members = sets[i]
		}
		if err := finishColumn(tm, i, c, members, defValues); err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", name, c.Name, err)
		}
	}
	if def == nil && s.cfg.Catalog != nil && s.cfg.Flavor == mysql.MariaDBFlavor && hasAmbiguousColumns(t) {
		var err error
		if def, err = s.fullDefinition(ctx, tm, t); err != nil {
			return nil, err
		}
	}
	if def != nil {
		for i := range t.Columns {
			t.Columns[i].Kind = annotate(&t.Columns[i], &def.Columns[i])
		}
	}
	if err := s.setKey(t, tm, def); err != nil {
		return nil, err
	}
	return t, nil
}

// mapColumns describes tm's columns as far as the TABLE_MAP itself does:
// binary-log type and metadata, nullability and, when the source logs them
// (binlog_row_metadata MINIMAL or FULL), signedness and character set.
// hasSign reports whether signedness was logged. Names, kinds and
// ENUM/SET members are left to finishColumn.
func mapColumns(tm *replication.TableMapEvent, charset func(collation uint64) string) (cols []Column, hasSign bool) {
	n := int(tm.ColumnCount)
	unsigned := tm.UnsignedMap()
	charsets := tm.CollationMap()
	enumCharsets := tm.EnumSetCollationMap()
	cols = make([]Column, n)
	for i := range n {
		c := &cols[i]
		c.SQLType = tm.ColumnType[i]
		c.Meta = tm.ColumnMeta[i]
		c.Unsigned = unsigned[i]
		if ok, null := tm.Nullable(i); ok {
			c.Nullable = null
		}
		if id, ok := charsets[i]; ok {
			c.Charset = charset(id)
		} else if id, ok := enumCharsets[i]; ok {
			c.Charset = charset(id)
		}
	}
	return cols, len(tm.SignednessBitmap) > 0
}

// finishColumn sets the kind of column i of tm, whose type, signedness and
// charset c already holds, and the members of an ENUM or SET: members as
// logged in the TABLE_MAP (in the column's charset), else defValues, from
// the table's definition.
func finishColumn(tm *replication.TableMapEvent, i int, c *Column, members, defValues []string) error {
	kind, err := columnKind(tm, i, c)
	if err != nil {
		return err
	}
	c.Kind = kind
	switch kind {
	case KindEnum, KindSet:
		if members != nil {
			// The binary log carries the members in the column's charset.
			c.Values = make([]string, len(members))
			for j, m := range members {
				if c.Values[j], err = toUTF8(c.Charset, []byte(m)); err != nil {
					return err
				}
			}
		} else if defValues != nil {
			c.Values = defValues
		}
	case KindString:
		if !supportedCharset(c.Charset) {
			return fmt.Errorf("%w: %q", ErrUnsupportedCharset, c.Charset)
		}
	}
	return nil
}

// hasAmbiguousColumns reports whether t has columns whose binary-log type
// MariaDB shares between types Puma delivers differently: LONGTEXT (also
// JSON), BINARY(16) (also UUID and INET6) and BINARY(4) (also INET4).
func hasAmbiguousColumns(t *Table) bool {
	for i := range t.Columns {
		if ambiguous(&t.Columns[i]) {
			return true
		}
	}
	return false
}

func ambiguous(c *Column) bool {
	switch c.Kind {
	case KindString:
		return c.SQLType == mysql.MYSQL_TYPE_BLOB && c.Meta == 4
	case KindBytes:
		n := binaryPadLength(c)
		return c.SQLType == mysql.MYSQL_TYPE_STRING && (n == 16 || n == 4)
	}
	return false
}

// annotate returns the kind of column c once its definition d is known:
// MariaDB's JSON, UUID, INET6 and INET4, which the binary log shows as
// LONGTEXT and BINARY(n).
func annotate(c *Column, d *colDef) Kind {
	switch {
	case c.Kind == KindString && c.SQLType == mysql.MYSQL_TYPE_BLOB && d.JSON:
		return KindJSON
	case c.Kind == KindBytes && d.Type == "uuid" && binaryPadLength(c) == 16:
		return KindUUID
	case c.Kind == KindBytes && d.Type == "inet6" && binaryPadLength(c) == 16,
		c.Kind == KindBytes && d.Type == "inet4" && binaryPadLength(c) == 4:
		return KindInet
	}
	return c.Kind
}

// liveDefinition returns the definition in use for tm's table under
// schema = "live", checked against tm.
func (s *schemas) liveDefinition(ctx context.Context, tm *replication.TableMapEvent) (*tableDef, error) {
	db, table := string(tm.Schema), string(tm.Table)
	def, cached, err := s.definition(ctx, db, table, false)
	if err != nil {
		return nil, err
	}
	if def != nil && checkShape(tm, def) == nil {
		return def, nil
	}
	if cached && s.recheck(db+"."+table, tm) {
		// The definition in use no longer fits: a DDL the reader could not
		// attribute to the table. Read the current one once.
		if def, _, err = s.definition(ctx, db, table, true); err != nil {
			return nil, err
		}
	}
	if def == nil {
		return nil, fmt.Errorf("table %s.%s: %w: schema = \"live\" cannot describe the rows of a table that no longer exists (or that the task's user cannot see: grant it SELECT on the table); set binlog_row_metadata=FULL on the source", db, table, ErrNoDefinition)
	}
	if err := checkShape(tm, def); err != nil {
		return nil, err
	}
	return def, nil
}

// fullDefinition returns the definition of t (built from a FULL TABLE_MAP)
// when it agrees with the TABLE_MAP on every column's name, type, length
// and charset; else nil, and the ambiguous columns keep their storage
// kind (text or bytes).
func (s *schemas) fullDefinition(ctx context.Context, tm *replication.TableMapEvent, t *Table) (*tableDef, error) {
	def, cached, err := s.definition(ctx, t.DB, t.Name, false)
	if err != nil {
		return nil, err
	}
	if def != nil && !def.agrees(tm, t) && cached && s.recheck(t.FullName(), tm) {
		if def, _, err = s.definition(ctx, t.DB, t.Name, true); err != nil {
			return nil, err
		}
	}
	switch {
	case def == nil:
		s.warnOnce(t.FullName()+"/none", "table definition not visible in information_schema: LONGTEXT and BINARY(16)/BINARY(4) columns are delivered as text and bytes, even if they are JSON, UUID, INET6 or INET4; grant the task's user SELECT on the table", "table", t.FullName())
		return nil, nil
	case !def.agrees(tm, t):
		s.warnOnce(t.FullName()+"/"+strconv.FormatUint(tm.TableID, 10), "table definition in information_schema differs from the binary log's (the table changed since these rows were written): its LONGTEXT and BINARY(16)/BINARY(4) columns are delivered as text and bytes for these rows", "table", t.FullName())
		return nil, nil
	}
	return def, nil
}

// recheck reports whether a definition that does not fit tm should be
// read again: once per table version (TABLE_MAP table id).
func (s *schemas) recheck(key string, tm *replication.TableMapEvent) bool {
	if id, ok := s.rechecked[key]; ok && id == tm.TableID {
		return false
	}
	s.rechecked[key] = tm.TableID
	return true
}

func (s *schemas) warnOnce(key, msg string, args ...any) {
	if s.warned[key] {
		return
	}
	s.warned[key] = true
	s.cfg.Log.Warn(msg, args...)
}

// definition returns the definition of db.table in use: the one in the
// state unless a DDL touched the table since or fresh is set, else one
// read now from the source. cached reports that it came from the state.
// A nil definition means the source shows no such table.
func (s *schemas) definition(ctx context.Context, db, table string, fresh bool) (def *tableDef, cached bool, err error) {
	key := db + "." + table
	if st, ok := s.state.tables[key]; ok && !st.Stale && !fresh {
		return st.Def, true, nil
	}
	if s.cfg.Catalog == nil {
		return nil, false, nil
	}
	def, err = s.cfg.Catalog.tableDef(ctx, db, table)
	if err != nil {
		return nil, false, err
	}
	s.state.put(key, def)
	return def, false, nil
}

func (s *schemas) setKey(t *Table, tm *replication.TableMapEvent, def *tableDef) error {
	if cols, ok := s.cfg.KeyColumns[t.FullName()]; ok {
		key := make([]int, 0, len(cols))
		for _, name := range cols {
			i := slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
			if i < 0 {
				names := make([]string, len(t.Columns))
				for j := range t.Columns {
					names[j] = t.Columns[j].Name
				}
				return fmt.Errorf("table %s: key_columns names column %q, which the table does not have (columns: %s): fix key_columns for %q in the task's config", t.FullName(), name, strings.Join(names, ", "), t.FullName())
			}
			key = append(key, i)
		}
		t.Key, t.KeyKind = key, KeyConfig
		return nil
	}
	if len(tm.PrimaryKey) > 0 {
		t.Key = make([]int, len(tm.PrimaryKey))
		for i, k := range tm.PrimaryKey {
			t.Key[i] = int(k)
		}
		t.KeyKind = KeyPrimary
		return nil
	}
	if def != nil && len(def.Key) > 0 && len(tm.ColumnNameString()) == 0 {
		key := make([]int, 0, len(def.Key))
		for _, name := range def.Key {
			if i := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name }); i >= 0 {
				key = append(key, i)
			}
		}
		if len(key) == len(def.Key) {
			t.Key, t.KeyKind = key, KeyPrimary
			return nil
		}
	}
	t.Key = make([]int, len(t.Columns))
	for i := range t.Key {
		t.Key[i] = i
	}
	t.KeyKind = KeyRow
	return nil
}

func (s *schemas) charset(collation uint64) string { return charsetName(s.cfg.Collations, collation) }

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
	_, multi := multiByteCharsets[cs]
	return single || multi
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
		// Without signedness in the TABLE_MAP (binlog_row_metadata=NO_LOG,
		// schema = "live") go-mysql decodes every integer as signed: take
		// back the column's bits.
		var bits int64
		switch x := v.(type) {
		case int8:
			bits = int64(x)
		case int16:
			bits = int64(x)
		case int32:
			bits = int64(x)
		case int64:
			bits = x
		default:
			return nil, fmt.Errorf("%s column: unexpected decoded value %T", c.Kind, v)
		}
		switch c.SQLType {
		case mysql.MYSQL_TYPE_TINY:
			return uint64(bits) & 0xff, nil
		case mysql.MYSQL_TYPE_SHORT:
			return uint64(bits) & 0xffff, nil
		case mysql.MYSQL_TYPE_INT24:
			return uint64(bits) & 0xffffff, nil
		case mysql.MYSQL_TYPE_LONG:
			return uint64(bits) & 0xffffffff, nil
		}
		return uint64(bits), nil
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
	case KindDate, KindDateTime:
		if x, ok := v.(string); ok {
			return strings.Clone(x), nil
		}
	case KindTime:
		if x, ok := v.(string); ok {
			return timeWithFraction(c, x), nil
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
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		case []byte:
			b = x
		default:
			return nil, fmt.Errorf("json column: unexpected decoded value %T", v)
		}
		return jsonText(c, b)
	case KindUUID:
		b, err := binaryValue(c, v)
		if err != nil {
			return nil, err
		}
		if len(b) != 16 {
			return nil, fmt.Errorf("uuid value of %d bytes", len(b))
		}
		return formatUUID(b), nil
	case KindInet:
		b, err := binaryValue(c, v)
		if err != nil {
			return nil, err
		}
		return formatInet(b)
	case KindBytes, KindGeometry:
		return binaryValue(c, v)
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

// binaryValue copies a bytes value, restoring the trailing zero bytes the
// binary log strips from BINARY(n).
func binaryValue(c *Column, v any) ([]byte, error) {
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
}

// jsonText returns the JSON text of a JSON column's value. MySQL's binary
// JSON decodes to valid JSON text, an empty value meaning JSON null (rows
// written before a NOT NULL JSON column was added). MariaDB's JSON is
// text whose validity a CHECK constraint enforces, unless checks were off
// when it was written (check_constraint_checks=0): such a value is
// delivered as a JSON string of its text, so the output is always JSON.
func jsonText(c *Column, b []byte) (string, error) {
	if c.SQLType == mysql.MYSQL_TYPE_JSON {
		if len(b) == 0 {
			return "null", nil
		}
		return string(b), nil
	}
	if c.Charset != "utf8mb4" && c.Charset != "utf8mb3" && c.Charset != "utf8" {
		s, err := toUTF8(c.Charset, b)
		if err != nil {
			return "", err
		}
		b = []byte(s)
	}
	if json.Valid(b) {
		return string(b), nil
	}
	return string(appendString(nil, string(b))), nil
}

// binaryPadLength is the declared length of a BINARY(n) column (and of
// MariaDB's UUID, INET6 and INET4, stored as BINARY(16) and BINARY(4)),
// whose trailing zero bytes the binary log strips; 0 for other columns.
func binaryPadLength(c *Column) int {
	if c.SQLType != mysql.MYSQL_TYPE_STRING {
		return 0
	}
	switch c.Kind {
	case KindBytes, KindUUID, KindInet:
	default:
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

// timeWithFraction gives a TIME value the column's fractional digits:
// go-mysql drops them when they are all zero.
func timeWithFraction(c *Column, s string) string {
	if c.SQLType != mysql.MYSQL_TYPE_TIME2 || c.Meta == 0 || c.Meta > 6 || strings.IndexByte(s, '.') >= 0 {
		return strings.Clone(s)
	}
	return s + "." + "000000"[:c.Meta]
}

// timestampRFC3339 turns go-mysql's "YYYY-MM-DD HH:MM:SS[.f]" (already in
// UTC) into RFC 3339 with a Z; zero timestamps stay as MySQL writes them.
func timestampRFC3339(s string) string {
	if strings.HasPrefix(s, "0000-00-00") || len(s) < 19 {
		return strings.Clone(s)
	}
	return s[:10] + "T" + s[11:] + "Z"
}

// formatUUID writes MariaDB's text form of a UUID. The binary log carries
// the bytes in text order (the storage engine's index-friendly swap is not
// logged).
func formatUUID(b []byte) string {
	var out [36]byte
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = uuidHex[x>>4], uuidHex[x&0xf]
		j += 2
	}
	return string(out[:])
}

// formatInet writes MariaDB's text form of an INET4 (4 bytes) or INET6 (16
// bytes) value: RFC 5952 (the first longest run of two or more zero groups
// shortened to ::), except that, as inet_ntop and MariaDB do, an
// IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address ends
// in dotted form.
func formatInet(b []byte) (string, error) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case 16:
	default:
		return "", fmt.Errorf("inet value of %d bytes", len(b))
	}
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		best = -1
	}
	var out []byte
	for i := 0; i < 8; i++ {
		if i == best {
			out = append(out, ':')
			if i == 0 {
				out = append(out, ':')
			}
			i += bestLen - 1
			continue
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			return string(netip.AddrFrom4([4]byte(b[12:])).AppendTo(out)), nil
		}
		out = strconv.AppendUint(out, uint64(w[i]), 16)
		if i < 7 {
			out = append(out, ':')
		}
	}
	return string(out), nil
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

// multiByteCharsets are MariaDB's CJK charsets, decoded by golang.org/x/text
// (invalid sequences become U+FFFD).
var multiByteCharsets = map[string]encoding.Encoding{
	"sjis":    japanese.ShiftJIS,
	"cp932":   japanese.ShiftJIS,
	"ujis":    japanese.EUCJP,
	"eucjpms": japanese.EUCJP,
	"euckr":   korean.EUCKR,
	"gbk":     simplifiedchinese.GBK,
	"gb2312":  simplifiedchinese.GBK,
	"big5":    traditionalchinese.Big5,
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
func asciiPrefix(b []byte) int {
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
	if enc, ok := multiByteCharsets[charset]; ok {
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			return dst, fmt.Errorf("decode %s: %w", charset, err)
		}
		return append(dst, out...), nil
	}
	return dst, fmt.Errorf("%w: %q", ErrUnsupportedCharset, charset)
}

// truncateTable returns the latest known version of db.table for a
// TRUNCATE, or a column-less stand-in when no row of it was seen yet.
func (s *schemas) truncateTable(db, table string) *Table {
	if t, ok := s.byName[db+"."+table]; ok {
		return t
	}
	return &Table{DB: db, Name: table}
}

const uuidHex = "0123456789abcdef"
