package plugintool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/plugins/catalog"
)

// Checked is what checking one configured plugin found.
type Checked struct {
	// Task is the task's name; Role "handler" or "sender"; Index the
	// plugin's place among the task's plugins of that role.
	Task  string
	Role  string
	Index int
	// Plugin is the plugin as configured.
	Plugin engine.PluginConfig
	// Problem is why `puma run` would refuse the plugin, with the TOML
	// path of what to fix; nil when the plugin starts.
	Problem *config.Problem
}

// Label names the plugin in a report: "sender[0] (jsonl)".
func (c *Checked) Label() string {
	return fmt.Sprintf("%s[%d] (%s)", c.Role, c.Index, c.Plugin.Name)
}

// Checker checks configured plugins as `puma run` starts them, without a
// source: each is loaded and started (its module checked for the ABI
// and its role, its grants parsed and held to the capabilities it
// imports, its init given its config), then closed.
type Checker struct {
	// Host starts the plugins as run would: the configuration's directory,
	// secrets and built-ins.
	Host *hostabi.Host
	// Probe returns a host whose configuration directory is a scratch
	// one, and is called at most once, when a plugin fails to start. The
	// failing plugin is started there again with every capability
	// granted inside that directory, so that a problem in its config is
	// told apart from the grants the config fails to give it: a misspelt
	// path in builtin:jsonl's config is reported as that key, not as the
	// files grant it leaves out. The Checker closes what Probe returns.
	Probe func(ctx context.Context) (*hostabi.Host, error)

	probe    *hostabi.Host
	probeErr error
}

// Close releases the probe host, if one was made.
func (ck *Checker) Close() error {
	if ck.probe != nil {
		return ck.probe.Close()
	}
	return nil
}

// Check checks every handler and sender of cfg's tasks, in order. Each
// started plugin runs its init as at run time: a sender that opens its
// output there (builtin:jsonl) creates it.
func (ck *Checker) Check(ctx context.Context, cfg *config.Config) []Checked {
	var out []Checked
	for i, t := range cfg.Tasks {
		prefix := fmt.Sprintf("task[%d] (%s)", i, t.Name)
		for _, group := range []struct {
			role    string
			plugins []engine.PluginConfig
		}{{"handler", t.Handlers}, {"sender", t.Senders}} {
			for j, p := range group.plugins {
				c := Checked{Task: t.Name, Role: group.role, Index: j, Plugin: p}
				path := fmt.Sprintf("%s.%s[%d]", prefix, group.role, j)
				c.Problem = ck.check(ctx, t.Name, group.role, path, p)
				out = append(out, c)
			}
		}
	}
	return out
}

func (ck *Checker) check(ctx context.Context, task, role, path string, p engine.PluginConfig) *config.Problem {
	at := func(key, format string, args ...any) *config.Problem {
		return &config.Problem{Path: path + "." + key, Msg: fmt.Sprintf(format, args...)}
	}
	if name, ok := p.Builtin(); ok {
		if !slices.Contains(catalog.Names, name) {
			msg := fmt.Sprintf("no built-in plugin %q", name)
			if near, ok := config.Suggest(name, catalog.Names); ok {
				msg += fmt.Sprintf(": did you mean builtin:%s?", near)
			}
			return at("plugin", "%s (the built-ins are %s)", msg, strings.Join(catalog.Names, ", "))
		}
		if is := builtinRole(name); is != role {
			return at("plugin", "builtin:%s is a %s: move it to a [[task.%s]] table", name, is, is)
		}
	} else if _, err := os.Stat(p.Plugin); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return at("plugin", "%s does not exist: build the module there (puma plugin build -o %s) or fix the path", p.Plugin, p.Plugin)
		}
		return at("plugin", "%v", err)
	}
	err := start(ctx, ck.Host, task, role, p)
	if err == nil {
		return nil
	}
	// Did the config, rather than the grants, make it fail?
	if probe, perr := ck.probeHost(ctx); perr == nil {
		if perr := start(ctx, probe, task, role, probeGrants(p)); perr != nil {
			err = perr
		}
	}
	return classify(path, p, err)
}

// builtinRole is the role of the built-in plugin name.
func builtinRole(name string) string {
	if catalog.Sender(name) {
		return "sender"
	}
	return "handler"
}

func (ck *Checker) probeHost(ctx context.Context) (*hostabi.Host, error) {
	if ck.probe == nil && ck.probeErr == nil {
		if ck.Probe == nil {
			ck.probeErr = errors.New("no probe host")
		} else {
			ck.probe, ck.probeErr = ck.Probe(ctx)
		}
	}
	return ck.probe, ck.probeErr
}

// start starts p in role on h and closes it.
func start(ctx context.Context, h *hostabi.Host, task, role string, p engine.PluginConfig) error {
	if role == "sender" {
		s, err := h.NewSender(ctx, task, p)
		if err != nil {
			return err
		}
		return s.Close()
	}
	hd, err := h.NewHandler(ctx, task, p)
	if err != nil {
		return err
	}
	return hd.Close()
}

// probeGrants returns p granted every capability: files in the whole
// (scratch) configuration directory, stdout, kv, http to a name that
// does not resolve unless p grants some, and the secrets p names.
func probeGrants(p engine.PluginConfig) engine.PluginConfig {
	g := make(map[string]any, len(p.Grants)+4)
	for k, v := range p.Grants {
		g[k] = v
	}
	g["files"] = []any{"."}
	g["stdout"] = true
	g["kv"] = true
	if _, ok := g["http"]; !ok {
		g["http"] = []any{"https://puma-check.invalid"}
	}
	if _, ok := g["secrets"]; !ok {
		g["secrets"] = []any{}
	}
	p.Grants = g
	return p
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// classify turns a plugin's start error into a problem at the TOML path
// of what to fix: the module, its grants or its config.
func classify(path string, p engine.PluginConfig, err error) *config.Problem {
	msg := err.Error()
	var he *hostabi.Error
	if errors.As(err, &he) {
		msg = he.Msg
	}
	switch {
	case strings.Contains(msg, "registers no "):
		return &config.Problem{Path: path + ".plugin", Msg: strings.TrimPrefix(msg, "init failed: ")}
	case strings.HasPrefix(msg, "init failed: "):
		msg = strings.TrimPrefix(msg, "init failed: ")
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			return &config.Problem{Path: path + ".config." + m[1], Msg: fmt.Sprintf("unknown key: %s has no config key %q (see its documentation for the keys it takes)", p.Plugin, m[1])}
		}
		return &config.Problem{Path: path + ".config", Msg: p.Plugin + " refused its config: " + msg}
	case strings.Contains(msg, "grant"):
		return &config.Problem{Path: path + ".grants", Msg: msg}
	}
	return &config.Problem{Path: path + ".plugin", Msg: msg}
}
