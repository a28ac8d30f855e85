package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

var sink []*[64]byte

// TestRuntimeCounters checks that the window's counters see what the
// process allocates between two readings.
func TestRuntimeCounters(t *testing.T) {
	before := readRuntimeCounters()
	for range 1000 {
		sink = append(sink, new([64]byte))
	}
	d := readRuntimeCounters().sub(before)
	sink = nil
	if d.objects < 1000 || d.bytes < 64*1000 {
		t.Errorf("1000 allocations of 64 bytes counted as %d objects, %d bytes", d.objects, d.bytes)
	}
	if d.busyCPU < 0 || d.gcCPU < 0 || d.gcCPU > d.busyCPU+1e-9 && d.busyCPU > 0 {
		t.Errorf("CPU estimates gc %v busy %v", d.gcCPU, d.busyCPU)
	}
}

// TestGarbageColumns checks the report's allocation columns: medians per
// source row, and dashes for results recorded without them.
func TestGarbageColumns(t *testing.T) {
	rep := &Report{Workloads: []WorkloadResult{{Name: "narrow", Rows: 1000, BinlogBytes: 1e5, Variants: []VariantResult{
		{Name: "floor", Label: "floor", Runs: []Result{
			{Rows: 1000, Seconds: 1, Allocs: 25000, AllocBytes: 900000, GCShare: 0.04},
			{Rows: 1000, Seconds: 1, Allocs: 26000, AllocBytes: 1000000, GCShare: 0.06},
			{Rows: 1000, Seconds: 1, Allocs: 24000, AllocBytes: 800000, GCShare: 0.05},
		}},
		{Name: "filter", Label: "filtered", Runs: []Result{
			// 900 rows delivered of 1000 read: per row read.
			{Rows: 900, SourceRows: 1000, Seconds: 1, Allocs: 500, AllocBytes: 70000, GCShare: 0.2},
		}},
		{Name: "old", Label: "old", Runs: []Result{{Rows: 1000, Seconds: 1}}},
	}}}}
	var b strings.Builder
	rep.Markdown(&b)
	out := b.String()
	for _, want := range []string{
		"| allocs / row | bytes / row | GC share |",
		"| 25.00 | 900 | 5% |",
		"| 0.50 | 70 | 20% |",
		"| old | 1\u202f000 | 1\u202f000–1\u202f000 | – | 0 | 0.00 | – | 0 MiB | 0 ms | 0.00 | n/a | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestDecodeVariant runs the floor and the decode variant over one range
// of a real binary log: both must count every row, inserts and updates,
// and Puma's decoder must allocate less per row than go-mysql's.
func TestDecodeVariant(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	start := masterPos(t, srv)
	srv.Exec(t,
		"CREATE DATABASE "+DB,
		"CREATE TABLE "+DB+".t (id BIGINT UNSIGNED PRIMARY KEY, n INT, d DECIMAL(12,2), s VARCHAR(40), ts DATETIME(6))",
	)
	var stmts []string
	for tx := range 20 {
		var vals []string
		for i := range 50 {
			id := tx*50 + i + 1
			vals = append(vals, fmt.Sprintf("(%d, %d, %d.25, 'row %d', '2026-12-07 03:00:%02d.123456')", id, -id, id, id, id%60))
		}
		stmts = append(stmts, "INSERT INTO "+DB+".t VALUES "+strings.Join(vals, ","))
	}
	stmts = append(stmts, "UPDATE "+DB+".t SET n = n + 1 WHERE id <= 100")
	srv.Exec(t, stmts...)
	end := masterPos(t, srv)
	const want = 20*50 + 100

	perRow := map[string]float64{}
	for i, name := range []string{"floor", "decode"} {
		spec := Spec{Workload: "narrow", Variant: name, Addr: srv.Addr(), Table: DB + ".t", Start: start, End: &end,
			ServerID: 51000 + uint32(i), Dir: t.TempDir(), Timeout: time.Minute}
		res, err := RunChild(context.Background(), spec, strings.NewReader(""), &strings.Builder{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Rows != want {
			t.Errorf("%s counted %d rows, want %d", name, res.Rows, want)
		}
		if res.Allocs == 0 || res.AllocBytes == 0 {
			t.Errorf("%s: no allocations counted", name)
		}
		perRow[name] = float64(res.Allocs) / want
	}
	// go-mysql boxes every value (~2 allocations a column); Puma's
	// decoder cuts rows and values from blocks.
	if perRow["decode"] >= perRow["floor"]/2 {
		t.Errorf("allocations per row: decode %.2f, floor %.2f; want decode under half the floor's", perRow["decode"], perRow["floor"])
	}
}

func masterPos(t *testing.T, srv *testdb.Server) Pos {
	t.Helper()
	r := srv.Query(t, "SHOW MASTER STATUS")
	file, err := r.GetString(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := r.GetUint(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return Pos{File: strings.Clone(file), Pos: uint32(pos)}
}
