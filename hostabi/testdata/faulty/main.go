// Command faulty is a handler for fault tests: it misbehaves on the rows
// whose column "poison" holds a non-zero number, the way config "mode"
// says, and keeps every other row.
package main

import (
	"os"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
)

var cfg struct {
	Mode string `json:"mode"`
}

var hoard [][]byte

// counts is never made: writing to it panics.
var counts map[int64]int

func init() {
	sdk.Init(func(raw []byte) error { return sdk.DecodeConfig(raw, &cfg) })
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.After().Int("poison") == 0 {
			return sdk.Keep()
		}
		switch cfg.Mode {
		case "trap":
			// An access beyond linear memory: a Wasm trap, not a Go panic.
			p := (*byte)(unsafe.Add(unsafe.Pointer(&hoard), 1<<31+1<<30))
			*p = 1
		case "exit":
			os.Exit(3)
		case "panic":
			panic("poisoned row")
		case "nilmap":
			counts[r.After().Int("id")]++
		case "deadlock":
			select {}
		case "loop":
			for {
			}
		case "alloc":
			for {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		case "fail":
			return sdk.Fail(42, "poisoned row")
		}
		return sdk.Keep()
	})
}

func main() {}
