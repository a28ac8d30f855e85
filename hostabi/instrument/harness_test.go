package instrument

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The tests instrument real modules built from source by each toolchain a
// plugin author may use. TestMain builds them once per run into a cache
// in os.TempDir keyed by the hash of the tool's version, its arguments and
// the sources, so reruns start at once.

// guest is a module the tests instrument, with calls whose results must
// not change and the export that spins forever.
type guest struct {
	name  string
	build func() ([]byte, error)
	calls []call
	spin  string // export that never returns
	// memory: compare the exported memory's bytes after the calls
	memory bool

	wasm []byte
	err  error // why it could not be built
}

type call struct {
	fn   string
	args []uint64
}

func c(fn string, args ...uint64) call { return call{fn, args} }

func f64(v float64) uint64 { return api.EncodeF64(v) }

var guests = []*guest{
	{name: "wat/loops", build: wat("loops.wat", "--debug-names"), spin: "spin", memory: true, calls: []call{
		c("get_g"), c("double", 21), c("sum", 1000), c("sum", 0), c("fib", 20),
		c("classify", 0), c("classify", 1), c("classify", 2), c("classify", 3), c("classify", 9),
		c("divmod_sum", 17, 5), c("count_mv", 10), c("count_mv", 0), c("count_mv", 1),
		c("indirect", 0, 5), c("indirect", 1, 5), c("indirect", 2, 10), c("indirect", 3, 1),
		c("via_ref", 7), c("indirect", 3, 9), c("via_global", 7), c("host", 2, 3),
		c("spins"),
	}},
	{name: "wat/features", build: wat("features.wat", "--debug-names"), spin: "spin", memory: true, calls: []call{
		c("mvp", 7), c("mvp", 0xffff_fff0), c("grow"), c("signext", 0x1234_5678_9abc_def0), c("signext", 0x80),
		c("satconv", f64(1e20)), c("satconv", f64(-1e20)), c("satconv", f64(3.7)), c("satconv", f64(-0.5)),
		c("bulk", 8), c("bulk", 3), c("reftypes", 0, 0), c("reftypes", 1, 1234),
		c("multivalue", 3), c("multivalue", 4), c("simd", 5), c("simd", 0xdead), c("nested", 50),
		c("drops"), c("bulk", 1), // memory.init of a dropped segment traps
	}},
	{name: "wat/tailcall", build: wat("tailcall.wat", "--enable-tail-call"), spin: "spin", calls: []call{
		c("even", 10), c("even", 7), c("even", 1_000_001),
	}},
	{name: "wat/threads", build: wat("threads.wat", "--enable-threads"), spin: "spin", memory: true, calls: []call{
		c("atomics", 3), c("atomics", 100),
	}},
	{name: "go", build: buildGo, spin: "spin", calls: []call{
		c("fib", 20), c("work", 1000), c("work", 1), c("spins"),
	}},
	{name: "c", build: buildC, spin: "spin", memory: true, calls: []call{
		c("fib", 20), c("work", 1000), c("simd", 1000), c("simd", 7),
		c("conv", f64(1e20), 300), c("conv", f64(-2.5), 0xffff_ff80), c("hello", 7), c("spins"),
	}},
	{name: "rust", build: buildRust, spin: "spin", memory: true, calls: []call{
		c("fib", 20), c("work", 1000), c("conv", f64(1e20), 300), c("conv", f64(-2.5), 0xffff_ff80), c("spins"),
	}},
	{name: "assemblyscript", build: buildAS, spin: "spin", memory: true, calls: []call{
		c("fib", 20), c("work", 1000), c("work", 3), c("__collect"), c("spins"),
	}},
}

func guestNamed(name string) *guest {
	for _, g := range guests {
		if g.name == name {
			return g
		}
	}
	panic("no guest " + name)
}

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus under testdata/fuzz")

func TestMain(m *testing.M) {
	flag.Parse()
	for _, g := range guests {
		g.wasm, g.err = g.build()
	}
	os.Exit(m.Run())
}

// need returns g's module, skipping the test when its toolchain is
// missing, or failing it when CI is set (CI must build every guest).
func (g *guest) need(tb testing.TB) []byte {
	tb.Helper()
	if g.err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s: %v", g.name, g.err)
		}
		tb.Skipf("%s: %v", g.name, g.err)
	}
	return g.wasm
}

