package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// Rows each workload table holds before the snapshot starts.
var snapshotPreload = [3]int{20_000, 15_000, 15_000}

// preload fills the workload tables and sets the writer's keys to match.
func preload(t *testing.T, srv *testdb.Server, w *writer) {
	t.Helper()
	for table, n := range snapshotPreload {
		for lo := 1; lo <= n; lo += 1000 {
			var vals []string
			for id := lo; id < lo+1000 && id <= n; id++ {
				switch table {
				case 0:
					vals = append(vals, fmt.Sprintf("(%d, %d, 'pre-%d')", id, id%1000, id))
					w.keys[0] = append(w.keys[0], strconv.Itoa(id))
				case 1:
					vals = append(vals, fmt.Sprintf("(%d, %d.%02d, 'pre note %d')", id+1<<40, id, id%100, id))
					w.keys[1] = append(w.keys[1], strconv.Itoa(id+1<<40))
				case 2:
					k2 := "k" + strconv.Itoa(id%3)
					vals = append(vals, fmt.Sprintf("(%d, '%s', %d.25)", id, k2, id%100))
					w.keys[2] = append(w.keys[2], strconv.Itoa(id)+"/"+k2)
				}
			}
			srv.Exec(t, fmt.Sprintf("INSERT INTO app.%s VALUES %s", workloadTables[table].name, strings.Join(vals, ",")))
		}
		w.next[table] = n
	}
}

// snapshotProgress returns the table the checkpoint's snapshot progress is
// in, and whether the checkpoint names an unfinished snapshot.
func snapshotProgress(path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	var cp struct {
		Position struct {
			Snapshot *struct {
				Table string   `json:"table"`
				Key   []string `json:"key"`
			} `json:"snapshot"`
		} `json:"position"`
	}
	if json.Unmarshal(data, &cp) != nil || cp.Position.Snapshot == nil {
		return "", false
	}
	return cp.Position.Snapshot.Table, true
}

// TestSnapshotKillNineConverges snapshots ~50k rows with snapshot =
// "initial" into builtin:jsonl while a writer inserts, updates and deletes
// them, kills puma -9 twice in the middle of the snapshot, and checks that
// replaying the delivered output — de-duplicated by tx.id and seq, r and c
// as upserts, u and d by their before image's key — reproduces every
// source row value by value.
func TestSnapshotKillNineConverges(t *testing.T) {
	seed := workloadSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	srv := testdb.Start(t, testdb.Options{})
	createWorkload(t, srv)
	w := newWriter(t, srv, rng)
	preload(t, srv, w)

	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	logPath := filepath.Join(dir, "puma.log")
	cpPath := filepath.Join(dir, "data", "checkpoints", "app.json")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app"
replica_server_id = 7001
tables = ["app.*"]
snapshot = "initial"
snapshot_chunk_rows = 100
checkpoint_interval = "20ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, srv.Addr()))

	p := startPuma(t, cfgPath, logPath)
	kills := 2
	lastSize := int64(0)
	deadline := time.Now().Add(90 * time.Second)
	for kills > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d kills did not happen", kills)
		}
		w.transaction(t)
		// Kill only a puma that has delivered since it started and whose
		// checkpoint is within a table of the snapshot.
		if table, ok := snapshotProgress(cpPath); ok && table != "" && fileSize(out) > lastSize {
			kills--
			p.kill(t)
			t.Logf("SIGKILL in %s after %d row changes, output %d bytes", table, w.rows, fileSize(out))
			lastSize = fileSize(out)
			p = startPuma(t, cfgPath, logPath)
		}
	}
	// Keep writing through the rest of the snapshot and after it.
	for !logHas(logPath, `"snapshot read"`, "msg=\"snapshot read\"") {
		if time.Now().After(deadline) {
			t.Fatal("the snapshot did not finish")
		}
		w.transaction(t)
	}
	for range 200 {
		w.transaction(t)
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, cpPath, final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	if n := strings.Count(readText(t, logPath), "resuming snapshot"); n != 2 {
		t.Fatalf("the log says %d times that a snapshot resumed, want 2", n)
	}

	model, reads := replaySnapshot(t, out)
	if preloaded := snapshotPreload[0] + snapshotPreload[1] + snapshotPreload[2]; reads < preloaded/2 {
		t.Fatalf("only %d distinct r rows delivered for %d preloaded rows", reads, preloaded)
	}
	checkModel(t, srv, model, "replay")
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// logHas reports whether the log holds any of the strings.
func logHas(path string, any ...string) bool {
	data, _ := os.ReadFile(path)
	for _, s := range any {
		if strings.Contains(string(data), s) {
			return true
		}
	}
	return false
}

// replaySnapshot applies the delivered output in order, skipping a change
// whose tx.id and seq were applied already: r and c set the row, u
// replaces its before image's row by its after image, d deletes. It
// returns the tables and the number of distinct r rows.
func replaySnapshot(t *testing.T, path string) (map[string]map[string]string, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	model := map[string]map[string]string{}
	for _, tb := range workloadTables {
		model[tb.name] = map[string]string{}
	}
	seen := map[string]bool{}
	reads, again, line := 0, 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line++
		var e envelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v: %s", line, err, sc.Bytes())
		}
		id := e.Tx.ID + "/" + strconv.Itoa(e.Tx.Seq)
		if seen[id] {
			again++
			continue
		}
		seen[id] = true
		tb := model[e.Table]
		switch e.Op {
		case "r":
			if !strings.HasPrefix(e.Tx.ID, "snapshot:") {
				t.Fatalf("line %d: r row with tx.id %q", line, e.Tx.ID)
			}
			reads++
			tb[rowKey(e.Table, e.After)] = rowText(e.Table, e.After)
		case "c":
			tb[rowKey(e.Table, e.After)] = rowText(e.Table, e.After)
		case "u":
			delete(tb, rowKey(e.Table, e.Before))
			tb[rowKey(e.Table, e.After)] = rowText(e.Table, e.After)
		case "d":
			delete(tb, rowKey(e.Table, e.Before))
		default:
			t.Fatalf("line %d: unexpected op %q", line, e.Op)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d changes delivered (%d r), %d of them again", len(seen)+again, reads, again)
	return model, reads
}
