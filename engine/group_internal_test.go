package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// groupSink is a GroupSender recording the Seqs of each call. Its first
// call waits for release, so that the batches emitted meanwhile queue up
// and form the next groups.
type groupSink struct {
	mu      sync.Mutex
	calls   [][]uint64 // Seqs per call, failed calls included
	single  int        // Send calls
	release chan struct{}
	entered chan struct{} // closed when the first call waits for release
}

func (s *groupSink) record(g []*Batch) error {
	if s.release != nil {
		close(s.entered)
		<-s.release
		s.release = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := make([]uint64, len(g))
	for i, b := range g {
		seqs[i] = b.Seq
	}
	s.calls = append(s.calls, seqs)
	return nil
}

func newGroupSink() *groupSink {
	return &groupSink{release: make(chan struct{}), entered: make(chan struct{})}
}

func (s *groupSink) SendGroup(_ context.Context, g []*Batch) error { return s.record(g) }

func (s *groupSink) Send(_ context.Context, b *Batch) error {
	s.mu.Lock()
	s.single++
	s.mu.Unlock()
	return s.record([]*Batch{b})
}

func (s *groupSink) Close() error { return nil }

func (s *groupSink) got() ([][]uint64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), s.single
}

// unsupportedSink takes no groups, as a plugin module without the group
// export.
type unsupportedSink struct{ *groupSink }

func (s *unsupportedSink) SendGroup(context.Context, []*Batch) error {
	return fmt.Errorf("plugin x: %w", errors.ErrUnsupported)
}

var groupTasks atomic.Int32

