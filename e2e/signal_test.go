package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pumacdc/puma/internal/testdb"
)

// SIGTERM and SIGINT each stop `puma run` the documented way: the changes
// delivered are checkpointed on the way out, and the exit code is 0. The
// checkpoint interval is an hour, so only the shutdown can write the
// checkpoint that holds the last transaction.
func TestSignalStopsAndCheckpoints(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			db := fmt.Sprintf("sig%d", i)
			srv.Exec(t, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)")
			dir := t.TempDir()
			cfg := filepath.Join(dir, "puma.toml")
			writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app"
replica_server_id = %d
tables = ["%s.*"]
checkpoint_interval = "1h"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, 9401+i, db, srv.Addr()))
			logPath := filepath.Join(dir, "puma.log")
			defer dumpLog(t, logPath)
			cpPath := filepath.Join(dir, "data", "checkpoints", "app.json")

			p := startPuma(t, cfg, logPath)
			waitLog(t, logPath, "msg=streaming task=app", 1)
			srv.Exec(t, "INSERT INTO "+db+".t VALUES (1)", "INSERT INTO "+db+".t VALUES (2)")
			waitFileLines(t, filepath.Join(dir, "out.jsonl"), 2)
			last := srv.GTIDBinlogPos(t)
			if got := checkpointGTIDs(t, cpPath); got == last {
				t.Fatalf("checkpoint already at %s before the signal: the test cannot tell the shutdown wrote it", last)
			}

			if err := p.stopWith(t, sig); err != nil {
				t.Fatalf("puma exited with %v after %v, want 0", err, sig)
			}
			if got := checkpointGTIDs(t, cpPath); got != last {
				t.Errorf("after %v the checkpoint is at %q, want the last delivered transaction %q", sig, got, last)
			}
		})
	}
}

// checkpointGTIDs returns the GTID set of the checkpoint at path, or "" if
// there is none yet.
func checkpointGTIDs(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Position struct {
			GTIDSet string `json:"gtid_set"`
		} `json:"position"`
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatalf("checkpoint %s: %v", path, err)
	}
	return cp.Position.GTIDSet
}
