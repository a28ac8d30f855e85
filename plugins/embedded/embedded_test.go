package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// refresh is what every staleness failure ends with.
const refresh = "run `make wasm` and commit plugins/embedded/wasm"

// TestModuleCurrent fails when the committed wasm/builtins.wasm is not what
// `make wasm` builds from the tree: it runs the same generator into a
// temporary directory and compares. The inputs (source files and their
// hashes, the build command, the go version) must match whatever the
// toolchain; the module's bytes must match too when this toolchain is the
// one that built the committed module (a build is reproducible for a given
// toolchain, not across toolchains).
func TestModuleCurrent(t *testing.T) {
	committed := readInputs(t, filepath.Join("wasm", "builtins.inputs"))

	embeddedWasm, ok := Module("filter")
	if !ok {
		t.Fatalf("Module(filter) found no module in the binary; %s", refresh)
	}
	sum := sha256.Sum256(embeddedWasm)
	if got := fmt.Sprintf("%s %d", hex.EncodeToString(sum[:]), len(embeddedWasm)); got != committed["wasm"] {
		t.Fatalf("embedded wasm/builtins.wasm has SHA-256 and size %s, but wasm/builtins.inputs records %s: the two files are not from one build; %s",
			got, committed["wasm"], refresh)
	}

	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/build", "-o", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	rebuilt := readInputs(t, filepath.Join(dir, "builtins.inputs"))

	sameToolchain := committed["toolchain"] == rebuilt["toolchain"]
	if diff := diffInputs(committed, rebuilt, !sameToolchain); len(diff) > 0 {
		t.Fatalf("plugins/embedded/wasm/builtins.wasm is stale; what differs from the tree:\n\t%s\n%s",
			strings.Join(diff, "\n\t"), refresh)
	}
	if !sameToolchain {
		t.Logf("the committed module was built by %s, this toolchain is %s: compared its inputs, not its bytes",
			committed["toolchain"], rebuilt["toolchain"])
		return
	}
	got, err := os.ReadFile(filepath.Join(dir, "builtins.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, embeddedWasm) {
		t.Fatalf("rebuilding builtins.wasm from the same inputs with the same toolchain gave other bytes: the build is not reproducible")
	}
}

// toolchainKeys are the lines of builtins.inputs that change with the
// toolchain alone: the module's bytes and the default GODEBUG settings
// (derived from the go version and the toolchain's defaults).
var toolchainKeys = []string{"toolchain", "wasm", "godebug"}

// readInputs reads a builtins.inputs file into a map keyed by the line's
// first word, or by "source <path>" for a source file.
func readInputs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; %s", err, refresh)
	}
	return parseInputs(string(data))
}

func parseInputs(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		if key == "source" || key == "module" {
			path, sum, _ := strings.Cut(value, " ")
			key, value = key+" "+path, sum
		}
		m[key] = value
	}
	return m
}

// diffInputs describes how the inputs want (committed) and got (the tree)
// differ, one line each, sorted; it ignores toolchainKeys if
// ignoreToolchain.
func diffInputs(want, got map[string]string, ignoreToolchain bool) []string {
	var diff []string
	for k, w := range want {
		if ignoreToolchain && slices.Contains(toolchainKeys, k) {
			continue
		}
		g, ok := got[k]
		switch {
		case !ok && strings.HasPrefix(k, "source "):
			diff = append(diff, k+": removed")
		case !ok:
			diff = append(diff, k+": no longer recorded")
		case g != w && strings.HasPrefix(k, "source "):
			diff = append(diff, k+": changed")
		case g != w:
			diff = append(diff, fmt.Sprintf("%s: %s, was %s", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; ok || ignoreToolchain && slices.Contains(toolchainKeys, k) {
			continue
		}
		if strings.HasPrefix(k, "source ") {
			diff = append(diff, k+": added")
		} else {
			diff = append(diff, fmt.Sprintf("%s: %s, was not recorded", k, g))
		}
	}
	slices.Sort(diff)
	return diff
}

func TestDiffInputs(t *testing.T) {
	const base = `# comment
toolchain go1.26.8
wasm aaaa 10
go 1.25.0
godebug x=1
source sdk/a.go 1111
source sdk/b.go 2222
`
	tests := []struct {
		name            string
		got             string
		ignoreToolchain bool
		want            []string
	}{
		{"same", base, false, nil},
		{"comment only", strings.Replace(base, "# comment", "# other", 1), false, nil},
		{"file changed", strings.Replace(base, "sdk/a.go 1111", "sdk/a.go 9999", 1), false, []string{"source sdk/a.go: changed"}},
		{"file added", base + "source sdk/c.go 3333\n", false, []string{"source sdk/c.go: added"}},
		{"file removed", strings.Replace(base, "source sdk/b.go 2222\n", "", 1), false, []string{"source sdk/b.go: removed"}},
		{"go version", strings.Replace(base, "go 1.25.0", "go 1.26.0", 1), false, []string{"go: 1.26.0, was 1.25.0"}},
		{"module added", base + "module example.com/m v1.0.0\n", false, []string{"module example.com/m: v1.0.0, was not recorded"}},
		{"other toolchain", strings.NewReplacer("go1.26.8", "go1.27.0", "aaaa", "bbbb", "x=1", "x=0").Replace(base), true, nil},
		{"other toolchain, compared", strings.NewReplacer("go1.26.8", "go1.27.0", "aaaa 10", "bbbb 11").Replace(base), false,
			[]string{"toolchain: go1.27.0, was go1.26.8", "wasm: bbbb 11, was aaaa 10"}},
		{"other toolchain and file changed", strings.NewReplacer("go1.26.8", "go1.27.0", "2222", "0000").Replace(base), true,
			[]string{"source sdk/b.go: changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffInputs(parseInputs(base), parseInputs(tt.got), tt.ignoreToolchain)
			if !slices.Equal(got, tt.want) {
				t.Errorf("diffInputs = %q, want %q", got, tt.want)
			}
		})
	}
}

// builtin:amqp is granted the target its config names, and only that.
func TestAMQPGrant(t *testing.T) {
	b, ok := Builtin("amqp", map[string]any{"target": "rabbit"}, "/")
	if !ok || !slices.Equal(b.Grants.Targets["amqp"], []string{"rabbit"}) || len(b.Grants.Targets) != 1 || !slices.Contains(b.Uses, "amqp") {
		t.Errorf("builtin:amqp: ok %v, grants %+v, uses %v", ok, b.Grants.Targets, b.Uses)
	}
	if b, _ := Builtin("amqp", map[string]any{}, "/"); b.Grants.Targets != nil {
		t.Errorf("without a target: grants %+v", b.Grants.Targets)
	}
}
