package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine/checkpoint"
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
	lastEventUnix  atomic.Int64 // timestamp of the last event read, seconds
	lastRead       atomic.Int64 // when the last event or heartbeat was read, unix nanos
	caughtUp       atomic.Bool  // the last thing read was a heartbeat
	mu             sync.Mutex
	state          string
	since          time.Time // see StatsSnapshot.Since
	source         string
	acked          position.Position
	lastErr        string
	queue          func() int
	heartbeatLag   atomic.Int64 // nanoseconds
	// retrying names the plugin whose destination is unavailable, since
	// when (see setRetrying).
	retrying      string
	retryingSince time.Time
	incremental   atomic.Pointer[checkpoint.Incremental]
	snap          *snapTracker // nil in a Stats no task made
}

// StatsSnapshot is a point-in-time copy of Stats.
type StatsSnapshot struct {
	// State is one of States.
	State string `json:"state"`
	// Since is when the task entered State. The states a task passes
	// through on its way to streaming (new, connecting, locating,
	// reconnecting) count as one: for them Since is when the task last
	// stopped streaming, or was created.
	Since          time.Time         `json:"since"`
	Source         string            `json:"source"`
	Position       position.Position `json:"position"`
	Rows           uint64            `json:"rows"`
	Transactions   uint64            `json:"transactions"`
	DDL            uint64            `json:"ddl"`
	PluginErrors   uint64            `json:"plugin_errors"`
	DeadLettered   uint64            `json:"dead_lettered"`
	Reconnects     uint64            `json:"reconnects"`
	LastCheckpoint time.Time         `json:"last_checkpoint,omitzero"`
	// Lag is how far behind the source the task reads, in seconds: now
	// minus the timestamp of the last event read; 0 when caught up (a
	// heartbeat arrived after the last event).
	Lag float64 `json:"lag_seconds"`
	// LastEvent is when the last event (heartbeats included) was read.
	LastEvent time.Time `json:"last_event,omitzero"`
	// HeartbeatLag is, with a heartbeat_table, the time from the last
	// heartbeat row's commit on the source to its acknowledgement by every
	// sender, in seconds with microsecond precision.
	HeartbeatLag float64 `json:"heartbeat_lag_seconds,omitempty"`
	// QueueDepth is how many batches wait between the reader and the
	// senders.
	QueueDepth int    `json:"queue_depth"`
	LastError  string `json:"last_error,omitempty"`
	// Retrying names the plugin whose destination could not be reached
	// (engine.Unavailable) while the task otherwise streams: its batch is
	// retried until the destination answers. The task's State is then
	// "retrying", since RetryingSince.
	Retrying      string    `json:"retrying,omitempty"`
	RetryingSince time.Time `json:"-"`
	// IncrementalSnapshot is the incremental snapshot in progress, as the
	// stream has reached it: the tables left (the first being read), the
	// key of the last row read, and the chunks and rows read so far.
	IncrementalSnapshot *checkpoint.Incremental `json:"incremental_snapshot,omitempty"`
	// SnapshotProgress is how far the last snapshot, initial or
	// incremental, has read each table, with estimates and an ETA; kept
	// once it finished (Finished set) until the next begins.
	SnapshotProgress *SnapshotProgress `json:"snapshot_progress,omitempty"`
}

// setIncremental records the incremental snapshot's progress (nil: none).
func (s *Stats) setIncremental(p *checkpoint.Incremental) { s.incremental.Store(p) }

func (s *Stats) setHeartbeatLag(d time.Duration) { s.heartbeatLag.Store(int64(d)) }

// setQueue registers how to read the pipeline's queue depth.
func (s *Stats) setQueue(depth func() int) {
	s.mu.Lock()
	s.queue = depth
	s.mu.Unlock()
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	snap := StatsSnapshot{State: s.state, Since: s.since, Source: s.source, Position: s.acked, LastError: s.lastErr,
		Retrying: s.retrying, RetryingSince: s.retryingSince}
	queue := s.queue
	s.mu.Unlock()
	if queue != nil {
		snap.QueueDepth = queue()
	}
	snap.HeartbeatLag = time.Duration(s.heartbeatLag.Load()).Seconds()
	snap.Rows = s.rowsDelivered.Load()
	snap.Transactions = s.txDelivered.Load()
	snap.DDL = s.ddlDelivered.Load()
	snap.PluginErrors = s.pluginErrors.Load()
	snap.DeadLettered = s.deadLettered.Load()
	snap.Reconnects = s.reconnects.Load()
	snap.IncrementalSnapshot = s.incremental.Load()
	if s.snap != nil {
		snap.SnapshotProgress = s.snap.snapshot()
	}
	if ns := s.lastCheckpoint.Load(); ns != 0 {
		snap.LastCheckpoint = time.Unix(0, ns).UTC()
	}
	now := time.Now()
	if ns := s.lastRead.Load(); ns != 0 {
		snap.LastEvent = time.Unix(0, ns).UTC()
	}
	snap.Lag = s.lag(now, snap.State, snap.LastEvent)
	return snap
}

