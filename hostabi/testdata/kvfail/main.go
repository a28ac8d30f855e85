// Command kvfail is a test handler: it counts the changes it keeps in kv
// under "n" and fails those whose status column is "test".
package main

import (
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/kv"
)

func init() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.After().String("status") == "test" {
			return sdk.Fail(7, "a test row")
		}
		n, err := kv.GetUint64("n")
		if err == nil {
			err = kv.PutUint64("n", n+1)
		}
		if err != nil {
			return sdk.Fail(1, err.Error())
		}
		return sdk.Keep()
	})
}

func main() {}
