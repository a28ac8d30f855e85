package e2e

import (
	"bufio"
	"context"
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

	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// Real MariaDB → builtin:filter → two example Go handlers (one drops rows
// by a value, one derives a column through an output schema) →
// builtin:jsonl, with puma SIGKILLed twice: the output equals the source's
// committed rows, value by value, in commit order.
func TestPluginChainAcrossKills(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE app",
		"CREATE TABLE app.users (id INT PRIMARY KEY, email VARCHAR(100), status VARCHAR(10) NOT NULL, amount DECIMAL(10,2))",
		"CREATE TABLE app.noise (id INT PRIMARY KEY)")
	dir := t.TempDir()
	for name, pkg := range map[string]string{"dropvalue.wasm": "./examples/dropvalue", "emaildomain.wasm": "./examples/emaildomain"} {
		if err := os.WriteFile(filepath.Join(dir, name), hostabitest.BuildGo(t, pkg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "puma.toml")
	writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app"
replica_server_id = 7301
start_if_none = "earliest"
checkpoint_interval = "100ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.users"], ops = ["c", "u", "d"], where = "amount IS NULL OR amount > -1" }
  [[task.handler]]
  plugin = "dropvalue.wasm"
  config = { column = "status", value = "test" }
  [[task.handler]]
  plugin = "emaildomain.wasm"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, srv.Addr()))
	out := filepath.Join(dir, "out.jsonl")
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)

	conn, err := srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) {
		if _, err := conn.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var ids []int
	next := 0
	domains := []string{"example.com", "puma.dev", "mail.test"}
	p := startPuma(t, cfg, logPath)
	kills := []int{300 + rng.IntN(300), 900 + rng.IntN(300)}
	lastSize := int64(0)
	for tx := 0; tx < 1500; tx++ {
		exec("BEGIN")
		for range 1 + rng.IntN(4) {
			switch op := rng.IntN(10); {
			case op < 5 || len(ids) < 10:
				next++
				status := "live"
				if rng.IntN(4) == 0 {
					status = "test" // dropped by dropvalue, whatever happens to it later
				}
				email := "NULL"
				if rng.IntN(10) > 0 {
					email = fmt.Sprintf("'user%d@%s'", next, domains[rng.IntN(len(domains))])
				}
				exec(fmt.Sprintf("INSERT INTO app.users VALUES (%d, %s, '%s', %d.%02d)", next, email, status, rng.IntN(1000), rng.IntN(100)))
				exec(fmt.Sprintf("INSERT INTO app.noise VALUES (%d)", next))
				ids = append(ids, next)
			case op < 8:
				id := ids[rng.IntN(len(ids))]
				exec(fmt.Sprintf("UPDATE app.users SET amount = amount + 1, email = CONCAT('u%d@', ELT(1 + %d, %s)) WHERE id = %d",
					id, rng.IntN(3), `'example.com','puma.dev','mail.test'`, id))
			default:
				i := rng.IntN(len(ids))
				exec(fmt.Sprintf("DELETE FROM app.users WHERE id = %d", ids[i]))
				ids = append(ids[:i], ids[i+1:]...)
			}
		}
		exec("COMMIT")
		if len(kills) > 0 && tx >= kills[0] {
			// Kill a puma that is delivering (its first start compiles the
			// plugins, which takes a while).
			deadline := time.Now().Add(60 * time.Second)
			for fileSize(out) <= lastSize && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			kills = kills[1:]
			p.kill(t)
			lastSize = fileSize(out)
			p = startPuma(t, cfg, logPath)
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen", len(kills))
	}
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), srv.GTIDBinlogPos(t))
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v", err)
	}

	// Replay the stream, de-duplicated, into id -> row text.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	model := map[string]string{}
	seen := map[string]bool{}
	lastTx := int64(0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Op            string
			Source        struct{ DB, Table string }
			Before, After map[string]json.RawMessage
			Puma          struct {
				Tx struct {
					ID  string
					Seq int
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		envelopetest.Check(t, out, sc.Bytes())
		if e.Source.Table != "users" {
			t.Fatalf("filter let through %s.%s: %s", e.Source.DB, e.Source.Table, sc.Bytes())
		}
		key := e.Puma.Tx.ID + "/" + strconv.Itoa(e.Puma.Tx.Seq)
		if seen[key] {
			continue
		}
		seen[key] = true
		parts := strings.Split(e.Puma.Tx.ID, "-")
		seq, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
		if seq < lastTx {
			t.Fatalf("transaction %s delivered after a later one", e.Puma.Tx.ID)
		}
		lastTx = seq
		img := e.After
		if e.Op == "d" {
			img = e.Before
		}
		if jsonText(img["status"]) == "test" {
			t.Fatalf("dropvalue let a test row through: %s", sc.Bytes())
		}
		id := jsonText(img["id"])
		switch e.Op {
		case "c", "u":
			model[id] = userRow(e.After)
		case "d":
			delete(model, id)
		}
	}
	want := map[string]string{}
	r := srv.Query(t, "SELECT id, email, status, amount, SUBSTRING_INDEX(email, '@', -1) FROM app.users WHERE status <> 'test'")
	for i := range r.RowNumber() {
		var cols []string
		for j := range 5 {
			v := "NULL"
			if null, _ := r.IsNull(i, j); !null {
				v, _ = r.GetString(i, j)
			}
			cols = append(cols, v)
		}
		want[cols[0]] = strings.Join(cols, "|")
	}
	if len(model) != len(want) {
		t.Errorf("delivered %d live rows, source has %d", len(model), len(want))
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if model[k] != want[k] {
			t.Fatalf("row %s: delivered %q, source %q", k, model[k], want[k])
		}
	}
}

func userRow(img map[string]json.RawMessage) string {
	var cols []string
	for _, c := range []string{"id", "email", "status", "amount", "email_domain"} {
		cols = append(cols, jsonText(img[c]))
	}
	return strings.Join(cols, "|")
}
