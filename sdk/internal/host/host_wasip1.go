//go:build wasip1

package host

import (
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
)

//go:wasmimport puma last_error
//go:noescape
func lastError(ptr unsafe.Pointer, n uint32) int32

var msgBuf [512]byte

// Fail returns the error of a host call that returned errno, with the
// host's message.
func Fail(op string, errno int64) error {
	n := lastError(unsafe.Pointer(&msgBuf[0]), uint32(len(msgBuf)))
	n = min(max(n, 0), int32(len(msgBuf)))
	return &Error{Op: op, Errno: wire.Errno(errno), Msg: string(msgBuf[:n])}
}
