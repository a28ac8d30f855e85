package hostabi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/plugins/catalog"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

// builtins serves the built-in plugins built from source, so tests do not
// depend on `make wasm` having run.
func builtins(tb testing.TB) func(string, map[string]any) (hostabi.Builtin, bool) {
	return func(name string, _ map[string]any) (hostabi.Builtin, bool) {
		if !slices.Contains(catalog.Names, name) {
			return hostabi.Builtin{}, false
		}
		b := hostabitest.Builtin(tb, name)
		if name == "stdout" {
			b.Grants.Stdout = true
		}
		return b, true
	}
}

func newHost(t testing.TB, dir string) *hostabi.Host {
	return hostabitest.NewHost(t, dir, hostabi.Options{Builtin: builtins(t)})
}

func plugin(name, module string, cfg, grants map[string]any) engine.PluginConfig {
	return engine.PluginConfig{Plugin: module, Name: name, Config: cfg, Grants: grants, Timeout: 5 * time.Second, MaxMemory: 64 << 20}
}

func sendAll(t *testing.T, s engine.Sender, bs []*engine.Batch) {
	t.Helper()
	for _, b := range bs {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("send batch %d: %v", b.Seq, err)
		}
	}
}

func TestJSONLMatchesEnvelope(t *testing.T) {
	for _, markers := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "markers"}[markers], func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, dir)
			s, err := h.NewSender(context.Background(), "shop", plugin("jsonl", "builtin:jsonl",
				map[string]any{"path": "out/x.jsonl", "markers": markers},
				map[string]any{"files": []any{"out"}}))
			if err != nil {
				t.Fatal(err)
			}
			bs := corpus()
			sendAll(t, s, bs)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "out", "x.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			want := envelopes(bs, markers)
			if !bytes.Equal(got, want) {
				gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
				for i := range min(len(gl), len(wl)) {
					if !bytes.Equal(gl[i], wl[i]) {
						t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}
