package wire

import (
	"encoding/binary"
	"math"
	"slices"
)

// Tx describes the transaction of a batch (the Tx block).
type Tx struct {
	ID, GTID string
	ServerID uint32
	File     string
	Pos      uint32
}

// Commit is the Commit block of a batch closing its transaction.
type Commit struct {
	File    string
	Pos     uint32
	GTIDSet string
	Time    int64 // seconds since the epoch
}

// Table is a table schema record.
type Table struct {
	// ID names the table in change records; 0 is never used. Host IDs are
	// below OutputTable; a handler's output tables have OutputTable set.
	ID      uint32
	Version uint64
	DB      string
	Name    string
	KeyKind uint8
	Columns []Column
	// Key lists column indexes.
	Key []uint16
}

// Column is one column of a Table.
type Column struct {
	Name    string
	Kind    Kind
	SQLType uint8
	Meta    uint16
	Flags   uint8 // ColUnsigned, ColNullable
	Charset string
	Values  []string // ENUM/SET members
}

// ChangeHeader is the fixed part of a change record.
type ChangeHeader struct {
	Op        Op
	TableID   uint32 // 0 for DDL
	Seq       uint32
	Part      uint16 // see Change.Part
	Pos       uint32
	Timestamp int64
	File      string
	// DB and Statement are set for DDL.
	DB, Statement string
	// Route is the routing key, written when HasRoute.
	Route    string
	HasRoute bool
}

// Encoder builds messages. The zero value is ready to use; Bytes returns
// the message, valid until the next Start call; Message returns it. An Encoder reuses its
// buffer, so encoding allocates only while the buffer grows.
//
// Call order: StartInit, or StartBatch / StartReply followed by records
// (Table; StartChange … EndChange; StartVerdict … EndVerdict) and Finish.
type Encoder struct {
	buf      []byte
	nrec     uint32
	nchg     uint32
	rec      int // start of the open record's length field, -1 when none
	img      int // start of the open image's length field
	verdict  int // offset of the open verdict's change count, -1 when none
	nchanges uint32
	// verdictRec is the open verdict record's length field.
	verdictRec int
	// patch is 1 + the offset of the open patch verdict's column count,
	// 0 when none (so that the zero Encoder has none); npatch counts its
	// columns.
	patch  int
	npatch uint16
	kind   uint8 // message type being built
}

// Message returns the message built so far.
func (e *Encoder) Message() []byte { return e.buf }

func (e *Encoder) u8(v uint8)   { e.buf = append(e.buf, v) }
func (e *Encoder) u16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }
func (e *Encoder) u32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }
func (e *Encoder) u64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *Encoder) str(s string) {
	b := e.grow(4 + len(s))
	binary.LittleEndian.PutUint32(b, uint32(len(s)))
	copy(b[4:], s)
}

func (e *Encoder) patch32(at int, v uint32) { binary.LittleEndian.PutUint32(e.buf[at:], v) }

// grow extends the message by n bytes and returns them, for a fixed-size
// header written in place: one capacity check instead of one per field,
// which inside Wasm (the SDK encodes verdicts) is a call each.
func (e *Encoder) grow(n int) []byte {
	l := len(e.buf)
	if cap(e.buf)-l < n {
		e.buf = slices.Grow(e.buf, n)
	}
	e.buf = e.buf[:l+n]
	return e.buf[l : l+n : l+n]
}

func (e *Encoder) reset(kind uint8) {
	e.buf = e.buf[:0]
	e.nrec, e.nchg, e.rec, e.img, e.verdict, e.patch, e.kind = 0, 0, -1, -1, -1, 0, kind
}

// StartInit writes a whole Init message for a module of ABI version
// (MinVersion to Version); Message returns it.
func (e *Encoder) StartInit(version uint32, role Role, task, plugin string, config []byte) {
	e.reset(MsgInit)
	e.u8(MsgInit)
	e.u8(uint8(role))
	e.u16(0)
	e.u32(version)
	e.str(task)
	e.str(plugin)
	e.u32(uint32(len(config)))
	e.buf = append(e.buf, config...)
}

// StartBatch starts a Batch message. tx and commit may be nil; commit is
// written only with tx.
func (e *Encoder) StartBatch(seq uint64, begin bool, tx *Tx, commit *Commit) {
	e.reset(MsgBatch)
	var flags uint8
	if begin {
		flags |= BatchBegin
	}
	if tx != nil {
		flags |= BatchTx
		if commit != nil {
			flags |= BatchCommit
		}
	}
	e.u8(MsgBatch)
	e.u8(flags)
	e.u16(0)
	e.u32(0) // records, patched by Finish
	e.u32(0) // changes, patched by Finish
	e.u32(0)
	e.u64(seq)
	if tx != nil {
		e.str(tx.ID)
		e.str(tx.GTID)
		e.u32(tx.ServerID)
		e.str(tx.File)
		e.u32(tx.Pos)
		if commit != nil {
			e.str(commit.File)
			e.u32(commit.Pos)
			e.str(commit.GTIDSet)
			e.u64(uint64(commit.Time))
		}
	}
}

