// Package embedded ships the built-in plugins inside the puma binary: one
// Wasm module, plugins/builtins, holding every one of them (amqp, filter,
// http, jsonl, kafka, mask, nats, redis, rename, route, sqlapply, stdout), which `make wasm` (go generate
// ./plugins/embedded) builds with the Go toolchain (GOOS=wasip1
// GOARCH=wasm -buildmode=c-shared -trimpath) into wasm/. The module is
// committed, with wasm/builtins.inputs recording what it was built from,
// so that a clone builds with go build alone; TestModuleCurrent fails when
// the sources have moved on without `make wasm`.
package embedded

//go:generate go run ./internal/build

import (
	_ "embed"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"unsafe"

	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/plugins/catalog"
	"github.com/pumacdc/puma/plugins/filter"
	"github.com/pumacdc/puma/plugins/http"
	"github.com/pumacdc/puma/plugins/jsonl"
	"github.com/pumacdc/puma/plugins/mask"
	"github.com/pumacdc/puma/plugins/rename"
	"github.com/pumacdc/puma/plugins/route"
	"github.com/pumacdc/puma/sdk"
)

// builtinsWasm is the module, in the binary's read-only data: as a string
// it is not copied into the heap, where embed.FS.ReadFile would put its 5
// MB for as long as the process runs.
//
//go:embed wasm/builtins.wasm
var builtinsWasm string

// Names lists the built-in plugins, sorted.
var Names = catalog.Names

// Module returns the Wasm module holding the built-in plugin name: the
// same module for every built-in, which selects name from its init config
// (see plugins/builtins). Every call returns the same bytes: do not
// modify them.
func Module(name string) ([]byte, bool) {
	if !slices.Contains(Names, name) {
		return nil, false
	}
	// The bytes are the string's own, which are read-only: writing to
	// them faults.
	return unsafe.Slice(unsafe.StringData(builtinsWasm), len(builtinsWasm)), true
}

// Builtin serves the built-in plugins embedded in the binary, for
// hostabi.Options.Builtin. Each is
// granted what its config already names: builtin:stdout the standard
// output, builtin:jsonl the directory of its path (relative or absolute,
// without ".."), builtin:http its URL and the secrets its
// config names, builtin:mask its salt secret, builtin:amqp,
// builtin:kafka, builtin:nats and builtin:redis the [targets] table their target names,
// builtin:sqlapply its target (of the kind its dialect names). Grants can
// add more (a
// URL on a private network needs allow_private = true).
func Builtin(name string, config map[string]any, dir string) (hostabi.Builtin, bool) {
	wasm, ok := Module(name)
	if !ok {
		return hostabi.Builtin{}, false
	}
	b := hostabi.Builtin{Wasm: wasm, Select: name, Uses: catalog.Uses(name)}
	if np, ok := native[name]; ok {
		b.Native = makeNative(name, np)
	}
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
	case "amqp", "kafka", "nats", "redis":
		// A broker sender's target is of its own kind.
		if t, ok := config["target"].(string); ok && t != "" {
			b.Grants.Targets = map[string][]string{name: {t}}
		}
	case "sqlapply":
		// The grant is of the kind the config says; the host checks the
		// target is of that kind.
		t, _ := config["target"].(string)
		d, _ := config["dialect"].(string)
		if t != "" && (d == "postgres" || d == "mysql") {
			b.Grants.Targets = map[string][]string{d: {t}}
		}
	}
	return b, true
}

// native are the built-in plugins Puma runs compiled into the binary
// (hostabi.Native), the same code as in the module, without the cost of
// Go compiled to Wasm: the handlers, builtin:http and builtin:jsonl. They
// reach their capabilities (secrets, HTTP, files, envelopes) through the
// host's NativeHost.
var native = map[string]nativePlugin{
	"filter": {wire.RoleHandler, func(h hostabi.NativeHost) sdk.Plugin { return filter.New(h.ReadColumns) }},
	"mask":   {wire.RoleHandler, func(h hostabi.NativeHost) sdk.Plugin { return mask.New(h.HMACBatch) }},
	"rename": {wire.RoleHandler, func(hostabi.NativeHost) sdk.Plugin { return rename.Plugin() }},
	"route":  {wire.RoleHandler, func(hostabi.NativeHost) sdk.Plugin { return route.Plugin() }},
	"http": {wire.RoleSender, func(h hostabi.NativeHost) sdk.Plugin {
		return http.New(http.Host{HTTP: h.HTTP, HMACBatch: h.HMACBatch, Envelope: h.Envelope, ReadColumns: h.ReadColumns})
	}},
	"jsonl": {wire.RoleSender, func(h hostabi.NativeHost) sdk.Plugin {
		return jsonl.New(jsonl.Host{Files: h, Envelope: h.Envelope, ReadColumns: h.ReadColumns,
			Log: func(l sdk.Level, msg string) { h.Log(slog.Level(l), msg) }})
	}},
}

type nativePlugin struct {
	role wire.Role
	mk   func(hostabi.NativeHost) sdk.Plugin
}

// makeNative makes native instances of the built-in name.
func makeNative(name string, np nativePlugin) func(wire.Role, hostabi.NativeHost) (hostabi.Native, error) {
	return func(role wire.Role, h hostabi.NativeHost) (hostabi.Native, error) {
		if role != np.role {
			return nil, catalog.RoleError(name, np.role.String(), role.String())
		}
		in := sdk.NewInstance(np.mk(h))
		in.OnGroupBatch(h.GroupBatch)
		return in, nil
	}
}

func appendSecret(list []string, v any) []string {
	if s, ok := v.(string); ok && s != "" {
		return append(list, s)
	}
	return list
}
