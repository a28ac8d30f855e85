package engine

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pumacdc/puma/engine/internal/cjk"
)

// rowDecoder decodes rows events straight into Change values. It is
// installed as go-mysql's BinlogSyncerConfig.RowsEventDecodeFunc, so it runs
// on go-mysql's reading goroutine, overlapping with the reader, and does
// less than go-mysql's own decoder: no fmt.Sprintf for temporal values, no
// big.Int for DECIMAL, no per-row UnsignedMap, one []any block for many
// rows, one byte arena for the values it renders, and UTF-8 text and
// bytes handed out as the event holds them, without a copy.
//
// For every column the decoder either delivers the final value, exactly as
// convert would have made it from go-mysql's value, or, where the final
// value depends on what only the reader knows (the table definition from
// information_schema: MariaDB's JSON, UUID and INET columns, and anything
// binlog_row_metadata did not log), go-mysql's value, which the reader then
// converts (see decodePlan.deferred). Events it cannot decode itself
// (compressed, partial JSON updates, MySQL's binary JSON) are decoded by
// go-mysql and converted here; partial images and tables with a type or
// charset the plan does not cover are left to go-mysql and the reader
// entirely, as before the decoder. Rows of tables the task does not read
// are not decoded at all.
//
// The result travels in the event itself: RowsEvent.Rows holds the images
// followed by one pseudo-row, []any{*decodeResult}, which decodedRows
// takes off. An event without it (a parser without the hook) is read the
// old way, converting every value in the reader.
//
// A rowDecoder belongs to one connection and is used by one goroutine at a
// time (go-mysql's); what it hands out (plans, values) is immutable.
type rowDecoder struct {
	flavor     string
	collations map[uint64]string
	match      func(db, table string) bool

	plans map[uint64]*planEntry // by table id
	rows  rowsBlock
	vals  valueBlock
	text  textArena
	box   boxes
}

type planEntry struct {
	tm   *replication.TableMapEvent
	plan *decodePlan
	// rowBytes is the mean size of a row image in the last event.
	rowBytes int
}

// newRowDecoder returns a decoder for a source of flavor whose collation
// ids name the charsets in collations (nil: the built-in table). Rows of
// tables match rejects are not decoded at all (nil: decode every table).
func newRowDecoder(flavor string, collations map[uint64]string, match func(db, table string) bool) *rowDecoder {
	return &rowDecoder{flavor: flavor, collations: collations, match: match, plans: make(map[uint64]*planEntry)}
}

// decodeResult is the marker the decoder appends to RowsEvent.Rows.
type decodeResult struct {
	plan *decodePlan
	// col and err report the first value that could not be converted.
	col int
	err error
}

// marker returns the pseudo-row carrying r.
func (r *decodeResult) marker() []any {
	if r == r.plan.done {
		return r.plan.doneRow
	}
	return []any{r}
}

// decodedRows returns the row images of e and, when the rowDecoder
// decoded it, its result.
func decodedRows(e *replication.RowsEvent) ([][]any, *decodeResult) {
	n := len(e.Rows)
	if n == 0 || len(e.Rows[n-1]) != 1 {
		return e.Rows, nil
	}
	res, ok := e.Rows[n-1][0].(*decodeResult)
	if !ok {
		return e.Rows, nil
	}
	return e.Rows[: n-1 : n-1], res
}

// decode is the RowsEventDecodeFunc.
func (d *rowDecoder) decode(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	pe := d.plan(e.Table)
	p := pe.plan
	if p.skip {
		e.Rows, e.SkippedColumns = [][]any{p.doneRow}, nil
		return nil
	}
	if p.fast && !p.goMySQL && plainRowsEvent(e) && int(e.ColumnCount) == len(p.ops) &&
		allSet(e.ColumnBitmap1, len(p.ops)) && (e.ColumnBitmap2 == nil || allSet(e.ColumnBitmap2, len(p.ops))) {
		return d.decodeRows(e, pe, data[pos:])
	}
	if err := e.DecodeData(pos, data); err != nil {
		return err
	}
	d.convertRows(e, p)
	return nil
}

