package hostabi

import (
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// verdictBatch is n inserts of a five-column table, announced to in, and
// the replies of a handler setting the email of each to a MAC in hex (as
// builtin:mask does): as patches and as replaces of the whole row.
func verdictBatch(in *instance, n int) (b *engine.Batch, patch, replace []byte) {
	cust := &engine.Table{DB: "shop", Name: "customers", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "email", Kind: engine.KindString, Charset: "utf8mb4"},
		{Name: "amount", Kind: engine.KindDecimal}, {Name: "score", Kind: engine.KindDouble}, {Name: "note", Kind: engine.KindString}}}
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "bin.000001", Pos: 4}
	b = &engine.Batch{Seq: 1, Tx: tx, Begin: true}
	for i := range n {
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: cust, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i),
			After: []any{int64(i), "user@example.com", "1234.56", 0.5, "a note"}})
	}
	in.encodeBatch(b)
	var e wire.Encoder
	e.StartReply(wire.StatusOK, 0, "")
	for i := range n {
		e.StartPatch(uint32(i), "", false)
		e.String(1, maskedEmail)
		e.EndVerdict()
	}
	patch = append([]byte(nil), e.Finish()...)
	e.StartReply(wire.StatusOK, 0, "")
	for i := range n {
		e.StartVerdict(uint32(i), wire.VerdictReplace, 0, "")
		e.StartChange(&wire.ChangeHeader{Op: wire.OpInsert, TableID: 1}, false, true)
		e.StartImage(5)
		e.Int(0, int64(i))
		e.String(1, maskedEmail)
		e.String(2, "1234.56")
		e.Float(3, 0.5)
		e.String(4, "a note")
		e.EndImage()
		e.EndChange()
		e.EndVerdict()
	}
	return b, patch, e.Finish()
}

const maskedEmail = "5f3c1a0e8d2b4c6f9a7e1d3b5c7f9e2a4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"

// TestApplyPatchAllocs: applying a patch verdict that sets a text value
// costs the host no allocation per row (its new after image and the value
// are cut from blocks, engine.Values), only a few per batch.
func TestApplyPatchAllocs(t *testing.T) {
	in := testInstance()
	const rows = 64
	b, patch, _ := verdictBatch(in, rows)
	out, err := in.applyReply(b, patch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Changes[rows-1].After[1] != maskedEmail || out.Changes[rows-1].After[4] != "a note" || out.Changes[0].After[0] != int64(0) {
		t.Fatalf("patched row %v", out.Changes[rows-1].After)
	}
	if n := testing.AllocsPerRun(20, func() { in.applyReply(b, patch) }); n > 4 {
		t.Errorf("%v allocations for %d patched rows, want at most 4", n, rows)
	}
}

// BenchmarkPatch measures the host applying a handler's reply setting one
// column of each of 256 rows: as patch verdicts, and as replace verdicts
// carrying the whole row.
func BenchmarkPatch(b *testing.B) {
	in := testInstance()
	const rows = 256
	batch, patch, replace := verdictBatch(in, rows)
	for _, bc := range []struct {
		name string
		rep  []byte
	}{{"patch", patch}, {"replace", replace}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := in.applyReply(batch, bc.rep); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
