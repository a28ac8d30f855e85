// Command dropvalue is an example handler: it drops the rows whose column
// holds a given value, and keeps everything else.
//
// Build it and load it:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dropvalue.wasm ./examples/dropvalue
//
//	[[task.handler]]
//	plugin = "dropvalue.wasm"
//	config = { column = "status", value = "test" }
package main

import (
	"errors"

	"github.com/pumacdc/puma/sdk"
)

type config struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

var cfg config

func init() {
	sdk.Init(func(raw []byte) error {
		cfg = config{}
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		if cfg.Column == "" {
			return errors.New("config: column is required")
		}
		return nil
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		img := r.After()
		if r.Op() == sdk.OpDelete {
			img = r.Before()
		}
		// String reads in place: no allocation per row.
		if v := img.Get(cfg.Column); v.Valid() && v.Text() == cfg.Value {
			return sdk.Drop()
		}
		return sdk.Keep()
	})
}

func main() {}
