package engine

import (
	"bytes"
	"strconv"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Envelopes renders changes as Puma's JSON envelope, which is Debezium's
// (a consumer written for Debezium's MySQL connector reads it unchanged):
//
//	{"before":{…}|null,"after":{…}|null,
//	 "source":{"version","connector","name","ts_ms","snapshot","db","table",
//	           "server_id","gtid","file","pos","row","thread","query"},
//	 "transaction":{"id","total_order","data_collection_order"},
//	 "op":"c"|"u"|"d"|"t"|"r","ts_ms","ts_us","ts_ns",
//	 "puma":{"tx":{"id","seq","part"},"key":{…},"key_kind"}}
//
// ts_ms, ts_us and ts_ns are when the envelope was rendered (the batch's
// processing time, as Debezium's); source.ts_ms is when the statement
// started on the source. A DDL statement is Debezium's schema change
// event: {"source","ts_ms","ts_us","ts_ns","databaseName","schemaName",
// "ddl","puma":{"tx"}}. The transaction markers are Debezium's BEGIN and
// END events (see AppendBegin, AppendEnd). README's "The JSON envelope"
// documents every field.
//
// An Envelopes counts the events of the transaction it is rendering
// (total_order, data_collection_order, END's counts), so it is owned by
// one sender and fed that sender's batches in order: StartBatch, then
// AppendChange for each change, AppendEnd at a commit. A batch started
// again (a retry) counts as it did the first time.
type Envelopes struct {
	// Name is source.name: the task's name.
	Name string
	// Flags are the sender's envelope options.
	Flags wire.EnvelopeFlags

	now        int64  // ns since the epoch
	times      []byte // now as the envelope's ts_ms, ts_us and ts_ns
	seq        uint64
	start, cur wire.TxOrder
	// schemas caches the schema block of each table version.
	schemas     map[*Table][]byte
	schemaFlags wire.EnvelopeFlags
	// keys caches each table version's column names as JSON keys;
	// lastTable and lastKeys are the last one used.
	keys      map[*Table]*jsonKeys
	lastTable *Table
	lastKeys  *jsonKeys
	// src is the source block before its row number for srcKey.
	src    []byte
	srcKey sourceKey
	srcSet bool
}

// StartBatch starts rendering b at processing time now. A batch opening
// its transaction starts the counts from zero; b started again (same
// Seq) counts from where it first started.
func (e *Envelopes) StartBatch(b *Batch, now time.Time) {
	if ns := now.UnixNano(); ns != e.now || e.times == nil {
		e.now = ns
		e.times = wire.AppendProcessingTime(e.times[:0], ns)
	}
	if e.Flags != e.schemaFlags {
		e.schemas, e.schemaFlags = nil, e.Flags
	}
	if b.Seq != e.seq || e.seq == 0 {
		e.seq = b.Seq
		if b.Begin {
			e.start.Reset()
		} else {
			e.start.CopyFrom(&e.cur)
		}
	}
	e.cur.CopyFrom(&e.start)
}

// AppendChange appends the envelopes of c, each followed by sep: one, or
// with EnvDeleteCreate a delete and a create for an update of the key,
// and with EnvTombstones a tombstone (null) after each delete.
func (e *Envelopes) AppendChange(dst []byte, c *Change, sep byte) []byte {
	if c.Op == OpDDL || c.Table == nil {
		dst = e.appendDDL(dst, c)
		return append(dst, sep)
	}
	row := e.cur.RowOf(c.File, c.Pos)
	if c.Op == OpUpdate && e.Flags&wire.EnvDeleteCreate != 0 && keyChanged(c) {
		del, cre := *c, *c
		del.Op, del.After = OpDelete, nil
		cre.Op, cre.Before = OpInsert, nil
		dst = e.appendRowChange(dst, &del, row)
		dst = append(dst, sep)
		dst = e.appendTombstone(dst, sep)
		dst = e.appendRowChange(dst, &cre, row)
		return append(dst, sep)
	}
	dst = e.appendRowChange(dst, c, row)
	dst = append(dst, sep)
	if c.Op == OpDelete {
		dst = e.appendTombstone(dst, sep)
	}
	return dst
}

// AppendOne appends c's envelope as it is, without the delete and create
// of a key change or tombstones, and no separator.
func (e *Envelopes) AppendOne(dst []byte, c *Change) []byte {
	if c.Op == OpDDL || c.Table == nil {
		return e.appendDDL(dst, c)
	}
	return e.appendRowChange(dst, c, e.cur.RowOf(c.File, c.Pos))
}

// Count advances the counts past c as AppendChange would, rendering
// nothing.
func (e *Envelopes) Count(c *Change) {
	if c.Op == OpDDL || c.Table == nil {
		return
	}
	e.cur.RowOf(c.File, c.Pos)
	e.cur.Next(c.Table.DB, c.Table.Name)
	if c.Op == OpUpdate && e.Flags&wire.EnvDeleteCreate != 0 && keyChanged(c) {
		e.cur.Next(c.Table.DB, c.Table.Name)
	}
}

func (e *Envelopes) appendTombstone(dst []byte, sep byte) []byte {
	if e.Flags&wire.EnvTombstones == 0 {
		return dst
	}
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, `{"schema":null,"payload":null}`...)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, sep)
}

