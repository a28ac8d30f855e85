//go:build wasip1

package secrets

import (
	"slices"
	"strconv"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma secret_hmac
//go:noescape
func secretHMAC(alg uint32, name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, out unsafe.Pointer, outCap uint32) int32

func mac(dst []byte, alg uint32, secret string, data []byte) ([]byte, error) {
	dst = slices.Grow(dst, 64)
	out := dst[len(dst) : len(dst)+64]
	n := secretHMAC(alg, unsafe.Pointer(unsafe.StringData(secret)), uint32(len(secret)), unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)), unsafe.Pointer(unsafe.SliceData(out)), uint32(len(out)))
	if n < 0 {
		return dst, host.Fail("secrets: hmac with "+secret, int64(n))
	}
	return dst[:len(dst)+int(n)], nil
}

//go:wasmimport puma secret_hmac_batch
//go:noescape
func secretHMACBatch(alg uint32, name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, out unsafe.Pointer, outCap uint32) int32

// macBatch has the host write the MACs of data's values into out, which
// has room for exactly them.
func macBatch(alg uint32, secret string, data, out []byte) error {
	n := secretHMACBatch(alg, unsafe.Pointer(unsafe.StringData(secret)), uint32(len(secret)), unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)), unsafe.Pointer(unsafe.SliceData(out)), uint32(len(out)))
	if n < 0 {
		return host.Fail("secrets: hmac with "+secret, int64(n))
	}
	if int(n) != len(out) {
		return &host.Error{Op: "secrets: hmac with " + secret, Errno: wire.ErrnoInvalid, Msg: "the host wrote " + strconv.Itoa(int(n)) + " bytes of MACs, want " + strconv.Itoa(len(out))}
	}
	return nil
}
