package hostabi_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora from real batches and replies")

// FuzzReply feeds the host's reply decoder arbitrary replies to a batch of
// the corpus: it must return a batch or an error, never panic. Seeds are
// real replies of the built-in filter and the examples (testdata/fuzz).
func FuzzReply(f *testing.F) {
	bs := corpus()
	apply := hostabi.ReplyDecoder(bs)
	f.Add(uint8(1), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, rep []byte) {
		i := int(which) % len(bs)
		out, err := apply(i, rep)
		if err == nil && out == nil {
			t.Fatal("nil batch without an error")
		}
		if err == nil && len(rep) > 0 {
			for _, c := range out.Changes {
				if c.Tx != bs[i].Tx {
					t.Fatal("a change lost its transaction")
				}
			}
		}
	})
}

// TestFuzzSeeds rewrites the seed corpora of FuzzReply (here) and
// FuzzBatch (in sdk) with -update: real batches as the host encodes them,
// real replies of real modules, and truncations of both.
func TestFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the fuzz seeds")
	}
	bs := corpus()
	batchDir := filepath.Join("..", "sdk", "testdata", "fuzz", "FuzzBatch")
	replyDir := filepath.Join("testdata", "fuzz", "FuzzReply")
	for _, d := range []string{batchDir, replyDir} {
		os.RemoveAll(d)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, name string, args ...string) {
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += a + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	quote := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for i, msg := range hostabi.EncodeBatches(bs) {
		write(batchDir, fmt.Sprintf("batch%d", i+1), quote(msg))
		write(batchDir, fmt.Sprintf("batch%d-truncated", i+1), quote(msg[:len(msg)*2/3]))
	}
	dir := t.TempDir()
	for _, ex := range []string{"dropvalue", "emaildomain"} {
		if err := os.WriteFile(filepath.Join(dir, ex+".wasm"), hostabitest.BuildGo(t, "./examples/"+ex), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHost(t, dir)
	ctx := context.Background()
	for _, p := range []struct {
		name, module string
		cfg          map[string]any
	}{
		{"filter", "builtin:filter", map[string]any{"exclude": []any{"shop.all_kinds"}, "where": "amount >= 5"}},
		{"dropvalue", filepath.Join(dir, "dropvalue.wasm"), map[string]any{"column": "status", "value": "test"}},
		{"emaildomain", filepath.Join(dir, "emaildomain.wasm"), nil},
		// Patch verdicts (inserts) and replace verdicts (updates, deletes).
		{"mask", "builtin:mask", map[string]any{"redact": []any{"shop.*.email", "shop.*.status"}, "replacement": "x"}},
	} {
		var grants map[string]any
		if p.name == "mask" {
			grants = map[string]any{"secrets": []any{}}
		}
		hd, err := h.NewHandler(ctx, "shop", plugin(p.name, p.module, p.cfg, grants))
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range bs {
			rep, err := hd.RawReply(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep) == 0 {
				continue
			}
			write(replyDir, fmt.Sprintf("%s%d", p.name, i+1), fmt.Sprintf("uint8(%d)", i), quote(rep))
			write(replyDir, fmt.Sprintf("%s%d-truncated", p.name, i+1), fmt.Sprintf("uint8(%d)", i), quote(rep[:len(rep)/2]))
		}
		hd.Close()
	}
}
