package hostabi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// The files capability stays inside the granted directories, relative
// (to puma.toml's directory) or absolute.
func TestFilesGrant(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	abs := filepath.Join(t.TempDir(), "var", "lib", "puma")
	if err := os.WriteFile(filepath.Join(dir, "opener.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/opener"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "out"), abs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(d, "escape")); err != nil {
			t.Fatal(err)
		}
		// A symlinked file leading out, and one leading up through "..".
		if err := os.Symlink(filepath.Join(outside, "target.txt"), filepath.Join(d, "link.txt")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../secret.txt", filepath.Join(d, "up.txt")); err != nil {
			t.Fatal(err)
		}
	}
	h := newHost(t, dir)
	tests := []struct{ path, err string }{
		{"out/ok.txt", ""},
		{"out/sub/dir/ok.txt", ""},
		{"../x.txt", `contains ".."`},
		{"out/../out/x.txt", `contains ".."`},
		{outside + "/x.txt", "outside the granted directories (out, " + abs + ")"},
		{"other/x.txt", "outside the granted directories (out, " + abs + ")"},
		{"out/escape/x.txt", "path escapes from parent"},
		{"out/link.txt", "path escapes from parent"},
		{"out/up.txt", "path escapes from parent"},
		{"out/./x.txt", ""},
		{"./out/y.txt", ""},
		{`out\..\..\x.txt`, "outside the granted directories"}, // a backslash is no separator on Unix: one name, in the config dir
		{dir + "/out/abs-named.txt", ""},                       // a relative grant reached by its absolute path
		// The absolute grant: the same checks.
		{abs + "/ok.txt", ""},
		{abs + "/sub/dir/ok.txt", ""},
		{abs + "//./sub/z.txt", ""},
		{abs, "outside the granted directories"}, // the directory itself is no file
		{abs + "/../x.txt", `contains ".."`},
		{abs + "/sub/../../x.txt", `contains ".."`},
		{filepath.Dir(abs) + "/x.txt", "outside the granted directories"},
		{abs + "-sibling/x.txt", "outside the granted directories"},
		{abs + "/escape/x.txt", "path escapes from parent"},
		{abs + "/link.txt", "path escapes from parent"},
		{abs + "/up.txt", "path escapes from parent"},
	}
	for _, tc := range tests {
		hd, err := h.NewHandler(context.Background(), "t", plugin("opener", filepath.Join(dir, "opener.wasm"),
			map[string]any{"path": tc.path}, map[string]any{"files": []any{"out", abs}}))
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
			hd.Close()
			at := tc.path
			if !filepath.IsAbs(at) {
				at = filepath.Join(dir, at)
			}
			if b, err := os.ReadFile(at); err != nil || string(b) != "ok\n" {
				t.Errorf("%s: %q, %v", tc.path, b, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one saying %q", tc.path, err, tc.err)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a file was written outside the grant: %v", entries)
	}
	for _, d := range []string{dir, filepath.Dir(abs)} {
		for _, name := range []string{"secret.txt", "x.txt"} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				t.Errorf("%s was written outside the grant", filepath.Join(d, name))
			}
		}
	}
}

func TestParseGrants(t *testing.T) {
	for _, tc := range []struct {
		raw map[string]any
		err string
	}{
		{map[string]any{"files": []any{"out", "a/b"}, "stdout": true}, ""},
		{map[string]any{"files": []any{"/var/lib/puma/out"}}, ""},
		{map[string]any{"files": []any{"/"}}, "is the root of the file system"},
		{map[string]any{"files": []any{"//"}}, "is the root of the file system"},
		{map[string]any{"files": []any{"/var/lib/../../etc"}}, `contains ".."`},
		{map[string]any{"files": []any{"../up"}}, `contains ".."`},
		{map[string]any{"files": []any{""}}, "empty path"},
		{map[string]any{"files": "out"}, "want a list of directories"},
		{map[string]any{"stdout": "yes"}, "want true or false"},
		{map[string]any{"env": []any{"X"}}, `unknown capability "env"`},
	} {
		_, err := hostabi.ParseGrants(tc.raw, "/cfg")
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: error %v, want %q", tc.raw, err, tc.err)
		}
	}
	// Relative directories are taken from puma.toml's, absolute ones as
	// they are.
	g, err := hostabi.ParseGrants(map[string]any{"files": []any{"out", "./a//b/", "/var/lib/puma/out/"}}, "/etc/puma")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/etc/puma/out", "/etc/puma/a/b", "/var/lib/puma/out"}; !slices.Equal(g.Files, want) {
		t.Errorf("files %q, want %q", g.Files, want)
	}
}

// builtin:jsonl writes where an absolute path and grant say, as operators
// lay out /etc/puma and /var/lib/puma.
func TestJSONLAbsolutePath(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "var", "lib", "puma", "out")
	h := newHost(t, t.TempDir())
	s, err := h.NewSender(context.Background(), "shop", plugin("jsonl", "builtin:jsonl",
		map[string]any{"path": abs + "/shop.jsonl"}, map[string]any{"files": []any{abs}}))
	if err != nil {
		t.Fatal(err)
	}
	bs := corpus()
	sendAll(t, s, bs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(abs, "shop.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := envelopes(bs, false); !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes, want the %d of the batches' envelopes", abs, len(got), len(want))
	}
}
