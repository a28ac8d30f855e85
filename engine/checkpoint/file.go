package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileStore keeps each task's checkpoint in its own file, <dir>/<task>.json,
// as indented JSON an operator can read. Save writes a temporary file in
// the same directory, syncs it, renames it over the checkpoint and syncs
// the directory, so a crash leaves either the old checkpoint or the new
// one, never a mix; a leftover temporary file (named .<task>.json.tmp-*) is
// never read.
//
// A FileStore is safe for concurrent use by different tasks. Concurrent
// Saves for one task are safe too; the last rename wins.
type FileStore struct {
	dir string
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store keeping its files in dir, which it creates
// (mode 0700) if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: create store directory: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

// file returns the checkpoint file of task, refusing names that would
// escape the directory or collide with temporary files.
func (s *FileStore) file(task string) (string, error) {
	if task == "" || strings.HasPrefix(task, ".") || strings.ContainsAny(task, `/\`+"\x00") {
		return "", fmt.Errorf("checkpoint: task name %q cannot name a file", task)
	}
	return filepath.Join(s.dir, task+".json"), nil
}

// Load returns the task's checkpoint, or an error wrapping ErrNotFound when
// it has none. A file that cannot be decoded, or that holds another task's
// checkpoint, is an error naming the file: it is never taken for a missing
// checkpoint, which would restart the task from start_if_none.
func (s *FileStore) Load(ctx context.Context, task string) (*Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := s.file(task)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint: load task %q: %w", task, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: load task %q: %w", task, err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint: load task %q: corrupt file %s (move it away to start from start_if_none): %w", task, name, err)
	}
	if cp.Task != task {
		return nil, fmt.Errorf("checkpoint: load task %q: file %s holds the checkpoint of task %q", task, name, cp.Task)
	}
	return &cp, nil
}

// Save durably replaces the task's checkpoint.
func (s *FileStore) Save(ctx context.Context, cp *Checkpoint) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := s.file(cp.Task)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("checkpoint: save task %q: %w", cp.Task, err)
		}
	}()
	data, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')

	tmp, err := os.CreateTemp(s.dir, "."+cp.Task+".json.tmp-*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	renamed = true
	return syncDir(s.dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
