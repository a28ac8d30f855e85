package hostabi

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// encodeBatch writes b as a Batch message, announcing each table version
// the instance has not seen. The message is valid until the next call.
func (in *instance) encodeBatch(b *engine.Batch) []byte {
	e := &in.enc
	tx := b.Tx
	if tx == nil && len(b.Changes) > 0 {
		tx = b.Changes[0].Tx
	}
	var wtx *wire.Tx
	var wcm *wire.Commit
	if tx != nil {
		in.wtx = wire.Tx{ID: tx.ID, GTID: tx.GTID, ServerID: tx.ServerID, File: tx.File, Pos: tx.Pos}
		wtx = &in.wtx
		if b.Commit != nil {
			in.wcm = wire.Commit{File: b.Commit.File, Pos: b.Commit.Pos, GTIDSet: b.Commit.GTIDSet, Time: b.CommitTime}
			wcm = &in.wcm
		}
	}
	e.StartBatch(b.Seq, b.Begin, wtx, wcm)
	var proj *projection
	if in.caps != nil {
		proj = in.caps.proj
	}
	for i := range b.Changes {
		c := &b.Changes[i]
		var id uint32
		if c.Table != nil {
			id = in.tableID(c.Table)
		}
		h := wire.ChangeHeader{
			Op: wire.Op(c.Op), TableID: id, Seq: c.Seq, Part: c.Part, Pos: c.Pos, Timestamp: c.Timestamp,
			File: c.File, DB: c.DB, Statement: c.Statement, Route: c.Route, HasRoute: c.Route != "",
		}
		e.StartChange(&h, c.Before != nil, c.After != nil)
		if proj != nil && c.Table != nil {
			read := proj.of(c.Table)
			if c.Before != nil {
				encodeRead(e, c.Before, read)
			}
			if c.After != nil {
				encodeRead(e, c.After, read)
			}
		} else {
			if c.Before != nil {
				encodeImage(e, c.Before)
			}
			if c.After != nil {
				encodeImage(e, c.After)
			}
		}
		e.EndChange()
	}
	return e.Finish()
}

// encodeGroup writes g as a Group message, each batch announcing the
// table versions the instance has not seen, in order. The message is
// valid until the next call.
func (in *instance) encodeGroup(g []*engine.Batch) []byte {
	in.group = wire.AppendGroup(in.group[:0], uint32(len(g)))
	for _, b := range g {
		in.group = wire.AppendGroupBatch(in.group, in.encodeBatch(b))
	}
	return in.group
}

func encodeImage(e *wire.Encoder, row []any) {
	e.StartImage(len(row))
	for i, v := range row {
		encodeValue(e, i, v)
	}
	e.EndImage()
}

// encodeValue sets column i of the open image to v.
func encodeValue(e *wire.Encoder, i int, v any) {
	switch v := v.(type) {
	case nil:
		e.Null(i)
	case int64:
		e.Int(i, v)
	case uint64:
		e.Uint(i, v)
	case float32:
		e.Float(i, float64(v))
	case float64:
		e.Float(i, v)
	case string:
		e.String(i, v)
	case []byte:
		e.Bytes(i, v)
	default:
		// engine.Absent, or a type no decoder makes: absent.
	}
}

// encodeRead writes row with only the columns listed in read (indexes,
// increasing); the others are absent.
func encodeRead(e *wire.Encoder, row []any, read []int) {
	e.StartImage(len(row))
	for _, i := range read {
		if i < len(row) {
			encodeValue(e, i, row[i])
		}
	}
	e.EndImage()
}

// tableID returns t's ID for this instance, writing its schema record
// first when the instance has not seen this table version.
func (in *instance) tableID(t *engine.Table) uint32 {
	if id, ok := in.ids[t]; ok {
		return id
	}
	in.nextID++
	id := in.nextID
	in.ids[t] = id
	in.byID[id] = t
	in.enc.Table(wireTable(t, id))
	return id
}

