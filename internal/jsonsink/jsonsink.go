// Package jsonsink holds the JSON-envelope senders written in Go: jsonl
// (append to a file, fsync before acknowledging) and stdout.
package jsonsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pumacdc/puma/engine"
)

// Config is the plugin configuration both senders accept; jsonl needs Path.
type Config struct {
	// Path of the output file; relative paths resolve against the config
	// file's directory.
	Path string `json:"path"`
	// MaxBytes rotates the file once it has grown past this size; 0 never
	// rotates. The rotated file is renamed to Path.<unix-nanos>.
	MaxBytes int64 `json:"max_bytes"`
	// Fsync syncs the file before a batch is acknowledged; default true.
	Fsync *bool `json:"fsync"`
	// Markers writes BEGIN and END transaction lines around each
	// transaction; default false.
	Markers bool `json:"markers"`
}

// DecodeConfig decodes a plugin's raw config table strictly: unknown keys
// are errors.
func DecodeConfig(raw map[string]any) (Config, error) {
	var c Config
	if raw == nil {
		return c, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.MaxBytes < 0 {
		return c, fmt.Errorf("config: max_bytes must not be negative, got %d", c.MaxBytes)
	}
	return c, nil
}

// encoder renders batches; it is owned by one sender.
type encoder struct {
	markers bool
	env     engine.Envelopes
	buf     []byte
}

func (e *encoder) encode(b *engine.Batch) []byte {
	e.buf = e.buf[:0]
	if b.Tx == nil {
		return e.buf
	}
	e.env.StartBatch(b, time.Now())
	if b.Begin && e.markers {
		e.buf = e.env.AppendBegin(e.buf, b)
		e.buf = append(e.buf, '\n')
	}
	for i := range b.Changes {
		e.buf = e.env.AppendChange(e.buf, &b.Changes[i], '\n')
	}
	if b.Commit != nil && e.markers {
		e.buf = e.env.AppendEnd(e.buf, b)
		e.buf = append(e.buf, '\n')
	}
	return e.buf
}

// JSONL appends envelopes to a file. As builtin:jsonl, it takes groups
// of batches and syncs once per group.
type JSONL struct {
	cfg  Config
	path string
	f    *os.File
	size int64
	enc  encoder
}

var (
	_ engine.Sender      = (*JSONL)(nil)
	_ engine.GroupSender = (*JSONL)(nil)
)

// NewJSONL opens (creating) cfg.Path for appending. A torn last line left by
// a crash is cut off: it was never acknowledged, so it will be delivered
// again.
func NewJSONL(cfg Config, dir string) (*JSONL, error) {
	if cfg.Path == "" {
		return nil, errors.New("config: path is required")
	}
	p := cfg.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	s := &JSONL{cfg: cfg, path: p, enc: encoder{markers: cfg.Markers}}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *JSONL) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	size, err := cutTornLine(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("jsonl %s: %w", s.path, err)
	}
	s.f, s.size = f, size
	return nil
}

// cutTornLine truncates f after its last newline and positions at the end.
func cutTornLine(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	const chunk = 64 << 10
	end := size
	buf := make([]byte, chunk)
	for end > 0 {
		n := min(int64(chunk), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	_, err = f.Seek(end, io.SeekStart)
	return end, err
}

// Send appends b's envelopes and, unless fsync is off, syncs them.
func (s *JSONL) Send(ctx context.Context, b *engine.Batch) error {
	return s.SendGroup(ctx, []*engine.Batch{b})
}

// SendGroup appends the envelopes of every batch of g and, unless fsync
// is off, syncs them once: a group of transactions costs one fsync, made
// before any of their commits is acknowledged. Each batch is written as
// it is rendered, so the buffer stays the size of a batch, not of the
// group.
func (s *JSONL) SendGroup(ctx context.Context, g []*engine.Batch) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	written := int64(0)
	for _, b := range g {
		data := s.enc.encode(b)
		if len(data) == 0 {
			continue
		}
		if _, err := s.f.Write(data); err != nil {
			return s.undo(err)
		}
		written += int64(len(data))
	}
	if written == 0 {
		return nil
	}
	if s.cfg.Fsync == nil || *s.cfg.Fsync {
		if err := s.f.Sync(); err != nil {
			return s.undo(err)
		}
	}
	s.size += written
	if s.cfg.MaxBytes > 0 && s.size >= s.cfg.MaxBytes {
		return s.rotate()
	}
	return nil
}

// undo cuts a partly written group so a retry does not leave a torn line.
func (s *JSONL) undo(cause error) error {
	if err := s.f.Truncate(s.size); err != nil {
		s.f.Close()
		s.f = nil
		return fmt.Errorf("jsonl %s: %w (and truncate: %v)", s.path, cause, err)
	}
	if _, err := s.f.Seek(s.size, io.SeekStart); err != nil {
		s.f.Close()
		s.f = nil
	}
	return fmt.Errorf("jsonl %s: %w", s.path, cause)
}

func (s *JSONL) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("jsonl %s: rotate: %w", s.path, err)
	}
	s.f = nil
	rotated := s.path + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(s.path, rotated); err != nil {
		return fmt.Errorf("jsonl %s: rotate: %w", s.path, err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("jsonl %s: rotate: %w", s.path, err)
	}
	return s.open()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the file.
func (s *JSONL) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Stdout writes envelopes to standard output (or any writer), one batch per
// write.
type Stdout struct {
	w   io.Writer
	mu  *sync.Mutex
	enc encoder
}

var _ engine.Sender = (*Stdout)(nil)

// stdoutMu serialises writes of every Stdout sender sharing os.Stdout.
var stdoutMu sync.Mutex

// NewStdout returns a sender writing to w (os.Stdout when nil).
func NewStdout(cfg Config, w io.Writer) (*Stdout, error) {
	if cfg.Path != "" || cfg.MaxBytes != 0 {
		return nil, errors.New("config: stdout takes no path or max_bytes")
	}
	if w == nil {
		w = os.Stdout
	}
	return &Stdout{w: w, mu: &stdoutMu, enc: encoder{markers: cfg.Markers}}, nil
}

// Send writes b's envelopes.
func (s *Stdout) Send(ctx context.Context, b *engine.Batch) error {
	data := s.enc.encode(b)
	if len(data) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(data); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	return nil
}

// Close does nothing: standard output belongs to the process.
func (s *Stdout) Close() error { return nil }
