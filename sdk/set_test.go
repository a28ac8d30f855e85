package sdk_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// everyKind has one column of each kind, named after it.
var everyKind = &sdktest.Table{DB: "shop", Name: "all", Columns: []sdk.Column{
	{Name: "int", Kind: sdk.KindInt},
	{Name: "uint", Kind: sdk.KindUint, Unsigned: true},
	{Name: "float", Kind: sdk.KindFloat},
	{Name: "double", Kind: sdk.KindDouble},
	{Name: "decimal", Kind: sdk.KindDecimal, SQLType: 246, Meta: 10<<8 | 2},
	{Name: "string", Kind: sdk.KindString, Charset: "utf8mb4", SQLType: 15, Meta: 40},
	{Name: "bytes", Kind: sdk.KindBytes, Charset: "binary", SQLType: 252, Meta: 2},
	{Name: "date", Kind: sdk.KindDate},
	{Name: "time", Kind: sdk.KindTime, SQLType: 19, Meta: 3},
	{Name: "datetime", Kind: sdk.KindDateTime, SQLType: 18, Meta: 6},
	{Name: "timestamp", Kind: sdk.KindTimestamp, SQLType: 17, Meta: 0},
	{Name: "year", Kind: sdk.KindYear},
	{Name: "bit", Kind: sdk.KindBit},
	{Name: "enum", Kind: sdk.KindEnum, Values: []string{"new", "paid"}},
	{Name: "set", Kind: sdk.KindSet, Values: []string{"a", "b", "c"}},
	{Name: "json", Kind: sdk.KindJSON},
	{Name: "geometry", Kind: sdk.KindGeometry},
	{Name: "uuid", Kind: sdk.KindUUID},
	{Name: "inet", Kind: sdk.KindInet},
}}

// everyValue is a row of everyKind, as the host would send it.
var everyValue = []any{
	int64(-7), uint64(1) << 63, float64(float32(1.1)), 2.5e-300, "-12.50", "naïve", []byte{0, 1, 0xff},
	"2024-02-29", "-838:59:59.000", "2024-02-29 23:59:59.123456", "2024-02-29T23:59:59Z",
	int64(2024), uint64(5), "paid", "a,c", `{"k":[1,"x"]}`, []byte{0, 0, 0, 0, 1, 1, 0, 0, 0},
	"123e4567-e89b-12d3-a456-426614174000", "2001:db8::1",
}

