package hostabi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
)

// rawHandler starts a handler whose module, declaring ABI version abi (a
// marker export's name), answers every batch with the reply rep.
func rawHandler(t *testing.T, h *hostabi.Host, abi string, rep []byte) *hostabi.Handler {
	t.Helper()
	var data strings.Builder
	for _, c := range rep {
		fmt.Fprintf(&data, `\%02x`, c)
	}
	wat := watModule("", abi, fmt.Sprintf("(i64.const %d)", len(rep)), fmt.Sprintf(`(data (i32.const 0) "%s")`, data.String()))
	ctx := context.Background()
	m, err := h.Load(ctx, "raw.wasm", hostabitest.WAT(t, wat))
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "raw", Module: m, Timeout: 5 * time.Second, MaxMemory: 64 << 20, Config: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hd.Close() })
	return hd
}

// patchBatch is eventsBatch with its first change an update (the same
// row before and after) and its second a delete.
func patchBatch() *engine.Batch {
	b := eventsBatch()
	b.Changes[0].Op, b.Changes[0].Before = engine.OpUpdate, slices.Clone(b.Changes[0].After)
	b.Changes[1].Op, b.Changes[1].Before, b.Changes[1].After = engine.OpDelete, b.Changes[1].After, nil
	return b
}

// patchReply is a raw reply patching change index of patchBatch with the
// columns set writes.
func patchReply(index uint32, route string, set func(e *wire.Encoder)) []byte {
	var e wire.Encoder
	e.StartReply(wire.StatusOK, 0, "")
	e.StartPatch(index, route, route != "")
	set(&e)
	e.EndVerdict()
	return e.Finish()
}

// TestPatchVerdict: a v2 module's patch verdict passes the input change
// on with the columns it names set in the after image, and nothing else
// changed (before image, op, table, other values, identity); a value that
// does not fit its column fails the change as a replace's does; a patch
// that is malformed, of a change without an after image, or from a v1
// module fails the batch as malformed, naming what is wrong.
func TestPatchVerdict(t *testing.T) {
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	in := patchBatch()
	want := slices.Clone(in.Changes[0].After)
	want[1], want[3] = "2025-01-31", nil
	tests := []struct {
		name      string
		abi       string
		index     uint32
		route     string
		set       func(e *wire.Encoder)
		after     []any  // the patched change's after image
		rowErr    string // a value refused
		malformed string
	}{
		{name: "sets", set: func(e *wire.Encoder) { e.String(1, "2025-01-31"); e.Null(3) }, after: want},
		{name: "route", route: "r1", set: func(e *wire.Encoder) { e.String(1, "2025-01-31"); e.Null(3) }, after: want},
		{name: "route only", route: "r1", set: func(*wire.Encoder) {}, after: in.Changes[0].After},
		{name: "out of order", set: func(e *wire.Encoder) { e.String(2, "new"); e.Int(0, 0) },
			malformed: "malformed verdict at offset 43: patch column 0 out of order or range (after column 2, table of 5)"},
		{name: "date", set: func(e *wire.Encoder) { e.String(1, "lots") },
			rowErr: `change 0 (shop.events bin.000001:9000 tx 0-1-9 seq 1): error 3: the handler set shop.events.day (date) to "lots": not a date YYYY-MM-DD`},
		{name: "enum", set: func(e *wire.Encoder) { e.String(2, "lost") },
			rowErr: `error 3: the handler set shop.events.status (enum) to "lost": not a member of the ENUM`},
		{name: "column out of range", set: func(e *wire.Encoder) { e.Int(5, 1) },
			malformed: "patch column 5 out of order or range (after column -1, table of 5)"},
		{name: "delete", index: 1, set: func(e *wire.Encoder) { e.Null(4) },
			malformed: "malformed verdict at offset 24: a patch of a change without an after image (op d)"},
		{name: "v1 module", abi: wire.ExportABIV1, set: func(e *wire.Encoder) { e.Null(4) },
			malformed: "malformed verdict at offset 28: verdict 6 (patch) needs ABI v2; the module declares v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			abi := tc.abi
			if abi == "" {
				abi = wire.ExportABI
			}
			hd := rawHandler(t, h, abi, patchReply(tc.index, tc.route, tc.set))
			out, err := hd.Handle(ctx, in)
			switch {
			case tc.malformed != "":
				if !errors.Is(err, hostabi.ErrMalformed) || !strings.Contains(err.Error(), tc.malformed) {
					t.Fatalf("error %v\nwant a malformed reply saying %s", err, tc.malformed)
				}
				return
			case tc.rowErr != "":
				var re *engine.RowErrors
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.rowErr) {
					t.Fatalf("error %v\nwant a row error saying %s", err, tc.rowErr)
				}
				if len(re.Failed) != 1 || re.Failed[0].Seq != 1 || len(re.Batch.Changes) != 1 {
					t.Fatalf("failed %d changes, passed on %d", len(re.Failed), len(re.Batch.Changes))
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if len(out.Changes) != 2 {
				t.Fatalf("%d changes passed on", len(out.Changes))
			}
			got, src := out.Changes[0], in.Changes[0]
			if !reflect.DeepEqual(got.After, tc.after) {
				t.Errorf("after %#v\nwant %#v", got.After, tc.after)
			}
			if got.Route != tc.route {
				t.Errorf("route %q, want %q", got.Route, tc.route)
			}
			got.After, got.Route = src.After, src.Route
			if !reflect.DeepEqual(got, src) {
				t.Errorf("patched change %+v\nbeyond its after image differs from its input %+v", got, src)
			}
			if !reflect.DeepEqual(out.Changes[1], in.Changes[1]) {
				t.Errorf("change 1 passed on as %+v", out.Changes[1])
			}
			if !reflect.DeepEqual(in.Changes[0].After, patchBatch().Changes[0].After) {
				t.Errorf("the input change was changed: %#v", in.Changes[0].After)
			}
		})
	}
}

