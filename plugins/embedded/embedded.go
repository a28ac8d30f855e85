// Package embedded ships the built-in plugins inside the puma binary: the
// Wasm modules that `make wasm` (go generate ./plugins/embedded) builds from
// the packages under plugins/ (filter, http, jsonl, mask, rename, route,
// stdout) with the Go toolchain
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) into wasm/. The modules are
// build products and are not committed.
package embedded

//go:generate go run ./internal/build

import (
	"embed"
	"slices"
)

// When the modules have not been built, compiling this package stops at the
// declaration below, and the compiler's message says what to run. `make wasm`
// writes zz_built.go, which declares complex128 as an alias of string in this
// package (nothing here uses complex numbers), and the declaration compiles.
var _ complex128 = "the built-in Wasm plugins are not built: run `make wasm` (or `go generate ./plugins/embedded`) first"

//go:embed wasm
var modules embed.FS

// Names lists the built-in plugins, sorted.
var Names = []string{"filter", "http", "jsonl", "mask", "rename", "route", "stdout"}

// Module returns the Wasm module of the built-in plugin name.
func Module(name string) ([]byte, bool) {
	if !slices.Contains(Names, name) {
		return nil, false
	}
	b, err := modules.ReadFile("wasm/" + name + ".wasm")
	if err != nil {
		return nil, false
	}
	return b, true
}
