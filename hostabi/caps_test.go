package hostabi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
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

var fileOpsTable = &engine.Table{
	DB: "test", Name: "ops", KeyKind: engine.KeyRow, Version: 1,
	Columns: []engine.Column{{Name: "op", Kind: engine.KindString}, {Name: "text", Kind: engine.KindString}, {Name: "n", Kind: engine.KindInt}},
}

// fileOps returns a batch of operations for the truncater plugin: "write
// <text>" or "truncate <n>".
func fileOps(seq uint64, ops ...string) *engine.Batch {
	tx := &engine.Tx{ID: fmt.Sprintf("0-1-%d", seq), ServerID: 1, File: "bin.000001", Pos: uint32(seq * 1000)}
	b := &engine.Batch{Seq: seq, Tx: tx, Begin: true}
	for i, op := range ops {
		name, arg, _ := strings.Cut(op, " ")
		n, _ := strconv.ParseInt(arg, 10, 64)
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: fileOpsTable, After: []any{name, arg, n}, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: tx.Pos})
	}
	return b
}

// file_truncate cuts only what the same call appended: a plugin can undo
// its partial write, never cut what the file held before the call.
func TestFileTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "t.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir)
	m, err := h.Load(context.Background(), "truncater.wasm", hostabitest.BuildGo(t, "./hostabi/testdata/truncater"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := hostabi.ParseGrants(map[string]any{"files": []any{"out"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.StartHandler(context.Background(), hostabi.Spec{Task: "t", Name: "truncater", Module: m, Grants: g,
		Timeout: 5 * time.Second, MaxMemory: 64 << 20, Config: []byte(`{"path":"out/t.log"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	// Each step is one call; the file holds want after it.
	steps := []struct {
		ops  []string
		err  string
		want string
	}{
		{[]string{"write abc", "truncate 7"}, "", "before\n"},
		{[]string{"write abc", "truncate 8"}, "", "before\na"},
		{[]string{"write bc", "write d", "truncate 9"}, "", "before\nab"},
		// What earlier calls wrote, or the file held, is not this call's.
		{[]string{"truncate 8"}, "truncate out/t.log to 8 bytes: it held 9 before this call; files are append-only", "before\nab"},
		{[]string{"truncate 0"}, "truncate out/t.log to 0 bytes: it held 9 before this call", "before\nab"},
		{[]string{"write xy", "truncate 6"}, "truncate out/t.log to 6 bytes: it held 9 before this call", "before\nabxy"},
		{[]string{"truncate 11"}, "", "before\nabxy"},
		{[]string{"truncate 12"}, "truncate out/t.log to 12 bytes: the file has 11; truncation only cuts", "before\nabxy"},
	}
	for i, s := range steps {
		_, err := hd.Handle(context.Background(), fileOps(uint64(i+1), s.ops...))
		switch {
		case s.err == "" && err != nil:
			t.Errorf("step %d %q: %v", i+1, s.ops, err)
		case s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)):
			t.Errorf("step %d %q: error %v, want one saying %q", i+1, s.ops, err, s.err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != s.want {
			t.Fatalf("step %d %q: the file holds %q (%v), want %q", i+1, s.ops, b, err, s.want)
		}
	}
}

// builtin:jsonl cuts a line torn by a crash when it opens its file (it was
// never acknowledged: it is delivered again) and appends after it.
func TestJSONLCutsTornLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "x.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	const kept = `{"acknowledged":true}` + "\n"
	if err := os.WriteFile(path, []byte(kept+`{"torn":`), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, dir)
	s, err := h.NewSender(context.Background(), "shop", plugin("jsonl", "builtin:jsonl",
		map[string]any{"path": "out/x.jsonl"}, map[string]any{"files": []any{"out"}}))
	if err != nil {
		t.Fatal(err)
	}
	bs := corpus()
	sendAll(t, s, bs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte(kept), envelopes(bs, false)...); !bytes.Equal(got, want) {
		t.Errorf("the file holds\n%.300s…\nwant\n%.300s…", got, want)
	}
}