// StartReply starts a Reply message.
func (e *Encoder) StartReply(status Status, code uint32, msg string) {
	e.reset(MsgReply)
	e.u8(MsgReply)
	e.u8(uint8(status))
	e.u16(0)
	e.u32(0) // records, patched by Finish
	e.u32(code)
	e.str(msg)
}

// Finish patches the record counts and returns the message.
func (e *Encoder) Finish() []byte {
	switch e.kind {
	case MsgBatch:
		e.patch32(4, e.nrec)
		e.patch32(8, e.nchg)
	case MsgReply:
		e.patch32(4, e.nrec)
	}
	return e.buf
}

func (e *Encoder) startRecord(tag uint8) {
	b := e.grow(8)
	b[0], b[1], b[2], b[3] = tag, 0, 0, 0
	binary.LittleEndian.PutUint32(b[4:], 0)
	e.rec = len(e.buf) - 4
	e.nrec++
}

func (e *Encoder) endRecord() {
	e.patch32(e.rec, uint32(len(e.buf)-e.rec-4))
	e.rec = -1
}

// Table writes a table schema record.
func (e *Encoder) Table(t *Table) {
	e.startRecord(RecTable)
	e.u32(t.ID)
	e.u64(t.Version)
	e.str(t.DB)
	e.str(t.Name)
	e.u8(t.KeyKind)
	e.u8(0)
	e.u16(uint16(len(t.Columns)))
	for i := range t.Columns {
		c := &t.Columns[i]
		e.str(c.Name)
		e.u8(uint8(c.Kind))
		e.u8(c.SQLType)
		e.u16(c.Meta)
		e.u8(c.Flags)
		e.u8(0)
		e.str(c.Charset)
		e.u16(uint16(len(c.Values)))
		for _, v := range c.Values {
			e.str(v)
		}
	}
	e.u16(uint16(len(t.Key)))
	for _, k := range t.Key {
		e.u16(k)
	}
	e.endRecord()
}

// StartChange starts a change: a record in a Batch, or the next change of
// the open verdict in a Reply. hasBefore and hasAfter say which images
// follow, before first; write each with StartImage … EndImage.
func (e *Encoder) StartChange(h *ChangeHeader, hasBefore, hasAfter bool) {
	if e.verdict >= 0 {
		e.rec = len(e.buf)
		e.u32(0)
		e.nchanges++
	} else {
		e.startRecord(RecChange)
		e.nchg++
	}
	var flags uint8
	if hasBefore {
		flags |= ChangeBefore
	}
	if hasAfter {
		flags |= ChangeAfter
	}
	if h.HasRoute {
		flags |= ChangeRoute
	}
	b := e.grow(changeFixed)
	b[0], b[1] = uint8(h.Op), flags
	binary.LittleEndian.PutUint16(b[2:], h.Part)
	binary.LittleEndian.PutUint32(b[4:], h.TableID)
	binary.LittleEndian.PutUint32(b[8:], h.Seq)
	binary.LittleEndian.PutUint32(b[12:], h.Pos)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.Timestamp))
	e.str(h.File)
	e.str(h.DB)
	e.str(h.Statement)
	if h.HasRoute {
		e.str(h.Route)
	}
}

// EndChange closes the change.
func (e *Encoder) EndChange() { e.endRecord() }

// StartImage starts a row image of n columns, every one absent until set.
func (e *Encoder) StartImage(n int) {
	e.img = len(e.buf)
	b := e.grow(8 + 4*n)
	clear(b)
	binary.LittleEndian.PutUint16(b[4:], uint16(n))
}

// CopyImage starts a row image as a copy of im, every column as im has
// it; setting a column then appends its new value and points its slot
// there (the old bytes stay, unreferenced). Close it with EndImage. It
// is how a handler passes a row on with a few columns changed without
// re-encoding the others.
func (e *Encoder) CopyImage(im Image) {
	e.img = len(e.buf)
	b := e.grow(4 + len(im.b))
	binary.LittleEndian.PutUint32(b, uint32(len(im.b)))
	copy(b[4:], im.b)
}

// EndImage closes the image.
func (e *Encoder) EndImage() {
	e.patch32(e.img, uint32(len(e.buf)-e.img-4))
	e.img = -1
}

