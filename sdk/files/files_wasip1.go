//go:build wasip1

package files

import (
	"unsafe"

	"github.com/pumacdc/puma/sdk/internal/host"
)

type impl struct{}

//go:wasmimport puma file_open
//go:noescape
func fileOpen(ptr unsafe.Pointer, n uint32, flags uint32) int64

//go:wasmimport puma file_write
//go:noescape
func fileWrite(h int32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport puma file_sync
func fileSync(h int32) int32

//go:wasmimport puma file_size
func fileSize(h int32) int64

//go:wasmimport puma file_truncate
func fileTruncate(h int32, size int64) int32

//go:wasmimport puma file_rotate
func fileRotate(h int32) int32

//go:wasmimport puma file_close
func fileClose(h int32) int32

func (f *File) open(path string, flags int) error {
	h := fileOpen(unsafe.Pointer(unsafe.StringData(path)), uint32(len(path)), uint32(flags))
	if h < 0 {
		return host.Fail("files: open "+path, h)
	}
	f.h = int32(h)
	size := fileSize(f.h)
	if size < 0 {
		return host.Fail("files: size "+path, size)
	}
	f.size = size
	return nil
}

func (f *File) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if rc := fileWrite(f.h, unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))); rc < 0 {
		return host.Fail("files: write", int64(rc))
	}
	f.size += int64(len(b))
	return nil
}

func (f *File) sync() error {
	if rc := fileSync(f.h); rc < 0 {
		return host.Fail("files: sync", int64(rc))
	}
	return nil
}

func (f *File) truncate(size int64) error {
	if rc := fileTruncate(f.h, size); rc < 0 {
		return host.Fail("files: truncate", int64(rc))
	}
	f.size = size
	return nil
}

func (f *File) rotate() error {
	if rc := fileRotate(f.h); rc < 0 {
		return host.Fail("files: rotate", int64(rc))
	}
	f.size = 0
	return nil
}

func (f *File) close() error {
	if rc := fileClose(f.h); rc < 0 {
		return host.Fail("files: close", int64(rc))
	}
	return nil
}