// plan returns the decode plan of tm, reusing the previous one of its table
// id when the TABLE_MAP is the same (a new one comes with every
// transaction).
func (d *rowDecoder) plan(tm *replication.TableMapEvent) *planEntry {
	if pe, ok := d.plans[tm.TableID]; ok {
		if pe.tm == tm {
			return pe
		}
		if sameTableMap(pe.tm, tm) {
			pe.tm = tm
			return pe
		}
	}
	var p *decodePlan
	if d.match != nil && !d.match(string(tm.Schema), string(tm.Table)) {
		p = &decodePlan{skip: true}
		p.done = &decodeResult{plan: p}
		p.doneRow = []any{p.done}
	} else {
		p = newDecodePlan(tm, d.flavor, func(id uint64) string { return charsetName(d.collations, id) })
	}
	if len(d.plans) > 4096 {
		clear(d.plans) // table ids only grow: forget the old ones
	}
	pe := &planEntry{tm: tm, plan: p, rowBytes: p.rowBytes}
	d.plans[tm.TableID] = pe
	return pe
}

// convertRows converts the values go-mysql decoded to Change values, but
// for the deferred columns, in place.
func (d *rowDecoder) convertRows(e *replication.RowsEvent, p *decodePlan) {
	if !p.fast {
		return // no marker: the reader converts every value
	}
	for _, skipped := range e.SkippedColumns {
		if len(skipped) > 0 {
			return // a partial image, which the reader refuses
		}
	}
	for _, row := range e.Rows {
		if len(row) != len(p.cols) {
			return // the reader reports it
		}
	}
	res := p.done
	for _, row := range e.Rows {
		for i, v := range row {
			if p.deferred[i] {
				continue
			}
			x, err := convert(&p.cols[i], v)
			if err != nil {
				if res.err == nil {
					res = &decodeResult{plan: p, col: i, err: err}
				}
				continue
			}
			row[i] = x
		}
	}
	e.Rows = append(e.Rows, res.marker())
}

// decodeRows decodes the row images of a full-image rows event.
func (d *rowDecoder) decodeRows(e *replication.RowsEvent, pe *planEntry, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode rows of %s.%s: malformed event (%v)", e.Table.Schema, e.Table.Table, r)
		}
	}()
	// Capped, so that a value running past the event's end (into the
	// checksum go-mysql cut off) fails instead of reading on.
	data = data[:len(data):len(data)]
	p := pe.plan
	n := len(p.ops)
	images := 1
	if e.ColumnBitmap2 != nil {
		images = 2
	}
	rows := d.rows.rows(len(data)/max(pe.rowBytes, 1) + 2)
	nullBytes := (n + 7) / 8
	res := p.done
	pos := 0
	for pos < len(data) {
		for range images {
			row := d.vals.row(n)
			nulls := data[pos : pos+nullBytes]
			pos += nullBytes
			for i := range p.ops {
				if nulls[i>>3]&(1<<(i&7)) != 0 {
					continue // the block is zeroed: nil
				}
				v, m, verr := d.value(&p.ops[i], data[pos:])
				pos += m
				if verr != nil {
					if errors.Is(verr, errMalformed) {
						return fmt.Errorf("decode rows of %s.%s column %d: %w", e.Table.Schema, e.Table.Table, i+1, verr)
					}
					if res.err == nil {
						res = &decodeResult{plan: p, col: i, err: verr}
					}
					continue
				}
				row[i] = v
			}
			rows = append(rows, row)
		}
	}
	pe.rowBytes = len(data) / max(len(rows), 1)
	e.Rows = append(rows, res.marker())
	e.SkippedColumns = nil
	return nil
}

var errMalformed = errors.New("malformed value")

// plainRowsEvent reports whether e is a v1 or v2 write, update or delete
// rows event: not MariaDB's compressed ones, nor MySQL's partial JSON
// updates, nor the pre-GA v0. go-mysql keeps the type unexported and
// RowsEvent.Type cannot tell a compressed event from a plain one, so it is
// read by reflection (see rowsEventTypeField; a test pins it).
func plainRowsEvent(e *replication.RowsEvent) bool {
	if rowsEventTypeField < 0 {
		return false
	}
	switch replication.EventType(reflect.ValueOf(e).Elem().Field(rowsEventTypeField).Uint()) {
	case replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2:
		return true
	}
	return false
}

// rowsEventTypeField is the index of RowsEvent's unexported eventType
// field, -1 if this go-mysql has none (then every event is decoded by
// go-mysql).
var rowsEventTypeField = func() int {
	f, ok := reflect.TypeFor[replication.RowsEvent]().FieldByName("eventType")
	if !ok || f.Type != reflect.TypeFor[replication.EventType]() || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}()

func allSet(bitmap []byte, n int) bool {
	if len(bitmap) < (n+7)/8 {
		return false
	}
	for i := range n / 8 {
		if bitmap[i] != 0xff {
			return false
		}
	}
	if r := n % 8; r != 0 && bitmap[n/8]&(1<<r-1) != 1<<r-1 {
		return false
	}
	return true
}