func wireTable(t *engine.Table, id uint32) *wire.Table {
	w := &wire.Table{ID: id, Version: t.Version, DB: t.DB, Name: t.Name, KeyKind: uint8(t.KeyKind)}
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

func engineTable(w *wire.Table) *engine.Table {
	t := &engine.Table{DB: w.DB, Name: w.Name, KeyKind: engine.KeyKind(w.KeyKind), Version: w.Version}
	t.Columns = make([]engine.Column, len(w.Columns))
	for i, c := range w.Columns {
		t.Columns[i] = engine.Column{
			Name: c.Name, Kind: engine.Kind(c.Kind), SQLType: c.SQLType, Meta: c.Meta,
			Unsigned: c.Flags&wire.ColUnsigned != 0, Nullable: c.Flags&wire.ColNullable != 0,
			Charset: c.Charset, Values: c.Values,
		}
	}
	t.Key = make([]int, len(w.Key))
	for i, k := range w.Key {
		t.Key[i] = int(k)
	}
	return t
}

func (in *instance) kindsOf(t *engine.Table) []wire.Kind {
	if k, ok := in.kinds[t]; ok {
		return k
	}
	k := make([]wire.Kind, len(t.Columns))
	for i, c := range t.Columns {
		k[i] = wire.Kind(c.Kind)
	}
	in.kinds[t] = k
	return k
}

// applyReply turns a handler's reply to b into the batch passed on. rep
// views guest memory: everything kept is copied.
func (in *instance) applyReply(b *engine.Batch, rep []byte) (*engine.Batch, error) {
	p := in.p
	r, err := wire.ParseReply(rep)
	if err != nil {
		return nil, p.malformed("reply", err)
	}
	if r.Status != wire.StatusOK {
		return nil, p.pluginErr(r.Status, fmt.Sprintf("%s: %s", r.Status, r.Message))
	}
	var out []engine.Change
	changed := false
	next := 0
	var rowErr error
	var failed []engine.Change
	nerr := 0
	emitted := false
	// fail fails input change index (src) with code and msg, as an error
	// verdict does.
	fail := func(src *engine.Change, index uint32, code uint32, msg string) {
		nerr++
		failed = append(failed, *src)
		if rowErr == nil {
			rowErr = p.rowErr(src, int(index), code, msg)
		}
	}
	for {
		tag, body, at, ok := r.Records.Next()
		if !ok {
			break
		}
		switch tag {
		case wire.RecTable:
			wt, err := wire.ParseTable(body, at)
			if err != nil {
				return nil, p.malformed("output table", err)
			}
			if wt.ID&wire.OutputTable == 0 {
				return nil, p.malformed("output table", &wire.Error{Offset: at, Msg: "table id " + strconv.FormatUint(uint64(wt.ID), 10) + " lacks the output bit (1<<31)"})
			}
			in.out[wt.ID] = engineTable(&wt)
		case wire.RecVerdict:
			v, err := wire.ParseVerdict(body, at)
			if err != nil {
				return nil, p.malformed("verdict", err)
			}
			if int(v.Index) < next || int(v.Index) >= len(b.Changes) {
				return nil, p.malformed("verdict", &wire.Error{Offset: at, Msg: fmt.Sprintf("index %d out of order or range (next %d, batch of %d)", v.Index, next, len(b.Changes))})
			}
			if !changed {
				changed = true
				out = make([]engine.Change, 0, len(b.Changes))
			}
			out = append(out, b.Changes[next:v.Index]...)
			next = int(v.Index) + 1
			src := &b.Changes[v.Index]
			switch v.Verdict {
			case wire.VerdictKeep:
				out = append(out, *src)
			case wire.VerdictDrop:
			case wire.VerdictRoute:
				c := *src
				c.Route = string(v.Text)
				out = append(out, c)
			case wire.VerdictError:
				fail(src, v.Index, v.Code, string(v.Text))
			case wire.VerdictPatch:
				if in.p.spec.Module.version < 2 {
					return nil, p.malformed("verdict", &wire.Error{Offset: at + 4, Msg: "verdict 6 (patch) needs ABI v2; the module declares v" + strconv.FormatUint(uint64(in.p.spec.Module.version), 10)})
				}
				c, err := in.patchChange(&v, src, at)
				// A type assertion, not errors.As: its target would
				// escape, an allocation per row.
				if ve, ok := err.(*valueError); ok {
					// A value its column cannot hold: the change fails
					// as if the handler had said so.
					fail(src, v.Index, wire.CodeValue, ve.Error())
					break
				}
				if err != nil {
					return nil, p.malformed("verdict", err)
				}
				out = append(out, c)
			case wire.VerdictReplace, wire.VerdictEmit:
				emitted = emitted || v.Changes.Left() > 1
				mark := len(out)
				for {
					wc, ok := v.Changes.Next()
					if !ok {
						break
					}
					c, err := in.decodeChange(&wc, src)
					if ve, ok := err.(*valueError); ok {
						// A value its column cannot hold: the change
						// fails as if the handler had said so.
						out = out[:mark]
						fail(src, v.Index, wire.CodeValue, ve.Error())
						break
					}
					if err != nil {
						return nil, p.malformed("verdict", err)
					}
					out = append(out, c)
				}
				if err := v.Changes.Err(); err != nil {
					return nil, p.malformed("verdict", err)
				}
			}
		default:
			return nil, p.malformed("reply", &wire.Error{Offset: at - 8, Msg: "unknown record tag " + strconv.Itoa(int(tag))})
		}
	}
	if err := r.Records.Err(); err != nil {
		return nil, p.malformed("reply", err)
	}
	if !changed {
		return b, nil
	}
	out = append(out, b.Changes[next:]...)
	if emitted {
		if err := numberParts(out); err != nil {
			return nil, p.pluginErr(wire.StatusFatal, err.Error())
		}
	}
	ob := &engine.Batch{Seq: b.Seq, Tx: b.Tx, Begin: b.Begin, Changes: out, Commit: b.Commit, CommitTime: b.CommitTime}
	if rowErr != nil {
		if nerr > 1 {
			rowErr.(*Error).Msg += fmt.Sprintf(" (and %d more changes of the batch)", nerr-1)
		}
		return nil, &engine.RowErrors{Batch: ob, Failed: failed, Err: rowErr}
	}
	return ob, nil
}

func (p *plugin) rowErr(c *engine.Change, index int, code uint32, msg string) error {
	where := ""
	if c.Table != nil {
		where = c.Table.FullName() + " "
	}
	tx := ""
	if c.Tx != nil {
		tx = " tx " + c.Tx.ID
	}
	return &Error{Plugin: p.spec.Name, Module: p.moduleName(), Fault: ErrPlugin,
		Msg: fmt.Sprintf("change %d (%s%s:%d%s seq %d): error %d: %s", index, where, c.File, c.Pos, tx, c.Seq, code, msg)}
}

// decodeChange builds the change a verdict carries; src is the input
// change it replaces, whose identity (tx, seq, position, time) it keeps.
func (in *instance) decodeChange(wc *wire.Change, src *engine.Change) (engine.Change, error) {
	c := *src
	c.Op = engine.Op(wc.Op)
	c.Before, c.After = nil, nil
	if wc.Flags&wire.ChangeRoute != 0 {
		if string(wc.Route) != src.Route {
			c.Route = string(wc.Route)
		}
	} else {
		c.Route = ""
	}
	var t *engine.Table
	if wc.TableID&wire.OutputTable != 0 {
		t = in.out[wc.TableID]
	} else {
		t = in.byID[wc.TableID]
	}
	if c.Op == engine.OpDDL {
		// A DDL change names its table, or none (table id 0).
		if t == nil && wc.TableID != 0 {
			return c, &wire.Error{Msg: "a DDL change names unknown table id " + strconv.FormatUint(uint64(wc.TableID), 10)}
		}
		c.Table = t
		if string(wc.DB) != src.DB {
			c.DB = string(wc.DB)
		}
		if string(wc.Statement) != src.Statement {
			c.Statement = string(wc.Statement)
		}
		return c, nil
	}
	if t == nil {
		return c, &wire.Error{Offset: wc.Before.Offset(), Msg: "change names unknown table id " + strconv.FormatUint(uint64(wc.TableID), 10)}
	}
	c.Table = t
	kinds := in.kindsOf(t)
	// A change of the input's table keeps the input's values where the
	// plugin left them as they were (a mask rewrites one column of
	// many): they are compared, not copied.
	var srcBefore, srcAfter []any
	if t == src.Table {
		srcBefore, srcAfter = src.Before, src.After
	}
	var err error
	if wc.Flags&wire.ChangeBefore != 0 {
		if c.Before, err = decodeImage(&in.vals, wc.Before, t, kinds, srcBefore, src); err != nil {
			return c, err
		}
	}
	if wc.Flags&wire.ChangeAfter != 0 {
		if c.After, err = decodeImage(&in.vals, wc.After, t, kinds, srcAfter, src); err != nil {
			return c, err
		}
	}
	return c, nil
}

// patchChange applies a patch verdict to src, the input change: a copy of
// it whose after image has the columns the patch sets replaced (the
// before image, op and table stay). at is the verdict's offset.
func (in *instance) patchChange(v *wire.VerdictRec, src *engine.Change, at int) (engine.Change, error) {
	c := *src
	if v.HasRoute && string(v.Text) != src.Route {
		c.Route = string(v.Text)
	}
	if v.Patch.Len() == 0 {
		return c, nil
	}
	t := src.Table
	if t == nil || src.After == nil {
		return c, &wire.Error{Offset: at, Msg: "a patch of a change without an after image (op " + src.Op.String() + ")"}
	}
	kinds := in.kindsOf(t)
	row := in.vals.Row(len(kinds))
	n := copy(row, src.After)
	for i := n; i < len(row); i++ {
		row[i] = engine.Absent
	}
	for {
		col, state, num, val, ok := v.Patch.Next(kinds)
		if !ok {
			break
		}
		if state == wire.PatchNull {
			row[col] = nil
			continue
		}
		x, err := decodeValue(&in.vals, t, col, kinds[col], num, val, src.After, src)
		if err != nil {
			return c, err
		}
		row[col] = x
	}
	if err := v.Patch.Err(); err != nil {
		return c, err
	}
	c.After = row
	return c, nil
}

// valueError is a value a verdict sets that its column's kind cannot
// hold (wire.CheckText): the change fails with wire.CodeValue.
type valueError struct {
	table, column string
	kind          wire.Kind
	value         []byte
	reason        string
}

func (e *valueError) Error() string {
	v := e.value
	cut := ""
	if len(v) > 40 {
		v, cut = v[:40], "…"
	}
	return fmt.Sprintf("the handler set %s.%s (%s) to %q%s: %s", e.table, e.column, e.kind, v, cut, e.reason)
}

// decodeImage decodes a verdict's row image of table t. src, when not
// nil, is a row of the same table: values equal to its own are taken from
// it. A value neither taken from src nor passed through from the input
// change in (a column of the same name and kind, as an output schema
// keeps it) must be one of its kind (a *valueError if not). The row and
// its text values are cut from vals.
func decodeImage(vals *engine.Values, im wire.Image, t *engine.Table, kinds []wire.Kind, src []any, in *engine.Change) ([]any, error) {
	if err := im.Check(kinds); err != nil {
		return nil, err
	}
	if len(src) != len(kinds) {
		src = nil
	}
	row := vals.Row(len(kinds))
	for i, k := range kinds {
		switch im.Slot(i) {
		case wire.SlotAbsent:
			row[i] = engine.Absent
			continue
		case wire.SlotNull:
			continue
		}
		var n uint64
		var v []byte
		if k.Fixed() {
			n, _ = im.Fixed(i)
		} else {
			v, _ = im.Var(i)
		}
		x, err := decodeValue(vals, t, i, k, n, v, src, in)
		if err != nil {
			return nil, err
		}
		row[i] = x
	}
	return row, nil
}

// decodeValue returns the value a verdict sets in column i (of kind k)
// of table t: n for a fixed kind, else v (viewing guest memory, copied).
// src, when not nil, is a row of t whose equal value is returned rather
// than a copy; a text value neither equal to src's nor passed through
// from the input change in must be of its kind (a *valueError if not).
// Text values are copied into vals.
func decodeValue(vals *engine.Values, t *engine.Table, i int, k wire.Kind, n uint64, v []byte, src []any, in *engine.Change) (any, error) {
	switch k {
	case wire.KindInt, wire.KindYear:
		if o, ok := srcValue(src, i).(int64); ok && o == int64(n) {
			return src[i], nil
		}
		return int64(n), nil
	case wire.KindUint, wire.KindBit:
		if o, ok := srcValue(src, i).(uint64); ok && o == n {
			return src[i], nil
		}
		return n, nil
	case wire.KindFloat, wire.KindDouble:
		f := math.Float64frombits(n)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, &valueError{table: t.FullName(), column: t.Columns[i].Name, kind: k, value: strconv.AppendFloat(nil, f, 'g', -1, 64), reason: "not a finite number"}
		}
		if k == wire.KindFloat {
			return float32(f), nil
		}
		return f, nil
	case wire.KindBytes, wire.KindGeometry:
		if o, ok := srcValue(src, i).([]byte); ok && bytes.Equal(o, v) {
			return src[i], nil
		}
		return vals.Bytes(v), nil
	}
	if o, ok := srcValue(src, i).(string); ok && o == string(v) {
		return src[i], nil
	}
	c := &t.Columns[i]
	var members []string
	if len(c.Values) > 0 {
		members = c.Values
	}
	if reason := wire.CheckText(k, members, v); reason != "" && !passedThrough(in, c, v) {
		return nil, &valueError{table: t.FullName(), column: c.Name, kind: k, value: v, reason: reason}
	}
	return vals.String(v), nil
}

