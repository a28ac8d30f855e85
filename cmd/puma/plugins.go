package main

import (
	"context"
	"log/slog"
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
		Targets:   cfg.Targets,
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			return embedded.Builtin(name, config, cfg.Dir)
		},
	})
}

// pluginFactories adapts a host to the engine's plugin constructors.
func pluginFactories(h *hostabi.Host) (
	newHandler func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error),
	newSender func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error),
) {
	newHandler = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
		return h.NewHandler(ctx, task.Name, p)
	}
	newSender = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
		return h.NewSender(ctx, task.Name, p)
	}
	return newHandler, newSender
}
