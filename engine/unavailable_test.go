package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// downErr is a failure to reach a destination, as hostabi reports one
// whose capability got ErrnoRemote.
type downErr struct{}

func (downErr) Error() string     { return "broker down" }
func (downErr) Unavailable() bool { return true }

// TestUnavailableDestinationIsWaitedFor: a sender whose destination is
// down, at start and mid-stream, is retried past max_failures, the task
// shows "retrying" meanwhile, and nothing is lost or skipped.
func TestUnavailableDestinationIsWaitedFor(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	sink := &capture{fail: 12, err: downErr{}}
	var opens atomic.Int32
	cfg := taskConfig(t, srv, "max_failures = 2")
	task, err := engine.NewTask(cfg, engine.Deps{
		Store: checkpoint.NewMemStore(),
		Log:   testLogger(t),
		NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			if opens.Add(1) <= 3 {
				return nil, downErr{}
			}
			return sink, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- task.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "streaming", func() bool { return task.Snapshot().State == "streaming" })
	if n := opens.Load(); n != 4 {
		t.Fatalf("sender opened %d times, want 4 (three failures at start)", n)
	}
	srv.Exec(t, "INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)")
	sawRetrying := false
	waitFor(t, "both rows", func() bool {
		if s := task.Snapshot(); s.State == "retrying" && s.Retrying == "capture" {
			sawRetrying = true
		}
		return sink.count() == 2
	})
	if !sawRetrying {
		t.Error("the task never showed state retrying while its sender's destination was down")
	}
	select {
	case err := <-done:
		t.Fatalf("task ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if s := task.Snapshot(); s.State != "streaming" || s.Retrying != "" {
		t.Errorf("after recovery: state %s, retrying %q", s.State, s.Retrying)
	}
	if !errors.As(error(downErr{}), new(interface{ Unavailable() bool })) || !engine.Unavailable(downErr{}) {
		t.Error("engine.Unavailable does not recognise the error")
	}
}
