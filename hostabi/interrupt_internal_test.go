package hostabi

import (
	"context"
	"testing"
	"time"
)

// TestWatchdog pins the races the watchdog resolves: a timer firing for
// an earlier call, the hook of a context no longer used, and a fire
// between calls must not stop a call; a passed deadline and an ended
// context must.
func TestWatchdog(t *testing.T) {
	newWatchdog := func() (*watchdog, context.Context) {
		ictx, cancel := context.WithCancel(context.Background())
		w := new(watchdog)
		w.init(cancel)
		t.Cleanup(w.close)
		return w, ictx
	}
	ctx := context.Background()

	t.Run("stale timer", func(t *testing.T) {
		w, ictx := newWatchdog()
		w.arm(ctx, time.Hour)
		w.interrupt(stopDeadline, nil) // as if fired for the previous call
		if got := w.disarm(); got != callIdle || ictx.Err() != nil {
			t.Fatalf("disarm = %d, context %v; want the call untouched", got, ictx.Err())
		}
	})
	t.Run("between calls", func(t *testing.T) {
		w, ictx := newWatchdog()
		w.arm(ctx, time.Hour)
		w.disarm()
		w.deadline.Store(0)            // the deadline passed as the call returned,
		w.interrupt(stopDeadline, nil) // and the timer's goroutine runs now
		if got := w.stopped(); got != callIdle || ictx.Err() != nil {
			t.Fatalf("stopped = %d, context %v; want nothing stopped", got, ictx.Err())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		w, ictx := newWatchdog()
		w.arm(ctx, 10*time.Millisecond)
		<-ictx.Done()
		if got := w.disarm(); got != stopDeadline || w.stopped() != stopDeadline {
			t.Fatalf("disarm = %d, want stopDeadline", got)
		}
	})
	t.Run("old context", func(t *testing.T) {
		w, ictx := newWatchdog()
		old, cancelOld := context.WithCancel(ctx)
		w.arm(old, time.Hour)
		w.disarm()
		w.arm(ctx, time.Hour)
		cancelOld()
		w.interrupt(stopCancelled, old) // the old hook, had it run before unhook
		time.Sleep(10 * time.Millisecond)
		if got := w.disarm(); got != callIdle || ictx.Err() != nil {
			t.Fatalf("disarm = %d, context %v; want the call untouched", got, ictx.Err())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		w, ictx := newWatchdog()
		c, cancel := context.WithCancel(ctx)
		w.arm(c, time.Hour)
		cancel()
		select {
		case <-ictx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the call was not stopped")
		}
		if got := w.disarm(); got != stopCancelled {
			t.Fatalf("disarm = %d, want stopCancelled", got)
		}
	})
}