// groupTask returns a task with the daemon's defaults for a sink-only
// task, changed by set when it is not nil.
func groupTask(t *testing.T, set func(*TaskConfig)) TaskConfig {
	t.Helper()
	dir := t.TempDir()
	cfg := TaskConfig{
		Name:               fmt.Sprintf("group-%d", groupTasks.Add(1)),
		ReplicaServerID:    1,
		QueueBatches:       64,
		BackoffMin:         time.Millisecond,
		BackoffMax:         2 * time.Millisecond,
		CheckpointInterval: time.Hour,
		GroupRows:          4096,
		Sources:            []Source{{Addr: "127.0.0.1:1", User: "root"}},
		Senders:            []PluginConfig{{Plugin: "builtin:sink"}},
	}
	if set != nil {
		set(&cfg)
	}
	cfg = cfg.WithDefaults()
	if cfg.DeadLetterPath == "" {
		cfg.DeadLetterPath = filepath.Join(dir, "deadletter", cfg.Name+".jsonl")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// batchSpec is a test batch: rows changes of a transaction, opening and
// closing it as said.
type batchSpec struct {
	rows          int
	begin, commit bool
}

// tx is n one-batch transactions of rows changes each.
func txs(n, rows int) []batchSpec {
	out := make([]batchSpec, n)
	for i := range out {
		out[i] = batchSpec{rows: rows, begin: true, commit: true}
	}
	return out
}

// runGroups sends one gate batch, which gate holds until every batch of
// specs is queued for the sender, then specs; it returns the final
// checkpoint.
func runGroups(t *testing.T, cfg TaskConfig, sink Sender, gate *groupSink, specs []batchSpec) *checkpoint.Checkpoint {
	t.Helper()
	store := checkpoint.NewMemStore()
	task, err := NewTask(cfg, Deps{Store: store, NewSender: func(context.Context, TaskConfig, PluginConfig) (Sender, error) { return sink, nil }})
	if err != nil {
		t.Fatal(err)
	}
	stage := &senderStage{name: "sink", s: sink}
	p := newPipeline(task.log, cfg, store, checkpoint.Checkpoint{}, nil, []*senderStage{stage}, &task.stats, task.metrics)
	p.ctl = task.ctl
	done := make(chan error, 1)
	go func() { done <- p.run(context.Background()) }()
	ctx := context.Background()
	seq := uint64(0)
	var tx *Tx
	emit := func(s batchSpec) {
		seq++
		if s.begin {
			tx = &Tx{ID: fmt.Sprintf("0-1-%d", seq)}
		}
		b := &Batch{Seq: seq, Tx: tx, Begin: s.begin}
		for i := range s.rows {
			b.Changes = append(b.Changes, Change{Op: OpInsert, Tx: tx, Seq: uint32(i + 1), After: []any{int64(i), "some text"}})
		}
		if s.commit {
			b.Commit = &position.Position{File: "bin.000001", Pos: uint32(1000 + seq)}
		}
		if err := p.emit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	emit(batchSpec{rows: 1, begin: true, commit: true})
	<-gate.entered
	for _, s := range specs {
		emit(s)
	}
	deadline := time.Now().Add(10 * time.Second)
	// Every batch after the gate's is queued, or taken into the next
	// group while the gate's call runs.
	queued := func() int { return len(stage.ch) + int(stage.taken.Load()) - 1 }
	for queued() < len(specs) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d batches queued for the sender", queued(), len(specs))
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.release)
	close(p.in)
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	cp, err := store.Load(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestGroupBounds(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra func(*TaskConfig)
		specs []batchSpec
		want  [][]uint64 // after the gate's call [1]
	}{
		{
			name:  "all queued transactions in one call",
			specs: txs(5, 2),
			want:  [][]uint64{{2, 3, 4, 5, 6}},
		},
		{
			// While a call runs the next group keeps collecting, so a
			// slow sender gets more than the queue holds.
			name:  "more transactions than queue_batches in one call",
			extra: func(c *TaskConfig) { c.QueueBatches = 2 },
			specs: txs(9, 2),
			want:  [][]uint64{{2, 3, 4, 5, 6, 7, 8, 9, 10}},
		},
		{
			name:  "group_rows",
			extra: func(c *TaskConfig) { c.GroupRows = 5 },
			specs: txs(5, 2),
			want:  [][]uint64{{2, 3}, {4, 5}, {6}},
		},
		{
			name:  "a batch above group_rows goes alone",
			extra: func(c *TaskConfig) { c.GroupRows = 5 },
			specs: []batchSpec{{rows: 1, begin: true, commit: true}, {rows: 9, begin: true, commit: true}, {rows: 1, begin: true, commit: true}},
			want:  [][]uint64{{2}, {3}, {4}},
		},
		{
			name: "group_bytes",
			// A change of this test weighs 32 + 8 + 9 bytes.
			extra: func(c *TaskConfig) { c.GroupBytes = 100 },
			specs: txs(3, 1),
			want:  [][]uint64{{2, 3}, {4}},
		},
		{
			name:  "group_rows = 0 sends batch by batch",
			extra: func(c *TaskConfig) { c.GroupRows = 0 },
			specs: txs(3, 1),
			want:  [][]uint64{{2}, {3}, {4}},
		},
		{
			name:  "a large transaction's batches join the group",
			extra: func(c *TaskConfig) { c.GroupRows = 8 },
			specs: []batchSpec{{rows: 2, begin: true}, {rows: 2}, {rows: 2, commit: true}, {rows: 1, begin: true, commit: true}, {rows: 4, begin: true}, {rows: 4, commit: true}},
			want:  [][]uint64{{2, 3, 4, 5}, {6, 7}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := newGroupSink()
			runGroups(t, groupTask(t, tt.extra), sink, sink, tt.specs)
			calls, _ := sink.got()
			want := append([][]uint64{{1}}, tt.want...)
			if !slices.EqualFunc(calls, want, slices.Equal) {
				t.Errorf("calls %v, want %v", calls, want)
			}
		})
	}
}

// TestGroupAckAndCheckpoint: a group is acknowledged as a whole, and the
// checkpoint moves to the last commit in it, not past it into an open
// transaction.
func TestGroupAckAndCheckpoint(t *testing.T) {
	sink := newGroupSink()
	cfg := groupTask(t, nil)
	specs := []batchSpec{{rows: 1, begin: true, commit: true}, {rows: 2, begin: true, commit: true}, {rows: 2, begin: true}}
	cp := runGroups(t, cfg, sink, sink, specs)
	calls, _ := sink.got()
	if want := [][]uint64{{1}, {2, 3, 4}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	// Batch 3 closes the last transaction; batch 4 opens one it never
	// closes.
	if cp.Position.Pos != 1003 {
		t.Errorf("checkpoint at %v, want bin.000001:1003, the group's last commit", cp.Position)
	}
	var buf bytes.Buffer
	WriteMetrics(&buf)
	l := `{task="` + cfg.Name + `",plugin="sink"}`
	for _, want := range []string{
		"puma_sender_group_batches_count" + l + " 2\n",
		"puma_sender_group_batches_sum" + l + " 4\n",
		`puma_transaction_latency_seconds_count{task="` + cfg.Name + `"} 3` + "\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestGroupDelay: with max_batch_delay a batch arriving shortly after the
// first joins its group.
func TestGroupDelay(t *testing.T) {
	sink := &groupSink{}
	cfg := groupTask(t, func(c *TaskConfig) { c.MaxBatchDelay = time.Second })
	store := checkpoint.NewMemStore()
	task, err := NewTask(cfg, Deps{Store: store, NewSender: func(context.Context, TaskConfig, PluginConfig) (Sender, error) { return sink, nil }})
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(task.log, cfg, store, checkpoint.Checkpoint{}, nil, []*senderStage{{name: "sink", s: sink}}, &task.stats, task.metrics)
	p.ctl = task.ctl
	done := make(chan error, 1)
	go func() { done <- p.run(context.Background()) }()
	for seq := uint64(1); seq <= 2; seq++ {
		tx := &Tx{ID: fmt.Sprint(seq)}
		b := &Batch{Seq: seq, Tx: tx, Begin: true, Changes: []Change{{Op: OpInsert, Tx: tx, Seq: 1}}, Commit: &position.Position{File: "bin.000001", Pos: uint32(seq)}}
		if err := p.emit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(p.in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls, _ := sink.got(); !slices.EqualFunc(calls, [][]uint64{{1, 2}}, slices.Equal) {
		t.Errorf("calls %v, want [[1 2]]", calls)
	}
}

// TestGroupRetry: a failing group is retried whole, and then
// acknowledged whole.
func TestGroupRetry(t *testing.T) {
	sink := newGroupSink()
	cfg := groupTask(t, func(c *TaskConfig) { c.MaxFailures = 5 })
	// The gate's call succeeds; the group's first two calls fail.
	failing := &failAfter{groupSink: sink, after: 1, n: 2}
	cp := runGroups(t, cfg, failing, sink, txs(3, 1))
	calls, _ := sink.got()
	want := [][]uint64{{1}, {2, 3, 4}, {2, 3, 4}, {2, 3, 4}}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	if cp.Position.Pos != 1004 {
		t.Errorf("checkpoint at %v, want bin.000001:1004", cp.Position)
	}
}

// failAfter fails n calls after the first `after` calls.
type failAfter struct {
	*groupSink
	after, n int
	calls    int
}

func (f *failAfter) SendGroup(ctx context.Context, g []*Batch) error {
	f.calls++
	err := f.groupSink.SendGroup(ctx, g)
	if f.calls > f.after && f.calls <= f.after+f.n {
		return errors.New("destination down")
	}
	return err
}

// TestGroupDeadLetter: a group that keeps failing is dead-lettered batch
// by batch, and the task goes on.
func TestGroupDeadLetter(t *testing.T) {
	sink := newGroupSink()
	cfg := groupTask(t, func(c *TaskConfig) { c.MaxFailures = 2; c.OnError = OnErrorDeadLetter })
	failing := &failAfter{groupSink: sink, after: 1, n: 2}
	cp := runGroups(t, cfg, failing, sink, txs(3, 2))
	data, err := os.ReadFile(cfg.DeadLetterPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "destination down"); n != 6 {
		t.Errorf("dead letters name the error %d times, want 6 (2 changes × 3 batches):\n%s", n, data)
	}
	if cp.Position.Pos != 1004 {
		t.Errorf("checkpoint at %v, want bin.000001:1004", cp.Position)
	}
}

// TestGroupUnsupported: a GroupSender refusing groups gets every batch
// through Send, in order, none lost.
func TestGroupUnsupported(t *testing.T) {
	sink := &unsupportedSink{newGroupSink()}
	cp := runGroups(t, groupTask(t, nil), sink, sink.groupSink, txs(4, 1))
	calls, single := sink.got()
	if want := [][]uint64{{1}, {2}, {3}, {4}, {5}}; !slices.EqualFunc(calls, want, slices.Equal) || single != 5 {
		t.Errorf("calls %v (%d by Send), want %v all by Send", calls, single, want)
	}
	if cp.Position.Pos != 1005 {
		t.Errorf("checkpoint at %v, want bin.000001:1005", cp.Position)
	}
}

// positionedSink is a groupSink keeping its own position.
type positionedSink struct{ *groupSink }

func (positionedSink) Positioned() bool { return true }

// TestPositionedSenderGetsWholeTransactions: a sender keeping its own
// position is handed groups ending at commits only, past group_rows and
// with group_rows = 0, and a transaction the reader restarts replaces its
// partial batches.
func TestPositionedSenderGetsWholeTransactions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra func(*TaskConfig)
		specs []batchSpec
		want  [][]uint64 // after the gate's call [1]
	}{
		{
			name:  "a transaction larger than group_rows stays whole",
			extra: func(c *TaskConfig) { c.GroupRows = 3 },
			specs: []batchSpec{{rows: 2, begin: true}, {rows: 2}, {rows: 2, commit: true}, {rows: 1, begin: true, commit: true}, {rows: 1, begin: true, commit: true}},
			want:  [][]uint64{{2, 3, 4}, {5, 6}},
		},
		{
			name:  "group_rows = 0 still groups one transaction",
			extra: func(c *TaskConfig) { c.GroupRows = 0 },
			specs: []batchSpec{{rows: 2, begin: true}, {rows: 2, commit: true}, {rows: 1, begin: true, commit: true}},
			want:  [][]uint64{{2, 3}, {4}},
		},
		{
			name:  "a restarted transaction replaces its partial batches",
			specs: []batchSpec{{rows: 1, begin: true, commit: true}, {rows: 2, begin: true}, {rows: 2}, {rows: 2, begin: true}, {rows: 2}, {rows: 2, commit: true}},
			want:  [][]uint64{{2, 5, 6, 7}},
		},
		{
			name:  "input ending inside a transaction sends what is whole",
			specs: []batchSpec{{rows: 1, begin: true, commit: true}, {rows: 2, begin: true}},
			want:  [][]uint64{{2}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := positionedSink{newGroupSink()}
			cp := runGroups(t, groupTask(t, tt.extra), sink, sink.groupSink, tt.specs)
			calls, single := sink.got()
			want := append([][]uint64{{1}}, tt.want...)
			if !slices.EqualFunc(calls, want, slices.Equal) || single != 0 {
				t.Errorf("calls %v (%d single), want %v", calls, single, want)
			}
			last := want[len(want)-1]
			if wantPos := uint32(1000 + last[len(last)-1]); cp.Position.Pos != wantPos {
				t.Errorf("checkpoint at %v, want pos %d", cp.Position, wantPos)
			}
		})
	}
}

// preparingSink is a groupSink recording the batches it was asked to
// prepare, and whether each was prepared before the call sending it.
type preparingSink struct {
	*groupSink
	pmu      sync.Mutex
	prepared []uint64
	late     []uint64 // sent before they were prepared
}

func (s *preparingSink) Prepare(b *Batch) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.prepared = append(s.prepared, b.Seq)
}

func (s *preparingSink) SendGroup(ctx context.Context, g []*Batch) error {
	s.pmu.Lock()
	for _, b := range g {
		if !slices.Contains(s.prepared, b.Seq) {
			s.late = append(s.late, b.Seq)
		}
	}
	s.pmu.Unlock()
	return s.groupSink.SendGroup(ctx, g)
}

// TestGroupPrepare: a sender that prepares (Preparer) is handed every
// batch queued for it, in order, before the call sending it, while the
// call before runs.
func TestGroupPrepare(t *testing.T) {
	gate := newGroupSink()
	sink := &preparingSink{groupSink: gate}
	runGroups(t, groupTask(t, nil), sink, gate, txs(6, 2))
	calls, _ := gate.got()
	if want := [][]uint64{{1}, {2, 3, 4, 5, 6, 7}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	// Batches 2..7 were prepared while the gate's call was held.
	if want := []uint64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(sink.prepared, want) {
		t.Errorf("prepared %v, want %v", sink.prepared, want)
	}
	if len(sink.late) > 0 {
		t.Errorf("batches %v were sent before they were prepared", sink.late)
	}
}
