package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Table definitions read from the source's information_schema.
//
// They serve two purposes. With schema = "live" (binlog_row_metadata
// MINIMAL or NO_LOG) they are the only source of column names, primary
// keys, ENUM/SET members and, with NO_LOG, signedness and charsets; every
// TABLE_MAP is then checked against the definition in use (count and
// types of the columns), and a mismatch stops the task with a
// *SchemaMismatchError instead of mislabelling a row. With FULL metadata
// they only tell apart the MariaDB types the binary log cannot: JSON
// (LONGTEXT with a json_valid CHECK), UUID and INET6 (BINARY(16)) and
// INET4 (BINARY(4)); a definition is used there only when it agrees with
// the TABLE_MAP on every column's name, type, length and charset.
//
// information_schema describes the table as it is now, not as it was when
// a row was written. So a definition, once read, is kept (and saved with
// the checkpoint: see schemaState) until the reader sees a DDL statement
// naming the table; only then is it read again, at the table's next rows.
// What stays unprovable is a definition read while the reader lags behind
// a later DDL of the same table: under "live" a DDL that keeps the number
// and types of the columns (a renamed column, or one dropped and another
// of the same type added) mislabels rows; under FULL only an ALTER that
// changes a column between LONGTEXT and JSON, or BINARY(16) and
// UUID/INET6, or BINARY(4) and INET4, and nothing else, can: the values
// then come as the other type (text for JSON or the reverse, both always
// valid JSON; bytes for UUID text or the reverse), never garbled.

// ErrNoDefinition: schema = "live" found no definition of a table in
// information_schema.
var ErrNoDefinition = errors.New("table not found in information_schema")

// SchemaMismatchError reports a TABLE_MAP that does not fit the table
// definition in use under schema = "live": the table changed while the
// task was behind, and reading on would mislabel rows.
type SchemaMismatchError struct {
	Table string
	// Binlog lists the column types of the TABLE_MAP; InUse the columns
	// ("name type") of the definition in use.
	Binlog []string
	InUse  []string
	// Detail names the first differing column, when the counts agree.
	Detail string
}

func (e *SchemaMismatchError) Error() string {
	msg := fmt.Sprintf("table %s: binary log has %d columns (%s), schema in use has %d (%s)",
		e.Table, len(e.Binlog), strings.Join(e.Binlog, ", "), len(e.InUse), strings.Join(e.InUse, ", "))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + `; the table changed after these rows were written, and schema = "live" only knows its current definition: set binlog_row_metadata=FULL on the source and start the task from a position logged with it`
}

// catalog reads table definitions from the source. It is a seam for tests.
type catalog interface {
	// tableDef returns db.table's current definition, nil when the source
	// shows no such table.
	tableDef(ctx context.Context, db, table string) (*tableDef, error)
}

// tableDef is a table's definition as information_schema shows it.
type tableDef struct {
	Columns []colDef `json:"columns"`
	// Key lists the primary key's columns, in key order.
	Key []string `json:"key,omitempty"`
}

// colDef is one column of a tableDef.
type colDef struct {
	Name string `json:"name"`
	// Type is information_schema's DATA_TYPE, lower case: "int",
	// "varchar", "longtext", "uuid", "enum".
	Type     string `json:"type"`
	Unsigned bool   `json:"unsigned,omitempty"`
	// Charset is the column's character set; "binary" for binary string
	// types, empty for others.
	Charset string   `json:"charset,omitempty"`
	Values  []string `json:"values,omitempty"`
	// JSON marks a MariaDB JSON column (LONGTEXT CHECK (json_valid(col))).
	JSON bool `json:"json,omitempty"`
}

func (d *tableDef) names() []string {
	names := make([]string, len(d.Columns))
	for i := range d.Columns {
		names[i] = d.Columns[i].Name
	}
	return names
}

func (d *tableDef) describe() []string {
	out := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		out[i] = c.Name + " " + c.Type
		if c.Unsigned {
			out[i] += " unsigned"
		}
	}
	return out
}

