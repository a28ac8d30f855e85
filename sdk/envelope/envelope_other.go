//go:build !wasip1

package envelope

import "github.com/pumacdc/puma/sdk"

// appendChanges renders in Go outside Wasm.
func appendChanges(dst []byte, b *sdk.Batch, tx *sdk.Tx, from int, sep byte) []byte {
	return appendGo(dst, b, tx, from, sep)
}
