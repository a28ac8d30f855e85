package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// The workload's tables and their primary keys.
var workloadTables = []struct {
	name, ddl string
	key       []string
}{
	{"a", "CREATE TABLE app.a (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(64) NULL)", []string{"id"}},
	{"b", "CREATE TABLE app.b (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(14,2), note TEXT)", []string{"id"}},
	{"c", "CREATE TABLE app.c (k1 INT, k2 VARCHAR(10), val DOUBLE, PRIMARY KEY (k1, k2))", []string{"k1", "k2"}},
}

// writer applies a seeded random workload in multi-table transactions and
// remembers what committed.
type writer struct {
	rng     *rand.Rand
	conn    *client.Conn
	next    [3]int      // next new key per table
	keys    [3][]string // committed keys per table, as SQL literals for WHERE
	rows    int         // row changes committed
	gtids   []string    // GTIDs of committed transactions, in order
	pending [3][]string // keys inserted by the open transaction
	dropped [3]map[string]bool
}

func (w *writer) exec(t *testing.T, q string) uint64 {
	t.Helper()
	r, err := w.conn.Execute(q)
	if err != nil {
		t.Fatalf("writer: %s: %v", q, err)
	}
	return r.AffectedRows
}

func (w *writer) where(table int, key string) string {
	if table == 2 {
		k1, k2, _ := strings.Cut(key, "/")
		return fmt.Sprintf("k1 = %s AND k2 = '%s'", k1, k2)
	}
	return "id = " + key
}

// statement runs one random statement and returns the rows it changed.
func (w *writer) statement(t *testing.T, rollback bool) int {
	table := w.rng.IntN(3)
	name := workloadTables[table].name
	op := w.rng.IntN(100)
	if len(w.keys[table]) < 5 || op < 50 || rollback {
		n := 1 + w.rng.IntN(20)
		vals := make([]string, n)
		marker := "ok"
		if rollback {
			marker = "rolled-back"
		}
		for i := range vals {
			w.next[table]++
			id := w.next[table]
			switch table {
			case 0:
				vals[i] = fmt.Sprintf("(%d, %d, '%s-%d é')", id, w.rng.IntN(1000), marker, id)
				w.pending[0] = append(w.pending[0], strconv.Itoa(id))
			case 1:
				vals[i] = fmt.Sprintf("(%d, %d.%02d, '%s note %d')", id+1<<40, w.rng.IntN(1e6), w.rng.IntN(100), marker, id)
				w.pending[1] = append(w.pending[1], strconv.Itoa(id+1<<40))
			case 2:
				k2 := "k" + strconv.Itoa(w.rng.IntN(3))
				if rollback {
					k2 = "rb"
				}
				vals[i] = fmt.Sprintf("(%d, '%s', %d.%d)", id, k2, w.rng.IntN(100), []int{0, 25, 5, 75}[w.rng.IntN(4)])
				w.pending[2] = append(w.pending[2], strconv.Itoa(id)+"/"+k2)
			}
		}
		return int(w.exec(t, fmt.Sprintf("INSERT INTO app.%s VALUES %s", name, strings.Join(vals, ","))))
	}
	i := w.rng.IntN(len(w.keys[table]))
	key := w.keys[table][i]
	if w.dropped[table][key] {
		return 0
	}
	switch {
	case op < 75:
		set := map[int]string{0: "v = v + 1, s = CONCAT('u', v)", 1: "amount = amount + 1.01", 2: "val = val + 0.25"}[table]
		if table == 0 && w.rng.IntN(10) == 0 {
			// A primary-key change.
			w.next[0]++
			newKey := strconv.Itoa(w.next[0])
			n := w.exec(t, fmt.Sprintf("UPDATE app.a SET id = %s WHERE id = %s", newKey, key))
			w.dropped[0][key] = true
			w.pending[0] = append(w.pending[0], newKey)
			return int(n)
		}
		return int(w.exec(t, fmt.Sprintf("UPDATE app.%s SET %s WHERE %s", name, set, w.where(table, key))))
	case op < 90 && table == 0:
		// A multi-row update.
		return int(w.exec(t, fmt.Sprintf("UPDATE app.a SET v = v * 2 %% 100000 WHERE id BETWEEN %s AND %s + 5", key, key)))
	default:
		w.dropped[table][key] = true
		return int(w.exec(t, fmt.Sprintf("DELETE FROM app.%s WHERE %s", name, w.where(table, key))))
	}
}

