package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/plugintool"
	"github.com/pumacdc/puma/plugins/catalog"
	"github.com/pumacdc/puma/plugins/embedded"
)

const pluginUsage = `usage: puma plugin <command> [flags]

commands:
  build   [-o out.wasm] [package]        build a Go plugin (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)
  inspect module.wasm|builtin:NAME       show a module's ABI version, roles, exports, imports and grants
  test    [flags] module.wasm|builtin:NAME changes.jsonl
                                         run a plugin over JSON envelopes (builtin:jsonl's output)
                                         and print its verdicts and output; no database needed

test flags:
  -config JSON      the plugin's config table as JSON ({"column":"status"})
  -grants JSON      its grants table as JSON ({"files":["out"],"kv":true})
  -c puma.toml      take [secrets] (and, with -task and -plugin, the module, config
                    and grants) from a configuration; paths are relative to it
  -task NAME, -plugin NAME
  -role handler|sender   (default: what the module exports)
  -batch N          changes per batch (default: one batch per transaction)
  -jsonl            print only the envelopes a handler passes on
  -timeout 5s       per call
`

// cmdPlugin runs `puma plugin ...`, the tools for plugin authors.
func cmdPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "build":
		return pluginBuild(ctx, args[1:], stdout, stderr)
	case "inspect":
		return pluginInspect(ctx, args[1:], stdout, stderr)
	case "test":
		return pluginTest(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "puma plugin: unknown command %q\n%s", args[0], pluginUsage)
	return exitUsage
}

func pluginBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output module (default: the package directory's name + .wasm)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprint(stderr, pluginUsage)
		return exitUsage
	}
	path, err := plugintool.Build(ctx, fs.Arg(0), *out, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin build:", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, path)
	return exitOK
}

// authorHost is a plugin host for the author tools: a compile cache in the
// user's cache directory (or data_dir with -c), logs to stderr.
func authorHost(ctx context.Context, cfg *config.Config, dir string, stdout, stderr io.Writer) (*hostabi.Host, error) {
	cache := ""
	if cfg != nil {
		cache = filepath.Join(cfg.Server.DataDir, "wasm-cache")
	} else if d, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(d, "puma", "wasm-cache")
	}
	opts := hostabi.Options{
		CacheDir:  cache,
		ConfigDir: dir,
		Log:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Stdout:    stdout,
		Builtin: func(name string, c map[string]any) (hostabi.Builtin, bool) {
			return embedded.Builtin(name, c, dir)
		},
	}
	if cfg != nil {
		opts.Secrets = cfg.Secrets
	}
	return hostabi.New(ctx, opts)
}

func readModule(name string) ([]byte, error) {
	if b, ok := strings.CutPrefix(name, "builtin:"); ok {
		wasm, ok := embedded.Module(b)
		if !ok {
			return nil, fmt.Errorf("no built-in plugin %q", b)
		}
		return wasm, nil
	}
	return os.ReadFile(name)
}

func pluginInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, pluginUsage)
		return exitUsage
	}
	wasm, err := readModule(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin inspect:", err)
		return exitFailed
	}
	h, err := authorHost(ctx, nil, ".", stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin inspect:", err)
		return exitFailed
	}
	defer h.Close()
	info, err := h.Inspect(ctx, wasm)
	if err != nil {
		fmt.Fprintf(stderr, "puma plugin inspect: %s: %v\n", args[0], err)
		return exitFailed
	}
	if name, ok := strings.CutPrefix(args[0], "builtin:"); ok {
		role := "handler"
		if catalog.Sender(name) {
			role = "sender"
		}
		info.Builtin(role, catalog.Uses(name))
	}
	plugintool.PrintInfo(stdout, args[0], info)
	if info.Problem != "" {
		return exitFailed
	}
	return exitOK
}

func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgJSON := fs.String("config", "", "the plugin's config table as JSON")
	grantsJSON := fs.String("grants", "", "the plugin's grants table as JSON")
	cfgPath := fs.String("c", "", "puma.toml to take [secrets] (and -task/-plugin) from")
	taskName := fs.String("task", "", "with -c: the task of -plugin")
	pluginName := fs.String("plugin", "", "with -c: run this configured plugin")
	role := fs.String("role", "", "handler or sender (default: what the module exports)")
	batch := fs.Int("batch", 0, "changes per batch (0: one batch per transaction)")
	jsonl := fs.Bool("jsonl", false, "print only the envelopes a handler passes on")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on each call into the plugin")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "puma plugin test: "+format+"\n", a...)
		return exitUsage
	}
	var cfg *config.Config
	dir := "."
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		cfg, dir = c, c.Dir
	}
	p := config.Plugin{Name: "test", Timeout: *timeout, MaxMemory: 64 << 20}
	task := "test"
	var input string
	switch {
	case *pluginName != "":
		if cfg == nil || fs.NArg() != 1 {
			return fail("-plugin needs -c puma.toml and one argument, the changes file")
		}
		found := false
		for _, tc := range cfg.Tasks {
			if *taskName != "" && tc.Name != *taskName {
				continue
			}
			for i, pc := range append(append([]config.Plugin(nil), tc.Handlers...), tc.Senders...) {
				if pc.Name == *pluginName {
					p, task, found = pc, tc.Name, true
					if *role == "" {
						*role = "sender"
						if i < len(tc.Handlers) {
							*role = "handler"
						}
					}
				}
			}
		}
		if !found {
			return fail("no plugin %q in %s", *pluginName, *cfgPath)
		}
		input = fs.Arg(0)
	default:
		if fs.NArg() != 2 {
			fmt.Fprint(stderr, pluginUsage)
			return exitUsage
		}
		p.Plugin, input = fs.Arg(0), fs.Arg(1)
		if name, ok := p.Builtin(); ok {
			p.Name = name
		} else {
			p.Name = strings.TrimSuffix(filepath.Base(p.Plugin), ".wasm")
		}
		for _, f := range []struct {
			flag, text string
			dst        *map[string]any
		}{{"-config", *cfgJSON, &p.Config}, {"-grants", *grantsJSON, &p.Grants}} {
			if f.text == "" {
				continue
			}
			if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
				return fail("%s: %v", f.flag, err)
			}
		}
	}
	in, err := os.Open(input)
	if err != nil {
		return fail("%v", err)
	}
	defer in.Close()
	bs, err := plugintool.ReadBatches(in, *batch)
	if err != nil {
		return fail("%s: %v", input, err)
	}
	h, err := authorHost(ctx, cfg, dir, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin test:", err)
		return exitFailed
	}
	defer h.Close()
	t := &plugintool.Test{Host: h, Task: task, Plugin: p, Role: *role, JSONL: *jsonl, Out: stdout}
	if err := t.Run(ctx, bs); err != nil {
		if !errors.Is(err, plugintool.ErrFailed) {
			fmt.Fprintln(stderr, "puma plugin test:", err)
		}
		return exitFailed
	}
	return exitOK
}
