package embedded

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

// jsonlConfigs are builtin:jsonl configurations covering the envelope's
// options, markers and rotation.
var jsonlConfigs = map[string]map[string]any{
	"markers": {"path": "out/a.jsonl", "markers": true},
	"options": {"path": "out/a.jsonl", "key_change": "delete_create", "tombstones": true, "decimal": "double",
		"time": "micros", "binary": "hex", "fsync": false},
	"schema":   {"path": "out/a.jsonl", "envelope": "with_schema", "markers": true},
	"rotation": {"path": "out/deep/a.jsonl", "max_bytes": 8192, "markers": true},
	// The END event counts an update of the key twice: the sender reads
	// the key columns to tell.
	"key_change": {"path": "out/a.jsonl", "key_change": "delete_create", "markers": true},
}

// splitTx turns bs into a stream of single batches and groups, with some
// transactions split over two batches, as the engine sends them.
func splitTx(bs []*engine.Batch) [][]*engine.Batch {
	var flat []*engine.Batch
	seq := uint64(0)
	for i, b := range bs {
		if i%3 == 1 && len(b.Changes) > 1 {
			half := len(b.Changes) / 2
			seq++
			first := &engine.Batch{Seq: seq, Tx: b.Tx, Begin: true, Changes: b.Changes[:half]}
			seq++
			second := &engine.Batch{Seq: seq, Tx: b.Tx, Changes: b.Changes[half:], Commit: b.Commit}
			flat = append(flat, first, second)
			continue
		}
		seq++
		flat = append(flat, &engine.Batch{Seq: seq, Tx: b.Tx, Begin: true, Changes: b.Changes, Commit: b.Commit})
	}
	var calls [][]*engine.Batch
	for i := 0; i < len(flat); {
		n := 1 + i%4
		n = min(n, len(flat)-i)
		calls = append(calls, flat[i:i+n])
		i += n
	}
	return calls
}

// sendAll sends the calls through a builtin:jsonl of cfg made on a host
// in dir, and returns what its files hold: the rotated ones in the order
// they were rotated, then the current one.
func sendAll(t *testing.T, dir string, wasm bool, cfg map[string]any, calls [][]*engine.Batch) []string {
	t.Helper()
	return sendAhead(t, dir, wasm, cfg, calls, 0)
}

// sendAhead is sendAll with the batches of the next ahead calls prepared
// (engine.Preparer) before each call, as the pipeline prepares what it
// queues for a sender while the sender's call runs.
func sendAhead(t *testing.T, dir string, wasm bool, cfg map[string]any, calls [][]*engine.Batch, ahead int) []string {
	t.Helper()
	h := hostIn(t, dir, wasm)
	ctx := context.Background()
	sd, err := h.NewSender(ctx, "shop", engine.PluginConfig{Plugin: "builtin:jsonl", Name: "jsonl", Config: cfg,
		Timeout: 5 * time.Second, MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	prepared := 0
	for i, g := range calls {
		for ; prepared < len(calls) && prepared < i+ahead; prepared++ {
			for _, b := range calls[prepared] {
				sd.Prepare(b)
			}
		}
		if len(g) == 1 {
			err = sd.Send(ctx, g[0])
		} else {
			err = sd.SendGroup(ctx, g)
		}
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := sd.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, cfg["path"].(string))
	rotated, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rotated)
	var out []string
	for _, p := range append(rotated, path) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestNativeJSONLMatchesWasm: builtin:jsonl run natively writes, byte for
// byte, the files it writes in the embedded Wasm module, for single
// batches, groups and transactions split over batches, with each
// envelope option, markers and rotation.
func TestNativeJSONLMatchesWasm(t *testing.T) {
	if b, _ := Builtin("jsonl", nil, ""); b.Native == nil {
		t.Fatal("builtin:jsonl does not run natively")
	}
	calls := splitTx(batches(5, 80))
	for name, cfg := range jsonlConfigs {
		t.Run(name, func(t *testing.T) {
			wasm := sendAll(t, t.TempDir(), true, cfg, calls)
			native := sendAll(t, t.TempDir(), false, cfg, calls)
			sameFiles(t, name, native, wasm)
			// Envelopes rendered ahead of the calls are the ones rendered
			// in them, natively and in Wasm.
			sameFiles(t, name, sendAhead(t, t.TempDir(), false, cfg, calls, 3), wasm)
			sameFiles(t, name, sendAhead(t, t.TempDir(), true, cfg, calls, 1), wasm)
		})
	}
}

// sameFiles fails unless the files written natively are, byte for byte,
// those written in Wasm.
func sameFiles(t *testing.T, name string, native, wasm []string) {
	t.Helper()
	if len(native) != len(wasm) {
		t.Fatalf("natively %d files, in Wasm %d", len(native), len(wasm))
	}
	if name == "rotation" && len(native) < 3 {
		t.Fatalf("%d files: the test does not rotate", len(native))
	}
	for i := range native {
		if native[i] == wasm[i] {
			continue
		}
		n, w := strings.Split(native[i], "\n"), strings.Split(wasm[i], "\n")
		for j := range min(len(n), len(w)) {
			if n[j] != w[j] {
				t.Fatalf("file %d, line %d natively:\n%s\nin Wasm:\n%s", i, j+1, n[j], w[j])
			}
		}
		t.Fatalf("file %d: natively %d lines, in Wasm %d", i, len(n), len(w))
	}
	if lines := strings.Count(strings.Join(native, ""), "\n"); lines < 500 {
		t.Fatalf("%d lines were written: the test compares little", lines)
	}
}

// A native builtin:jsonl's file errors are the module's: a path it cannot
// open fails the start with the same message, and a line a crash tore is
// cut when the file is opened.
func TestNativeJSONLFiles(t *testing.T) {
	cfg := map[string]any{"path": "out/a.jsonl"}
	errs := make([]string, 2)
	for i, wasm := range []bool{false, true} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "out"), []byte("not a directory"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := hostIn(t, dir, wasm).NewSender(context.Background(), "shop", engine.PluginConfig{Plugin: "builtin:jsonl",
			Name: "jsonl", Config: cfg, Timeout: 5 * time.Second, MaxMemory: 64 << 20})
		if err == nil {
			t.Fatal("a path under a file opened")
		}
		errs[i] = strings.ReplaceAll(err.Error(), dir, "DIR")
	}
	if errs[0] != errs[1] || !strings.Contains(errs[0], "files: open out/a.jsonl") {
		t.Errorf("natively: %s\nin Wasm: %s", errs[0], errs[1])
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out/a.jsonl"), []byte("{\"whole\":1}\n{\"torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	tx := &engine.Tx{ID: "0-1-9", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Commit: &position.Position{ServerID: 1, File: "bin.000001", Pos: 90},
		Changes: []engine.Change{{Seq: 1, Tx: tx, Op: engine.OpInsert, Table: audit, File: "bin.000001", Pos: 10, After: []any{uint64(7), "x"}}}}
	got := sendAll(t, dir, false, cfg, [][]*engine.Batch{{b}})
	if !strings.HasPrefix(got[0], "{\"whole\":1}\n{") || strings.Contains(got[0], "torn") || strings.Count(got[0], "\n") != 2 {
		t.Errorf("file after a torn line and one change:\n%s", got[0])
	}
}
