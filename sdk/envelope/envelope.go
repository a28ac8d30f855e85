// Package envelope writes Puma's JSON envelope from inside a plugin, byte
// for byte as the host's engine.Envelopes does, without reflection: one
// object per change (Debezium's change event), and optional BEGIN/END
// transaction events. It is what builtin:jsonl, builtin:stdout and
// builtin:http send, and what a custom sink can send too. README's "The
// JSON envelope" documents every field.
//
// A test in hostabi holds it to engine.Envelopes' output.
package envelope

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
)

// Config is the envelope's part of a JSON sender's config.
type Config struct {
	// Markers writes Debezium's BEGIN and END transaction events around
	// each transaction.
	Markers bool `json:"markers"`
	// KeyChange is "update" (the default: an update of the key is one
	// "u") or "delete_create" (a delete of the old key, then a create of
	// the new one, as Debezium emits it).
	KeyChange string `json:"key_change"`
	// Tombstones follows every delete with a tombstone, for Kafka
	// compaction: the line null (see README).
	Tombstones bool `json:"tombstones"`
	// Decimal is "string" (exact, the default) or "double".
	Decimal string `json:"decimal"`
	// Time is "iso" (ISO 8601 strings, the default) or "micros" (DATE as
	// days since the epoch, TIME as microseconds, DATETIME and TIMESTAMP
	// as microseconds since the epoch).
	Time string `json:"time"`
	// Binary is "base64" (the default) or "hex".
	Binary string `json:"binary"`
	// Envelope is "plain" (the default) or "with_schema": each envelope
	// becomes {"schema":…,"payload":…}, Kafka Connect's JSON form.
	Envelope string `json:"envelope"`
}

// Flags checks c's envelope options and returns them as flags.
func (c *Config) Flags() (wire.EnvelopeFlags, error) {
	var f wire.EnvelopeFlags
	var errs []error
	pick := func(key, v string, flag wire.EnvelopeFlags, def, other string) {
		switch v {
		case "", def:
		case other:
			f |= flag
		default:
			errs = append(errs, fmt.Errorf("config: %s %q: want %q or %q", key, v, def, other))
		}
	}
	pick("key_change", c.KeyChange, wire.EnvDeleteCreate, "update", "delete_create")
	pick("decimal", c.Decimal, wire.EnvDecimalDouble, "string", "double")
	pick("time", c.Time, wire.EnvTimeMicros, "iso", "micros")
	pick("binary", c.Binary, wire.EnvBinaryHex, "base64", "hex")
	pick("envelope", c.Envelope, wire.EnvWithSchema, "plain", "with_schema")
	if c.Tombstones {
		f |= wire.EnvTombstones
	}
	if len(errs) > 0 {
		return 0, errs[0]
	}
	return f, nil
}

// Encoder renders batches as JSON lines, or as JSON arrays. It counts the
// events of the transaction it renders (total_order, END's counts), so it
// is owned by one sender and fed its batches in order; a batch sent again
// (a retry) counts as it did the first time.
type Encoder struct {
	Markers bool
	// Array renders a batch as one JSON array of its objects instead of
	// one line per object.
	Array bool
	// Flags are the envelope options (Config.Flags).
	Flags wire.EnvelopeFlags
	// Now is the clock of the processing time (ts_ms); nil is time.Now.
	// Inside Wasm the host renders the changes with its own clock.
	Now func() time.Time
	// Host, when set, renders the changes as ABI.md's envelope function
	// does: the envelopes of the batch's changes from index from on that
	// fit whole in free (its length), with opts the separator byte and,
	// from bit 8, Flags; it returns how many changes it rendered and the
	// bytes written, or 0 and the bytes the first one needs. Puma sets
	// it for its built-in senders compiled into its own process; inside
	// Wasm the module's import is used when it is nil.
	Host func(free []byte, from int, opts uint32) (changes, written int, err error)

	buf        []byte
	now        int64
	seq        uint64
	start, cur wire.TxOrder
	schemas    map[*sdk.Table][]byte
	schemaOf   wire.EnvelopeFlags
}

