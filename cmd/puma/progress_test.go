package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
)

func seconds(s float64) *float64 { return &s }

// TestStatusProgressGolden draws snapshot progress as `puma status` prints
// it; go test -update rewrites testdata/status.
func TestStatusProgressGolden(t *testing.T) {
	started := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		p    engine.SnapshotProgress
	}{
		{"initial", engine.SnapshotProgress{Kind: "initial", Started: started, ChunkRows: 2000,
			RowsRead: 512000, RowsEstimated: 1000000, RowsPerSecond: 45210.4, ETA: seconds(10.8),
			Tables: []engine.TableProgress{
				{Table: "app.a", State: "done", RowsRead: 400000, RowsEstimated: 400000, Chunks: 200, ChunksEstimated: 200, ETA: seconds(0)},
				{Table: "app.b", State: "reading", RowsRead: 112000, RowsEstimated: 300000, Chunks: 56, ChunksEstimated: 150, RowsPerSecond: 45210.4, ETA: seconds(4.2)},
				{Table: "app.customers", State: "pending", RowsEstimated: 300000, ChunksEstimated: 150},
			}}},
		{"resumed-no-rate", engine.SnapshotProgress{Kind: "initial", Started: started, ChunkRows: 100,
			RowsRead: 0, RowsEstimated: 5100,
			Tables: []engine.TableProgress{
				{Table: "s.done_before", State: "done", RowsEstimated: 5000, ChunksEstimated: 50, ETA: seconds(0), Resumed: true},
				{Table: "s.t", State: "reading", RowsEstimated: 100, ChunksEstimated: 1, Resumed: true},
				{Table: "s.empty", State: "pending"},
			}}},
		{"beyond-estimate", engine.SnapshotProgress{Kind: "incremental", ID: "9b2f", Started: started, ChunkRows: 1000,
			RowsRead: 7300, RowsEstimated: 7300, RowsPerSecond: 1200,
			Tables: []engine.TableProgress{
				{Table: "shop.orders", State: "reading", RowsRead: 7300, RowsEstimated: 7300, Chunks: 8, ChunksEstimated: 8, RowsPerSecond: 1200},
			}}},
		{"long-eta", engine.SnapshotProgress{Kind: "initial", Started: started, ChunkRows: 10000,
			RowsRead: 1, RowsEstimated: 900000000, RowsPerSecond: 120000, ETA: seconds(7499.9),
			Tables: []engine.TableProgress{
				{Table: "big.events", State: "reading", RowsRead: 1, RowsEstimated: 900000000, Chunks: 1, ChunksEstimated: 90000, RowsPerSecond: 120000, ETA: seconds(7499.9)},
			}}},
		{"finished", engine.SnapshotProgress{Kind: "initial", Started: started, Finished: started.Add(185 * time.Second), ChunkRows: 2000,
			RowsRead: 1000000, RowsEstimated: 1000000, ETA: seconds(0),
			Tables: []engine.TableProgress{
				{Table: "app.a", State: "done", RowsRead: 1000000, RowsEstimated: 1000000, Chunks: 500, ChunksEstimated: 500, ETA: seconds(0)},
			}}},
		{"cancelled", engine.SnapshotProgress{Kind: "incremental", ID: "77", Started: started, Finished: started.Add(3 * time.Second), ChunkRows: 10,
			RowsRead: 30, RowsEstimated: 60, ETA: seconds(0),
			Tables: []engine.TableProgress{
				{Table: "shop.a", State: "done", RowsRead: 20, RowsEstimated: 20, Chunks: 2, ChunksEstimated: 2, ETA: seconds(0)},
				{Table: "shop.b", State: "cancelled", RowsRead: 10, RowsEstimated: 40, Chunks: 1, ChunksEstimated: 4},
			}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			writeProgress(&out, "app", &tc.p)
			golden := filepath.Join("testdata", "status", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, out.String())
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[float64]string{0: "0s", 0.4: "0s", 59.4: "59s", 59.6: "1m00s", 185: "3m05s", 3600: "1h00m", 7499.9: "2h05m", 90061: "25h01m"} {
		if got := duration(s); got != want {
			t.Errorf("duration(%v) = %q, want %q", s, got, want)
		}
	}
	if got := eta(nil); got != "?" {
		t.Errorf("eta(nil) = %q", got)
	}
}
