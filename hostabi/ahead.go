package hostabi

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// ahead renders a sender's envelopes before its call asks for them
// (engine.Preparer). The pipeline hands each batch queued for the sender
// to prepare, on the goroutine collecting the sender's next group, while
// the sender's call on the group before runs; the envelope host function
// then copies what was rendered instead of rendering on the sender's
// goroutine. Rendering is the larger part of a sender writing envelopes
// (a file, an HTTP endpoint), and a sender's calls run on one goroutine:
// moving it ahead spreads a chain over the cores.
//
// What is rendered ahead is used only when it is exactly what the call
// would render: the same options (those of the sender's last rendering:
// nothing is rendered before the first), and the same counts of the
// transaction's events (source.row and the END event's counts run on
// across the batches of a transaction). The counts are kept by a renderer
// of ahead's own, fed every batch with changes in order; a batch is used
// only when the one the instance rendered last is the one ahead rendered
// before it, or when it opens its transaction. Anything else (a fresh
// instance after a fault, options changed, a sender rendering only some
// batches) renders as before.
type ahead struct {
	name string
	now  func() time.Time

	// opts are the options of the sender's last rendering, with bit 32
	// set once there was one.
	opts atomic.Uint64

	// enc, encFlags, fed and chained belong to prepare's goroutine. fed
	// is the Seq of the last batch enc started; chained reports whether
	// enc's counts follow on from every batch before it since the last
	// one opening a transaction.
	enc     engine.Envelopes
	fed     uint64
	chained bool

	mu   sync.Mutex
	done map[*engine.Batch]*rendered
	free []*rendered
}

// rendered is one batch's envelopes, rendered ahead.
type rendered struct {
	opts uint32
	// prev is the Seq of the batch rendered before this one, whose counts
	// this one's follow on from; 0 for a batch opening its transaction.
	prev uint64
	now  time.Time
	buf  []byte
	// ends[i] is where change i's envelopes end in buf.
	ends []int
}

// aheadFree bounds the renderings kept for reuse.
const aheadFree = 64

func newAhead(name string, now func() time.Time) *ahead {
	return &ahead{name: name, now: now, enc: engine.Envelopes{Name: name}, done: map[*engine.Batch]*rendered{}}
}

// used records the options of a rendering the sender asked for.
func (a *ahead) used(opts uint32) { a.opts.Store(1<<32 | uint64(opts)) }

// prepare renders b's envelopes with the options last used, when the
// counts they start from are known.
func (a *ahead) prepare(b *engine.Batch) {
	if len(b.Changes) == 0 {
		return // nothing to render, and the counts do not move
	}
	o := a.opts.Load()
	if o == 0 {
		a.chained = false
		return
	}
	opts := uint32(o)
	sep, flags := byte(opts), wire.EnvelopeFlags(opts>>8)
	if flags != a.enc.Flags {
		// key_change counts an update of the key twice: counts made
		// with other options are not these.
		a.enc = engine.Envelopes{Name: a.name, Flags: flags}
		a.chained = false
	}
	prev := a.fed
	a.fed = b.Seq
	if b.Begin {
		prev = 0
	} else if !a.chained || b.Seq == prev {
		// The counts this batch starts from are not known (or it is a
		// batch sent again, which counts from where it first started).
		a.chained = false
		return
	}
	a.chained = true
	now := a.now()
	r := a.take()
	r.opts, r.prev, r.now = opts, prev, now
	a.enc.StartBatch(b, now)
	for i := range b.Changes {
		r.buf = a.enc.AppendChange(r.buf, &b.Changes[i], sep)
		r.ends = append(r.ends, len(r.buf))
	}
	a.mu.Lock()
	if old := a.done[b]; old != nil {
		a.recycle(old)
	}
	a.done[b] = r
	a.mu.Unlock()
}

// take returns an empty rendering.
func (a *ahead) take() *rendered {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.free); n > 0 {
		r := a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
		return r
	}
	return &rendered{}
}

// recycle keeps r for reuse; a.mu is held.
func (a *ahead) recycle(r *rendered) {
	if len(a.free) < aheadFree {
		r.buf, r.ends = r.buf[:0], r.ends[:0]
		a.free = append(a.free, r)
	}
}

// lookup returns b's rendering when it is what the instance rendering
// with opts after last (the batch it rendered before, nil for none)
// would render. A rendering that is not is dropped: the batch is
// rendered as before, now and when it is sent again.
func (a *ahead) lookup(b *engine.Batch, opts uint32, last *engine.Batch) *rendered {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.done[b]
	if r == nil {
		return nil
	}
	if r.opts == opts && (r.prev == 0 || last == b || last != nil && last.Seq == r.prev) {
		return r
	}
	delete(a.done, b)
	a.recycle(r)
	return nil
}

// release drops the renderings of batches up to seq, which were sent.
func (a *ahead) release(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for b, r := range a.done {
		if b.Seq <= seq {
			delete(a.done, b)
			a.recycle(r)
		}
	}
}

// serve appends to buf the envelopes r holds of changes from on that fit
// in capacity bytes, as renderEnvelopes does, and returns buf, the count
// of changes and the bytes written (or the bytes the first one needs
// when none fits).
func (r *rendered) serve(buf []byte, capacity, from uint32) ([]byte, int, int) {
	start := 0
	if from > 0 {
		start = r.ends[from-1]
	}
	n := 0
	for i := int(from); i < len(r.ends) && r.ends[i]-start <= int(capacity); i++ {
		n++
	}
	if n == 0 {
		return buf, 0, r.ends[from] - start
	}
	end := r.ends[int(from)+n-1]
	return append(buf, r.buf[start:end]...), n, end - start
}
