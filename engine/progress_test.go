package engine_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// gaugeValue is a gauge's value; the test fails when it has no series.
func gaugeValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return series(t, scrape(t), name, labels).GetGauge().GetValue()
}

func progressTable(t *testing.T, p *engine.SnapshotProgress, name string) engine.TableProgress {
	t.Helper()
	for _, tp := range p.Tables {
		if tp.Table == name {
			return tp
		}
	}
	t.Fatalf("no %s in the snapshot progress %+v", name, p)
	return engine.TableProgress{}
}

// TestSnapshotProgressReported follows an initial snapshot in the task's
// status and metrics: mid-way the table being read shows its rows and
// chunks read of TABLE_ROWS's estimate and the next one pending; at the
// end every table is done with exact counts.
func TestSnapshotProgressReported(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	const big, small, chunk = 1000, 10, 100
	srv.Exec(t, "CREATE DATABASE s",
		"CREATE TABLE s.big (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE s.small (id INT PRIMARY KEY, v INT)",
		fmt.Sprintf("INSERT INTO s.big SELECT seq, seq FROM s.seq_1_to_%d", big),
		fmt.Sprintf("INSERT INTO s.small SELECT seq, seq FROM s.seq_1_to_%d", small))

	// The sender holds the third chunk until released: with queues of one
	// batch the snapshot is within s.big meanwhile.
	release := make(chan struct{})
	var held atomic.Bool
	chunks := 0
	sink := &hookSender{before: func(b *engine.Batch) error {
		if len(b.Changes) > 0 {
			if chunks++; chunks == 3 {
				held.Store(true)
				<-release
			}
		}
		return nil
	}}
	cfg := taskConfig(t, srv, fmt.Sprintf("tables = [\"s.*\"]\nsnapshot = \"initial\"\nsnapshot_chunk_rows = %d\nqueue_batches = 1", chunk))
	rt := startTaskWith(t, cfg, checkpoint.NewMemStore(), sink)
	waitFor(t, "the third chunk", held.Load)

	p := rt.task.Snapshot().SnapshotProgress
	if p == nil || p.Kind != "initial" || !p.Finished.IsZero() || p.ChunkRows != chunk {
		t.Fatalf("progress mid-way: %+v", p)
	}
	b, s := progressTable(t, p, "s.big"), progressTable(t, p, "s.small")
	if b.State != "reading" || b.Chunks < 3 || b.RowsRead != int64(b.Chunks*chunk) || b.RowsRead >= big {
		t.Errorf("s.big mid-way: %+v", b)
	}
	// TABLE_ROWS is an estimate: it need only be in the right range.
	if b.RowsEstimated < big/2 || b.RowsEstimated > 2*big || b.ChunksEstimated != int((b.RowsEstimated+chunk-1)/chunk) {
		t.Errorf("s.big estimates: %+v, want about %d rows", b, big)
	}
	if s.State != "pending" || s.RowsRead != 0 || s.RowsEstimated == 0 {
		t.Errorf("s.small mid-way: %+v", s)
	}
	if p.RowsRead != b.RowsRead || p.RowsEstimated != b.RowsEstimated+s.RowsEstimated {
		t.Errorf("progress totals: %+v", p)
	}
	labels := map[string]string{"task": cfg.Name, "db": "s", "table": "big", "snapshot": "initial"}
	if got := gaugeValue(t, "puma_snapshot_table_rows_estimated", labels); got != float64(b.RowsEstimated) {
		t.Errorf("puma_snapshot_table_rows_estimated = %v, /tasks says %d", got, b.RowsEstimated)
	}
	if got := gaugeValue(t, "puma_snapshot_table_progress_ratio", labels); got <= 0 || got >= 1 {
		t.Errorf("puma_snapshot_table_progress_ratio = %v mid-way", got)
	}
	if got := gaugeValue(t, "puma_snapshot_eta_seconds", map[string]string{"task": cfg.Name}); got == 0 {
		t.Errorf("puma_snapshot_eta_seconds = 0 mid-way, want a time or -1")
	}

	close(release)
	waitStreaming(t, rt)
	p = rt.task.Snapshot().SnapshotProgress
	if p.Finished.IsZero() || p.RowsRead != big+small || p.RowsEstimated != big+small || p.ETA == nil || *p.ETA != 0 {
		t.Fatalf("progress at the end: %+v", p)
	}
	for name, rows := range map[string]int64{"s.big": big, "s.small": small} {
		tp := progressTable(t, p, name)
		if tp.State != "done" || tp.RowsRead != rows || tp.RowsEstimated != rows || tp.Chunks != int((rows+chunk-1)/chunk) || tp.ChunksEstimated != tp.Chunks {
			t.Errorf("%s at the end: %+v", name, tp)
		}
	}
	if got := gaugeValue(t, "puma_snapshot_table_progress_ratio", labels); got != 1 {
		t.Errorf("puma_snapshot_table_progress_ratio = %v at the end", got)
	}
	if got := gaugeValue(t, "puma_snapshot_table_chunks_estimated", labels); got != big/chunk {
		t.Errorf("puma_snapshot_table_chunks_estimated = %v at the end, want %d", got, big/chunk)
	}
	if got := gaugeValue(t, "puma_snapshot_eta_seconds", map[string]string{"task": cfg.Name}); got != 0 {
		t.Errorf("puma_snapshot_eta_seconds = %v after the snapshot", got)
	}
}
