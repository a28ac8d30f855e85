package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestKVSurvivesKillNine runs the stateful rowcount example (the Go one
// and the C one) in the real binary over a real MariaDB, kills it with
// SIGKILL after its sink acknowledged batches, often in the middle of
// transactions spanning many batches, restarts it each time, cuts its
// connection to the source now and then, and checks
// that its counts equal the source's exactly: every row change carries a
// count, each table's distinct changes carry 1..N with N the rows the
// table has, a change delivered again after a restart carries the count
// it carried the first time, and the state in the final checkpoint is N.
func TestKVSurvivesKillNine(t *testing.T) {
	t.Cleanup(hostabitest.Cleanup)
	for _, lang := range []struct {
		name  string
		build func(*testing.T) []byte
	}{
		{"go", func(t *testing.T) []byte { return hostabitest.BuildGo(t, "./examples/rowcount") }},
		{"c", func(t *testing.T) []byte { return hostabitest.BuildC(t, "examples/rowcount/c/rowcount.c") }},
	} {
		t.Run(lang.name, func(t *testing.T) { testKVKill(t, lang.build(t)) })
	}
}

const kvTables = 3

func testKVKill(t *testing.T, wasm []byte) {
	seed := workloadSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	target, kills := 4000, 6
	if testing.Short() {
		target, kills = 1500, 4
	}

	srv := testdb.Start(t, testdb.Options{})
	// Puma reads through a proxy the test cuts: it reconnects and resumes
	// after its last complete transaction. A transaction is given up and
	// read again from its first batch only when the cut lands while it is
	// still on the wire (go-mysql buffers 512 events, the sockets more),
	// which happens now and then; examples/internal/exampletest and
	// hostabi's TestKVStore check that case deterministically.
	proxy := testdb.NewProxy(t, srv.Addr())
	srv.Exec(t, "CREATE DATABASE app")
	for i := range kvTables {
		srv.Exec(t, fmt.Sprintf("CREATE TABLE app.t%d (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40) NOT NULL)", i))
	}
	// The sink: a slow webhook, so that the handler runs ahead of what
	// the sender had acknowledged when a checkpoint is taken, as it does
	// in production; a state saved ahead of its checkpoint would count
	// the changes delivered again twice.
	sink := newSlowSink(t, rng.Uint64())
	dir := t.TempDir()
	module := filepath.Join(dir, "rowcount.wasm")
	if err := os.WriteFile(module, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	// batch_rows = 4: transactions of up to 60 rows span many batches, so a
	// kill lands between the batches of one transaction as often as
	// between transactions.
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "kv"
replica_server_id = 7101
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
batch_rows = 4
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = %q
  name = "rowcount"
  grants = { kv = true }
  [[task.sender]]
  plugin = "builtin:http"
  config = { url = %q }
  grants = { allow_private = true }
`, proxy.Addr(), module, sink.url))

	conn, err := srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, txs := 0, 0
	// transaction inserts 1..maxRows rows, statements times, into random
	// tables; 5% roll back. Its values start with tag.
	transaction := func(tag string, statements, maxRows int) {
		exec("BEGIN")
		n := 0
		for range statements {
			k := 1 + rng.IntN(maxRows)
			vals := make([]string, k)
			for i := range vals {
				vals[i] = fmt.Sprintf("('%s%d-%d')", tag, txs, n+i)
			}
			exec(fmt.Sprintf("INSERT INTO app.t%d (v) VALUES %s", rng.IntN(kvTables), strings.Join(vals, ",")))
			n += k
		}
		txs++
		if rng.IntN(20) == 0 {
			exec("ROLLBACK")
			return
		}
		exec("COMMIT")
		rows += n
	}

	// Write at a steady pace while puma streams. Every so often, write a
	// transaction of ~60 batches and, once its first batch has reached
	// the sink (the reader, up to ~33 batches ahead of the sink, is then
	// inside it), kill puma or cut its connection to the source. A kill
	// leaves the checkpoint behind what the handler did: the restart must
	// count from the checkpoint's state, not from where the handler was.
	p := startPuma(t, cfgPath, logPath)
	killed, cut, cuts := 0, 0, kills
	events := kills + cuts
	step := target / (events + 1)
	next, since := step, 0
	deadline := time.Now().Add(4 * time.Minute)
	for (rows < target || killed+cut < events) && time.Now().Before(deadline) {
		transaction("r", 1+rng.IntN(3), 4)
		time.Sleep(5 * time.Millisecond)
		if killed+cut >= events || rows < next || proxy.Conns() == 0 || sink.posts()-since < 5 {
			continue
		}
		tag := fmt.Sprintf("big%d-", txs)
		txsBefore := txs
		transaction(tag, 4, 60)
		if txs == txsBefore {
			continue
		}
		if !sink.await(tag, 20*time.Second) {
			continue // rolled back, or puma is too far behind: try again later
		}
		time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		if (killed+cut)%2 == 0 {
			p.kill(t)
			killed++
			p = startPuma(t, cfgPath, logPath)
		} else {
			proxy.Cut()
			cut++
		}
		next += step
		since = sink.posts()
	}
	if killed < kills || cut < cuts {
		t.Fatalf("only %d of %d kills and %d of %d cuts happened: puma delivered too little", killed, kills, cut, cuts)
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("%d rows in %d transactions, %d kills, %d cuts; waiting for checkpoint %s", rows, txs, killed, cut, final)
	cpPath := filepath.Join(dir, "data", "checkpoints", "kv.json")
	waitCheckpoint(t, cpPath, final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}

	want := map[string]uint64{}
	total := uint64(0)
	for i := range kvTables {
		n := countRows(t, conn, fmt.Sprintf("app.t%d", i))
		want[fmt.Sprintf("t%d", i)] = n
		total += n
	}
	if total != uint64(rows) {
		t.Fatalf("the source has %d rows, the writer committed %d", total, rows)
	}

	// The stream: every distinct change has a count; a change delivered
	// again carries the same count.
	counts := map[string]map[uint64]string{} // table → count → change
	first := map[string]uint64{}             // change → its count
	redelivered := 0
	keys := map[string]string{} // a request's changes → Idempotency-Key
	for _, post := range sink.all() {
		var envs []struct {
			Op     string `json:"op"`
			Source struct {
				Table string `json:"table"`
			} `json:"source"`
			After struct {
				RowCount *uint64 `json:"row_count"`
			} `json:"after"`
			Puma struct {
				Tx struct {
					ID  string `json:"id"`
					Seq int    `json:"seq"`
				} `json:"tx"`
			} `json:"puma"`
		}
		if err := json.Unmarshal(post.body, &envs); err != nil {
			t.Fatalf("%v: %s", err, post.body)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(post.body, &raw); err != nil {
			t.Fatalf("%v: %s", err, post.body)
		}
		for _, e := range raw {
			envelopetest.Check(t, "posted", e)
		}
		// A request sent again (the same changes, from its first to its
		// last: the same batches) keeps its idempotency key.
		if len(envs) > 0 {
			first, last := envs[0].Puma.Tx, envs[len(envs)-1].Puma.Tx
			req := first.ID + "/" + strconv.Itoa(first.Seq) + ".." + last.ID + "/" + strconv.Itoa(last.Seq)
			if k, seen := keys[req]; seen && k != post.key {
				t.Errorf("changes %s sent with Idempotency-Key %q, then %q", req, k, post.key)
			}
			keys[req] = post.key
		}
		for _, e := range envs {
			if e.Op != "c" {
				continue // the DDL creating the tables
			}
			id := e.Puma.Tx.ID + "/" + strconv.Itoa(e.Puma.Tx.Seq)
			if e.After.RowCount == nil {
				t.Fatalf("change %s of %s has no row_count: %s", id, e.Source.Table, post.body)
			}
			n := *e.After.RowCount
			if c, seen := first[id]; seen {
				redelivered++
				if c != n {
					t.Fatalf("change %s of %s counted %d when first delivered and %d when delivered again: the state did not match the checkpoint", id, e.Source.Table, c, n)
				}
				continue
			}
			first[id] = n
			if counts[e.Source.Table] == nil {
				counts[e.Source.Table] = map[uint64]string{}
			}
			if other, dup := counts[e.Source.Table][n]; dup {
				t.Fatalf("count %d of %s given to changes %s and %s: counted twice", n, e.Source.Table, other, id)
			}
			counts[e.Source.Table][n] = id
		}
	}
	for table, n := range want {
		got := counts[table]
		if uint64(len(got)) != n {
			t.Errorf("table %s: %d distinct changes delivered, the source has %d rows", table, len(got), n)
		}
		for c := uint64(1); c <= n; c++ {
			if _, ok := got[c]; !ok {
				t.Errorf("table %s: no change counted %d of %d", table, c, n)
				break
			}
		}
	}
	if redelivered == 0 {
		t.Errorf("no change was delivered again after %d kills: the test did not exercise a restart behind the sink", killed)
	}
	t.Logf("%d distinct changes, %d delivered again after a restart", len(first), redelivered)

	// The state in the final checkpoint.
	data, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Plugins map[string]string `json:"plugins"`
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(cp.Plugins["rowcount"])
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]uint64{}
	if err := wire.DecodeKV(raw, func(k string, v []byte) { state[k] = binary.LittleEndian.Uint64(v) }); err != nil {
		t.Fatal(err)
	}
	for table, n := range want {
		if got := state["rows/app."+table]; got != n {
			t.Errorf("checkpointed count of app.%s = %d, the source has %d rows", table, got, n)
		}
	}
}

func countRows(t *testing.T, conn *client.Conn, table string) uint64 {
	t.Helper()
	r, err := conn.Execute("SELECT COUNT(*) FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.GetUint(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// slowSink is a webhook that takes its time: 1 to 6 ms per batch.
type slowSink struct {
	url string
	mu  sync.Mutex
	log []post
	rng *rand.Rand
}

type post struct {
	key  string
	body []byte
}

func newSlowSink(t *testing.T, seed uint64) *slowSink {
	s := &slowSink{rng: rand.New(rand.NewPCG(seed, 1))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		d := time.Duration(1+s.rng.IntN(6)) * time.Millisecond
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
		s.log = append(s.log, post{key: r.Header.Get("Idempotency-Key"), body: body})
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/puma"
	return s
}

// posts counts the batches received.
func (s *slowSink) posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// await waits until a batch containing text arrives.
func (s *slowSink) await(text string, timeout time.Duration) bool {
	from := 0
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		for ; from < len(s.log); from++ {
			if bytes.Contains(s.log[from].body, []byte(text)) {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
	}
	return false
}

func (s *slowSink) all() []post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}
