//go:build !wasip1

package envelope

import "github.com/pumacdc/puma/sdk"

// appendChanges renders in Go outside Wasm.
func (e *Encoder) appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, sep byte) []byte {
	return e.appendGo(dst, b, tx, 0, sep)
}
