package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/plugins/embedded"
)

// wasmFilterJSONL is builtin:filter (a where every row passes, so that
// it runs its predicate on each and the row count stays checkable) in
// front of builtin:jsonl without fsync, both the Wasm modules cmd/puma
// embeds, on a host set up as cmd/puma sets it up.
var wasmFilterJSONL = wasmSpec{
	toml: "  [[task.handler]]\n  plugin = \"builtin:filter\"\n  config = { where = \"id >= 0\" }\n" +
		"  [[task.sender]]\n  plugin = \"builtin:jsonl\"\n  config = { path = \"out/bench.jsonl\", fsync = false }\n",
	modules: []string{"filter", "jsonl"},
}

type wasmSpec struct {
	toml    string
	modules []string
}

// wasmVariant builds a task whose plugins run on a hostabi.Host. The
// modules are compiled before the run (as a daemon's are long before its
// data), so the window holds their instantiation only. WasmTime is the
// time spent in the plugins' Handle and Send calls, host-side encoding
// and decoding of batches included.
func wasmVariant(w wasmSpec) func(env *Env) (*Setup, error) {
	return func(env *Env) (*Setup, error) {
		inner := engineVariant(senderSpec{toml: func(*Env) string { return w.toml }, newSender: func(*config.Config) func(context.Context, config.Task, config.Plugin) (engine.Sender, error) {
			return nil
		}})
		setup, err := inner(env)
		if err != nil {
			return nil, err
		}
		ctx := context.Background()
		dir := env.Dir
		host, err := hostabi.New(ctx, hostabi.Options{
			CacheDir:  filepath.Join(dir, "var", "wasm-cache"),
			ConfigDir: dir,
			Log:       env.Log,
			Builtin: func(name string, cfg map[string]any) (hostabi.Builtin, bool) {
				wasm, ok := embedded.Module(name)
				if !ok {
					return hostabi.Builtin{}, false
				}
				b := hostabi.Builtin{Wasm: wasm}
				if name == "jsonl" {
					g, err := hostabi.ParseGrants(map[string]any{"files": []any{"out"}}, dir)
					if err != nil {
						return hostabi.Builtin{}, false
					}
					b.Grants = g
				}
				return b, true
			},
		})
		if err != nil {
			return nil, fmt.Errorf("wasm host: %w", err)
		}
		for _, m := range w.modules {
			wasm, ok := embedded.Module(m)
			if !ok {
				host.Close()
				return nil, fmt.Errorf("builtin:%s is not embedded (run make wasm)", m)
			}
			if _, err := host.Load(ctx, "builtin:"+m, wasm); err != nil {
				host.Close()
				return nil, err
			}
		}
		var busy atomic.Int64
		setup.Deps.NewHandler = func(ctx context.Context, task config.Task, p config.Plugin) (engine.Handler, error) {
			h, err := host.NewHandler(ctx, task.Name, p)
			if err != nil {
				return nil, err
			}
			return timedHandler{h, &busy}, nil
		}
		setup.Deps.NewSender = func(ctx context.Context, task config.Task, p config.Plugin) (engine.Sender, error) {
			s, err := host.NewSender(ctx, task.Name, p)
			if err != nil {
				return nil, err
			}
			return timedSender{s, &busy}, nil
		}
		setup.WasmTime = func() time.Duration { return time.Duration(busy.Load()) }
		setup.Close = host.Close
		return setup, nil
	}
}

type timedHandler struct {
	engine.Handler
	busy *atomic.Int64
}

func (t timedHandler) Handle(ctx context.Context, b *engine.Batch) (*engine.Batch, error) {
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	return t.Handler.Handle(ctx, b)
}

type timedSender struct {
	engine.Sender
	busy *atomic.Int64
}

func (t timedSender) Send(ctx context.Context, b *engine.Batch) error {
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	return t.Sender.Send(ctx, b)
}
