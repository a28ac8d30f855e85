package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// wasmTask runs a task whose handler is the faulty test plugin (in mode)
// and whose sender is builtin:jsonl writing dir/out.jsonl, both real Wasm
// modules on a real host.
type wasmTask struct {
	dir    string
	cfg    engine.TaskConfig
	cancel context.CancelFunc
	done   chan error
	task   *engine.Task
}

// wasmReplicas numbers the tasks startWasmTask runs, so that tasks
// running side by side read as distinct replicas.
var wasmReplicas atomic.Uint32

func startWasmTask(t *testing.T, srv *testdb.Server, dir, mode, onError string, store checkpoint.Store) *wasmTask {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "faulty.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/faulty"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`
[server]
data_dir = "data"
[[task]]
name = "t"
replica_server_id = %d
start = "checkpoint"
start_if_none = "latest"
tables = ["shop.*"]
on_error = %q
max_failures = 2
backoff_min = "10ms"
backoff_max = "50ms"
checkpoint_interval = "50ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "faulty.wasm"
  timeout = "300ms"
  config = { mode = %q }
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
  grants = { files = ["."] }
`, 61000+srv.ServerID()+wasmReplicas.Add(1), onError, srv.Addr(), mode)
	path := filepath.Join(dir, "puma.toml")
	cfg, err := config.Parse([]byte(doc), path)
	if err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{Builtin: func(name string, _ map[string]any) (hostabi.Builtin, bool) {
		return hostabitest.Builtin(t, name), name == "jsonl"
	}})
	task, err := engine.NewTask(cfg.Tasks[0], engine.Deps{
		Store: store,
		Log:   testLogger(t),
		NewHandler: func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
			return h.NewHandler(ctx, task.Name, p)
		},
		NewSender: func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
			return h.NewSender(ctx, task.Name, p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wt := &wasmTask{dir: dir, cfg: cfg.Tasks[0], cancel: cancel, done: make(chan error, 1), task: task}
	go func() { wt.done <- task.Run(ctx) }()
	t.Cleanup(func() { wt.stop(t) })
	waitWithin(t, 4*time.Minute, "streaming", func() bool { return task.Stats().Snapshot().State == "streaming" })
	return wt
}

func (wt *wasmTask) stop(t *testing.T) error {
	wt.cancel()
	select {
	case err, ok := <-wt.done:
		if ok {
			close(wt.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("task did not stop")
	}
	return nil
}

// ids reads the "id" of each row in a JSON-lines file, with get picking
// the envelope out of a line, and holds each envelope to the schema.
func ids(t *testing.T, path string, get func(map[string]any) map[string]any) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		env := get(m)
		if b, err := json.Marshal(env); err != nil {
			t.Fatal(err)
		} else {
			envelopetest.Check(t, path, b)
		}
		after, _ := env["after"].(map[string]any)
		out = append(out, fmt.Sprint(after["id"]))
	}
	return out
}

func self(m map[string]any) map[string]any { return m }
func dead(m map[string]any) map[string]any {
	c, _ := m["change"].(map[string]any)
	return c
}

func setupShop(t *testing.T) *testdb.Server {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, poison INT NOT NULL)")
	return srv
}

