package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/plugins/embedded"
)

// wasmFilterJSONL is builtin:filter (a where every row passes, so that
// it runs its predicate on each and the row count stays checkable) in
// front of builtin:jsonl, without fsync or with its default (a sync per
// group), both the Wasm modules cmd/puma embeds, on a host set up
// as cmd/puma sets it up.
func wasmFilterJSONL(fsync bool) wasmSpec {
	return wasmSpec{
		toml: func(*Env) (string, error) {
			return fmt.Sprintf("  [[task.handler]]\n  plugin = \"builtin:filter\"\n  config = { where = \"id >= 0\" }\n"+
				"  [[task.sender]]\n  plugin = \"builtin:jsonl\"\n  config = { path = \"out/bench.jsonl\", fsync = %v }\n", fsync), nil
		},
		modules: []string{"filter", "jsonl"},
	}
}

// wasmFilterSQLApply is builtin:filter (as in wasmFilterJSONL) in front
// of builtin:sqlapply into the harness's database target of kind
// (postgres or mysql), creating the table: each group of source
// transactions becomes one target transaction with the applied position,
// as in production.
func wasmFilterSQLApply(kind string) wasmSpec {
	return wasmSpec{
		toml: func(env *Env) (string, error) {
			if env.TargetPort == 0 {
				return "", errors.New("no database target to write to")
			}
			user := "root"
			if kind == "postgres" {
				user = "postgres"
			}
			return fmt.Sprintf(`  [[task.handler]]
  plugin = "builtin:filter"
  config = { where = "id >= 0" }
  [[task.sender]]
  plugin = "builtin:sqlapply"
  config = { target = "bench", dialect = %q, create_tables = true }
[targets.bench]
kind = %q
host = "127.0.0.1"
port = %d
user = %q
database = %q
sslmode = "disable"
`, kind, kind, env.TargetPort, user, env.TargetDB), nil
		},
		modules: []string{"filter", "sqlapply"},
		// The queue and group bounds README recommends for database
		// sinks: a call's fixed cost (its round trips and commit) is
		// spread over the rows queued when it starts.
		task: "queue_batches = 64\ngroup_rows = 16384\n",
	}
}

// wasmFilterMask is two handlers and one or two senders: builtin:filter
// keeping the rows the workload's Keep predicate holds for (nine in ten),
// builtin:mask hashing its MaskColumn with a salt from [secrets] (the HMAC
// computed by the host), then builtin:jsonl without fsync and, with http,
// builtin:http posting NDJSON to the harness's httpSink on loopback
// (allow_private). NDJSON rather than the default array so that the sink
// counts rows without parsing them; the sender's work is the same.
func wasmFilterMask(http bool) wasmSpec {
	modules := []string{"filter", "mask", "jsonl"}
	if http {
		modules = append(modules, "http")
	}
	return wasmSpec{
		toml: func(env *Env) (string, error) {
			w, ok := WorkloadByName(env.Workload)
			if !ok || w.Keep == "" || w.MaskColumn == "" {
				return "", fmt.Errorf("workload %q has no Keep predicate and MaskColumn", env.Workload)
			}
			if http && env.SinkURL == "" {
				return "", errors.New("no HTTP sink to post to")
			}
			salt := filepath.Join(env.Dir, "mask_salt")
			if err := os.WriteFile(salt, []byte("puma-bench mask salt\n"), 0o600); err != nil {
				return "", err
			}
			sender := ""
			if http {
				sender = fmt.Sprintf(`  [[task.sender]]
  plugin = "builtin:http"
  config = { url = %q, format = "ndjson" }
  grants = { allow_private = true }
`, env.SinkURL)
			}
			return fmt.Sprintf(`  [[task.handler]]
  plugin = "builtin:filter"
  config = { where = %q }
  [[task.handler]]
  plugin = "builtin:mask"
  config = { hash = [%q], salt_secret = "mask_salt" }
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out/bench.jsonl", fsync = false }
%s[secrets]
mask_salt_file = %q
`, w.Keep, env.Table+"."+w.MaskColumn, sender, salt), nil
		},
		modules: modules,
	}
}

