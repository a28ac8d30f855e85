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

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/plugintool"
	"github.com/pumacdc/puma/plugins/catalog"
	"github.com/pumacdc/puma/plugins/embedded"
)

const pluginUsage = `usage: puma plugin <command> [flags]

commands:
  init    [-sdk PATH] DIR                scaffold a Go plugin: go.mod, a handler, its test, a typed fixture
  build   [-o out.wasm] [package]        build a Go plugin (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)
  inspect module.wasm|builtin:NAME       show a module's ABI version, roles, exports, imports and grants
  test    [flags] module.wasm|builtin:NAME changes.jsonl|-
                                         run a plugin over JSON envelopes (builtin:jsonl's output)
                                         and print its verdicts and output; no database needed

puma plugin <command> -h describes a command.
`

const initUsage = `usage: puma plugin init [-sdk PATH] DIR

Write a new Go plugin into DIR (empty or new): go.mod, main.go (a handler
using the SDK), main_test.go (its test, with sdk/sdktest) and
testdata/changes.jsonl (a typed fixture for puma plugin test). It builds
offline with the stock Go toolchain. Until Puma's module is published,
go.mod replaces github.com/pumacdc/puma with a checkout of it:

  -sdk PATH   the Puma checkout (default: the one this binary was built from)
`

const buildUsage = `usage: puma plugin build [-o out.wasm] [package]

Build the Go plugin package (a directory or an import path; default .) as
Puma loads it: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath.
`

const inspectUsage = `usage: puma plugin inspect module.wasm|builtin:NAME

Show a module's ABI version, the roles it registers (handler, sender),
its exports and imports, the grants it needs, and whether Puma loads it.
`

const testUsage = `usage: puma plugin test [flags] module.wasm|builtin:NAME changes.jsonl|-
       puma plugin test -c puma.toml [-task NAME] -plugin NAME changes.jsonl|-

Run a plugin over a file of JSON envelopes (builtin:jsonl's output; - reads
standard input) and print each verdict and what is passed on; no database
needed. A line {"schema":{"db":"shop","table":"orders","columns":[{"name":"id",
"type":"bigint"},{"name":"total","type":"decimal(10,2)"}]}} gives a table's
column types for the lines after it; without one the kinds are guessed from
the JSON values (DECIMAL, temporal and binary columns then arrive as strings)
and a warning says so.

flags:
  -config JSON      the plugin's config table as JSON ({"column":"status"})
  -grants JSON      its grants table as JSON ({"files":["out"],"kv":true})
  -c puma.toml      take [secrets] (and, with -task and -plugin, the module, config
                    and grants) from a configuration; paths are relative to it
  -task NAME, -plugin NAME
  -role handler|sender   (default: what the module registers)
  -batch N          changes per batch (default: one batch per transaction)
  -jsonl            print only the envelopes a handler passes on
  -timeout 5s       per call
`

// stdin is what `puma plugin test` reads for the fixture "-"; tests
// replace it.
var stdin io.Reader = os.Stdin

// flagSet returns a flag set for a plugin command whose -h prints usage.
func flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage) }
	return fs
}

// parse parses args: ok is false when the command is done, with code
// its exit code. -h prints the usage on stdout and exits 0; a bad flag
// prints the error and the usage on stderr.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "puma %s: %v\n", fs.Name(), err)
		fs.Usage()
		return exitUsage, false
	}
	fs.SetOutput(stderr)
	return exitOK, true
}

// usageErr prints the command's usage after a wrong argument count.
func usageErr(fs *flag.FlagSet, stderr io.Writer) int {
	fs.SetOutput(stderr)
	fs.Usage()
	return exitUsage
}

// cmdPlugin runs `puma plugin ...`, the tools for plugin authors.
func cmdPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "init":
		return pluginInit(args[1:], stdout, stderr)
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
	fs := flagSet("plugin build", buildUsage)
	out := fs.String("o", "", "output module (default: the package directory's name + .wasm)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return usageErr(fs, stderr)
	}
	path, err := plugintool.Build(ctx, fs.Arg(0), *out, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin build:", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, path)
	return exitOK
}

func pluginInit(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("plugin init", initUsage)
	sdk := fs.String("sdk", "", "the Puma checkout the plugin's go.mod points at")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return usageErr(fs, stderr)
	}
	if *sdk == "" {
		dir, err := plugintool.BuildCheckout()
		if err != nil {
			fmt.Fprintln(stderr, "puma plugin init:", err)
			return exitUsage
		}
		*sdk = dir
	}
	files, err := plugintool.Scaffold(fs.Arg(0), *sdk)
	if err != nil {
		fmt.Fprintln(stderr, "puma plugin init:", err)
		return exitFailed
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
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
		opts.Targets = cfg.Targets
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
	fs := flagSet("plugin inspect", inspectUsage)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return usageErr(fs, stderr)
	}
	args = fs.Args()
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
	} else if info.Problem == "" {
		// Exports say what a module could be; its init says what it is.
		if info.Roles, err = plugintool.Registered(ctx, h, args[0], wasm, info.Roles); err != nil {
			fmt.Fprintf(stderr, "puma plugin inspect: %s: %v\n", args[0], err)
			return exitFailed
		}
	}
	plugintool.PrintInfo(stdout, args[0], info)
	if info.Problem != "" {
		return exitFailed
	}
	return exitOK
}

func pluginTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flagSet("plugin test", testUsage)
	cfgJSON := fs.String("config", "", "the plugin's config table as JSON")
	grantsJSON := fs.String("grants", "", "the plugin's grants table as JSON")
	cfgPath := fs.String("c", "", "puma.toml to take [secrets] (and -task/-plugin) from")
	taskName := fs.String("task", "", "with -c: the task of -plugin")
	pluginName := fs.String("plugin", "", "with -c: run this configured plugin")
	role := fs.String("role", "", "handler or sender (default: what the module exports)")
	batch := fs.Int("batch", 0, "changes per batch (0: one batch per transaction)")
	jsonl := fs.Bool("jsonl", false, "print only the envelopes a handler passes on")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on each call into the plugin")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
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
	p := engine.PluginConfig{Name: "test", Timeout: *timeout, MaxMemory: 64 << 20}
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
			for i, pc := range append(append([]engine.PluginConfig(nil), tc.Handlers...), tc.Senders...) {
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
			return usageErr(fs, stderr)
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
	in := io.Reader(stdin)
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		in = f
	}
	bs, guessed, err := plugintool.ReadFixture(in, *batch)
	if err != nil {
		return fail("%s: %v", input, err)
	}
	if len(guessed) > 0 {
		fmt.Fprintf(stderr, "puma plugin test: warning: %s: no schema line for %s: guessing column kinds from the JSON values, so DECIMAL, temporal and binary columns arrive as strings; give each table a {\"schema\":...} line (puma plugin test -h)\n",
			label(input), strings.Join(guessed, ", "))
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

// label names a fixture in messages: "-" is the standard input.
func label(input string) string {
	if input == "-" {
		return "standard input"
	}
	return input
}
