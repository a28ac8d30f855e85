//go:build unix

package hostabi

import (
	"context"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// withLinearMemory has wazero back the instance's linear memory with an
// anonymous mapping of its whole limit, reserved but not committed: pages
// become resident when the guest first touches them, growing never copies,
// the memory is outside the Go heap (the collector neither paces on it
// nor keeps the copies a grown slice leaves behind), and closing the
// instance returns it to the system at once. The mapping is released by
// the instance's close, never by wazero: a module closed on context done
// is closed while its guest may still be running.
func withLinearMemory(ctx context.Context, in *instance) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		if max > 0 && max <= 1<<32 {
			b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
			if err == nil {
				m := &mappedMemory{b: b}
				in.release = m.unmap
				return m
			}
		}
		return &sliceMemory{b: make([]byte, 0, capacity)}
	}))
}

// mappedMemory is a linear memory in a mapping of its maximum size.
type mappedMemory struct{ b []byte }

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		return nil
	}
	return m.b[:size:size]
}

// Free leaves the mapping to unmap, called once the guest cannot run.
func (m *mappedMemory) Free() {}

func (m *mappedMemory) unmap() {
	if m.b != nil {
		syscall.Munmap(m.b)
		m.b = nil
	}
}
