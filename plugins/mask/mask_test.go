package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var customers = &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt},
	{Name: "email", Kind: sdk.KindString, Nullable: true},
	{Name: "card_no", Kind: sdk.KindString},
	{Name: "note", Kind: sdk.KindString},
	{Name: "photo", Kind: sdk.KindBytes},
	{Name: "prefs", Kind: sdk.KindJSON},
	{Name: "score", Kind: sdk.KindInt},
}}

func mac(s string) []byte {
	m := hmac.New(sha256.New, []byte("pepper"))
	m.Write([]byte(s))
	return m.Sum(nil)
}

func TestMask(t *testing.T) {
	sdktest.Secret("salt", "pepper")
	cfg := `{"salt_secret":"salt","hash":["shop.customers.email","shop.*.photo"],"redact":["shop.customers.card_*","*.*.score","shop.customers.prefs"],` +
		`"truncate":{"shop.customers.note":3}}`
	if err := sdktest.Init(cfg); err != nil {
		t.Fatal(err)
	}
	row := []any{int64(1), "ann@example.com", "4111 1111", "héllo", []byte{1, 2}, `{"a":1}`, int64(7)}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, row...),
		sdktest.Update(customers, row, []any{int64(1), nil, "4111 1111", "hé", []byte{1, 2}, `{"a":2}`, int64(8)}),
		sdktest.Delete(customers, row...),
	)
	if err != nil {
		t.Fatal(err)
	}
	masked := map[string]any{
		"id": int64(1), "email": hex.EncodeToString(mac("ann@example.com")), "card_no": nil, "note": "hél",
		"photo": mac("\x01\x02"), "prefs": nil, "score": nil,
	}
	// An insert has only its after image masked: a patch of the masked
	// columns. An update and a delete have their before image masked
	// too, which only a replace can say.
	if res[0].Verdict != "patch" || !reflect.DeepEqual(res[0].Changes[0].After, masked) {
		t.Errorf("insert: %+v\nwant a patch to after %v", res[0], masked)
	}
	if res[1].Verdict != "replace" || res[2].Verdict != "replace" {
		t.Errorf("update, delete: verdicts %s, %s, want replace", res[1].Verdict, res[2].Verdict)
	}
	after := map[string]any{"id": int64(1), "email": nil, "card_no": nil, "note": "hé", "photo": mac("\x01\x02"), "prefs": nil, "score": nil}
	if u := res[1].Changes[0]; !reflect.DeepEqual(u.Before, masked) || !reflect.DeepEqual(u.After, after) {
		t.Errorf("update: before %v\nafter %v", u.Before, u.After)
	}
	if d := res[2].Changes[0]; !reflect.DeepEqual(d.Before, masked) || d.After != nil {
		t.Errorf("delete: %+v", d)
	}
}

func TestMaskReplacement(t *testing.T) {
	if err := sdktest.Init(`{"redact":["shop.customers.*"],"replacement":"***"}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(sdktest.Insert(customers, int64(1), "a@b", "c", "n", []byte{1}, `{}`, int64(3)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": nil, "email": "***", "card_no": "***", "note": "***", "photo": []byte("***"), "prefs": `"***"`, "score": nil}
	if got := res[0].Changes[0].After; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestMaskErrors(t *testing.T) {
	sdktest.Secret("salt", "pepper")
	for _, tc := range []struct{ cfg, err string }{
		{`{"hash":["shop.customers.email"]}`, "hash needs salt_secret"},
		{`{"redact":["shop.customers"]}`, "want db.table.column"},
		{`{"truncate":{"shop.x.y":-1}}`, "must not be negative"},
		{`{}`, "nothing to mask"},
		{`{"redact":["a.b.c"],"colour":1}`, `unknown field "colour"`},
	} {
		if err := sdktest.Init(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
	// Hashing a number cannot work: the change fails, naming the column.
	if err := sdktest.Init(`{"salt_secret":"salt","hash":["shop.customers.score"]}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(sdktest.Insert(customers, int64(1), "a@b", "c", "n", []byte{1}, `{}`, int64(3)))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Verdict != "error" || !strings.Contains(res[0].Message, "cannot hash shop.customers.score (kind int): redact it instead") {
		t.Errorf("%+v", res[0])
	}
}

// TestMaskFormattedKinds: columns that hold only values of their format
// (a date, a UUID) are redacted to the replacement only when it fits
// them, else to NULL; hashing or truncating them fails the change, naming
// the column.
func TestMaskFormattedKinds(t *testing.T) {
	sdktest.Secret("salt", "pepper")
	events := &sdktest.Table{DB: "shop", Name: "events", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindUUID},
		{Name: "day", Kind: sdk.KindDate},
		{Name: "status", Kind: sdk.KindEnum, Values: []string{"new", "0000-00-00"}},
	}}
	row := sdktest.Insert(events, "123e4567-e89b-12d3-a456-426614174000", "2024-02-29", "new")
	tests := []struct {
		cfg     string
		verdict string
		after   map[string]any // patch
		msg     string         // error
	}{
		{cfg: `{"redact":["shop.events.*"],"replacement":"0000-00-00"}`, verdict: "patch",
			after: map[string]any{"id": nil, "day": "0000-00-00", "status": "0000-00-00"}},
		{cfg: `{"redact":["shop.events.*"],"replacement":"***"}`, verdict: "patch",
			after: map[string]any{"id": nil, "day": nil, "status": nil}},
		{cfg: `{"salt_secret":"salt","hash":["shop.events.id"]}`, verdict: "error",
			msg: "mask: cannot hash shop.events.id (kind uuid): redact it instead"},
		{cfg: `{"truncate":{"shop.events.day":4}}`, verdict: "error",
			msg: "mask: cannot truncate shop.events.day (kind date): redact it instead"},
	}
	for _, tc := range tests {
		t.Run(tc.cfg, func(t *testing.T) {
			if err := sdktest.Init(tc.cfg); err != nil {
				t.Fatal(err)
			}
			res, err := sdktest.Handle(row)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case res[0].Verdict != tc.verdict:
				t.Fatalf("%+v, want %s", res[0], tc.verdict)
			case tc.after != nil && !reflect.DeepEqual(res[0].Changes[0].After, tc.after):
				t.Fatalf("after %v, want %v", res[0].Changes[0].After, tc.after)
			case tc.msg != "" && res[0].Message != tc.msg:
				t.Fatalf("message %q, want %q", res[0].Message, tc.msg)
			}
		})
	}
}

