package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// capture is an in-memory sender that records every envelope it accepts
// and can be told to fail.
type capture struct {
	mu      sync.Mutex
	env     engine.Envelopes
	lines   []string
	batches int
	fail    int // fail this many Sends before accepting
	err     error
}

func (c *capture) Send(ctx context.Context, b *engine.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return c.err
	}
	c.batches++
	c.env.StartBatch(b, time.Now())
	for i := range b.Changes {
		c.lines = append(c.lines, string(c.env.AppendOne(nil, &b.Changes[i])))
	}
	return nil
}

func (c *capture) Close() error { return nil }

func (c *capture) envelopes(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]map[string]any, len(c.lines))
	for i, l := range c.lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("envelope %d is not JSON: %v\n%s", i, err, l)
		}
		envelopetest.Check(t, "captured", []byte(l))
	}
	return out
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

var replicaIDs atomic.Uint32

// nextReplicaID gives every task of the test process its own replica server
// id: a task started right after another with the same id could find the
// server still listing the first one's connection.
func nextReplicaID() uint32 { return 1_000_000 + uint32(os.Getpid()%1000)*1000 + replicaIDs.Add(1) }

// taskConfig builds a task for srv through the real config loader; extra is
// TOML inserted into the [[task]] table.
func taskConfig(t *testing.T, srv *testdb.Server, extra string) engine.TaskConfig {
	t.Helper()
	doc := fmt.Sprintf(`
[server]
data_dir = %q
[[task]]
name = "t"
replica_server_id = %d
start = "checkpoint"
start_if_none = "latest"
backoff_min = "10ms"
backoff_max = "200ms"
checkpoint_interval = "50ms"
%s
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:capture"
`, t.TempDir(), nextReplicaID(), extra, srv.Addr())
	cfg, err := config.Parse([]byte(doc), filepath.Join(t.TempDir(), "puma.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Tasks[0]
}

type runningTask struct {
	cancel context.CancelFunc
	done   chan error
	task   *engine.Task
}

func startTask(t *testing.T, cfg engine.TaskConfig, store checkpoint.Store, sink *capture) *runningTask {
	t.Helper()
	return startTaskWith(t, cfg, store, sink)
}

type contextT = context.Context

func startTaskWith(t *testing.T, cfg engine.TaskConfig, store checkpoint.Store, sink engine.Sender) *runningTask {
	t.Helper()
	task, err := engine.NewTask(cfg, engine.Deps{
		Store: store,
		Log:   testLogger(t),
		NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
			return sink, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &runningTask{cancel: cancel, done: make(chan error, 1), task: task}
	go func() { rt.done <- task.Run(ctx) }()
	t.Cleanup(func() { rt.stop(t) })
	return rt
}

func (rt *runningTask) stop(t *testing.T) error {
	t.Helper()
	rt.cancel()
	select {
	case err, ok := <-rt.done:
		if ok {
			close(rt.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("task did not stop")
	}
	return nil
}

func testLogger(t *testing.T) *slogLogger { return newTestLogger(t) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 60*time.Second, what, cond)
}

// waitWithin is waitFor with its own bound.
func waitWithin(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor is waitFor for what only the running task brings about: when
// the task ends first, it fails at once with the task's error rather than
// waiting out the deadline for something that can no longer happen.
func (rt *runningTask) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		if cond() {
			return true
		}
		select {
		case err, ok := <-rt.done:
			if ok {
				close(rt.done) // for stop
			}
			t.Fatalf("task ended while waiting for %s: %v", what, err)
		default:
		}
		return false
	})
}

// waitStreaming waits until the task is connected and positioned, so that
// writes made afterwards are after its start position.
func waitStreaming(t *testing.T, rt *runningTask) {
	t.Helper()
	rt.waitFor(t, "streaming", func() bool { return rt.task.Stats().Snapshot().State == "streaming" })
}

func TestStreamsRowChanges(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t,
		"CREATE DATABASE shop",
		`CREATE TABLE shop.items (
			id INT PRIMARY KEY,
			big BIGINT UNSIGNED,
			small TINYINT,
			price DECIMAL(12,4),
			name VARCHAR(50) CHARACTER SET utf8mb4,
			legacy VARCHAR(20) CHARACTER SET latin1,
			at DATETIME(6),
			ts TIMESTAMP(3) NULL,
			day DATE,
			data BLOB,
			kind ENUM('a','b','c'),
			tags SET('x','y','z'),
			flags BIT(10),
			ratio DOUBLE,
			note TEXT
		)`,
		"CREATE TABLE shop.skipped (id INT PRIMARY KEY)",
	)
	sink := &capture{}
	cfg := taskConfig(t, srv, `tables = ["shop.items"]`)
	rt := startTask(t, cfg, checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)

	srv.Exec(t,
		"SET time_zone = '+05:00'",
		`INSERT INTO shop.items VALUES (1, 18446744073709551615, -128, '12345678.1234', 'héllo 🐆', 'café', '2026-11-25 10:11:12.123456', '2026-11-25 10:11:12.5', '2026-11-25', X'00FF10', 'b', 'x,z', b'1000000001', 1.5, NULL)`,
		"INSERT INTO shop.skipped VALUES (1)",
		"BEGIN", "INSERT INTO shop.items (id, note) VALUES (2, '')", "UPDATE shop.items SET id = 3 WHERE id = 2", "COMMIT",
		"BEGIN", "INSERT INTO shop.items (id) VALUES (99)", "ROLLBACK",
		"DELETE FROM shop.items WHERE id = 1",
	)
	waitFor(t, "4 changes", func() bool { return sink.count() >= 4 })
	time.Sleep(200 * time.Millisecond)
	envs := sink.envelopes(t)
	if len(envs) != 4 {
		t.Fatalf("got %d changes, want 4: %v", len(envs), sink.lines)
	}

	ins := envs[0]
	if src := ins["source"].(map[string]any); ins["op"] != "c" || src["db"] != "shop" || src["table"] != "items" || ins["before"] != nil {
		t.Errorf("insert envelope: %v", ins)
	}
	after := ins["after"].(map[string]any)
	want := map[string]any{
		"id": 1.0, "small": -128.0, "price": "12345678.1234", "name": "héllo 🐆",
		"legacy": "café", "at": "2026-11-25 10:11:12.123456", "ts": "2026-11-25T05:11:12.500Z",
		"day": "2026-11-25", "data": "AP8Q", "kind": "b", "tags": "x,z", "flags": 513.0,
		"ratio": 1.5, "note": nil,
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("after[%s] = %#v, want %#v", k, after[k], v)
		}
	}
	if !strings.Contains(sink.lines[0], `"big":18446744073709551615`) {
		t.Errorf("BIGINT UNSIGNED max not exact: %s", sink.lines[0])
	}
	if k := ins["puma"].(map[string]any)["key"].(map[string]any); k["id"] != 1.0 || len(k) != 1 {
		t.Errorf("key = %v", k)
	}

	// The two-statement transaction: same tx id, seq 1 and 2.
	tx1, tx2 := envs[1]["puma"].(map[string]any)["tx"].(map[string]any), envs[2]["puma"].(map[string]any)["tx"].(map[string]any)
	if tx1["id"] != tx2["id"] || tx1["seq"] != 1.0 || tx2["seq"] != 2.0 {
		t.Errorf("tx markers: %v %v", tx1, tx2)
	}
	if envs[1]["after"].(map[string]any)["note"] != "" {
		t.Errorf("empty string not kept distinct from NULL: %v", envs[1]["after"])
	}
	upd := envs[2]
	if upd["op"] != "u" || upd["before"].(map[string]any)["id"] != 2.0 || upd["after"].(map[string]any)["id"] != 3.0 {
		t.Errorf("key-changing update: %v", upd)
	}
	del := envs[3]
	if del["op"] != "d" || del["after"] != nil || del["before"].(map[string]any)["id"] != 1.0 {
		t.Errorf("delete: %v", del)
	}
	for _, e := range envs {
		src := e["source"].(map[string]any)
		if src["gtid"] == nil || src["file"] == "" {
			t.Errorf("source lacks gtid/file: %v", src)
		}
	}
}

func TestCheckpointResumesWithoutLoss(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	store := checkpoint.NewMemStore()
	cfg := taskConfig(t, srv, "")
	sink := &capture{}
	rt := startTask(t, cfg, store, sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.t VALUES (1, 1)", "INSERT INTO d.t VALUES (2, 2)")
	waitFor(t, "2 rows", func() bool { return sink.count() == 2 })
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	cp, err := store.Load(context.Background(), "t")
	if err != nil {
		t.Fatalf("checkpoint after clean stop: %v", err)
	}
	if cp.Position.GTIDSet == "" || cp.Position.File == "" {
		t.Fatalf("checkpoint lacks position: %+v", cp.Position)
	}

	srv.Exec(t, "INSERT INTO d.t VALUES (3, 3)", "UPDATE d.t SET v = 20 WHERE id = 2")
	sink2 := &capture{}
	startTask(t, cfg, store, sink2)
	waitFor(t, "2 more changes", func() bool { return sink2.count() >= 2 })
	time.Sleep(200 * time.Millisecond)
	envs := sink2.envelopes(t)
	if len(envs) != 2 || envs[0]["op"] != "c" || envs[1]["op"] != "u" {
		t.Fatalf("after restart got %v, want exactly the insert and update written while stopped", sink2.lines)
	}
}

func TestSenderErrorsRetryThenStop(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")

	t.Run("recovers", func(t *testing.T) {
		sink := &capture{fail: 2, err: errors.New("disk on fire")}
		rt := startTask(t, taskConfig(t, srv, `max_failures = 5`), checkpoint.NewMemStore(), sink)
		waitStreaming(t, rt)
		srv.Exec(t, "INSERT INTO d.t VALUES (1)")
		waitFor(t, "row after retries", func() bool { return sink.count() == 1 })
	})
	t.Run("stops", func(t *testing.T) {
		srv.Exec(t, "DELETE FROM d.t")
		sink := &capture{fail: 1000, err: errors.New("disk on fire")}
		store := checkpoint.NewMemStore()
		rt := startTask(t, taskConfig(t, srv, `max_failures = 3`), store, sink)
		waitStreaming(t, rt)
		srv.Exec(t, "INSERT INTO d.t VALUES (7)")
		var err error
		select {
		case err = <-rt.done:
			close(rt.done)
		case <-time.After(30 * time.Second):
			t.Fatal("task kept running after max_failures")
		}
		var pe *engine.PluginError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "disk on fire") || pe.Table != "d.t" {
			t.Fatalf("err = %v, want a PluginError naming d.t and the cause", err)
		}
		if sink.count() != 0 {
			t.Fatal("a failed batch was counted as delivered")
		}
	})
	t.Run("dead_letter", func(t *testing.T) {
		srv.Exec(t, "DELETE FROM d.t")
		sink := &capture{fail: 3, err: errors.New("rejected")}
		dl := filepath.Join(t.TempDir(), "dead.jsonl")
		cfg := taskConfig(t, srv, fmt.Sprintf(`max_failures = 3
on_error = "dead_letter"
dead_letter_path = %q`, dl))
		rt := startTask(t, cfg, checkpoint.NewMemStore(), sink)
		waitStreaming(t, rt)
		srv.Exec(t, "INSERT INTO d.t VALUES (8)", "INSERT INTO d.t VALUES (9)")
		waitFor(t, "the next row", func() bool { return sink.count() == 1 })
		data, err := os.ReadFile(dl)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(data), "\n"); n != 1 || !strings.Contains(string(data), `"id":8`) || !strings.Contains(string(data), "rejected") {
			t.Fatalf("dead letter file: %s", data)
		}
		if !strings.Contains(sink.lines[0], `"id":9`) {
			t.Fatalf("delivered %v, want the row after the dead-lettered one", sink.lines)
		}
	})
}

