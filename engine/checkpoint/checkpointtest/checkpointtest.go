// Package checkpointtest is a conformance suite for checkpoint.Store
// implementations.
package checkpointtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// TestStore checks that the stores newStore returns keep the Store
// contract: Load of an unknown task returns ErrNotFound, Save then Load
// round-trips every field, a Save replaces the previous one, tasks do not
// see each other's checkpoints, stored checkpoints do not alias the
// caller's, and different tasks can Save and Load concurrently (run it
// with -race). newStore is called once per subtest and must return an
// empty store.
func TestStore(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	ctx := context.Background()

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		cp, err := s.Load(ctx, "nothing")
		if !errors.Is(err, checkpoint.ErrNotFound) {
			t.Fatalf("Load of an unknown task = %v, %v; want ErrNotFound", cp, err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := sample("shop", 1)
		save(t, s, want)
		check(t, load(t, s, "shop"), want)
	})

	t.Run("ZeroFields", func(t *testing.T) {
		s := newStore(t)
		want := &checkpoint.Checkpoint{Task: "bare"}
		save(t, s, want)
		check(t, load(t, s, "bare"), want)
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t)
		save(t, s, sample("shop", 1))
		want := sample("shop", 2)
		want.Paused, want.StopAt, want.Schemas, want.Plugins = false, "", nil, nil
		save(t, s, want)
		check(t, load(t, s, "shop"), want)
	})

	t.Run("Isolation", func(t *testing.T) {
		s := newStore(t)
		a, b := sample("a", 1), sample("b", 2)
		save(t, s, a)
		save(t, s, b)
		check(t, load(t, s, "a"), a)
		check(t, load(t, s, "b"), b)
		if _, err := s.Load(ctx, "c"); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Errorf("Load(c) = %v, want ErrNotFound", err)
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		in := sample("shop", 1)
		save(t, s, in)
		in.Schemas[0] = 'X'
		in.Plugins["counter"][0] = 'X'
		in.Position.Pos = 999
		got := load(t, s, "shop")
		check(t, got, sample("shop", 1))
		got.Schemas[0] = 'Y'
		got.Plugins["counter"][0] = 'Y'
		check(t, load(t, s, "shop"), sample("shop", 1))
	})

	t.Run("ConcurrentTasks", func(t *testing.T) {
		s := newStore(t)
		const tasks, saves = 8, 20
		var wg sync.WaitGroup
		errs := make(chan error, tasks)
		for i := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				task := fmt.Sprintf("task%d", i)
				for n := 1; n <= saves; n++ {
					if err := s.Save(ctx, sample(task, n)); err != nil {
						errs <- err
						return
					}
					cp, err := s.Load(ctx, task)
					if err != nil {
						errs <- err
						return
					}
					if cp.Position.Pos != uint32(n) {
						errs <- fmt.Errorf("task %s: Load after Save %d returned pos %d", task, n, cp.Position.Pos)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range tasks {
			task := fmt.Sprintf("task%d", i)
			check(t, load(t, s, task), sample(task, saves))
		}
	})
}

// sample returns a checkpoint with every field set; n varies the position.
func sample(task string, n int) *checkpoint.Checkpoint {
	return &checkpoint.Checkpoint{
		Task: task,
		Position: position.Position{
			ServerID:   7,
			ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562",
			Flavor:     "mysql",
			File:       "binlog.000042",
			Pos:        uint32(n),
			GTIDSet:    fmt.Sprintf("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-%d", n),
			Timestamp:  1764064800 + int64(n),
		},
		Paused:  true,
		StopAt:  "gtid:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-1000",
		Schemas: []byte(`{"shop.orders":{"columns":["id","total"]}}`),
		Plugins: map[string][]byte{"counter": {1, 0, 0, 0, byte(n)}},
		Saved:   time.Date(2026, 11, 25, 10, 0, n, 123456789, time.UTC),
	}
}

func save(t *testing.T, s checkpoint.Store, cp *checkpoint.Checkpoint) {
	t.Helper()
	if err := s.Save(context.Background(), cp); err != nil {
		t.Fatalf("Save(%s): %v", cp.Task, err)
	}
}

func load(t *testing.T, s checkpoint.Store, task string) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := s.Load(context.Background(), task)
	if err != nil {
		t.Fatalf("Load(%s): %v", task, err)
	}
	return cp
}

// check compares checkpoints field by field: times by Equal, since a
// store may drop the monotonic reading or the location, and an empty
// Schemas like a nil one.
func check(t *testing.T, got, want *checkpoint.Checkpoint) {
	t.Helper()
	if got.Task != want.Task || got.Position != want.Position || got.Paused != want.Paused ||
		got.StopAt != want.StopAt || !bytes.Equal(got.Schemas, want.Schemas) || !got.Saved.Equal(want.Saved) ||
		len(got.Plugins) != len(want.Plugins) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for name, st := range want.Plugins {
		if !bytes.Equal(got.Plugins[name], st) {
			t.Errorf("plugin %s state: got %x, want %x", name, got.Plugins[name], st)
		}
	}
}
