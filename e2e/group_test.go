package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pumacdc/puma/internal/testdb"
)

// TestKillNineGroupCommit kills puma -9 while builtin:jsonl takes groups
// of transactions, syncing once per group while the checkpoint is saved
// only every 500 ms: each kill lands just after a checkpoint is written,
// with groups synced after it that the next checkpoint would have
// covered, and others in flight. The output must hold every committed
// transaction whole, replay from a transaction's begin after each kill,
// skip nothing, and repeat changes only as identical lines under the same
// (tx.id, tx.seq, tx.part).
func TestKillNineGroupCommit(t *testing.T) {
	seed := workloadSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	target := 30_000
	if testing.Short() {
		target = 6_000
	}

	srv := testdb.Start(t, testdb.Options{})
	createWorkload(t, srv)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[[task]]
name = "app"
replica_server_id = 7002
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "500ms"
max_batch_delay = "2ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl", markers = true }
`, admin, srv.Addr()))

	w := newWriter(t, srv, rng)

	p := startPuma(t, cfgPath, logPath)
	var cuts []int // where each restarted run's output starts
	kills := []int{target / 4, target / 2, 3 * target / 4}
	lastSize := int64(0)
	cpPath := filepath.Join(dir, "data", "checkpoints", "app.json")
	var armed []byte // the checkpoint when a kill became due
	var groups groupCount
	for w.rows < target || (len(kills) > 0 && w.rows < 20*target) {
		w.transaction(t)
		if armed == nil && len(kills) > 0 && w.rows >= kills[0] && fileSize(out) > lastSize {
			armed, _ = os.ReadFile(cpPath)
		}
		// Kill right after a checkpoint is written, while later groups
		// are in flight: what the checkpoint claims must be in the file.
		if armed == nil {
			continue
		}
		if now, _ := os.ReadFile(cpPath); bytes.Equal(now, armed) {
			continue
		}
		armed, kills = nil, kills[1:]
		groups.add(t, admin)
		p.kill(t)
		lastSize = fileSize(out)
		// The next run cuts a line the kill tore, and appends.
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		cuts = append(cuts, bytes.LastIndexByte(data, '\n')+1)
		p = startPuma(t, cfgPath, logPath)
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma delivered nothing after a restart", len(kills))
	}
	final := srv.GTIDBinlogPos(t)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	groups.add(t, admin)
	t.Logf("%v batches in %v sender calls", groups.batches, groups.calls)
	if groups.calls <= 0 || groups.batches <= groups.calls {
		t.Errorf("%v batches in %v sender calls: no group of two or more", groups.batches, groups.calls)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkWholeTransactions(t, data, cuts, w.gtids)
	model := applyStream(t, out, w.gtids)
	checkModel(t, srv, model, "model")
}

// processingTime matches an envelope's processing-time fields, which
// differ each time a change is delivered.
var processingTime = regexp.MustCompile(`"ts_ms":\d+,"ts_us":\d+,"ts_ns":\d+`)

// groupCount sums the sender calls and the batches they took over puma
// runs.
type groupCount struct{ calls, batches float64 }

// add adds the counts of the running puma.
func (g *groupCount) add(t *testing.T, admin string) {
	t.Helper()
	m := get(t, "http://"+admin+"/metrics", "")
	g.calls += max(0, metricValue(m, `puma_sender_group_batches_count{task="app",plugin="jsonl"}`))
	g.batches += max(0, metricValue(m, `puma_sender_group_batches_sum{task="app",plugin="jsonl"}`))
}

// checkWholeTransactions reads jsonl output with markers, written by runs
// of puma killed and restarted, the restarted ones appending from each
// offset in cuts, and checks that:
// every begin … commit run holds its transaction's changes 1..n with n the
// commit's count; a run may stop without its commit only where a killed
// run's output ends; each restarted run's output starts with a begin, of a
// transaction at most one past the last one delivered whole before it (no
// gap); a change delivered again is byte for byte the same line under the
// same key; and every committed transaction was delivered whole.
func checkWholeTransactions(t *testing.T, data []byte, cuts []int, committed []string) {
	t.Helper()
	restarts := map[int]bool{}
	for _, c := range cuts {
		restarts[c] = true
	}
	index := map[string]int{}
	for i, g := range committed {
		index[g] = i
	}
	whole := map[string]bool{}
	lastWhole := -1 // index in committed of the newest transaction delivered whole
	first := map[string][]byte{}
	var open string // the transaction of the run being read
	n, ddl, replays, cutRuns := 0, 0, 0, 0
	for off, lineNo := 0, 1; off < len(data); lineNo++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			t.Fatalf("line %d: no newline at the end of the file", lineNo)
		}
		line := data[off : off+end]
		at := off
		off += end + 1
		var e struct {
			// A BEGIN or END transaction event.
			Status     string `json:"status"`
			ID         string `json:"id"`
			EventCount int    `json:"event_count"`
			// Set on a DDL (schema change) event, which END does not count.
			DDL  *string `json:"ddl"`
			Puma struct {
				Tx struct {
					ID   string `json:"id"`
					Seq  int    `json:"seq"`
					Part int    `json:"part"`
				} `json:"tx"`
			} `json:"puma"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %d: %v: %s", lineNo, err, line)
		}
		if restarts[at] {
			replays++
			if e.Status != "BEGIN" {
				t.Fatalf("line %d: the output after a kill starts inside a transaction: %s", lineNo, line)
			}
			if i, ok := index[e.ID]; ok && i > lastWhole+1 {
				t.Fatalf("line %d: after a kill delivery resumes at %s, skipping %s", lineNo, e.ID, committed[lastWhole+1])
			}
		}
		switch {
		case e.Status == "BEGIN":
			if open != "" {
				if !restarts[at] {
					t.Fatalf("line %d at offset %d: transaction %s begins while %s is open, not after a kill (runs restarted at offsets %v)", lineNo, at, e.ID, open, cuts)
				}
				cutRuns++
			}
			open, n, ddl = e.ID, 0, 0
		case e.Status == "END":
			if e.ID != open || e.EventCount != n-ddl {
				t.Fatalf("line %d: END of %s with %d events closes %s after %d changes (%d DDL)", lineNo, e.ID, e.EventCount, open, n, ddl)
			}
			whole[open] = true
			if i, ok := index[open]; ok && i > lastWhole {
				lastWhole = i
			}
			open = ""
		default:
			tx := e.Puma.Tx
			if tx.ID != open || tx.Seq != n+1 {
				t.Fatalf("line %d: change %s/%d in the run of %s after %d changes", lineNo, tx.ID, tx.Seq, open, n)
			}
			n++
			if e.DDL != nil {
				ddl++
			}
			key := fmt.Sprintf("%s/%d/%d", tx.ID, tx.Seq, tx.Part)
			// Apart from the processing time, a change delivered again is
			// the same line.
			line := processingTime.ReplaceAll(line, nil)
			if prev, ok := first[key]; !ok {
				first[key] = bytes.Clone(line)
			} else if !bytes.Equal(prev, line) {
				t.Fatalf("line %d: change %s delivered again differently:\n%s\n%s", lineNo, key, prev, line)
			}
		}
	}
	if open != "" {
		t.Fatalf("the output ends inside transaction %s", open)
	}
	if replays != len(cuts) {
		t.Fatalf("%d kills but %d restarted runs found in the output", len(cuts), replays)
	}
	for _, g := range committed {
		if !whole[g] {
			t.Fatalf("committed transaction %s was never delivered whole", g)
		}
	}
	t.Logf("%d restarts; %d transactions cut by a kill and delivered again whole", replays, cutRuns)
}
