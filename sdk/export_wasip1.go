//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// The exports of ABI v2. Each ends with runtime.Gosched: a Go guest whose
// exports never yield can stall its own garbage collector (see DESIGN).

//go:wasmexport puma_abi_v2
func pumaABIv2() {}

//go:wasmexport puma_alloc
func pumaAlloc(size uint32) uint32 {
	b := state.alloc(size)
	runtime.Gosched()
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport puma_init
func pumaInit(ptr, n uint32) uint64 {
	return reply(state.init(state.message(n)))
}

//go:wasmexport puma_handle
func pumaHandle(ptr, n uint32) uint64 {
	return reply(state.handle(state.message(n)))
}

//go:wasmexport puma_send
func pumaSend(ptr, n uint32) uint64 {
	return reply(state.send(state.message(n)))
}

//go:wasmexport puma_send_group
func pumaSendGroup(ptr, n uint32) uint64 {
	return reply(state.sendGroup(state.message(n)))
}

//go:wasmimport puma group_batch
func hostGroupBatch(index uint32) int32

// groupBatch tells the host which batch of the group the sender is on,
// for the envelope host function.
func groupBatch(i int) { hostGroupBatch(uint32(i)) }

//go:wasmimport puma applied_position
//go:noescape
func hostAppliedPosition(ptr unsafe.Pointer, n uint32) int32

func reportApplied(token string) error {
	if rc := hostAppliedPosition(unsafe.Pointer(unsafe.StringData(token)), uint32(len(token))); rc < 0 {
		return host.Fail("applied_position", int64(rc))
	}
	return nil
}

//go:wasmimport puma commit_position
//go:noescape
func hostCommitPosition(ptr unsafe.Pointer, n uint32) int32

var posBuf = make([]byte, 512)

func commitPosition(*Batch) (string, bool) {
	for {
		n := hostCommitPosition(unsafe.Pointer(unsafe.SliceData(posBuf)), uint32(len(posBuf)))
		if n < 0 {
			return "", false
		}
		if int(n) <= len(posBuf) {
			return string(posBuf[:n]), true
		}
		posBuf = make([]byte, n)
	}
}

//go:wasmexport puma_close
func pumaClose() uint64 {
	return reply(state.close())
}

// reply packs the location of b, which the SDK keeps alive until the next
// call, and yields.
func reply(b []byte) uint64 {
	runtime.Gosched()
	if len(b) == 0 {
		return 0
	}
	return wire.PackReply(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), uint32(len(b)))
}

//go:wasmimport puma log
//go:noescape
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

func logHost(level Level, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}
