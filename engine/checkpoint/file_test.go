package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/checkpoint/checkpointtest"
)

// newFileStore returns a store in a fresh directory, and the directory.
func newFileStore(t *testing.T) (*checkpoint.FileStore, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkpoints")
	s, err := checkpoint.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestFileStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(t *testing.T) checkpoint.Store {
		s, _ := newFileStore(t)
		return s
	})
}

func TestMemStoreConformance(t *testing.T) {
	checkpointtest.TestStore(t, func(*testing.T) checkpoint.Store { return checkpoint.NewMemStore() })
}

func cp(task string, pos uint32) *checkpoint.Checkpoint {
	c := &checkpoint.Checkpoint{Task: task}
	c.Position.File, c.Position.Pos = "binlog.000001", pos
	return c
}

func mustSave(t *testing.T, s checkpoint.Store, c *checkpoint.Checkpoint) {
	t.Helper()
	if err := s.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFileStoreLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := checkpoint.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", fi.Mode().Perm())
	}
	mustSave(t, s, cp("shop", 4))
	data, err := os.ReadFile(filepath.Join(dir, "shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "{\n  \"task\": \"shop\",\n") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("file is not indented JSON:\n%s", data)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"garbage", "not json", "corrupt file"},
		{"empty", "", "corrupt file"},
		{"truncated", `{"task": "shop", "position": {`, "corrupt file"},
		{"trailing garbage", `{"task": "shop"} x`, "corrupt file"},
		{"wrong type", `{"task": "shop", "position": {"pos": "four"}}`, "corrupt file"},
		{"other task", `{"task": "billing"}`, `holds the checkpoint of task "billing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newFileStore(t)
			mustSave(t, s, cp("shop", 4))
			name := filepath.Join(dir, "shop.json")
			if err := os.WriteFile(name, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(context.Background(), "shop")
			if err == nil || errors.Is(err, checkpoint.ErrNotFound) {
				t.Fatalf("Load = %v, want a corruption error", err)
			}
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s or say %q", err, name, tt.want)
			}
		})
	}
}

func TestFileStoreNoTempFilesLeft(t *testing.T) {
	s, dir := newFileStore(t)
	for i := range 10 {
		mustSave(t, s, cp("shop", uint32(4+i)))
		mustSave(t, s, cp("billing", uint32(4+i)))
	}
	got := listDir(t, dir)
	if want := []string{"billing.json", "shop.json"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}

// TestFileStoreInterruptedSave simulates a crash between writing the
// temporary file and renaming it: the stray file must not change Load.
func TestFileStoreInterruptedSave(t *testing.T) {
	s, dir := newFileStore(t)
	ctx := context.Background()
	stray := func(task, content string) {
		t.Helper()
		name := filepath.Join(dir, "."+task+".json.tmp-123456")
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// No checkpoint yet: still none.
	stray("new", `{"task": "new", "position": {"file": "binlog.000009", "pos": 99}}`)
	if _, err := s.Load(ctx, "new"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("Load with only a stray temp file = %v, want ErrNotFound", err)
	}

	// A checkpoint: still that one, whether the stray file is complete or
	// torn.
	mustSave(t, s, cp("shop", 4))
	for _, content := range []string{`{"task": "shop", "position": {"file": "binlog.000009", "pos": 99}}`, `{"task": "sh`} {
		stray("shop", content)
		got, err := s.Load(ctx, "shop")
		if err != nil || got.Position.Pos != 4 {
			t.Errorf("Load with a stray temp file = %+v, %v; want pos 4", got, err)
		}
	}

	// A later Save still works and leaves the stray file alone.
	mustSave(t, s, cp("shop", 5))
	if got, err := s.Load(ctx, "shop"); err != nil || got.Position.Pos != 5 {
		t.Errorf("Load after a later Save = %+v, %v; want pos 5", got, err)
	}
}

func TestFileStoreConcurrentTasks(t *testing.T) {
	s, dir := newFileStore(t)
	ctx := context.Background()
	const tasks, saves = 16, 25
	var wg sync.WaitGroup
	for i := range tasks {
		wg.Go(func() {
			task := fmt.Sprintf("task-%02d", i)
			for n := range saves {
				if err := s.Save(ctx, cp(task, uint32(4+n))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range tasks {
		got, err := s.Load(ctx, fmt.Sprintf("task-%02d", i))
		if err != nil || got.Position.Pos != 4+saves-1 {
			t.Errorf("task %d: Load = %+v, %v", i, got, err)
		}
	}
	if n := len(listDir(t, dir)); n != tasks {
		t.Errorf("directory holds %d files, want %d", n, tasks)
	}
}

func TestFileStoreBadTaskNames(t *testing.T) {
	s, dir := newFileStore(t)
	ctx := context.Background()
	for _, task := range []string{"", ".", "..", ".hidden", "../escape", "a/b", `a\b`, "nul\x00"} {
		t.Run(fmt.Sprintf("%q", task), func(t *testing.T) {
			if err := s.Save(ctx, cp(task, 4)); err == nil {
				t.Error("Save accepted the name")
			}
			if _, err := s.Load(ctx, task); err == nil || errors.Is(err, checkpoint.ErrNotFound) {
				t.Errorf("Load = %v, want a bad-name error", err)
			}
		})
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("directory holds %v", names)
	}
}

func TestStoresHonourCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fs, _ := newFileStore(t)
	for name, s := range map[string]checkpoint.Store{"file": fs, "mem": checkpoint.NewMemStore()} {
		t.Run(name, func(t *testing.T) {
			if err := s.Save(ctx, cp("shop", 4)); !errors.Is(err, context.Canceled) {
				t.Errorf("Save = %v, want context.Canceled", err)
			}
			if _, err := s.Load(ctx, "shop"); !errors.Is(err, context.Canceled) {
				t.Errorf("Load = %v, want context.Canceled", err)
			}
		})
	}
}
