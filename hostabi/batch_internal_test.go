package hostabi

import (
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/wire"
)

// TestEncodeBatchAllocs holds the host's ABI encoder to its promise: once
// its buffer has grown and the table is announced, encoding a batch
// allocates nothing, whatever its number of rows.
func TestEncodeBatchAllocs(t *testing.T) {
	cust := &engine.Table{DB: "shop", Name: "customers", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "email", Kind: engine.KindString, Charset: "utf8mb4"},
		{Name: "amount", Kind: engine.KindDecimal}, {Name: "score", Kind: engine.KindDouble}, {Name: "photo", Kind: engine.KindBytes}}}
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "bin.000001", Pos: 4}
	commit := &position.Position{File: "bin.000001", Pos: 9000}
	for _, rows := range []int{1, 256} {
		b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Commit: commit, CommitTime: 1764064800}
		for i := range rows {
			b.Changes = append(b.Changes, engine.Change{Op: engine.OpUpdate, Table: cust, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i), Timestamp: 1764064800,
				Before: []any{int64(i), "old@example.com", "1.00", 0.5, []byte{1, 2}},
				After:  []any{int64(i), "new@example.com", nil, 1.5, engine.Absent}})
		}
		in := &instance{ids: map[*engine.Table]uint32{}, byID: map[uint32]*engine.Table{}}
		in.encodeBatch(b)
		if n := testing.AllocsPerRun(100, func() { in.encodeBatch(b) }); n != 0 {
			t.Errorf("%d rows: %v allocations a batch, want 0", rows, n)
		}
	}
}

// BenchmarkEncodeBatch measures change → ABI batch: the host encoding a
// 256-row batch of the narrow benchmark's shape for a plugin, table
// announced.
func BenchmarkEncodeBatch(b *testing.B) {
	t := &engine.Table{DB: "bench", Name: "narrow", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindUint, Unsigned: true}, {Name: "account", Kind: engine.KindInt}, {Name: "flag", Kind: engine.KindInt},
		{Name: "amount", Kind: engine.KindDecimal}, {Name: "score", Kind: engine.KindDouble}, {Name: "email", Kind: engine.KindString},
		{Name: "name", Kind: engine.KindString}, {Name: "city", Kind: engine.KindString}, {Name: "created", Kind: engine.KindDateTime},
		{Name: "updated", Kind: engine.KindTimestamp}, {Name: "status", Kind: engine.KindEnum}, {Name: "seen", Kind: engine.KindDateTime}}}
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "mysql-bin.000001", Pos: 4}
	batch := &engine.Batch{Seq: 1, Tx: tx, Begin: true}
	for i := range 256 {
		batch.Changes = append(batch.Changes, engine.Change{Op: engine.OpInsert, Table: t, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i), Timestamp: 1764064800,
			After: []any{uint64(i), int64(i * 7), int64(1), "1234.56", 0.25, "user@example.com", "Ann Example", "Lisbon",
				"2026-11-26 04:00:00.123456", "2026-11-26 04:00:00.123", "live", "2026-11-26 04:00:01.000000"}})
	}
	in := &instance{ids: map[*engine.Table]uint32{}, byID: map[uint32]*engine.Table{}}
	in.encodeBatch(batch)
	b.ReportAllocs()
	for b.Loop() {
		in.encodeBatch(batch)
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(batch.Changes))
	b.ReportMetric(ns, "ns/row")
	b.ReportMetric(1e9/ns, "rows/s")
}

// TestEncodeBatchReadColumns: an instance that declared the columns it
// reads gets those (named regardless of case, and the key columns when
// asked), the others absent, in both images; one that declared none gets
// none; an undeclared instance gets every column.
func TestEncodeBatchReadColumns(t *testing.T) {
	tb := &engine.Table{DB: "shop", Name: "customers", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "email", Kind: engine.KindString, Charset: "utf8mb4"},
		{Name: "amount", Kind: engine.KindDecimal}, {Name: "note", Kind: engine.KindString, Charset: "utf8mb4"}}}
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{{Op: engine.OpUpdate, Table: tb, Seq: 1, Tx: tx, File: tx.File, Pos: 100,
		Before: []any{int64(1), "old@example.com", "1.00", nil},
		After:  []any{int64(1), "new@example.com", "2.00", "x"}}}}
	for _, tt := range []struct {
		name string
		proj *projection
		want string // per column of each image: v value, n NULL, - absent
	}{
		{"undeclared", nil, "vvvn vvvv"},
		{"email, any case", newProjection([]string{"EMAIL"}, false), "-v-- -v--"},
		{"note and the key", newProjection([]string{"note", "missing"}, true), "v--n v--v"},
		{"none", newProjection(nil, false), "---- ----"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &instance{ids: map[*engine.Table]uint32{}, byID: map[uint32]*engine.Table{}, caps: &caps{proj: tt.proj}}
			m, err := wire.ParseBatch(in.encodeBatch(b))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				tag, body, at, ok := m.Records.Next()
				if !ok {
					break
				}
				if tag != wire.RecChange {
					continue
				}
				c, err := wire.ParseChange(body, at)
				if err != nil {
					t.Fatal(err)
				}
				for _, im := range []wire.Image{c.Before, c.After} {
					s := ""
					for i := range im.Len() {
						switch im.Slot(i) {
						case wire.SlotAbsent:
							s += "-"
						case wire.SlotNull:
							s += "n"
						default:
							s += "v"
						}
					}
					got = append(got, s)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("images %q, want %q", g, tt.want)
			}
		})
	}
}
