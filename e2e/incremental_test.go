package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// TestIncrementalSnapshotCLI runs an incremental snapshot with the real
// binary and the CLI while a writer updates and deletes the table, kills
// puma (SIGKILL) in the middle of it and starts it again: replaying the
// delivered output (r, c, u, d by key, in order) must give the source
// table value by value. The CLI refuses a table without a primary key with
// the reason, and cancels.
func TestIncrementalSnapshotCLI(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	const rows = 5000
	var values []string
	for i := range rows {
		values = append(values, fmt.Sprintf("(%d, %d)", i, i))
	}
	srv.Exec(t, "CREATE DATABASE shop", "CREATE DATABASE puma",
		"CREATE TABLE puma.signal (id VARCHAR(64) NOT NULL PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT NULL)",
		"CREATE TABLE shop.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"CREATE TABLE shop.nokey (x INT)",
		"INSERT INTO shop.t VALUES "+strings.Join(values, ", "))
	s := newAdminSetup(t, srv, "")
	defer dumpLog(t, s.log)
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.cfg, strings.Replace(string(cfg), `tables = ["shop.*"]`,
		"tables = [\"shop.*\"]\nsignal_table = \"puma.signal\"\nsnapshot_chunk_rows = 50", 1))
	p := startPuma(t, s.cfg, s.log)
	waitState(t, s, "streaming")

	if out, code := runPuma(t, "snapshot", "-c", s.cfg, "shop", "shop.nokey"); code != 1 || !strings.Contains(out, "no primary key") {
		t.Fatalf("snapshot of a table without a key: %d %s, want exit 1 saying why", code, out)
	}
	if out, code := runPuma(t, "snapshot", "-c", s.cfg, "shop"); code != 2 || !strings.Contains(out, "usage") {
		t.Fatalf("snapshot without a table: %d %s, want the usage", code, out)
	}

	ctx, stopWriter := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Go(func() {
		conn, err := srv.Conn(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		for i := 0; ctx.Err() == nil; i++ {
			id := (i * 7919) % rows
			q := fmt.Sprintf("UPDATE shop.t SET v = v + 1 WHERE id = %d", id)
			if i%5 == 0 {
				q = fmt.Sprintf("DELETE FROM shop.t WHERE id = %d", id)
			}
			if _, err := conn.Execute(q); err != nil {
				if ctx.Err() == nil {
					t.Errorf("writer: %v", err)
				}
				return
			}
			writes.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	defer func() { stopWriter(); wg.Wait() }()

	if out, code := runPuma(t, "snapshot", "-c", s.cfg, "shop", "shop.t"); code != 0 || !strings.Contains(out, "incremental snapshot of shop.t requested") {
		t.Fatalf("puma snapshot: %d %s", code, out)
	}
	reads := func() int {
		n := 0
		for _, l := range s.lines(t) {
			if strings.Contains(l, `"op":"r"`) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for reads() < 500 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot rows delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, code := runPuma(t, "status", "-c", s.cfg)
	if code != 0 || !strings.Contains(out, "shop: incremental snapshot: 0 of 1 tables read, ") ||
		!regexp.MustCompile(`(?m)^  shop\.t +reading +\[#*-*\] +\d+%  \d+/~\d+ rows +\d+/~\d+ chunks +\d+ rows/s +ETA `).MatchString(out) {
		t.Fatalf("puma status during the snapshot: %d %s, want its progress with a bar for shop.t", code, out)
	}
	p.kill(t)
	killedAt := reads()
	p = startPuma(t, s.cfg, s.log)
	waitState(t, s, "streaming")
	// The restarted task resumes the snapshot from its checkpoint, or,
	// when the checkpoint is older than the request, meets the request
	// again in the binary log: either way it is seen running, then done.
	deadline = time.Now().Add(3 * time.Minute)
	for running := false; ; time.Sleep(10 * time.Millisecond) {
		state, inProgress := snapshotState(t, s)
		if inProgress {
			running = true
		} else if running && state == "streaming" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the incremental snapshot did not finish after the restart")
		}
	}
	stopWriter()
	wg.Wait()
	srv.Exec(t, "INSERT INTO shop.t VALUES (1000000, 1)")
	deadline = time.Now().Add(60 * time.Second)
	for !strings.Contains(strings.Join(s.lines(t), "\n"), `"id":1000000`) {
		if time.Now().After(deadline) {
			t.Fatal("the marker row was not delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}

	state := map[int64]int64{}
	for _, l := range s.lines(t) {
		var e struct {
			Op            string
			Before, After *struct{ ID, V int64 }
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		switch e.Op {
		case "r", "c", "u":
			if e.Before != nil {
				delete(state, e.Before.ID)
			}
			state[e.After.ID] = e.After.V
		case "d":
			delete(state, e.Before.ID)
		}
	}
	r := srv.Query(t, "SELECT id, v FROM shop.t")
	want := map[int64]int64{}
	for i := range r.RowNumber() {
		id, _ := r.GetInt(i, 0)
		v, _ := r.GetInt(i, 1)
		want[id] = v
	}
	bad := 0
	for id, v := range want {
		if g, ok := state[id]; !ok || g != v {
			t.Errorf("row %d: replay has %d (present %v), source %d", id, g, ok, v)
			if bad++; bad > 20 {
				t.FailNow()
			}
		}
	}
	for id := range state {
		if _, ok := want[id]; !ok {
			t.Errorf("row %d replayed but deleted in the source", id)
		}
	}
	t.Logf("%d rows read when killed, %d changes written", killedAt, writes.Load())

	if out, code := runPuma(t, "snapshot", "-c", s.cfg, "-cancel", "shop"); code != 0 || !strings.Contains(out, "cancel requested") {
		t.Fatalf("puma snapshot -cancel: %d %s", code, out)
	}
}

// snapshotState returns the task's state and whether it has an incremental
// snapshot in progress.
func snapshotState(t *testing.T, s *adminSetup) (string, bool) {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/tasks/shop")
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var st struct {
		State               string
		IncrementalSnapshot *json.RawMessage `json:"incremental_snapshot"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", false
	}
	return st.State, st.IncrementalSnapshot != nil
}