// transaction runs one transaction of 1..8 statements; 5% roll back.
func (w *writer) transaction(t *testing.T) {
	rollback := w.rng.IntN(20) == 0
	dropped := [3]map[string]bool{}
	for i := range dropped {
		dropped[i] = make(map[string]bool)
		for k := range w.dropped[i] {
			dropped[i][k] = true
		}
	}
	w.exec(t, "BEGIN")
	changed := 0
	for range 1 + w.rng.IntN(8) {
		changed += w.statement(t, rollback)
	}
	if rollback {
		w.exec(t, "ROLLBACK")
		w.dropped = dropped
		w.pending = [3][]string{}
		return
	}
	w.exec(t, "COMMIT")
	for i := range w.pending {
		w.keys[i] = append(w.keys[i], w.pending[i]...)
	}
	w.pending = [3][]string{}
	if changed > 0 {
		r, err := w.conn.Execute("SELECT @@last_gtid")
		if err != nil {
			t.Fatal(err)
		}
		g, _ := r.GetString(0, 0)
		w.gtids = append(w.gtids, g)
	}
	w.rows += changed
}

func TestKillNineLosesNothing(t *testing.T) {
	seed := workloadSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	target := 100_000
	if testing.Short() {
		target = 10_000
	}

	srv := testdb.Start(t, testdb.Options{})
	createWorkload(t, srv)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app"
replica_server_id = 7001
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl", markers = true }
`, srv.Addr()))

	w := newWriter(t, srv, rng)

	p := startPuma(t, cfgPath, logPath)
	lastSize := int64(0)
	var kills []int
	for range 3 {
		kills = append(kills, target/10+rng.IntN(target*8/10))
	}
	sort.Ints(kills)
	t.Logf("SIGKILL after %v rows", kills)
	for w.rows < target || (len(kills) > 0 && w.rows < 20*target) {
		w.transaction(t)
		// Kill only a puma that has delivered since it started, so every
		// kill lands mid-stream.
		if len(kills) > 0 && w.rows >= kills[0] && fileSize(out) > lastSize {
			kills = kills[1:]
			p.kill(t)
			lastSize = fileSize(out)
			p = startPuma(t, cfgPath, logPath)
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma delivered nothing after a restart", len(kills))
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}

	model := applyStream(t, out, w.gtids)
	checkModel(t, srv, model, "model")
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitCheckpoint(t *testing.T, path, gtid string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if err == nil {
			var cp struct {
				Position struct {
					GTIDSet string `json:"gtid_set"`
				} `json:"position"`
			}
			if json.Unmarshal(data, &cp) == nil {
				last = cp.Position.GTIDSet
				if last == gtid {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("checkpoint never reached %s (last %s)", gtid, last)
}

type envelope struct {
	Op     string
	DB     string
	Table  string
	Before map[string]json.RawMessage
	After  map[string]json.RawMessage
	Key    map[string]json.RawMessage
	Tx     struct {
		ID  string
		Seq int
	}
	// Begin and Commit are set on a BEGIN and an END transaction event.
	Begin  *struct{ ID string }
	Commit *struct {
		ID      string
		Changes int
	}
}

// UnmarshalJSON reads an envelope line: a change (its table in source,
// its idempotency key and key in puma), a DDL event or a BEGIN/END event.
func (e *envelope) UnmarshalJSON(b []byte) error {
	var v struct {
		Op     string                     `json:"op"`
		Before map[string]json.RawMessage `json:"before"`
		After  map[string]json.RawMessage `json:"after"`
		Source struct{ DB, Table string } `json:"source"`
		Puma   struct {
			Tx struct {
				ID  string `json:"id"`
				Seq int    `json:"seq"`
			} `json:"tx"`
			Key map[string]json.RawMessage `json:"key"`
		} `json:"puma"`
		Status     string  `json:"status"`
		ID         string  `json:"id"`
		EventCount int     `json:"event_count"`
		DDL        *string `json:"ddl"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = envelope{Op: v.Op, DB: v.Source.DB, Table: v.Source.Table, Before: v.Before, After: v.After, Key: v.Puma.Key}
	if v.DDL != nil {
		e.Op = "ddl" // a schema change event has no op
	}
	e.Tx.ID, e.Tx.Seq = v.Puma.Tx.ID, v.Puma.Tx.Seq
	switch v.Status {
	case "BEGIN":
		e.Begin = &struct{ ID string }{v.ID}
	case "END":
		e.Commit = &struct {
			ID      string
			Changes int
		}{v.ID, v.EventCount}
	}
	return nil
}

