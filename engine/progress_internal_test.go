package engine

import (
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
)

// clock is a settable time for the tracker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func tableOf(t *testing.T, p *SnapshotProgress, name string) TableProgress {
	t.Helper()
	for _, tp := range p.Tables {
		if tp.Table == name {
			return tp
		}
	}
	t.Fatalf("no table %s in %+v", name, p)
	return TableProgress{}
}

func etaIs(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || *got < want-0.01 || *got > want+0.01 {
		t.Errorf("%s: ETA %v, want %v", what, ptrString(got), want)
	}
}

func ptrString(f *float64) any {
	if f == nil {
		return "unknown"
	}
	return *f
}

// An initial snapshot of three tables: states, counts, estimates raised
// by what is read, rates over the recent window and ETAs.
func TestSnapshotProgressInitial(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := newSnapTracker(c.now)
	if s.snapshot() != nil {
		t.Fatal("progress before any snapshot")
	}
	s.begin("initial", "", 100, []string{"d.a", "d.b", "d.c"}, nil, "")
	if got := s.unestimated(); len(got) != 3 {
		t.Fatalf("unestimated %v, want the three tables", got)
	}
	s.estimate(map[string]int64{"d.a": 1000, "d.b": 450, "d.c": 0})
	if got := s.unestimated(); len(got) != 0 {
		t.Fatalf("unestimated %v after estimating", got)
	}
	p := s.snapshot()
	if p.Kind != "initial" || p.RowsEstimated != 1450 || p.ETA != nil || !p.Finished.IsZero() {
		t.Fatalf("at the start: %+v", p)
	}
	if a := tableOf(t, p, "d.a"); a.State != tablePending || a.ChunksEstimated != 10 || a.ETA != nil {
		t.Errorf("d.a at the start: %+v", a)
	}

	// 4 chunks of d.a, one a second.
	for range 4 {
		c.add(time.Second)
		s.chunk("d.a", 100)
	}
	p = s.snapshot()
	a := tableOf(t, p, "d.a")
	if a.State != tableReading || a.RowsRead != 400 || a.Chunks != 4 || a.ChunksEstimated != 10 || a.RowsPerSecond != 100 {
		t.Fatalf("d.a after 4 chunks: %+v", a)
	}
	etaIs(t, "d.a", a.ETA, 6)
	if p.RowsPerSecond != 100 || p.RowsRead != 400 {
		t.Errorf("snapshot after 4 chunks: %+v", p)
	}
	etaIs(t, "snapshot", p.ETA, (600+450)/100.0)

	// The rate is the recent one: over the last 30 s, a stall included,
	// what came before not.
	c.add(26 * time.Second)
	s.chunk("d.a", 100)
	c.add(30 * time.Second)
	s.chunk("d.a", 100)
	a = tableOf(t, s.snapshot(), "d.a")
	if a.RowsPerSecond != 100.0/30 {
		t.Errorf("rate over the last window: %v rows/s, want %v", a.RowsPerSecond, 100.0/30)
	}
	c.add(10 * time.Second)
	if a = tableOf(t, s.snapshot(), "d.a"); a.RowsPerSecond != 100.0/40 {
		t.Errorf("rate 10 s after the last chunk: %v rows/s, want %v", a.RowsPerSecond, 100.0/40)
	}

	// d.a ends below its estimate: it becomes the rows read.
	s.tableDone("d.a")
	c.add(time.Second)
	s.chunk("d.b", 100)
	p = s.snapshot()
	a, b := tableOf(t, p, "d.a"), tableOf(t, p, "d.b")
	if a.State != tableDone || a.RowsEstimated != 600 || a.ChunksEstimated != 6 || a.RowsPerSecond != 0 {
		t.Errorf("d.a done: %+v", a)
	}
	etaIs(t, "d.a done", a.ETA, 0)
	if b.State != tableReading || b.RowsRead != 100 || b.ChunksEstimated != 5 {
		t.Errorf("d.b's first chunk: %+v", b)
	}
	// d.b's rate starts at d.a's last chunk.
	if b.RowsPerSecond != 100 {
		t.Errorf("d.b rate %v, want 100", b.RowsPerSecond)
	}

	// d.c had no estimate: what is read raises it, and with nothing left
	// by the estimate its ETA is unknown.
	s.tableDone("d.b")
	c.add(time.Second)
	s.chunk("d.c", 100)
	p = s.snapshot()
	if cc := tableOf(t, p, "d.c"); cc.RowsEstimated != 100 || cc.ChunksEstimated != 1 || cc.ETA != nil {
		t.Errorf("d.c beyond its estimate: %+v", cc)
	}
	if p.ETA != nil {
		t.Errorf("snapshot ETA %v with every estimate read", *p.ETA)
	}

	c.add(time.Second)
	s.end(false)
	p = s.snapshot()
	if p.Finished != c.now() || p.RowsRead != 800 || p.RowsEstimated != 800 {
		t.Errorf("finished: %+v", p)
	}
	etaIs(t, "finished", p.ETA, 0)
	for _, tp := range p.Tables {
		if tp.State != tableDone {
			t.Errorf("%s is %s after the end", tp.Table, tp.State)
		}
	}
	if tp, ok := s.table("initial", "d.c"); !ok || tp.State != tableDone || tp.RowsRead != 100 {
		t.Errorf("table(initial, d.c) = %+v, %v", tp, ok)
	}
	if _, ok := s.table("incremental", "d.c"); ok {
		t.Error("d.c found in an incremental snapshot")
	}
}

