package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine/position"
)

// Stats are a task's counters, safe for concurrent use. Snapshot reads
// them for the admin API.
type Stats struct {
	rowsDelivered  atomic.Uint64
	txDelivered    atomic.Uint64
	ddlDelivered   atomic.Uint64
	pluginErrors   atomic.Uint64
	deadLettered   atomic.Uint64
	reconnects     atomic.Uint64
	lastCheckpoint atomic.Int64 // unix nanos
	lastEventUnix  atomic.Int64
	mu             sync.Mutex
	state          string
	source         string
	acked          position.Position
	lastErr        string
}

// StatsSnapshot is a point-in-time copy of Stats.
type StatsSnapshot struct {
	State          string            `json:"state"`
	Source         string            `json:"source"`
	Position       position.Position `json:"position"`
	Rows           uint64            `json:"rows"`
	Transactions   uint64            `json:"transactions"`
	DDL            uint64            `json:"ddl"`
	PluginErrors   uint64            `json:"plugin_errors"`
	DeadLettered   uint64            `json:"dead_lettered"`
	Reconnects     uint64            `json:"reconnects"`
	LastCheckpoint time.Time         `json:"last_checkpoint,omitzero"`
	LastError      string            `json:"last_error,omitempty"`
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	snap := StatsSnapshot{State: s.state, Source: s.source, Position: s.acked, LastError: s.lastErr}
	s.mu.Unlock()
	snap.Rows = s.rowsDelivered.Load()
	snap.Transactions = s.txDelivered.Load()
	snap.DDL = s.ddlDelivered.Load()
	snap.PluginErrors = s.pluginErrors.Load()
	snap.DeadLettered = s.deadLettered.Load()
	snap.Reconnects = s.reconnects.Load()
	if ns := s.lastCheckpoint.Load(); ns != 0 {
		snap.LastCheckpoint = time.Unix(0, ns).UTC()
	}
	return snap
}

func (s *Stats) setState(state, source string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
	if source != "" {
		s.source = source
	}
	if err != nil {
		s.lastErr = err.Error()
	}
}

func (s *Stats) setAcked(p position.Position) {
	s.mu.Lock()
	s.acked = p
	s.mu.Unlock()
}

func (s *Stats) checkpointed(t time.Time) { s.lastCheckpoint.Store(t.UnixNano()) }

// delivered counts b once the last of its senders acknowledged it.
func (s *Stats) delivered(b *Batch) {
	if b.acks.Add(-1) != 0 {
		return
	}
	for i := range b.Changes {
		if b.Changes[i].Op == OpDDL {
			s.ddlDelivered.Add(1)
		} else {
			s.rowsDelivered.Add(1)
		}
	}
	if b.Commit != nil && b.Tx != nil {
		s.txDelivered.Add(1)
	}
}