// agrees reports whether d describes t, built from a FULL TABLE_MAP: the
// same columns, names, types, lengths and charsets.
func (d *tableDef) agrees(tm *replication.TableMapEvent, t *Table) bool {
	if len(d.Columns) != len(t.Columns) {
		return false
	}
	for i := range t.Columns {
		c, dc := &t.Columns[i], &d.Columns[i]
		if !strings.EqualFold(c.Name, dc.Name) || !typeAccepts(dc.Type, tm, i) || (hasSignedness(tm, i) && c.Unsigned != dc.Unsigned) {
			return false
		}
		if (c.Kind == KindString || c.Kind == KindBytes) && c.Charset != dc.Charset {
			return false
		}
	}
	return true
}

// byName aligns d, a table's definition now, to t, the table as the
// binary log describes rows written before the table changed: each of t's
// columns takes the definition of d's column of the same name, which must
// agree with it as agrees requires. A table that gained, lost or
// reordered columns since still tells, by name, which of the older rows'
// BINARY(16) columns are UUIDs and which LONGTEXT ones JSON. ok is false
// when a column of t is not in d or no longer agrees (it was retyped). The
// key is kept when all its columns are in t.
func (d *tableDef) byName(tm *replication.TableMapEvent, t *Table) (*tableDef, bool) {
	out := &tableDef{Columns: make([]colDef, len(t.Columns))}
	for i := range t.Columns {
		c := &t.Columns[i]
		j := slices.IndexFunc(d.Columns, func(dc colDef) bool { return strings.EqualFold(dc.Name, c.Name) })
		if j < 0 {
			return nil, false
		}
		dc := &d.Columns[j]
		if !typeAccepts(dc.Type, tm, i) || (hasSignedness(tm, i) && c.Unsigned != dc.Unsigned) ||
			(c.Kind == KindString || c.Kind == KindBytes) && c.Charset != dc.Charset {
			return nil, false
		}
		out.Columns[i] = *dc
	}
	for _, k := range d.Key {
		if !slices.ContainsFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, k) }) {
			return out, true
		}
	}
	out.Key = d.Key
	return out, true
}

// checkShape checks a TABLE_MAP against the definition in use under
// schema = "live": column count, binary-log types, and signedness when the
// TABLE_MAP carries it (MINIMAL metadata).
func checkShape(tm *replication.TableMapEvent, d *tableDef) error {
	n := int(tm.ColumnCount)
	unsigned := tm.UnsignedMap()
	hasSign := len(tm.SignednessBitmap) > 0
	mismatch := func(detail string) error {
		bl := make([]string, n)
		for i := range n {
			bl[i] = binlogTypeName(tm, i, hasSign && unsigned[i])
		}
		return &SchemaMismatchError{Table: string(tm.Schema) + "." + string(tm.Table), Binlog: bl, InUse: d.describe(), Detail: detail}
	}
	if n != len(d.Columns) {
		return mismatch("")
	}
	for i := range n {
		c := &d.Columns[i]
		if !typeAccepts(c.Type, tm, i) {
			return mismatch(fmt.Sprintf("column %d (%s) is %s in the binary log, %s in the schema in use", i+1, c.Name, binlogTypeName(tm, i, hasSign && unsigned[i]), c.Type))
		}
		if hasSign && hasSignedness(tm, i) && unsigned[i] != c.Unsigned {
			return mismatch(fmt.Sprintf("column %d (%s) differs in signedness", i+1, c.Name))
		}
	}
	return nil
}

// hasSignedness reports whether TABLE_MAP column i is a number that can be
// signed or not. YEAR counts as numeric in the TABLE_MAP, always unsigned,
// while information_schema never calls it unsigned.
func hasSignedness(tm *replication.TableMapEvent, i int) bool {
	return tm.IsNumericColumn(i) && tm.ColumnType[i] != mysql.MYSQL_TYPE_YEAR
}

