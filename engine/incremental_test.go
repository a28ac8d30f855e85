package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// signalDDL is the signal table as the README documents it.
const signalDDL = `CREATE TABLE puma.signal (
	id VARCHAR(64) NOT NULL PRIMARY KEY,
	type VARCHAR(32) NOT NULL,
	data TEXT NULL)`

// itemRow is a row of s.items as a replay or the source holds it.
type itemRow struct{ v, note string }

// replayItems applies delivered envelopes of s.items, in order, by key: r
// and c insert (a later image replaces an earlier one), u replaces, d
// deletes.
func replayItems(t *testing.T, state map[string]itemRow, rows []envRow) {
	t.Helper()
	for _, r := range rows {
		if r.Table != "items" {
			continue
		}
		switch r.Op {
		case "r", "c":
			state[string(r.After["id"])] = itemRow{string(r.After["v"]), string(r.After["note"])}
		case "u":
			delete(state, string(r.Before["id"]))
			state[string(r.After["id"])] = itemRow{string(r.After["v"]), string(r.After["note"])}
		case "d":
			delete(state, string(r.Before["id"]))
		default:
			t.Fatalf("unexpected op %q on items", r.Op)
		}
	}
}

// sourceItems reads s.items as replayItems builds it.
func sourceItems(t *testing.T, srv *testdb.Server) map[string]itemRow {
	t.Helper()
	r := srv.Query(t, "SELECT id, v, note FROM s.items")
	out := make(map[string]itemRow, r.RowNumber())
	for i := range r.RowNumber() {
		id, _ := r.GetString(i, 0)
		v, _ := r.GetString(i, 1)
		note, _ := r.GetString(i, 2)
		q, _ := json.Marshal(note)
		out[id] = itemRow{v, string(q)}
	}
	return out
}

// compareItems fails for every row the replay lacks, has in excess, or
// holds with other values than the source.
func compareItems(t *testing.T, got, want map[string]itemRow) {
	t.Helper()
	bad := 0
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("row %s missing from the replay (source v=%s)", id, w.v)
		case g != w:
			t.Errorf("row %s: replay has v=%s note=%s, source v=%s note=%s (a stale image won)", id, g.v, g.note, w.v, w.note)
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("too many differences")
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("row %s replayed but not in the source", id)
		}
	}
}

// counterValue is a counter's value, 0 while it has no series.
func counterValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	f := scrape(t)[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return 0
}

