package hostabi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
)

// A batch some of whose rows fail still passes the others on under
// on_error = "dead_letter": the kv writes made for them stay, and a retry
// of the batch replaces them rather than adding to them.
func TestKVWithRowErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kvfail.wasm")
	if err := os.WriteFile(path, hostabitest.BuildGo(t, "./hostabi/testdata/kvfail"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir)
	hd, err := h.NewHandler(context.Background(), "t", plugin("kvfail", path, nil, map[string]any{"kv": true}))
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	tx := &engine.Tx{ID: "0-1-1"}
	row := func(seq uint32, status string) engine.Change {
		return engine.Change{Op: engine.OpInsert, Table: customers, Tx: tx, Seq: seq, After: []any{int64(seq), "a@b", status, "1"}}
	}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Commit: &position.Position{File: "bin.000001", Pos: 900},
		Changes: []engine.Change{row(1, "live"), row(2, "test"), row(3, "live")}}
	count := func() uint64 {
		var n uint64
		if err := wire.DecodeKV(hd.CheckpointState(1), func(k string, v []byte) { n = binary.LittleEndian.Uint64(v) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for attempt := 1; attempt <= 3; attempt++ {
		_, err := hd.Handle(context.Background(), b)
		var re *engine.RowErrors
		if !errors.As(err, &re) || len(re.Batch.Changes) != 2 || len(re.Failed) != 1 {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("after three attempts at one batch, n = %d, want 2", n)
	}
}
