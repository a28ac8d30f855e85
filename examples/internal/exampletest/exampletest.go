// Package exampletest holds what the examples' tests share: input batches,
// and CheckRowCount, the test both rowcount examples pass, the Go one
// and the C one: the same batches through the real host, the same output
// expected byte for byte, and the same state across a simulated crash.
package exampletest

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
)

var (
	orders = &engine.Table{DB: "shop", Name: "orders", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: []engine.Column{
			{Name: "id", Kind: engine.KindInt},
			{Name: "note", Kind: engine.KindString, Nullable: true, Charset: "utf8mb4"},
			{Name: "amount", Kind: engine.KindDecimal},
		}}
	items = &engine.Table{DB: "shop", Name: "items", KeyKind: engine.KeyRow, Key: []int{0, 1}, Version: 2,
		Columns: []engine.Column{
			{Name: "sku", Kind: engine.KindString},
			{Name: "qty", Kind: engine.KindUint, Unsigned: true},
		}}
	truncated = &engine.Table{DB: "shop", Name: "items"}
)

// Batches returns the test's input: inserts, updates and deletes of two
// tables, a DDL, a TRUNCATE, a transaction spanning batches and a
// position-only batch, numbered from seq.
func Batches(seq uint64) []*engine.Batch {
	tx1 := &engine.Tx{ID: "0-1-10", GTID: "0-1-10", ServerID: 1, File: "bin.000001", Pos: 4}
	tx2 := &engine.Tx{ID: "0-1-11", GTID: "0-1-11", ServerID: 1, File: "bin.000001", Pos: 900}
	tx3 := &engine.Tx{ID: "0-1-12", GTID: "0-1-12", ServerID: 1, File: "bin.000001", Pos: 1200}
	ch := func(tx *engine.Tx, n uint32, op engine.Op, t *engine.Table, before, after []any) engine.Change {
		return engine.Change{Op: op, Table: t, Before: before, After: after, Seq: n, Tx: tx, Timestamp: 1764064800, File: tx.File, Pos: tx.Pos + 10*n}
	}
	o := func(id int64, note any, amount string) []any { return []any{id, note, amount} }
	return []*engine.Batch{
		{Seq: seq, Tx: tx1, Begin: true, Changes: []engine.Change{
			ch(tx1, 1, engine.OpInsert, orders, nil, o(1, "first", "10.00")),
			ch(tx1, 2, engine.OpInsert, orders, nil, o(2, nil, "0.50")),
			ch(tx1, 3, engine.OpInsert, items, nil, []any{"sku-1", uint64(3)}),
		}},
		{Seq: seq + 1, Tx: tx1, Changes: []engine.Change{
			ch(tx1, 4, engine.OpUpdate, orders, o(1, "first", "10.00"), o(1, "changed ✓", "12.00")),
			ch(tx1, 5, engine.OpDelete, orders, o(2, nil, "0.50"), nil),
		}, Commit: &position.Position{File: "bin.000001", Pos: 880, GTIDSet: "0-1-10"}, CommitTime: 1764064810},
		{Seq: seq + 2, Tx: tx2, Begin: true, Changes: []engine.Change{
			{Op: engine.OpDDL, DB: "shop", Statement: "ALTER TABLE orders ADD COLUMN x INT", Seq: 1, Tx: tx2, Timestamp: 1764064900, File: "bin.000001", Pos: 1000},
		}, Commit: &position.Position{File: "bin.000001", Pos: 1100, GTIDSet: "0-1-11"}, CommitTime: 1764064900},
		{Seq: seq + 3, Tx: tx3, Begin: true, Changes: []engine.Change{
			ch(tx3, 1, engine.OpTruncate, truncated, nil, nil),
			ch(tx3, 2, engine.OpInsert, items, nil, []any{"sku-2", uint64(1)}),
		}},
		{Seq: seq + 4, Tx: tx3, Changes: []engine.Change{
			ch(tx3, 3, engine.OpInsert, orders, nil, o(3, "third", "1")),
		}, Commit: &position.Position{File: "bin.000001", Pos: 1400, GTIDSet: "0-1-12"}, CommitTime: 1764065000},
		{Seq: seq + 5}, // position only
	}
}

// withCount returns t with the row_count column the plugin adds.
func withCount(t *engine.Table) *engine.Table {
	c := *t
	c.Columns = append(slices.Clone(t.Columns), engine.Column{Name: "row_count", Kind: engine.KindUint, Nullable: true})
	return &c
}

