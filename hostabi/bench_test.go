package hostabi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// benchBatch is a whole transaction of n rows of customers (~60 bytes of
// values each) in one batch, so that builtin:jsonl syncs it.
func benchBatch(n int) *engine.Batch {
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Commit: &position.Position{File: "bin.000001", Pos: 9000}, CommitTime: 1764064800}
	for i := range n {
		status := "live"
		if i%10 == 0 {
			status = "test"
		}
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: customers, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i), Timestamp: 1764064800,
			After: []any{int64(i), fmt.Sprintf("user%d@example.com", i), status, "1234.56"}})
	}
	return b
}

func reportRows(b *testing.B, rows int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*rows)
	b.ReportMetric(ns, "ns/row")
	b.ReportMetric(1e9/ns, "rows/s")
}

// BenchmarkPlugins measures a 256-row batch through an empty Go handler,
// builtin:filter, builtin:mask (hashing one column), builtin:jsonl
// (without and with fsync) and builtin:http (to a local server).
func BenchmarkPlugins(b *testing.B) {
	const rows = 256
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.wasm"), hostabitest.BuildGo(b, "./hostabi/testdata/keep"), 0o644); err != nil {
		b.Fatal(err)
	}
	h := hostabitest.NewHost(b, dir, hostabi.Options{Builtin: builtins(b), Secrets: map[string]engine.Secret{"salt": "pepper"}})
	ctx := context.Background()
	batch := benchBatch(rows)
	handler := func(name, module string, cfg map[string]any, grants ...map[string]any) func(b *testing.B) {
		return func(b *testing.B) {
			var g map[string]any
			if len(grants) > 0 {
				g = grants[0]
			}
			hd, err := h.NewHandler(ctx, "bench", plugin(name, module, cfg, g))
			if err != nil {
				b.Fatal(err)
			}
			defer hd.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hd.Handle(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, rows)
		}
	}
	b.Run("empty", handler("keep", filepath.Join(dir, "keep.wasm"), nil))
	b.Run("filter", handler("filter", "builtin:filter", map[string]any{
		"include": []any{"shop.*"}, "where": "status != 'test' AND amount > 100",
	}))
	b.Run("filter/id", handler("filter", "builtin:filter", map[string]any{"where": "id >= 0"}))
	b.Run("mask", handler("mask", "builtin:mask", map[string]any{"salt_secret": "salt", "hash": []any{"shop.customers.email"}},
		map[string]any{"secrets": []any{"salt"}}))
	jsonl := func(b *testing.B, path string, fsync bool) *hostabi.Sender {
		s, err := h.NewSender(ctx, "bench", plugin("jsonl", "builtin:jsonl",
			map[string]any{"path": path, "fsync": fsync, "max_bytes": 64 << 20}, map[string]any{"files": []any{"."}}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("jsonl/fsync=%v", fsync), func(b *testing.B) {
			sendLoop(b, jsonl(b, "out.jsonl", fsync), batch)
		})
	}
	// A group of 40 transactions of 100 rows, as group commit hands a
	// sender that is behind.
	b.Run("jsonl/group", func(b *testing.B) {
		s := jsonl(b, "group.jsonl", false)
		g := make([]*engine.Batch, 40)
		for i := range g {
			g[i] = benchBatch(100)
			g[i].Seq = uint64(i + 1)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SendGroup(ctx, g); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b, 40*100)
	})
	b.Run("http", func(b *testing.B) {
		srv := newRecorder(b, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		srv.mu.Lock()
		srv.discard = true
		srv.mu.Unlock()
		env := newNetEnv(b, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
		url := "http://hooks.test:" + srv.port() + "/puma"
		s, err := env.host.NewSender(ctx, "bench", plugin("http", "builtin:http", map[string]any{"url": url, "format": "ndjson"},
			map[string]any{"http": []any{url}, "allow_private": true, "secrets": []any{}}))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		sendLoop(b, s, batch)
	})
}

// BenchmarkMask measures builtin:mask alone on a 256-row batch of
// inserts: hashing one text column (an HMAC per row, all of the batch's
// computed by the host in one call), redacting one (a value set per row,
// no HMAC), and hashing a column of updates, whose before image changes
// too.
func BenchmarkMask(b *testing.B) {
	const rows = 256
	h := hostabitest.NewHost(b, b.TempDir(), hostabi.Options{Builtin: builtins(b), Secrets: map[string]engine.Secret{"salt": "pepper"}})
	ctx := context.Background()
	inserts := benchBatch(rows)
	updates := benchBatch(rows)
	for i := range updates.Changes {
		c := &updates.Changes[i]
		c.Op, c.Before = engine.OpUpdate, c.After
	}
	for _, bc := range []struct {
		name  string
		cfg   map[string]any
		batch *engine.Batch
	}{
		{"hash", map[string]any{"salt_secret": "salt", "hash": []any{"shop.customers.email"}}, inserts},
		{"redact", map[string]any{"redact": []any{"shop.customers.email"}}, inserts},
		{"hash/update", map[string]any{"salt_secret": "salt", "hash": []any{"shop.customers.email"}}, updates},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hd, err := h.NewHandler(ctx, "bench", plugin("mask", "builtin:mask", bc.cfg, map[string]any{"secrets": []any{"salt"}}))
			if err != nil {
				b.Fatal(err)
			}
			defer hd.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hd.Handle(ctx, bc.batch); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, rows)
		})
	}
}

// sendLoop sends batch through s for the benchmark, per row.
func sendLoop(b *testing.B, s *hostabi.Sender, batch *engine.Batch) {
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b, len(batch.Changes))
}

// BenchmarkStart measures loading a module and starting an instance:
// compile from an empty cache (cold), from the on-disk cache in a new
// host (disk), and instantiate + _initialize + init of a loaded module,
// alone or beside a running instance.
func BenchmarkStart(b *testing.B) {
	wasm := hostabitest.BuildGo(b, "./plugins/builtins")
	ctx := context.Background()
	b.Run("compile/cold", func(b *testing.B) {
		for b.Loop() {
			h, err := hostabi.New(ctx, hostabi.Options{CacheDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.Load(ctx, "filter", wasm); err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
	})
	dir := b.TempDir()
	warm, _ := hostabi.New(ctx, hostabi.Options{CacheDir: dir})
	warm.Load(ctx, "filter", wasm)
	warm.Close()
	b.Run("compile/disk", func(b *testing.B) {
		for b.Loop() {
			h, err := hostabi.New(ctx, hostabi.Options{CacheDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.Load(ctx, "filter", wasm); err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
	})
	// instantiate starts the module's first instance (its runtime
	// included); instantiate/shared one more beside a running instance,
	// in the runtime they share.
	for _, shared := range []bool{false, true} {
		name := "instantiate"
		if shared {
			name += "/shared"
		}
		b.Run(name, func(b *testing.B) {
			h := newHost(b, b.TempDir())
			m, err := h.Load(ctx, "filter", wasm)
			if err != nil {
				b.Fatal(err)
			}
			spec := hostabi.Spec{Task: "t", Name: "filter", Module: m, Timeout: 5 * time.Second, MaxMemory: 64 << 20, Config: []byte("{}"), Select: "filter"}
			if shared {
				hd, err := h.StartHandler(ctx, spec)
				if err != nil {
					b.Fatal(err)
				}
				defer hd.Close()
			}
			for b.Loop() {
				hd, err := h.StartHandler(ctx, spec)
				if err != nil {
					b.Fatal(err)
				}
				hd.Close()
			}
		})
	}
}
