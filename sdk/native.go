//go:build !wasip1

package sdk

// Outside Wasm, these run the plugin registered in this process as the
// host would, one ABI message at a time: package sdktest drives them so a
// plugin's logic can be tested with go test. A Wasm build has none of them.

// NativeInit starts a fresh instance with an Init message and returns the
// reply (empty for ok).
func NativeInit(msg []byte) []byte {
	state = plugin{tables: make(map[uint32]*Table)}
	return state.init(msg)
}

// NativeHandle passes a Batch message to the registered handler and
// returns the reply, valid until the next call.
func NativeHandle(msg []byte) []byte { return state.handle(msg) }

// NativeSend passes a Batch message to the registered sender and returns
// the reply, valid until the next call.
func NativeSend(msg []byte) []byte { return state.send(msg) }

// NativeSendGroup passes a Group message to the registered sender and
// returns the reply, valid until the next call.
func NativeSendGroup(msg []byte) []byte { return state.sendGroup(msg) }

// groupBatch: outside Wasm nothing renders envelopes in a host.
func groupBatch(int) {}