func TestStatementFormatStopsTask(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	rt := startTask(t, taskConfig(t, srv, ""), checkpoint.NewMemStore(), &capture{})
	waitStreaming(t, rt)
	srv.Exec(t, "SET SESSION binlog_format = 'STATEMENT'", "INSERT INTO d.t VALUES (1)")
	select {
	case err := <-rt.done:
		close(rt.done)
		if !errors.Is(err, engine.ErrStatementFormat) || !strings.Contains(err.Error(), "binlog_format=ROW") {
			t.Fatalf("err = %v, want ErrStatementFormat with the fix", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("task did not stop on a statement-format change")
	}
}

func TestLargeTransactionStreamsInBatches(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, pad VARCHAR(100))")
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, "batch_rows = 10"), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.t SELECT seq, REPEAT('x', 100) FROM d.seq_1_to_1000")
	waitFor(t, "1000 rows", func() bool { return sink.count() == 1000 })
	sink.mu.Lock()
	batches := sink.batches
	sink.mu.Unlock()
	if batches < 100 {
		t.Fatalf("1000 rows arrived in %d batches, want >= 100 with batch_rows = 10", batches)
	}
	envs := sink.envelopes(t)
	for i, e := range envs {
		if seq := e["puma"].(map[string]any)["tx"].(map[string]any)["seq"].(float64); int(seq) != i+1 {
			t.Fatalf("change %d has seq %v", i, seq)
		}
	}
}