// checkMasked checks a body builtin:http posted in the
// filter-mask-jsonl-http variant: every envelope's MaskColumn is an
// HMAC-SHA256 in hex.
func checkMasked(w Workload, body []byte) error {
	n := 0
	for line := range bytes.Lines(body) {
		var env struct {
			After map[string]any `json:"after"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			return fmt.Errorf("sink: envelope %d: %w", n, err)
		}
		v, _ := env.After[w.MaskColumn].(string)
		if _, err := hex.DecodeString(v); err != nil || len(v) != 2*sha256.Size {
			return fmt.Errorf("sink: envelope %d: %s = %.80q, want a hex HMAC-SHA256", n, w.MaskColumn, v)
		}
		n++
	}
	if n == 0 {
		return errors.New("sink: no envelope")
	}
	return nil
}

type wasmSpec struct {
	toml    func(env *Env) (string, error)
	modules []string
	// task is TOML of more task keys, "" for the defaults.
	task string
	// allWasm runs every built-in in the embedded Wasm module, those
	// cmd/puma runs natively too.
	allWasm bool
}

// wasmVariant builds a task whose plugins run on a hostabi.Host set up as
// cmd/puma sets it up (cache under data_dir, grants and paths relative to
// the config's directory, [secrets], the built-ins with the grants
// cmd/puma gives them). The modules are compiled before the run (as a
// daemon's are long before its data), so the window holds their
// instantiation only. WasmTime is the time spent in every handler's Handle
// and every sender's Send call, host-side encoding and decoding of batches
// included.
func wasmVariant(w wasmSpec) func(env *Env) (*Setup, error) {
	return func(env *Env) (*Setup, error) {
		plugins, err := w.toml(env)
		if err != nil {
			return nil, err
		}
		cfg, err := parseTaskConfig(env, w.task, plugins)
		if err != nil {
			return nil, err
		}
		setup, err := newSetup(cfg, env, nil)
		if err != nil {
			return nil, err
		}
		ctx := context.Background()
		host, err := hostabi.New(ctx, hostabi.Options{
			CacheDir:  filepath.Join(cfg.Server.DataDir, "wasm-cache"),
			ConfigDir: cfg.Dir,
			Log:       env.Log,
			Secrets:   cfg.Secrets,
			Targets:   cfg.Targets,
			Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
				b, ok := embedded.Builtin(name, config, cfg.Dir)
				if w.allWasm {
					b.Native = nil
				}
				return b, ok
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
		setup.Deps.NewHandler = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
			h, err := host.NewHandler(ctx, task.Name, p)
			if err != nil {
				return nil, err
			}
			return timedHandler{h, &busy}, nil
		}
		setup.Deps.NewSender = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
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

// Positioned passes on whether the plugin keeps its own position, so
// that the pipeline hands it whole transactions as it does in cmd/puma.
func (t timedSender) Positioned() bool {
	ps, ok := t.Sender.(engine.PositionedSender)
	return ok && ps.Positioned()
}

func (t timedSender) SendGroup(ctx context.Context, g []*engine.Batch) error {
	gs, ok := t.Sender.(engine.GroupSender)
	if !ok {
		return fmt.Errorf("bench: %w", errors.ErrUnsupported)
	}
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	return gs.SendGroup(ctx, g)
}

// Prepare passes on the work a sender does ahead of its calls
// (engine.Preparer), counted as the plugin's time as its calls are.
func (t timedSender) Prepare(b *engine.Batch) {
	if p, ok := t.Sender.(engine.Preparer); ok {
		start := time.Now()
		p.Prepare(b)
		t.busy.Add(int64(time.Since(start)))
	}
}

// allWasm is w with every built-in in the embedded Wasm module: the
// measure of what running built-ins natively gains.
func allWasm(w wasmSpec) wasmSpec {
	w.allWasm = true
	return w
}