// applyStream replays the delivered stream, de-duplicated by idempotency key,
// into table -> key -> row text, checking order and completeness on the way.
func applyStream(t *testing.T, path string, committed []string) map[string]map[string]string {
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
	redelivered := 0
	txSeen := map[string]bool{}
	var txOrder []string
	lastSeq := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if bytes.Contains(raw, []byte("rolled-back")) || bytes.Contains(raw, []byte(`"rb"`)) {
			t.Fatalf("line %d: a rolled-back change was delivered: %s", line, raw)
		}
		var e envelope
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("line %d: %v: %s", line, err, raw)
		}
		envelopetest.Check(t, fmt.Sprintf("%s line %d", path, line), raw)
		if e.Begin != nil || e.Commit != nil {
			continue
		}
		id := e.Tx.ID + "/" + strconv.Itoa(e.Tx.Seq)
		if seen[id] {
			redelivered++
			continue // redelivered after a restart
		}
		seen[id] = true
		if !txSeen[e.Tx.ID] {
			txSeen[e.Tx.ID] = true
			txOrder = append(txOrder, e.Tx.ID)
		}
		if e.Tx.Seq != lastSeq[e.Tx.ID]+1 {
			t.Fatalf("line %d: tx %s change seq %d after %d", line, e.Tx.ID, e.Tx.Seq, lastSeq[e.Tx.ID])
		}
		lastSeq[e.Tx.ID] = e.Tx.Seq
		if e.DB != "app" {
			continue
		}
		tb := model[e.Table]
		keyOf := func(img map[string]json.RawMessage) string { return rowKey(e.Table, img) }
		switch e.Op {
		case "c":
			tb[keyOf(e.After)] = rowText(e.Table, e.After)
		case "u":
			delete(tb, keyOf(e.Before))
			tb[keyOf(e.After)] = rowText(e.Table, e.After)
		case "d":
			delete(tb, keyOf(e.Before))
		case "ddl":
		default:
			t.Fatalf("line %d: unexpected op %q", line, e.Op)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d changes delivered, %d of them again after a restart", len(seen)+redelivered, redelivered)
	// Transactions arrive in commit order: MariaDB GTID sequence numbers of
	// one domain increase with commit order.
	prev := int64(0)
	for _, id := range txOrder {
		parts := strings.Split(id, "-")
		seq, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
		if err != nil {
			t.Fatalf("tx id %q is not a MariaDB GTID", id)
		}
		if seq <= prev {
			t.Fatalf("transaction %s delivered after a later one (seq %d)", id, prev)
		}
		prev = seq
	}
	for _, g := range committed {
		if !txSeen[g] {
			t.Fatalf("committed transaction %s was never delivered", g)
		}
	}
	return model
}

func keyColumns(table string) []string {
	for _, tb := range workloadTables {
		if tb.name == table {
			return tb.key
		}
	}
	return nil
}

func rowKey(table string, img map[string]json.RawMessage) string {
	var parts []string
	for _, k := range keyColumns(table) {
		parts = append(parts, jsonText(img[k]))
	}
	return strings.Join(parts, "/")
}

var columnOrder = map[string][]string{"a": {"id", "v", "s"}, "b": {"id", "amount", "note"}, "c": {"k1", "k2", "val"}}

func rowText(table string, img map[string]json.RawMessage) string {
	var parts []string
	for _, c := range columnOrder[table] {
		parts = append(parts, jsonText(img[c]))
	}
	return strings.Join(parts, "|")
}

// jsonText renders a JSON scalar as MariaDB's text protocol would.
func jsonText(v json.RawMessage) string {
	if v == nil || string(v) == "null" {
		return "NULL"
	}
	if n := len(v); n >= 2 && v[0] == '"' && v[n-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : n-1]) // a string with nothing escaped
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

func tableRows(t *testing.T, srv *testdb.Server, table string, key []string) map[string]string {
	t.Helper()
	r := srv.Query(t, "SELECT * FROM "+table)
	rows := map[string]string{}
	name := strings.TrimPrefix(table, "app.")
	for i := range r.RowNumber() {
		var cols []string
		img := map[string]string{}
		for j, f := range r.Fields {
			v := "NULL"
			if null, _ := r.IsNull(i, j); !null {
				v, _ = r.GetString(i, j)
			}
			cols = append(cols, v)
			img[string(f.Name)] = v
		}
		var kp []string
		for _, k := range key {
			kp = append(kp, img[k])
		}
		rows[strings.Join(kp, "/")] = strings.Join(cols, "|")
	}
	_ = name
	return rows
}