// observe records an event read from the source, before the reader
// handles it, for the lag.
func (s *Stats) observe(h *replication.EventHeader, now time.Time) {
	switch {
	case isHeartbeat(h):
		// Sent only when the source has nothing newer: caught up.
		s.caughtUp.Store(true)
	case h.Timestamp == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0:
		// The rotate and format events a dump begins with.
		return
	default:
		switch h.EventType {
		case replication.FORMAT_DESCRIPTION_EVENT, replication.ROTATE_EVENT,
			replication.MARIADB_GTID_LIST_EVENT, replication.MARIADB_BINLOG_CHECKPOINT_EVENT,
			replication.PREVIOUS_GTIDS_EVENT:
			// File bookkeeping, stamped when the file was opened or
			// closed rather than when a change was made.
			return
		}
		s.lastEventUnix.Store(int64(h.Timestamp))
		s.caughtUp.Store(false)
	}
	s.lastRead.Store(now.UnixNano())
}

// lag is how far behind the source the task reads, in seconds: 0 while
// streaming caught up (the last thing read was a heartbeat), else now minus
// the last event's timestamp, or minus the time the task was last known to
// be caught up. Event timestamps are whole seconds, so a task keeping up
// shows up to 1 s.
func (s *Stats) lag(now time.Time, state string, lastRead time.Time) float64 {
	var since time.Time
	switch {
	case s.caughtUp.Load() && state == "streaming":
		return 0
	case s.caughtUp.Load():
		since = lastRead
	case s.lastEventUnix.Load() != 0:
		since = time.Unix(s.lastEventUnix.Load(), 0)
	default:
		return 0
	}
	return max(0, now.Sub(since).Seconds())
}

func (s *Stats) setState(state, source string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state != s.state && !(connecting(state) && connecting(s.state)) {
		s.since = time.Now().UTC()
	}
	s.state = state
	if source != "" {
		s.source = source
	}
	if err != nil {
		s.lastErr = err.Error()
	}
}

// setRetrying records that plugin's destination is unavailable (err not
// nil), or that plugin's call succeeded (err nil), which ends it.
func (s *Stats) setRetrying(plugin string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		if s.retrying == "" {
			s.retrying, s.retryingSince = plugin, time.Now().UTC()
		}
		s.lastErr = err.Error()
	case s.retrying == plugin:
		s.retrying, s.retryingSince = "", time.Time{}
	}
}

// connecting reports whether a task in state is on its way to streaming.
func connecting(state string) bool {
	switch state {
	case "new", "connecting", "locating", "reconnecting":
		return true
	}
	return false
}

// Snapshot returns the task's Stats.Snapshot, showing an operator's
// request the task has not carried out yet: "pausing" from Pause until
// the task is paused, "resuming" from Resume until it reads again.
func (t *Task) Snapshot() StatsSnapshot {
	snap := t.stats.Snapshot()
	paused, _, _ := t.ctl.state()
	switch {
	case paused && snap.State != "paused" && !ended(snap.State):
		snap.State = "pausing"
	case !paused && snap.State == "paused":
		snap.State = "resuming"
	case snap.Retrying != "" && (snap.State == "streaming" || snap.State == "snapshot" || snap.State == "new"):
		snap.State, snap.Since = "retrying", snap.RetryingSince
	}
	return snap
}

// ended reports whether a task in state has stopped running.
func ended(state string) bool {
	return state == "failed" || state == "stopped" || state == "stopped-at"
}

func (s *Stats) setAcked(p position.Position) {
	s.mu.Lock()
	s.acked = p
	s.mu.Unlock()
}

func (s *Stats) checkpointed(t time.Time) { s.lastCheckpoint.Store(t.UnixNano()) }

// delivered counts a batch every sender acknowledged.
func (s *Stats) delivered(b *Batch) {
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
