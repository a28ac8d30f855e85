package jsonsink

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

// TestSendGroup: a group is written as its batches would be one by one,
// in order, transaction markers included, and Send appends after it.
func TestSendGroup(t *testing.T) {
	dir := t.TempDir()
	s, err := NewJSONL(Config{Path: "out.jsonl", Markers: true}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	table := &engine.Table{DB: "shop", Name: "items", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0},
		Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}}}
	seq := uint64(0)
	batch := func(tx *engine.Tx, begin, commit bool, ids ...int64) *engine.Batch {
		seq++
		b := &engine.Batch{Seq: seq, Tx: tx, Begin: begin}
		for i, id := range ids {
			b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: table, Seq: uint32(i + 1), Tx: tx,
				File: tx.File, Pos: tx.Pos, After: []any{id}})
		}
		if commit {
			b.Commit = &position.Position{File: tx.File, Pos: tx.Pos + 100}
		}
		return b
	}
	tx1 := &engine.Tx{ID: "0-1-1", File: "bin.000001", Pos: 4}
	tx2 := &engine.Tx{ID: "0-1-2", File: "bin.000001", Pos: 200}
	tx3 := &engine.Tx{ID: "0-1-3", File: "bin.000001", Pos: 400}
	group := []*engine.Batch{batch(tx1, true, false, 1, 2), batch(tx1, false, true, 3), batch(tx2, true, true, 4)}
	if err := s.SendGroup(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), batch(tx3, true, true, 5)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var e struct {
			Status string `json:"status"`
			ID     string `json:"id"`
			After  struct {
				ID json.RawMessage `json:"id"`
			} `json:"after"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if e.Status != "" {
			got = append(got, e.Status+" "+e.ID)
		} else {
			got = append(got, string(e.After.ID))
		}
	}
	want := "BEGIN 0-1-1,1,2,3,END 0-1-1,BEGIN 0-1-2,4,END 0-1-2,BEGIN 0-1-3,5,END 0-1-3"
	if g := strings.Join(got, ","); g != want {
		t.Fatalf("file holds\n%s\nwant\n%s", g, want)
	}
}
