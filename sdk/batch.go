package sdk

import (
	"errors"
	"strconv"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Batch is what a sender receives: an ordered slice of one transaction's
// changes, which may open the transaction (Begin) and may close it
// (Commit). A batch with no changes and no Begin only advances the
// position. A Batch and everything read from it are valid only until the
// sender returns.
type Batch struct {
	p     *plugin
	hdr   wire.Batch
	rows  []Row
	group int
	// lastID and last are the table of the change Row decoded last: a
	// batch's changes mostly come in runs of one table, and a map lookup
	// per change is dear inside Wasm.
	lastID uint32
	last   *Table
}

// GroupIndex returns the batch's index in the group being sent (0 for a
// batch sent alone): with Row.Index, it names a change to the host, as
// sql.Tx.CopyChanges does.
func (b *Batch) GroupIndex() int { return b.group }

// Seq numbers batches within a task run, in order. A batch sent again
// after an error keeps its Seq.
func (b *Batch) Seq() uint64 { return b.hdr.Seq }

// Begin reports whether the batch opens its transaction.
func (b *Batch) Begin() bool { return b.hdr.Flags&wire.BatchBegin != 0 }

// Tx returns the batch's transaction; the zero Tx for a position-only
// batch.
func (b *Batch) Tx() Tx {
	if b.hdr.Flags&wire.BatchTx == 0 {
		return Tx{}
	}
	t := &b.hdr.Tx
	return Tx{ID: view(t.ID), GTID: view(t.GTID), ServerID: t.ServerID, File: view(t.File), Pos: t.Pos}
}

// HasTx reports whether the batch belongs to a transaction.
func (b *Batch) HasTx() bool { return b.hdr.Flags&wire.BatchTx != 0 }

// Commit describes the end of a transaction: where a resume would start
// and when it committed.
type Commit struct {
	File    string
	Pos     uint32
	GTIDSet string
	Time    int64 // seconds since the epoch
}

// Commit returns the commit closing the batch's transaction; ok is false
// when the batch does not close it.
func (b *Batch) Commit() (c Commit, ok bool) {
	if b.hdr.Flags&wire.BatchCommit == 0 {
		return c, false
	}
	m := &b.hdr.Commit
	return Commit{File: view(m.File), Pos: m.Pos, GTIDSet: view(m.GTIDSet), Time: m.Time}, true
}

// Len returns the number of changes.
func (b *Batch) Len() int { return len(b.rows) }

// Row returns change i.
func (b *Batch) Row(i int) *Row {
	r := &b.rows[i]
	if !r.fixed {
		b.fix(r)
	}
	return r
}

// full decodes the rest of a handler's change, on first use.
func (r *Row) full() {
	if !r.parsed {
		r.parseRest()
	}
}

// parseRest decodes what ParseFixed left of a change; a malformed one
// fails the batch (see malformed).
func (r *Row) parseRest() {
	if err := r.ch.ParseRest(r.body, r.at); err != nil {
		failMalformed(err)
	}
	r.parsed = true
}

// failMalformed fails the batch with err, the decoding error of a change.
func failMalformed(err error) {
	panic(malformed{Fatal(errors.New("sdk: malformed change " + err.Error()))})
}

// fix decodes a sender's change up to its fixed fields and finds its
// table, on first use; the rest (strings, images) is decoded when read
// (full), so a sender that has the host render its changes, and only
// counts them, never decodes their values. A malformed change fails the
// batch (see malformed).
func (b *Batch) fix(r *Row) {
	c := &r.ch
	if !c.ParseFixed(r.body) {
		failMalformed(c.Parse(r.body, r.at)) // ParseFixed failing, Parse says why
	}
	if c.TableID != b.lastID {
		var t *Table
		if c.TableID != 0 {
			t = b.p.tables[c.TableID]
			if t == nil {
				panic(malformed{Fatal(errors.New("sdk: change at offset " + strconv.Itoa(r.at) + " names unannounced table id " + strconv.FormatUint(uint64(c.TableID), 10)))})
			}
		}
		b.lastID, b.last = c.TableID, t
	}
	r.table, r.out, r.op = b.last, b.last, Op(c.Op)
	r.route, r.hasRoute, r.dirty, r.emitted, r.emitting = "", false, false, 0, false
	r.fixed = true
}
