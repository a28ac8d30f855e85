// Command emaildomain is an example transformer: for every table with an
// email column it adds an email_domain column, derived from email, by
// declaring an output schema, and routes each row by that domain.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o emaildomain.wasm ./examples/emaildomain
//
//	[[task.handler]]
//	plugin = "emaildomain.wasm"
package main

import (
	"strings"

	"github.com/pumacdc/puma/sdk"
)

func init() {
	// Called once per table version: tables with an email column get one
	// more column; the others keep their shape.
	sdk.OutputSchema(func(in *sdk.Table, out *sdk.Schema) {
		if in.Index("email") >= 0 {
			out.Add("email_domain", sdk.KindString)
		}
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.Out() == nil || r.Out().Index("email_domain") < 0 {
			return sdk.Keep()
		}
		if r.Before().Present() {
			r.SetBefore("email_domain", domain(r.Before().Get("email")))
		}
		if r.After().Present() {
			d := domain(r.After().Get("email"))
			r.Set("email_domain", d)
			r.SetRoute(d.Text())
		}
		return sdk.Keep()
	})
}

// domain returns the part of an email address after its last '@', NULL
// when there is none.
func domain(email sdk.Value) sdk.Value {
	s := email.Text()
	i := strings.LastIndexByte(s, '@')
	if !email.Valid() || i < 0 {
		return sdk.Null()
	}
	return sdk.String(s[i+1:])
}

func main() {}