// sameTableMap reports whether two TABLE_MAP events describe the same
// table the same way (every field schemas and decodePlan read).
func sameTableMap(a, b *replication.TableMapEvent) bool {
	return a.TableID == b.TableID && a.ColumnCount == b.ColumnCount &&
		bytes.Equal(a.Schema, b.Schema) && bytes.Equal(a.Table, b.Table) &&
		bytes.Equal(a.ColumnType, b.ColumnType) && slices.Equal(a.ColumnMeta, b.ColumnMeta) &&
		bytes.Equal(a.NullBitmap, b.NullBitmap) && bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) &&
		slices.Equal(a.DefaultCharset, b.DefaultCharset) && slices.Equal(a.ColumnCharset, b.ColumnCharset) &&
		slices.Equal(a.EnumSetDefaultCharset, b.EnumSetDefaultCharset) && slices.Equal(a.EnumSetColumnCharset, b.EnumSetColumnCharset) &&
		slices.EqualFunc(a.EnumStrValue, b.EnumStrValue, equalBytesSlices) &&
		slices.EqualFunc(a.SetStrValue, b.SetStrValue, equalBytesSlices) &&
		equalBytesSlices(a.ColumnName, b.ColumnName) &&
		slices.Equal(a.PrimaryKey, b.PrimaryKey) && slices.Equal(a.PrimaryKeyPrefix, b.PrimaryKeyPrefix) &&
		slices.Equal(a.GeometryType, b.GeometryType) && bytes.Equal(a.VisibilityBitmap, b.VisibilityBitmap)
}

