// Command builtins is the Wasm module of every built-in plugin. Puma
// loads and compiles it once however many built-ins a configuration
// uses: each built-in would otherwise be its own module, and a module's
// compiled code and the runtime's view of it take ~30 MB whatever its
// instances do.
//
// The host selects the plugin of an instance through its init config,
// {"builtin": "<name>", "config": <the plugin's config>}; the module then
// registers that plugin (sdk.Register) and is that plugin from then on.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pumacdc/puma/plugins/amqp"
	"github.com/pumacdc/puma/plugins/catalog"
	"github.com/pumacdc/puma/plugins/filter"
	"github.com/pumacdc/puma/plugins/http"
	"github.com/pumacdc/puma/plugins/jsonl"
	"github.com/pumacdc/puma/plugins/kafka"
	"github.com/pumacdc/puma/plugins/mask"
	"github.com/pumacdc/puma/plugins/nats"
	"github.com/pumacdc/puma/plugins/redis"
	"github.com/pumacdc/puma/plugins/rename"
	"github.com/pumacdc/puma/plugins/route"
	"github.com/pumacdc/puma/plugins/sqlapply"
	"github.com/pumacdc/puma/plugins/stdout"
	"github.com/pumacdc/puma/sdk"
)

var plugins = map[string]func() sdk.Plugin{
	"amqp":     amqp.Plugin,
	"filter":   filter.Plugin,
	"http":     http.Plugin,
	"jsonl":    jsonl.Plugin,
	"kafka":    kafka.Plugin,
	"mask":     mask.Plugin,
	"nats":     nats.Plugin,
	"redis":    redis.Plugin,
	"rename":   rename.Plugin,
	"route":    route.Plugin,
	"sqlapply": sqlapply.Plugin,
	"stdout":   stdout.Plugin,
}

// unselected stands in until Init selects a plugin; the SDK calls nothing
// but Init before a successful Init.
var unselected = errors.New("builtins: no plugin selected")

func init() {
	sdk.Register(sdk.Plugin{
		Init:    selectPlugin,
		Handler: func(*sdk.Row) sdk.Verdict { return sdk.Fail(0, unselected.Error()) },
		Sender:  func(*sdk.Batch) error { return sdk.Fatal(unselected) },
	})
}

func selectPlugin(raw []byte) error {
	var sel struct {
		Builtin string          `json:"builtin"`
		Config  json.RawMessage `json:"config"`
	}
	if err := sdk.DecodeConfig(raw, &sel); err != nil {
		return err
	}
	mk, ok := plugins[sel.Builtin]
	if !ok {
		names := make([]string, 0, len(plugins))
		for n := range plugins {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("no built-in plugin %q (there are %s)", sel.Builtin, strings.Join(names, ", "))
	}
	p := mk()
	role, kind := sdk.Role(), "handler"
	if p.Sender != nil {
		kind = "sender"
	}
	if role != kind {
		return catalog.RoleError(sel.Builtin, kind, role)
	}
	sdk.Register(p)
	if p.Init == nil {
		return nil
	}
	if len(sel.Config) == 0 {
		sel.Config = json.RawMessage("{}")
	}
	return p.Init(sel.Config)
}

func main() {}