// Encode returns b's lines (or array), valid until the next call; empty
// when b has nothing to write. Inside Wasm the changes are rendered by the
// host (the envelope host function), byte for byte as Go would.
func (e *Encoder) Encode(b *sdk.Batch) []byte {
	e.buf = e.buf[:0]
	if !b.HasTx() {
		return e.buf
	}
	e.startBatch(b)
	sep := byte('\n')
	if e.Array {
		sep = ','
		e.buf = append(e.buf, '[')
	}
	tx := b.Tx()
	if b.Begin() && e.Markers {
		e.buf = e.appendBegin(e.buf, b, &tx)
		e.buf = append(e.buf, sep)
	}
	e.buf = e.appendChanges(e.buf, b, &tx, sep)
	if c, ok := b.Commit(); ok && e.Markers {
		e.buf = e.appendEnd(e.buf, &tx, &c)
		e.buf = append(e.buf, sep)
	}
	if e.Array {
		if len(e.buf) == 1 {
			return e.buf[:0]
		}
		e.buf[len(e.buf)-1] = ']'
	}
	return e.buf
}

func (e *Encoder) startBatch(b *sdk.Batch) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	e.now = now().UnixNano()
	if e.Flags != e.schemaOf {
		e.schemas, e.schemaOf = nil, e.Flags
	}
	if b.Seq() != e.seq || e.seq == 0 {
		e.seq = b.Seq()
		if b.Begin() {
			e.start.Reset()
		} else {
			e.start.CopyFrom(&e.cur)
		}
	}
	e.cur.CopyFrom(&e.start)
}

// appendHosted has render, the host's envelope function, render the
// envelopes of b's changes into dst's spare capacity, growing it as
// needed, and counts them as the host did. It returns how far it got when
// the host refuses (it cannot, for the batch being handled).
func (e *Encoder) appendHosted(dst []byte, b *sdk.Batch, sep byte, render func([]byte, int, uint32) (int, int, error)) ([]byte, int, error) {
	opts := uint32(sep) | uint32(e.Flags)<<8
	from := 0
	for from < b.Len() {
		if cap(dst)-len(dst) < 4096 {
			dst = slices.Grow(dst, max(4096, cap(dst)))
		}
		n, written, err := render(dst[len(dst):cap(dst)], from, opts)
		if err != nil {
			return dst, from, err
		}
		if n == 0 {
			dst = slices.Grow(dst, written)
			continue
		}
		dst = dst[:len(dst)+written]
		e.countRendered(b, from, from+n)
		from += n
	}
	return dst, from, nil
}

// appendGo appends the envelopes of b's changes from index from on,
// rendered in Go.
func (e *Encoder) appendGo(dst []byte, b *sdk.Batch, tx *sdk.Tx, from int, sep byte) []byte {
	for i := from; i < b.Len(); i++ {
		dst = e.AppendChange(dst, b.Row(i), tx, sep)
	}
	return dst
}

// DeclareRead tells readColumns (a native instance's
// hostabi.NativeHost.ReadColumns), when e renders through Host and
// readColumns is not nil, which values a sender encoding only with e
// reads itself: none, or with key_change the key columns, which it
// compares to tell a key changed. Call it once the options are set.
func (e *Encoder) DeclareRead(readColumns func(names []string, keys bool) error) error {
	if e.Host == nil || readColumns == nil {
		return nil
	}
	return readColumns(nil, e.Flags&wire.EnvDeleteCreate != 0)
}