// waitSnapshotDone waits until the task's incremental snapshot started
// and ended.
func waitSnapshotDone(t *testing.T, rt *runningTask, started *atomic.Bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		p := rt.task.Stats().Snapshot().IncrementalSnapshot
		if p != nil {
			started.Store(true)
		} else if started.Load() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("incremental snapshot not done: %+v", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIncrementalSnapshotUnderWrites re-snapshots a table of some thousands
// of rows while the task streams and a writer updates, deletes and inserts
// rows right where the chunk reader reads. Replaying everything delivered
// (r, c, u, d, by key, in order) must reproduce the source table value by
// value: no row missing, no snapshot image winning over a newer streamed
// change. The watermark rows are never delivered, and the chunks are
// counted in /tasks and the metrics.
func TestIncrementalSnapshotUnderWrites(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	const rows, chunk = 3000, 100
	stmts := []string{"CREATE DATABASE s", "CREATE DATABASE puma", signalDDL,
		"CREATE TABLE s.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40) NOT NULL)"}
	var values []string
	for i := range rows {
		values = append(values, fmt.Sprintf("(%d, %d, 'n%d')", i, i, i))
	}
	stmts = append(stmts, "INSERT INTO s.items VALUES "+strings.Join(values, ", "))
	srv.Exec(t, stmts...)

	sink := &capture{}
	// The signal table matches the task's tables: its rows must still not
	// be delivered.
	cfg := taskConfig(t, srv, fmt.Sprintf("tables = [\"s.*\", \"puma.*\"]\nsignal_table = \"puma.signal\"\nsnapshot_chunk_rows = %d", chunk))
	rt := startTask(t, cfg, checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	labels := map[string]string{"task": cfg.Name, "db": "s", "table": "items", "snapshot": "incremental"}
	rowsBefore := counterValue(t, "puma_snapshot_rows_total", labels)
	chunksBefore := counterValue(t, "puma_snapshot_chunks_total", labels)

	// The writer aims at the rows just after the last key read, where
	// the next chunk is read, so that changes fall between watermarks.
	ctx, stopWriter := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes atomic.Int64
	var sawReading atomic.Bool
	wg.Go(func() {
		conn, err := srv.Conn(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		next := rows
		for ctx.Err() == nil {
			base := 0
			st := rt.task.Stats().Snapshot()
			if p := st.IncrementalSnapshot; p != nil && len(p.Key) == 1 {
				base, _ = strconv.Atoi(strings.TrimPrefix(p.Key[0], "i:"))
			}
			if p := st.SnapshotProgress; p != nil && p.Kind == "incremental" && len(p.Tables) == 1 {
				if tp := p.Tables[0]; tp.State == "reading" && tp.Chunks > 0 && tp.RowsEstimated >= rows/2 {
					sawReading.Store(true)
				}
			}
			id := base + rng.IntN(2*chunk)
			var q string
			switch n := rng.IntN(10); {
			case n < 6:
				q = fmt.Sprintf("UPDATE s.items SET v = v + 1000, note = 'u%d' WHERE id = %d", writes.Load(), id)
			case n < 8:
				q = fmt.Sprintf("DELETE FROM s.items WHERE id = %d", id)
			case n < 9:
				q = fmt.Sprintf("INSERT INTO s.items VALUES (%d, %d, 'i') ON DUPLICATE KEY UPDATE v = -v", id, id)
			default:
				next++
				// The random ids above may have reached past the table's
				// end already: take the id over if so.
				q = fmt.Sprintf("INSERT INTO s.items VALUES (%d, 0, 'new') ON DUPLICATE KEY UPDATE note = 'new'", next)
			}
			if _, err := conn.Execute(q); err != nil {
				if ctx.Err() == nil {
					t.Errorf("writer: %s: %v", q, err)
				}
				return
			}
			writes.Add(1)
		}
	})
	var started atomic.Bool
	if err := rt.task.SnapshotTables(context.Background(), []string{"s.items"}); err != nil {
		t.Fatal(err)
	}
	waitSnapshotDone(t, rt, &started)
	stopWriter()
	wg.Wait()
	srv.Exec(t, "INSERT INTO s.items VALUES (1000000, 1, 'marker')")
	waitFor(t, "the marker row", func() bool {
		for _, r := range envelopeRows(t, sink) {
			if r.Op == "c" && string(r.After["id"]) == "1000000" {
				return true
			}
		}
		return false
	})
	if writes.Load() < 100 {
		t.Fatalf("the writer made only %d changes during the snapshot", writes.Load())
	}

	delivered := envelopeRows(t, sink)
	reads := 0
	for _, r := range delivered {
		switch {
		case r.Table == "signal":
			t.Fatalf("a signal table row was delivered: %+v", r)
		case r.Op == "r":
			reads++
		}
	}
	got := map[string]itemRow{}
	replayItems(t, got, delivered)
	compareItems(t, got, sourceItems(t, srv))
	for _, l := range sink.lines {
		if strings.Contains(l, `"op":"r"`) && (!strings.Contains(l, `"id":"incremental:`) || !strings.Contains(l, `"snapshot":"incremental"`)) {
			t.Fatalf("a snapshot row without an incremental: transaction id and source.snapshot incremental: %s", l)
		}
	}
	t.Logf("%d rows read, %d changes written during the snapshot", reads, writes.Load())
	if d := counterValue(t, "puma_snapshot_rows_total", labels) - rowsBefore; d != float64(reads) {
		t.Errorf("puma_snapshot_rows_total rose by %v, %d rows delivered", d, reads)
	}
	chunks := counterValue(t, "puma_snapshot_chunks_total", labels) - chunksBefore
	if chunks < rows/chunk {
		t.Errorf("puma_snapshot_chunks_total rose by %v, want at least %d", chunks, rows/chunk)
	}
	if !sawReading.Load() {
		t.Error("/tasks never showed s.items being read with an estimate of its rows")
	}
	p := rt.task.Snapshot().SnapshotProgress
	if p == nil || p.Kind != "incremental" || p.Finished.IsZero() || len(p.Tables) != 1 {
		t.Fatalf("snapshot progress after the snapshot: %+v", p)
	}
	// Rows read include those dropped for a change between watermarks.
	if tp := p.Tables[0]; tp.Table != "s.items" || tp.State != "done" || tp.RowsRead < int64(reads) || tp.Chunks != int(chunks) || tp.RowsEstimated != tp.RowsRead {
		t.Errorf("s.items after the snapshot: %+v, %d rows delivered in %v chunks", tp, reads, chunks)
	}
	if got := gaugeValue(t, "puma_snapshot_table_progress_ratio", labels); got != 1 {
		t.Errorf("puma_snapshot_table_progress_ratio = %v after the snapshot", got)
	}
}

// TestIncrementalSnapshotResumes stops a task in the middle of an
// incremental snapshot and starts it again on the same checkpoint store:
// the checkpoint carries the progress, the second run reads from the
// chunk after the last one acknowledged (not from the start), and
// replaying both runs reproduces the source. It also checks the requests
// the task refuses.
func TestIncrementalSnapshotResumes(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	const rows, chunk = 1000, 50
	stmts := []string{"CREATE DATABASE s", "CREATE DATABASE other", "CREATE DATABASE puma", signalDDL,
		"CREATE TABLE s.items (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40) NOT NULL)",
		"CREATE TABLE s.nokey (x INT, v INT)",
		"CREATE TABLE s.floaty (f DOUBLE PRIMARY KEY)",
		"CREATE TABLE other.t (id INT PRIMARY KEY)",
	}
	var values []string
	for i := range rows {
		values = append(values, fmt.Sprintf("(%d, %d, 'n%d')", i, i, i))
	}
	stmts = append(stmts, "INSERT INTO s.items VALUES "+strings.Join(values, ", "))
	srv.Exec(t, stmts...)
	store := checkpoint.NewMemStore()
	extra := fmt.Sprintf("tables = [\"s.*\"]\nsignal_table = \"puma.signal\"\nsnapshot_chunk_rows = %d\nqueue_batches = 1", chunk)

	// Run 1 acknowledges chunks slowly, so that it can be stopped in the
	// middle of the snapshot.
	first := &hookSender{before: func(b *engine.Batch) error {
		if len(b.Changes) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}}
	rt := startTaskWith(t, taskConfig(t, srv, extra), store, first)
	waitStreaming(t, rt)

	for _, tc := range []struct {
		tables []string
		want   string
	}{
		{[]string{"s.nokey"}, "no primary key"},
		{[]string{"s.floaty"}, "does not order as it compares"},
		{[]string{"other.t"}, "not a table the task reads"},
		{[]string{"s.gone"}, "s.gone"},
		{[]string{"puma.signal"}, "own signal"},
		{[]string{"items"}, "want db.table"},
		{nil, "at least one table"},
	} {
		err := rt.task.SnapshotTables(context.Background(), tc.tables)
		if !errors.Is(err, engine.ErrSnapshotRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SnapshotTables(%q): %v, want ErrSnapshotRefused saying %q", tc.tables, err, tc.want)
		}
	}

	if err := rt.task.SnapshotTables(context.Background(), []string{"s.items"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "five chunks", func() bool {
		p := rt.task.Stats().Snapshot().IncrementalSnapshot
		return p != nil && p.Chunks >= 5
	})
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	cp, err := store.Load(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	p := cp.Incremental
	if p == nil || len(p.Key) != 1 || p.Chunks < 3 || len(p.Tables) != 1 || p.Tables[0] != "s.items" {
		t.Fatalf("checkpoint after the stop holds no progress within s.items: %+v", p)
	}
	last, err := strconv.Atoi(strings.TrimPrefix(p.Key[0], "i:"))
	if err != nil {
		t.Fatalf("checkpoint key %q: %v", p.Key, err)
	}
	if last >= rows-chunk {
		t.Fatalf("the snapshot ended before the stop (last key %d)", last)
	}
	delivered := envelopeRows(t, &first.capture)

	// Between the runs: changes to rows read and rows not read yet.
	srv.Exec(t,
		"UPDATE s.items SET v = -1 WHERE id < 10",
		fmt.Sprintf("DELETE FROM s.items WHERE id = %d", last+1),
		fmt.Sprintf("UPDATE s.items SET note = 'later' WHERE id = %d", last+2),
		"INSERT INTO s.items VALUES (5000, 5000, 'new')")

	second := &capture{}
	rt = startTask(t, taskConfig(t, srv, extra), store, second)
	waitFor(t, "the snapshot's end in the checkpoint", func() bool {
		cp, err := store.Load(context.Background(), "t")
		return err == nil && cp.Incremental == nil
	})
	srv.Exec(t, "INSERT INTO s.items VALUES (1000000, 1, 'marker')")
	waitFor(t, "the marker row", func() bool {
		for _, r := range envelopeRows(t, second) {
			if r.Op == "c" && string(r.After["id"]) == "1000000" {
				return true
			}
		}
		return false
	})
	again := envelopeRows(t, second)
	var reads []int
	for _, r := range again {
		if r.Op == "r" {
			id, _ := strconv.Atoi(string(r.After["id"]))
			reads = append(reads, id)
		}
	}
	// Ids after the checkpoint's key: the rows up to 999, less the one
	// deleted, and the one inserted.
	if want := rows - 1 - last - 1 + 1; len(reads) != want || reads[0] != last+2 {
		t.Errorf("second run read %d rows from id %v, want %d from %d: it must continue after the acknowledged chunks", len(reads), reads[:min(1, len(reads))], want, last+2)
	}
	got := map[string]itemRow{}
	replayItems(t, got, delivered)
	replayItems(t, got, again)
	compareItems(t, got, sourceItems(t, srv))
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if cp, err := store.Load(context.Background(), "t"); err != nil || cp.Incremental != nil {
		t.Errorf("checkpoint after the snapshot: %+v, %v; want no incremental snapshot", cp.Incremental, err)
	}
}
