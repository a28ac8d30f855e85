package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
