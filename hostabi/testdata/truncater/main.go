// Command truncater is a handler for files tests. Its init opens the file
// its config names; each row of a batch is then an operation on it, in
// order: op "write" appends the row's text, "truncate" cuts the file to n
// bytes. A failed operation fails its row with the error.
package main

import (
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/files"
)

var f *files.File

func init() {
	sdk.Init(func(raw []byte) error {
		var cfg struct {
			Path string `json:"path"`
		}
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		var err error
		f, err = files.Open(cfg.Path, 0)
		return err
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		var err error
		switch op := r.After().String("op"); op {
		case "write":
			err = f.Write([]byte(r.After().String("text")))
		case "truncate":
			err = f.Truncate(r.After().Int("n"))
		default:
			return sdk.Fail(2, "unknown op "+op)
		}
		if err != nil {
			return sdk.Fail(1, err.Error())
		}
		return sdk.Keep()
	})
}

func main() {}
