package envelope

import (
	"bytes"
	"testing"
	"time"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// TestCountRendered holds countRendered, which counts the changes the host
// rendered inside Wasm, to what rendering them in Go counts: for every way
// of cutting a batch into host-rendered chunks and a rest rendered in Go,
// the rest's envelopes (total_order, data_collection_order, source.row)
// and the END event's counts come out as when Go rendered the whole batch.
// The batch mixes tables, runs of changes from one event and from several,
// DDL, updates of the key (two events with key_change = "delete_create"),
// and an event met again after another, whose numbering starts over.
func TestCountRendered(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	cols := []sdk.Column{{Name: "id", Kind: sdk.KindInt}, {Name: "v", Kind: sdk.KindString}}
	a := &sdktest.Table{DB: "shop", Name: "a", Columns: cols}
	b := &sdktest.Table{DB: "shop", Name: "b", Columns: cols}
	at := func(c sdktest.Change, file string, pos uint32) sdktest.Change {
		c.File, c.Pos = file, pos
		return c
	}
	changes := []sdktest.Change{
		at(sdktest.Insert(a, int64(1), "x"), "bin.000001", 500),
		at(sdktest.Insert(a, int64(2), "x"), "bin.000001", 500),
		at(sdktest.Update(a, []any{int64(2), "x"}, []any{int64(3), "x"}), "bin.000001", 600),
		at(sdktest.Update(a, []any{int64(3), "x"}, []any{int64(3), "y"}), "bin.000001", 600),
		at(sdktest.Insert(b, int64(1), "x"), "bin.000001", 600),
		at(sdktest.Insert(b, int64(2), "x"), "bin.000001", 600),
		{Op: sdk.OpDDL, DB: "shop", Statement: "ALTER TABLE c ADD x INT", File: "bin.000001", Pos: 700},
		at(sdktest.Delete(a, int64(1), "x"), "bin.000001", 800),
		at(sdktest.Delete(a, int64(3), "y"), "bin.000002", 800),
		at(sdktest.Insert(a, int64(4), "x"), "bin.000002", 800),
		at(sdktest.Insert(a, int64(5), "x"), "bin.000002", 800),
		at(sdktest.Insert(b, int64(3), "x"), "bin.000002", 900),
		at(sdktest.Insert(a, int64(6), "x"), "bin.000002", 800),
		at(sdktest.Insert(a, int64(7), "x"), "bin.000002", 800),
	}
	for _, flags := range []wire.EnvelopeFlags{0, wire.EnvDeleteCreate} {
		var checked int
		sdk.Sender(func(batch *sdk.Batch) error {
			tx := batch.Tx()
			c, _ := batch.Commit()
			n := batch.Len()
			now := func() time.Time { return time.Unix(1764064800, 0) }
			whole := &Encoder{Flags: flags, Now: now}
			whole.startBatch(batch)
			var want []byte
			starts := make([]int, n+1) // where change i's envelopes start
			for i := range n {
				starts[i] = len(want)
				want = whole.AppendChange(want, batch.Row(i), &tx, '\n')
			}
			starts[n] = len(want)
			want = whole.appendEnd(want, &tx, &c)
			for cut1 := range n + 1 {
				for cut2 := cut1; cut2 <= n; cut2++ {
					e := &Encoder{Flags: flags, Now: now}
					e.startBatch(batch)
					e.countRendered(batch, 0, cut1)
					e.countRendered(batch, cut1, cut2)
					got := e.appendGo(nil, batch, &tx, cut2, '\n')
					got = e.appendEnd(got, &tx, &c)
					if tail := want[starts[cut2]:]; !bytes.Equal(got, tail) {
						t.Fatalf("flags %d, counted [0,%d) and [%d,%d):\n got %s\nwant %s", flags, cut1, cut1, cut2, got, tail)
					}
					checked++
				}
			}
			return nil
		})
		if err := sdktest.InitSender("{}"); err != nil {
			t.Fatal(err)
		}
		if err := sdktest.Send(changes...); err != nil {
			t.Fatal(err)
		}
		if want := (len(changes) + 1) * (len(changes) + 2) / 2; checked != want {
			t.Fatalf("flags %d: checked %d cuts, want %d", flags, checked, want)
		}
	}
}
