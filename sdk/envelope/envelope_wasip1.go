//go:build wasip1

package envelope

import (
	"slices"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
)

//go:wasmimport puma envelope
//go:noescape
func hostEnvelope(ptr unsafe.Pointer, capacity, from, sep uint32) int64

// appendChanges has the host render the envelopes into dst's spare
// capacity, growing it as needed. Should the host refuse (it cannot, for
// the batch being handled), the rest is rendered in Go.
func appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, from int, sep byte) []byte {
	for from < b.Len() {
		if cap(dst)-len(dst) < 4096 {
			dst = slices.Grow(dst, max(4096, cap(dst)))
		}
		free := dst[len(dst):cap(dst)]
		rc := hostEnvelope(unsafe.Pointer(unsafe.SliceData(free)), uint32(len(free)), uint32(from), uint32(sep))
		if rc < 0 {
			return appendGo(dst, b, tx, from, sep)
		}
		n, written := int(rc>>32), int(uint32(rc))
		if n == 0 {
			dst = slices.Grow(dst, written)
			continue
		}
		dst = dst[:len(dst)+written]
		from += n
	}
	return dst
}
