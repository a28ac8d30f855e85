package wire

import (
	"reflect"
	"strings"
	"testing"
)

// TestPatchVerdict: a patch verdict written by the Encoder reads back
// column by column; malformed ones fail with the offset and what is
// wrong.
func TestPatchVerdict(t *testing.T) {
	kinds := []Kind{KindInt, KindString, KindDouble, KindBytes}
	write := func(route string, set func(e *Encoder)) (body []byte, at int) {
		var e Encoder
		e.StartReply(StatusOK, 0, "")
		e.StartPatch(3, route, route != "")
		set(&e)
		e.EndVerdict()
		r, err := ParseReply(e.Finish())
		if err != nil {
			t.Fatal(err)
		}
		_, body, at, _ = r.Records.Next()
		return body, at
	}
	type col struct {
		col   int
		state uint8
		num   uint64
		val   string
	}
	read := func(body []byte, at int) (VerdictRec, []col, error) {
		v, err := ParseVerdict(body, at)
		if err != nil {
			return v, nil, err
		}
		var cols []col
		for {
			c, state, num, val, ok := v.Patch.Next(kinds)
			if !ok {
				break
			}
			cols = append(cols, col{c, state, num, string(val)})
		}
		return v, cols, v.Patch.Err()
	}

	body, at := write("k", func(e *Encoder) { e.Int(0, 7); e.Null(1); e.Bytes(3, []byte{1, 2}) })
	v, cols, err := read(body, at)
	if err != nil {
		t.Fatal(err)
	}
	want := []col{{0, PatchValue, 7, ""}, {1, PatchNull, 0, ""}, {3, PatchValue, 0, "\x01\x02"}}
	if v.Index != 3 || v.Verdict != VerdictPatch || !v.HasRoute || string(v.Text) != "k" || !reflect.DeepEqual(cols, want) {
		t.Fatalf("read %+v %+v", v, cols)
	}
	if _, cols, err := read(write("", func(*Encoder) {})); err != nil || cols != nil {
		t.Fatalf("an empty patch: %v %v", cols, err)
	}

	for _, tc := range []struct {
		name string
		body func() ([]byte, int)
		err  string
	}{
		{"repeated column", func() ([]byte, int) { return write("", func(e *Encoder) { e.Null(1); e.Null(1) }) },
			"at offset 36: patch column 1 out of order or range (after column 1, table of 4)"},
		{"beyond the table", func() ([]byte, int) { return write("", func(e *Encoder) { e.Null(4) }) },
			"at offset 32: patch column 4 out of order or range (after column -1, table of 4)"},
		{"unknown state", func() ([]byte, int) {
			b, at := write("", func(e *Encoder) { e.Null(1) })
			b[10] = 9
			return b, at
		}, "at offset 34: patch column 1: unknown state 9"},
		{"unknown flag", func() ([]byte, int) {
			b, at := write("", func(e *Encoder) { e.Null(1) })
			b[5] = 1
			return b, at
		}, "at offset 29: unknown patch flags 1"},
		{"trailing bytes", func() ([]byte, int) {
			b, at := write("", func(e *Encoder) { e.Null(1) })
			return append(b, 0), at
		}, "1 trailing bytes after the patch"},
		{"truncated value", func() ([]byte, int) {
			b, at := write("", func(e *Encoder) { e.String(1, "abc") })
			return b[:len(b)-1], at
		}, "truncated patch value"},
		{"trailing bytes, no columns", func() ([]byte, int) {
			b, at := write("", func(*Encoder) {})
			return append(b, 0), at
		}, "1 trailing bytes in verdict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := read(tc.body())
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