// realType is a TABLE_MAP column's type with ENUM and SET (logged as
// STRING) told apart.
func realType(tm *replication.TableMapEvent, i int) byte {
	t := tm.ColumnType[i]
	if t == mysql.MYSQL_TYPE_STRING && tm.ColumnMeta[i] >= 256 {
		if rt := byte(tm.ColumnMeta[i] >> 8); rt == mysql.MYSQL_TYPE_ENUM || rt == mysql.MYSQL_TYPE_SET {
			return rt
		}
	}
	return t
}

// stringLength is the declared byte length of a CHAR/BINARY column.
func stringLength(meta uint16) int {
	if meta >= 256 {
		b0, b1 := byte(meta>>8), byte(meta&0xff)
		if b0&0x30 != 0x30 {
			return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
		}
		return int(b1)
	}
	return int(meta)
}

// typeAccepts reports whether a column of information_schema DATA_TYPE
// typ is logged as TABLE_MAP column i.
func typeAccepts(typ string, tm *replication.TableMapEvent, i int) bool {
	rt, meta := realType(tm, i), tm.ColumnMeta[i]
	is := func(ts ...byte) bool { return slices.Contains(ts, rt) }
	switch typ {
	case "tinyint", "bool", "boolean":
		return is(mysql.MYSQL_TYPE_TINY)
	case "smallint":
		return is(mysql.MYSQL_TYPE_SHORT)
	case "mediumint":
		return is(mysql.MYSQL_TYPE_INT24)
	case "int", "integer":
		return is(mysql.MYSQL_TYPE_LONG)
	case "bigint":
		return is(mysql.MYSQL_TYPE_LONGLONG)
	case "float":
		return is(mysql.MYSQL_TYPE_FLOAT)
	case "double", "real", "double precision":
		return is(mysql.MYSQL_TYPE_DOUBLE)
	case "decimal", "numeric", "fixed":
		return is(mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL)
	case "year":
		return is(mysql.MYSQL_TYPE_YEAR)
	case "date":
		return is(mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE)
	case "time":
		return is(mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2)
	case "datetime":
		return is(mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2)
	case "timestamp":
		return is(mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2)
	case "bit":
		return is(mysql.MYSQL_TYPE_BIT)
	case "char", "binary":
		return is(mysql.MYSQL_TYPE_STRING)
	case "uuid", "inet6":
		return is(mysql.MYSQL_TYPE_STRING) && stringLength(meta) == 16
	case "inet4":
		return is(mysql.MYSQL_TYPE_STRING) && stringLength(meta) == 4
	case "varchar", "varbinary":
		return is(mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING)
	case "tinytext", "tinyblob":
		return is(mysql.MYSQL_TYPE_BLOB) && meta == 1
	case "text", "blob":
		return is(mysql.MYSQL_TYPE_BLOB) && meta == 2
	case "mediumtext", "mediumblob":
		return is(mysql.MYSQL_TYPE_BLOB) && meta == 3
	case "longtext", "longblob":
		return is(mysql.MYSQL_TYPE_BLOB) && meta == 4
	case "json":
		return is(mysql.MYSQL_TYPE_JSON) || (is(mysql.MYSQL_TYPE_BLOB) && meta == 4)
	case "enum":
		return is(mysql.MYSQL_TYPE_ENUM)
	case "set":
		return is(mysql.MYSQL_TYPE_SET)
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		return is(mysql.MYSQL_TYPE_GEOMETRY)
	case "vector":
		return is(mysql.MYSQL_TYPE_VECTOR)
	}
	return false
}

