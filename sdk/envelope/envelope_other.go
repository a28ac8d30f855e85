//go:build !wasip1

package envelope

import "github.com/pumacdc/puma/sdk"

// appendChanges renders in Go outside Wasm, unless the Encoder has a
// Host; a refusal of Host's (it cannot, for the batch being handled) is a
// panic, a fault, since the Go rendering would not know the task's name.
func (e *Encoder) appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, sep byte) []byte {
	if e.Host == nil {
		return e.appendGo(dst, b, tx, 0, sep)
	}
	dst, _, err := e.appendHosted(dst, b, sep, e.Host)
	if err != nil {
		panic("envelope: the host refused to render: " + err.Error())
	}
	return dst
}
