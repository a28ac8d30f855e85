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

// File is an open append-only file. It is not safe for concurrent use.
type File struct {
	h    int32
	size int64
	impl impl
}

// Open flags.
const (
	// TrimToNewline cuts the file after its last newline on open: a line
	// torn by a crash was never acknowledged, and will be written again.
	TrimToNewline = 1
)

// Open opens path for appending, creating it (and its directories within
// the grant) as needed.
func Open(path string, flags int) (*File, error) {
	f := &File{}
	if err := f.open(path, flags); err != nil {
		return nil, err
	}
	return f, nil
}

// Size returns the file's size, counting what was written through f.
func (f *File) Size() int64 { return f.size }
