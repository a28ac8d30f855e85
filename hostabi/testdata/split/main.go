// Command split is a test handler that emits every row twice, with the
// status column (an ENUM of live and test) set to "live" and then "test".
package main

import "github.com/pumacdc/puma/sdk"

func init() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.Table() == nil {
			return sdk.Keep()
		}
		for _, s := range []string{"live", "test"} {
			r.Set("status", sdk.String(s))
			r.Emit()
		}
		return sdk.Keep()
	})
}

func main() {}
