// Package hostabitest helps tests run real plugin modules: it builds Go
// plugins to Wasm once per test process, assembles WAT fault modules with
// wat2wasm, and gives every test process of a run one shared compilation
// cache, so each module is compiled to native code once.
package hostabitest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/plugins/catalog"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
	tmp   string
)

func tempDir() (string, error) {
	if tmp != "" {
		return tmp, nil
	}
	d, err := os.MkdirTemp("", "puma-testwasm-")
	if err != nil {
		return "", err
	}
	tmp = d
	return d, nil
}

// BuildGo compiles the Go package pkg (an import path, or a path relative
// to the module root starting with "./") as a WASI reactor, once per
// process, and returns the module's bytes. The go build cache makes later
// processes cheap.
func BuildGo(tb testing.TB, pkg string) []byte {
	tb.Helper()
	b, err := buildGo(pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func buildGo(pkg string) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[pkg]; ok {
		return b, nil
	}
	d, err := tempDir()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(d, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".wasm")
	if strings.HasPrefix(pkg, "./") {
		pkg = "github.com/pumacdc/puma/" + strings.TrimPrefix(pkg, "./")
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	built[pkg] = b
	return b, nil
}

// BuildC compiles the C file src (a path relative to the module root, or
// absolute) as a WASI reactor with clang and wasi-libc, once per process.
// Without clang the test is skipped, or fails when CI is set (Debian:
// apt-get install clang lld wasi-libc libclang-rt-dev-wasm32).
func BuildC(tb testing.TB, src string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("clang"); err != nil {
		const msg = "clang not found: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	b, err := buildC(src)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func buildC(src string) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built["c:"+src]; ok {
		return b, nil
	}
	d, err := tempDir()
	if err != nil {
		return nil, err
	}
	path := src
	if !filepath.IsAbs(path) {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, filepath.FromSlash(src))
	}
	out := filepath.Join(d, strings.NewReplacer("/", "_", ".", "_").Replace(src)+".wasm")
	cmd := exec.Command("clang", "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Werror", "-Wl,--strip-all", "-o", out, path)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("clang %s: %v\n%s", src, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	built["c:"+src] = b
	return b, nil
}

// moduleRoot is the directory of go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// WAT assembles a module from WebAssembly text with wat2wasm (Debian's
// wabt package).
func WAT(tb testing.TB, src string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("wat2wasm not found: apt-get install wabt")
		}
		tb.Skip("wat2wasm not found: apt-get install wabt")
	}
	d := tb.TempDir()
	in, out := filepath.Join(d, "m.wat"), filepath.Join(d, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	if msg, err := exec.Command("wat2wasm", "-o", out, in).CombinedOutput(); err != nil {
		tb.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Builtin returns the built-in plugin name as package embedded serves
// it, from the shared module of plugins/builtins built by BuildGo (the
// grants cmd/puma adds are the caller's).
func Builtin(tb testing.TB, name string) hostabi.Builtin {
	tb.Helper()
	return hostabi.Builtin{Wasm: BuildGo(tb, "./plugins/builtins"), Select: name, Uses: catalog.Uses(name)}
}

// CacheDir is a compilation cache shared by the test processes of this
// machine (compiled code is keyed by the module's hash and wazero's
// version, and written atomically).
func CacheDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("puma-test-wasm-cache-%d", os.Getuid()))
}

// Now is the fixed clock of NewHost's hosts: envelopes rendered in a
// test carry this processing time (ts_ms), so tests can compare them.
func Now() time.Time { return time.Unix(1764065100, 123456789) }

// NewHost returns a Host on the shared cache whose config directory is
// dir and whose clock is Now (unless opts sets one), closed when the test
// ends.
func NewHost(tb testing.TB, dir string, opts hostabi.Options) *hostabi.Host {
	tb.Helper()
	opts.CacheDir = CacheDir()
	opts.ConfigDir = dir
	if opts.Now == nil {
		opts.Now = Now
	}
	h, err := hostabi.New(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// Cleanup removes the modules built by this process; call it from
// TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if tmp != "" {
		os.RemoveAll(tmp)
		tmp = ""
	}
}
