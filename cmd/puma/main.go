// Command puma is the Puma change-data-capture daemon: it streams MySQL and
// MariaDB binary logs to plugins configured in puma.toml.
//
// It only wires packages together; the behaviour lives in engine and the
// packages under internal.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/daemon"
	"github.com/pumacdc/puma/internal/plugintool"
	"github.com/pumacdc/puma/plugins/embedded"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2 // bad command line or configuration: nothing was started
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: puma <command> [flags]

commands:
  run     -c puma.toml   run every task until SIGINT/SIGTERM
  check   -c puma.toml   validate the config and preflight every source
  plugin  build|inspect|test   tools for plugin authors (puma plugin help)
  status  -c puma.toml [task]            show the running tasks (admin API)
  pause   -c puma.toml <task>            stop reading; resume continues
  resume  -c puma.toml <task>
  stop-at -c puma.toml <task> <position> run to a time, gtid:<set> or file:<name>:<pos>, then stop
  snapshot -c puma.toml <task> <db.table>...  read tables again while streaming (incremental snapshot)
  snapshot -c puma.toml -cancel <task>        stop the incremental snapshot
  reload  -c puma.toml                   re-read puma.toml (as SIGHUP does)
  version                print the version, VCS revision and Go version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "plugin":
		return cmdPlugin(args[1:], stdout, stderr)
	case "status", "pause", "resume", "stop-at", "snapshot", "reload":
		return adminCommand(args[0], args[1:], stdout, stderr)
	case "version", "-version", "--version":
		b := engine.Build()
		fmt.Fprintf(stdout, "puma %s\nrevision %s\n%s\n", b.Version, b.Revision, b.GoVersion)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "puma: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

func loadConfig(name string, args []string, stderr io.Writer) (*config.Config, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "puma.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "puma %s: unexpected argument %q\n", name, fs.Arg(0))
		return nil, exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitUsage
	}
	return cfg, exitOK
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return slog.New(engine.NewLogHandler(w, cfg.Server.LogFormat, cfg.Server.LogLevel))
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	cfg, code := loadConfig("check", args, stderr)
	if cfg == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed, err := checkPlugins(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "puma check:", err)
		return exitFailed
	}
	for _, task := range cfg.Tasks {
		for _, src := range task.Sources {
			rep := engine.Preflight(ctx, task, src)
			printReport(stdout, rep)
			failed = failed || rep.Failed()
		}
	}
	if failed {
		fmt.Fprintln(stdout, "preflight failed: fix the FAIL lines above")
		return exitFailed
	}
	fmt.Fprintln(stdout, "preflight ok")
	return exitOK
}

// checkPlugins starts every configured plugin as run would, without a
// source, prints a line for each, and reports whether any failed.
func checkPlugins(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) (failed bool, err error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	host, err := newPluginHost(ctx, cfg, log)
	if err != nil {
		return false, err
	}
	defer host.Close()
	scratch := ""
	defer func() {
		if scratch != "" {
			os.RemoveAll(scratch)
		}
	}()
	ck := &plugintool.Checker{
		Host: host,
		Probe: func(ctx context.Context) (*hostabi.Host, error) {
			dir, err := os.MkdirTemp("", "puma-check-")
			if err != nil {
				return nil, err
			}
			scratch = dir
			return hostabi.New(ctx, hostabi.Options{
				CacheDir:  filepath.Join(cfg.Server.DataDir, "wasm-cache"),
				ConfigDir: dir,
				Log:       slog.New(slog.DiscardHandler),
				Stdout:    io.Discard,
				Secrets:   cfg.Secrets,
				Targets:   cfg.Targets,
				Builtin: func(name string, c map[string]any) (hostabi.Builtin, bool) {
					return embedded.Builtin(name, c, dir)
				},
			})
		},
	}
	defer ck.Close()
	task := ""
	for _, c := range ck.Check(ctx, cfg) {
		if c.Task != task {
			task = c.Task
			fmt.Fprintf(stdout, "task %s, plugins\n", task)
		}
		if c.Problem == nil {
			fmt.Fprintf(stdout, "  %-4s  %-28s %s\n", engine.CheckOK, c.Label(), c.Plugin.Plugin)
			continue
		}
		failed = true
		fmt.Fprintf(stdout, "  %-4s  %-28s %s\n", engine.CheckFail, c.Label(), c.Problem)
	}
	return failed, nil
}

func printReport(w io.Writer, r *engine.Report) {
	fmt.Fprintf(w, "task %s, source %s", r.Task, r.Source)
	if r.Version != "" {
		fmt.Fprintf(w, " (%s %s, server_id %d)", r.Flavor, r.Version, r.ServerID)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %-4s  %-28s %s\n", c.Status, c.Name, c.Detail)
		if c.Status != engine.CheckOK && c.Fix != "" {
			fmt.Fprintf(w, "        %-28s fix: %s\n", "", c.Fix)
		}
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "puma.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, code := loadConfig("run", args, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg, stderr)
	host, err := newPluginHost(context.Background(), cfg, log)
	if err != nil {
		log.Error("plugin host", "err", err)
		return exitFailed
	}
	defer host.Close()
	newHandler, newSender := pluginFactories(host)
	d, err := daemon.New(cfg, daemon.Options{
		Log: log,
		Plugins: daemon.Plugins{
			// A reloaded config may carry new secrets: plugins started
			// from it get them.
			NewHandler: func(ctx context.Context, cfg *config.Config, task engine.TaskConfig, p engine.PluginConfig) (engine.Handler, error) {
				host.SetSecrets(cfg.Secrets)
				host.SetTargets(cfg.Targets)
				return newHandler(ctx, task, p)
			},
			NewSender: func(ctx context.Context, cfg *config.Config, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
				host.SetSecrets(cfg.Secrets)
				host.SetTargets(cfg.Targets)
				return newSender(ctx, task, p)
			},
		},
		Load: func() (*config.Config, error) { return config.Load(*path) },
	})
	if err != nil {
		log.Error("start", "err", err)
		return exitFailed
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if err := d.Reload(ctx); err != nil {
					log.Error("reload failed", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	b := engine.Build()
	log.Info("puma starting", "version", b.Version, "revision", b.Revision, "tasks", len(cfg.Tasks))
	if err := d.Run(ctx); err != nil {
		return exitFailed
	}
	return exitOK
}