// TestSetKinds holds Set to its conversion table: what fits is passed on
// converted as documented; what does not returns ErrKind naming the
// column, its kind and the value's kind, and leaves the column as it was.
func TestSetKinds(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	row := sdktest.Insert(everyKind, everyValue...)
	tests := []struct {
		col  string
		v    sdk.Value
		want any    // the value passed on, when it fits
		err  string // the error's text after "sdk: set shop.all.", when not
	}{
		{col: "int", v: sdk.Int(-42), want: int64(-42)},
		{col: "int", v: sdk.Uint(math.MaxInt64), want: int64(math.MaxInt64)},
		{col: "int", v: sdk.Uint(math.MaxInt64 + 1), err: `int (int) to uint "9223372036854775808": beyond the int64 range`},
		{col: "int", v: sdk.String("lots"), err: `int (int) to string "lots": the column takes int, year, uint and bit values`},
		{col: "int", v: sdk.String("42"), err: `int (int) to string "42": the column takes int, year, uint and bit values`},
		{col: "int", v: sdk.Float(1), err: `int (int) to double "1": the column takes int, year, uint and bit values`},
		{col: "int", v: sdk.Null(), want: nil},
		{col: "uint", v: sdk.Int(3), want: uint64(3)},
		{col: "uint", v: sdk.Int(-3), err: `uint (uint) to int "-3": negative`},
		{col: "float", v: sdk.Float(0.1), want: float64(float32(0.1))},
		{col: "float", v: sdk.Int(16777217), want: float64(16777216)},
		{col: "float", v: sdk.Float(1e39), err: `float (float) to double "1e+39": beyond the float32 range`},
		{col: "double", v: sdk.Float(math.NaN()), err: `double (double) to double "null": not a finite number`},
		{col: "double", v: sdk.Uint(1 << 53), want: float64(1 << 53)},
		{col: "double", v: sdk.String("1.5"), err: `double (double) to string "1.5": the column takes float, double and integer values`},
		{col: "decimal", v: sdk.Int(-42), want: "-42"},
		{col: "decimal", v: sdk.String("-0.05"), want: "-0.05"},
		{col: "decimal", v: sdk.String("lots"), err: `decimal (decimal) to string "lots": not a decimal number [-]digits[.digits]`},
		{col: "decimal", v: sdk.String("1e5"), err: `decimal (decimal) to string "1e5": not a decimal number [-]digits[.digits]`},
		{col: "decimal", v: sdk.String("1."), err: `decimal (decimal) to string "1.": not a decimal number [-]digits[.digits]`},
		{col: "decimal", v: sdk.Float(1.5), err: `decimal (decimal) to double "1.5": the column takes integer and decimal values, and decimal text (sdk/decimal makes it from other numbers)`},
		{col: "string", v: sdk.Int(-42), want: "-42"},
		{col: "string", v: sdk.Float(0.1), want: "0.1"},
		{col: "string", v: sdk.Bytes([]byte("ok")), want: "ok"},
		{col: "string", v: sdk.String("\xff"), err: `string (string) to string "\xff": not valid UTF-8`},
		{col: "bytes", v: sdk.String("text"), want: []byte("text")},
		{col: "bytes", v: sdk.Uint(7), want: []byte("7")},
		{col: "date", v: sdk.String("0000-00-00"), want: "0000-00-00"},
		{col: "date", v: sdk.String("2024-13-01"), err: `date (date) to string "2024-13-01": not a date YYYY-MM-DD`},
		{col: "date", v: sdk.Int(20240101), err: `date (date) to int "20240101": the column takes date values and strings in its format`},
		{col: "time", v: sdk.String("12:00:00.5"), want: "12:00:00.5"},
		{col: "time", v: sdk.String("839:00:00"), err: `time (time) to string "839:00:00": not a time [-]HH:MM:SS[.ffffff]`},
		{col: "datetime", v: sdk.String("2024-01-01 00:00:00"), want: "2024-01-01 00:00:00"},
		{col: "datetime", v: sdk.String("2024-01-01T00:00:00"), err: `datetime (datetime) to string "2024-01-01T00:00:00": not a datetime YYYY-MM-DD HH:MM:SS[.ffffff]`},
		{col: "timestamp", v: sdk.String("2024-01-01T00:00:00.25Z"), want: "2024-01-01T00:00:00.25Z"},
		{col: "timestamp", v: sdk.String("0000-00-00 00:00:00"), want: "0000-00-00 00:00:00"},
		{col: "timestamp", v: sdk.Int(42), err: `timestamp (timestamp) to int "42": the column takes timestamp values and strings in its format`},
		{col: "timestamp", v: sdk.String("2024-01-01 00:00:00"), err: `timestamp (timestamp) to string "2024-01-01 00:00:00": not a timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z (UTC) or 0000-00-00 00:00:00[.ffffff]`},
		{col: "year", v: sdk.Int(1999), want: int64(1999)},
		{col: "bit", v: sdk.Uint(3), want: uint64(3)},
		{col: "enum", v: sdk.String("new"), want: "new"},
		{col: "enum", v: sdk.String("lost"), err: `enum (enum) to string "lost": not a member of the ENUM`},
		{col: "set", v: sdk.String(""), want: ""},
		{col: "set", v: sdk.String("b,c"), want: "b,c"},
		{col: "set", v: sdk.String("b,d"), err: `set (set) to string "b,d": not members of the SET joined by ','`},
		{col: "json", v: sdk.String(`"x"`), want: `"x"`},
		{col: "json", v: sdk.String(`{x}`), err: `json (json) to string "{x}": not valid JSON`},
		{col: "geometry", v: sdk.Bytes([]byte{1, 2}), want: []byte{1, 2}},
		{col: "geometry", v: sdk.String("POINT(1 2)"), err: `geometry (geometry) to string "POINT(1 2)": the column takes bytes and geometry values`},
		{col: "uuid", v: sdk.String("00000000-0000-0000-0000-00000000000a"), want: "00000000-0000-0000-0000-00000000000a"},
		{col: "uuid", v: sdk.String("00000000-0000-0000-0000-00000000000A"), err: `uuid (uuid) to string "00000000-0000-0000-0000-00000000000A": not a UUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in lower-case hex`},
		{col: "inet", v: sdk.String("10.0.0.1"), want: "10.0.0.1"},
		{col: "inet", v: sdk.String("10.0.0.256"), err: `inet (inet) to string "10.0.0.256": not an IPv4 or IPv6 address`},
	}
	for _, tc := range tests {
		t.Run(tc.col+"/"+tc.v.String(), func(t *testing.T) {
			var setErr error
			sdk.Handler(func(r *sdk.Row) sdk.Verdict {
				setErr = r.Set(tc.col, tc.v)
				return sdk.Keep()
			})
			if err := sdktest.Init("{}"); err != nil {
				t.Fatal(err)
			}
			res, err := sdktest.Handle(row)
			if err != nil {
				t.Fatal(err)
			}
			if tc.err != "" {
				var se *sdk.SetError
				if !errors.As(setErr, &se) || !errors.Is(setErr, sdk.ErrKind) {
					t.Fatalf("Set = %v, want an ErrKind", setErr)
				}
				if got := strings.TrimPrefix(setErr.Error(), "sdk: set shop.all."); got != tc.err {
					t.Fatalf("Set error\n got %s\nwant %s", got, tc.err)
				}
				if se.Column != tc.col || se.Kind.String() != tc.col || se.Value != tc.v.Kind() {
					t.Fatalf("SetError %+v", se)
				}
				// The handler ignored the error and kept the row: the
				// change fails rather than pass on what it did not mean.
				if res[0].Verdict != "error" || res[0].Code != sdk.CodeValue || res[0].Message != setErr.Error() {
					t.Fatalf("verdict %+v", res[0])
				}
				return
			}
			if setErr != nil {
				t.Fatalf("Set: %v", setErr)
			}
			// Only a value of the after image changed: a patch.
			if res[0].Verdict != "patch" {
				t.Fatalf("verdict %+v", res[0])
			}
			after := res[0].Changes[0].After
			if got := after[tc.col]; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("passed on %#v, want %#v", got, tc.want)
			}
			// Every other column is passed on as it came.
			for i, c := range everyKind.Columns {
				if c.Name != tc.col && !reflect.DeepEqual(after[c.Name], everyValue[i]) {
					t.Errorf("column %s passed on as %#v, came as %#v", c.Name, after[c.Name], everyValue[i])
				}
			}
		})
	}
}

