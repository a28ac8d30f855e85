package sql

import (
	"testing"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
)

// AppendValue gives the argument Value gives, its text in dst's new
// bytes and not in the value's, and numbers and NULL leave dst alone.
func TestAppendValue(t *testing.T) {
	src := []byte("café\x00bytes")
	values := []sdk.Value{
		sdk.Null(), sdk.Int(-7), sdk.Uint(1 << 63), sdk.Float(1.5),
		sdk.String("café"), sdk.String(""), sdk.Bytes(src),
	}
	dst := []byte("kept")
	for i, v := range values {
		before := len(dst)
		var a Arg
		dst, a = AppendValue(dst, v)
		if want := Value(v); a != want {
			t.Errorf("value %d: got %+v, want %+v", i, a.a, want.a)
		}
		if grew := len(dst) - before; grew != len(v.Text()) {
			t.Errorf("value %d: appended %d bytes, want %d", i, grew, len(v.Text()))
		}
		if a.a.Text != "" && unsafe.StringData(a.a.Text) != &dst[before] {
			t.Errorf("value %d: the argument does not view dst", i)
		}
	}
	if string(dst[:4]) != "kept" {
		t.Errorf("dst's bytes before were changed: %q", dst)
	}
	// The argument is a copy of the value: changing the value's bytes
	// leaves it alone.
	var a Arg
	_, a = AppendValue(nil, sdk.Bytes(src))
	src[0] = 'C'
	if a.a.Text != "café\x00bytes" {
		t.Errorf("the argument follows the value's bytes: %q", a.a.Text)
	}
}