// binlogTypeName names TABLE_MAP column i's type for messages.
func binlogTypeName(tm *replication.TableMapEvent, i int, unsigned bool) string {
	var name string
	switch realType(tm, i) {
	case mysql.MYSQL_TYPE_TINY:
		name = "tinyint"
	case mysql.MYSQL_TYPE_SHORT:
		name = "smallint"
	case mysql.MYSQL_TYPE_INT24:
		name = "mediumint"
	case mysql.MYSQL_TYPE_LONG:
		name = "int"
	case mysql.MYSQL_TYPE_LONGLONG:
		name = "bigint"
	case mysql.MYSQL_TYPE_FLOAT:
		name = "float"
	case mysql.MYSQL_TYPE_DOUBLE:
		name = "double"
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
		name = "decimal"
	case mysql.MYSQL_TYPE_YEAR:
		name = "year"
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		name = "date"
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		name = "time"
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		name = "datetime"
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		name = "timestamp"
	case mysql.MYSQL_TYPE_BIT:
		name = "bit"
	case mysql.MYSQL_TYPE_STRING:
		name = fmt.Sprintf("char/binary(%d bytes)", stringLength(tm.ColumnMeta[i]))
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		name = "varchar/varbinary"
	case mysql.MYSQL_TYPE_BLOB:
		name = [...]string{"blob", "tinytext/tinyblob", "text/blob", "mediumtext/mediumblob", "longtext/longblob"}[min(tm.ColumnMeta[i], 4)]
	case mysql.MYSQL_TYPE_JSON:
		name = "json"
	case mysql.MYSQL_TYPE_GEOMETRY:
		name = "geometry"
	case mysql.MYSQL_TYPE_ENUM:
		name = "enum"
	case mysql.MYSQL_TYPE_SET:
		name = "set"
	case mysql.MYSQL_TYPE_VECTOR:
		name = "vector"
	default:
		name = fmt.Sprintf("type %d", tm.ColumnType[i])
	}
	if unsigned {
		name += " unsigned"
	}
	return name
}

// schemaState is the table definitions a task has read, by "db.table":
// the schema versions in use at the reader's position. It is saved with
// the checkpoint (Checkpoint.Schemas) through the batches that close
// transactions, so a restart reads old rows with the definitions they
// were read with, not with the source's newer ones.
//
// A schemaState is owned by the reader goroutine; the encodings it hands
// out are immutable.
type schemaState struct {
	tables map[string]*tableState
	enc    []byte
	dirty  bool
}

type tableState struct {
	// Def is nil when the source showed no such table.
	Def *tableDef `json:"def,omitempty"`
	// Stale is set when a DDL statement naming the table was seen since
	// Def was read: it is read again when next needed.
	Stale bool `json:"stale,omitempty"`
}

// schemaStateVersion is the version of the saved encoding.
const schemaStateVersion = 1

type savedSchemas struct {
	Version int                    `json:"version"`
	Tables  map[string]*tableState `json:"tables"`
}

func newSchemaState() *schemaState {
	return &schemaState{tables: make(map[string]*tableState)}
}

// decodeSchemaState restores the state saved in a checkpoint.
func decodeSchemaState(b []byte) (*schemaState, error) {
	st := newSchemaState()
	if len(b) == 0 {
		return st, nil
	}
	var saved savedSchemas
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("checkpoint schemas: %w", err)
	}
	if saved.Version != schemaStateVersion {
		return nil, fmt.Errorf("checkpoint schemas: version %d, want %d", saved.Version, schemaStateVersion)
	}
	for k, v := range saved.Tables {
		if v != nil {
			st.tables[k] = v
		}
	}
	st.enc = b
	return st, nil
}

// encoded returns the state's encoding for a checkpoint, nil when empty.
// The slice is shared and must not be modified.
func (st *schemaState) encoded() []byte {
	if st == nil {
		return nil
	}
	if !st.dirty {
		return st.enc
	}
	// A table the source did not show is not worth saving: a restart asks
	// again.
	tables := make(map[string]*tableState, len(st.tables))
	for k, v := range st.tables {
		if v.Def != nil || v.Stale {
			tables[k] = v
		}
	}
	b, err := json.Marshal(savedSchemas{Version: schemaStateVersion, Tables: tables})
	if err != nil {
		panic("engine: encode schema state: " + err.Error()) // plain data: cannot fail
	}
	st.enc, st.dirty = b, false
	return b
}