// When every change is filtered out, the checkpoint still advances, so a
// restart does not re-read what was skipped.
func TestCheckpointAdvancesPastFilteredChanges(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	store := checkpoint.NewMemStore()
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["elsewhere.*"]`), store, sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)")
	want := srv.GTIDBinlogPos(t)
	waitFor(t, "the checkpoint to pass the filtered transactions", func() bool {
		cp, err := store.Load(context.Background(), "t")
		return err == nil && cp.Position.GTIDSet == want
	})
	if sink.count() != 0 {
		t.Fatalf("filtered changes were delivered: %v", sink.lines)
	}
}

type permanentErr struct{}

func (permanentErr) Error() string   { return "the destination rejects this for good" }
func (permanentErr) Permanent() bool { return true }

// A sender that says retrying cannot help is not retried: the task's
// on_error applies at once.
func TestPermanentSenderErrorIsNotRetried(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	sink := &capture{fail: 1000, err: permanentErr{}}
	rt := startTask(t, taskConfig(t, srv, "max_failures = 1000"), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.t VALUES (1)")
	select {
	case err := <-rt.done:
		close(rt.done)
		if !strings.Contains(err.Error(), "for good") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a permanent error was retried")
	}
	if n := 1000 - sink.fail; n != 1 {
		t.Fatalf("Send called %d times, want 1", n)
	}
}

// With a heartbeat_table, Puma writes a row to it at an interval and
// measures, from the row's microsecond timestamp, the lag to its
// acknowledgement by every sender; the heartbeat rows themselves are not
// delivered unless tables asks for them.
func TestHeartbeatTableMeasuresLag(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	sink := &capture{}
	store := checkpoint.NewMemStore()
	rt := startTask(t, taskConfig(t, srv, `tables = ["d.*"]
heartbeat_table = "puma_meta.heartbeat"
heartbeat_interval = "50ms"`), store, sink)
	waitStreaming(t, rt)
	waitFor(t, "a heartbeat lag", func() bool { return rt.task.Stats().Snapshot().HeartbeatLag > 0 })
	if lag := rt.task.Stats().Snapshot().HeartbeatLag; lag > 5 {
		t.Fatalf("heartbeat lag %.6fs on an idle local server", lag)
	}
	srv.Exec(t, "INSERT INTO d.t VALUES (1)")
	waitFor(t, "the row", func() bool { return sink.count() == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := sink.count(); n != 1 {
		t.Fatalf("delivered %d changes, want only the row (heartbeats are not delivered): %v", n, sink.lines)
	}
	r := srv.Query(t, "SELECT task FROM puma_meta.heartbeat")
	if r.RowNumber() != 1 {
		t.Fatalf("heartbeat table has %d rows", r.RowNumber())
	}
	// The checkpoint follows the heartbeats even with no other change.
	want := srv.GTIDBinlogPos(t)
	waitFor(t, "the checkpoint to pass a heartbeat", func() bool {
		cp, err := store.Load(context.Background(), "t")
		if err != nil {
			return false
		}
		set, _ := position.ParseGTIDSet("mariadb", cp.Position.GTIDSet)
		at, _ := position.ParseGTIDSet("mariadb", want)
		return set != nil && at != nil && set.Contain(at) && !set.Equal(at)
	})
}

// A task without a checkpoint saves the start it resolved before it
// streams: stopped before its first transaction, or failed on it, it
// resumes there on restart, and rows committed while it was down are
// delivered rather than skipped by resolving "latest" anew.
func TestFirstStartIsCheckpointed(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")

	t.Run("stopped before any row", func(t *testing.T) {
		store := checkpoint.NewMemStore()
		cfg := taskConfig(t, srv, `tables = ["d.*"]`)
		rt := startTask(t, cfg, store, &capture{})
		waitStreaming(t, rt)
		started := srv.GTIDBinlogPos(t)
		cp, err := store.Load(context.Background(), "t")
		if err != nil {
			t.Fatalf("no checkpoint while streaming before the first row: %v", err)
		}
		if cp.Position.GTIDSet != started || cp.Start != "checkpoint" {
			t.Fatalf("start checkpoint = %+v (start %q), want GTID set %q", cp.Position, cp.Start, started)
		}
		if err := rt.stop(t); err != nil {
			t.Fatalf("stop: %v", err)
		}
		srv.Exec(t, "INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)")
		sink := &capture{}
		startTask(t, cfg, store, sink)
		waitFor(t, "the rows written while stopped", func() bool { return sink.count() == 2 })
	})

	t.Run("plugin fails on the first transaction", func(t *testing.T) {
		srv.Exec(t, "DELETE FROM d.t")
		store := checkpoint.NewMemStore()
		cfg := taskConfig(t, srv, "tables = [\"d.*\"]\nmax_failures = 2")
		bad := &capture{fail: 1000, err: errors.New("disk on fire")}
		rt := startTask(t, cfg, store, bad)
		waitStreaming(t, rt)
		srv.Exec(t, "INSERT INTO d.t VALUES (10)")
		select {
		case err := <-rt.done:
			close(rt.done)
			if err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("task ended with %v, want the sender's error", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the failing sender did not stop the task")
		}
		srv.Exec(t, "INSERT INTO d.t VALUES (11)")
		sink := &capture{}
		startTask(t, cfg, store, sink)
		waitFor(t, "both rows", func() bool { return sink.count() == 2 })
		envs := sink.envelopes(t)
		for i, want := range []float64{10, 11} {
			if got := envs[i]["after"].(map[string]any)["id"]; got != want {
				t.Fatalf("row %d after restart is %v, want id %v", i, got, want)
			}
		}
	})
}

// On a server whose tables stay quiet, the checkpoint follows the binary
// log to its newest file, so that purging old files never leaves it
// pointing at a file the server no longer has.
func TestCheckpointFollowsRotation(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	store := checkpoint.NewMemStore()
	rt := startTask(t, taskConfig(t, srv, `tables = ["d.*"]`), store, &capture{})
	waitStreaming(t, rt)
	srv.Exec(t, "FLUSH BINARY LOGS", "FLUSH BINARY LOGS")
	r := srv.Query(t, "SHOW MASTER STATUS")
	file, _ := r.GetString(0, 0)
	waitFor(t, "the checkpoint to reach "+file, func() bool {
		cp, err := store.Load(context.Background(), "t")
		return err == nil && cp.Position.File == file
	})
	srv.Exec(t, "PURGE BINARY LOGS TO '"+file+"'")
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// statefulCapture is a capture sender with state: the number of changes
// it accepted, restored from the checkpoint.
type statefulCapture struct {
	capture
	restored []byte
	total    atomic.Int64
}

func (s *statefulCapture) Send(ctx context.Context, b *engine.Batch) error {
	if err := s.capture.Send(ctx, b); err != nil {
		return err
	}
	s.total.Add(int64(len(b.Changes)))
	return nil
}

func (s *statefulCapture) RestoreState(state []byte) error {
	s.restored = state
	return nil
}

func (s *statefulCapture) CheckpointState(uint64) []byte {
	return []byte(fmt.Sprint(s.total.Load()))
}

// A changed start repositions the task and resets plugin state with the
// position; an unchanged one restores it.
func TestStartChangeResetsPluginState(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	store := checkpoint.NewMemStore()
	cfg := taskConfig(t, srv, `tables = ["d.*"]`)
	first := &statefulCapture{}
	rt := startTaskWith(t, cfg, store, first)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)")
	waitFor(t, "2 rows", func() bool { return first.count() == 2 })
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	same := &statefulCapture{}
	rt = startTaskWith(t, cfg, store, same)
	waitStreaming(t, rt)
	if string(same.restored) != "2" {
		t.Fatalf("unchanged start restored state %q, want \"2\"", same.restored)
	}
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	moved := cfg
	moved.Start = position.Start{Mode: position.Earliest}
	fresh := &statefulCapture{}
	rt = startTaskWith(t, moved, store, fresh)
	waitStreaming(t, rt)
	if fresh.restored != nil {
		t.Fatalf("a changed start restored the old position's state %q", fresh.restored)
	}
	waitFor(t, "the rows again from the earliest log", func() bool { return fresh.count() >= 2 })
}

// A source that refuses the task's credentials fails the task after a
// bounded number of tries, with the server's message and the fix, instead
// of reconnecting forever.
func TestRefusedCredentialsFailTheTask(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE USER 'cdc'@'%' IDENTIFIED BY 'right'", "GRANT ALL ON *.* TO 'cdc'@'%'")
	cfg := taskConfig(t, srv, "")
	cfg.Sources[0].User = "cdc"
	cfg.Sources[0].Password = engine.Secret("wrong")
	rt := startTask(t, cfg, checkpoint.NewMemStore(), &capture{})
	select {
	case err := <-rt.done:
		close(rt.done)
		var refused *engine.SourceRefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "Access denied") || !strings.Contains(err.Error(), "password") {
			t.Fatalf("task ended with %v, want the server's access denied and the fix", err)
		}
		if st := rt.task.Stats().Snapshot(); st.State != "failed" {
			t.Fatalf("state = %q, want failed", st.State)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a refused password was retried for 30 s")
	}
}

// The start is resolved and saved before the task builds its plugins,
// which can take seconds: a task stopped while they load resumes where it
// started, and rows written meanwhile are delivered.
func TestStartResolvedBeforePlugins(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	store := checkpoint.NewMemStore()
	cfg := taskConfig(t, srv, `tables = ["d.*"]`)
	loading := make(chan struct{})
	task, err := engine.NewTask(cfg, engine.Deps{
		Store: store,
		Log:   testLogger(t),
		NewSender: func(ctx context.Context, _ config.Task, _ config.Plugin) (engine.Sender, error) {
			close(loading)
			<-ctx.Done() // a plugin that takes long to compile
			return nil, ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- task.Run(ctx) }()
	<-loading
	cp, err := store.Load(context.Background(), "t")
	if err != nil || cp.Position.GTIDSet != srv.GTIDBinlogPos(t) {
		t.Fatalf("while plugins load the checkpoint is %+v (%v), want the resolved start", cp, err)
	}
	srv.Exec(t, "INSERT INTO d.t VALUES (1)")
	cancel()
	<-done
	srv.Exec(t, "INSERT INTO d.t VALUES (2)")
	sink := &capture{}
	startTask(t, cfg, store, sink)
	waitFor(t, "both rows", func() bool { return sink.count() == 2 })
}