// cached runs build unless cacheDir already holds the output for key.
func cached(key string, build func(out string) error) ([]byte, error) {
	dir := filepath.Join(os.TempDir(), "puma-instrument-guests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(dir, hex.EncodeToString(sum[:16])+".wasm")
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "out.wasm")
	if err := build(out); err != nil {
		return nil, err
	}
	if err := os.Rename(out, path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// run runs a command, returning its combined output in the error.
func run(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// keyOf is a cache key: the tool's version line, the arguments and the
// sources' contents.
func keyOf(versionCmd []string, args []string, sources ...string) (string, error) {
	v, err := run(nil, versionCmd[0], versionCmd[1:]...)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Write(v)
	b.WriteString(strings.Join(args, "\x00"))
	for _, s := range sources {
		src, err := os.ReadFile(s)
		if err != nil {
			return "", err
		}
		b.Write(src)
	}
	return b.String(), nil
}

func wat(file string, flags ...string) func() ([]byte, error) {
	return func() ([]byte, error) {
		src := filepath.Join("testdata", "wat", file)
		key, err := keyOf([]string{"wat2wasm", "--version"}, flags, src)
		if err != nil {
			return nil, fmt.Errorf("wat2wasm (Debian package wabt): %w", err)
		}
		return cached(key, func(out string) error {
			_, err := run(nil, "wat2wasm", append(flags, src, "-o", out)...)
			return err
		})
	}
}

func buildGo() ([]byte, error) {
	src := filepath.Join("testdata", "go", "guest.go")
	args := []string{"build", "-buildmode=c-shared", "-trimpath"}
	key, err := keyOf([]string{"go", "env", "GOVERSION"}, args, src)
	if err != nil {
		return nil, err
	}
	return cached(key, func(out string) error {
		_, err := run([]string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}, "go", append(args, "-o", out, src)...)
		return err
	})
}

func buildC() ([]byte, error) {
	src := filepath.Join("testdata", "c", "guest.c")
	// DWARF is kept (wasi-libc's) so that the tests see it dropped.
	args := []string{"--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-msimd128", "-mbulk-memory", "-msign-ext", "-mnontrapping-fptoint"}
	key, err := keyOf([]string{"clang", "--version"}, args, src)
	if err != nil {
		return nil, fmt.Errorf("clang (Debian packages clang lld wasi-libc libclang-rt-dev-wasm32): %w", err)
	}
	return cached(key, func(out string) error {
		_, err := run(nil, "clang", append(args, "-o", out, src)...)
		return err
	})
}

// rustc is Debian's, which has the wasm32 standard library
// (libstd-rust-dev-wasm32); a rustup toolchain on PATH may lack it.
const rustc = "/usr/bin/rustc"

func buildRust() ([]byte, error) {
	src := filepath.Join("testdata", "rust", "guest.rs")
	args := []string{"--edition", "2021", "--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "-O",
		"-C", "strip=debuginfo", "-C", "target-feature=+simd128,+bulk-memory,+nontrapping-fptoint"}
	key, err := keyOf([]string{rustc, "--version"}, args, src)
	if err != nil {
		return nil, fmt.Errorf("rustc (Debian packages rustc libstd-rust-dev-wasm32): %w", err)
	}
	return cached(key, func(out string) error {
		_, err := run(nil, rustc, append(args, "-o", out, src)...)
		return err
	})
}

func buildAS() ([]byte, error) {
	src := filepath.Join("testdata", "as", "guest.ts")
	// The incremental runtime, so that the guest's collector runs too.
	args := []string{"-O3", "--runtime", "incremental", "--exportRuntime"}
	key, err := keyOf([]string{"asc", "--version"}, args, src)
	if err != nil {
		return nil, fmt.Errorf("asc (npm install -g assemblyscript): %w", err)
	}
	return cached(key, func(out string) error {
		_, err := run(nil, "asc", append([]string{src, "-o", out}, args...)...)
		return err
	})
}

// features is what the test runtimes enable: WebAssembly 2.0 and the
// experimental proposals Instrument handles.
const features = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall | experimental.CoreFeaturesExtendedConst

// compiled is shared by every test runtime, so that each module is
// compiled once per run (wazero keys it by the module's hash and by
// WithCloseOnContextDone; all test runtimes enable the same features).
var compiled = wazero.NewCompilationCache()

// host is a wazero runtime with everything the guests import: WASI, the
// safepoint (counting its calls), and the env and genv modules of
// loops.wat.
type host struct {
	wazero.Runtime
	safepoints atomic.Int64
}

func newHost(tb testing.TB, closeOnDone bool) *host {
	tb.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features).WithCompilationCache(compiled)
	if closeOnDone {
		cfg = cfg.WithCloseOnContextDone(true)
	}
	h := &host{Runtime: wazero.NewRuntimeWithConfig(ctx, cfg)}
	tb.Cleanup(func() { h.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, h)
	_, err := h.NewHostModuleBuilder(ImportModule).
		NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(context.Context, []uint64) { h.safepoints.Add(1) }), nil, nil).
		Export(ImportSafepoint).
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = h.NewHostModuleBuilder("env").
		NewFunctionBuilder().
		WithFunc(func(a, b uint32) uint32 { return a + b }).
		Export("add").
		NewFunctionBuilder().
		WithFunc(func(msg, file, line, col uint32) {}). // AssemblyScript's; it traps after
		Export("abort").
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	genv, err := wat("genv.wat")()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := h.InstantiateWithConfig(ctx, genv, wazero.NewModuleConfig().WithName("genv")); err != nil {
		tb.Fatal(err)
	}
	return h
}

// instance compiles and instantiates wasm anonymously, calling the WASI
// reactor initialiser when there is one.
func (h *host) instance(tb testing.TB, wasm []byte, stdout *bytes.Buffer) api.Module {
	tb.Helper()
	ctx := context.Background()
	cm, err := h.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	if stdout != nil {
		cfg = cfg.WithStdout(stdout)
	}
	mod, err := h.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() { mod.Close(ctx) })
	return mod
}

// interruptFlag returns the instance's interrupt flag.
func interruptFlag(tb testing.TB, mod api.Module) api.MutableGlobal {
	tb.Helper()
	g, ok := mod.ExportedGlobal(ExportInterrupt).(api.MutableGlobal)
	if !ok {
		tb.Fatalf("instrumented module exports no mutable global %q", ExportInterrupt)
	}
	return g
}

// interrupter returns what the host's watchdog calls to interrupt mod: set
// the flag, then zero the countdown.
func interrupter(tb testing.TB, mod api.Module) func() {
	tb.Helper()
	flag := interruptFlag(tb, mod)
	countdown, ok := mod.ExportedGlobal(ExportCountdown).(api.MutableGlobal)
	if !ok {
		tb.Fatalf("instrumented module exports no mutable global %q", ExportCountdown)
	}
	return func() {
		flag.Set(1)
		countdown.Set(0)
	}
}

// firstLine is an error's first line: wazero appends a stack trace whose
// function indices instrumentation moves.
func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func isUnreachable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unreachable")
}
