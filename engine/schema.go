package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
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
		if al, ok := def.byName(tm, t); ok {
			return al, nil
		}
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

// truncateTable returns the latest known version of db.table for a
// TRUNCATE, or a column-less stand-in when no row of it was seen yet.
func (s *schemas) truncateTable(db, table string) *Table {
	if t, ok := s.byName[db+"."+table]; ok {
		return t
	}
	return &Table{DB: db, Name: table}
}
