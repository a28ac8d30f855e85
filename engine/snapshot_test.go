package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestSnapshotMatchesStream holds the snapshot to the exactness rule: for
// every table of the all-types suite, the row a snapshot reads equals,
// value by value, the row the binary log delivered for the same insert,
// and so do its key and key kind.
func TestSnapshotMatchesStream(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	tables := typeTables()
	stmts := []string{"CREATE DATABASE ty CHARACTER SET utf8mb4"}
	total := 0
	for _, tt := range tables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE ty.%s (id INT PRIMARY KEY, %s)", tt.name, tt.cols))
		total += len(tt.rows)
	}
	srv.Exec(t, stmts...)
	streamed := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["ty.*"]`), checkpoint.NewMemStore(), streamed)
	waitStreaming(t, rt)
	for _, tt := range tables {
		stmts := slices.Clone(tt.setup)
		for i, r := range tt.rows {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO ty.%s VALUES (%d, %s)", tt.name, i+1, r.values))
		}
		srv.Exec(t, stmts...)
	}
	waitFor(t, fmt.Sprintf("%d streamed rows", total), func() bool { return streamed.count() >= total })

	// A chunk size that splits most tables: keyset pagination is exercised
	// too.
	snap := &capture{}
	st := startTask(t, taskConfig(t, srv, "tables = [\"ty.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 2"), checkpoint.NewMemStore(), snap)
	if err := waitDone(t, st); err != nil {
		t.Fatalf("snapshot task: %v", err)
	}
	index := func(rows []envRow) map[string]envRow {
		m := make(map[string]envRow)
		for _, r := range rows {
			m[r.Table+"/"+string(r.After["id"])] = r
		}
		return m
	}
	want := index(envelopeRows(t, streamed))
	gotRows := envelopeRows(t, snap)
	if len(gotRows) != total {
		t.Fatalf("snapshot delivered %d rows, want %d", len(gotRows), total)
	}
	for _, r := range gotRows {
		if r.Op != "r" {
			t.Errorf("%s: op %q, want r", r.Table, r.Op)
		}
	}
	got := index(gotRows)
	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.rows {
				k := fmt.Sprintf("%s/%d", tt.name, i+1)
				g, ok := got[k]
				if !ok {
					t.Fatalf("row %d not in the snapshot", i+1)
				}
				w := want[k]
				compareImage(t, fmt.Sprintf("row %d (%s)", i+1, truncateStr(tt.rows[i].values, 60)), g.After, w.After)
				compareImage(t, fmt.Sprintf("row %d key", i+1), g.Key, w.Key)
				if g.KeyKind != w.KeyKind {
					t.Errorf("row %d: key kind %q, streamed %q", i+1, g.KeyKind, w.KeyKind)
				}
			}
		})
	}
	for _, l := range snap.lines {
		if !strings.Contains(l, `"snapshot":"true"`) {
			t.Fatalf("snapshot row without source.snapshot true: %s", l)
		}
	}
}

// waitDone waits for a task that stops by itself (snapshot = "initial_only").
func waitDone(t *testing.T, rt *runningTask) error {
	t.Helper()
	select {
	case err := <-rt.done:
		close(rt.done)
		return err
	case <-time.After(120 * time.Second):
		t.Fatal("task did not stop by itself")
	}
	return nil
}

// hookSender runs before for every batch, then records it as capture does
// unless before returned an error.
type hookSender struct {
	capture
	before func(b *engine.Batch) error
}

func (h *hookSender) Send(ctx context.Context, b *engine.Batch) error {
	if err := h.before(b); err != nil {
		return err
	}
	return h.capture.Send(ctx, b)
}

// snapshotTables are the tables of the convergence test, with the columns
// that identify a row of each (a table without a key: all of them).
var snapshotTables = map[string][]string{
	"comp":  {"a", "b"},
	"nokey": {"x", "v"},
	"plain": {"id"},
}

// replay applies delivered envelopes, in order, to an image of the source
// tables: r and c insert, u replaces its before image by its after image,
// d deletes.
func replay(t *testing.T, state map[string]map[string]map[string]json.RawMessage, rows []envRow) {
	t.Helper()
	key := func(table string, img map[string]json.RawMessage) string {
		var parts []string
		for _, c := range snapshotTables[table] {
			parts = append(parts, string(img[c]))
		}
		return strings.Join(parts, "|")
	}
	for _, r := range rows {
		if state[r.Table] == nil {
			state[r.Table] = make(map[string]map[string]json.RawMessage)
		}
		tbl := state[r.Table]
		switch r.Op {
		case "r", "c":
			tbl[key(r.Table, r.After)] = r.After
		case "u":
			delete(tbl, key(r.Table, r.Before))
			tbl[key(r.Table, r.After)] = r.After
		case "d":
			delete(tbl, key(r.Table, r.Before))
		default:
			t.Fatalf("unexpected op %q on %s", r.Op, r.Table)
		}
	}
}

// sourceState reads the source tables as replay builds them (integers as
// JSON numbers, text as JSON strings).
func sourceState(t *testing.T, srv *testdb.Server) map[string]map[string]map[string]json.RawMessage {
	t.Helper()
	out := make(map[string]map[string]map[string]json.RawMessage)
	for table, keyCols := range snapshotTables {
		r := srv.Query(t, "SELECT * FROM s."+table)
		out[table] = make(map[string]map[string]json.RawMessage)
		for i := range r.RowNumber() {
			row := make(map[string]json.RawMessage)
			for j, f := range r.Fields {
				s, _ := r.GetString(i, j)
				if null, _ := r.IsNull(i, j); null {
					row[string(f.Name)] = json.RawMessage("null")
				} else if name := string(f.Name); table == "comp" && name == "b" || table == "nokey" && name == "v" {
					row[string(f.Name)], _ = json.Marshal(s)
				} else {
					row[string(f.Name)] = json.RawMessage(s)
				}
			}
			var parts []string
			for _, c := range keyCols {
				parts = append(parts, string(row[c]))
			}
			out[table][strings.Join(parts, "|")] = row
		}
	}
	return out
}

// TestSnapshotResumesAndConverges stops a snapshot after a few chunks,
// changes rows already delivered and rows still to read, resumes it (at a
// new consistent point) while a writer changes rows again, and checks that
// the resumed run starts at the next chunk and that replaying everything
// delivered (op r, c, u, d) reproduces the source tables exactly.
func TestSnapshotResumesAndConverges(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE s",
		"CREATE TABLE s.comp (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
		"CREATE TABLE s.nokey (x INT, v VARCHAR(10))",
		"CREATE TABLE s.plain (id INT PRIMARY KEY, v INT)",
	}
	total := 0
	for i := range 20 {
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO s.comp VALUES (%d, 'k%d', %d), (%d, 'K%d', %d)", i%4, i, i, i%4, i+100, i),
			fmt.Sprintf("INSERT INTO s.plain VALUES (%d, %d)", i, i))
		total += 3
	}
	for i := range 5 {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO s.nokey VALUES (%d, 'n%d')", i, i))
		total++
	}
	srv.Exec(t, stmts...)
	store := checkpoint.NewMemStore()
	extra := "tables = [\"s.*\"]\nsnapshot = \"initial\"\nsnapshot_chunk_rows = 3"

	// Run 1 fails for good on its fifth chunk.
	first := failingAtChunk(5)
	rt := startTaskWith(t, taskConfig(t, srv, extra), store, first)
	if err := waitDone(t, rt); err == nil || !strings.Contains(err.Error(), "for good") {
		t.Fatalf("first run: %v, want the sender's error", err)
	}
	cp, err := store.Load(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Position.Snapshot == nil || cp.Position.Snapshot.Table == "" || len(cp.Position.Snapshot.Key) == 0 {
		t.Fatalf("checkpoint after the failure has no progress within a table: %+v", cp.Position)
	}
	delivered := envelopeRows(t, &first.capture)
	if len(delivered) != 12 {
		t.Fatalf("first run delivered %d rows, want 4 chunks of 3", len(delivered))
	}

	// Between the runs: change rows already delivered and rows not read.
	srv.Exec(t,
		"UPDATE s.comp SET v = v + 1000 WHERE a = 0",
		"DELETE FROM s.comp WHERE a = 3 AND v < 5",
		"INSERT INTO s.comp VALUES (0, 'a-new', 1)",
		"UPDATE s.plain SET v = -v WHERE id % 3 = 0",
		"DELETE FROM s.plain WHERE id = 1",
		"UPDATE s.nokey SET v = 'changed' WHERE x = 2")

	// Run 2 blocks on its first chunk until a writer changed rows again;
	// with queues of one batch the snapshot is still reading then.
	release := make(chan struct{})
	var blocked atomic.Bool
	second := &hookSender{before: func(b *engine.Batch) error {
		if len(b.Changes) > 0 && !blocked.Load() {
			blocked.Store(true)
			<-release
		}
		return nil
	}}
	rt = startTaskWith(t, taskConfig(t, srv, extra+"\nqueue_batches = 1"), store, second)
	waitFor(t, "the resumed snapshot's first chunk", func() bool {
		return rt.task.Stats().Snapshot().State == "snapshot" && blocked.Load()
	})
	// /tasks says where it resumed: within the checkpoint's table, its
	// counts from the restart.
	p := rt.task.Snapshot().SnapshotProgress
	if p == nil || len(p.Tables) != 3 {
		t.Fatalf("resumed snapshot's progress: %+v", p)
	}
	for _, tp := range p.Tables {
		switch {
		case tp.Table == cp.Position.Snapshot.Table:
			if tp.State != "reading" || !tp.Resumed || tp.RowsRead >= int64(total) {
				t.Errorf("%s, resumed within: %+v", tp.Table, tp)
			}
		case slices.Contains(cp.Position.Snapshot.Done, tp.Table):
			if tp.State != "done" || !tp.Resumed {
				t.Errorf("%s, read before the restart: %+v", tp.Table, tp)
			}
		case tp.State != "pending" || tp.Resumed:
			t.Errorf("%s, not read yet: %+v", tp.Table, tp)
		}
	}
	srv.Exec(t,
		"UPDATE s.comp SET v = v + 1 WHERE a IN (1, 2)",
		"DELETE FROM s.comp WHERE b = 'k19'",
		"INSERT INTO s.plain VALUES (100, 100)",
		"UPDATE s.plain SET v = 7 WHERE id = 19",
		"DELETE FROM s.nokey WHERE x = 4",
		"INSERT INTO s.nokey VALUES (9, 'late')")
	close(release)
	srv.Exec(t, "INSERT INTO s.plain VALUES (999, 999)")
	waitFor(t, "the marker row", func() bool {
		for _, r := range envelopeRows(t, &second.capture) {
			if r.Table == "plain" && string(r.After["id"]) == "999" {
				return true
			}
		}
		return false
	})
	again := envelopeRows(t, &second.capture)
	reads := 0
	for _, r := range again {
		if r.Op == "r" {
			reads++
		}
	}
	if reads >= total-9 {
		t.Errorf("resumed snapshot read %d rows; the first run's acknowledged chunks should not be read again", reads)
	}
	state := make(map[string]map[string]map[string]json.RawMessage)
	replay(t, state, delivered)
	replay(t, state, again)
	want := sourceState(t, srv)
	for table := range snapshotTables {
		for k, w := range want[table] {
			g, ok := state[table][k]
			if !ok {
				t.Errorf("%s row %s missing from the replay", table, k)
				continue
			}
			compareImage(t, table+" row "+k, g, w)
		}
		for k := range state[table] {
			if _, ok := want[table][k]; !ok {
				t.Errorf("%s row %s replayed but not in the source", table, k)
			}
		}
	}
}

// plainRows creates s.plain (id INT PRIMARY KEY, v INT) with rows ids 0
// to n-1, v = 7 × id.
func plainRows(t *testing.T, srv *testdb.Server, n int) {
	t.Helper()
	stmts := []string{"CREATE DATABASE s", "CREATE TABLE s.plain (id INT PRIMARY KEY, v INT)"}
	for i := range n {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO s.plain VALUES (%d, %d)", i, i*7))
	}
	srv.Exec(t, stmts...)
}

// TestSnapshotIDsNameOneRow resumes a snapshot at the same consistent
// point (the source is quiet between the runs) and checks the idempotency
// key of r rows: a tx.id and seq seen in both runs names the same row
// image, so a consumer de-duplicating by them still ends with every row.
func TestSnapshotIDsNameOneRow(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	plainRows(t, srv, 30)
	store := checkpoint.NewMemStore()
	extra := "tables = [\"s.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 4"
	first := failingAtChunk(3)
	if err := waitDone(t, startTaskWith(t, taskConfig(t, srv, extra), store, first)); err == nil {
		t.Fatal("first run: no error, want the sender's")
	}
	second := &capture{}
	if err := waitDone(t, startTaskWith(t, taskConfig(t, srv, extra), store, second)); err != nil {
		t.Fatalf("second run: %v", err)
	}
	type idRow struct {
		Op    string                     `json:"op"`
		After map[string]json.RawMessage `json:"after"`
		Puma  struct {
			Tx struct {
				ID  string `json:"id"`
				Seq int    `json:"seq"`
			} `json:"tx"`
		} `json:"puma"`
	}
	images := map[string]string{} // tx.id/seq -> row
	rows := map[string]string{}   // id -> v, de-duplicated by tx.id/seq
	for _, l := range append(slices.Clone(first.lines), second.lines...) {
		var r idRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Op != "r" {
			continue
		}
		if !strings.HasPrefix(r.Puma.Tx.ID, "snapshot:") {
			t.Fatalf("r row tx.id %q, want snapshot:…", r.Puma.Tx.ID)
		}
		k := fmt.Sprintf("%s/%d", r.Puma.Tx.ID, r.Puma.Tx.Seq)
		img := string(r.After["id"]) + "=" + string(r.After["v"])
		if prev, ok := images[k]; ok {
			if prev != img {
				t.Fatalf("idempotency key %s names two rows: %s and %s", k, prev, img)
			}
			continue
		}
		images[k] = img
		rows[string(r.After["id"])] = string(r.After["v"])
	}
	if len(first.lines) == 0 {
		t.Fatal("the first run delivered nothing")
	}
	for i := range 30 {
		if v := rows[strconv.Itoa(i)]; v != strconv.Itoa(i*7) {
			t.Errorf("row %d: de-duplicated replay has v %q, want %d", i, v, i*7)
		}
	}
}

// TestSnapshotChunkInBatches: a chunk larger than batch_rows is one
// transaction handed down in batches of at most batch_rows, as a large
// streamed transaction is: one tx.id, seq counting on across its batches,
// Begin on the first, Commit (and with it the chunk's progress) on the
// last only. A run failing on a chunk's first batch leaves the checkpoint
// at the previous chunk's last key, and the next run reads that chunk
// again, whole, and nothing before it.
func TestSnapshotChunkInBatches(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	plainRows(t, srv, 10)
	extra := "tables = [\"s.*\"]\nsnapshot = \"initial_only\"\nsnapshot_chunk_rows = 4\nbatch_rows = 3"

	// One batch as the sender saw it.
	type seen struct {
		begin, commit bool
		tx            string
		ids           []string
		seqs          []uint32
		key           []string
	}
	record := func(b *engine.Batch) seen {
		var s seen
		if len(b.Changes) == 0 {
			return s
		}
		s.begin, s.commit, s.tx = b.Begin, b.Commit != nil, b.Tx.ID
		if b.Commit != nil && b.Commit.Snapshot != nil {
			s.key = b.Commit.Snapshot.Key
		}
		for _, c := range b.Changes {
			s.ids = append(s.ids, fmt.Sprint(c.After[0]))
			s.seqs = append(s.seqs, c.Seq)
		}
		return s
	}
	var whole []seen
	all := &hookSender{before: func(b *engine.Batch) error {
		if len(b.Changes) > 0 {
			whole = append(whole, record(b))
		}
		return nil
	}}
	if err := waitDone(t, startTaskWith(t, taskConfig(t, srv, extra), checkpoint.NewMemStore(), all)); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	want := []struct {
		begin, commit bool
		ids           string
		key           string
	}{
		{true, false, "0 1 2", ""}, {false, true, "3", "i:3"},
		{true, false, "4 5 6", ""}, {false, true, "7", "i:7"},
		{true, true, "8 9", "i:9"},
	}
	if len(whole) != len(want) {
		t.Fatalf("the snapshot came in %d batches with rows, want %d: %+v", len(whole), len(want), whole)
	}
	for i, w := range want {
		g := whole[i]
		if g.begin != w.begin || g.commit != w.commit || strings.Join(g.ids, " ") != w.ids || strings.Join(g.key, ",") != w.key {
			t.Errorf("batch %d: begin %v, commit %v, ids %v, progress key %v; want %+v", i+1, g.begin, g.commit, g.ids, g.key, w)
		}
		first := i
		if !w.begin {
			first = i - 1
			if g.tx != whole[first].tx {
				t.Errorf("batch %d: tx.id %s, the batch opening its chunk has %s", i+1, g.tx, whole[first].tx)
			}
		} else if i > 0 && g.tx == whole[i-1].tx {
			t.Errorf("batch %d opens a chunk with the previous chunk's tx.id %s", i+1, g.tx)
		}
		for j, seq := range g.seqs {
			if want := uint32(j + 1 + 3*(i-first)); seq != want {
				t.Errorf("batch %d, row %d: seq %d, want %d", i+1, j+1, seq, want)
			}
		}
	}

	// Fail on the first batch of the second chunk: the first chunk is
	// acknowledged, the second is not.
	store := checkpoint.NewMemStore()
	cp := failedRun(t, taskConfig(t, srv, extra), store, failingAtChunk(3))
	if p := cp.Position.Snapshot; p == nil || p.Table != "s.plain" || strings.Join(p.Key, ",") != "i:3" {
		t.Fatalf("checkpoint after a failure within the second chunk: %+v, want s.plain after key i:3", cp.Position.Snapshot)
	}
	resumed := &capture{}
	if err := waitDone(t, startTaskWith(t, taskConfig(t, srv, extra), store, resumed)); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	var ids []string
	for _, r := range snapReads(t, resumed) {
		var img struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal([]byte(r.After), &img); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(img.ID))
	}
	if got := strings.Join(ids, " "); got != "4 5 6 7 8 9" {
		t.Fatalf("the resumed run read rows %s, want 4 to 9", got)
	}
}

// TestSnapshotWhenNeeded: with snapshot = "when_needed" a task without a
// checkpoint snapshots, and a task whose checkpoint the source no longer
// serves (its binary logs purged while the task was stopped) snapshots
// again instead of failing, counts it, and then streams: replaying what
// the second run delivered reproduces the source tables.
func TestSnapshotWhenNeeded(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	stmts := []string{"CREATE DATABASE s",
		"CREATE TABLE s.comp (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
		"CREATE TABLE s.nokey (x INT, v VARCHAR(10))",
		"CREATE TABLE s.plain (id INT PRIMARY KEY, v INT)",
	}
	for i := range 20 {
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO s.comp VALUES (%d, 'k%d', %d)", i%4, i, i),
			fmt.Sprintf("INSERT INTO s.plain VALUES (%d, %d)", i, i))
	}
	stmts = append(stmts, "INSERT INTO s.nokey VALUES (1, 'one'), (2, 'two')")
	srv.Exec(t, stmts...)
	store := checkpoint.NewMemStore()
	cfg := taskConfig(t, srv, "tables = [\"s.*\"]\nsnapshot = \"when_needed\"\nsnapshot_chunk_rows = 7")
	resnapshots := func() float64 {
		return series(t, scrape(t), "puma_snapshots_when_needed_total", map[string]string{"task": cfg.Name}).GetCounter().GetValue()
	}

	first := &capture{}
	rt := startTask(t, cfg, store, first)
	waitStreaming(t, rt)
	if n := len(envelopeRows(t, first)); n != 42 {
		t.Fatalf("first run read %d rows, want the 42 in the tables", n)
	}
	before := resnapshots()
	srv.Exec(t, "INSERT INTO s.plain VALUES (100, 100)")
	waitFor(t, "the streamed insert", func() bool { return first.count() == 43 })
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// While stopped: changes, then the binary logs holding them are purged.
	srv.Exec(t,
		"UPDATE s.plain SET v = -v WHERE id % 3 = 0",
		"DELETE FROM s.plain WHERE id = 1",
		"INSERT INTO s.plain VALUES (200, 200)",
		"UPDATE s.comp SET v = v + 1000 WHERE a = 0",
		"DELETE FROM s.nokey WHERE x = 1",
		"FLUSH BINARY LOGS")
	files := srv.BinlogFiles(t)
	last := files[len(files)-1]
	waitFor(t, "PURGE BINARY LOGS to leave only "+last, func() bool {
		srv.Exec(t, "PURGE BINARY LOGS TO '"+last+"'")
		return slices.Equal(srv.BinlogFiles(t), []string{last})
	})

	second := &capture{}
	rt = startTask(t, cfg, store, second)
	waitStreaming(t, rt)
	srv.Exec(t,
		"UPDATE s.plain SET v = 7 WHERE id = 19",
		"DELETE FROM s.comp WHERE b = 'k19'",
		"INSERT INTO s.nokey VALUES (9, 'late')",
		"INSERT INTO s.plain VALUES (999, 999)")
	waitFor(t, "the marker row", func() bool {
		for _, r := range envelopeRows(t, second) {
			if r.Table == "plain" && string(r.After["id"]) == "999" {
				return true
			}
		}
		return false
	})
	if err := rt.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := resnapshots() - before; got != 1 {
		t.Errorf("puma_snapshots_when_needed_total rose by %v, want 1", got)
	}
	rows := envelopeRows(t, second)
	if len(rows) == 0 || rows[0].Op != "r" {
		t.Fatalf("second run did not start with a snapshot: %+v", rows[:min(len(rows), 1)])
	}
	state := make(map[string]map[string]map[string]json.RawMessage)
	replay(t, state, rows)
	want := sourceState(t, srv)
	for table := range snapshotTables {
		for k, w := range want[table] {
			g, ok := state[table][k]
			if !ok {
				t.Errorf("%s row %s missing from the replay", table, k)
				continue
			}
			compareImage(t, table+" row "+k, g, w)
		}
		for k := range state[table] {
			if _, ok := want[table][k]; !ok {
				t.Errorf("%s row %s replayed but not in the source", table, k)
			}
		}
	}
}

// TestSnapshotOddNames snapshots a table whose database and table names
// hold a quote, a backslash and a non-ASCII letter: the catalog's
// information_schema queries (sent as text, not prepared) find it, its
// MariaDB JSON column is recognised by its CHECK, and its rows arrive
// under its own names.
func TestSnapshotOddNames(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE `o'd` CHARACTER SET utf8mb4",
		"CREATE TABLE `o'd`.`t\\ä'x` (id INT PRIMARY KEY, j JSON)",
		"INSERT INTO `o'd`.`t\\ä'x` VALUES (1, '{\"a\": 1}'), (2, '[true]')")
	snap := &capture{}
	st := startTask(t, taskConfig(t, srv, "tables = [\"o'd.*\"]\nsnapshot = \"initial_only\""), checkpoint.NewMemStore(), snap)
	if err := waitDone(t, st); err != nil {
		t.Fatalf("snapshot task: %v", err)
	}
	rows := envelopeRows(t, snap)
	if len(rows) != 2 {
		t.Fatalf("snapshot delivered %d rows, want 2", len(rows))
	}
	for i, want := range []string{`{"a": 1}`, `[true]`} {
		r := rows[i]
		if r.DB != "o'd" || r.Table != `t\ä'x` || r.Op != "r" {
			t.Errorf("row %d: %s.%s op %s, want o'd.t\\ä'x op r", i, r.DB, r.Table, r.Op)
		}
		if got := string(r.After["j"]); got != want {
			t.Errorf("row %d: j = %s, want the JSON value %s", i, got, want)
		}
	}
}