// A snapshot resumed after a restart marks the tables read before it and
// the one it resumes within.
func TestSnapshotProgressResumed(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSnapTracker(c.now)
	s.begin("initial", "", 10, []string{"d.a", "d.b", "d.c"}, []string{"d.a"}, "d.b")
	s.estimate(map[string]int64{"d.a": 50, "d.b": 50, "d.c": 50})
	c.add(time.Second)
	s.chunk("d.b", 10)
	p := s.snapshot()
	a, b, cc := tableOf(t, p, "d.a"), tableOf(t, p, "d.b"), tableOf(t, p, "d.c")
	if a.State != tableDone || !a.Resumed || a.RowsEstimated != 50 || a.ChunksEstimated != 5 {
		t.Errorf("d.a read before the restart: %+v", a)
	}
	if b.State != tableReading || !b.Resumed || b.RowsRead != 10 || b.RowsPerSecond != 10 {
		t.Errorf("d.b resumed: %+v", b)
	}
	etaIs(t, "d.b", b.ETA, 4)
	if cc.State != tablePending || cc.Resumed {
		t.Errorf("d.c: %+v", cc)
	}
}

// An incremental snapshot follows the progress the stream hands on:
// tables added, tables done, the end or a cancel.
func TestSnapshotProgressIncremental(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSnapTracker(c.now)
	s.begin("initial", "", 10, []string{"d.a"}, nil, "")
	s.end(false)

	s.incremental(&checkpoint.Incremental{ID: "r1", Tables: []string{"d.a", "d.b"}}, 10)
	p := s.snapshot()
	if p.Kind != "incremental" || p.ID != "r1" || len(p.Tables) != 2 || !p.Finished.IsZero() {
		t.Fatalf("begun: %+v", p)
	}
	c.add(time.Second)
	s.chunk("d.a", 10)
	s.incremental(&checkpoint.Incremental{ID: "r1", Tables: []string{"d.a", "d.b"}, Key: []string{"i:10"}, Chunks: 1, Rows: 10}, 10)
	c.add(time.Second)
	s.chunk("d.a", 3)
	s.tableDone("d.a")
	s.incremental(&checkpoint.Incremental{ID: "r1", Tables: []string{"d.b", "d.c"}, Chunks: 2, Rows: 13}, 10)
	p = s.snapshot()
	if a := tableOf(t, p, "d.a"); a.State != tableDone || a.RowsRead != 13 || a.Chunks != 2 {
		t.Errorf("d.a: %+v", a)
	}
	if b := tableOf(t, p, "d.b"); b.State != tablePending {
		t.Errorf("d.b: %+v", b)
	}
	if cc := tableOf(t, p, "d.c"); cc.State != tablePending {
		t.Errorf("d.c added: %+v", cc)
	}
	if tp, ok := s.table("initial", "d.a"); !ok || tp.RowsRead != 0 || tp.State != tableDone {
		t.Errorf("the initial snapshot's d.a: %+v", tp)
	}
	c.add(time.Second)
	s.chunk("d.b", 10)
	// Cancelled.
	s.incremental(nil, 10)
	p = s.snapshot()
	if p.Finished.IsZero() {
		t.Error("not finished after the cancel")
	}
	if b := tableOf(t, p, "d.b"); b.State != tableCancelled {
		t.Errorf("d.b: %+v", b)
	}
	if a := tableOf(t, p, "d.a"); a.State != tableDone {
		t.Errorf("d.a: %+v", a)
	}

	// A new request after it, and one resumed from a checkpoint.
	s.incremental(&checkpoint.Incremental{ID: "r2", Tables: []string{"d.b"}, Key: []string{"i:20"}}, 10)
	p = s.snapshot()
	if p.ID != "r2" || len(p.Tables) != 1 || !p.Tables[0].Resumed || p.Tables[0].State != tableReading {
		t.Errorf("resumed request: %+v", p)
	}
	c.add(time.Second)
	s.chunk("d.b", 4)
	s.tableDone("d.b")
	s.incremental(nil, 10)
	if b := tableOf(t, s.snapshot(), "d.b"); b.State != tableDone {
		t.Errorf("d.b after the last chunk: %+v", b)
	}
}

// The tracker is read while a reader reports.
func TestSnapshotProgressConcurrent(t *testing.T) {
	s := newSnapTracker(time.Now)
	s.begin("initial", "", 10, []string{"d.a"}, nil, "")
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 1000 {
			s.chunk("d.a", 10)
		}
		s.tableDone("d.a")
	})
	for range 1000 {
		if p := s.snapshot(); p.RowsRead > 10000 {
			t.Errorf("read %d", p.RowsRead)
		}
		s.table("initial", "d.a")
	}
	wg.Wait()
	if p := s.snapshot(); p.RowsRead != 10000 {
		t.Errorf("rows read %d, want 10000", p.RowsRead)
	}
}