// TestSetFailedThenFixed: a handler that handles a Set's error by setting
// a value that fits passes the row on; one that drops or fails the change
// itself has its verdict kept; one that emits a row past a failed Set
// fails the change.
func TestSetFailedThenFixed(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	row := sdktest.Insert(everyKind, everyValue...)
	tests := []struct {
		name    string
		handler func(r *sdk.Row) sdk.Verdict
		verdict string
		code    uint32
	}{
		{"fixed", func(r *sdk.Row) sdk.Verdict {
			if err := r.Set("int", sdk.String("lots")); err != nil {
				r.Set("int", sdk.Null())
			}
			return sdk.Keep()
		}, "patch", 0},
		{"dropped", func(r *sdk.Row) sdk.Verdict {
			r.Set("int", sdk.String("lots"))
			return sdk.Drop()
		}, "drop", 0},
		{"failed", func(r *sdk.Row) sdk.Verdict {
			r.Set("int", sdk.String("lots"))
			return sdk.Fail(sdk.CodeData, "own")
		}, "error", sdk.CodeData},
		{"emitted", func(r *sdk.Row) sdk.Verdict {
			r.Set("date", sdk.String("never"))
			r.Emit()
			r.Set("date", sdk.String("2024-01-01"))
			r.Emit()
			return sdk.Keep()
		}, "error", sdk.CodeValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdk.Handler(tc.handler)
			sdktest.Init("{}")
			res, err := sdktest.Handle(row, row)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Verdict != tc.verdict || r.Code != tc.code {
					t.Errorf("change %d: %+v, want %s code %d", i, r, tc.verdict, tc.code)
				}
			}
			if tc.verdict == "patch" && res[0].Changes[0].After["int"] != nil {
				t.Errorf("passed on int %v, want NULL", res[0].Changes[0].After["int"])
			}
		})
	}
}