// keyChanged reports whether an update changes a key column (a table
// without a key has none to change).
func keyChanged(c *Change) bool {
	if c.Table.KeyKind == KeyRow || c.Before == nil || c.After == nil {
		return false
	}
	for _, i := range c.Table.Key {
		a, b := c.Before[i], c.After[i]
		if a == Absent || b == Absent {
			continue
		}
		if ab, ok := a.([]byte); ok {
			if bb, ok := b.([]byte); !ok || !bytes.Equal(ab, bb) {
				return true
			}
			continue
		}
		if a != b {
			return true
		}
	}
	return false
}

func (e *Envelopes) appendRowChange(dst []byte, c *Change, row uint32) []byte {
	t := c.Table
	total, order := e.cur.Next(t.DB, t.Name)
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, `{"schema":`...)
		dst = e.appendSchema(dst, t)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"before":`...)
	dst = e.appendRow(dst, t, c.Before)
	dst = append(dst, `,"after":`...)
	dst = e.appendRow(dst, t, c.After)
	dst = append(dst, ',')
	dst = e.appendSource(dst, c, t.DB, t.Name, row)
	dst = append(dst, `,"transaction":`...)
	if c.Tx != nil {
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, c.Tx.ID)
		dst = append(dst, `,"total_order":`...)
		dst = strconv.AppendUint(dst, uint64(total), 10)
		dst = append(dst, `,"data_collection_order":`...)
		dst = strconv.AppendUint(dst, uint64(order), 10)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"op":"`...)
	dst = append(dst, c.Op.String()...)
	dst = append(dst, '"')
	dst = e.appendTimes(dst)
	dst = appendPumaTx(dst, c)
	if c.Op != OpTruncate {
		dst = append(dst, `,"key":`...)
		img := c.After
		if img == nil {
			img = c.Before
		}
		dst = e.appendKey(dst, t, img)
		if t.KeyKind != KeyPrimary {
			dst = append(dst, `,"key_kind":"`...)
			dst = append(dst, t.KeyKind.String()...)
			dst = append(dst, '"')
		}
	}
	dst = append(dst, "}}"...)
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, '}')
	}
	return dst
}

func (e *Envelopes) appendDDL(dst []byte, c *Change) []byte {
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, `{"schema":null,"payload":`...)
	}
	dst = append(dst, '{')
	// A DDL names its database, and its first table the task reads when
	// it touches tables (Change.Table, a column-less stand-in).
	db, table := c.DB, ""
	if c.Table != nil {
		db, table = c.Table.DB, c.Table.Name
	}
	dst = e.appendSource(dst, c, db, table, 0)
	dst = e.appendTimes(dst)
	dst = append(dst, `,"databaseName":`...)
	dst = appendString(dst, db)
	dst = append(dst, `,"schemaName":null,"ddl":`...)
	dst = appendString(dst, c.Statement)
	dst = appendPumaTx(dst, c)
	dst = append(dst, "}}"...)
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, '}')
	}
	return dst
}

// appendSource appends `"source":{…}`; table "" writes null.
func (e *Envelopes) appendSource(dst []byte, c *Change, db, table string, row uint32) []byte {
	// Every row of an event shares the source block up to its row number:
	// it is rendered once per event.
	k := sourceKey{tx: c.Tx, read: c.Op == OpRead, ts: c.Timestamp, file: c.File, pos: c.Pos, db: db, table: table}
	if !e.srcSet || k != e.srcKey {
		e.src = e.appendSourceHead(e.src[:0], c, db, table)
		e.srcKey, e.srcSet = k, true
	}
	dst = append(dst, e.src...)
	dst = append(dst, `,"row":`...)
	dst = strconv.AppendUint(dst, uint64(row), 10)
	if c.Query == "" {
		return append(dst, `,"thread":null,"query":null}`...)
	}
	dst = append(dst, `,"thread":null,"query":`...)
	dst = appendString(dst, c.Query)
	return append(dst, '}')
}

