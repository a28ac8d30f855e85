package engine_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// commitLog is a sender recording, per transaction, every change and how
// often its commit arrived.
type commitLog struct {
	capture
	mu      sync.Mutex
	commits map[string]int
	begins  map[string]int
	order   []string
	// onBatch, when set, runs after a batch was accepted.
	onBatch func(*engine.Batch)
}

func (c *commitLog) Send(ctx contextT, b *engine.Batch) error {
	if err := c.capture.Send(ctx, b); err != nil {
		return err
	}
	if c.onBatch != nil {
		c.onBatch(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.Begin {
		c.begins[b.Tx.ID]++
	}
	if b.Commit != nil && b.Tx != nil {
		if c.commits[b.Tx.ID] == 0 {
			c.order = append(c.order, b.Tx.ID)
		}
		c.commits[b.Tx.ID]++
	}
	return nil
}

func TestConnectionCutsLoseNothing(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, pad VARCHAR(200))")
	proxy := testdb.NewProxy(t, srv.Addr())
	cfg := taskConfig(t, srv, "batch_rows = 50\nheartbeat = \"100ms\"")
	cfg.Sources[0].Addr = proxy.Addr()
	sink := &commitLog{commits: map[string]int{}, begins: map[string]int{}}
	rt := startTaskWith(t, cfg, checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)

	const txs, rowsPerTx, bigTx = 200, 40, 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		id := 0
		for i := range txs {
			var vals []string
			for range rowsPerTx {
				id++
				vals = append(vals, fmt.Sprintf("(%d, REPEAT('p', 150))", id))
			}
			srv.Exec(t, "INSERT INTO d.t VALUES "+strings.Join(vals, ","))
			if i == txs/2 {
				srv.Exec(t, fmt.Sprintf("INSERT INTO d.t SELECT seq + 1000000, REPEAT('b', 150) FROM d.seq_1_to_%d", bigTx))
			}
		}
	}()
	for range 20 {
		time.Sleep(40 * time.Millisecond)
		proxy.Cut()
	}
	<-done
	total := txs*rowsPerTx + bigTx
	rt.waitFor(t, "every row", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.order) >= txs+1
	})

	// Every transaction committed exactly once, in commit order, with its
	// changes complete; partial transactions cut mid-stream were sent again
	// from their first change.
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for id, n := range sink.commits {
		if n != 1 {
			t.Errorf("transaction %s committed %d times", id, n)
		}
	}
	envs := sink.envelopes(t)
	seen := map[string]bool{}
	for _, e := range envs {
		tx := e["puma"].(map[string]any)["tx"].(map[string]any)
		seen[fmt.Sprintf("%v/%v", tx["id"], tx["seq"])] = true
	}
	if len(seen) != total {
		t.Fatalf("delivered %d distinct changes, want %d", len(seen), total)
	}
	if s := rt.task.Stats().Snapshot(); s.Reconnects < 5 {
		t.Errorf("only %d reconnects for 20 cuts", s.Reconnects)
	}
	t.Logf("%d envelopes for %d changes", len(envs), total)
}

// A connection dropped in the middle of a transaction that is being
// streamed in batches: the transaction is read again from its start and
// committed once.
func TestCutInsideTransactionRestartsIt(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, pad VARCHAR(250))")
	proxy := testdb.NewProxy(t, srv.Addr())
	cfg := taskConfig(t, srv, "batch_rows = 100")
	cfg.Sources[0].Addr = proxy.Addr()
	var once sync.Once
	sink := &commitLog{commits: map[string]int{}, begins: map[string]int{}}
	sink.onBatch = func(b *engine.Batch) {
		if b.Begin && b.Commit == nil {
			once.Do(proxy.Cut) // cut after the transaction's first batch
		}
	}
	rt := startTaskWith(t, cfg, checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	// Far more than go-mysql's event cache and the pipeline's queues hold,
	// so the cut lands while the transaction is still being read.
	const rows = 60000
	srv.Exec(t, fmt.Sprintf("INSERT INTO d.t SELECT seq, REPEAT('x', 200) FROM d.seq_1_to_%d", rows))
	rt.waitFor(t, "the commit", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.order) == 1
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	id := sink.order[0]
	if sink.begins[id] < 2 {
		t.Fatalf("transaction began %d times; the cut should have restarted it", sink.begins[id])
	}
	if sink.commits[id] != 1 {
		t.Fatalf("transaction committed %d times", sink.commits[id])
	}
	seen := map[float64]bool{}
	for _, e := range sink.envelopes(t) {
		seen[e["puma"].(map[string]any)["tx"].(map[string]any)["seq"].(float64)] = true
	}
	if len(seen) != rows {
		t.Fatalf("%d distinct changes, want %d", len(seen), rows)
	}
}

// A connection cut at any step of connecting (inspecting the server,
// preflight, checking the position, opening the dump) is retried like a
// cut while streaming: it never passes for a finding about the server that
// stops the task, such as a binlog_row_metadata the server did not report.
func TestCutWhileConnectingReconnects(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20)) CHARACTER SET utf8mb4")
	for i, stmt := range []string{
		"SELECT @@version",
		"SELECT @@binlog_row_metadata",
		"information_schema.COLLATIONS",
		"SHOW ALL SLAVES STATUS",
		"SHOW SLAVE HOSTS",
		"SHOW BINARY LOGS",
		"@mariadb_slave_capability",
	} {
		t.Run(stmt, func(t *testing.T) {
			proxy := testdb.NewProxy(t, srv.Addr())
			cfg := taskConfig(t, srv, "")
			cfg.Sources[0].Addr = proxy.Addr()
			sink := &commitLog{commits: map[string]int{}, begins: map[string]int{}}
			rt := startTaskWith(t, cfg, checkpoint.NewMemStore(), sink)
			waitStreaming(t, rt)
			// The reconnect after this cut meets the armed statement.
			proxy.CutOn(stmt)
			proxy.Cut()
			srv.Exec(t, fmt.Sprintf("INSERT INTO d.t VALUES (%d, 'żółw ✓')", i))
			rt.waitFor(t, "the row", func() bool { return sink.count() == 1 })
			if n := proxy.Cuts(); n != 2 {
				t.Fatalf("%d cuts, want 2: the task never sent %q", n, stmt)
			}
			after := sink.envelopes(t)[0]["after"].(map[string]any)
			if after["v"] != "żółw ✓" {
				t.Errorf("v = %q after reconnecting, want %q", after["v"], "żółw ✓")
			}
		})
	}
}
