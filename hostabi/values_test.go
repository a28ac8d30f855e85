package hostabi_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/wire"
)

var eventsTable = &engine.Table{DB: "shop", Name: "events", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
	{Name: "id", Kind: engine.KindInt},
	{Name: "day", Kind: engine.KindDate},
	{Name: "status", Kind: engine.KindEnum, Values: []string{"new", "paid"}},
	{Name: "score", Kind: engine.KindDouble},
	{Name: "note", Kind: engine.KindString},
}}

// eventsBatch is two inserts into eventsTable; the first row's note is
// not UTF-8, as no engine value is but a test can make one.
func eventsBatch() *engine.Batch {
	tx := &engine.Tx{ID: "0-1-9", GTID: "0-1-9", ServerID: 1, File: "bin.000001", Pos: 9000}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true}
	for i, note := range []string{"\xff", "ok"} {
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: eventsTable, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: tx.Pos + uint32(i),
			After: []any{int64(i), "2024-02-29", "new", 0.5, note}})
	}
	return b
}

// replaceReply is a raw reply replacing change 0 of eventsBatch with a row
// set by set, of the input table or (output) of an output table that
// renames it.
func replaceReply(output bool, set func(e *wire.Encoder)) []byte {
	var e wire.Encoder
	e.StartReply(wire.StatusOK, 0, "")
	id := uint32(1) // the host's id of the first table it announces
	if output {
		id = wire.OutputTable | 1
		w := &wire.Table{ID: id, Version: 1, DB: "shop", Name: "events_out", KeyKind: wire.KeyPrimary, Key: []uint16{0}}
		for _, c := range eventsTable.Columns {
			w.Columns = append(w.Columns, wire.Column{Name: c.Name, Kind: wire.Kind(c.Kind), Values: c.Values})
		}
		e.Table(w)
	}
	e.StartVerdict(0, wire.VerdictReplace, 0, "")
	e.StartChange(&wire.ChangeHeader{Op: wire.OpInsert, TableID: id}, false, true)
	e.StartImage(len(eventsTable.Columns))
	e.Int(0, 0)
	e.String(1, "2024-02-29")
	e.String(2, "new")
	e.Float(3, 0.5)
	e.String(4, "\xff")
	set(&e)
	e.EndImage()
	e.EndChange()
	e.EndVerdict()
	return e.Finish()
}

// TestReplacedValueChecked: a handler written against the raw ABI that
// replaces a row with a value its column's kind cannot hold has that
// change fail, as a plugin error naming the column and with code 3
// (CodeValue); the rest of the batch is passed on, and the instance kept.
// Values the input carried are passed on as they came.
func TestReplacedValueChecked(t *testing.T) {
	tests := []struct {
		name   string
		output bool
		set    func(e *wire.Encoder)
		err    string // "" when the reply is taken
	}{
		{name: "date", set: func(e *wire.Encoder) { e.String(1, "lots") },
			err: `change 0 (shop.events bin.000001:9000 tx 0-1-9 seq 1): error 3: the handler set shop.events.day (date) to "lots": not a date YYYY-MM-DD`},
		{name: "enum", output: true, set: func(e *wire.Encoder) { e.String(2, "lost") },
			err: `error 3: the handler set shop.events_out.status (enum) to "lost": not a member of the ENUM`},
		{name: "nan", set: func(e *wire.Encoder) { e.Float(3, math.NaN()) },
			err: `error 3: the handler set shop.events.score (double) to "NaN": not a finite number`},
		{name: "utf-8", set: func(e *wire.Encoder) { e.String(4, "\xfe") },
			err: `error 3: the handler set shop.events.note (string) to "\xfe": not valid UTF-8`},
		{name: "fits", set: func(e *wire.Encoder) { e.String(1, "0000-00-00"); e.String(2, "") }},
		// The input's own note, passed on unchanged in an output table.
		{name: "passed through", output: true, set: func(e *wire.Encoder) { e.String(2, "paid") }},
	}
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hd := rawHandler(t, h, wire.ExportABI, replaceReply(tc.output, tc.set))
			// Twice: the instance survives a refused value.
			for range 2 {
				out, err := hd.Handle(ctx, eventsBatch())
				if tc.err == "" {
					if err != nil {
						t.Fatal(err)
					}
					if len(out.Changes) != 2 {
						t.Fatalf("%d changes passed on", len(out.Changes))
					}
					continue
				}
				var re *engine.RowErrors
				if !errors.As(err, &re) || !errors.Is(err, hostabi.ErrPlugin) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v\nwant a row error saying %s", err, tc.err)
				}
				if len(re.Failed) != 1 || re.Failed[0].Seq != 1 || len(re.Batch.Changes) != 1 || re.Batch.Changes[0].Seq != 2 {
					t.Fatalf("failed %d changes, passed on %d", len(re.Failed), len(re.Batch.Changes))
				}
			}
		})
	}
}
