package sdk

import (
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Verdict is a handler's answer for one change: Keep, Drop or Fail.
type Verdict struct {
	v    wire.Verdict
	code uint32
	msg  string
}

// Keep passes the change on: unchanged, or as Set, SetOp, SetRoute and
// OutputSchema made it, or as the rows Emitted.
func Keep() Verdict { return Verdict{v: wire.VerdictKeep} }

// Drop drops the change (and any rows Emitted for it).
func Drop() Verdict { return Verdict{v: wire.VerdictDrop} }

// Fail reports that the change cannot be handled: the batch fails with the
// code and message, and the task's on_error policy applies (retry, then
// stop or dead-letter). code is one of CodeConfig, CodeHost, CodeValue,
// CodeData, CodeUnspecified, or the plugin's own from 100 on; the host
// reports it, and does not act on it. msg is copied.
func Fail(code uint32, msg string) Verdict {
	return Verdict{v: wire.VerdictError, code: code, msg: msg}
}

// Tx describes the transaction a batch belongs to. Its strings view the
// batch.
type Tx struct {
	ID       string // the GTID, or "file:pos" of the first event
	GTID     string
	ServerID uint32
	File     string
	Pos      uint32
}

// Row is one change as a handler or sender sees it: a row insert, update
// or delete, a TRUNCATE, or a DDL statement. A Row and everything read
// from it are valid only until the registered function returns.
type Row struct {
	p     *plugin
	b     *Batch
	index int
	ch    wire.Change
	table *Table

	// Output state, handlers only.
	out      *Table
	op       Op
	route    string
	hasRoute bool
	dirty    bool
	before   bool // a Set changed the before image
	emitted  uint32
	emitting bool
	mark     wire.Mark
	bad      int    // Sets that failed and were not set again (ErrKind)
	failed   string // the error of a failed Set an Emit passed over
	missing  string // the name a Set looked up in vain

	// A sender's change, until Batch.Row decodes its fixed fields
	// (fixed) and then the rest when read (parsed).
	body   []byte
	at     int
	fixed  bool
	parsed bool
}

// Op returns what the change did.
func (r *Row) Op() Op { return Op(r.ch.Op) }

// Table returns the table's schema. A DDL change's table, when it names
// one, has no columns; a DDL change that names none has nil.
func (r *Row) Table() *Table { return r.table }

// DB returns the table's database, or a DDL statement's default database.
func (r *Row) DB() string {
	r.full()
	if r.table != nil {
		return r.table.DB
	}
	return view(r.ch.DB)
}

// TableName returns the table's name; "" for DDL that names no table.
func (r *Row) TableName() string {
	if r.table != nil {
		return r.table.Name
	}
	return ""
}

// Statement returns a DDL change's SQL text.
func (r *Row) Statement() string {
	r.full()
	return view(r.ch.Statement)
}

// Before returns the row before the change (updates and deletes).
func (r *Row) Before() Image {
	r.full()
	return Image{t: r.table, im: &r.ch.Before}
}

// After returns the row after the change (inserts, updates, reads).
func (r *Row) After() Image {
	r.full()
	return Image{t: r.table, im: &r.ch.After}
}

// Seq returns the change's sequence number within its transaction, from 1;
// with the transaction's ID and Part it is the change's idempotency key.
func (r *Row) Seq() uint32 { return r.ch.Seq }

// Part numbers, from 1, the rows a handler before this one made of one
// input change (Emit); 0 for a change that is its Seq's only one. With
// the transaction's ID and Seq it is the change's idempotency key.
func (r *Row) Part() uint16 { return r.ch.Part }

// Timestamp returns when the change's statement started on the source, in
// seconds since the epoch.
func (r *Row) Timestamp() int64 { return r.ch.Timestamp }

// File and Pos locate the end of the binary-log event carrying the change.
func (r *Row) File() string {
	if !r.parsed {
		// Reading it needs nothing decoded after it: a sender that only
		// counts changes by where they come from decodes no values.
		if f, ok := wire.ChangeFile(r.body); ok {
			return view(f)
		}
		r.parseRest()
	}
	return view(r.ch.File)
}

// Pos is the position part of File.
func (r *Row) Pos() uint32 { return r.ch.Pos }

// Route returns the change's routing key, set by a handler before this
// one; ok is false when none was set.
func (r *Row) Route() (key string, ok bool) {
	r.full()
	return view(r.ch.Route), r.ch.Flags&wire.ChangeRoute != 0
}

// Tx returns the transaction the change belongs to.
func (r *Row) Tx() Tx { return r.b.Tx() }

// Index returns the change's index in its batch.
func (r *Row) Index() int { return r.index }

// Out returns the table the handler passes the row on as: Table, or the
// output table OutputSchema made for it.
func (r *Row) Out() *Table { return r.out }

// Set sets a column of the row passed on (in the Out table's shape): in
// the after image, or in the before image for a delete. It returns a
// *SetError when Out has no such column (ErrNoColumn), the row no such
// image (ErrNoImage), or v does not fit the column's kind (ErrKind); the
// column then keeps what it had.
//
// A NULL fits every column. Otherwise a column takes values of its own
// kind and these conversions, and nothing else:
//
//	column kind         takes
//	int, year           int, year; uint, bit up to 2^63-1
//	uint, bit           uint, bit; int, year from 0
//	float, double       float, double (finite; a float column's rounded to
//	                    float32, and within its range); any integer
//	decimal             any integer (as its digits); decimal values and
//	                    strings that are decimal text [-]digits[.digits]
//	string              any text that is UTF-8 (bytes too); numbers, as
//	                    their String text
//	bytes               anything, as its bytes (numbers as their text)
//	geometry            bytes
//	date, time,         strings in the kind's format (see Kind): a date
//	datetime,           YYYY-MM-DD, a time [-]HH:MM:SS[.ffffff], a datetime
//	timestamp           YYYY-MM-DD HH:MM:SS[.ffffff], a timestamp
//	                    YYYY-MM-DDTHH:MM:SS[.ffffff]Z or the zero
//	                    0000-00-00 00:00:00
//	enum, set           strings that are members (joined by ',' for a
//	                    set), when the column lists its members
//	json                strings that are JSON text
//	uuid                strings 8-4-4-4-12 in lower-case hex
//	inet                strings that are an IPv4 or IPv6 address
//
// The check is of the kind, not of the column's declared size: a DECIMAL's
// precision and scale, a VARCHAR's length or a TINYINT's range are the
// plugin's to respect (Column.Decimal, Column.MaxChars).
//
// A handler that ignores an ErrKind and passes the row on anyway (Keep or
// Emit) has its change fail with CodeValue and the error's message,
// rather than pass on a row it did not mean; a later Set of a value that
// fits the same column clears it.
func (r *Row) Set(name string, v Value) error {
	return r.SetAt(r.outIndex(name), v)
}

// SetBefore sets a column of the before image of the row passed on, as
// Set does.
func (r *Row) SetBefore(name string, v Value) error {
	return r.SetBeforeAt(r.outIndex(name), v)
}

// outIndex is the index of the Out table's column name, or -1 after
// remembering name for the error.
func (r *Row) outIndex(name string) int {
	i := -1
	if r.out != nil {
		i = r.out.Index(name)
	}
	if i < 0 {
		r.missing = name
	}
	return i
}

// SetAt is Set by the column's index in the Out table, without looking
// up a name.
func (r *Row) SetAt(i int, v Value) error {
	r.full()
	if Op(r.ch.Op) == OpDelete {
		return r.setAt(r.p.setBefore, r.ch.Before, i, v, true)
	}
	return r.setAt(r.p.setAfter, r.ch.After, i, v, false)
}

// SetBeforeAt is SetBefore by the column's index in the Out table.
func (r *Row) SetBeforeAt(i int, v Value) error {
	r.full()
	return r.setAt(r.p.setBefore, r.ch.Before, i, v, true)
}

func (r *Row) setAt(vals []Value, img wire.Image, i int, v Value, before bool) error {
	if r.out == nil || i < 0 || i >= len(r.out.Columns) {
		name := r.missing
		if i >= 0 || name == "" {
			name = "#" + strconv.Itoa(i)
		}
		r.missing = ""
		table := ""
		if r.out != nil {
			table = r.out.fullName
		}
		return &SetError{Table: table, Column: name, Err: ErrNoColumn}
	}
	c := &r.out.Columns[i]
	if !img.Present() {
		return &SetError{Table: r.out.fullName, Column: c.Name, Kind: c.Kind, Value: v.kind, Reason: "a " + r.Op().String() + " change has no such image", Err: ErrNoImage}
	}
	if v.state == valueAbsent {
		v.state = valueNull
	}
	if reason := c.fit(v); reason != "" {
		err := c.kindError(r.out.fullName, v, reason)
		if vals[i].state != valueBad {
			r.bad++
		}
		vals[i] = Value{state: valueBad, text: err.Error()}
		r.dirty = true
		return err
	}
	if vals[i].state == valueBad {
		r.bad--
	}
	vals[i] = v
	r.dirty = true
	r.before = r.before || before
	return nil
}

// badSet returns the message of the first Set that failed on the row and
// was not set again since: the row's error.
func (r *Row) badSet() string {
	for _, vals := range [][]Value{r.p.setBefore, r.p.setAfter} {
		for j := range vals {
			if vals[j].state == valueBad {
				return vals[j].text
			}
		}
	}
	return ""
}

// SetOp changes the op of the row passed on (a soft delete turns a delete
// into an update, say). The images passed on are those the input carries.
func (r *Row) SetOp(op Op) {
	if op.Valid() && op != r.op {
		r.op = op
		r.dirty = true
	}
}

// SetRoute sets the routing key of the row passed on; senders that
// partition (Kafka, NATS subjects) use it.
func (r *Row) SetRoute(key string) { r.route, r.hasRoute = key, true }

// Emit passes on the row as it stands now (Set values included), in
// addition to any rows emitted before; Keep then passes on only the
// emitted rows. Emit lets one change become several.
func (r *Row) Emit() {
	if r.out == nil {
		return
	}
	if r.bad > 0 && r.failed == "" {
		r.failed = r.badSet()
	}
	e := &r.p.enc
	if !r.emitting {
		r.emitting, r.mark = true, e.Mark()
		e.StartVerdict(uint32(r.index), wire.VerdictEmit, 0, "")
	}
	r.encode()
	r.emitted++
}

// finish writes the verdict for r's change.
func (r *Row) finish(v Verdict) {
	e := &r.p.enc
	if v.v != wire.VerdictDrop && v.v != wire.VerdictError && (r.bad > 0 || r.failed != "") {
		msg := r.failed
		if msg == "" {
			msg = r.badSet()
		}
		v = Fail(CodeValue, msg)
	}
	switch v.v {
	case wire.VerdictDrop, wire.VerdictError:
		if r.emitting {
			e.Rewind(r.mark)
		}
		e.StartVerdict(uint32(r.index), v.v, v.code, v.msg)
		e.EndVerdict()
	default:
		switch {
		case r.emitting:
			e.EndVerdict()
		case r.patches():
			// Only values of the after image changed: say which.
			e.StartPatch(uint32(r.index), r.route, r.hasRoute)
			set := r.p.setAfter
			for j := range r.out.Columns {
				if set[j].state == valueNull || set[j].state == valueSet {
					r.p.encodeValue(j, r.out.Columns[j].Kind, set[j])
				}
			}
			e.EndVerdict()
		case r.dirty || r.out != r.table:
			e.StartVerdict(uint32(r.index), wire.VerdictReplace, 0, "")
			r.encode()
			e.EndVerdict()
		case r.hasRoute:
			e.StartVerdict(uint32(r.index), wire.VerdictRoute, 0, r.route)
			e.EndVerdict()
		}
	}
	if r.dirty && r.out != nil {
		// Only the Out table's columns can have been set.
		n := len(r.out.Columns)
		clear(r.p.setAfter[:n])
		clear(r.p.setBefore[:n])
	}
}

// patches reports whether the row passed on is the input with values of
// its after image set and nothing else changed (table, op, before
// image), which a patch verdict says in a few bytes.
func (r *Row) patches() bool {
	return r.dirty && !r.before && r.out == r.table && r.out != nil && r.op == Op(r.ch.Op) && r.ch.After.Present()
}

// encode writes the row as it stands as a change of the open verdict.
func (r *Row) encode() {
	r.full()
	e := &r.p.enc
	h := wire.ChangeHeader{
		Op: wire.Op(r.op), Seq: r.ch.Seq, Part: r.ch.Part, Pos: r.ch.Pos, Timestamp: r.ch.Timestamp,
		File: view(r.ch.File), DB: view(r.ch.DB), Statement: view(r.ch.Statement),
	}
	if r.out != nil {
		h.TableID = r.out.id
	}
	if r.hasRoute {
		h.Route, h.HasRoute = r.route, true
	} else if r.ch.Flags&wire.ChangeRoute != 0 {
		h.Route, h.HasRoute = view(r.ch.Route), true
	}
	hasBefore, hasAfter := r.ch.Before.Present(), r.ch.After.Present()
	e.StartChange(&h, hasBefore, hasAfter)
	if hasBefore {
		r.encodeImage(r.ch.Before, r.p.setBefore)
	}
	if hasAfter {
		r.encodeImage(r.ch.After, r.p.setAfter)
	}
	e.EndChange()
}

func (r *Row) encodeImage(in wire.Image, set []Value) {
	e := &r.p.enc
	out := r.out
	if out.from == nil && in.Present() && in.Len() == len(out.Columns) {
		// The input's shape: copy the image whole and append what was
		// set, instead of re-encoding every column.
		e.CopyImage(in)
		if r.dirty {
			for j := range out.Columns {
				if set[j].state == valueNull || set[j].state == valueSet {
					r.p.encodeValue(j, out.Columns[j].Kind, set[j])
				}
			}
		}
		e.EndImage()
		return
	}
	e.StartImage(len(out.Columns))
	for j := range out.Columns {
		k := out.Columns[j].Kind
		if r.dirty && (set[j].state == valueNull || set[j].state == valueSet) {
			r.p.encodeValue(j, k, set[j])
			continue
		}
		i := j
		if out.from != nil {
			i = out.from[j]
		}
		if i < 0 {
			continue // added, not set: absent
		}
		switch in.Slot(i) {
		case wire.SlotAbsent:
		case wire.SlotNull:
			e.Null(j)
		default:
			if raw, ok := in.Raw(i, k.Numeric()); ok {
				e.Raw(j, raw)
			}
		}
	}
	e.EndImage()
}

// encodeValue writes v as column j of kind k.
func (p *plugin) encodeValue(j int, k Kind, v Value) {
	e := &p.enc
	if v.state == valueNull {
		e.Null(j)
		return
	}
	switch k {
	case KindInt, KindYear:
		e.Int(j, v.Int())
	case KindUint, KindBit:
		e.Uint(j, v.Uint())
	case KindFloat:
		e.Float(j, float64(float32(v.Float())))
	case KindDouble:
		e.Float(j, v.Float())
	default:
		if v.kind.Numeric() {
			// Set let a number into a text column (fit): its String text.
			p.num = v.AppendText(p.num[:0])
			e.Bytes(j, p.num)
			return
		}
		e.String(j, v.text)
	}
}
