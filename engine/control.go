package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// ErrState is returned by Pause, Resume and StopAt when the task's state
// does not allow the request.
var ErrState = errors.New("not possible in the task's state")

// control is the operator state of a task (paused, stop-at), shared between
// the admin API's goroutines and the task's. It is persisted with every
// checkpoint, so it survives restarts.
type control struct {
	mu      sync.Mutex
	paused  bool
	stopAt  *position.Start
	changed chan struct{} // closed and replaced on every change
	// interrupt cancels the current connection, when one is streaming.
	interrupt context.CancelFunc
	// save writes a checkpoint carrying the new state, when the task runs.
	save func(context.Context) error
}

func newControl() *control { return &control{changed: make(chan struct{})} }

// state returns the operator state and a channel closed on its next change.
func (c *control) state() (paused bool, stopAt *position.Start, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused, c.stopAt, c.changed
}

func (c *control) set(f func()) (save func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	return c.save
}

// setInterrupt registers how to cut the current connection (nil: none).
func (c *control) setInterrupt(interrupt context.CancelFunc) {
	c.mu.Lock()
	c.interrupt = interrupt
	c.mu.Unlock()
}

// setSave registers how to write a checkpoint now (nil: not running).
func (c *control) setSave(save func(context.Context) error) {
	c.mu.Lock()
	c.save = save
	c.mu.Unlock()
}

// Pause stops reading: the batches already read are delivered and
// checkpointed, then nothing more until Resume. The paused state is
// persisted with the checkpoint.
func (t *Task) Pause(ctx context.Context) error {
	var interrupt context.CancelFunc
	var already bool
	save := t.ctl.set(func() {
		already = t.ctl.paused
		t.ctl.paused = true
		interrupt = t.ctl.interrupt
	})
	if already {
		return fmt.Errorf("task %s is already paused: %w", t.cfg.Name, ErrState)
	}
	if interrupt != nil {
		interrupt()
	}
	t.log.Info("paused")
	if save != nil {
		return save(ctx)
	}
	return nil
}

// Resume undoes Pause.
func (t *Task) Resume(ctx context.Context) error {
	var was bool
	save := t.ctl.set(func() {
		was = t.ctl.paused
		t.ctl.paused = false
	})
	if !was {
		return fmt.Errorf("task %s is not paused: %w", t.cfg.Name, ErrState)
	}
	t.log.Info("resumed")
	if save != nil {
		return save(ctx)
	}
	return nil
}

// StopAt makes the task deliver every transaction committed before at (a
// time, a GTID set or a file position, in the syntax of a start
// specification), write the checkpoint and stop. A transaction is never
// split: one already being streamed when the point is reached is finished.
func (t *Task) StopAt(ctx context.Context, at string) error {
	spec, err := position.ParseStart(at)
	if err != nil {
		return err
	}
	switch spec.Mode {
	case position.Time, position.GTID, position.File:
	default:
		return fmt.Errorf("%w %q: stop-at takes a time, gtid:<set> or file:<name>:<pos>", position.ErrBadSpec, at)
	}
	save := t.ctl.set(func() { t.ctl.stopAt = &spec })
	t.log.Info("stop-at set", "at", spec.String())
	if save != nil {
		return save(ctx)
	}
	return nil
}

// errStopAt ends a stream at the stop-at point; the task then stops
// cleanly.
var errStopAt = errors.New("stop-at point reached")

// stopBefore reports whether the transaction ending at p, committed at
// commitTS, lies at or past a time or file stop point and must not be
// delivered.
func stopBefore(spec *position.Start, p position.Position, commitTS uint32) bool {
	switch spec.Mode {
	case position.Time:
		return commitsAtOrAfter(commitTS, spec.Time)
	case position.File:
		c, ok := compareLogNames(p.File, spec.File)
		if !ok {
			return false
		}
		return c > 0 || (c == 0 && p.Pos > spec.Pos)
	}
	return false
}

// stopAfter reports whether, with the transactions of gset executed, a GTID
// stop point is reached.
func stopAfter(spec *position.Start, gset mysql.GTIDSet) bool {
	if spec.Mode != position.GTID || gset == nil {
		return false
	}
	want, err := position.ParseGTIDSet("", spec.GTIDSet)
	if err != nil {
		return false
	}
	return gset.Contain(want)
}

// stopAtSpec returns the stop-at point in force, or nil.
func (c *control) stopAtSpec() *position.Start {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopAt
}

// waitWhilePaused blocks while the task is paused; false means ctx ended.
func (t *Task) waitWhilePaused(ctx context.Context) bool {
	for {
		paused, _, changed := t.ctl.state()
		if !paused {
			return true
		}
		t.stats.setState("paused", "", nil)
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// restoreControl takes the operator state a checkpoint carries.
func (t *Task) restoreControl(cp *checkpoint.Checkpoint) error {
	t.ctl.mu.Lock()
	defer t.ctl.mu.Unlock()
	t.ctl.paused = cp.Paused
	if cp.StopAt != "" {
		spec, err := position.ParseStart(cp.StopAt)
		if err != nil {
			return fmt.Errorf("checkpoint stop_at: %w", err)
		}
		t.ctl.stopAt = &spec
	}
	return nil
}

// controlState is what a checkpoint records of the operator state.
func (c *control) checkpointState() (paused bool, stopAt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopAt != nil {
		stopAt = c.stopAt.String()
	}
	return c.paused, stopAt
}
