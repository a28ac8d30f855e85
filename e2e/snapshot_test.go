package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// snapshotRows is how many rows TestSnapshotKillNineConverges preloads
// in all: PUMA_SNAPSHOT_ROWS (`make soak-snapshot` sets 1000000), else
// 50000, which CI affords.
func snapshotRows(t *testing.T) int {
	t.Helper()
	s := os.Getenv("PUMA_SNAPSHOT_ROWS")
	if s == "" {
		return 50_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		t.Fatalf("PUMA_SNAPSHOT_ROWS=%q: want a number of rows, at least 1000", s)
	}
	return n
}

// preload fills the workload tables with rows rows in all (40%, 30%,
// 30%), each with one INSERT … SELECT from MariaDB's sequence engine, and
// sets the writer's keys to match. It returns the rows of each table.
func preload(t *testing.T, srv *testdb.Server, w *writer, rows int) [3]int {
	t.Helper()
	n := [3]int{rows * 4 / 10, rows * 3 / 10}
	n[2] = rows - n[0] - n[1]
	srv.Exec(t,
		fmt.Sprintf("INSERT INTO app.a SELECT seq, seq %% 1000, CONCAT('pre-', seq) FROM app.seq_1_to_%d", n[0]),
		fmt.Sprintf("INSERT INTO app.b SELECT seq + (1 << 40), CONCAT(seq, '.', LPAD(seq %% 100, 2, '0')), CONCAT('pre note ', seq) FROM app.seq_1_to_%d", n[1]),
		fmt.Sprintf("INSERT INTO app.c SELECT seq, CONCAT('k', seq %% 3), seq %% 100 + 0.25 FROM app.seq_1_to_%d", n[2]))
	for id := 1; id <= n[0]; id++ {
		w.keys[0] = append(w.keys[0], strconv.Itoa(id))
	}
	for id := 1; id <= n[1]; id++ {
		w.keys[1] = append(w.keys[1], strconv.Itoa(id+1<<40))
	}
	for id := 1; id <= n[2]; id++ {
		w.keys[2] = append(w.keys[2], strconv.Itoa(id)+"/k"+strconv.Itoa(id%3))
	}
	w.next = n
	return n
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

// TestSnapshotKillNineConverges snapshots snapshotRows rows with snapshot =
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
	rows := snapshotRows(t)
	began := time.Now()
	preloaded := preload(t, srv, w, rows)
	t.Logf("preloaded %v rows in %v", preloaded, time.Since(began).Round(time.Millisecond))
	// About 500 chunks whatever the size, so that the kills land within
	// the snapshot; the CI size keeps chunks of 100. Each goes in three
	// batches, so that kills land within chunks too.
	chunk := max(100, rows/500)

	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	logPath := filepath.Join(dir, "puma.log")
	cpPath := filepath.Join(dir, "data", "checkpoints", "app.json")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[[task]]
name = "app"
replica_server_id = 7001
tables = ["app.*"]
snapshot = "initial"
snapshot_chunk_rows = %d
batch_rows = %d
checkpoint_interval = "20ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, fmt.Sprintf("127.0.0.1:%d", freePort(t)), chunk, (chunk+2)/3, srv.Addr()))

	began = time.Now()
	p := startPuma(t, cfgPath, logPath)
	kills := 2
	lastSize := int64(0)
	deadline := time.Now().Add(90*time.Second + time.Duration(rows)*200*time.Microsecond)
	for kills > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d kills did not happen", kills)
		}
		w.transaction(t)
		// Kill only a puma that has delivered since it started and whose
		// checkpoint is within a table of the snapshot.
		if table, ok := snapshotProgress(cpPath); ok && table != "" && fileSize(out) > lastSize {
			if kills == 2 {
				checkStatusBar(t, cfgPath)
			}
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
	t.Logf("snapshot of %d rows read in %v, with 2 kills", rows, time.Since(began).Round(time.Millisecond))
	for range 200 {
		w.transaction(t)
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, cpPath, final)
	t.Logf("checkpoint reached after %v", time.Since(began).Round(time.Millisecond))
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	if n := strings.Count(readText(t, logPath), "resuming snapshot"); n != 2 {
		t.Fatalf("the log says %d times that a snapshot resumed, want 2", n)
	}

	replayed := time.Now()
	model, reads := replaySnapshot(t, out)
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	t.Logf("output replayed in %v (heap in use %d MiB)", time.Since(replayed).Round(time.Millisecond), mem.HeapInuse>>20)
	if reads < rows/2 {
		t.Fatalf("only %d distinct r rows delivered for %d preloaded rows", reads, rows)
	}
	checked := time.Now()
	checkModel(t, srv, model, "replay")
	t.Logf("checked against the source in %v", time.Since(checked).Round(time.Millisecond))
}

