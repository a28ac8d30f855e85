package hostabi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// TestChain runs the corpus through builtin:filter, the dropvalue and
// emaildomain examples and builtin:jsonl, and checks the file holds
// exactly the changes expected, value by value, in order.
func TestChain(t *testing.T) {
	dir := t.TempDir()
	for _, ex := range []string{"dropvalue", "emaildomain"} {
		if err := os.WriteFile(filepath.Join(dir, ex+".wasm"), hostabitest.BuildGo(t, "./examples/"+ex), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHost(t, dir)
	ctx := context.Background()
	var handlers []engine.Handler
	for _, p := range []struct {
		name, module string
		cfg          map[string]any
	}{
		{"filter", "builtin:filter", map[string]any{
			"include": []any{"shop.*"}, "exclude": []any{"shop.all_kinds"},
			"ops": []any{"c", "u", "d", "ddl"}, "where": "amount >= 5 OR status = 'test'",
		}},
		{"dropvalue", filepath.Join(dir, "dropvalue.wasm"), map[string]any{"column": "status", "value": "test"}},
		{"emaildomain", filepath.Join(dir, "emaildomain.wasm"), nil},
	} {
		hd, err := h.NewHandler(ctx, "shop", plugin(p.name, p.module, p.cfg, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer hd.Close()
		handlers = append(handlers, hd)
	}
	s, err := h.NewSender(ctx, "shop", plugin("jsonl", "builtin:jsonl",
		map[string]any{"path": "out.jsonl", "markers": true}, map[string]any{"files": []any{"."}}))
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, b := range corpus() {
		for _, hd := range handlers {
			if b, err = hd.Handle(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range b.Changes {
			routes = append(routes, c.Route)
		}
		if err := s.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want := envelopes(expectedChain(), true)
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs:\n got:\n%s\nwant:\n%s", got, want)
	}
	if r := strings.Join(routes, ","); r != "example.com,,,," {
		t.Errorf("routes = %q", r)
	}
}

// expectedChain is what the chain of TestChain passes on, worked out by
// hand from the corpus.
func expectedChain() []*engine.Batch {
	in := corpus()
	out := &engine.Table{
		DB: "shop", Name: "customers", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: append(append([]engine.Column(nil), customers.Columns...), engine.Column{Name: "email_domain", Kind: engine.KindString, Nullable: true}),
	}
	derive := func(c engine.Change) engine.Change {
		c.Table = out
		dom := func(row []any) []any {
			if row == nil {
				return nil
			}
			var d any
			if s, ok := row[1].(string); ok {
				d = s[strings.LastIndexByte(s, '@')+1:]
			}
			return append(append([]any(nil), row...), d)
		}
		c.Before, c.After = dom(c.Before), dom(c.After)
		return c
	}
	with := func(b *engine.Batch, changes []engine.Change) *engine.Batch {
		return &engine.Batch{Seq: b.Seq, Tx: b.Tx, Begin: b.Begin, Changes: changes, Commit: b.Commit, CommitTime: b.CommitTime}
	}
	return []*engine.Batch{
		with(in[0], nil),
		with(in[1], []engine.Change{derive(in[1].Changes[2]), derive(in[1].Changes[4])}),
		in[2],
		with(in[3], []engine.Change{derive(in[3].Changes[3])}),
		in[4],
	}
}
