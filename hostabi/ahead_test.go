package hostabi

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/wire"
)

// aheadBatches are three transactions, the first split over three batches
// and the last over two, with changes of several events, some of them
// updates of the key.
func aheadBatches() []*engine.Batch {
	t := &engine.Table{DB: "shop", Name: "orders", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "note", Kind: engine.KindString, Charset: "utf8mb4"}}}
	var out []*engine.Batch
	seq := uint64(0)
	for n, split := range []int{3, 1, 2} {
		tx := &engine.Tx{ID: fmt.Sprintf("0-1-%d", n+1), GTID: fmt.Sprintf("0-1-%d", n+1), ServerID: 1, File: "bin.000001", Pos: uint32(1000 * (n + 1))}
		for part := range split {
			seq++
			b := &engine.Batch{Seq: seq, Tx: tx, Begin: part == 0}
			if part == split-1 {
				b.Commit = &position.Position{File: "bin.000001", Pos: uint32(1000*(n+1) + 900)}
			}
			for i := range 5 {
				id := int64(10*part + i)
				c := engine.Change{Op: engine.OpInsert, Table: t, Seq: uint32(5*part + i + 1), Tx: tx, File: tx.File,
					Pos: tx.Pos + uint32(100*part+10*(i/2)), Timestamp: 1764064800, After: []any{id, fmt.Sprintf("note \"%d\"", id)}}
				if i == 3 {
					c.Op, c.Before, c.After[0] = engine.OpUpdate, []any{id, "was"}, id+100
				}
				b.Changes = append(b.Changes, c)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestEnvelopesAhead: envelopes rendered ahead are served, call for call
// (whatever part of the batch fits the caller's buffer), exactly as the
// instance would render them, and only when they are: not with other
// options, not when the counts they start from are not the instance's.
func TestEnvelopesAhead(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	h := &Host{opts: Options{Now: func() time.Time { return now }}}
	newCaps := func(a *ahead) *caps { return &caps{h: h, enc: engine.Envelopes{Name: "shop"}, ahead: a} }
	opts := uint32('\n') | uint32(wire.EnvDeleteCreate|wire.EnvTombstones)<<8
	bs := aheadBatches()

	// render renders b in calls of capacity bytes, as a sender's buffer
	// takes them, and returns what each call returned.
	render := func(c *caps, b *engine.Batch, capacity uint32) string {
		c.batch = b
		var out bytes.Buffer
		for from := uint32(0); from < uint32(len(b.Changes)); {
			buf, rc := c.renderEnvelopes(nil, capacity, from, opts)
			n := uint32(rc >> 32)
			fmt.Fprintf(&out, "[%d %d]%s", n, uint32(rc), buf[:uint32(rc)*min(n, 1)])
			if n == 0 {
				if uint32(rc) <= capacity {
					t.Fatalf("batch %d, change %d: nothing fits %d bytes, %d needed", b.Seq, from, capacity, uint32(rc))
				}
				capacity = uint32(rc) // grow to what the first one needs
				continue
			}
			from += n
		}
		return out.String()
	}
	ref, got := newCaps(nil), newCaps(newAhead("shop", h.now))
	a := got.ahead
	for _, b := range bs[:1] {
		// Nothing was rendered yet: the options are not known.
		a.prepare(b)
		if len(a.done) != 0 {
			t.Fatal("rendered ahead before the sender's options are known")
		}
	}
	want, have := render(ref, bs[0], 300), render(got, bs[0], 300)
	if want != have {
		t.Fatalf("batch 1:\n%s\nwant\n%s", have, want)
	}
	// Batches 2 and 3 go on with a transaction whose first batch ahead
	// did not count: not rendered ahead. The rest are.
	for _, b := range bs[1:] {
		a.prepare(b)
	}
	for i, b := range bs[1:] {
		if _, ok := a.done[b]; ok != (i >= 2) {
			t.Fatalf("batch %d rendered ahead: %v", b.Seq, ok)
		}
	}
	for _, b := range bs[1:] {
		served := a.lookup(b, opts, got.envBatch) != nil
		if _, ok := a.done[b]; served != ok {
			t.Fatalf("batch %d: served %v, kept %v", b.Seq, served, ok)
		}
		want, have := render(ref, b, 700), render(got, b, 700)
		if want != have {
			t.Fatalf("batch %d:\n%s\nwant\n%s", b.Seq, have, want)
		}
		a.release(b.Seq)
		if _, ok := a.done[b]; ok {
			t.Fatalf("batch %d kept after it was sent", b.Seq)
		}
	}

	// A fresh instance (after a fault) has counted nothing: a batch going
	// on with a transaction is rendered by it, and what was rendered ahead
	// is dropped; a batch opening one is served.
	a.prepare(bs[3])
	a.prepare(bs[4])
	a.prepare(bs[5])
	fresh := newCaps(a)
	if a.lookup(bs[5], opts, fresh.envBatch) != nil {
		t.Fatal("a batch going on with a transaction was served to an instance that did not count its start")
	}
	if _, ok := a.done[bs[5]]; ok {
		t.Fatal("a rendering that could not be served was kept")
	}
	if a.lookup(bs[4], opts^uint32(wire.EnvTombstones)<<8, fresh.envBatch) != nil {
		t.Fatal("served with other options")
	}
	if a.lookup(bs[3], opts, fresh.envBatch) == nil {
		t.Fatal("a batch opening its transaction was not served")
	}
	if want, have := render(newCaps(nil), bs[3], 1<<20), render(fresh, bs[3], 1<<20); want != have {
		t.Fatalf("fresh instance:\n%s\nwant\n%s", have, want)
	}
	// A batch served counts as rendered: the one after it, rendered by
	// the instance, numbers on from it.
	a.prepare(bs[4])
	ref = newCaps(nil)
	for _, b := range bs[4:] {
		if want, have := render(ref, b, 1<<20), render(fresh, b, 1<<20); want != have {
			t.Fatalf("batch %d after one served:\n%s\nwant\n%s", b.Seq, have, want)
		}
	}
}
