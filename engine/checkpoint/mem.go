package checkpoint

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemStore is a Store in memory, for tests. It copies checkpoints in and
// out, so callers may change what they saved or loaded. It is safe for
// concurrent use.
type MemStore struct {
	mu  sync.Mutex
	cps map[string]Checkpoint
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{cps: make(map[string]Checkpoint)}
}

// Load returns a copy of the task's checkpoint, or an error wrapping
// ErrNotFound.
func (s *MemStore) Load(ctx context.Context, task string) (*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cp, ok := s.cps[task]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("checkpoint: load task %q: %w", task, ErrNotFound)
	}
	cp.Schemas = slices.Clone(cp.Schemas)
	cp.Plugins = clonePlugins(cp.Plugins)
	return &cp, nil
}

// Save stores a copy of cp.
func (s *MemStore) Save(ctx context.Context, cp *Checkpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cp.Task == "" {
		return fmt.Errorf("checkpoint: save: empty task name")
	}
	c := *cp
	c.Schemas = slices.Clone(cp.Schemas)
	c.Plugins = clonePlugins(cp.Plugins)
	s.mu.Lock()
	s.cps[cp.Task] = c
	s.mu.Unlock()
	return nil
}

func clonePlugins(m map[string][]byte) map[string][]byte {
	if m == nil {
		return nil
	}
	c := make(map[string][]byte, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}
