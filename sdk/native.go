//go:build !wasip1

package sdk

import (
	"encoding/json"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// Outside Wasm, these run the plugin registered in this process as the
// host would, one ABI message at a time: package sdktest drives them so a
// plugin's logic can be tested with go test. A Wasm build has none of them.

// NativeInit starts a fresh instance with an Init message and returns the
// reply (empty for ok).
func NativeInit(msg []byte) []byte {
	state = plugin{fn: state.fn, tables: make(map[uint32]*Table)}
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

// Instance runs a plugin compiled into the host's own process instead of
// into a Wasm module: Puma runs its built-in plugins this way. It speaks
// the ABI's messages as the plugin's module would, but keeps its own state
// and functions, so several run in one process at once; each must be
// called by one goroutine at a time.
//
// What the SDK's package functions know of "the instance" (Role, Task,
// Name, ReportApplied, the capabilities) is the module's, not an
// Instance's: a plugin running as one uses none of them, and is given
// the capabilities it needs when it is made (as secrets.MACs.Host gives
// builtin:mask its MACs, and files.OpenOn and envelope.Encoder.Host give
// builtin:jsonl its file and its envelopes). A panic other than a malformed change's reaches
// the caller, which discards the Instance as it would a trapped module
// instance.
type Instance struct{ p plugin }

// NewInstance returns an Instance of the plugin whose functions are fn
// (their state must be fn's own, not package variables another Instance
// shares).
func NewInstance(fn Plugin) *Instance {
	return &Instance{p: plugin{fn: fn, tables: make(map[uint32]*Table)}}
}

// Init passes an Init message and returns the reply (empty for ok).
func (in *Instance) Init(msg []byte) []byte { return in.p.init(msg) }

// Handle passes a Batch message to the handler and returns the reply,
// valid until the next call.
func (in *Instance) Handle(msg []byte) []byte { return in.p.handle(msg) }

// Send passes a Batch message to the sender and returns the reply, valid
// until the next call.
func (in *Instance) Send(msg []byte) []byte { return in.p.send(msg) }

// SendGroup passes a Group message to the sender and returns the reply,
// valid until the next call.
func (in *Instance) SendGroup(msg []byte) []byte { return in.p.sendGroup(msg) }

// OnGroupBatch has f told, in place of the host's group_batch function,
// which batch of a Group message the sender is about to see: a host
// rendering envelopes from its own copy of the batches then renders that
// one.
func (in *Instance) OnGroupBatch(f func(int)) { in.p.onGroupBatch = f }

// Close runs the plugin's Close function, if any, and returns the reply.
func (in *Instance) Close() []byte { return in.p.close() }

// groupBatch: outside Wasm nothing renders envelopes in a host.
func groupBatch(int) {}

// reportApplied records the token for sdktest.Applied.
func reportApplied(token string) error {
	if !state.initing {
		return host.Err("applied_position", wire.ErrnoDenied, "only a sender's Init reports an applied position")
	}
	host.Applied, host.Positioned = token, true
	return nil
}

// commitPosition makes a token of the batch's commit as a host would: the
// position as JSON (without the server identity, which the message does
// not carry).
func commitPosition(b *Batch) (string, bool) {
	m := &b.hdr.Commit
	tok, err := json.Marshal(struct {
		File    string `json:"file"`
		Pos     uint32 `json:"pos"`
		GTIDSet string `json:"gtid_set,omitempty"`
		TS      int64  `json:"ts"`
	}{string(m.File), m.Pos, string(m.GTIDSet), m.Time})
	if err != nil {
		return "", false
	}
	return string(tok), true
}
