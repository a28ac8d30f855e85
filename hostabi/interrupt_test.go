package hostabi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/instrument"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/plugins/catalog"
)

// notes is the table of the spin batches: the Go guest spins on a row
// whose poison is set, the others on a message holding "SPIN".
var notes = &engine.Table{
	DB: "shop", Name: "notes", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}, {Name: "poison", Kind: engine.KindInt}, {Name: "note", Kind: engine.KindString}},
}

// spinBatch is a batch of three rows; with spin, the second makes every
// spin guest spin.
func spinBatch(seq uint64, spin bool) *engine.Batch {
	tx := &engine.Tx{ID: fmt.Sprintf("0-1-%d", seq), GTID: fmt.Sprintf("0-1-%d", seq), ServerID: 1, File: "bin.000001", Pos: uint32(seq * 1000)}
	b := &engine.Batch{Seq: seq, Tx: tx, Begin: true}
	for i := range 3 {
		poison, note := int64(0), "fine"
		if spin && i == 1 {
			poison, note = 1, "SPIN"
		}
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: notes, After: []any{int64(i), poison, note},
			Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: tx.Pos + uint32(i)})
	}
	return b
}

// spinWAT is a handler that runs spin when the message holds "SPIN".
func spinWAT(spin string) string {
	return `(module
  (memory (export "memory") 4)
  (func (export "puma_abi_v1"))
  (func (export "puma_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "puma_init") (param i32 i32) (result i64) (i64.const 0))
  ;; fib recurses without a loop: only a check at its entry can stop it.
  (func $fib (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add
        (call $fib (i64.sub (local.get $n) (i64.const 1)))
        (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "puma_handle") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (block $done
      (loop $scan
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (if (i32.eq (i32.load (i32.add (local.get $p) (local.get $i))) (i32.const 0x4e495053))
          (then ` + spin + `))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (i64.const 0)))`
}

// spinGuest is a handler, from one toolchain, that keeps every change and
// never returns from a spinBatch(_, true).
type spinGuest struct {
	name   string
	wasm   func(testing.TB) []byte
	config string
}

var spinGuests = []spinGuest{
	{"go", func(tb testing.TB) []byte { return hostabitest.BuildGo(tb, "./hostabi/testdata/faulty") }, `{"mode":"loop"}`},
	{"c", func(tb testing.TB) []byte { return hostabitest.BuildC(tb, "hostabi/testdata/spin/spin.c") }, "{}"},
	{"rust", buildRust, "{}"},
	{"assemblyscript", buildAS, "{}"},
	{"wat/loop", func(tb testing.TB) []byte { return hostabitest.WAT(tb, spinWAT("(loop $l (br $l))")) }, "{}"},
	{"wat/recursion", func(tb testing.TB) []byte { return hostabitest.WAT(tb, spinWAT("(drop (call $fib (i64.const 90)))")) }, "{}"},
}

var (
	toolMu    sync.Mutex
	toolBuilt = map[string][]byte{}
)

// buildTool builds src once per process with the command args (out is
// replaced by the output path). Without the tool the test is skipped, or
// fails when CI is set.
func buildTool(tb testing.TB, hint string, args ...string) []byte {
	tb.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s not found: %s", args[0], hint)
		}
		tb.Skipf("%s not found: %s", args[0], hint)
	}
	key := strings.Join(args, " ")
	toolMu.Lock()
	defer toolMu.Unlock()
	if b, ok := toolBuilt[key]; ok {
		return b
	}
	dir, err := os.MkdirTemp("", "puma-spin-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out.wasm")
	args = slices.Clone(args)
	for i, a := range args {
		if a == "out" {
			args[i] = out
		}
	}
	if msg, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", key, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	toolBuilt[key] = b
	return b
}

// buildRust uses Debian's rustc, which has the wasm32 standard library.
func buildRust(tb testing.TB) []byte {
	return buildTool(tb, "apt-get install rustc libstd-rust-dev-wasm32",
		"/usr/bin/rustc", "--edition", "2021", "--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "-O",
		"-C", "strip=debuginfo", "-o", "out", "testdata/spin/spin.rs")
}

