package envelope_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// TestValueString holds sdk.Value.String to the envelope: for a value of
// every kind (and NULL), String is what the envelope writes for it, a
// JSON string's content unquoted, so that senders writing other formats
// agree with the JSON senders.
func TestValueString(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	cols := []sdk.Column{
		{Name: "int", Kind: sdk.KindInt},
		{Name: "uint", Kind: sdk.KindUint},
		{Name: "float", Kind: sdk.KindFloat},
		{Name: "double", Kind: sdk.KindDouble},
		{Name: "decimal", Kind: sdk.KindDecimal},
		{Name: "string", Kind: sdk.KindString},
		{Name: "bytes", Kind: sdk.KindBytes},
		{Name: "date", Kind: sdk.KindDate},
		{Name: "time", Kind: sdk.KindTime},
		{Name: "datetime", Kind: sdk.KindDateTime},
		{Name: "timestamp", Kind: sdk.KindTimestamp},
		{Name: "year", Kind: sdk.KindYear},
		{Name: "bit", Kind: sdk.KindBit},
		{Name: "enum", Kind: sdk.KindEnum},
		{Name: "set", Kind: sdk.KindSet},
		{Name: "json", Kind: sdk.KindJSON},
		{Name: "geometry", Kind: sdk.KindGeometry},
		{Name: "uuid", Kind: sdk.KindUUID},
		{Name: "inet", Kind: sdk.KindInet},
		{Name: "null", Kind: sdk.KindString},
	}
	tbl := &sdktest.Table{DB: "d", Name: "t", Columns: cols}
	rows := [][]any{
		{int64(math.MinInt64), uint64(math.MaxUint64), float64(float32(0.1)), 1e21, "-0.50", "tab\there \"q\" é \u2028", []byte{0, 0xfb, 0xff},
			"0000-00-00", "-838:59:59.5", "2024-02-29 23:59:59.000001", "2024-02-29T23:59:59.5Z", int64(2155), uint64(1) << 63,
			"paid", "a,b", `{"k": [1, "x"]}`, []byte{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f},
			"123e4567-e89b-12d3-a456-426614174000", "::ffff:10.0.0.1", nil},
		{int64(0), uint64(0), float64(float32(3.4e38)), 5e-324, "0", "", []byte{}, "2024-01-01", "00:00:00", "0000-00-00 00:00:00",
			"0000-00-00 00:00:00", int64(0), uint64(0), "", "", "", []byte{1}, "00000000-0000-0000-0000-000000000000", "10.0.0.1", nil},
	}
	var checked int
	sdk.Sender(func(b *sdk.Batch) error {
		for i := range b.Len() {
			after := b.Row(i).After()
			for j, c := range cols {
				v := after.At(j)
				env := envelope.AppendValue(nil, v)
				want := string(env)
				if len(env) > 0 && env[0] == '"' {
					if err := json.Unmarshal(env, &want); err != nil {
						t.Fatalf("%s: envelope %s: %v", c.Name, env, err)
					}
				} else if want == "null" {
					want = "" // NULL, and the empty JSON
				}
				if got := v.String(); got != want {
					t.Errorf("row %d %s: String() = %q, the envelope writes %s", i, c.Name, got, env)
				}
				if got := string(v.AppendText([]byte("x"))); got != "x"+want {
					t.Errorf("row %d %s: AppendText = %q", i, c.Name, got)
				}
				checked++
			}
		}
		return nil
	})
	if err := sdktest.InitSender("{}"); err != nil {
		t.Fatal(err)
	}
	var changes []sdktest.Change
	for _, r := range rows {
		changes = append(changes, sdktest.Insert(tbl, r...))
	}
	if err := sdktest.Send(changes...); err != nil {
		t.Fatal(err)
	}
	if checked != len(rows)*len(cols) {
		t.Fatalf("checked %d values", checked)
	}
}