// statusBar is a table's line in puma status while a snapshot reads it.
var statusBar = regexp.MustCompile(`(?m)^  app\.[abc] +reading +\[#*-*\] +\d+%  \d+/~\d+ rows +\d+/~\d+ chunks +\d+ rows/s +ETA `)

// checkStatusBar checks that puma status shows the initial snapshot's
// progress, with a bar for the table being read.
func checkStatusBar(t *testing.T, cfgPath string) {
	t.Helper()
	out, code := runPuma(t, "status", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "app: initial snapshot: ") || !statusBar.MatchString(out) {
		t.Fatalf("puma status during the snapshot: exit %d\n%s\nwant its progress with a bar for the table being read", code, out)
	}
	t.Logf("puma status during the snapshot:\n%s", out)
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

// snapLine is what replaySnapshot reads of an output line: the workload's
// columns go to fields, not maps, so that a million lines replay fast.
type snapLine struct {
	Op     string     `json:"op"`
	Before *snapImage `json:"before"`
	After  *snapImage `json:"after"`
	Source struct {
		Table string `json:"table"`
	} `json:"source"`
	Puma struct {
		Tx struct {
			ID  string `json:"id"`
			Seq int    `json:"seq"`
		} `json:"tx"`
	} `json:"puma"`
}

// snapImage is a row image of any workload table (see columnOrder).
type snapImage struct {
	ID     json.RawMessage `json:"id"`
	V      json.RawMessage `json:"v"`
	S      json.RawMessage `json:"s"`
	Amount json.RawMessage `json:"amount"`
	Note   json.RawMessage `json:"note"`
	K1     json.RawMessage `json:"k1"`
	K2     json.RawMessage `json:"k2"`
	Val    json.RawMessage `json:"val"`
}

// key and row render img as rowKey and rowText do.
func (img *snapImage) key(table string) string {
	if table == "c" {
		return jsonText(img.K1) + "/" + jsonText(img.K2)
	}
	return jsonText(img.ID)
}

func (img *snapImage) row(table string) string {
	switch table {
	case "a":
		return jsonText(img.ID) + "|" + jsonText(img.V) + "|" + jsonText(img.S)
	case "b":
		return jsonText(img.ID) + "|" + jsonText(img.Amount) + "|" + jsonText(img.Note)
	}
	return jsonText(img.K1) + "|" + jsonText(img.K2) + "|" + jsonText(img.Val)
}

// replaySnapshot applies the delivered output in order, skipping a change
// whose tx.id and seq were applied already: r and c set the row, u
// replaces its before image's row by its after image, d deletes. It
// returns the tables and the number of distinct r rows. A transaction's
// changes arrive in seq order, each delivery from seq 1, so the highest
// seq applied per tx.id tells what was: the memory grows with the
// transactions, not with the rows.
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
	applied := map[string]int{} // tx.id -> highest seq applied
	reads, again, line, changes := 0, 0, 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line++
		var e snapLine
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v: %s", line, err, sc.Bytes())
		}
		if e.Puma.Tx.Seq <= applied[e.Puma.Tx.ID] {
			again++
			continue
		}
		applied[e.Puma.Tx.ID] = e.Puma.Tx.Seq
		changes++
		table := e.Source.Table
		tb := model[table]
		if tb == nil || (e.Op != "d") != (e.After != nil) || (e.Op == "u" || e.Op == "d") != (e.Before != nil) {
			t.Fatalf("line %d: a change of op %q to table %q with before %v and after %v", line, e.Op, table, e.Before != nil, e.After != nil)
		}
		switch e.Op {
		case "r":
			if !strings.HasPrefix(e.Puma.Tx.ID, "snapshot:") {
				t.Fatalf("line %d: r row with tx.id %q", line, e.Puma.Tx.ID)
			}
			reads++
			tb[e.After.key(table)] = e.After.row(table)
		case "c":
			tb[e.After.key(table)] = e.After.row(table)
		case "u":
			delete(tb, e.Before.key(table))
			tb[e.After.key(table)] = e.After.row(table)
		case "d":
			delete(tb, e.Before.key(table))
		default:
			t.Fatalf("line %d: unexpected op %q", line, e.Op)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d changes delivered (%d r), %d of them again", changes+again, reads, again)
	return model, reads
}