func buildAS(tb testing.TB) []byte {
	return buildTool(tb, "npm install -g assemblyscript",
		"asc", "testdata/spin/spin.ts", "-o", "out", "-O3", "--runtime", "stub", "--use", "abort=")
}

// logRecorder keeps log lines as "LEVEL message key=value ...".
type logRecorder struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newLogRecorder() logRecorder { return logRecorder{mu: new(sync.Mutex), lines: new([]string)} }

func (r logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	r.mu.Lock()
	*r.lines = append(*r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	r.attrs = append(slices.Clip(r.attrs), as...)
	return r
}

func (r logRecorder) WithGroup(string) slog.Handler { return r }

// grep returns the lines holding every one of subs.
func (r logRecorder) grep(subs ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range *r.lines {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// background runs, until the test ends, two goroutines allocating (so
// that the garbage collector keeps wanting to stop the world) and a
// healthy builtin:filter of another task handling batches; it returns the
// number of batches handled so far.
func background(t *testing.T, h *hostabi.Host) func() int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var handled atomic.Int64
	var failed atomic.Value
	for range 2 {
		wg.Go(func() {
			var keep [64][]byte
			for i := 0; ctx.Err() == nil; i++ {
				keep[i%len(keep)] = make([]byte, 64<<10)
			}
		})
	}
	hd, err := h.NewHandler(ctx, "other", plugin("filter", "builtin:filter", map[string]any{"where": "status != 'test'"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		b := benchBatch(64)
		for ctx.Err() == nil {
			out, err := hd.Handle(ctx, b)
			if err != nil {
				if ctx.Err() == nil {
					failed.Store(err)
				}
				return
			}
			if len(out.Changes) != 57 {
				failed.Store(fmt.Errorf("filter kept %d changes, want 57", len(out.Changes)))
				return
			}
			handled.Add(1)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		hd.Close()
		if err, _ := failed.Load().(error); err != nil {
			t.Errorf("the healthy plugin failed: %v", err)
		}
	})
	return handled.Load
}

// TestInterruptSpinning: a spinning handler of every toolchain, its
// module instrumented, is stopped at its timeout while other goroutines
// allocate; the error says timeout; the next batch runs on a fresh
// instance; and a healthy plugin of another task keeps handling batches
// meanwhile.
func TestInterruptSpinning(t *testing.T) {
	rec := newLogRecorder()
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: builtins(t), Log: slog.New(rec)})
	handled := background(t, h)
	ctx := context.Background()
	const timeout = 250 * time.Millisecond
	for _, g := range spinGuests {
		t.Run(g.name, func(t *testing.T) {
			name := "spin-" + strings.ReplaceAll(g.name, "/", "-")
			m, err := h.Load(ctx, name+".wasm", g.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			if by := hostabi.InterruptBy(m); by != "instrumentation" {
				t.Fatalf("interrupted by %s, want instrumentation", by)
			}
			hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: name, Module: m, Timeout: timeout, MaxMemory: 64 << 20, Config: []byte(g.config)})
			if err != nil {
				t.Fatal(err)
			}
			defer hd.Close()
			if out, err := hd.Handle(ctx, spinBatch(1, false)); err != nil || len(out.Changes) != 3 {
				t.Fatalf("clean batch: %v", err)
			}
			for round := range 2 {
				before := handled()
				start := time.Now()
				_, err = hd.Handle(ctx, spinBatch(2, true))
				took := time.Since(start)
				during := handled() - before
				t.Logf("stopped after %v (timeout %v); the healthy plugin handled %d batches meanwhile", took.Round(time.Millisecond), timeout, during)
				if !errors.Is(err, hostabi.ErrTimeout) {
					t.Fatalf("error %v, want a timeout", err)
				}
				want := fmt.Sprintf("plugin %s (%s.wasm): timeout after %v in puma_handle (instance discarded)", name, name, timeout)
				if err.Error() != want {
					t.Errorf("error %q\nwant %q", err, want)
				}
				if took < timeout || took > 10*time.Second {
					t.Errorf("stopped after %v, want between %v and 10s", took, timeout)
				}
				if during == 0 {
					t.Error("the healthy plugin handled no batch while this one spun")
				}
				out, err := hd.Handle(ctx, spinBatch(3, false))
				if err != nil || len(out.Changes) != 3 {
					t.Fatalf("after the timeout: %v", err)
				}
				if n := len(rec.grep("plugin instance restarted", "plugin="+name)); n != round+1 {
					t.Errorf("%d instance restarts logged, want %d", n, round+1)
				}
			}
		})
	}
}

// TestInterruptCancel: when the caller's context ends, the spinning call
// stops with the context's error, not a timeout, and the plugin goes on.
func TestInterruptCancel(t *testing.T) {
	h := newHost(t, t.TempDir())
	for _, g := range spinGuests {
		t.Run(g.name, func(t *testing.T) {
			m, err := h.Load(context.Background(), g.name, g.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			hd, err := h.StartHandler(context.Background(), hostabi.Spec{Task: "t", Name: "spin", Module: m, Timeout: time.Minute, MaxMemory: 64 << 20, Config: []byte(g.config)})
			if err != nil {
				t.Fatal(err)
			}
			defer hd.Close()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			_, err = hd.Handle(ctx, spinBatch(1, true))
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("stopped after %v", took)
			}
			if !errors.Is(err, context.Canceled) || errors.Is(err, hostabi.ErrTimeout) {
				t.Fatalf("error %v, want context.Canceled and no timeout", err)
			}
			if _, err := hd.Handle(ctx, spinBatch(2, false)); !errors.Is(err, context.Canceled) {
				t.Errorf("with the context ended: %v, want context.Canceled", err)
			}
			if out, err := hd.Handle(context.Background(), spinBatch(3, false)); err != nil || len(out.Changes) != 3 {
				t.Fatalf("after the cancellation: %v", err)
			}
		})
	}
}

// TestInterruptEquivalent: instrumented built-ins give byte-identical
// replies and output to the originals, run with and without
// close-on-done.
func TestInterruptEquivalent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "emaildomain.wasm"), hostabitest.BuildGo(t, "./examples/emaildomain"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	modes := []string{"instrumentation", "nothing", "close-on-done"}
	hosts := map[string]*hostabi.Host{}
	for _, by := range modes {
		hosts[by] = newHost(t, dir)
		hostabi.SetInterrupt(hosts[by], by)
	}
	batches := append(corpus(), benchBatch(256), spinBatch(7, false), spinBatch(8, true), poisonBatch(9, 5, 1, 3))
	for _, p := range []struct {
		name, module string
		cfg          map[string]any
	}{
		{"filter", "builtin:filter", map[string]any{"include": []any{"shop.*"}, "where": "status != 'test' AND amount > 100"}},
		{"filter", "builtin:filter", map[string]any{"ops": []any{"c", "u", "d", "ddl"}, "where": "amount >= 5 OR status = 'test' OR poison = 1"}},
		{"emaildomain", filepath.Join(dir, "emaildomain.wasm"), nil},
	} {
		t.Run(p.name, func(t *testing.T) {
			replies := map[string][][]byte{}
			for _, by := range modes {
				hd, err := hosts[by].NewHandler(ctx, "t", plugin(p.name, p.module, p.cfg, nil))
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range batches {
					rep, err := hd.RawReply(ctx, b)
					if err != nil {
						t.Fatalf("%s: batch %d: %v", by, b.Seq, err)
					}
					replies[by] = append(replies[by], rep)
				}
				hd.Close()
			}
			if slices.IndexFunc(replies[modes[0]], func(r []byte) bool { return len(r) > 0 }) < 0 {
				t.Fatal("every reply is empty: the corpus tests nothing")
			}
			for _, by := range modes[1:] {
				for i := range batches {
					if !bytes.Equal(replies[by][i], replies[modes[0]][i]) {
						t.Errorf("batch %d: reply instrumented differs from %s:\n%q\n%q", batches[i].Seq, by, replies[modes[0]][i], replies[by][i])
					}
				}
			}
		})
	}
	t.Run("jsonl", func(t *testing.T) {
		files := map[string][]byte{}
		for _, by := range modes {
			s, err := hosts[by].NewSender(ctx, "t", plugin("jsonl", "builtin:jsonl",
				map[string]any{"path": "out-" + by + ".jsonl", "markers": true, "fsync": false}, map[string]any{"files": []any{"."}}))
			if err != nil {
				t.Fatal(err)
			}
			sendAll(t, s, batches)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if files[by], err = os.ReadFile(filepath.Join(dir, "out-"+by+".jsonl")); err != nil {
				t.Fatal(err)
			}
		}
		if len(files[modes[0]]) == 0 {
			t.Fatal("nothing written")
		}
		for _, by := range modes[1:] {
			if !bytes.Equal(files[by], files[modes[0]]) {
				t.Errorf("jsonl output instrumented differs from %s", by)
			}
		}
	})
	for _, by := range modes {
		m, err := hosts[by].Load(ctx, "builtin:filter", hostabitest.BuildGo(t, "./plugins/builtins"))
		if err != nil || hostabi.InterruptBy(m) != by {
			t.Errorf("host %s: filter interrupted by %s (%v)", by, hostabi.InterruptBy(m), err)
		}
	}
}