// put records def as the definition in use of key ("db.table").
func (st *schemaState) put(key string, def *tableDef) {
	st.tables[key] = &tableState{Def: def}
	st.dirty = true
}

// touch marks stale the tables a DDL statement may change: any table it
// names, and every table of a database it names in a DATABASE/SCHEMA
// statement. Naming is judged by identifier only, ignoring databases and
// quoting: a false alarm costs one information_schema read.
func (st *schemaState) touch(db, stmt string) {
	if len(st.tables) == 0 {
		return
	}
	words := sqlWords(stmt)
	dbLevel := false
	for _, w := range words[:min(len(words), 4)] {
		if strings.EqualFold(w, "DATABASE") || strings.EqualFold(w, "SCHEMA") {
			dbLevel = true
		}
	}
	for key, ts := range st.tables {
		if ts.Stale {
			continue
		}
		tdb, table, _ := strings.Cut(key, ".")
		for _, w := range words {
			if strings.EqualFold(w, table) || (dbLevel && strings.EqualFold(w, tdb)) {
				st.tables[key] = &tableState{Def: ts.Def, Stale: true}
				st.dirty = true
				break
			}
		}
	}
}

// sqlWords splits a statement into identifiers and keywords; quoted
// identifiers are unquoted, strings and comments are kept as words too.
func sqlWords(s string) []string {
	var words []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '`' || c == '"':
			j := i + 1
			var w strings.Builder
			for j < len(s) {
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						w.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				w.WriteByte(s[j])
				j++
			}
			words = append(words, w.String())
			i = j + 1
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			words = append(words, s[i:j])
			i = j
		default:
			i++
		}
	}
	return words
}

func isIdentByte(c byte) bool {
	return c >= 0x80 || c == '_' || c == '$' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// catalogTimeout bounds one definition read.
const catalogTimeout = 30 * time.Second

// sourceCatalog reads definitions over a SQL connection to the source the
// task streams from, opened when first needed. It is owned by the reader
// goroutine; close it when the stream ends.
type sourceCatalog struct {
	src    Source
	flavor string
	conn   *client.Conn
}

var _ catalog = (*sourceCatalog)(nil)

func newSourceCatalog(src Source, flavor string) *sourceCatalog {
	return &sourceCatalog{src: src, flavor: flavor}
}

func (c *sourceCatalog) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *sourceCatalog) tableDef(ctx context.Context, db, table string) (*tableDef, error) {
	def, err := c.read(ctx, db, table)
	if err != nil {
		c.close()
		return nil, &sourceError{fmt.Errorf("table %s.%s: read its definition from information_schema on %s: %w", db, table, c.src.Addr, err)}
	}
	return def, nil
}

