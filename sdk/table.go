package sdk

import "github.com/pumacdc/puma/hostabi/wire"

// KeyKind says where a table's key columns come from.
type KeyKind uint8

// Key kinds.
const (
	KeyNone    KeyKind = wire.KeyNone
	KeyPrimary KeyKind = wire.KeyPrimary // the table's primary key
	KeyConfig  KeyKind = wire.KeyConfig  // key_columns from the task's config
	KeyRow     KeyKind = wire.KeyRow     // no key: the whole row is the key
)

// String names the key kind as the envelope does.
func (k KeyKind) String() string {
	switch k {
	case KeyPrimary:
		return "primary"
	case KeyConfig:
		return "config"
	case KeyRow:
		return "row"
	}
	return "none"
}

// Column describes one column of a table.
type Column struct {
	Name     string
	Kind     Kind
	SQLType  byte   // MySQL binary-log type code
	Meta     uint16 // binary-log type metadata
	Unsigned bool
	Nullable bool
	Charset  string   // "utf8mb4", "binary", … empty for non-text columns
	Values   []string // ENUM or SET members
}

// MySQL binary-log type codes (Column.SQLType) the column helpers read.
const (
	sqlTimestamp  = 7
	sqlTime       = 11
	sqlDateTime   = 12
	sqlVarchar    = 15
	sqlTimestamp2 = 17
	sqlDateTime2  = 18
	sqlTime2      = 19
	sqlNewDecimal = 246
	sqlBlob       = 252
	sqlVarString  = 253
	sqlString     = 254
)

// Decimal returns a DECIMAL column's declared precision (total digits,
// 1–65) and scale (digits after the point, 0–30); ok is false for other
// columns, and for columns whose type the binary log did not carry (those
// an output schema added).
func (c *Column) Decimal() (precision, scale int, ok bool) {
	if c.Kind != KindDecimal || c.SQLType != sqlNewDecimal {
		return 0, 0, false
	}
	precision, scale = int(c.Meta>>8), int(c.Meta&0xff)
	return precision, scale, precision >= 1 && scale <= precision
}

// FracDigits returns a TIME, DATETIME or TIMESTAMP column's
// fractional-seconds precision: how many digits follow the seconds'
// point in its values, 0–6 (DATETIME(3) has 3). ok is false for other
// columns and those an output schema added.
func (c *Column) FracDigits() (n int, ok bool) {
	switch {
	case c.Kind != KindTime && c.Kind != KindDateTime && c.Kind != KindTimestamp:
		return 0, false
	case c.SQLType == sqlTime || c.SQLType == sqlDateTime || c.SQLType == sqlTimestamp:
		return 0, true // the types of before MySQL 5.6 have no fraction
	case c.SQLType == sqlTime2 || c.SQLType == sqlDateTime2 || c.SQLType == sqlTimestamp2:
		return int(c.Meta), c.Meta <= 6
	}
	return 0, false
}

// MaxBytes returns the most bytes a value of a text or binary column
// (String or Bytes kind) takes as stored: a CHAR or VARCHAR's declared
// length times its charset's widest character, a BINARY or VARBINARY's
// length, a BLOB or TEXT's limit (255, 65535, 16777215 or 4294967295).
// Values delivered as UTF-8 from another charset may take more. ok is
// false for other columns and those an output schema added.
func (c *Column) MaxBytes() (n int64, ok bool) {
	if c.Kind != KindString && c.Kind != KindBytes {
		return 0, false
	}
	switch c.SQLType {
	case sqlVarchar, sqlVarString:
		return int64(c.Meta), true
	case sqlString:
		// The binary log packs CHAR's real type and a length up to
		// 1023 into the metadata.
		if c.Meta < 256 {
			return int64(c.Meta), true
		}
		b0, b1 := c.Meta>>8, c.Meta&0xff
		if b0&0x30 != 0x30 {
			return int64(b1 | (b0&0x30^0x30)<<4), true
		}
		return int64(b1), true
	case sqlBlob:
		if c.Meta >= 1 && c.Meta <= 4 {
			return 1<<(8*c.Meta) - 1, true
		}
	}
	return 0, false
}