// TestSetPatch: a handler that only sets values of the input row's after
// image (and perhaps its routing key) passes it on as a patch, the values
// set and nothing else; changing the op or the before image, or passing
// the row on as another table, is a replace.
func TestSetPatch(t *testing.T) {
	defer sdk.Register(sdk.Plugin{})
	users := &sdktest.Table{DB: "shop", Name: "users", Columns: []sdk.Column{
		{Name: "id", Kind: sdk.KindInt}, {Name: "email", Kind: sdk.KindString}, {Name: "note", Kind: sdk.KindString, Nullable: true},
	}}
	row := []any{int64(1), "ann@example.com", "hi"}
	masked := map[string]any{"id": int64(1), "email": "x", "note": nil}
	tests := []struct {
		name    string
		plugin  sdk.Plugin
		in      sdktest.Change
		verdict string
		route   string
		table   string
		after   map[string]any
	}{
		{name: "insert", in: sdktest.Insert(users, row...), verdict: "patch", after: masked,
			plugin: sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
				r.Set("email", sdk.String("x"))
				r.SetAt(2, sdk.Null())
				return sdk.Keep()
			}}},
		{name: "update, with a route", in: sdktest.Update(users, row, row), verdict: "patch", route: "k", after: masked,
			plugin: sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
				r.SetAt(2, sdk.Null())
				r.Set("email", sdk.String("x"))
				r.SetRoute("k")
				return sdk.Keep()
			}}},
		{name: "op changed", in: sdktest.Insert(users, row...), verdict: "replace", after: masked,
			plugin: sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
				r.Set("email", sdk.String("x"))
				r.Set("note", sdk.Null())
				r.SetOp(sdk.OpUpdate)
				return sdk.Keep()
			}}},
		{name: "before image", in: sdktest.Update(users, row, row), verdict: "replace", after: masked,
			plugin: sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
				r.Set("email", sdk.String("x"))
				r.Set("note", sdk.Null())
				r.SetBefore("email", sdk.String("x"))
				return sdk.Keep()
			}}},
		{name: "delete", in: sdktest.Delete(users, row...), verdict: "replace",
			plugin: sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
				r.Set("email", sdk.String("x"))
				return sdk.Keep()
			}}},
		{name: "output table", in: sdktest.Insert(users, row...), verdict: "replace", table: "people",
			after: map[string]any{"id": int64(1), "email": "x", "note": "hi"},
			plugin: sdk.Plugin{
				OutputSchema: func(_ *sdk.Table, out *sdk.Schema) { out.RenameTable("shop", "people") },
				Handler: func(r *sdk.Row) sdk.Verdict {
					r.Set("email", sdk.String("x"))
					return sdk.Keep()
				}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdk.Register(tc.plugin)
			if err := sdktest.Init("{}"); err != nil {
				t.Fatal(err)
			}
			res, err := sdktest.Handle(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.Verdict != tc.verdict || len(r.Changes) != 1 {
				t.Fatalf("%+v, want %s", r, tc.verdict)
			}
			out := r.Changes[0]
			table := tc.table
			if table == "" {
				table = "users"
			}
			if out.Route != tc.route || out.Table != table {
				t.Errorf("route %q table %s, want %q %s", out.Route, out.Table, tc.route, table)
			}
			if tc.after != nil && !reflect.DeepEqual(out.After, tc.after) {
				t.Errorf("after %v, want %v", out.After, tc.after)
			}
		})
	}
}
