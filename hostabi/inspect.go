package hostabi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// ModuleInfo describes a plugin module, for authors (`puma plugin
// inspect`).
type ModuleInfo struct {
	Size   int
	SHA256 [32]byte
	// ABI lists the ABI versions the module declares (puma_abi_vN).
	ABI []string
	// Roles are "handler" and/or "sender", by the entry points exported.
	Roles []string
	// Exports are the exported functions with their types, and memories.
	Exports []string
	// Imports are the imported functions, "module.name (type)".
	Imports []string
	// Grants are the grants the imports need, as a grants table entry.
	Grants []string
	// Problem is why the host would refuse the module; "" when it loads.
	Problem string
}

// Inspect compiles wasm and describes it. An error means it is not a
// WebAssembly module at all; a module the host would refuse has Problem
// set.
func (h *Host) Inspect(ctx context.Context, wasm []byte) (*ModuleInfo, error) {
	cm, err := compileModule(ctx, h.keeper, wasm)
	if err != nil {
		return nil, fmt.Errorf("not a valid Wasm module: %w", err)
	}
	defer cm.Close(ctx)
	info := &ModuleInfo{Size: len(wasm), SHA256: sha256.Sum256(wasm)}
	typ := func(d api.FunctionDefinition) string {
		return sig([2][]api.ValueType{d.ParamTypes(), d.ResultTypes()})
	}
	for name, d := range cm.ExportedFunctions() {
		if v, ok := strings.CutPrefix(name, wire.ExportABIPrefix); ok {
			info.ABI = append(info.ABI, "v"+v)
		}
		info.Exports = append(info.Exports, name+" "+typ(d))
	}
	for name := range cm.ExportedMemories() {
		info.Exports = append(info.Exports, name+" (memory)")
	}
	slices.Sort(info.ABI)
	slices.Sort(info.Exports)
	exports := cm.ExportedFunctions()
	if _, ok := exports[wire.ExportHandle]; ok {
		info.Roles = append(info.Roles, "handler")
	}
	if _, ok := exports[wire.ExportSend]; ok {
		info.Roles = append(info.Roles, "sender")
	}
	caps := map[string]bool{}
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		info.Imports = append(info.Imports, mod+"."+name+" "+typ(d))
		if mod == wire.ImportModule {
			if c, ok := wire.Capability(name); ok && c != "" {
				caps[c] = true
			}
		}
	}
	slices.Sort(info.Imports)
	info.Imports = slices.Compact(info.Imports)
	for _, c := range []string{wire.CapFiles, wire.CapStdout, wire.CapHTTP, wire.CapSecrets, wire.CapKV} {
		if caps[c] {
			info.Grants = append(info.Grants, strings.TrimSuffix(strings.TrimPrefix(grantHint(c), "grants = { "), " }"))
		}
	}
	m := &Module{name: "inspect", source: wasm, compiled: cm, caps: map[string]string{}, exports: map[string]bool{}}
	if err := m.check(); err != nil {
		info.Problem = err.Error()
	}
	return info, nil
}

// Builtin describes the plugin a module holding several selects (see
// Spec.Select): its one role and the grants it needs, in place of the
// module's.
func (info *ModuleInfo) Builtin(role string, uses []string) {
	info.Roles = []string{role}
	info.Grants = nil
	for _, c := range uses {
		info.Grants = append(info.Grants, strings.TrimSuffix(strings.TrimPrefix(grantHint(c), "grants = { "), " }"))
	}
}

// Trace is what a handler answered for each change of a batch, for
// authors (`puma plugin test`).
type Trace struct {
	// Verdicts has one entry per input change: keep, drop, replace, emit,
	// route or error.
	Verdicts []string
	// Text is a route's key or an error's message, per input change.
	Text []string
	// Out counts the changes passed on for each input change.
	Out []int
}

// HandleTrace is Handle, also saying what the plugin answered for each
// change.
func (hd *Handler) HandleTrace(ctx context.Context, b *engine.Batch) (*engine.Batch, *Trace, error) {
	tr := &Trace{}
	out, err := hd.handle(ctx, b, tr)
	if tr.Verdicts == nil {
		tr.read(nil, len(b.Changes))
	}
	return out, tr, err
}

// read fills the trace from a reply to a batch of n changes; a malformed
// reply leaves what it could read (applyReply reports it).
func (tr *Trace) read(rep []byte, n int) {
	tr.Verdicts, tr.Text, tr.Out = make([]string, n), make([]string, n), make([]int, n)
	for i := range n {
		tr.Verdicts[i], tr.Out[i] = "keep", 1
	}
	if len(rep) == 0 {
		return
	}
	r, err := wire.ParseReply(rep)
	if err != nil {
		return
	}
	for {
		tag, body, at, ok := r.Records.Next()
		if !ok {
			return
		}
		if tag != wire.RecVerdict {
			continue
		}
		v, err := wire.ParseVerdict(body, at)
		if err != nil || int(v.Index) >= n {
			return
		}
		i := v.Index
		tr.Verdicts[i], tr.Text[i] = v.Verdict.String(), string(v.Text)
		switch v.Verdict {
		case wire.VerdictDrop, wire.VerdictError:
			tr.Out[i] = 0
		case wire.VerdictEmit, wire.VerdictReplace:
			tr.Out[i] = int(v.Changes.Left())
		}
	}
}
