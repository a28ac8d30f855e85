package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// tagHandler appends its name to the after image of every change, and
// records the Seqs it saw. hold, when set, runs before it handles a batch.
type tagHandler struct {
	name string
	mu   sync.Mutex
	seen []uint64
	hold func(seq uint64) error
}

func (h *tagHandler) Handle(_ context.Context, b *Batch) (*Batch, error) {
	if h.hold != nil {
		if err := h.hold(b.Seq); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	h.seen = append(h.seen, b.Seq)
	h.mu.Unlock()
	out := &Batch{Seq: b.Seq, Tx: b.Tx, Begin: b.Begin, Commit: b.Commit}
	for _, c := range b.Changes {
		c.After = append(slices.Clone(c.After), h.name)
		out.Changes = append(out.Changes, c)
	}
	return out, nil
}

func (h *tagHandler) Close() error { return nil }

// runHandlers runs a pipeline of handlers and the recording sink over n
// one-change transactions and returns the checkpoint it left (empty if
// none) and the pipeline's error.
func runHandlers(t *testing.T, cfg TaskConfig, sink *groupSink, n int, hs ...*tagHandler) (*checkpoint.Checkpoint, error) {
	t.Helper()
	store := checkpoint.NewMemStore()
	task, err := NewTask(cfg, Deps{Store: store, NewSender: func(context.Context, TaskConfig, PluginConfig) (Sender, error) { return sink, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var named []namedHandler
	for _, h := range hs {
		named = append(named, namedHandler{name: h.name, h: h})
	}
	p := newPipeline(task.log, cfg, store, checkpoint.Checkpoint{}, named, []*senderStage{{name: "sink", s: sink}}, &task.stats, task.metrics)
	p.ctl = task.ctl
	done := make(chan error, 1)
	go func() { done <- p.run(context.Background()) }()
	for seq := uint64(1); seq <= uint64(n); seq++ {
		tx := &Tx{ID: fmt.Sprint(seq)}
		b := &Batch{Seq: seq, Tx: tx, Begin: true, Changes: []Change{{Op: OpInsert, Tx: tx, Seq: 1, After: []any{int64(seq)}}},
			Commit: &position.Position{File: "bin.000001", Pos: uint32(1000 + seq)}}
		if err := p.emit(context.Background(), b); err != nil {
			break // the pipeline failed; run returns why
		}
	}
	close(p.in)
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the pipeline did not end")
	}
	cp, lerr := store.Load(context.Background(), cfg.Name)
	if errors.Is(lerr, checkpoint.ErrNotFound) {
		return &checkpoint.Checkpoint{}, err // failed before the first
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	return cp, err
}

// TestHandlerChain: every batch goes through every handler in order, and
// the handlers are a pipeline: the first takes the next batch while the
// second still works on the one before (a chain run batch by batch would
// wait here for ever).
func TestHandlerChain(t *testing.T) {
	first := &tagHandler{name: "a"}
	secondAt := make(chan struct{})
	second := &tagHandler{name: "b", hold: func(seq uint64) error {
		if seq != 1 {
			return nil
		}
		// Batch 1 waits in b until a has handled batch 2.
		for {
			first.mu.Lock()
			n := len(first.seen)
			first.mu.Unlock()
			if n >= 2 {
				close(secondAt)
				return nil
			}
			time.Sleep(time.Millisecond)
		}
	}}
	third := &tagHandler{name: "c"}
	sink := &groupSink{}
	const n = 50
	cp, err := runHandlers(t, groupTask(t, nil), sink, n, first, second, third)
	if err != nil {
		t.Fatal(err)
	}
	<-secondAt
	calls, _ := sink.got()
	var got []uint64
	for _, c := range calls {
		got = append(got, c...)
	}
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the sink got %v, want 1 to %d in order", got, n)
	}
	for _, h := range []*tagHandler{first, second, third} {
		if !slices.Equal(h.seen, want) {
			t.Errorf("handler %s saw %v, want 1 to %d in order", h.name, h.seen, n)
		}
	}
	if cp.Position.Pos != 1000+n {
		t.Errorf("checkpoint at %v, want bin.000001:%d", cp.Position, 1000+n)
	}
}

// TestHandlerChainFailure: a failing handler in the middle of a chain
// stops the task with its error, nothing after the failing batch reaches
// the sender, and no stage is left blocked.
func TestHandlerChainFailure(t *testing.T) {
	first := &tagHandler{name: "a"}
	second := &tagHandler{name: "b", hold: func(seq uint64) error {
		if seq == 7 {
			return errors.New("bad row")
		}
		return nil
	}}
	third := &tagHandler{name: "c"}
	sink := &groupSink{}
	cfg := groupTask(t, func(c *TaskConfig) { c.MaxFailures = 1 })
	cp, err := runHandlers(t, cfg, sink, 200, first, second, third)
	if err == nil || !strings.Contains(err.Error(), "bad row") {
		t.Fatalf("pipeline error %v, want handler b's", err)
	}
	calls, _ := sink.got()
	for _, c := range calls {
		for _, seq := range c {
			if seq >= 7 {
				t.Errorf("batch %d reached the sender after batch 7 failed", seq)
			}
		}
	}
	if cp.Position.Pos >= 1007 {
		t.Errorf("checkpoint at %v, past the failed batch 7", cp.Position)
	}
}
