package wire

import (
	"encoding/binary"
	"strconv"
)

// Error is a malformed message: what was wrong and the byte offset, from
// the start of the message, where decoding stopped.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return "at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg }

// reader reads little-endian fields from b, which starts at absolute
// offset base of the message. The first failure sticks.
type reader struct {
	b    []byte
	off  int
	base int
	err  *Error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = &Error{Offset: r.base + r.off, Msg: msg}
	}
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("truncated " + what)
		return false
	}
	return true
}

func (r *reader) u8(what string) uint8 {
	if !r.need(1, what) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16(what string) uint16 {
	if !r.need(2, what) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if !r.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64(what string) uint64 {
	if !r.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// bytes reads a u32 length and that many bytes, returning a view of them.
func (r *reader) bytes(what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < 4 {
		r.fail("truncated " + what + " length")
		return nil
	}
	n := uint64(binary.LittleEndian.Uint32(r.b[r.off:]))
	start := r.off + 4
	if n > uint64(len(r.b)-start) {
		r.fail("truncated " + what)
		return nil
	}
	end := start + int(n)
	r.off = end
	return r.b[start:end:end]
}

func (r *reader) error() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Init is a decoded Init message; its byte slices view the message.
type Init struct {
	Role    Role
	Version uint32
	Task    []byte
	Plugin  []byte
	Config  []byte // JSON object text
}

// ParseInit decodes an Init message.
func ParseInit(b []byte) (Init, error) {
	r := reader{b: b}
	var m Init
	if t := r.u8("message type"); r.err == nil && t != MsgInit {
		r.off--
		r.fail("message type " + strconv.Itoa(int(t)) + ", want init")
	}
	m.Role = Role(r.u8("role"))
	r.u16("reserved")
	m.Version = r.u32("version")
	m.Task = r.bytes("task")
	m.Plugin = r.bytes("plugin")
	m.Config = r.bytes("config")
	return m, r.error()
}

// TxView is a batch's Tx block; its byte slices view the message.
type TxView struct {
	ID, GTID []byte
	ServerID uint32
	File     []byte
	Pos      uint32
}

// CommitView is a batch's Commit block.
type CommitView struct {
	File    []byte
	Pos     uint32
	GTIDSet []byte
	Time    int64
}

// Batch is a decoded Batch message header; Records iterates its records.
type Batch struct {
	Flags    uint8
	Records  Records
	NChanges uint32
	Seq      uint64
	Tx       TxView     // valid when Flags has BatchTx
	Commit   CommitView // valid when Flags has BatchCommit
}

// ParseBatch decodes a Batch message's header.
func ParseBatch(b []byte) (Batch, error) {
	r := reader{b: b}
	var m Batch
	if t := r.u8("message type"); r.err == nil && t != MsgBatch {
		r.off--
		r.fail("message type " + strconv.Itoa(int(t)) + ", want batch")
	}
	m.Flags = r.u8("flags")
	r.u16("reserved")
	nrec := r.u32("record count")
	m.NChanges = r.u32("change count")
	r.u32("reserved")
	m.Seq = r.u64("seq")
	if m.Flags&BatchTx != 0 {
		m.Tx.ID = r.bytes("tx id")
		m.Tx.GTID = r.bytes("tx gtid")
		m.Tx.ServerID = r.u32("tx server id")
		m.Tx.File = r.bytes("tx file")
		m.Tx.Pos = r.u32("tx pos")
		if m.Flags&BatchCommit != 0 {
			m.Commit.File = r.bytes("commit file")
			m.Commit.Pos = r.u32("commit pos")
			m.Commit.GTIDSet = r.bytes("commit gtid set")
			m.Commit.Time = int64(r.u64("commit time"))
		}
	} else if m.Flags&BatchCommit != 0 {
		r.fail("commit flag without tx flag")
	}
	m.Records = Records{b: b, off: r.off, left: nrec}
	return m, r.error()
}

// Group is a decoded Group message header; Next iterates its batches.
type Group struct {
	b    []byte
	off  int
	left uint32
	err  *Error
}

// ParseGroup decodes a Group message's header: at least one batch.
func ParseGroup(b []byte) (Group, error) {
	r := reader{b: b}
	if t := r.u8("message type"); r.err == nil && t != MsgGroup {
		r.off--
		r.fail("message type " + strconv.Itoa(int(t)) + ", want group")
	}
	r.u8("reserved")
	r.u16("reserved")
	n := r.u32("batch count")
	if r.err == nil && n == 0 {
		r.off -= 4
		r.fail("a group of no batches")
	}
	return Group{b: b, off: r.off, left: n}, r.error()
}

// Len returns the number of batches not yet read.
func (g *Group) Len() int { return int(g.left) }

// Next returns the next Batch message and its offset in the group
// message; ok is false after the last one or on an error (see Err).
func (g *Group) Next() (batch []byte, at int, ok bool) {
	if g.left == 0 || g.err != nil {
		return nil, 0, false
	}
	r := reader{b: g.b, off: g.off}
	body := r.bytes("batch")
	if r.err != nil {
		g.err = r.err
		return nil, 0, false
	}
	at = g.off + 4
	g.off = r.off
	g.left--
	return body, at, true
}

// Err returns what stopped Next early, or nil; batches left unread after
// the last one are an error too.
func (g *Group) Err() error {
	if g.err != nil {
		return g.err
	}
	if g.left == 0 && g.off != len(g.b) {
		return &Error{Offset: g.off, Msg: "bytes after the last batch"}
	}
	return nil
}

// Reply is a decoded Reply message header; Records iterates its records.
type Reply struct {
	Status  Status
	Code    uint32
	Message []byte
	Records Records
}

// ParseReply decodes a Reply message's header. An empty b is the reply
// "ok, keep everything".
func ParseReply(b []byte) (Reply, error) {
	var m Reply
	if len(b) == 0 {
		return m, nil
	}
	r := reader{b: b}
	if t := r.u8("message type"); r.err == nil && t != MsgReply {
		r.off--
		r.fail("message type " + strconv.Itoa(int(t)) + ", want reply")
	}
	m.Status = Status(r.u8("status"))
	if r.err == nil && m.Status > StatusFatal {
		r.off--
		r.fail("unknown status " + strconv.Itoa(int(m.Status)))
	}
	r.u16("reserved")
	nrec := r.u32("record count")
	m.Code = r.u32("code")
	m.Message = r.bytes("message")
	m.Records = Records{b: b, off: r.off, left: nrec}
	return m, r.error()
}

// Records iterates the records of a message.
type Records struct {
	b    []byte
	off  int
	left uint32
	err  error
}

// Next returns the next record's tag, its body and the body's offset in the
// message; ok is false at the end or on a malformed record (see Err).
// It runs once per row inside plugins: the checks are inline and the
// error paths out of line.
func (it *Records) Next() (tag uint8, body []byte, at int, ok bool) {
	off := it.off
	if it.left == 0 || it.err != nil || len(it.b)-off < 8 {
		it.stop()
		return 0, nil, 0, false
	}
	n := uint64(le32(it.b, off+4))
	at = off + 8
	if n > uint64(len(it.b)-at) {
		it.overrun(n)
		return 0, nil, 0, false
	}
	end := at + int(n)
	it.off = end
	it.left--
	return it.b[off], it.b[at:end:end], at, true
}

// stop records why Next stopped early, if it did.
//
//go:noinline
func (it *Records) stop() {
	if it.left != 0 && it.err == nil {
		it.err = &Error{Offset: it.off, Msg: "truncated record header"}
	}
}

//go:noinline
func (it *Records) overrun(n uint64) {
	it.err = &Error{Offset: it.off, Msg: "record length " + strconv.FormatUint(n, 10) + " overruns the message"}
}

// Left returns how many records remain.
func (it *Records) Left() uint32 { return it.left }

// Err returns the error that stopped Next, if any.
func (it *Records) Err() error { return it.err }

// ParseTable decodes a table schema record's body, found at offset at of
// the message. It copies every string.
func ParseTable(body []byte, at int) (Table, error) {
	r := reader{b: body, base: at}
	var t Table
	t.ID = r.u32("table id")
	if r.err == nil && t.ID == 0 {
		r.off -= 4
		r.fail("table id 0")
	}
	t.Version = r.u64("table version")
	t.DB = string(r.bytes("table db"))
	t.Name = string(r.bytes("table name"))
	t.KeyKind = r.u8("key kind")
	if r.err == nil && t.KeyKind > KeyRow {
		r.off--
		r.fail("unknown key kind " + strconv.Itoa(int(t.KeyKind)))
	}
	r.u8("reserved")
	n := int(r.u16("column count"))
	// Each column takes at least 16 bytes: do not trust n for allocation.
	if r.err == nil && n*16 > len(body)-r.off {
		r.fail("column count " + strconv.Itoa(n) + " overruns the record")
	}
	if r.err != nil {
		return t, r.err
	}
	t.Columns = make([]Column, n)
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Name = string(r.bytes("column name"))
		c.Kind = Kind(r.u8("column kind"))
		if r.err == nil && !c.Kind.Valid() {
			r.off--
			r.fail("column " + strconv.Itoa(i) + ": unknown kind " + strconv.Itoa(int(c.Kind)))
		}
		c.SQLType = r.u8("column sql type")
		c.Meta = r.u16("column meta")
		c.Flags = r.u8("column flags")
		r.u8("reserved")
		c.Charset = string(r.bytes("column charset"))
		nv := int(r.u16("column value count"))
		if r.err == nil && nv*4 > len(body)-r.off {
			r.fail("value count " + strconv.Itoa(nv) + " overruns the record")
		}
		if r.err != nil {
			return t, r.err
		}
		if nv > 0 {
			c.Values = make([]string, nv)
			for j := range c.Values {
				c.Values[j] = string(r.bytes("column value"))
			}
		}
	}
	nk := int(r.u16("key count"))
	if r.err == nil && nk*2 > len(body)-r.off {
		r.fail("key count " + strconv.Itoa(nk) + " overruns the record")
	}
	if r.err != nil {
		return t, r.err
	}
	if nk > 0 {
		t.Key = make([]uint16, nk)
		for i := range t.Key {
			t.Key[i] = r.u16("key column")
			if r.err == nil && int(t.Key[i]) >= n {
				r.off -= 2
				r.fail("key column " + strconv.Itoa(int(t.Key[i])) + " out of range")
			}
		}
	}
	return t, r.error()
}

// Change is a decoded change record; its byte slices view the message.
type Change struct {
	Op        Op
	Flags     uint8
	Part      uint16
	TableID   uint32
	Seq       uint32
	Pos       uint32
	Timestamp int64
	File      []byte
	DB        []byte
	Statement []byte
	Route     []byte // valid when Flags has ChangeRoute
	Before    Image  // valid when Flags has ChangeBefore
	After     Image  // valid when Flags has ChangeAfter
}

// ParseChange decodes a change record's body found at offset at of the
// message, in place: it does not allocate. Images are checked for shape
// (slot table within the image); values are checked when read, or all at
// once by Image.Check.
func ParseChange(body []byte, at int) (Change, error) {
	var c Change
	err := c.Parse(body, at)
	return c, err
}

// changeFixed is the size of a change's fixed fields.
const changeFixed = 24

// Parse is ParseChange into c, which it overwrites. It runs once per row
// inside plugins, so it writes c's fields one by one (a composite literal
// is a memory copy in Wasm) and reads with inlined checks; any failure is
// re-parsed by parseSlow for the exact error.
func (c *Change) Parse(body []byte, at int) error {
	if !c.ParseFixed(body) {
		return c.parseSlow(body, at)
	}
	return c.ParseRest(body, at)
}

// ParseRest completes the decoding of a change whose fixed fields
// ParseFixed decoded from body into c: its strings and images. Images are
// written in place (Image.set), not returned: a 32-byte result is a
// memory copy in Wasm.
func (c *Change) ParseRest(body []byte, at int) error {
	off := changeFixed
	var ok, ok1, ok2, ok3 bool
	c.File, off, ok1 = lenBytes(body, off)
	c.DB, off, ok2 = lenBytes(body, off)
	c.Statement, off, ok3 = lenBytes(body, off)
	ok = ok1 && ok2 && ok3
	c.Route = nil
	if c.Flags&ChangeRoute != 0 && ok {
		c.Route, off, ok = lenBytes(body, off)
	}
	c.Before, c.After = Image{}, Image{}
	if c.Flags&ChangeBefore != 0 && ok {
		off, ok = c.Before.set(body, off, at)
	}
	if c.Flags&ChangeAfter != 0 && ok {
		off, ok = c.After.set(body, off, at)
	}
	if !ok || off != len(body) {
		return c.parseSlow(body, at)
	}
	return nil
}

// ParseFixed decodes only a change's fixed fields (op, flags, table, seq,
// pos, timestamp) into c, for a reader that may need no more; false when
// they are malformed (Parse then says how). Parse completes it.
func (c *Change) ParseFixed(body []byte) bool {
	if len(body) < changeFixed {
		return false
	}
	c.Op = Op(body[0])
	c.Flags = body[1]
	c.Part = le16(body, 2)
	c.TableID = le32(body, 4)
	c.Seq = le32(body, 8)
	c.Pos = le32(body, 12)
	c.Timestamp = int64(le64(body, 16))
	return c.Op.Valid()
}

// ChangeFile returns a change's binary-log file, the first field after the
// fixed ones, without decoding the rest; false when it is malformed (Parse
// then says how).
func ChangeFile(body []byte) ([]byte, bool) {
	if len(body) < changeFixed {
		return nil, false
	}
	v, _, ok := lenBytes(body, changeFixed)
	return v, ok
}

// lenBytes reads a u32 length at off and that many bytes. It is small
// enough to inline (off is never negative: callers pass what it returned).
func lenBytes(b []byte, off int) (v []byte, next int, ok bool) {
	if len(b)-off < 4 {
		return nil, off, false
	}
	start := off + 4
	end := start + int(le32(b, off))
	if end > len(b) {
		return nil, off, false
	}
	return b[start:end:end], end, true
}

// set makes im the image at off in b (base is b's offset in the message)
// and returns the offset after it; false when it is malformed.
func (im *Image) set(b []byte, off, base int) (int, bool) {
	v, next, ok := lenBytes(b, off)
	if !ok || len(v) < 4 {
		return off, false
	}
	n := int(le16(v, 0))
	if 4+4*n > len(v) {
		return off, false
	}
	im.b, im.n, im.at = v, uint32(n), uint32(base+off+4)
	return next, true
}

// parseSlow is the reference decoding of a change, with the error.
//
//go:noinline
func (c *Change) parseSlow(body []byte, at int) error {
	// The fixed fields, read directly: this runs once per row.
	if len(body) < changeFixed {
		return &Error{Offset: at, Msg: "truncated change"}
	}
	*c = Change{
		Op:        Op(body[0]),
		Flags:     body[1],
		Part:      binary.LittleEndian.Uint16(body[2:]),
		TableID:   binary.LittleEndian.Uint32(body[4:]),
		Seq:       binary.LittleEndian.Uint32(body[8:]),
		Pos:       binary.LittleEndian.Uint32(body[12:]),
		Timestamp: int64(binary.LittleEndian.Uint64(body[16:])),
	}
	if !c.Op.Valid() {
		return &Error{Offset: at, Msg: "unknown op " + strconv.Itoa(int(c.Op))}
	}
	r := reader{b: body, off: changeFixed, base: at}
	c.File = r.bytes("file")
	c.DB = r.bytes("db")
	c.Statement = r.bytes("statement")
	if c.Flags&ChangeRoute != 0 {
		c.Route = r.bytes("route")
	}
	if c.Flags&ChangeBefore != 0 {
		c.Before = r.image("before image")
	}
	if c.Flags&ChangeAfter != 0 {
		c.After = r.image("after image")
	}
	if r.err == nil && r.off != len(body) {
		r.fail(strconv.Itoa(len(body)-r.off) + " trailing bytes in change")
	}
	return r.error()
}

func (r *reader) image(what string) Image {
	at := r.base + r.off + 4
	b := r.bytes(what)
	if r.err != nil {
		return Image{}
	}
	if len(b) < 4 {
		r.fail(what + " shorter than its header")
		return Image{}
	}
	n := int(binary.LittleEndian.Uint16(b))
	if 4+4*n > len(b) {
		r.fail(what + ": " + strconv.Itoa(n) + " slots overrun the image")
		return Image{}
	}
	return Image{b: b, n: uint32(n), at: uint32(at)}
}

// Image is a row image read in place: one slot per column, each absent,
// NULL, or the offset of a value. The zero Image is no image.
//
// It is 32 bytes, the most Go keeps in registers rather than copying
// through memory: it is read once per row inside plugins.
type Image struct {
	b  []byte
	n  uint32
	at uint32 // offset of b in the message
}

// Present reports whether the change carries this image.
func (im Image) Present() bool { return im.b != nil }

// Len returns the number of columns the image has slots for.
func (im Image) Len() int { return int(im.n) }

// Offset returns the image body's offset in the message.
func (im Image) Offset() int { return int(im.at) }

// Slot returns column i's slot: SlotAbsent, SlotNull, or an offset.
// Columns beyond Len are absent.
func (im Image) Slot(i int) uint32 {
	if i < 0 || i >= int(im.n) {
		return SlotAbsent
	}
	return binary.LittleEndian.Uint32(im.b[4+4*i:])
}

// Fixed returns the 8-byte value of column i; ok is false when the column
// is absent, NULL or malformed.
func (im Image) Fixed(i int) (v uint64, ok bool) {
	s, v, _, ok := im.Value(i, true)
	return v, ok && s > SlotNull
}

// Var returns the bytes of the variable-length value of column i, viewing
// the message; ok is false when the column is absent, NULL or malformed.
func (im Image) Var(i int) (v []byte, ok bool) {
	s, _, v, ok := im.Value(i, false)
	return v, ok && s > SlotNull
}

// Value returns column i's slot and, when the slot is an offset, its
// value: the 8 bytes of a fixed kind as num, or the bytes of a variable
// one (viewing the message); ok is false for a malformed offset. It is
// Slot with Fixed or Var in one step, for readers inside Wasm, where
// each call is dear.
func (im *Image) Value(i int, fixed bool) (slot uint32, num uint64, b []byte, ok bool) {
	if uint(i) >= uint(im.n) {
		return SlotAbsent, 0, nil, true
	}
	body := im.b
	s := le32(body, 4+4*i)
	if s <= SlotNull {
		return s, 0, nil, true
	}
	lo := uint64(4 + 4*im.n)
	if uint64(s) < lo {
		return s, 0, nil, false
	}
	if fixed {
		if uint64(s)+8 > uint64(len(body)) {
			return s, 0, nil, false
		}
		return s, le64(body, int(s)), nil, true
	}
	if uint64(s)+4 > uint64(len(body)) {
		return s, 0, nil, false
	}
	end := uint64(s) + 4 + uint64(le32(body, int(s)))
	if end > uint64(len(body)) {
		return s, 0, nil, false
	}
	return s, 0, body[s+4 : end : end], true
}

// Raw returns column i's encoded value (8 bytes for a fixed kind, else a
// u32 length and the bytes), for Encoder.Raw.
func (im Image) Raw(i int, fixed bool) ([]byte, bool) {
	if fixed {
		if _, ok := im.Fixed(i); !ok {
			return nil, false
		}
		s := im.Slot(i)
		return im.b[s : s+8], true
	}
	v, ok := im.Var(i)
	if !ok {
		return nil, false
	}
	s := im.Slot(i)
	return im.b[s : int(s)+4+len(v)], true
}

// Check verifies every slot of the image against the kinds of its table's
// columns: the image must have exactly ncols slots and every value must
// lie inside the image.
func (im Image) Check(kinds []Kind) error {
	if int(im.n) != len(kinds) {
		return &Error{Offset: int(im.at), Msg: "image has " + strconv.Itoa(int(im.n)) + " columns, its table " + strconv.Itoa(len(kinds))}
	}
	for i, k := range kinds {
		s := im.Slot(i)
		if s <= SlotNull {
			continue
		}
		var ok bool
		if k.Fixed() {
			_, ok = im.Fixed(i)
		} else {
			_, ok = im.Var(i)
		}
		if !ok {
			return &Error{Offset: int(im.at) + 4 + 4*i, Msg: "column " + strconv.Itoa(i) + ": value offset " + strconv.FormatUint(uint64(s), 10) + " outside the image"}
		}
	}
	return nil
}

// VerdictRec is a decoded verdict record.
type VerdictRec struct {
	Index   uint32
	Verdict Verdict
	// Code and Text are an error's code and message, or (Text) a route.
	Code uint32
	Text []byte
	// Changes iterates the changes of a replace or emit verdict.
	Changes Changes
	// HasRoute says a patch verdict sets the routing key Text.
	HasRoute bool
	// Patch iterates the columns a patch verdict sets.
	Patch Patch
}

// ParseVerdict decodes a verdict record's body found at offset at.
func ParseVerdict(body []byte, at int) (VerdictRec, error) {
	r := reader{b: body, base: at}
	var v VerdictRec
	v.Index = r.u32("verdict index")
	v.Verdict = Verdict(r.u8("verdict"))
	flags := r.u8("verdict flags")
	count := r.u16("verdict column count")
	switch v.Verdict {
	case VerdictKeep, VerdictDrop:
	case VerdictReplace, VerdictEmit:
		n := r.u32("change count")
		if r.err == nil && v.Verdict == VerdictReplace && n != 1 {
			r.off -= 4
			r.fail("replace carries " + strconv.FormatUint(uint64(n), 10) + " changes, want 1")
		}
		v.Changes = Changes{b: body, off: r.off, base: at, left: n}
		r.off = len(body)
	case VerdictError:
		v.Code = r.u32("error code")
		v.Text = r.bytes("error message")
	case VerdictRoute:
		v.Text = r.bytes("route")
	case VerdictPatch:
		if r.err == nil && flags&^ChangeRoute != 0 {
			r.off -= 3
			r.fail("unknown patch flags " + strconv.Itoa(int(flags)))
		}
		if flags&ChangeRoute != 0 {
			v.Text, v.HasRoute = r.bytes("route"), true
		}
		v.Patch = Patch{b: body, off: r.off, base: at, left: count, last: -1}
		if count > 0 {
			r.off = len(body) // Patch.Next reads the columns
		}
	default:
		r.off -= 4
		r.fail("unknown verdict " + strconv.Itoa(int(v.Verdict)))
	}
	if r.err == nil && r.off != len(body) {
		r.fail(strconv.Itoa(len(body)-r.off) + " trailing bytes in verdict")
	}
	return v, r.error()
}

// Changes iterates the changes carried by a verdict.
type Changes struct {
	b    []byte
	off  int
	base int
	left uint32
	err  error
}

// Next returns the next change; ok is false at the end or on a malformed
// change (see Err).
func (it *Changes) Next() (c Change, ok bool) {
	if it.left == 0 || it.err != nil {
		return c, false
	}
	r := reader{b: it.b, off: it.off, base: it.base}
	body := r.bytes("change")
	if r.err != nil {
		it.err = r.err
		return c, false
	}
	c, err := ParseChange(body, it.base+r.off-len(body))
	if err != nil {
		it.err = err
		return c, false
	}
	it.off = r.off
	it.left--
	if it.left == 0 && it.off != len(it.b) {
		r.fail(strconv.Itoa(len(it.b)-it.off) + " trailing bytes after the changes")
		it.err = r.err
		return c, false
	}
	return c, true
}

// Left returns how many changes remain.
func (it *Changes) Left() uint32 { return it.left }

// Err returns the error that stopped Next, if any.
func (it *Changes) Err() error { return it.err }

// Patch iterates the columns a patch verdict sets: each a column index of
// the input change's table, in increasing order, and NULL or a value of
// the column's kind.
type Patch struct {
	b    []byte
	off  int
	base int
	left uint16
	last int // the previous column, -1 before the first
	err  error
}

// Len returns how many columns remain.
func (p *Patch) Len() int { return int(p.left) }

// Next returns the next column the patch sets, given the kinds of the
// table's columns: its index, its state (PatchNull or PatchValue) and,
// for a value, the 8 bytes of a fixed kind as num or the bytes of a
// variable one (viewing the message). ok is false after the last column
// or on a malformed one (see Err).
func (p *Patch) Next(kinds []Kind) (col int, state uint8, num uint64, val []byte, ok bool) {
	if p.left == 0 || p.err != nil {
		return 0, 0, 0, nil, false
	}
	r := reader{b: p.b, off: p.off, base: p.base}
	col = int(r.u16("patch column"))
	state = r.u8("patch column state")
	r.u8("reserved")
	switch {
	case r.err != nil:
	case col <= p.last || col >= len(kinds):
		r.off -= 4
		r.fail("patch column " + strconv.Itoa(col) + " out of order or range (after column " + strconv.Itoa(p.last) + ", table of " + strconv.Itoa(len(kinds)) + ")")
	case state == PatchNull:
	case state != PatchValue:
		r.off -= 2
		r.fail("patch column " + strconv.Itoa(col) + ": unknown state " + strconv.Itoa(int(state)))
	case kinds[col].Fixed():
		num = r.u64("patch value")
	default:
		val = r.bytes("patch value")
	}
	if r.err == nil {
		p.left--
		if p.left == 0 && r.off != len(p.b) {
			r.fail(strconv.Itoa(len(p.b)-r.off) + " trailing bytes after the patch")
		}
	}
	if r.err != nil {
		p.err = r.err
		return 0, 0, 0, nil, false
	}
	p.off, p.last = r.off, col
	return col, state, num, val, true
}

// Err returns the error that stopped Next, if any.
func (p *Patch) Err() error { return p.err }