// countRendered advances the counts past changes from..to-1 of b, which
// the host rendered, as AppendChange would have. It runs for every change
// inside Wasm, where calls are dear: a run of changes of one table is
// counted with one Add, only the changes read from the last one's event
// are numbered (what the next batch may go on numbering), and no values
// are decoded unless key_change needs the key compared.
func (e *Encoder) countRendered(b *sdk.Batch, from, to int) {
	keyChange := e.Flags&wire.EnvDeleteCreate != 0
	last := -1
	for i := from; i < to; {
		r := b.Row(i)
		t := r.Table()
		if r.Op() == sdk.OpDDL || t == nil {
			i++
			continue
		}
		events := uint32(0)
		j := i
		for ; j < to; j++ {
			s := b.Row(j)
			if s.Table() != t || s.Op() == sdk.OpDDL {
				break
			}
			events++
			if keyChange && s.Op() == sdk.OpUpdate && KeyChanged(t, s.Before(), s.After()) {
				events++
			}
		}
		e.cur.Add(t.DB, t.Name, events)
		last, i = j-1, j
	}
	if last < 0 {
		return
	}
	// Number the changes counted above as RowOf would, one by one: those
	// before the run read from last's event only matter as the end of
	// the numbering that run does not continue.
	r := b.Row(last)
	file, pos := r.File(), r.Pos()
	n := uint32(1)
	for i := last - 1; i >= from; i-- {
		s := b.Row(i)
		if s.Op() == sdk.OpDDL || s.Table() == nil {
			continue
		}
		if s.Pos() != pos || s.File() != file {
			e.cur.RowOf(s.File(), s.Pos())
			break
		}
		n++
	}
	e.cur.RowsOf(file, pos, n)
}

// AppendChange appends r's envelopes, each followed by sep: one, or with
// key_change = "delete_create" a delete and a create for an update of the
// key, and with tombstones a tombstone after each delete.
func (e *Encoder) AppendChange(dst []byte, r *sdk.Row, tx *sdk.Tx, sep byte) []byte {
	op, t := r.Op(), r.Table()
	if op == sdk.OpDDL || t == nil {
		dst = e.appendDDL(dst, r, tx)
		return append(dst, sep)
	}
	row := e.cur.RowOf(r.File(), r.Pos())
	before, after := r.Before(), r.After()
	if op == sdk.OpUpdate && e.Flags&wire.EnvDeleteCreate != 0 && KeyChanged(t, before, after) {
		dst = e.appendRowChange(dst, r, tx, sdk.OpDelete, before, sdk.Image{}, row)
		dst = append(dst, sep)
		dst = e.appendTombstone(dst, sep)
		dst = e.appendRowChange(dst, r, tx, sdk.OpInsert, sdk.Image{}, after, row)
		return append(dst, sep)
	}
	dst = e.appendRowChange(dst, r, tx, op, before, after, row)
	dst = append(dst, sep)
	if op == sdk.OpDelete {
		dst = e.appendTombstone(dst, sep)
	}
	return dst
}