// passedThrough reports whether v is the value the input change in
// carries in a column named and kinded as c: the engine's, which a
// handler passed on as it came (renamed table, added columns).
func passedThrough(in *engine.Change, c *engine.Column, v []byte) bool {
	if in == nil || in.Table == nil {
		return false
	}
	for j := range in.Table.Columns {
		if ic := &in.Table.Columns[j]; ic.Name == c.Name && ic.Kind == c.Kind {
			for _, row := range [][]any{in.Before, in.After} {
				if j < len(row) {
					if s, ok := row[j].(string); ok && s == string(v) {
						return true
					}
				}
			}
		}
	}
	return false
}

func srcValue(src []any, i int) any {
	if i >= len(src) {
		return nil
	}
	return src[i]
}

// maxParts is how many changes a handler may make of one input change:
// parts are numbered in a u16.
const maxParts = 1<<16 - 1

// numberParts numbers 1..n the changes that share a Seq because a handler
// emitted several from one (they are adjacent: verdicts keep the input's
// order), so that (tx, seq, part) stays an idempotency key; a Seq's only
// change keeps its part. The numbering is the plugins' output order, the
// same on every delivery of the batch.
func numberParts(cs []engine.Change) error {
	for i := 0; i < len(cs); {
		j := i + 1
		for j < len(cs) && cs[j].Seq == cs[i].Seq && cs[j].Tx == cs[i].Tx {
			j++
		}
		if j-i > maxParts {
			return fmt.Errorf("handler made %d changes of change seq %d; at most %d can be told apart", j-i, cs[i].Seq, maxParts)
		}
		if j-i > 1 {
			for k := i; k < j; k++ {
				cs[k].Part = uint16(k - i + 1)
			}
		}
		i = j
	}
	return nil
}