// BenchmarkMask measures the handler natively (no Wasm, the HMAC computed
// in the test host) on a batch of 256 inserts, hashing or redacting one
// text column of each.
func BenchmarkMask(b *testing.B) {
	sdktest.Secret("salt", "pepper")
	for _, bc := range []struct{ name, cfg string }{
		{"hash", `{"salt_secret":"salt","hash":["shop.customers.email"]}`},
		{"redact", `{"redact":["shop.customers.email"]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if err := sdktest.Init(bc.cfg); err != nil {
				b.Fatal(err)
			}
			const rows = 256
			changes := make([]sdktest.Change, rows)
			for i := range changes {
				changes[i] = sdktest.Insert(customers, int64(i), fmt.Sprintf("user%d@example.com", i), "4111", "hi", []byte{1}, `{}`, int64(i))
			}
			msg, err := sdktest.Encode(changes...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sdk.NativeHandle(msg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}

// TestMaskBatch: the MACs of a batch, computed in one call before its
// rows are masked, each land in their own row and image, across tables,
// rows that fail, NULLs, and before images; a JSON column takes its MAC
// as a JSON string. A secret the plugin may not use fails the batch with
// the host's reason.
func TestMaskBatch(t *testing.T) {
	sdktest.Secret("salt", "pepper")
	logs := &sdktest.Table{DB: "shop", Name: "logs", Columns: []sdk.Column{{Name: "n", Kind: sdk.KindInt}}}
	if err := sdktest.Init(`{"salt_secret":"salt","hash":["shop.customers.email","shop.customers.prefs","shop.logs.n"]}`); err != nil {
		t.Fatal(err)
	}
	cust := func(id int64, email any, prefs string) []any {
		return []any{id, email, "c", "n", []byte{1}, prefs, int64(0)}
	}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, cust(1, "a@x", `{"a":1}`)...),
		sdktest.Insert(logs, int64(5)),
		sdktest.Update(customers, cust(2, "b@x", `{}`), cust(2, "b2@x", `[]`)),
		sdktest.Insert(customers, cust(3, nil, `{"c":3}`)...),
		sdktest.Insert(customers, cust(4, "d@x", `4`)...),
	)
	if err != nil {
		t.Fatal(err)
	}
	h := func(s string) string { return hex.EncodeToString(mac(s)) }
	for i, want := range []map[string]any{
		{"email": h("a@x"), "prefs": `"` + h(`{"a":1}`) + `"`},
		nil,
		{"email": h("b2@x"), "prefs": `"` + h(`[]`) + `"`},
		{"email": nil, "prefs": `"` + h(`{"c":3}`) + `"`},
		{"email": h("d@x"), "prefs": `"` + h(`4`) + `"`},
	} {
		r := res[i]
		if want == nil {
			if r.Verdict != "error" || !strings.Contains(r.Message, "cannot hash shop.logs.n") {
				t.Errorf("row %d: %+v, want an error", i, r)
			}
			continue
		}
		after := r.Changes[0].After
		if after["email"] != want["email"] || after["prefs"] != want["prefs"] {
			t.Errorf("row %d: after %v, want %v", i, after, want)
		}
	}
	if before := res[2].Changes[0].Before; before["email"] != h("b@x") || before["prefs"] != `"`+h(`{}`)+`"` {
		t.Errorf("update's before image %v", before)
	}

	if err := sdktest.Init(`{"salt_secret":"nosuch","hash":["shop.customers.email"]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := sdktest.Handle(sdktest.Insert(customers, cust(1, "a@x", `{}`)...)); err == nil || !strings.Contains(err.Error(), "mask: secrets: hmac with nosuch") || !strings.Contains(err.Error(), "not granted") {
		t.Errorf("ungranted secret: %v", err)
	}
}