// MaxChars returns a CHAR or VARCHAR column's declared length in
// characters (VARCHAR(20) has 20), from MaxBytes and the widest character
// of its charset; ok is false for other columns (TEXT and BLOB declare no
// length in characters), binary ones, and charsets the SDK does not know.
func (c *Column) MaxChars() (n int, ok bool) {
	if c.Kind != KindString || (c.SQLType != sqlVarchar && c.SQLType != sqlVarString && c.SQLType != sqlString) {
		return 0, false
	}
	b, ok := c.MaxBytes()
	w := charsetWidth[c.Charset]
	if !ok || w == 0 {
		return 0, false
	}
	return int(b) / w, true
}

// charsetWidth is the widest character, in bytes, of the charsets a
// binary log commonly names.
var charsetWidth = map[string]int{
	"utf8mb4": 4, "utf8mb3": 3, "utf8": 3, "ascii": 1, "latin1": 1, "latin2": 1, "latin5": 1, "latin7": 1,
	"cp1250": 1, "cp1251": 1, "cp1256": 1, "cp1257": 1, "cp850": 1, "cp852": 1, "cp866": 1, "koi8r": 1, "koi8u": 1,
	"greek": 1, "hebrew": 1, "swe7": 1, "armscii8": 1, "geostd8": 1, "keybcs2": 1, "macce": 1, "macroman": 1,
	"hp8": 1, "dec8": 1, "tis620": 1, "ucs2": 2, "utf16": 4, "utf16le": 4, "utf32": 4,
	"big5": 2, "gbk": 2, "gb2312": 2, "sjis": 2, "cp932": 2, "euckr": 2, "ujis": 3, "eucjpms": 3, "gb18030": 4,
}

// Table is one version of a table's schema. It is immutable and lives as
// long as the plugin instance; a plugin may keep pointers to it (to cache
// per-table decisions, say).
type Table struct {
	DB, Name string
	Columns  []Column
	Key      []int // indexes of the key columns
	KeyKind  KeyKind
	// Version increases each time the table's shape changes.
	Version uint64

	id       uint32
	fullName string
	index    map[string]int

	// For input tables: the output shape, resolved on first use.
	resolved bool
	out      *Table
	// For output tables: the input column each column comes from, -1 for
	// added columns; announced once sent to the host.
	from      []int
	announced bool
}

// FullName returns "db.name".
func (t *Table) FullName() string { return t.fullName }

// Index returns the index of the column named name, or -1.
func (t *Table) Index(name string) int {
	if i, ok := t.index[name]; ok {
		return i
	}
	return -1
}

func newTable(w *wire.Table) *Table {
	t := &Table{DB: w.DB, Name: w.Name, KeyKind: KeyKind(w.KeyKind), Version: w.Version, id: w.ID}
	t.Columns = make([]Column, len(w.Columns))
	for i, c := range w.Columns {
		t.Columns[i] = Column{
			Name: c.Name, Kind: Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta,
			Unsigned: c.Flags&wire.ColUnsigned != 0, Nullable: c.Flags&wire.ColNullable != 0,
			Charset: c.Charset, Values: c.Values,
		}
	}
	t.Key = make([]int, len(w.Key))
	for i, k := range w.Key {
		t.Key[i] = int(k)
	}
	t.finish()
	return t
}

func (t *Table) finish() {
	t.fullName = t.DB + "." + t.Name
	t.index = make(map[string]int, len(t.Columns))
	for i, c := range t.Columns {
		if _, dup := t.index[c.Name]; !dup {
			t.index[c.Name] = i
		}
	}
}

