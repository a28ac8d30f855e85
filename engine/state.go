package engine

import (
	"fmt"

	"github.com/pumacdc/puma/engine/checkpoint"
)

// StatefulPlugin is an optional interface of a Handler or Sender keeping
// state that must match the checkpoint (the kv capability): the state is
// saved inside the checkpoint, so it is exactly the state after the
// batches the checkpoint covers, whenever the process dies.
type StatefulPlugin interface {
	// RestoreState is called once, before the first batch, with the state
	// saved in the checkpoint the task resumes from (nil when none).
	RestoreState(state []byte) error
	// CheckpointState returns the plugin's state after every batch up to
	// seq and none after it (nil for no state); the pipeline saves it
	// with the checkpoint covering seq. It is called from the checkpoint
	// goroutine, concurrently with Handle or Send, with increasing seq.
	CheckpointState(seq uint64) []byte
}

// pluginStates collects the stateful plugins' states after batch seq.
func pluginStates(handlers []namedHandler, senders []*senderStage, seq uint64) map[string][]byte {
	var m map[string][]byte
	add := func(name string, x any) {
		s, ok := x.(StatefulPlugin)
		if !ok {
			return
		}
		if st := s.CheckpointState(seq); st != nil {
			if m == nil {
				m = make(map[string][]byte)
			}
			m[name] = st
		}
	}
	for _, h := range handlers {
		add(h.name, h.h)
	}
	for _, s := range senders {
		add(s.name, s.s)
	}
	return m
}

// restoreStates hands each stateful plugin its state from cp.
func restoreStates(cp *checkpoint.Checkpoint, handlers []namedHandler, senders []*senderStage) error {
	restore := func(name string, x any) error {
		if s, ok := x.(StatefulPlugin); ok {
			if err := s.RestoreState(cp.Plugins[name]); err != nil {
				return fmt.Errorf("plugin %s: restore state from the checkpoint: %w", name, err)
			}
		}
		return nil
	}
	for _, h := range handlers {
		if err := restore(h.name, h.h); err != nil {
			return err
		}
	}
	for _, s := range senders {
		if err := restore(s.name, s.s); err != nil {
			return err
		}
	}
	return nil
}
