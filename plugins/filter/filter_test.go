package filter

import (
	"slices"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt},
	{Name: "status", Kind: sdk.KindEnum},
	{Name: "amount", Kind: sdk.KindDecimal},
	{Name: "qty", Kind: sdk.KindUint},
	{Name: "ratio", Kind: sdk.KindDouble},
	{Name: "note", Kind: sdk.KindString, Nullable: true},
}}

func row(id int64, status, amount string, qty uint64, ratio float64, note any) sdktest.Change {
	return sdktest.Insert(orders, id, status, amount, qty, ratio, note)
}

func TestWhere(t *testing.T) {
	r := row(1, "live", "10.50", 3, 0.25, nil)
	tests := []struct {
		where string
		keep  bool
	}{
		{"status = 'live'", true},
		{"status != 'live'", false},
		{"status <> 'test'", true},
		{"amount > 10.5", false},
		{"amount >= 10.50", true},
		{"amount > 9.999", true},
		{"amount < -1", false},
		{"qty IN (1, 2, 3)", true},
		{"qty NOT IN (1, 2)", true},
		{"ratio < 0.3 AND ratio > 0.2", true},
		{"note IS NULL", true},
		{"note IS NOT NULL", false},
		{"note = 'x'", false},     // unknown
		{"NOT note = 'x'", false}, // NOT unknown is unknown
		{"note = 'x' OR id = 1", true},
		{"missing = 1", false},
		{"(status = 'test' OR qty > 2) AND NOT (amount < 1)", true},
		{"`status` = 'live'", true},
		{"status IN ('a', NULL)", false},
		{"status NOT IN ('a', NULL)", false},
	}
	for _, tc := range tests {
		if err := sdktest.Init(`{"where":` + quote(tc.where) + `}`); err != nil {
			t.Fatalf("%s: %v", tc.where, err)
		}
		res, err := sdktest.Handle(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0].Verdict == "keep"; got != tc.keep {
			t.Errorf("where %s: keep = %v, want %v", tc.where, got, tc.keep)
		}
	}
}

func quote(s string) string {
	b := []byte{'"'}
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return string(append(b, '"'))
}

func TestTablesAndOps(t *testing.T) {
	other := &sdktest.Table{DB: "shop", Name: "audit_log", Columns: []sdk.Column{{Name: "id", Kind: sdk.KindInt}}}
	if err := sdktest.Init(`{"include":["shop.*"],"exclude":["shop.audit_*"],"ops":["c","ddl"]}`); err != nil {
		t.Fatal(err)
	}
	res, err := sdktest.Handle(
		row(1, "live", "1", 1, 1, nil),
		sdktest.Insert(other, int64(1)),
		sdktest.Change{Op: sdk.OpDelete, Table: orders, Before: []any{int64(1), "live", "1", uint64(1), 1.0, nil}},
		// DDL changes name their table, without columns.
		sdktest.Change{Op: sdk.OpDDL, Table: &sdktest.Table{DB: "shop", Name: "orders"}},
		sdktest.Change{Op: sdk.OpDDL, Table: &sdktest.Table{DB: "shop", Name: "audit_log"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.Verdict)
	}
	if want := []string{"keep", "drop", "drop", "keep", "drop"}; !slices.Equal(got, want) {
		t.Errorf("verdicts %v, want %v", got, want)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{
		`{"where":"status = "}`,
		`{"where":"status === 'x'"}`,
		`{"where":"(status = 'x'"}`,
		`{"where":"status IS 'x'"}`,
		`{"ops":["x"]}`,
		`{"include":["nodot"]}`,
		`{"include":["a[.b"]}`,
		`{"wher":"x"}`,
	} {
		if err := sdktest.Init(cfg); err == nil {
			t.Errorf("config %s accepted", cfg)
		}
	}
}
