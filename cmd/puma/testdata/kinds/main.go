// Command kinds is a test handler: it routes each change by the kinds of
// its table's columns ("id:uint,total:decimal"), so a test sees the kinds
// `puma plugin test` gave the plugin.
package main

import (
	"strings"

	"github.com/pumacdc/puma/sdk"
)

func init() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		t := r.Table()
		if t == nil {
			return sdk.Keep()
		}
		var b strings.Builder
		for i, c := range t.Columns {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.Name + ":" + c.Kind.String())
		}
		r.SetRoute(b.String())
		return sdk.Keep()
	})
}

func main() {}
