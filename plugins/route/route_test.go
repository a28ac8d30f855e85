package route

import (
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var (
	orders = &sdktest.Table{DB: "shop", Name: "orders", Key: []int{0, 1}, Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt}, {Name: "tenant", Kind: sdk.KindString}, {Name: "total", Kind: sdk.KindDouble},
		{Name: "db", Kind: sdk.KindString, Nullable: true},
	}}
	events = &sdktest.Table{DB: "logs", Name: "events", Columns: []sdk.Column{{Name: "seq", Kind: sdk.KindUint}}}
)

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		cfg    string
		change sdktest.Change
		want   string
	}{
		{`{}`, sdktest.Insert(orders, int64(7), "acme", 1.5, "x"), "shop.orders"},
		{`{"key":"{db}.{table}.{id}"}`, sdktest.Insert(orders, int64(7), "acme", 1.5, "x"), "shop.orders.7"},
		{`{"key":"{op}:{key}/{total}/{col:db}/{{lit}}"}`, sdktest.Insert(orders, int64(7), "acme", 1.5, nil), "c:7,acme/1.5//{lit}"},
		{`{"key":"{id}"}`, sdktest.Delete(orders, int64(9), "acme", 1.5, "x"), "9"},
		{`{"key":"{id}","tables":{"logs.*":"{db}-{seq}","shop.orders":"t-{tenant}"}}`, sdktest.Insert(events, uint64(3)), "logs-3"},
		{`{"key":"{id}","tables":{"logs.*":"{db}-{seq}","shop.orders":"t-{tenant}"}}`, sdktest.Insert(orders, int64(1), "acme", 0.0, nil), "t-acme"},
	} {
		if err := sdktest.Init(tc.cfg); err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		res, err := sdktest.Handle(tc.change)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Verdict != "route" || res[0].Message != tc.want {
			t.Errorf("%s: %+v, want route %q", tc.cfg, res[0], tc.want)
		}
	}
}

func TestRouteErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, err string }{
		{`{"key":"{db"}`, "unclosed {"},
		{`{"key":"a}b"}`, "unmatched }"},
		{`{"key":"{}"}`, "empty placeholder"},
		{`{"tables":{"x":"{db}"}}`, "want db.table"},
	} {
		if err := sdktest.Init(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
	if err := sdktest.Init(`{"key":"{tenant}"}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(sdktest.Insert(events, uint64(1)))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Verdict != "error" || !strings.Contains(res[0].Message, "names column tenant, which logs.events lacks") {
		t.Errorf("%+v", res[0])
	}
}
