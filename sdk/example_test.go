package sdk_test

import (
	"fmt"
	"strings"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

var customers = &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt},
	{Name: "email", Kind: sdk.KindString, Nullable: true},
	{Name: "status", Kind: sdk.KindEnum},
}}

// A filter: drop test rows, keep the rest. Register in init in a real
// plugin; sdktest runs it natively here.
func ExampleHandler() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.After().String("status") == "test" {
			return sdk.Drop()
		}
		return sdk.Keep()
	})
	sdktest.Init("{}")
	res, _ := sdktest.Handle(
		sdktest.Insert(customers, int64(1), "ann@example.com", "live"),
		sdktest.Insert(customers, int64(2), "bob@example.com", "test"),
	)
	fmt.Println(res[0].Verdict, res[1].Verdict)
	// Output: keep drop
}

// A transformer: add a column derived from another, through an output
// schema, and route rows by it.
func ExampleOutputSchema() {
	sdk.OutputSchema(func(in *sdk.Table, out *sdk.Schema) {
		if in.Index("email") >= 0 {
			out.Add("domain", sdk.KindString)
			out.Drop("status")
		}
	})
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		email := r.After().String("email")
		domain := email[strings.LastIndexByte(email, '@')+1:]
		r.Set("domain", sdk.String(domain))
		r.SetRoute(domain)
		return sdk.Keep()
	})
	sdktest.Init("{}")
	res, _ := sdktest.Handle(sdktest.Insert(customers, int64(1), "ann@example.com", "live"))
	out := res[0].Changes[0]
	fmt.Println(res[0].Verdict, out.After, out.Route)
	// Output: replace map[domain:example.com email:ann@example.com id:1] example.com
}

// Emit turns one change into several.
func ExampleRow_Emit() {
	sdk.OutputSchema(nil)
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		for _, s := range []string{"a", "b"} {
			r.Set("status", sdk.String(s))
			r.Emit()
		}
		return sdk.Keep()
	})
	sdktest.Init("{}")
	res, _ := sdktest.Handle(sdktest.Insert(customers, int64(1), "ann@example.com", "live"))
	for _, c := range res[0].Changes {
		fmt.Println(res[0].Verdict, c.After["status"])
	}
	// Output:
	// emit a
	// emit b
}

// Image reads values in place, by name or index; NULL and absent are
// told apart.
func ExampleImage() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		after := r.After()
		fmt.Println(after.Int("id"), after.IsNull("email"), after.Has("status"), after.At(0).Kind())
		return sdk.Keep()
	})
	sdktest.Init("{}")
	sdktest.Handle(sdktest.Insert(customers, int64(7), nil, sdktest.Absent))
	// Output: 7 true false int
}

// Fail reports a row the handler cannot process: the batch fails and the
// task's on_error policy applies.
func ExampleFail() {
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if r.After().IsNull("email") {
			return sdk.Fail(1, "email is required")
		}
		return sdk.Keep()
	})
	sdktest.Init("{}")
	res, _ := sdktest.Handle(sdktest.Insert(customers, int64(7), nil, "live"))
	fmt.Println(res[0].Verdict, res[0].Code, res[0].Message)
	// Output: error 1 email is required
}

// DecodeConfig decodes the plugin's config strictly in Init.
func ExampleDecodeConfig() {
	var cfg struct {
		Column string `json:"column"`
	}
	sdk.Init(func(raw []byte) error { return sdk.DecodeConfig(raw, &cfg) })
	fmt.Println(sdktest.Init(`{"colum":"status"}`))
	// Output: fatal error: config: json: unknown field "colum"
}

// Set refuses a value its column's kind cannot hold, naming the column,
// its kind and the value's; the handler decides what to pass on instead.
func ExampleRow_Set() {
	orders := &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt},
		{Name: "qty", Kind: sdk.KindInt, Nullable: true},
		{Name: "total", Kind: sdk.KindDecimal},
	}}
	sdk.Handler(func(r *sdk.Row) sdk.Verdict {
		if err := r.Set("qty", sdk.String("lots")); err != nil {
			fmt.Println(err)
			r.Set("qty", sdk.Null())
		}
		r.Set("total", sdk.Int(12)) // an integer fits a DECIMAL
		return sdk.Keep()
	})
	sdktest.Init("{}")
	res, _ := sdktest.Handle(sdktest.Insert(orders, int64(1), int64(3), "9.90"))
	fmt.Println(res[0].Changes[0].After)
	// Output:
	// sdk: set shop.orders.qty (int) to string "lots": the column takes int, year, uint and bit values
	// map[id:1 qty:<nil> total:12]
}

// Value.String renders any kind as the JSON envelope does, for senders
// writing other formats: a CSV line, say.
func ExampleValue_String() {
	events := &sdktest.Table{DB: "shop", Name: "events", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindUint},
		{Name: "score", Kind: sdk.KindFloat},
		{Name: "at", Kind: sdk.KindTimestamp},
		{Name: "blob", Kind: sdk.KindBytes},
		{Name: "note", Kind: sdk.KindString, Nullable: true},
	}}
	sdk.Sender(func(b *sdk.Batch) error {
		for i := range b.Len() {
			r := b.Row(i)
			var line []byte
			for j := range r.Table().Columns {
				if j > 0 {
					line = append(line, ',')
				}
				line = r.After().At(j).AppendText(line)
			}
			fmt.Println(string(line))
		}
		return nil
	})
	sdktest.InitSender("{}")
	sdktest.Send(sdktest.Insert(events, uint64(7), float64(float32(0.1)), "2024-02-29T10:00:00.5Z", []byte("hi"), nil))
	// Output: 7,0.1,2024-02-29T10:00:00.5Z,aGk=,
}

// A column's declared sizes, from the binary log's type metadata.
func ExampleColumn_Decimal() {
	price := sdk.Column{Name: "price", Kind: sdk.KindDecimal, SQLType: 246, Meta: 10<<8 | 2} // DECIMAL(10,2)
	created := sdk.Column{Name: "created", Kind: sdk.KindDateTime, SQLType: 18, Meta: 3}     // DATETIME(3)
	name := sdk.Column{Name: "name", Kind: sdk.KindString, SQLType: 15, Meta: 80, Charset: "utf8mb4"}
	fmt.Println(price.Decimal())
	fmt.Println(created.FracDigits())
	fmt.Println(name.MaxChars())
	// Output:
	// 10 2 true
	// 3 true
	// 20 true
}

// Kinds and ops name themselves as the envelope and errors do.
func ExampleKind() {
	fmt.Println(sdk.KindTimestamp, sdk.OpInsert, sdk.OpDDL)
	// Output: timestamp c ddl
}
