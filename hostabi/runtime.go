package hostabi

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// runtimeKey says which instances may share a runtime: those of one
// module (hence one way of being interrupted, a runtime setting) under
// one memory limit (another).
type runtimeKey struct {
	m     *Module
	pages uint32
}

// sharedRuntime is a wazero runtime with WASI, the host module and the
// plugin's module compiled in it, shared by every instance of its key.
// wazero decodes a module into each runtime that compiles it (~2 bytes of
// Go heap per byte of Wasm, even when the machine code comes from the
// cache), so a runtime per instance cost ~9 MB per instance of a Go
// plugin; sharing it, an instance costs its own linear memory.
type sharedRuntime struct {
	key  runtimeKey
	rt   wazero.Runtime
	cm   wazero.CompiledModule
	refs int
	// seq numbers the instances, whose module names must differ.
	seq atomic.Uint64
}

// acquireRuntime returns the runtime for key, making it on first use.
func (h *Host) acquireRuntime(ctx context.Context, key runtimeKey) (*sharedRuntime, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sr := h.runtimes[key]; sr != nil {
		sr.refs++
		return sr, nil
	}
	rt := wazero.NewRuntimeWithConfig(ctx, h.runtimeConfig(key.m.interrupt == byCloseOnDone).WithMemoryLimitPages(key.pages))
	fail := func(format string, err error) (*sharedRuntime, error) {
		rt.Close(ctx)
		return nil, fmt.Errorf(format, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail("instantiate WASI: %v", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		return fail("instantiate host functions: %v", err)
	}
	code, err := h.code(key.m)
	if err != nil {
		return fail("instrument: %v", err)
	}
	cm, err := compileModule(ctx, rt, code)
	if err != nil {
		return fail("compile: %v", err)
	}
	sr := &sharedRuntime{key: key, rt: rt, cm: cm, refs: 1}
	if h.runtimes == nil {
		h.runtimes = make(map[runtimeKey]*sharedRuntime)
	}
	h.runtimes[key] = sr
	return sr, nil
}

// code returns the code m's instances run: its source, instrumented
// unless it runs under close-on-done. The rewrite is read from the cache
// directory when there is one, and made again otherwise (~10 ms a
// megabyte), once per runtime.
func (h *Host) code(m *Module) ([]byte, error) {
	if m.interrupt != byInstrumentation {
		return m.source, nil
	}
	return h.instrumented(m.source)
}

// releaseRuntime drops an instance's hold on sr, closing it with the last.
func (h *Host) releaseRuntime(sr *sharedRuntime) {
	h.mu.Lock()
	sr.refs--
	last := sr.refs == 0
	if last {
		delete(h.runtimes, sr.key)
	}
	h.mu.Unlock()
	if last {
		sr.rt.Close(context.Background())
	}
}