// Expected returns the envelope lines the plugin must pass on for bs, the
// counts starting from counts (which it updates).
func Expected(bs []*engine.Batch, counts map[string]uint64) [][]byte {
	var lines [][]byte
	var e engine.Envelopes
	for _, b := range bs {
		e.StartBatch(b, time.Unix(0, 0))
		for _, c := range b.Changes {
			if c.Table != nil {
				c.Table = withCount(c.Table)
				extend := func(img []any, v any) []any {
					if img == nil {
						return nil
					}
					return append(slices.Clone(img), v)
				}
				switch c.Op {
				case engine.OpInsert, engine.OpUpdate, engine.OpRead:
					counts[c.Table.FullName()]++
					c.Before = extend(c.Before, engine.Absent)
					c.After = extend(c.After, counts[c.Table.FullName()])
				case engine.OpDelete:
					counts[c.Table.FullName()]++
					c.Before = extend(c.Before, counts[c.Table.FullName()])
				}
			}
			lines = append(lines, e.AppendOne(nil, &c))
		}
	}
	return lines
}

// Handler starts the module as a handler granted kv.
func Handler(t *testing.T, h *hostabi.Host, path string) *hostabi.Handler {
	t.Helper()
	hd, err := h.NewHandler(context.Background(), "shop", engine.PluginConfig{
		Plugin: path, Name: "rowcount", Grants: map[string]any{"kv": true},
		Timeout: 5 * time.Second, MaxMemory: 64 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hd.Close() })
	return hd
}

// Run passes bs through hd and returns the envelope lines it passes on.
func Run(t *testing.T, hd *hostabi.Handler, bs []*engine.Batch) [][]byte {
	t.Helper()
	var lines [][]byte
	var e engine.Envelopes
	for _, b := range bs {
		out, err := hd.Handle(context.Background(), b)
		if err != nil {
			t.Fatalf("batch %d: %v", b.Seq, err)
		}
		e.StartBatch(out, time.Unix(0, 0))
		for i := range out.Changes {
			lines = append(lines, e.AppendOne(nil, &out.Changes[i]))
		}
	}
	return lines
}

func same(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d changes, want %d", what, len(got), len(want))
	}
	for i := range got {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("%s: change %d:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// Counts decodes a checkpointed state into table → count.
func Counts(t *testing.T, state []byte) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	if err := wire.DecodeKV(state, func(k string, v []byte) {
		if len(v) != 8 {
			t.Fatalf("kv %s: %d bytes, want 8", k, len(v))
		}
		m[k] = binary.LittleEndian.Uint64(v)
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// CheckRowCount runs the rowcount test on a module.
func CheckRowCount(t *testing.T, wasm []byte) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rowcount.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{})
	all := Batches(1)

	t.Run("output", func(t *testing.T) {
		same(t, "output", Run(t, Handler(t, h, path), all), Expected(all, map[string]uint64{}))
	})

	// A crash after the checkpoint covering tx1 (batch seq 2): the next
	// process restores that state and gets every later batch again. What
	// it passes on is what the first process passed on.
	t.Run("restart", func(t *testing.T) {
		first := Handler(t, h, path)
		want := Run(t, first, all)
		state := first.CheckpointState(2)
		if got := Counts(t, state); got["rows/shop.orders"] != 4 || got["rows/shop.items"] != 1 || len(got) != 2 {
			t.Fatalf("state after tx1: %v", got)
		}
		second := Handler(t, h, path)
		if err := second.RestoreState(state); err != nil {
			t.Fatal(err)
		}
		again := Batches(101)[2:]
		same(t, "after the restart", Run(t, second, again), want[5:])
		got, wantCounts := Counts(t, second.CheckpointState(105)), Counts(t, first.CheckpointState(6))
		if got["rows/shop.orders"] != 5 || got["rows/shop.items"] != 2 || len(got) != len(wantCounts) {
			t.Fatalf("final state %v, first process %v", got, wantCounts)
		}
	})

	// A transaction cut by a dropped connection is read again from its
	// first batch: the abandoned batches count for nothing.
	t.Run("abandoned transaction", func(t *testing.T) {
		hd := Handler(t, h, path)
		Run(t, hd, Batches(1)[:1])
		bs := Batches(2)
		same(t, "read again", Run(t, hd, bs), Expected(bs, map[string]uint64{}))
		if got := Counts(t, hd.CheckpointState(7)); got["rows/shop.orders"] != 5 || got["rows/shop.items"] != 2 {
			t.Fatalf("state %v", got)
		}
	})

	// A call that fails writes nothing: the batch is retried from the
	// same state.
	t.Run("failed call", func(t *testing.T) {
		hd := Handler(t, h, path)
		bs := Batches(1)
		Run(t, hd, bs[:2])
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := hd.Handle(ctx, bs[3]); err == nil {
			t.Fatal("a call with a cancelled context succeeded")
		}
		same(t, "after a failed call", Run(t, hd, bs[2:]), Expected(bs, map[string]uint64{})[5:])
	})
}