// sourceKey is what the source block before its row number depends on
// (besides the task's name).
type sourceKey struct {
	tx        *Tx
	read      bool
	ts        int64
	file      string
	pos       uint32
	db, table string
}

// appendSourceHead appends `"source":{…,"pos":N`, the part of c's source
// block that the rows of one event share.
func (e *Envelopes) appendSourceHead(dst []byte, c *Change, db, table string) []byte {
	var gtid string
	var serverID uint32
	if c.Tx != nil {
		gtid, serverID = c.Tx.GTID, c.Tx.ServerID
	}
	dst = append(dst, `"source":{"version":"`+wire.EnvelopeVersion+`","connector":"`...)
	dst = append(dst, wire.Connector(gtid)...)
	dst = append(dst, `","name":`...)
	dst = appendString(dst, e.Name)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, c.Timestamp*1000, 10)
	txID := ""
	if c.Tx != nil {
		txID = c.Tx.ID
	}
	dst = append(dst, `,"snapshot":"`...)
	dst = append(dst, wire.Snapshot(wire.Op(c.Op), txID)...)
	dst = append(dst, `","db":`...)
	dst = appendString(dst, db)
	dst = append(dst, `,"table":`...)
	if table == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, table)
	}
	dst = append(dst, `,"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(serverID), 10)
	dst = append(dst, `,"gtid":`...)
	if gtid == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, gtid)
	}
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, c.File)
	dst = append(dst, `,"pos":`...)
	return strconv.AppendUint(dst, uint64(c.Pos), 10)
}

func (e *Envelopes) appendTimes(dst []byte) []byte {
	return append(dst, e.times...)
}

// appendPumaTx appends `,"puma":{"tx":{…}` (the object left open).
func appendPumaTx(dst []byte, c *Change) []byte {
	dst = append(dst, `,"puma":{"tx":{"id":`...)
	if c.Tx != nil {
		dst = appendString(dst, c.Tx.ID)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(c.Seq), 10)
	if c.Part != 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendUint(dst, uint64(c.Part), 10)
	}
	return append(dst, '}')
}

// AppendBegin appends b's BEGIN event (b.Begin is set): Debezium's
// {"status":"BEGIN","id","ts_ms","event_count":null,"data_collections":null},
// with "puma":{"server_id","file","pos"} locating the transaction's first
// event. ts_ms is the first change's event time (the commit's, when the
// batch has no change; null when it has neither).
func (e *Envelopes) AppendBegin(dst []byte, b *Batch) []byte {
	dst = append(dst, `{"status":"BEGIN","id":`...)
	dst = appendString(dst, b.Tx.ID)
	dst = append(dst, `,"ts_ms":`...)
	switch {
	case len(b.Changes) > 0:
		dst = strconv.AppendInt(dst, b.Changes[0].Timestamp*1000, 10)
	case b.Commit != nil:
		dst = strconv.AppendInt(dst, b.CommitTime*1000, 10)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"event_count":null,"data_collections":null,"puma":{"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(b.Tx.ServerID), 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, b.Tx.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(b.Tx.Pos), 10)
	return append(dst, "}}"...)
}

// AppendEnd appends the END event of b's transaction (b.Commit is set),
// after b's changes went through AppendChange: Debezium's
// {"status":"END","id","ts_ms","event_count","data_collections":[{"data_collection":"db.table","event_count"}]},
// counting the events this Envelopes rendered (tombstones and DDL
// excepted), with "puma":{"file","pos","gtid_set"}: where a resume after
// this transaction starts. ts_ms is the commit's event time.
func (e *Envelopes) AppendEnd(dst []byte, b *Batch) []byte {
	dst = append(dst, `{"status":"END","id":`...)
	dst = appendString(dst, b.Tx.ID)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, b.CommitTime*1000, 10)
	dst = append(dst, ',')
	dst = e.cur.AppendEndCounts(dst)
	dst = append(dst, `,"puma":{"file":`...)
	dst = appendString(dst, b.Commit.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(b.Commit.Pos), 10)
	if b.Commit.GTIDSet != "" {
		dst = append(dst, `,"gtid_set":`...)
		dst = appendString(dst, b.Commit.GTIDSet)
	}
	return append(dst, "}}"...)
}

// appendSchema appends the schema block of t's envelopes.
func (e *Envelopes) appendSchema(dst []byte, t *Table) []byte {
	if s, ok := e.schemas[t]; ok {
		return append(dst, s...)
	}
	cols := make([]wire.SchemaColumn, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = wire.SchemaColumn{Name: c.Name, Kind: wire.Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta,
			Unsigned: c.Unsigned, Nullable: c.Nullable, Values: c.Values}
	}
	s := wire.AppendEnvelopeSchema(nil, e.Name, t.DB, t.Name, cols, t.Key, e.Flags)
	if e.schemas == nil {
		e.schemas = make(map[*Table][]byte)
	}
	e.schemas[t] = s
	return append(dst, s...)
}

// jsonKeys are a table version's column names as JSON object keys, each
// with its colon: key i is b[at[i]:at[i+1]].
type jsonKeys struct {
	b  []byte
	at []int
}

// keysOf returns t's column names as JSON keys, escaped once per table
// version rather than once per row.
func (e *Envelopes) keysOf(t *Table) *jsonKeys {
	if t == e.lastTable {
		return e.lastKeys
	}
	k, ok := e.keys[t]
	if !ok {
		k = &jsonKeys{at: make([]int, 0, len(t.Columns)+1)}
		for _, c := range t.Columns {
			k.at = append(k.at, len(k.b))
			k.b = appendString(k.b, c.Name)
			k.b = append(k.b, ':')
		}
		k.at = append(k.at, len(k.b))
		if e.keys == nil {
			e.keys = make(map[*Table]*jsonKeys)
		}
		e.keys[t] = k
	}
	e.lastTable, e.lastKeys = t, k
	return k
}

// appendRow appends row, an image of t, as a JSON object of its present
// columns (null for no image).
func (e *Envelopes) appendRow(dst []byte, t *Table, row []any) []byte {
	if row == nil {
		return append(dst, "null"...)
	}
	k := e.keysOf(t)
	dst = append(dst, '{')
	first := true
	for i, v := range row {
		if v == Absent {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, k.b[k.at[i]:k.at[i+1]]...)
		dst = appendValue(dst, t.Columns[i].Kind, v, e.Flags)
	}
	return append(dst, '}')
}

// appendKey appends the key columns of row as a JSON object.
func (e *Envelopes) appendKey(dst []byte, t *Table, row []any) []byte {
	if row == nil {
		return append(dst, "null"...)
	}
	k := e.keysOf(t)
	dst = append(dst, '{')
	first := true
	for _, i := range t.Key {
		if row[i] == Absent {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, k.b[k.at[i]:k.at[i+1]]...)
		dst = appendValue(dst, t.Columns[i].Kind, row[i], e.Flags)
	}
	return append(dst, '}')
}

// AppendValue appends v, a value of a column of kind k, as JSON in the
// envelope's default representation: numbers as numbers (exact, unsigned
// 64-bit included), DECIMAL as a string, bytes (BINARY, BLOB, GEOMETRY)
// as base64, JSON as JSON, time types, UUID and INET as strings (see Kind
// for their forms), NULL as null.
func AppendValue(dst []byte, k Kind, v any) []byte { return appendValue(dst, k, v, 0) }

// appendValue is AppendValue in the representation f chooses.
func appendValue(dst []byte, k Kind, v any, f wire.EnvelopeFlags) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case float32:
		return wire.AppendJSONFloat(dst, float64(v), 32)
	case float64:
		return wire.AppendJSONFloat(dst, v, 64)
	case []byte:
		return wire.AppendJSONBytes(dst, v, f)
	case string:
		switch k {
		case KindJSON:
			if v == "" {
				return append(dst, "null"...)
			}
			return append(dst, v...)
		case KindDecimal:
			return wire.AppendJSONDecimal(dst, v, f)
		case KindDate:
			return wire.AppendJSONDate(dst, v, f)
		case KindTime:
			return wire.AppendJSONTime(dst, v, f)
		case KindDateTime, KindTimestamp:
			return wire.AppendJSONDateTime(dst, v, f)
		}
		return appendString(dst, v)
	}
	// Unreachable for values the decoder built; keep the output valid JSON.
	return append(dst, "null"...)
}

func appendString(dst []byte, s string) []byte { return wire.AppendJSONString(dst, s) }
