package main

import (
	"context"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/plugins/embedded"
)

// newPluginHost returns the Wasm host for cfg: compiled modules are cached
// under data_dir, plugin paths and file grants resolve against the
// config's directory, and the built-ins come from the binary.
func newPluginHost(ctx context.Context, cfg *config.Config, log *slog.Logger) (*hostabi.Host, error) {
	return hostabi.New(ctx, hostabi.Options{
		CacheDir:  filepath.Join(cfg.Server.DataDir, "wasm-cache"),
		ConfigDir: cfg.Dir,
		Log:       log,
		Secrets:   cfg.Secrets,
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			return builtin(name, config, cfg.Dir)
		},
	})
}

// builtin serves the built-in plugins embedded in the binary. Each is
// granted what its config already names: builtin:stdout the standard
// output, builtin:jsonl the directory of its path (when that is a
// relative path without ".."), builtin:http its URL and the secrets its
// config names, builtin:mask its salt secret. Grants can add more (a
// URL on a private network needs allow_private = true).
func builtin(name string, config map[string]any, dir string) (hostabi.Builtin, bool) {
	wasm, ok := embedded.Module(name)
	if !ok {
		return hostabi.Builtin{}, false
	}
	b := hostabi.Builtin{Wasm: wasm}
	switch name {
	case "stdout":
		b.Grants.Stdout = true
	case "jsonl":
		if p, ok := config["path"].(string); ok {
			if g, err := hostabi.ParseGrants(map[string]any{"files": []any{path.Dir(filepath.ToSlash(p))}}, dir); err == nil {
				b.Grants = g
			}
		}
	case "http":
		if u, ok := config["url"].(string); ok {
			if pu, err := url.Parse(u); err == nil {
				pu.RawQuery, pu.Fragment = "", ""
				if a, err := hostabi.ParseHTTPAllow(pu.String()); err == nil {
					b.Grants.HTTP = []hostabi.HTTPAllow{a}
				}
			}
		}
		b.Grants.Secrets = []string{}
		if h, ok := config["hmac"].(map[string]any); ok {
			b.Grants.Secrets = appendSecret(b.Grants.Secrets, h["secret"])
		}
		if hs, ok := config["secret_headers"].(map[string]any); ok {
			for _, v := range hs {
				if h, ok := v.(map[string]any); ok {
					b.Grants.Secrets = appendSecret(b.Grants.Secrets, h["secret"])
				}
			}
		}
	case "mask":
		b.Grants.Secrets = appendSecret([]string{}, config["salt_secret"])
	}
	return b, true
}

func appendSecret(list []string, v any) []string {
	if s, ok := v.(string); ok && s != "" {
		return append(list, s)
	}
	return list
}

// pluginFactories adapts a host to the engine's plugin constructors.
func pluginFactories(h *hostabi.Host) (
	newHandler func(ctx context.Context, task config.Task, p config.Plugin) (engine.Handler, error),
	newSender func(ctx context.Context, task config.Task, p config.Plugin) (engine.Sender, error),
) {
	newHandler = func(ctx context.Context, task config.Task, p config.Plugin) (engine.Handler, error) {
		return h.NewHandler(ctx, task.Name, p)
	}
	newSender = func(ctx context.Context, task config.Task, p config.Plugin) (engine.Sender, error) {
		return h.NewSender(ctx, task.Name, p)
	}
	return newHandler, newSender
}
