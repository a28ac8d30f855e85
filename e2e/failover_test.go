package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// failoverConfig is a task reading primary, then replica.
func failoverConfig(t *testing.T, dir string, primary, replica *testdb.Server, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "puma.toml")
	writeFile(t, path, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app"
replica_server_id = 7002
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "20ms"
backoff_max = "200ms"
failover_after = 2
heartbeat = "200ms"
read_timeout = "1s"
%s
  [[task.source]]
  addr = %q
  user = "root"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl", markers = true }
`, extra, primary.Addr(), replica.Addr()))
	return path
}

func newPair(t *testing.T) (primary, replica *testdb.Server) {
	t.Helper()
	primary = testdb.Start(t, testdb.Options{LogSlaveUpdates: true})
	replica = testdb.Start(t, testdb.Options{LogSlaveUpdates: true})
	replica.ReplicateFrom(t, primary)
	primary.Exec(t, "CREATE DATABASE app")
	for _, tb := range workloadTables {
		primary.Exec(t, tb.ddl)
	}
	replica.WaitCaughtUp(t, primary, 30*time.Second)
	return primary, replica
}

// Puma follows a promoted replica after its primary is killed, and the
// de-duplicated stream equals the replica's tables.
func TestFailoverToPromotedReplica(t *testing.T) {
	for _, mode := range []string{"gtid", "file"} {
		t.Run(mode, func(t *testing.T) {
			primary, replica := newPair(t)
			dir := t.TempDir()
			extra := fmt.Sprintf("position = %q", mode)
			if mode == "file" {
				extra += "\nfailover_lookback = \"5s\""
			}
			cfg := failoverConfig(t, dir, primary, replica, extra)
			logPath := filepath.Join(dir, "puma.log")
			defer dumpLog(t, logPath)

			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			conn, err := primary.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			w := &writer{rng: rand.New(rand.NewPCG(seed, seed)), conn: conn}
			for i := range w.dropped {
				w.dropped[i] = make(map[string]bool)
			}
			p := startPuma(t, cfg, logPath)
			for w.rows < 5000 {
				w.transaction(t)
			}
			// Kill the primary only once Puma has been reading it.
			out := filepath.Join(dir, "out.jsonl")
			deadline := time.Now().Add(60 * time.Second)
			for fileSize(out) < 100_000 {
				if time.Now().After(deadline) {
					t.Fatal("puma delivered nothing from the primary")
				}
				time.Sleep(20 * time.Millisecond)
			}
			replica.WaitCaughtUp(t, primary, 30*time.Second)
			conn.Close()
			if err := primary.Kill(); err != nil {
				t.Fatal(err)
			}
			replica.Promote(t)
			conn, err = replica.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			w.conn = conn
			for w.rows < 10000 {
				w.transaction(t)
			}
			final := replica.GTIDBinlogPos(t)
			waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
			if err := p.stop(t); err != nil {
				t.Fatalf("puma exited with %v", err)
			}
			log, _ := os.ReadFile(logPath)
			if !strings.Contains(string(log), "failing over") {
				t.Errorf("log does not record the failover")
			}
			if mode == "file" && !strings.Contains(string(log), "re-located by time") {
				t.Errorf("log does not record the re-location by time")
			}
			model := applyStream(t, filepath.Join(dir, "out.jsonl"), w.gtids)
			for _, tb := range workloadTables {
				got, want := model[tb.name], tableRows(t, replica, "app."+tb.name, tb.key)
				if len(got) != len(want) {
					t.Errorf("table %s: delivered %d rows, replica has %d", tb.name, len(got), len(want))
				}
				for k, row := range want {
					if got[k] != row {
						t.Errorf("table %s key %s: delivered %q, replica %q", tb.name, k, got[k], row)
						break
					}
				}
			}
		})
	}
}

// A replica that lacks transactions Puma already delivered is refused with
// an error naming them, never silently skipped past.
func TestFailoverToLaggingReplicaIsRefused(t *testing.T) {
	primary, replica := newPair(t)
	replica.Exec(t, "STOP SLAVE")
	dir := t.TempDir()
	cfg := failoverConfig(t, dir, primary, replica, "")
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	p := startPuma(t, cfg, logPath)
	primary.Exec(t, "INSERT INTO app.a VALUES (1, 1, 'only on the primary')")
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), primary.GTIDBinlogPos(t))
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	replica.Promote(t)
	select {
	case err := <-p.done:
		if err == nil {
			t.Fatal("puma exited 0 on a replica missing delivered transactions")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("puma kept running against a replica that lacks delivered transactions")
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "ahead of the server") && !strings.Contains(string(log), "not in the server") {
		t.Fatalf("error does not say the replica lacks the checkpoint's transactions:\n%s", grepLines(string(log), "time="))
	}
}