// TestChainV1V2: modules of both ABI versions in one chain. A v1 module
// replaces a row and routes it, builtin:mask (an SDK module, v2) patches
// what it was given, and a v1 module after it is handed the patched rows
// and replies as v1 does.
func TestChainV1V2(t *testing.T) {
	h := newHost(t, t.TempDir())
	ctx := context.Background()

	// v1: change 0 replaced with a row whose note is "first", and routed.
	var e wire.Encoder
	e.StartReply(wire.StatusOK, 0, "")
	e.StartVerdict(0, wire.VerdictReplace, 0, "")
	e.StartChange(&wire.ChangeHeader{Op: wire.OpInsert, TableID: 1, Route: "v1", HasRoute: true}, false, true)
	e.StartImage(5)
	e.Int(0, 0)
	e.String(1, "2024-02-29")
	e.String(2, "new")
	e.Float(3, 0.5)
	e.String(4, "first")
	e.EndImage()
	e.EndChange()
	e.EndVerdict()
	replacer := rawHandler(t, h, wire.ExportABIV1, e.Finish())
	// v1: keeps everything.
	keeper := rawHandler(t, h, wire.ExportABIV1, nil)
	mask, err := h.NewHandler(ctx, "t", plugin("mask", "builtin:mask", map[string]any{"redact": []any{"shop.events.note"}, "replacement": "***"},
		map[string]any{"secrets": []any{}}))
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()

	b := eventsBatch()
	for _, hd := range []engine.Handler{replacer, mask, keeper} {
		if b, err = hd.Handle(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]any{{int64(0), "2024-02-29", "new", 0.5, "***"}, {int64(1), "2024-02-29", "new", 0.5, "***"}}
	if len(b.Changes) != 2 {
		t.Fatalf("%d changes passed on", len(b.Changes))
	}
	for i, c := range b.Changes {
		if !reflect.DeepEqual(c.After, want[i]) || c.Op != engine.OpInsert || c.Seq != uint32(i+1) {
			t.Errorf("change %d: %s seq %d after %#v, want %#v", i, c.Op, c.Seq, c.After, want[i])
		}
	}
	if b.Changes[0].Route != "v1" || b.Changes[1].Route != "" {
		t.Errorf("routes %q, %q: the patch must keep the route the v1 module set", b.Changes[0].Route, b.Changes[1].Route)
	}
	// The mask's reply to the batch really is patches (inserts, after
	// image only), two verdicts of a few bytes each.
	rep, err := mask.RawReply(ctx, eventsBatch())
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.ParseReply(rep)
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []string
	for {
		tag, body, at, ok := r.Records.Next()
		if !ok {
			break
		}
		if tag == wire.RecVerdict {
			v, err := wire.ParseVerdict(body, at)
			if err != nil {
				t.Fatal(err)
			}
			verdicts = append(verdicts, v.Verdict.String())
		}
	}
	if !reflect.DeepEqual(verdicts, []string{"patch", "patch"}) {
		t.Errorf("mask replied %v, want two patches", verdicts)
	}
}
