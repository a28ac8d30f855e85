//go:build wasip1

package stdout

import (
	"unsafe"

	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma stdout_write
//go:noescape
func stdoutWrite(ptr unsafe.Pointer, n uint32) int32

// Write writes b to the process's standard output in one piece: writes of
// other plugins never interleave with it.
func Write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if rc := stdoutWrite(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))); rc < 0 {
		return host.Fail("stdout: write", int64(rc))
	}
	return nil
}
