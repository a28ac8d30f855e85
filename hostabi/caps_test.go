package hostabi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// The files capability stays inside the granted directories.
func TestFilesGrant(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "opener.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/opener"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out", "escape")); err != nil {
		t.Fatal(err)
	}
	// A symlinked file leading out, and one leading up through "..".
	if err := os.Symlink(filepath.Join(outside, "target.txt"), filepath.Join(dir, "out", "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.txt", filepath.Join(dir, "out", "up.txt")); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir)
	tests := []struct{ path, err string }{
		{"out/ok.txt", ""},
		{"out/sub/dir/ok.txt", ""},
		{"../x.txt", `contains ".."`},
		{"out/../out/x.txt", `contains ".."`},
		{outside + "/x.txt", "is absolute"},
		{"other/x.txt", "outside the granted directories (out)"},
		{"out/escape/x.txt", "path escapes from parent"},
		{"out/link.txt", "path escapes from parent"},
		{"out/up.txt", "path escapes from parent"},
		{"out/./x.txt", ""},
		{"./out/y.txt", ""},
		{`out\..\..\x.txt`, "outside the granted directories"}, // a backslash is no separator on Unix: one name, in the config dir
	}
	for _, tc := range tests {
		hd, err := h.NewHandler(context.Background(), "t", plugin("opener", filepath.Join(dir, "opener.wasm"),
			map[string]any{"path": tc.path}, map[string]any{"files": []any{"out"}}))
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
			hd.Close()
			if b, err := os.ReadFile(filepath.Join(dir, tc.path)); err != nil || string(b) != "ok\n" {
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
	if _, err := os.Stat(filepath.Join(dir, "secret.txt")); err == nil {
		t.Error("a file was written outside the grant through a relative symlink")
	}
}

func TestParseGrants(t *testing.T) {
	for _, tc := range []struct {
		raw map[string]any
		err string
	}{
		{map[string]any{"files": []any{"out", "a/b"}, "stdout": true}, ""},
		{map[string]any{"files": []any{"/abs"}}, "is absolute"},
		{map[string]any{"files": []any{"../up"}}, `contains ".."`},
		{map[string]any{"files": "out"}, "want a list of directories"},
		{map[string]any{"stdout": "yes"}, "want true or false"},
		{map[string]any{"env": []any{"X"}}, `unknown capability "env"`},
	} {
		_, err := hostabi.ParseGrants(tc.raw, "/cfg")
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: error %v, want %q", tc.raw, err, tc.err)
		}
	}
}