func (t *Table) wire() *wire.Table {
	w := &wire.Table{ID: t.id, Version: t.Version, DB: t.DB, Name: t.Name, KeyKind: uint8(t.KeyKind)}
	w.Columns = make([]wire.Column, len(t.Columns))
	for i, c := range t.Columns {
		var flags uint8
		if c.Unsigned {
			flags |= wire.ColUnsigned
		}
		if c.Nullable {
			flags |= wire.ColNullable
		}
		w.Columns[i] = wire.Column{Name: c.Name, Kind: wire.Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta, Flags: flags, Charset: c.Charset, Values: c.Values}
	}
	w.Key = make([]uint16, len(t.Key))
	for i, k := range t.Key {
		w.Key[i] = uint16(k)
	}
	return w
}

// Schema is a handler's output shape for one input table, as OutputSchema
// builds it. Its methods report false when the column they name does not
// exist (or, for Add and Rename, when the new name is taken).
type Schema struct {
	in      *Table
	db      string
	name    string
	cols    []Column
	from    []int
	changed bool
}

// Table returns the output table's database and name.
func (s *Schema) Table() (db, name string) { return s.db, s.name }

// RenameTable sets the output table's database and name.
func (s *Schema) RenameTable(db, name string) {
	if db != s.db || name != s.name {
		s.db, s.name, s.changed = db, name, true
	}
}

// Columns returns the output columns so far; do not modify it.
func (s *Schema) Columns() []Column { return s.cols }

func (s *Schema) find(name string) int {
	for i := range s.cols {
		if s.cols[i].Name == name {
			return i
		}
	}
	return -1
}

// Add appends a nullable column; rows carry it absent until Set.
func (s *Schema) Add(name string, kind Kind) bool {
	if s.find(name) >= 0 || !kind.Valid() {
		return false
	}
	s.cols = append(s.cols, Column{Name: name, Kind: kind, Nullable: true})
	s.from = append(s.from, -1)
	s.changed = true
	return true
}

// Drop removes a column.
func (s *Schema) Drop(name string) bool {
	i := s.find(name)
	if i < 0 {
		return false
	}
	s.cols = append(s.cols[:i], s.cols[i+1:]...)
	s.from = append(s.from[:i], s.from[i+1:]...)
	s.changed = true
	return true
}

// Rename renames a column.
func (s *Schema) Rename(old, name string) bool {
	i := s.find(old)
	if i < 0 || (old != name && s.find(name) >= 0) {
		return false
	}
	if old != name {
		s.cols[i].Name = name
		s.changed = true
	}
	return true
}

// outputOf returns the table rows of in are written as: in itself, or the
// output table the registered schema function made for it.
func (p *plugin) outputOf(in *Table) *Table {
	if in.resolved {
		return in.out
	}
	in.resolved, in.out = true, in
	if p.fn.OutputSchema == nil {
		return in
	}
	s := &Schema{in: in, db: in.DB, name: in.Name}
	s.cols = append([]Column(nil), in.Columns...)
	s.from = make([]int, len(in.Columns))
	for i := range s.from {
		s.from[i] = i
	}
	p.fn.OutputSchema(in, s)
	if !s.changed {
		return in
	}
	p.nextOut++
	out := &Table{DB: s.db, Name: s.name, Columns: s.cols, KeyKind: in.KeyKind, Version: in.Version, id: wire.OutputTable | p.nextOut, from: s.from}
	// Key columns that survive keep their role (columns added are not
	// part of the key, even of a whole-row key: they are derived); a key
	// that lost a column becomes the whole row.
	lost := false
	for _, k := range in.Key {
		j := -1
		for i, f := range s.from {
			if f == k {
				j = i
			}
		}
		if j < 0 {
			out.Key, out.KeyKind, lost = nil, KeyRow, true
			break
		}
		out.Key = append(out.Key, j)
	}
	if lost {
		out.Key = make([]int, len(out.Columns))
		for i := range out.Key {
			out.Key[i] = i
		}
	}
	out.finish()
	in.out = out
	return out
}
