package rename

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var (
	customers = &sdktest.Table{DB: "shop", Name: "customers", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt}, {Name: "email", Kind: sdk.KindString}, {Name: "created", Kind: sdk.KindDateTime},
	}}
	tmp   = &sdktest.Table{DB: "shop", Name: "tmp_1", Columns: []sdk.Column{{Name: "created", Kind: sdk.KindDateTime}}}
	other = &sdktest.Table{DB: "app", Name: "other", Columns: []sdk.Column{{Name: "x", Kind: sdk.KindInt}}}
)

func TestRename(t *testing.T) {
	cfg := `{"tables":{"shop.customers":"crm.clients","shop.tmp_*":"scratch"},` +
		`"columns":{"shop.customers.email":"email_address","*.*.created":"created_at","shop.*.email":"never"}}`
	if err := sdktest.Init(cfg); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(
		sdktest.Insert(customers, int64(1), "a@b", "2026-01-01 00:00:00"),
		sdktest.Insert(tmp, "2026-01-02 00:00:00"),
		sdktest.Insert(other, int64(5)),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdktest.Out{
		{Op: sdk.OpInsert, DB: "crm", Table: "clients", After: map[string]any{"id": int64(1), "email_address": "a@b", "created_at": "2026-01-01 00:00:00"}},
		{Op: sdk.OpInsert, DB: "shop", Table: "scratch", After: map[string]any{"created_at": "2026-01-02 00:00:00"}},
	}
	for i, w := range want {
		if res[i].Verdict != "replace" || !reflect.DeepEqual(res[i].Changes[0], w) {
			t.Errorf("change %d: %+v, want %+v", i, res[i], w)
		}
	}
	if res[2].Verdict != "keep" {
		t.Errorf("an unrenamed table: %+v", res[2])
	}
}

func TestRenameErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, err string }{
		{`{}`, "nothing to rename"},
		{`{"tables":{"shop":"x"}}`, "want db.table"},
		{`{"tables":{"shop.a":"x.y.z"}}`, `the new name is "db.table" or "table"`},
		{`{"columns":{"shop.a.b":""}}`, "empty new name"},
	} {
		if err := sdktest.Init(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.err)
		}
	}
	if err := sdktest.Init(`{"columns":{"shop.customers.email":"id"}}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(sdktest.Insert(customers, int64(1), "a@b", "2026-01-01 00:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Verdict != "error" || !strings.Contains(res[0].Message, "cannot rename shop.customers.email to id") {
		t.Errorf("%+v", res[0])
	}
}
