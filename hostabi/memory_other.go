//go:build !unix

package hostabi

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// withLinearMemory leaves linear memory in a Go slice, as wazero would.
func withLinearMemory(ctx context.Context, in *instance) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(capacity, _ uint64) experimental.LinearMemory {
		return &sliceMemory{b: make([]byte, 0, capacity)}
	}))
}
