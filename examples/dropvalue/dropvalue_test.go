package main

import (
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

var customers = &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt}, {Name: "status", Kind: sdk.KindEnum, Values: []string{"live", "test"}},
}}

func TestDropValue(t *testing.T) {
	if err := sdktest.Init(`{"column":"status","value":"test"}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, int64(1), "live"),
		sdktest.Insert(customers, int64(2), "test"),
		sdktest.Delete(customers, int64(3), "test"),
		sdktest.Update(customers, []any{int64(4), "test"}, []any{int64(4), "live"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"keep", "drop", "drop", "keep"} {
		if res[i].Verdict != want {
			t.Errorf("change %d: %s, want %s", i, res[i].Verdict, want)
		}
	}
	if err := sdktest.Init(`{}`); err == nil {
		t.Error("a config without column was accepted")
	}
}
