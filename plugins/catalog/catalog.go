// Package catalog lists the built-in plugins, which plugins/builtins
// bundles into one Wasm module: their names, and the capabilities each
// uses, which the host requires granted for it (the shared module
// imports those of all of them). It builds without the module, for the
// tests that build it themselves.
package catalog

import "fmt"

// Names lists the built-in plugins, sorted.
var Names = []string{"amqp", "filter", "http", "jsonl", "kafka", "mask", "nats", "redis", "rename", "route", "sqlapply", "stdout"}

// uses are the capabilities whose SDK packages (sdk/files, sdk/stdout,
// sdk/http, sdk/secrets, sdk/kv, sdk/amqp, sdk/kafka, sdk/nats, sdk/redis, sdk/sql) each
// built-in imports; TestUses holds this table to the imports.
var uses = map[string][]string{
	"amqp":     {"amqp"},
	"http":     {"http", "secrets"},
	"jsonl":    {"files"},
	"kafka":    {"kafka"},
	"mask":     {"secrets"},
	"nats":     {"nats"},
	"redis":    {"redis"},
	"sqlapply": {"sql"},
	"stdout":   {"stdout"},
}

// Sender reports whether the built-in plugin name is a sender (else a
// handler).
func Sender(name string) bool {
	return name == "amqp" || name == "http" || name == "jsonl" || name == "kafka" || name == "nats" || name == "redis" || name == "sqlapply" || name == "stdout"
}

// RoleError is the error of configuring the built-in plugin name, a
// "handler" or "sender" (kind), as the other (role).
func RoleError(name, kind, role string) error {
	return fmt.Errorf("builtin:%s is a %s; it cannot be configured as a %s", name, kind, role)
}

// Uses returns the capabilities the built-in plugin name uses.
func Uses(name string) []string { return uses[name] }