func (e *Encoder) appendTombstone(dst []byte, sep byte) []byte {
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

// KeyChanged reports whether an update changes a key column of t, as the
// envelope sees it: with key_change = "delete_create" such an update is
// a delete and a create.
func KeyChanged(t *sdk.Table, before, after sdk.Image) bool {
	if t.KeyKind == sdk.KeyRow || !before.Present() || !after.Present() {
		return false
	}
	for _, i := range t.Key {
		a, b := before.At(i), after.At(i)
		if a.IsAbsent() || b.IsAbsent() {
			continue
		}
		if !equal(a, b) {
			return true
		}
	}
	return false
}

func equal(a, b sdk.Value) bool {
	if !a.Valid() || !b.Valid() {
		return a.IsNull() == b.IsNull()
	}
	switch a.Kind() {
	case sdk.KindInt, sdk.KindYear:
		return a.Int() == b.Int()
	case sdk.KindUint, sdk.KindBit:
		return a.Uint() == b.Uint()
	case sdk.KindFloat, sdk.KindDouble:
		return a.Float() == b.Float()
	case sdk.KindBytes, sdk.KindGeometry:
		return bytes.Equal(a.Bytes(), b.Bytes())
	}
	return a.Text() == b.Text()
}

func (e *Encoder) appendRowChange(dst []byte, r *sdk.Row, tx *sdk.Tx, op sdk.Op, before, after sdk.Image, row uint32) []byte {
	t := r.Table()
	total, ord := e.cur.Next(t.DB, t.Name)
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, `{"schema":`...)
		dst = e.appendSchema(dst, t)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"before":`...)
	dst = appendRow(dst, t, before, e.Flags)
	dst = append(dst, `,"after":`...)
	dst = appendRow(dst, t, after, e.Flags)
	dst = append(dst, ',')
	dst = e.appendSource(dst, r, tx, op, t.DB, t.Name, row)
	dst = append(dst, `,"transaction":{"id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"total_order":`...)
	dst = strconv.AppendUint(dst, uint64(total), 10)
	dst = append(dst, `,"data_collection_order":`...)
	dst = strconv.AppendUint(dst, uint64(ord), 10)
	dst = append(dst, `},"op":"`...)
	dst = append(dst, op.String()...)
	dst = append(dst, '"')
	dst = e.appendTimes(dst)
	dst = appendPumaTx(dst, r, tx)
	if op != sdk.OpTruncate {
		dst = append(dst, `,"key":`...)
		img := after
		if !img.Present() {
			img = before
		}
		dst = appendKey(dst, t, img, e.Flags)
		if t.KeyKind != sdk.KeyPrimary {
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

func (e *Encoder) appendDDL(dst []byte, r *sdk.Row, tx *sdk.Tx) []byte {
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, `{"schema":null,"payload":`...)
	}
	dst = append(dst, '{')
	dst = e.appendSource(dst, r, tx, sdk.OpDDL, r.DB(), r.TableName(), 0)
	dst = e.appendTimes(dst)
	dst = append(dst, `,"databaseName":`...)
	dst = appendString(dst, r.DB())
	dst = append(dst, `,"schemaName":null,"ddl":`...)
	dst = appendString(dst, r.Statement())
	dst = appendPumaTx(dst, r, tx)
	dst = append(dst, "}}"...)
	if e.Flags&wire.EnvWithSchema != 0 {
		dst = append(dst, '}')
	}
	return dst
}

func (e *Encoder) appendSource(dst []byte, r *sdk.Row, tx *sdk.Tx, op sdk.Op, db, table string, row uint32) []byte {
	dst = append(dst, `"source":{"version":"`+wire.EnvelopeVersion+`","connector":"`...)
	dst = append(dst, wire.Connector(tx.GTID)...)
	dst = append(dst, `","name":`...)
	dst = appendString(dst, sdk.Task())
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, r.Timestamp()*1000, 10)
	dst = append(dst, `,"snapshot":"`...)
	dst = append(dst, wire.Snapshot(wire.Op(op), tx.ID)...)
	dst = append(dst, `","db":`...)
	dst = appendString(dst, db)
	dst = append(dst, `,"table":`...)
	if table == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, table)
	}
	dst = append(dst, `,"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
	dst = append(dst, `,"gtid":`...)
	if tx.GTID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, tx.GTID)
	}
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, r.File())
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(r.Pos()), 10)
	dst = append(dst, `,"row":`...)
	dst = strconv.AppendUint(dst, uint64(row), 10)
	return append(dst, `,"thread":null,"query":null}`...)
}

func (e *Encoder) appendTimes(dst []byte) []byte {
	return wire.AppendProcessingTime(dst, e.now)
}

func appendPumaTx(dst []byte, r *sdk.Row, tx *sdk.Tx) []byte {
	dst = append(dst, `,"puma":{"tx":{"id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(r.Seq()), 10)
	if p := r.Part(); p != 0 {
		dst = append(dst, `,"part":`...)
		dst = strconv.AppendUint(dst, uint64(p), 10)
	}
	return append(dst, '}')
}

func (e *Encoder) appendBegin(dst []byte, b *sdk.Batch, tx *sdk.Tx) []byte {
	dst = append(dst, `{"status":"BEGIN","id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"ts_ms":`...)
	if b.Len() > 0 {
		dst = strconv.AppendInt(dst, b.Row(0).Timestamp()*1000, 10)
	} else if c, ok := b.Commit(); ok {
		dst = strconv.AppendInt(dst, c.Time*1000, 10)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"event_count":null,"data_collections":null,"puma":{"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, tx.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(tx.Pos), 10)
	return append(dst, "}}"...)
}

func (e *Encoder) appendEnd(dst []byte, tx *sdk.Tx, c *sdk.Commit) []byte {
	dst = append(dst, `{"status":"END","id":`...)
	dst = appendString(dst, tx.ID)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, c.Time*1000, 10)
	dst = append(dst, ',')
	dst = e.cur.AppendEndCounts(dst)
	dst = append(dst, `,"puma":{"file":`...)
	dst = appendString(dst, c.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, uint64(c.Pos), 10)
	if c.GTIDSet != "" {
		dst = append(dst, `,"gtid_set":`...)
		dst = appendString(dst, c.GTIDSet)
	}
	return append(dst, "}}"...)
}

func (e *Encoder) appendSchema(dst []byte, t *sdk.Table) []byte {
	if s, ok := e.schemas[t]; ok {
		return append(dst, s...)
	}
	cols := make([]wire.SchemaColumn, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = wire.SchemaColumn{Name: c.Name, Kind: wire.Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta,
			Unsigned: c.Unsigned, Nullable: c.Nullable, Values: c.Values}
	}
	s := wire.AppendEnvelopeSchema(nil, sdk.Task(), t.DB, t.Name, cols, t.Key, e.Flags)
	if e.schemas == nil {
		e.schemas = make(map[*sdk.Table][]byte)
	}
	e.schemas[t] = s
	return append(dst, s...)
}

// appendRow writes an image as an object; absent columns are left out.
func appendRow(dst []byte, t *sdk.Table, img sdk.Image, f wire.EnvelopeFlags) []byte {
	if !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for i := range t.Columns {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = appendValue(dst, v, f)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, t *sdk.Table, img sdk.Image, f wire.EnvelopeFlags) []byte {
	if !img.Present() {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for _, i := range t.Key {
		v := img.At(i)
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = appendValue(dst, v, f)
	}
	return append(dst, '}')
}

// AppendValue appends v as JSON in the envelope's default representation:
// numbers as numbers, DECIMAL as a string, bytes as base64, JSON as JSON,
// time types as strings.
func AppendValue(dst []byte, v sdk.Value) []byte { return appendValue(dst, v, 0) }

func appendValue(dst []byte, v sdk.Value, f wire.EnvelopeFlags) []byte {
	if !v.Valid() {
		return append(dst, "null"...)
	}
	switch v.Kind() {
	case sdk.KindInt, sdk.KindYear:
		return strconv.AppendInt(dst, v.Int(), 10)
	case sdk.KindUint, sdk.KindBit:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case sdk.KindFloat:
		return wire.AppendJSONFloat(dst, v.Float(), 32)
	case sdk.KindDouble:
		return wire.AppendJSONFloat(dst, v.Float(), 64)
	case sdk.KindBytes, sdk.KindGeometry:
		return wire.AppendJSONBytes(dst, v.Bytes(), f)
	case sdk.KindJSON:
		if v.Text() == "" {
			return append(dst, "null"...)
		}
		return append(dst, v.Text()...)
	case sdk.KindDecimal:
		return wire.AppendJSONDecimal(dst, v.Text(), f)
	case sdk.KindDate:
		return wire.AppendJSONDate(dst, v.Text(), f)
	case sdk.KindTime:
		return wire.AppendJSONTime(dst, v.Text(), f)
	case sdk.KindDateTime, sdk.KindTimestamp:
		return wire.AppendJSONDateTime(dst, v.Text(), f)
	}
	return appendString(dst, v.Text())
}

func appendString(dst []byte, s string) []byte { return wire.AppendJSONString(dst, s) }

// AppendRow appends img as a JSON object of its present columns, as the
// envelope's before and after render it with flags f; null when the image
// is absent.
func AppendRow(dst []byte, t *sdk.Table, img sdk.Image, f wire.EnvelopeFlags) []byte {
	return appendRow(dst, t, img, f)
}

// Envelopes returns how many envelopes AppendChange (and Encode) write
// for r: two for an update of the key under key_change "delete_create",
// one more after a delete with tombstones (counting the tombstone),
// else one. A sender that sends each envelope on its own uses it to tell
// which change each came from.
func (e *Encoder) Envelopes(r *sdk.Row) int {
	t := r.Table()
	switch {
	case r.Op() == sdk.OpDDL || t == nil:
		return 1
	case r.Op() == sdk.OpUpdate && e.Flags&wire.EnvDeleteCreate != 0 && KeyChanged(t, r.Before(), r.After()):
		if e.Flags&wire.EnvTombstones != 0 {
			return 3
		}
		return 2
	case r.Op() == sdk.OpDelete && e.Flags&wire.EnvTombstones != 0:
		return 2
	}
	return 1
}