// TestInterruptFallback: a module the rewriter refuses runs under
// close-on-done, is still stopped at its timeout, and the log says so
// once, naming the module and the rewriter's reason; the refusal is
// cached like a rewrite.
func TestInterruptFallback(t *testing.T) {
	// Exporting the rewriter's own global name makes it refuse.
	wat := watModule("", wire.ExportABI, "(loop $l (br $l)) (i64.const 0)", `(global (export "puma.interrupt") (mut i32) (i32.const 0))`)
	wasm := hostabitest.WAT(t, wat)
	cache := t.TempDir()
	ctx := context.Background()
	for run := range 2 { // a cold start, then a warm one
		rec := newLogRecorder()
		h, err := hostabi.New(ctx, hostabi.Options{CacheDir: cache, ConfigDir: t.TempDir(), Log: slog.New(rec)})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		m, err := h.Load(ctx, "reserved.wasm", wasm)
		if err != nil {
			t.Fatal(err)
		}
		if by := hostabi.InterruptBy(m); by != "close-on-done" {
			t.Fatalf("run %d: interrupted by %s, want close-on-done", run, by)
		}
		if _, err := h.Load(ctx, "again.wasm", wasm); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "fault", Module: m, Timeout: 200 * time.Millisecond, MaxMemory: 1 << 20, Config: []byte("{}")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = hd.Handle(ctx, poisonBatch(1, 2))
			checkErr(t, err, hostabi.ErrTimeout, "timeout after 200ms in puma_handle (instance discarded)")
			hd.Close()
		}
		warns := rec.grep("WARN", "not instrumented", "module=reserved.wasm", `already exports "puma.interrupt"`)
		if len(warns) != 1 || len(rec.grep("not instrumented")) != 1 {
			t.Errorf("run %d: log %q, want one warning naming the module and the reason", run, *rec.lines)
		}
	}
	key := instrument.CacheKey(wasm, instrument.Options{})
	if _, err := os.Stat(filepath.Join(cache, "instrumented", key+".refused")); err != nil {
		t.Errorf("refusal not cached: %v", err)
	}
}