// slot points column i of the open image at the value about to be
// appended, or heads column i of the open patch verdict.
func (e *Encoder) slot(i int) {
	if e.patch > 0 {
		e.patchColumn(i, PatchValue)
		return
	}
	body := e.img + 4
	e.patch32(body+4+4*i, uint32(len(e.buf)-body))
}

// Null marks column i NULL.
func (e *Encoder) Null(i int) {
	if e.patch > 0 {
		e.patchColumn(i, PatchNull)
		return
	}
	e.patch32(e.img+4+4+4*i, SlotNull)
}

// Int sets column i to v (KindInt, KindYear).
func (e *Encoder) Int(i int, v int64) { e.slot(i); e.u64(uint64(v)) }

// Uint sets column i to v (KindUint, KindBit).
func (e *Encoder) Uint(i int, v uint64) { e.slot(i); e.u64(v) }

// Float sets column i to v (KindFloat, KindDouble).
func (e *Encoder) Float(i int, v float64) { e.slot(i); e.u64(math.Float64bits(v)) }

// String sets column i to s (every variable-length kind).
func (e *Encoder) String(i int, s string) { e.slot(i); e.str(s) }

// Bytes sets column i to b (every variable-length kind).
func (e *Encoder) Bytes(i int, b []byte) {
	e.slot(i)
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// Raw sets column i to an encoded value as Image.Raw returns it (8 bytes,
// or a length and bytes), copying a value between images without decoding
// it.
func (e *Encoder) Raw(i int, raw []byte) { e.slot(i); copy(e.grow(len(raw)), raw) }

// StartVerdict starts a verdict record for input change index. For
// VerdictReplace and VerdictEmit, write the changes with StartChange …
// EndChange before EndVerdict; VerdictError and VerdictRoute carry their
// payload here.
func (e *Encoder) StartVerdict(index uint32, v Verdict, code uint32, text string) {
	e.startRecord(RecVerdict)
	b := e.grow(8)
	binary.LittleEndian.PutUint32(b, index)
	b[4], b[5], b[6], b[7] = uint8(v), 0, 0, 0
	switch v {
	case VerdictReplace, VerdictEmit:
		e.verdict = len(e.buf)
		e.nchanges = 0
		e.u32(0)
	case VerdictError:
		e.u32(code)
		e.str(text)
	case VerdictRoute:
		e.str(text)
	}
	e.verdictRec = e.rec
}

// StartPatch starts a patch verdict (ABI v2) for input change index,
// with a routing key when hasRoute. Until EndVerdict, Null, Int, Uint,
// Float, String, Bytes and Raw set the patch's columns, which must come in
// increasing order.
func (e *Encoder) StartPatch(index uint32, route string, hasRoute bool) {
	e.startRecord(RecVerdict)
	b := e.grow(8)
	binary.LittleEndian.PutUint32(b, index)
	b[4], b[5], b[6], b[7] = uint8(VerdictPatch), 0, 0, 0
	e.patch, e.npatch = len(e.buf)-1, 0
	if hasRoute {
		b[5] = ChangeRoute
		e.str(route)
	}
	e.verdictRec = e.rec
}

// patchColumn writes the head of the open patch verdict's column col.
func (e *Encoder) patchColumn(col int, state uint8) {
	b := e.grow(4)
	binary.LittleEndian.PutUint16(b, uint16(col))
	b[2], b[3] = state, 0
	e.npatch++
}

// EndVerdict closes the verdict.
func (e *Encoder) EndVerdict() {
	if e.verdict >= 0 {
		e.patch32(e.verdict, e.nchanges)
		e.verdict = -1
	}
	if e.patch > 0 {
		binary.LittleEndian.PutUint16(e.buf[e.patch-1:], e.npatch)
		e.patch = 0
	}
	e.rec = e.verdictRec
	e.endRecord()
}

// Mark is a point in the message to Rewind to.
type Mark struct {
	n          int
	nrec, nchg uint32
}

// Mark returns the current point of the message.
func (e *Encoder) Mark() Mark { return Mark{len(e.buf), e.nrec, e.nchg} }

// Rewind drops everything written since m, closing any open verdict.
func (e *Encoder) Rewind(m Mark) {
	e.buf = e.buf[:m.n]
	e.nrec, e.nchg = m.nrec, m.nchg
	e.rec, e.img, e.verdict, e.patch = -1, -1, -1, 0
}

// AppendGroup appends the header of a Group message of n batches to dst;
// AppendGroupBatch then appends each Batch message.
func AppendGroup(dst []byte, n uint32) []byte {
	dst = append(dst, MsgGroup, 0, 0, 0)
	return binary.LittleEndian.AppendUint32(dst, n)
}

// AppendGroupBatch appends one Batch message of a Group message.
func AppendGroupBatch(dst, batch []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(batch)))
	return append(dst, batch...)
}