// TestWasmFaultDeadLetter: under on_error = "dead_letter" the changes of
// the batch a plugin keeps failing on, and only those, land in the
// dead-letter file; the others are delivered and the task goes on. Every
// fault, a Go panic included, is retried max_failures times first.
func TestWasmFaultDeadLetter(t *testing.T) {
	srv := setupShop(t)
	for _, mode := range []string{"trap", "loop", "fail", "panic", "nilmap"} {
		t.Run(mode, func(t *testing.T) {
			srv.Exec(t, "DELETE FROM shop.orders")
			dir := t.TempDir()
			wt := startWasmTask(t, srv, dir, mode, "dead_letter", checkpoint.NewMemStore())
			srv.Exec(t,
				"INSERT INTO shop.orders VALUES (1, 0)",
				"INSERT INTO shop.orders VALUES (2, 1)",
				"BEGIN", "INSERT INTO shop.orders VALUES (3, 1)", "INSERT INTO shop.orders VALUES (4, 1)", "COMMIT",
				"INSERT INTO shop.orders VALUES (5, 0)",
				"BEGIN", "INSERT INTO shop.orders VALUES (6, 1)", "INSERT INTO shop.orders VALUES (7, 0)", "COMMIT",
				"INSERT INTO shop.orders VALUES (8, 0)",
			)
			// An error verdict names its rows: exactly those are dead
			// letters. A trap or a timeout cannot say which row: its whole
			// batch is.
			wantOut, wantDead := "1,5,8", "2,3,4,6,7"
			if mode == "fail" {
				wantOut, wantDead = "1,5,7,8", "2,3,4,6"
			}
			out := filepath.Join(dir, "out.jsonl")
			waitFor(t, "rows delivered", func() bool { return len(ids(t, out, self)) >= strings.Count(wantOut, ",")+1 })
			if got := strings.Join(ids(t, out, self), ","); got != wantOut {
				t.Errorf("delivered %s, want %s", got, wantOut)
			}
			dl := wt.cfg.DeadLetterPath
			if got := strings.Join(ids(t, dl, dead), ","); got != wantDead {
				t.Errorf("dead-lettered %s, want %s", got, wantDead)
			}
			data, _ := os.ReadFile(dl)
			if !strings.Contains(string(data), `"plugin":"faulty"`) {
				t.Errorf("dead letters do not name the plugin:\n%s", data)
			}
			// Three transactions fail, each on max_failures = 2 attempts.
			if got := wt.task.Stats().Snapshot().PluginErrors; got != 3*2 {
				t.Errorf("%d plugin errors, want 6: each failing batch tried twice", got)
			}
			if err := wt.stop(t); err != nil {
				t.Errorf("task: %v", err)
			}
		})
	}
}

// TestWasmFaultStop: under on_error = "stop" the task stops on the failing
// change with an error naming the plugin and the fault, skips nothing, and
// after the plugin is fixed delivers from that change on. A task beside it
// goes on delivering.
func TestWasmFaultStop(t *testing.T) {
	srv := setupShop(t)
	tests := []struct{ mode, says string }{
		{"trap", "out of bounds memory access"},
		{"panic", "panic in puma_handle at github.com/pumacdc/puma/hostabi/testdata/faulty/main.go:36: poisoned row"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			srv.Exec(t, "DELETE FROM shop.orders")
			dir, otherDir := t.TempDir(), t.TempDir()
			store := checkpoint.NewMemStore()
			other := startWasmTask(t, srv, otherDir, "", "stop", checkpoint.NewMemStore())
			wt := startWasmTask(t, srv, dir, tc.mode, "stop", store)
			srv.Exec(t,
				"INSERT INTO shop.orders VALUES (1, 0)",
				"INSERT INTO shop.orders VALUES (2, 1)",
				"INSERT INTO shop.orders VALUES (3, 0)",
			)
			var err error
			select {
			case err = <-wt.done:
				close(wt.done)
			case <-time.After(30 * time.Second):
				t.Fatal("task did not stop")
			}
			var pe *engine.PluginError
			if !errors.As(err, &pe) || pe.Plugin != "faulty" || !errors.Is(err, hostabi.ErrTrap) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("task error = %v, want a trap of plugin faulty saying %q", err, tc.says)
			}
			if got := wt.task.Stats().Snapshot().PluginErrors; got != 2 {
				t.Errorf("%d plugin errors, want 2 (max_failures) before stopping", got)
			}
			out := filepath.Join(dir, "out.jsonl")
			if got := strings.Join(ids(t, out, self), ","); got != "1" {
				t.Fatalf("delivered %s before stopping, want 1", got)
			}
			// The other task delivered everything and goes on.
			otherOut := filepath.Join(otherDir, "out.jsonl")
			srv.Exec(t, "INSERT INTO shop.orders VALUES (4, 0)")
			waitFor(t, "the other task's rows", func() bool { return len(ids(t, otherOut, self)) >= 4 })
			if got := strings.Join(ids(t, otherOut, self), ","); got != "1,2,3,4" {
				t.Errorf("the other task delivered %s, want 1,2,3,4", got)
			}
			if err := other.stop(t); err != nil {
				t.Errorf("other task: %v", err)
			}
			// Fixed (the plugin no longer faults): everything from row 2 arrives.
			wt = startWasmTask(t, srv, dir, "", "stop", store)
			waitFor(t, "rows 2 to 4", func() bool { return len(ids(t, out, self)) >= 4 })
			if got := strings.Join(ids(t, out, self), ","); got != "1,2,3,4" {
				t.Errorf("delivered %s, want 1,2,3,4", got)
			}
		})
	}
}
