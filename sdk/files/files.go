// Package files is the files capability: append-only files in the
// directories the plugin's grants allow (grants = { files = ["out"] }).
// Importing it makes the module need the grant; a plugin without it is
// refused at load.
//
// Paths are absolute or relative to the directory of puma.toml, must not
// contain "..", and must lie inside a granted directory; the host
// refuses symlinks leading out of it. Outside Wasm (in unit tests) the
// package uses the os package directly, relative to the working directory.
package files

import "github.com/pumacdc/puma/sdk/internal/host"

// File is an open append-only file. It is not safe for concurrent use.
type File struct {
	h    int32
	size int64
	impl impl
	// host, when set, is the files capability File's calls go to (see
	// OpenOn).
	host Host
}

// Host is the files capability of a plugin instance that Puma runs
// compiled into its own process (its built-in plugins), in place of the
// module's imports: the calls of ABI.md's files functions, with the same
// checks and errors, on the host's memory.
type Host interface {
	FileOpen(path string, flags int) (fd int32, err error)
	FileWrite(fd int32, b []byte) error
	FileSync(fd int32) error
	FileSize(fd int32) (int64, error)
	FileTruncate(fd int32, size int64) error
	FileRotate(fd int32) error
	FileClose(fd int32) error
}

// Open flags.
const (
	// TrimToNewline cuts the file after its last newline on open: a line
	// torn by a crash was never acknowledged, and will be written again.
	TrimToNewline = 1
)

// Open opens path for appending, creating it (and its directories within
// the grant) as needed.
func Open(path string, flags int) (*File, error) { return OpenOn(nil, path, flags) }

// OpenOn opens path as Open does, through h; a nil h is the module's own
// capability, as Open uses.
func OpenOn(h Host, path string, flags int) (*File, error) {
	f := &File{host: h}
	var err error
	if h == nil {
		err = f.open(path, flags)
	} else {
		if f.h, err = h.FileOpen(path, flags); err != nil {
			return nil, host.Wrap("files: open "+path, err)
		}
		if f.size, err = h.FileSize(f.h); err != nil {
			return nil, host.Wrap("files: size "+path, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Size returns the file's size, counting what was written through f.
func (f *File) Size() int64 { return f.size }

// Write appends all of b, or fails.
func (f *File) Write(b []byte) error {
	if f.host == nil {
		return f.write(b)
	}
	if err := f.host.FileWrite(f.h, b); err != nil {
		return host.Wrap("files: write", err)
	}
	f.size += int64(len(b))
	return nil
}

// Sync makes what was written durable (fsync).
func (f *File) Sync() error {
	if f.host == nil {
		return f.sync()
	}
	return host.Wrap("files: sync", f.host.FileSync(f.h))
}

// Truncate cuts the file to size, undoing a partial write: Puma refuses
// to cut below the size the file had when the current call first wrote
// to it.
func (f *File) Truncate(size int64) error {
	if f.host == nil {
		return f.truncate(size)
	}
	if err := f.host.FileTruncate(f.h, size); err != nil {
		return host.Wrap("files: truncate", err)
	}
	f.size = size
	return nil
}

// Rotate renames the file to "<name>.<unix-nanos>" and continues in a new,
// empty file under the original name.
func (f *File) Rotate() error {
	if f.host == nil {
		return f.rotate()
	}
	if err := f.host.FileRotate(f.h); err != nil {
		return host.Wrap("files: rotate", err)
	}
	f.size = 0
	return nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.host == nil {
		return f.close()
	}
	return host.Wrap("files: close", f.host.FileClose(f.h))
}
