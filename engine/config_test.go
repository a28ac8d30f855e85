package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// minimalTask is a task with only the fields that have no default.
func minimalTask() engine.TaskConfig {
	return engine.TaskConfig{
		Name:            "orders",
		ReplicaServerID: 7,
		Sources:         []engine.Source{{Addr: "db.example:3306", User: "repl"}},
		Senders:         []engine.PluginConfig{{Plugin: "/plugins/kafka.wasm"}},
	}
}

func TestTaskConfigDefaults(t *testing.T) {
	c := minimalTask().WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("a minimal task with defaults is invalid: %v", err)
	}
	for _, tt := range []struct {
		field     string
		got, want any
	}{
		{"Start", c.Start.Mode, position.Checkpoint},
		{"StartIfNone", c.StartIfNone.Mode, position.Latest},
		{"Position", c.Position, engine.PositionGTID},
		{"Schema", c.Schema, engine.SchemaMetadata},
		{"OnError", c.OnError, engine.OnErrorStop},
		{"Tables", strings.Join(c.Tables, ","), "*.*"},
		{"Snapshot", c.Snapshot, engine.SnapshotNever},
		{"SnapshotChunkRows", c.SnapshotChunkRows, 10000},
		{"SnapshotParallel", c.SnapshotParallel, 2},
		{"SnapshotLocking", c.SnapshotLocking, engine.SnapshotLockingNone},
		{"CheckpointInterval", c.CheckpointInterval, time.Second},
		{"BatchRows", c.BatchRows, 256},
		{"QueueBatches", c.QueueBatches, 16},
		{"GroupRows", c.GroupRows, 0},
		{"GroupBytes", c.GroupBytes, 8 << 20},
		{"MaxBatchDelay", c.MaxBatchDelay, time.Duration(0)},
		{"BackoffMin", c.BackoffMin, 100 * time.Millisecond},
		{"BackoffMax", c.BackoffMax, 30 * time.Second},
		{"FailoverAfter", c.FailoverAfter, 3},
		{"FailoverLookback", c.FailoverLookback, time.Minute},
		{"Heartbeat", c.Heartbeat, time.Second},
		{"ReadTimeout", c.ReadTimeout, 3 * time.Second},
		{"MaxFailures", c.MaxFailures, 5},
		{"HeartbeatInterval", c.HeartbeatInterval, time.Second},
		{"Senders[0].Name", c.Senders[0].Name, "kafka"},
		{"Senders[0].Timeout", c.Senders[0].Timeout, 5 * time.Second},
		{"Senders[0].MaxMemory", c.Senders[0].MaxMemory, uint64(64 << 20)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.field, tt.got, tt.want)
		}
	}

	// Set fields are kept, and the caller's value is not changed.
	in := minimalTask()
	in.Heartbeat = 2 * time.Second
	in.BatchRows = 9
	out := in.WithDefaults()
	if out.BatchRows != 9 || out.ReadTimeout != 6*time.Second {
		t.Errorf("BatchRows %d, ReadTimeout %s: want 9 and three heartbeats of 2s", out.BatchRows, out.ReadTimeout)
	}
	if in.Senders[0].Name != "" || in.Position != "" {
		t.Errorf("WithDefaults changed its receiver: %+v", in)
	}
}

func TestTaskConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*engine.TaskConfig)
		want []string // substrings of the joined error, one per problem
	}{
		{"no name", func(c *engine.TaskConfig) { c.Name = "" }, []string{"Name is empty"}},
		{"no server id", func(c *engine.TaskConfig) { c.ReplicaServerID = 0 }, []string{"ReplicaServerID is 0"}},
		{"bad enum", func(c *engine.TaskConfig) { c.Position = "binlog" }, []string{`Position "binlog": want one of`}},
		{"bad pattern", func(c *engine.TaskConfig) { c.Tables = []string{"shop"} }, []string{`table pattern "shop"`}},
		{"dead letter without path", func(c *engine.TaskConfig) { c.OnError = engine.OnErrorDeadLetter }, []string{"needs a DeadLetterPath"}},
		{"read timeout", func(c *engine.TaskConfig) { c.ReadTimeout = c.Heartbeat }, []string{"ReadTimeout 1s must be longer than Heartbeat 1s"}},
		{"backoff", func(c *engine.TaskConfig) { c.BackoffMax = time.Millisecond }, []string{"BackoffMax 1ms is less than BackoffMin 100ms"}},
		{"source", func(c *engine.TaskConfig) { c.Sources[0] = engine.Source{Addr: "db.example"} }, []string{`Sources[0].Addr "db.example": want host:port`, "Sources[0].User is empty"}},
		{"no senders", func(c *engine.TaskConfig) { c.Senders = nil }, []string{"no Senders"}},
		{"duplicate plugin", func(c *engine.TaskConfig) {
			c.Handlers = []engine.PluginConfig{engine.PluginConfig{Plugin: "x/kafka.wasm"}.WithDefaults()}
		}, []string{`Senders[0].Name "kafka" is used twice`}},
		{"several at once", func(c *engine.TaskConfig) { c.BatchRows, c.QueueBatches = -1, -2 }, []string{"BatchRows -1", "QueueBatches -2"}},
		{"snapshot reading", func(c *engine.TaskConfig) { c.SnapshotParallel, c.SnapshotLocking = 0, "lock" }, []string{"SnapshotParallel 0: want a positive number", `SnapshotLocking "lock": want one of ["none" "flush"]`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := minimalTask()
			c = c.WithDefaults()
			tt.set(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.want) {
				t.Errorf("%d problems reported, want %d: %v", n, len(tt.want), err)
			}
		})
	}
}

// NewTask applies the defaults and refuses an invalid task before it
// runs.
func TestNewTaskValidates(t *testing.T) {
	deps := engine.Deps{
		Store:     checkpoint.NewMemStore(),
		NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) { return nil, nil },
	}
	if _, err := engine.NewTask(minimalTask(), deps); err != nil {
		t.Errorf("minimal task: %v", err)
	}
	bad := minimalTask()
	bad.Sources = nil
	if _, err := engine.NewTask(bad, deps); err == nil || !strings.Contains(err.Error(), `task "orders": no Sources`) {
		t.Errorf("task without sources: got %v", err)
	}
}
