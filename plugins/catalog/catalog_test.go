package catalog

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestUses derives each built-in's capabilities from the SDK packages it
// imports, as a module of its own would import the host functions.
func TestUses(t *testing.T) {
	caps := map[string]string{"files": "files", "stdout": "stdout", "http": "http", "secrets": "secrets", "kv": "kv", "amqp": "amqp", "kafka": "kafka", "nats": "nats", "redis": "redis", "sql": "sql"}
	for _, name := range Names {
		cmd := exec.Command("go", "list", "-deps", "github.com/pumacdc/puma/plugins/"+name)
		cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", name, err)
		}
		var got []string
		for _, pkg := range strings.Fields(string(out)) {
			if c, ok := strings.CutPrefix(pkg, "github.com/pumacdc/puma/sdk/"); ok && caps[c] != "" {
				got = append(got, caps[c])
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(Uses(name)))
		if !slices.Equal(got, want) {
			t.Errorf("builtin:%s imports the SDK packages of %v, the catalog says %v", name, got, want)
		}
	}
}

// TestSender holds Sender to the packages: a sender registers a Sender.
func TestSender(t *testing.T) {
	for _, name := range Names {
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/pumacdc/puma/plugins/"+name).Output()
		if err != nil {
			t.Fatal(err)
		}
		dir := strings.TrimSpace(string(out))
		src, err := os.ReadFile(filepath.Join(dir, name+".go"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(src), "Sender:"); got != Sender(name) {
			t.Errorf("builtin:%s registers a sender: %v, the catalog says %v", name, got, Sender(name))
		}
	}
}
