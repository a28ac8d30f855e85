//go:build wasip1

package kv

import (
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma kv_get
//go:noescape
func kvGet(key unsafe.Pointer, keyLen uint32, out unsafe.Pointer, outCap uint32) int64

//go:wasmimport puma kv_put
//go:noescape
func kvPut(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport puma kv_delete
//go:noescape
func kvDelete(key unsafe.Pointer, keyLen uint32) int32

var buf = make([]byte, 256)

func get(key string) ([]byte, bool, error) {
	for {
		n := kvGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
		if n == int64(wire.ErrnoNotFound) {
			return nil, false, nil
		}
		if n < 0 {
			return nil, false, host.Fail("kv: get "+key, n)
		}
		if int(n) <= len(buf) {
			return append([]byte(nil), buf[:n]...), true, nil
		}
		buf = make([]byte, n)
	}
}

func put(key string, value []byte) error {
	if rc := kvPut(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)), unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value))); rc < 0 {
		return host.Fail("kv: put "+key, int64(rc))
	}
	return nil
}

func del(key string) error {
	if rc := kvDelete(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key))); rc < 0 {
		return host.Fail("kv: delete "+key, int64(rc))
	}
	return nil
}