func (c *sourceCatalog) read(ctx context.Context, db, table string) (*tableDef, error) {
	if c.conn == nil {
		conn, err := connect(ctx, c.src)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	if err := c.conn.SetDeadline(time.Now().Add(catalogTimeout)); err != nil {
		return nil, err
	}
	// A DDL between the queries would mix two definitions: read the
	// columns again at the end and start over if they changed.
	for range 3 {
		def, err := c.columns(db, table)
		if err != nil || def == nil {
			return def, err
		}
		if err := c.details(def, db, table); err != nil {
			return nil, err
		}
		again, err := c.columns(db, table)
		if err != nil {
			return nil, err
		}
		if again != nil && slices.EqualFunc(again.Columns, def.Columns, func(a, b colDef) bool {
			return a.Name == b.Name && a.Type == b.Type && a.Unsigned == b.Unsigned && a.Charset == b.Charset && slices.Equal(a.Values, b.Values)
		}) {
			return def, nil
		}
	}
	return nil, fmt.Errorf("the definition kept changing while it was read")
}

// sqlText is s as a string literal of a query sent as text. The catalog's
// queries are not prepared: MariaDB 10.11 has crashed (SIGSEGV in
// free_tmp_table, dropping the Aria table an information_schema query
// fills) executing such a prepared statement. A hex literal reads the same
// whatever the session's sql_mode (NO_BACKSLASH_ESCAPES).
func sqlText(s string) string { return "_utf8mb4 X'" + hex.EncodeToString([]byte(s)) + "'" }

func (c *sourceCatalog) columns(db, table string) (*tableDef, error) {
	r, err := c.conn.Execute(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ` + sqlText(db) + ` AND TABLE_NAME = ` + sqlText(table) + ` ORDER BY ORDINAL_POSITION`)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.RowNumber() == 0 {
		return nil, nil
	}
	def := &tableDef{Columns: make([]colDef, r.RowNumber())}
	for i := range r.RowNumber() {
		col := &def.Columns[i]
		col.Name = cellString(r, i, 0)
		col.Type = strings.ToLower(cellString(r, i, 1))
		colType := cellString(r, i, 2)
		col.Charset = cellString(r, i, 3)
		col.Unsigned = strings.Contains(strings.ToLower(colType), " unsigned")
		switch col.Type {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "uuid", "inet4", "inet6":
			col.Charset = "binary"
		case "enum", "set":
			if col.Values, err = parseMembers(colType); err != nil {
				return nil, fmt.Errorf("column %s: %w", col.Name, err)
			}
		case "json":
			col.JSON = true
		}
	}
	return def, nil
}

// details adds the primary key and, on MariaDB, the JSON columns.
func (c *sourceCatalog) details(def *tableDef, db, table string) error {
	r, err := c.conn.Execute(`SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ` + sqlText(db) + ` AND TABLE_NAME = ` + sqlText(table) + ` AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`)
	if err != nil {
		return err
	}
	for i := range r.RowNumber() {
		def.Key = append(def.Key, cellString(r, i, 0))
	}
	r.Close()
	if c.flavor != mysql.MariaDBFlavor {
		return nil
	}
	// MariaDB's JSON is LONGTEXT with the column CHECK json_valid(`col`);
	// a user's own CHECK on a JSON column replaces it, and then the column
	// is delivered as text.
	r, err = c.conn.Execute(`SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ` + sqlText(db) + ` AND TABLE_NAME = ` + sqlText(table) + ` AND LEVEL = 'Column'`)
	if err != nil {
		return err
	}
	defer r.Close()
	for i := range r.RowNumber() {
		name, clause := cellString(r, i, 0), cellString(r, i, 1)
		for j := range def.Columns {
			col := &def.Columns[j]
			if col.Name == name && col.Type == "longtext" && clause == "json_valid("+quoteIdent(col.Name)+")" {
				col.JSON = true
			}
		}
	}
	return nil
}

func cellString(r *mysql.Result, row, col int) string {
	s, _ := r.GetString(row, col)
	return strings.Clone(s)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// parseMembers reads the members of an ENUM or SET as
// information_schema.COLUMNS.COLUMN_TYPE writes them: enum('a','b') with
// quotes inside members doubled.
func parseMembers(colType string) ([]string, error) {
	open := strings.IndexByte(colType, '(')
	if open < 0 || !strings.HasSuffix(colType, ")") {
		return nil, fmt.Errorf("cannot read members of %q", colType)
	}
	s := colType[open+1 : len(colType)-1]
	var out []string
	for i := 0; i < len(s); {
		if s[i] != '\'' {
			return nil, fmt.Errorf("cannot read members of %q", colType)
		}
		var m strings.Builder
		j := i + 1
		for ; j < len(s); j++ {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					m.WriteByte('\'')
					j++
					continue
				}
				break
			}
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			m.WriteByte(s[j])
		}
		out = append(out, m.String())
		i = j + 1
		if i < len(s) && s[i] == ',' {
			i++
		}
	}
	return out, nil
}

// sourceError marks an error talking to the source outside the binary log
// stream: the reader reconnects and resumes instead of stopping the task.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }
