package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// snapRead is what identifies a delivered r row: its table, image and
// idempotency key.
type snapRead struct {
	Table, After, TxID string
	Seq                int
}

func snapReads(t *testing.T, c *capture) []snapRead {
	t.Helper()
	var out []snapRead
	for _, l := range c.lines {
		var e struct {
			Op     string          `json:"op"`
			After  json.RawMessage `json:"after"`
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
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Op == "r" {
			out = append(out, snapRead{Table: e.Source.Table, After: string(e.After), TxID: e.Puma.Tx.ID, Seq: e.Puma.Tx.Seq})
		}
	}
	return out
}

// TestSnapshotParallelMatchesSerial reads the same tables at the same
// consistent point over one connection and over several: the rows, their
// order (tables by name, each in key order) and their idempotency keys are
// the same, for integer, composite, string (case-insensitive collation),
// sparse, empty and keyless tables.
func TestSnapshotParallelMatchesSerial(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE p CHARACTER SET utf8mb4",
		"CREATE TABLE p.a_int (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE p.b_comp (k VARCHAR(10) COLLATE utf8mb4_general_ci, n INT, v INT, PRIMARY KEY (k, n))",
		"CREATE TABLE p.c_nokey (x INT, v VARCHAR(10))",
		"CREATE TABLE p.d_empty (id INT PRIMARY KEY)",
		"CREATE TABLE p.e_sparse (id BIGINT PRIMARY KEY, at DATETIME(3))",
		"CREATE TABLE p.f_one (id INT PRIMARY KEY)",
		"INSERT INTO p.f_one VALUES (1)",
	}
	for i := range 37 {
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO p.a_int VALUES (%d, 'v%d')", i*3, i),
			fmt.Sprintf("INSERT INTO p.b_comp VALUES ('%c%d', %d, %d)", "aBcD"[i%4], i%5, i, i),
			fmt.Sprintf("INSERT INTO p.e_sparse VALUES (%d, '2026-01-02 03:04:%02d.5')", int64(i)*int64(i)*1000003-500000, i))
		if i < 9 {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO p.c_nokey VALUES (%d, 'n%d')", i, i))
		}
	}
	srv.Exec(t, stmts...)
	read := func(parallel int) []snapRead {
		t.Helper()
		sink := &capture{}
		extra := fmt.Sprintf("tables = [\"p.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 4\nsnapshot_parallel = %d", parallel)
		if err := waitDone(t, startTask(t, taskConfig(t, srv, extra), checkpoint.NewMemStore(), sink)); err != nil {
			t.Fatalf("snapshot_parallel = %d: %v", parallel, err)
		}
		return snapReads(t, sink)
	}
	serial := read(1)
	if want := 37*3 + 9 + 1; len(serial) != want {
		t.Fatalf("serial snapshot read %d rows, want %d", len(serial), want)
	}
	tables := make([]string, 0, 6)
	for _, r := range serial {
		if len(tables) == 0 || tables[len(tables)-1] != r.Table {
			tables = append(tables, r.Table)
		}
	}
	if !slices.IsSorted(tables) || len(tables) != 5 {
		t.Fatalf("tables delivered in the order %v, want each once, by name", tables)
	}
	for _, parallel := range []int{3, 8} {
		got := read(parallel)
		if len(got) != len(serial) {
			t.Fatalf("snapshot_parallel = %d read %d rows, serial %d", parallel, len(got), len(serial))
		}
		for i := range serial {
			if got[i] != serial[i] {
				t.Fatalf("snapshot_parallel = %d: row %d is %+v, serial %+v", parallel, i, got[i], serial[i])
			}
		}
	}
}

// TestSnapshotUnderWrites snapshots, with each locking mode and several
// connections, a table a writer keeps inserting into, updating and
// deleting from, then streams; replaying what was delivered strictly (an
// insert or read of a row present, or an update or delete whose before
// image is not the row's current one, fails) ends with the source's rows:
// nothing missed, nothing twice. With snapshot_locking = "flush" the
// server counts a FLUSH and an UNLOCK TABLES.
func TestSnapshotUnderWrites(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE w", "CREATE TABLE w.t (id INT PRIMARY KEY, v INT)"}
	var rows []string
	for i := 1; i <= 400; i++ {
		rows = append(rows, fmt.Sprintf("(%d, 0)", i))
	}
	stmts = append(stmts, "INSERT INTO w.t VALUES "+strings.Join(rows, ", "))
	srv.Exec(t, stmts...)
	status := func(name string) int {
		r := srv.Query(t, "SHOW GLOBAL STATUS LIKE '"+name+"'")
		v, _ := r.GetString(0, 1)
		n, _ := strconv.Atoi(v)
		return n
	}
	next := 1000
	for _, locking := range []string{"none", "flush"} {
		t.Run(locking, func(t *testing.T) {
			flushes, unlocks := status("Com_flush"), status("Com_unlock_tables")
			sink := &capture{}
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				werr = writeUntil(ctx, srv, &next)
			})
			defer func() { stop(); wg.Wait() }()
			time.Sleep(50 * time.Millisecond) // the writer is under way
			extra := "tables = [\"w.*\"]\nsnapshot = \"initial\"\nsnapshot_chunk_rows = 15\nsnapshot_parallel = 3\nsnapshot_locking = \"" + locking + "\""
			rt := startTask(t, taskConfig(t, srv, extra), checkpoint.NewMemStore(), sink)
			waitStreaming(t, rt)
			time.Sleep(200 * time.Millisecond)
			stop()
			wg.Wait()
			if werr != nil {
				t.Fatalf("writer: %v", werr)
			}
			srv.Exec(t, "INSERT INTO w.t VALUES (-1, -1)")
			rt.waitFor(t, "the marker row", func() bool {
				for _, r := range envelopeRows(t, sink) {
					if string(r.After["id"]) == "-1" {
						return true
					}
				}
				return false
			})
			if err := rt.stop(t); err != nil {
				t.Fatalf("task: %v", err)
			}
			state := map[string]string{}
			reads, streamed := 0, 0
			for i, r := range envelopeRows(t, sink) {
				id, img := string(r.After["id"]), fmt.Sprintf("%s", r.After)
				if r.Op == "u" || r.Op == "d" {
					id = string(r.Before["id"])
					if cur, ok := state[id]; !ok || cur != fmt.Sprintf("%s", r.Before) {
						t.Fatalf("change %d (%s of id %s, before %s) does not apply to the row delivered so far (%q, present %v)", i, r.Op, id, r.Before, cur, ok)
					}
				}
				switch r.Op {
				case "r", "c":
					if _, ok := state[id]; ok {
						t.Fatalf("change %d: %s of id %s, already delivered", i, r.Op, id)
					}
					state[id] = img
				case "u":
					delete(state, id)
					state[string(r.After["id"])] = img
				case "d":
					delete(state, id)
				}
				if r.Op == "r" {
					reads++
				} else {
					streamed++
				}
			}
			if reads == 0 || streamed == 0 {
				t.Fatalf("%d rows read and %d changes streamed; want both", reads, streamed)
			}
			want := map[string]string{}
			res := srv.Query(t, "SELECT id, v FROM w.t")
			for i := range res.RowNumber() {
				id, _ := res.GetString(i, 0)
				v, _ := res.GetString(i, 1)
				want[id] = fmt.Sprintf("%s", map[string]json.RawMessage{"id": json.RawMessage(id), "v": json.RawMessage(v)})
			}
			for id, w := range want {
				if g, ok := state[id]; !ok || g != w {
					t.Errorf("id %s: replay has %q (present %v), source %q", id, g, ok, w)
				}
			}
			for id := range state {
				if _, ok := want[id]; !ok {
					t.Errorf("id %s replayed but not in the source", id)
				}
			}
			srv.Exec(t, "DELETE FROM w.t WHERE id = -1")
			if locking == "flush" && (status("Com_flush") <= flushes || status("Com_unlock_tables") <= unlocks) {
				t.Errorf("Com_flush %d → %d, Com_unlock_tables %d → %d: the snapshot took no global read lock",
					flushes, status("Com_flush"), unlocks, status("Com_unlock_tables"))
			}
		})
	}
}

// writeUntil inserts, updates and deletes rows of w.t, one transaction
// each, until ctx ends.
func writeUntil(ctx context.Context, srv *testdb.Server, next *int) error {
	c, err := srv.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for ctx.Err() == nil {
		n := *next
		*next++
		for _, q := range []string{
			fmt.Sprintf("INSERT INTO w.t VALUES (%d, 0)", n),
			fmt.Sprintf("UPDATE w.t SET v = v + 1 WHERE id IN (%d, %d)", n%400+1, n-3),
			fmt.Sprintf("DELETE FROM w.t WHERE id IN (%d, %d)", (n*7)%400+1, n-5),
		} {
			if _, err := c.Execute(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	return nil
}

// TestSnapshotViewsAgree commits a row between the opening of two read
// views, so that they see different rows. When that happens only on the
// first try, the views are opened again and all read; when it happens on
// every try, the snapshot reads over the connections whose view matches
// the first. Either way it reads exactly the rows committed before its
// position: every row of the table then, none after.
func TestSnapshotViewsAgree(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE v", "CREATE TABLE v.t (id INT PRIMARY KEY)"}
	for i := 1; i <= 60; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO v.t VALUES (%d)", i))
	}
	srv.Exec(t, stmts...)
	for _, tc := range []struct {
		name   string
		tries  int // commits between views on this many tries
		before int // rows committed before the snapshot's position
	}{
		{"first try", 1, 60 + 2},
		{"every try", 1 << 30, 60 + 2*4}, // 5 tries; the last one's first view is the point
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Exec(t, "DELETE FROM v.t WHERE id > 60")
			c, err := srv.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			calls, id := 0, 1000
			var hookErr error
			restore := engine.SetTestHookBetweenViews(func() {
				if calls++; calls <= 2*tc.tries && hookErr == nil {
					id++
					_, hookErr = c.Execute(fmt.Sprintf("INSERT INTO v.t VALUES (%d)", id))
				}
			})
			defer restore()
			sink := &capture{}
			extra := "tables = [\"v.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 7\nsnapshot_parallel = 3"
			if err := waitDone(t, startTask(t, taskConfig(t, srv, extra), checkpoint.NewMemStore(), sink)); err != nil {
				t.Fatal(err)
			}
			if hookErr != nil {
				t.Fatalf("commit between views: %v", hookErr)
			}
			var got []int
			for _, r := range envelopeRows(t, sink) {
				n, _ := strconv.Atoi(string(r.After["id"]))
				got = append(got, n)
			}
			want := make([]int, 0, tc.before)
			for i := 1; i <= 60; i++ {
				want = append(want, i)
			}
			for i := 1001; i <= 1000+tc.before-60; i++ {
				want = append(want, i)
			}
			if !slices.Equal(got, want) {
				t.Errorf("snapshot read ids %v, want %v", got, want)
			}
		})
	}
}

// TestSnapshotParallelResumes fails a snapshot read over four connections
// at its fourth chunk, while the readers are ahead of delivery: the
// checkpoint names the third chunk's last key, and the next run delivers
// exactly the rows after it, in order.
func TestSnapshotParallelResumes(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE r", "CREATE TABLE r.a (id INT PRIMARY KEY)", "CREATE TABLE r.b (id INT PRIMARY KEY)"}
	for i := 1; i <= 40; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO r.a VALUES (%d)", i*2), fmt.Sprintf("INSERT INTO r.b VALUES (%d)", i))
	}
	srv.Exec(t, stmts...)
	store := checkpoint.NewMemStore()
	extra := "tables = [\"r.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 5\nsnapshot_parallel = 4\nqueue_batches = 1"
	first := failingAtChunk(4)
	cp := failedRun(t, taskConfig(t, srv, extra), store, first)
	if s := cp.Position.Snapshot; s == nil || s.Table != "r.a" || !slices.Equal(s.Key, []string{"i:30"}) || len(s.Done) != 0 {
		t.Fatalf("checkpoint progress %+v, want r.a after key 30", cp.Position.Snapshot)
	}
	second := &capture{}
	if err := waitDone(t, startTask(t, taskConfig(t, srv, extra), store, second)); err != nil {
		t.Fatalf("second run: %v", err)
	}
	var got, want []string
	for _, r := range envelopeRows(t, second) {
		got = append(got, r.Table+"/"+string(r.After["id"]))
	}
	for i := 16; i <= 40; i++ {
		want = append(want, fmt.Sprintf("a/%d", i*2))
	}
	for i := 1; i <= 40; i++ {
		want = append(want, fmt.Sprintf("b/%d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("resumed run delivered %v, want %v", got, want)
	}
}

// TestSnapshotFlushNeedsReload: snapshot_locking = "flush" with a user
// that may not take the global read lock stops the task with an error
// naming the setting and the privilege, and delivers nothing.
func TestSnapshotFlushNeedsReload(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY)", "INSERT INTO f.t VALUES (1)",
		"CREATE USER 'noreload'@'%'",
		"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'noreload'@'%'")
	cfg := taskConfig(t, srv, "tables = [\"f.*\"]\nsnapshot = \"initial\"\nsnapshot_locking = \"flush\"")
	cfg.Sources[0].User = "noreload"
	sink := &capture{}
	err := waitDone(t, startTask(t, cfg, checkpoint.NewMemStore(), sink))
	if err == nil || !strings.Contains(err.Error(), `snapshot_locking = "flush"`) || !strings.Contains(err.Error(), "RELOAD") {
		t.Fatalf("task ended with %v, want the lock's error naming snapshot_locking and RELOAD", err)
	}
	if n := sink.count(); n != 0 {
		t.Errorf("%d rows delivered without a consistent point", n)
	}
}

// failedRun runs a task that snapshots into sink, which must fail it for
// good, and returns the checkpoint it left in store.
func failedRun(t *testing.T, cfg engine.TaskConfig, store checkpoint.Store, sink *hookSender) *checkpoint.Checkpoint {
	t.Helper()
	if err := waitDone(t, startTaskWith(t, cfg, store, sink)); err == nil {
		t.Fatal("failing run: no error, want the sender's")
	}
	cp, err := store.Load(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// failingAtChunk returns a sender that records batches until the n-th one
// with rows, which it refuses for good.
func failingAtChunk(n int) *hookSender {
	chunks := 0
	return &hookSender{before: func(b *engine.Batch) error {
		if len(b.Changes) > 0 {
			if chunks++; chunks == n {
				return permanentErr{}
			}
		}
		return nil
	}}
}
