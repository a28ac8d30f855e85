package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/hostabitest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/plugintest and testdata/status")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

// puma runs the command line in process and returns its output and exit
// code.
func puma(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// `puma plugin test` on each example's fixture prints what the golden file
// holds. Both rowcount plugins, in Go and in C, print rowcount.golden.
func TestPluginTestGolden(t *testing.T) {
	dir := t.TempDir()
	module := func(name string, wasm []byte) string {
		p := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, golden string
		module       func() string
		args         []string
		fixture      string
	}{
		{"dropvalue", "dropvalue", func() string { return module("dropvalue", hostabitest.BuildGo(t, "./examples/dropvalue")) },
			[]string{"-config", `{"column":"status","value":"test"}`}, "dropvalue"},
		{"emaildomain", "emaildomain", func() string { return module("emaildomain", hostabitest.BuildGo(t, "./examples/emaildomain")) },
			nil, "emaildomain"},
		{"rowcount", "rowcount", func() string { return module("rowcount", hostabitest.BuildGo(t, "./examples/rowcount")) },
			[]string{"-grants", `{"kv":true}`}, "rowcount"},
		{"rowcount-c", "rowcount", func() string { return module("rowcount-c", hostabitest.BuildC(t, "examples/rowcount/c/rowcount.c")) },
			[]string{"-grants", `{"kv":true}`}, "rowcount"},
		{"rowcount-batches", "rowcount-batches", func() string { return module("rowcount", hostabitest.BuildGo(t, "./examples/rowcount")) },
			[]string{"-grants", `{"kv":true}`, "-batch", "2"}, "rowcount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixture := filepath.Join("..", "..", "examples", tc.fixture, "testdata", "changes.jsonl")
			args := append(append([]string{"plugin", "test"}, tc.args...), tc.module(), fixture)
			out, errs, code := puma(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			golden := filepath.Join("testdata", "plugintest", tc.golden+".golden")
			if *update && tc.name == tc.golden {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, out)
			}
		})
	}
}

// A plugin that keeps everything gives back the fixture line for line:
// the envelopes read from the file are the envelopes written.
func TestPluginTestRoundTrip(t *testing.T) {
	fixture := filepath.Join("..", "..", "examples", "dropvalue", "testdata", "changes.jsonl")
	out, errs, code := puma(t, "plugin", "test", "-jsonl", "builtin:filter", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	in, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		if !strings.HasPrefix(l, `{"status"`) {
			want = append(want, l)
		}
	}
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Errorf("round trip:\n got %s\nwant %s", got, strings.Join(want, "\n"))
	}
}

// inspect reports the roles a module registers: rowcount, built with the
// Go SDK, exports both entry points and registers a handler only.
func TestPluginInspectAndBuild(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "rc.wasm")
	out, errs, code := puma(t, "plugin", "build", "-o", wasm, "../../examples/rowcount")
	if code != 0 {
		t.Fatalf("build: exit %d: %s %s", code, out, errs)
	}
	out, errs, code = puma(t, "plugin", "inspect", wasm)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errs)
	}
	for _, want := range []string{"abi      v2 (this Puma speaks v1 to v2)", "roles    handler\n", "needs    grants = { kv = true }", "puma.kv_get (i32, i32, i32, i32) -> (i64)", "loads    yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	// A module the host refuses says why, and exits 1.
	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = puma(t, "plugin", "inspect", bad)
	if code != exitFailed || !strings.Contains(out, "refused  not a Puma plugin") {
		t.Errorf("empty module: exit %d\n%s", code, out)
	}
}

func TestPluginTestErrors(t *testing.T) {
	fixture := filepath.Join("..", "..", "examples", "dropvalue", "testdata", "changes.jsonl")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plugin"}, exitUsage, "usage: puma plugin"},
		{[]string{"plugin", "nope"}, exitUsage, `unknown command "nope"`},
		{[]string{"plugin", "test", "-config", "{", "builtin:filter", fixture}, exitUsage, "-config"},
		{[]string{"plugin", "test", "builtin:nope", fixture}, exitFailed, `no built-in plugin "nope"`},
		{[]string{"plugin", "test", "builtin:filter", "missing.jsonl"}, exitUsage, "missing.jsonl"},
		{[]string{"plugin", "test", "-config", `{"ops":["x"]}`, "builtin:filter", fixture}, exitFailed, `ops: "x"`},
	} {
		out, errs, code := puma(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errs)
		}
	}
}

