//go:build wasm

package wire

import "unsafe"

// Inside Wasm, the little-endian reads of the per-row decoding are single
// loads: Go's Wasm backend does not merge byte loads, so the portable
// form is four loads, shifts and ors. Callers have checked the bounds
// (the index expression below checks them again, cheaply).

func le16(b []byte, off int) uint16 { _ = b[off+1]; return *(*uint16)(unsafe.Pointer(&b[off])) }
func le32(b []byte, off int) uint32 { _ = b[off+3]; return *(*uint32)(unsafe.Pointer(&b[off])) }
func le64(b []byte, off int) uint64 { _ = b[off+7]; return *(*uint64)(unsafe.Pointer(&b[off])) }
