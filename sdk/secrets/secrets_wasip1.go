//go:build wasip1

package secrets

import (
	"unsafe"

	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma secret_hmac
//go:noescape
func secretHMAC(alg uint32, name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, out unsafe.Pointer, outCap uint32) int32

func mac(alg uint32, secret string, data []byte) ([]byte, error) {
	out := make([]byte, 64)
	n := secretHMAC(alg, unsafe.Pointer(unsafe.StringData(secret)), uint32(len(secret)), unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)), unsafe.Pointer(unsafe.SliceData(out)), uint32(len(out)))
	if n < 0 {
		return nil, host.Fail("secrets: hmac with "+secret, int64(n))
	}
	return out[:n], nil
}
