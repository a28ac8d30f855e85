package main

import (
	"reflect"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func TestEmailDomain(t *testing.T) {
	customers := &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt}, {Name: "email", Kind: sdk.KindString, Nullable: true},
	}}
	orders := &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{{Name: "id", Kind: sdk.KindInt}}}
	if err := sdktest.Init(`{}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, int64(1), "ann@example.com"),
		sdktest.Insert(customers, int64(2), nil),
		sdktest.Insert(orders, int64(3)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if c := res[0].Changes[0]; !reflect.DeepEqual(c.After, map[string]any{"id": int64(1), "email": "ann@example.com", "email_domain": "example.com"}) || c.Route != "example.com" {
		t.Errorf("with an email: %+v", c)
	}
	if c := res[1].Changes[0]; c.After["email_domain"] != nil {
		t.Errorf("without an email: %+v", c)
	}
	if res[2].Verdict != "keep" {
		t.Errorf("a table without email: %+v", res[2])
	}
}