// A typed fixture gives the plugin the kinds the binary log would: the
// kinds plugin routes each change by its table's column kinds. Without a
// schema line the kinds are guessed, and a warning says so. "-" reads the
// fixture from standard input.
func TestPluginTestTypedFixture(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "kinds.wasm")
	if err := os.WriteFile(wasm, hostabitest.BuildGo(t, "./cmd/puma/testdata/kinds"), 0o644); err != nil {
		t.Fatal(err)
	}
	typed := filepath.Join("testdata", "plugintest", "typed.jsonl")
	data, err := os.ReadFile(typed)
	if err != nil {
		t.Fatal(err)
	}
	var untyped []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, `{"schema"`) {
			untyped = append(untyped, l)
		}
	}
	stdinFile := func(t *testing.T, text string) {
		f := filepath.Join(t.TempDir(), "in.jsonl")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); stdin = os.Stdin })
		stdin = in
	}
	const warning = "guessing column kinds"
	for _, tc := range []struct {
		name, input, stdin string
		route              string
		warns              bool
	}{
		{"typed file", typed, "", `route "id:uint,total:decimal,paid_at:timestamp,scan:bytes,status:enum"`, false},
		{"typed stdin", "-", string(data), `route "id:uint,total:decimal,paid_at:timestamp,scan:bytes,status:enum"`, false},
		{"untyped stdin", "-", strings.Join(untyped, "\n"), `route "id:int,total:string,paid_at:string,scan:string,status:string"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stdin != "" {
				stdinFile(t, tc.stdin)
			}
			out, errs, code := puma(t, "plugin", "test", wasm, tc.input)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, tc.route) {
				t.Errorf("output lacks %s:\n%s", tc.route, out)
			}
			if got := strings.Contains(errs, warning); got != tc.warns {
				t.Errorf("warning about guessed kinds: %v, want %v:\n%s", got, tc.warns, errs)
			}
			if tc.warns && !strings.Contains(errs, "standard input: no schema line for shop.orders") {
				t.Errorf("the warning does not name the input and table:\n%s", errs)
			}
		})
	}
}

// Every plugin command's -h prints its usage on stdout and exits 0.
func TestPluginHelp(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"build", "usage: puma plugin build"},
		{"inspect", "usage: puma plugin inspect"},
		{"test", "usage: puma plugin test"},
		{"init", "usage: puma plugin init"},
	} {
		for _, h := range []string{"-h", "--help"} {
			out, errs, code := puma(t, "plugin", tc.cmd, h)
			if code != 0 || !strings.HasPrefix(out, tc.want) || errs != "" {
				t.Errorf("puma plugin %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", tc.cmd, h, code, out, errs)
			}
		}
	}
	if out, _, code := puma(t, "plugin", "help"); code != 0 || !strings.Contains(out, "init") {
		t.Errorf("puma plugin help: exit %d\n%s", code, out)
	}
}

// puma plugin init writes a plugin that tests and builds offline with the
// stock toolchain, against the checkout this binary was built from, and
// that puma plugin test runs on its own fixture.
func TestPluginInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "myplugin")
	out, errs, code := puma(t, "plugin", "init", dir)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if want := "replace github.com/pumacdc/puma => " + filepath.ToSlash(root) + "\n"; !strings.Contains(string(mod), want) {
		t.Errorf("go.mod lacks %q:\n%s", want, mod)
	}
	offline := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	goCmd := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	goCmd(offline, "test", "./...")
	goCmd(append(offline, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"), "build", "-buildmode=c-shared", "-o", "myplugin.wasm", ".")

	out, errs, code = puma(t, "plugin", "test", "-config", `{"column":"status","value":"test"}`,
		filepath.Join(dir, "myplugin.wasm"), filepath.Join(dir, "testdata", "changes.jsonl"))
	if code != 0 || errs != "" {
		t.Fatalf("plugin test: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"c shop.customers seq 1: keep", "c shop.customers seq 2: drop"} {
		if !strings.Contains(out, want) {
			t.Errorf("plugin test output lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plugin", "init", dir}, exitFailed, "is not empty"},
		{[]string{"plugin", "init", "-sdk", t.TempDir(), filepath.Join(t.TempDir(), "p")}, exitFailed, "is not a Puma checkout"},
		{[]string{"plugin", "init"}, exitUsage, "usage: puma plugin init"},
	} {
		out, errs, code := puma(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errs)
		}
	}
}
