//go:build wasip1

package envelope

import (
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
)

//go:wasmimport puma envelope
//go:noescape
func hostEnvelope(ptr unsafe.Pointer, capacity, from, opts uint32) int64

// render is the envelope import.
func render(free []byte, from int, opts uint32) (int, int, error) {
	rc := hostEnvelope(unsafe.Pointer(unsafe.SliceData(free)), uint32(len(free)), uint32(from), opts)
	if rc < 0 {
		return 0, 0, wire.Errno(rc)
	}
	return int(rc >> 32), int(uint32(rc)), nil
}

// appendChanges has the host render the envelopes. Should the host refuse
// (it cannot, for the batch being handled), the rest is rendered in Go.
func (e *Encoder) appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, sep byte) []byte {
	fn := render
	if e.Host != nil {
		fn = e.Host
	}
	dst, from, err := e.appendHosted(dst, b, sep, fn)
	if err != nil {
		return e.appendGo(dst, b, tx, from, sep)
	}
	return dst
}
