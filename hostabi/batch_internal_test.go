package hostabi

import (
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
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