func equalBytesSlices(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// decodePlan is how the rowDecoder decodes the rows of one table version:
// an op per column, built from the TABLE_MAP alone. Immutable once built.
type decodePlan struct {
	// skip: the task does not read the table; its rows are not decoded
	// (the event's Rows hold the marker only).
	skip bool
	// fast: the columns are described well enough to convert here; if
	// not, no value is converted by the decoder.
	fast bool
	// goMySQL: a column only go-mysql decodes (MySQL's binary JSON): the
	// decoder converts go-mysql's values.
	goMySQL bool
	// cols are the columns as the TABLE_MAP alone describes them; the
	// reader checks that its Table agrees (sameDecoding) for every column
	// not deferred.
	cols []Column
	// deferred columns carry go-mysql's value, for the reader to convert
	// with its Table.
	deferred []bool
	ops      []colOp
	// rowBytes is a lower bound of a row image's size.
	rowBytes int
	// done is the result of an event decoded without error, doneRow its
	// marker.
	done    *decodeResult
	doneRow []any
}

// opCode says how a column's binary value is read and what it becomes.
type opCode uint8

const (
	opInvalid opCode = iota
	opInt            // signed integer of width bytes → int64
	opUint           // unsigned integer of width bytes → uint64
	opYear           // → int64
	opFloat          // → float32
	opDouble         // → float64
	opDecimal        // → exact text
	opBit            // big-endian width bytes → uint64
	opDate
	opTime     // TIME before 5.6
	opTime2    // → [-]HH:MM:SS[.f]
	opDatetime // DATETIME before 5.6
	opDatetime2
	opTimestamp // TIMESTAMP before 5.6 → RFC 3339
	opTimestamp2
	opEnum    // width-byte index → member
	opSet     // width-byte bitmap → members joined by ','
	opText    // width-byte length + bytes in charset → UTF-8 string
	opBytes   // width-byte length + bytes → []byte, padded to pad bytes
	opRawInt  // deferred: signed integer → int64 (go-mysql without signedness)
	opRawEnum // deferred: width-byte index or bitmap → int64
	opRawText // deferred: width-byte length + bytes → []byte
	opGoMySQL // decoded by go-mysql only
)

// textCharset is how an opText column's text becomes UTF-8.
type textCharset uint8

const (
	textOther  textCharset = iota // appendUTF8
	textUTF8                      // copied as is
	textLatin1                    // appendLatin1
	textCJK                       // colOp.mb's Append
)

// colOp decodes one column.
type colOp struct {
	code    opCode
	width   int         // integer, enum/set, BIT bytes; length-prefix bytes of text and bytes
	dec     int         // fractional digits; DECIMAL scale
	prec    int         // DECIMAL precision
	pad     int         // BINARY(n): bytes to pad to
	charset textCharset // opText: how to convert
	cs      string      // opText: the charset to convert from
	mb      *cjk.Table  // textCJK: the charset's table
	// values are the ENUM/SET members; boxed the ENUM members as any.
	values []string
	boxed  []any
}

// newDecodePlan builds the plan of tm's rows.
func newDecodePlan(tm *replication.TableMapEvent, flavor string, charset func(uint64) string) *decodePlan {
	n := int(tm.ColumnCount)
	p := &decodePlan{fast: true, deferred: make([]bool, n), ops: make([]colOp, n)}
	p.done = &decodeResult{plan: p}
	p.doneRow = []any{p.done}
	if len(tm.ColumnType) != n || len(tm.ColumnMeta) != n {
		p.fast = false
		return p
	}
	cols, hasSign := mapColumns(tm, charset)
	p.cols = cols
	names := tm.ColumnNameString()
	// Without FULL metadata the table definition may decide what the
	// TABLE_MAP leaves open; MariaDB's definition also tells JSON, UUID
	// and INET columns from LONGTEXT and BINARY(n).
	deferAmbiguous := flavor == mysql.MariaDBFlavor || len(names) != n
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	charsets := tm.CollationMap()
	enumCharsets := tm.EnumSetCollationMap()
	for i := range n {
		c := &cols[i]
		if i < len(names) {
			c.Name = names[i]
		}
		typ, length := binlogType(c)
		var members []string
		switch typ {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
			p.deferred[i] = !hasSign
		case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
			members = enums[i]
			if typ == mysql.MYSQL_TYPE_SET {
				members = sets[i]
			}
			_, hasCharset := enumCharsets[i]
			p.deferred[i] = members == nil || !hasCharset
		case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB:
			_, hasCharset := charsets[i]
			p.deferred[i] = !hasCharset
		}
		if !p.deferred[i] {
			if err := finishColumn(tm, i, c, members, nil); err != nil {
				p.fast = false
				return p
			}
			if deferAmbiguous && ambiguous(c) {
				p.deferred[i] = true
			}
		}
		op, size, ok := columnOp(c, typ, length, p.deferred[i])
		if !ok {
			p.fast = false
			return p
		}
		p.ops[i] = op
		p.rowBytes += size
		if op.code == opGoMySQL {
			p.goMySQL = true
		}
	}
	p.rowBytes += (n + 7) / 8
	return p
}

// binlogType returns the type go-mysql decodes column c as, and for
// MYSQL_TYPE_STRING its length, both from the metadata.
func binlogType(c *Column) (typ byte, length int) {
	typ = c.SQLType
	if typ != mysql.MYSQL_TYPE_STRING {
		return typ, 0
	}
	if c.Meta < 256 {
		return typ, int(c.Meta)
	}
	b0, b1 := byte(c.Meta>>8), byte(c.Meta&0xff)
	if b0&0x30 != 0x30 {
		return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return b0, int(b1)
}

// columnOp returns the op decoding column c (of binary-log type typ) and
// the least number of bytes a value takes; ok is false for what only
// go-mysql decodes.
func columnOp(c *Column, typ byte, length int, deferred bool) (op colOp, size int, ok bool) {
	meta := int(c.Meta)
	lengthPrefix := func(maxLen int) int {
		if maxLen < 256 {
			return 1
		}
		return 2
	}
	switch typ {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
		w := map[byte]int{mysql.MYSQL_TYPE_TINY: 1, mysql.MYSQL_TYPE_SHORT: 2, mysql.MYSQL_TYPE_INT24: 3, mysql.MYSQL_TYPE_LONG: 4, mysql.MYSQL_TYPE_LONGLONG: 8}[typ]
		switch {
		case deferred:
			return colOp{code: opRawInt, width: w}, w, true
		case c.Kind == KindUint:
			return colOp{code: opUint, width: w}, w, true
		case c.Kind == KindInt:
			return colOp{code: opInt, width: w}, w, true
		}
	case mysql.MYSQL_TYPE_YEAR:
		return colOp{code: opYear}, 1, c.Kind == KindYear
	case mysql.MYSQL_TYPE_FLOAT:
		return colOp{code: opFloat}, 4, c.Kind == KindFloat
	case mysql.MYSQL_TYPE_DOUBLE:
		return colOp{code: opDouble}, 8, c.Kind == KindDouble
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		prec, scale := meta>>8, meta&0xff
		if c.Kind != KindDecimal || prec < 1 || prec > 65 || scale > 30 || scale > prec {
			return op, 0, false
		}
		return colOp{code: opDecimal, prec: prec, dec: scale}, decimalBinSize(prec, scale), true
	case mysql.MYSQL_TYPE_BIT:
		nbits := (meta>>8)*8 + meta&0xff
		w := (nbits + 7) / 8
		if c.Kind != KindBit || w < 1 || w > 8 {
			return op, 0, false
		}
		return colOp{code: opBit, width: w}, w, true
	case mysql.MYSQL_TYPE_DATE:
		return colOp{code: opDate}, 3, c.Kind == KindDate
	case mysql.MYSQL_TYPE_TIME:
		return colOp{code: opTime}, 3, c.Kind == KindTime
	case mysql.MYSQL_TYPE_TIME2:
		if c.Kind != KindTime || meta > 6 {
			return op, 0, false
		}
		return colOp{code: opTime2, dec: meta}, 3 + (meta+1)/2, true
	case mysql.MYSQL_TYPE_DATETIME:
		return colOp{code: opDatetime}, 8, c.Kind == KindDateTime
	case mysql.MYSQL_TYPE_DATETIME2:
		if c.Kind != KindDateTime || meta > 6 {
			return op, 0, false
		}
		return colOp{code: opDatetime2, dec: meta}, 5 + (meta+1)/2, true
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return colOp{code: opTimestamp}, 4, c.Kind == KindTimestamp
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		if c.Kind != KindTimestamp || meta > 6 {
			return op, 0, false
		}
		return colOp{code: opTimestamp2, dec: meta}, 4 + (meta+1)/2, true
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		w := meta & 0xff
		if typ == mysql.MYSQL_TYPE_ENUM && w != 1 && w != 2 || w < 1 || w > 8 {
			return op, 0, false
		}
		switch {
		case deferred:
			return colOp{code: opRawEnum, width: w}, w, true
		case typ == mysql.MYSQL_TYPE_ENUM && c.Kind == KindEnum:
			op = colOp{code: opEnum, width: w, values: c.Values, boxed: make([]any, len(c.Values))}
			for j, v := range c.Values {
				op.boxed[j] = v
			}
			return op, w, true
		case typ == mysql.MYSQL_TYPE_SET && c.Kind == KindSet:
			return colOp{code: opSet, width: w, values: c.Values}, w, true
		}
	case mysql.MYSQL_TYPE_JSON:
		return colOp{code: opGoMySQL}, 0, c.Kind == KindJSON && !deferred
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_VECTOR:
		var w int
		switch typ {
		case mysql.MYSQL_TYPE_STRING:
			w = lengthPrefix(length)
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
			w = lengthPrefix(meta)
		default:
			if meta < 1 || meta > 4 {
				return op, 0, false
			}
			w = meta
		}
		switch {
		case deferred:
			return colOp{code: opRawText, width: w}, w, true
		case c.Kind == KindString && typ != mysql.MYSQL_TYPE_GEOMETRY && typ != mysql.MYSQL_TYPE_VECTOR:
			cs := textOther
			switch c.Charset {
			case "utf8mb4", "utf8mb3", "utf8", "ascii", "binary":
				cs = textUTF8
			case "latin1":
				cs = textLatin1
			}
			// A table that does not load leaves the error to appendUTF8.
			if t, err := cjk.Lookup(c.Charset); t != nil && err == nil {
				return colOp{code: opText, width: w, charset: textCJK, cs: c.Charset, mb: t}, w, true
			}
			return colOp{code: opText, width: w, charset: cs, cs: c.Charset}, w, true
		case c.Kind == KindBytes || c.Kind == KindGeometry:
			return colOp{code: opBytes, width: w, pad: binaryPadLength(c)}, w, true
		}
	}
	return op, 0, false
}

// sameDecoding reports whether a value of column b converts as one of
// column a: what convert reads of a column.
func sameDecoding(a, b *Column) bool {
	if a.Kind != b.Kind || a.SQLType != b.SQLType || a.Meta != b.Meta {
		return false
	}
	switch a.Kind {
	case KindString:
		return a.Charset == b.Charset
	case KindEnum, KindSet:
		return slices.Equal(a.Values, b.Values)
	}
	return true
}

// fixups returns the columns of t whose values the reader still converts
// after p decoded them: p's deferred columns. It fails when p converted a
// column that t describes otherwise, which the plan's deferral rules are
// meant to exclude.
func (p *decodePlan) fixups(t *Table) ([]int, error) {
	if len(p.cols) != len(t.Columns) {
		return nil, fmt.Errorf("table %s: %d columns decoded, table map has %d", t.FullName(), len(p.cols), len(t.Columns))
	}
	var fix []int
	for i := range p.cols {
		if p.deferred[i] {
			fix = append(fix, i)
			continue
		}
		if !sameDecoding(&p.cols[i], &t.Columns[i]) {
			return nil, fmt.Errorf("table %s column %s: decoded as %s, table is %s (internal error: report it)", t.FullName(), t.Columns[i].Name, p.cols[i].Kind, t.Columns[i].Kind)
		}
	}
	return fix, nil
}
