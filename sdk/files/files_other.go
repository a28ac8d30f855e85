//go:build !wasip1

package files

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

type impl struct {
	path string
	f    *os.File
}

func (f *File) open(path string, flags int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return err
	}
	size := st.Size()
	if flags&TrimToNewline != 0 && size > 0 {
		data, err := io.ReadAll(fh)
		if err != nil {
			fh.Close()
			return err
		}
		size = int64(bytes.LastIndexByte(data, '\n') + 1)
		if err := fh.Truncate(size); err != nil {
			fh.Close()
			return err
		}
	}
	if _, err := fh.Seek(size, io.SeekStart); err != nil {
		fh.Close()
		return err
	}
	f.impl, f.size = impl{path: path, f: fh}, size
	return nil
}

func (f *File) write(b []byte) error {
	n, err := f.impl.f.Write(b)
	f.size += int64(n)
	return err
}

func (f *File) sync() error { return f.impl.f.Sync() }

func (f *File) truncate(size int64) error {
	if err := f.impl.f.Truncate(size); err != nil {
		return err
	}
	_, err := f.impl.f.Seek(size, io.SeekStart)
	f.size = size
	return err
}

func (f *File) rotate() error {
	if err := f.impl.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.impl.path, f.impl.path+"."+strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
		return err
	}
	return f.open(f.impl.path, 0)
}

func (f *File) close() error { return f.impl.f.Close() }