// TestInstrumentCache: a warm start reads the rewritten module from the
// cache instead of rewriting it; a torn cache file is rewritten.
func TestInstrumentCache(t *testing.T) {
	wasm := hostabitest.WAT(t, spinWAT("(loop $l (br $l))"))
	cache := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(cache, "instrumented", instrument.CacheKey(wasm, instrument.Options{})+".wasm")
	load := func() {
		t.Helper()
		h, err := hostabi.New(ctx, hostabi.Options{CacheDir: cache, ConfigDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		m, err := h.Load(ctx, "spin.wasm", wasm)
		if err != nil {
			t.Fatal(err)
		}
		if by := hostabi.InterruptBy(m); by != "instrumentation" {
			t.Fatalf("interrupted by %s", by)
		}
		hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "spin", Module: m, Timeout: 100 * time.Millisecond, MaxMemory: 1 << 20, Config: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
		defer hd.Close()
		if _, err := hd.Handle(ctx, spinBatch(1, true)); !errors.Is(err, hostabi.ErrTimeout) {
			t.Fatalf("error %v, want a timeout", err)
		}
	}
	load()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the instrumented module is not cached: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", st.Mode().Perm())
	}
	want, _ := os.ReadFile(path)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	load()
	if st, _ := os.Stat(path); !st.ModTime().Equal(old) {
		t.Error("a warm start rewrote the module")
	}
	if err := os.WriteFile(path, want[:len(want)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	load()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Error("a torn cache file was not rewritten")
	}
}

// TestLoadCompilePanic: a module on which wazero's compiler panics is a
// load error, rewritten or not.
func TestLoadCompilePanic(t *testing.T) {
	seed, err := os.ReadFile("instrument/testdata/fuzz/FuzzInstrument/wazero-panic-type-index")
	if err != nil {
		t.Fatal(err)
	}
	_, lit, _ := strings.Cut(string(seed), "\n[]byte(")
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, by := range []string{"instrumentation", "close-on-done"} {
		h := newHost(t, t.TempDir())
		hostabi.SetInterrupt(h, by)
		_, err := h.Load(context.Background(), "panic.wasm", []byte(s))
		if !errors.Is(err, hostabi.ErrLoad) || !strings.Contains(err.Error(), "not a valid Wasm module: wazero panicked compiling it") {
			t.Errorf("%s: error %v, want a load error saying wazero panicked", by, err)
		}
	}
}

// TestSafepointImport: puma.safepoint is always allowed; a module may
// import it itself.
func TestSafepointImport(t *testing.T) {
	if c, ok := wire.Capability(wire.ImportSafepoint); !ok || c != "" {
		t.Errorf("Capability(%q) = %q, %v; want always allowed", wire.ImportSafepoint, c, ok)
	}
	if wire.ImportModule != instrument.ImportModule || wire.ImportSafepoint != instrument.ImportSafepoint {
		t.Errorf("wire names the safepoint %s.%s, instrument %s.%s", wire.ImportModule, wire.ImportSafepoint, instrument.ImportModule, instrument.ImportSafepoint)
	}
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	wat := watModule(`(import "puma" "safepoint" (func $sp))`, wire.ExportABI, "(call $sp) (i64.const 0)", "")
	m, err := h.Load(ctx, "sp.wasm", hostabitest.WAT(t, wat))
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "sp", Module: m, Timeout: time.Second, MaxMemory: 1 << 20, Config: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	if _, err := hd.Handle(ctx, poisonBatch(1, 2)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkInterrupt measures a 256-row batch through the empty Go
// handler, builtin:filter and builtin:jsonl (no fsync) with each way of
// interrupting calls: none (unsafe, the baseline), instrumentation, and
// wazero's close-on-done. Each iteration sends the batch through all
// three, in turn, so that they share whatever else the machine does; it
// reports each one's time per row and the ratios to the baseline. Run
// with
//
//	go test -run '^$' -bench BenchmarkInterrupt -count 5 ./hostabi/
func BenchmarkInterrupt(b *testing.B) {
	const rows = 256
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.wasm"), hostabitest.BuildGo(b, "./hostabi/testdata/keep"), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	batch := benchBatch(rows)
	modes := [3]string{"nothing", "instrumentation", "close-on-done"}
	for _, pl := range []struct {
		name, module string
		cfg, grants  map[string]any
	}{
		{"empty", filepath.Join(dir, "keep.wasm"), nil, nil},
		{"filter", "builtin:filter", map[string]any{"include": []any{"shop.*"}, "where": "status != 'test' AND amount > 100"}, nil},
		{"jsonl", "builtin:jsonl", map[string]any{"fsync": false, "max_bytes": 64 << 20}, map[string]any{"files": []any{"."}}},
	} {
		b.Run(pl.name, func(b *testing.B) {
			var calls [3]func() error
			for i, by := range modes {
				h := newHost(b, dir)
				hostabi.SetInterrupt(h, by)
				if pl.name == "jsonl" {
					cfg := maps.Clone(pl.cfg)
					cfg["path"] = "out-" + by + ".jsonl"
					s, err := h.NewSender(ctx, "bench", plugin(pl.name, pl.module, cfg, pl.grants))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					calls[i] = func() error { return s.Send(ctx, batch) }
					continue
				}
				hd, err := h.NewHandler(ctx, "bench", plugin(pl.name, pl.module, pl.cfg, pl.grants))
				if err != nil {
					b.Fatal(err)
				}
				defer hd.Close()
				calls[i] = func() error { _, err := hd.Handle(ctx, batch); return err }
			}
			var took [3]time.Duration
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				for k := range calls {
					i := (n + k) % len(calls)
					start := time.Now()
					if err := calls[i](); err != nil {
						b.Fatal(err)
					}
					took[i] += time.Since(start)
				}
			}
			per := func(i int) float64 { return float64(took[i].Nanoseconds()) / float64(n*rows) }
			b.ReportMetric(per(0), "plain-ns/row")
			b.ReportMetric(per(1), "instrumented-ns/row")
			b.ReportMetric(per(2), "closeondone-ns/row")
			b.ReportMetric(per(1)/per(0), "instrumented/plain")
			b.ReportMetric(per(2)/per(0), "closeondone/plain")
		})
	}
}

// BenchmarkInterruptStart measures loading each built-in (and the empty
// handler) in a new host: from an empty cache directory (cold: rewrite
// and compile), and from a warm one, instrumented or not; "+instance"
// also starts an instance (runtime, instantiate, _initialize, init). Run
// with
//
//	go test -run '^$' -bench BenchmarkInterruptStart -benchtime 10x ./hostabi/
func BenchmarkInterruptStart(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"keep", "filter", "jsonl", "stdout"} {
		pkg := "./plugins/builtins"
		if name == "keep" {
			pkg = "./hostabi/testdata/keep"
		}
		wasm := hostabitest.BuildGo(b, pkg)
		load := func(b *testing.B, cache, by string, instance bool) {
			dir := b.TempDir()
			h, err := hostabi.New(ctx, hostabi.Options{CacheDir: cache, ConfigDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			hostabi.SetInterrupt(h, by)
			m, err := h.Load(ctx, name, wasm)
			if err != nil {
				b.Fatal(err)
			}
			if instance {
				s := hostabi.Spec{Task: "t", Name: name, Module: m, Timeout: 5 * time.Second, MaxMemory: 64 << 20, Config: []byte("{}")}
				if name != "keep" {
					s.Select, s.Uses = name, catalog.Uses(name)
				}
				if name == "jsonl" {
					s.Config = []byte(`{"path":"x.jsonl"}`)
					s.Grants.Files = []string{dir}
					sd, err := h.StartSender(ctx, s)
					if err != nil {
						b.Fatal(err)
					}
					sd.Close()
					return
				}
				if name == "stdout" {
					s.Grants.Stdout = true
					sd, err := h.StartSender(ctx, s)
					if err != nil {
						b.Fatal(err)
					}
					sd.Close()
					return
				}
				hd, err := h.StartHandler(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				hd.Close()
			}
		}
		b.Run(name+"/cold", func(b *testing.B) {
			for b.Loop() {
				load(b, b.TempDir(), "instrumentation", false)
			}
		})
		for _, by := range []string{"instrumentation", "nothing"} {
			cache := b.TempDir()
			load(b, cache, by, false)
			b.Run(name+"/warm/"+by, func(b *testing.B) {
				for b.Loop() {
					load(b, cache, by, false)
				}
			})
			b.Run(name+"/warm+instance/"+by, func(b *testing.B) {
				for b.Loop() {
					load(b, cache, by, true)
				}
			})
		}
	}
}
