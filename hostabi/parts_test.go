package hostabi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
)

// TestEmittedParts: rows a handler emits from one change are numbered
// parts 1..n, renumbered when a later handler splits them again, so that
// (tx.id, seq, part) stays an idempotency key; the envelope carries the
// part, and the plugin cannot choose it.
func TestEmittedParts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "split.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/split"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir)
	ctx := context.Background()
	var hs []*hostabi.Handler
	for i := range 2 {
		hd, err := h.NewHandler(ctx, "t", plugin(fmt.Sprintf("split%d", i), filepath.Join(dir, "split.wasm"), nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer hd.Close()
		hs = append(hs, hd)
	}
	tx := &engine.Tx{ID: "0-1-9", GTID: "0-1-9", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: customers, Seq: 1, Tx: tx, After: []any{int64(1), "ann@example.com", "live", "1.00"}},
		{Op: engine.OpInsert, Table: customers, Seq: 2, Tx: tx, After: []any{int64(2), "bob@example.com", "live", "2.00"}},
	}}
	once, err := hs[0].Handle(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := hs[1].Handle(ctx, once)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, out *engine.Batch, per int) {
		t.Helper()
		if len(out.Changes) != 2*per {
			t.Fatalf("%s: %d changes, want %d", name, len(out.Changes), 2*per)
		}
		for i, c := range out.Changes {
			if want := uint32(i/per + 1); c.Seq != want || c.Part != uint16(i%per+1) {
				t.Errorf("%s: change %d is seq %d part %d, want seq %d part %d", name, i, c.Seq, c.Part, want, i%per+1)
			}
		}
	}
	check("one split", once, 2)
	check("two splits", twice, 4)
	var e engine.Envelopes
	e.StartBatch(twice, time.Now())
	if env := e.AppendOne(nil, &twice.Changes[3]); !bytes.Contains(env, []byte(`"puma":{"tx":{"id":"0-1-9","seq":1,"part":4}`)) {
		t.Errorf("envelope %s", env)
	}
	if env := e.AppendOne(nil, &b.Changes[0]); !bytes.Contains(env, []byte(`"puma":{"tx":{"id":"0-1-9","seq":1}`)) {
		t.Errorf("a change of its own has no part: %s", env)
	}
}

// TestGoEnvelopeMatchesHost: sdk/envelope rendering in Go (outside Wasm,
// and inside it should the host refuse) writes byte for byte what the host
// renders (engine.AppendEnvelope), markers, parts and every kind included.
func TestGoEnvelopeMatchesHost(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	bs := corpus()
	tx := &engine.Tx{ID: "0-1-200", GTID: "0-1-200", ServerID: 1, File: "bin.000003", Pos: 4}
	bs = append(bs, &engine.Batch{Seq: 6, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: customers, Seq: 1, Part: 1, Tx: tx, File: tx.File, Pos: 90, After: []any{int64(1), "a@example.com", "a", "1"}},
		{Op: engine.OpInsert, Table: customers, Seq: 1, Part: 2, Tx: tx, File: tx.File, Pos: 90, After: []any{int64(1), "a@example.com", "b", "1"}},
	}, Commit: &position.Position{File: "bin.000003", Pos: 200, GTIDSet: "0-1-200"}, CommitTime: 1764065100})
	msgs := hostabi.EncodeBatches(bs)
	options := []wire.EnvelopeFlags{0, wire.EnvDeleteCreate | wire.EnvTombstones,
		wire.EnvDecimalDouble | wire.EnvTimeMicros | wire.EnvBinaryHex, wire.EnvWithSchema | wire.EnvDeleteCreate | wire.EnvTombstones}
	for _, flags := range options {
		for _, markers := range []bool{false, true} {
			enc := envelope.Encoder{Markers: markers, Flags: flags, Now: hostabitest.Now}
			var got []byte
			sdk.Register(sdk.Plugin{Sender: func(b *sdk.Batch) error {
				got = append(got, enc.Encode(b)...)
				return nil
			}})
			var e wire.Encoder
			e.StartInit(wire.Version, wire.RoleSender, "t", "go", []byte("{}"))
			if rep := sdk.NativeInit(e.Message()); len(rep) != 0 {
				t.Fatalf("init: %q", rep)
			}
			for i, msg := range msgs {
				if rep := sdk.NativeSend(msg); len(rep) != 0 {
					t.Fatalf("batch %d: %q", i, rep)
				}
			}
			if want := envelopesOf("t", flags, bs, markers); !bytes.Equal(got, want) {
				gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
				for i := range min(len(gl), len(wl)) {
					if !bytes.Equal(gl[i], wl[i]) {
						t.Fatalf("options %#x markers=%v: line %d: Go rendering differs from the host's\n got %s\nwant %s", flags, markers, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("options %#x markers=%v: %d lines, want %d", flags, markers, len(gl), len(wl))
			}
			envelopetest.CheckLines(t, fmt.Sprintf("options %#x markers=%v", flags, markers), got)
		}
	}
}
