// Command opener is a handler for capability tests: its init opens the
// file its config names through the files capability.
package main

import (
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/files"
)

func init() {
	sdk.Init(func(raw []byte) error {
		var cfg struct {
			Path string `json:"path"`
		}
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		f, err := files.Open(cfg.Path, 0)
		if err != nil {
			return err
		}
		if err := f.Write([]byte("ok\n")); err != nil {
			return err
		}
		return f.Close()
	})
	sdk.Handler(func(*sdk.Row) sdk.Verdict { return sdk.Keep() })
}

func main() {}
