//go:build wasip1

package envelope

import (
	"slices"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
)

//go:wasmimport puma envelope
//go:noescape
func hostEnvelope(ptr unsafe.Pointer, capacity, from, opts uint32) int64

// appendChanges has the host render the envelopes into dst's spare
// capacity, growing it as needed, and counts them as the host did. Should
// the host refuse (it cannot, for the batch being handled), the rest is
// rendered in Go.
func (e *Encoder) appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, sep byte) []byte {
	opts := uint32(sep) | uint32(e.Flags)<<8
	from := 0
	for from < b.Len() {
		if cap(dst)-len(dst) < 4096 {
			dst = slices.Grow(dst, max(4096, cap(dst)))
		}
		free := dst[len(dst):cap(dst)]
		rc := hostEnvelope(unsafe.Pointer(unsafe.SliceData(free)), uint32(len(free)), uint32(from), opts)
		if rc < 0 {
			return e.appendGo(dst, b, tx, from, sep)
		}
		n, written := int(rc>>32), int(uint32(rc))
		if n == 0 {
			dst = slices.Grow(dst, written)
			continue
		}
		dst = dst[:len(dst)+written]
		e.countRendered(b, from, from+n)
		from += n
	}
	return dst
}
