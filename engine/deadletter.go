package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// deadLetter appends the changes of batches a plugin kept failing on,
// with the error, to a JSONL file, fsynced before the batch is passed on.
type deadLetter struct {
	path string
	mu   sync.Mutex
	buf  []byte
	env  Envelopes
}

func (d *deadLetter) write(b *Batch, plugin string, cause error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	defer f.Close()
	d.buf = d.buf[:0]
	t := time.Now()
	now := t.UTC().Format(time.RFC3339Nano)
	d.env.StartBatch(b, t)
	for i := range b.Changes {
		d.buf = append(d.buf, `{"plugin":`...)
		d.buf = appendString(d.buf, plugin)
		d.buf = append(d.buf, `,"error":`...)
		d.buf = appendString(d.buf, cause.Error())
		d.buf = append(d.buf, `,"at":`...)
		d.buf = appendString(d.buf, now)
		d.buf = append(d.buf, `,"change":`...)
		d.buf = d.env.AppendOne(d.buf, &b.Changes[i])
		d.buf = append(d.buf, "}\n"...)
	}
	if _, err := f.Write(d.buf); err != nil {
		return fmt.Errorf("dead letter %s: %w", d.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("dead letter %s: %w", d.path, err)
	}
	return nil
}
