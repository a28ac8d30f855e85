// Package checkpoint stores how far each task has durably delivered.
//
// A checkpoint only ever names a transaction commit or a DDL that every
// sender of the task acknowledged, so resuming from it redelivers at most
// what was in flight and never skips a change.
package checkpoint

import (
	"context"
	"errors"
	"time"

	"github.com/pumacdc/puma/engine/position"
)

// ErrNotFound is returned by Store.Load when a task has no checkpoint yet.
var ErrNotFound = errors.New("checkpoint not found")

// Checkpoint is what a task persists.
type Checkpoint struct {
	// Task is the task's name, the store's key.
	Task string `json:"task"`
	// Position is the end of the last fully acknowledged transaction or DDL.
	// During an initial snapshot it is the snapshot's first point, where
	// streaming will begin, and its Snapshot field records the tables read
	// and the key of the last acknowledged row (see position.Snapshot).
	Position position.Position `json:"position"`
	// Paused and StopAt are operator state that survives restarts.
	Paused bool   `json:"paused,omitempty"`
	StopAt string `json:"stop_at,omitempty"`
	// Start is the task's start specification when the checkpoint was
	// written: a different one in the config repositions the task once.
	Start string `json:"start,omitempty"`
	// Schemas is the table-schema state in use at Position, opaque to the
	// store.
	Schemas []byte `json:"schemas,omitempty"`
	// Plugins is the state of the task's stateful plugins (the kv
	// capability) at Position, by plugin name, opaque to the store.
	Plugins map[string][]byte `json:"plugins,omitempty"`
	// Incremental is the incremental snapshot in progress at Position,
	// nil when none is: a restart continues it at its next chunk.
	Incremental *Incremental `json:"incremental,omitempty"`
	// Saved is when the checkpoint was written.
	Saved time.Time `json:"saved"`
}

// Incremental is the progress of an incremental snapshot (tables read
// again while the task streams), as of the checkpoint's position. It is
// immutable once written: progress is a new value.
type Incremental struct {
	// ID names the request: the id of the signal row that started it.
	ID string `json:"id"`
	// Tables are the tables still to read ("db.table"), the first one
	// being read.
	Tables []string `json:"tables"`
	// Key is the key of the last row of Tables[0] read (nil: none yet), in
	// the typed form of position.Snapshot's Key.
	Key []string `json:"key,omitempty"`
	// Chunks and Rows count the chunks read and the rows delivered since
	// the request started.
	Chunks int   `json:"chunks"`
	Rows   int64 `json:"rows"`
}

// Store persists checkpoints.
//
// Save must be durable when it returns nil: after a crash, Load returns
// that checkpoint or a later one, never an earlier one. Implementations must
// be safe for concurrent use by different tasks; calls for one task are
// never concurrent.
type Store interface {
	// Load returns the task's checkpoint, or ErrNotFound.
	Load(ctx context.Context, task string) (*Checkpoint, error)
	// Save replaces the task's checkpoint.
	Save(ctx context.Context, cp *Checkpoint) error
}
