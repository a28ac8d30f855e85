package instrument

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Hand-assembled modules for what no toolchain here emits.

func sec(id byte, payload ...byte) []byte {
	return append(append([]byte{id}, appendU32(nil, uint32(len(payload)))...), payload...)
}

func mod(sections ...[]byte) []byte {
	return append(append([]byte(nil), magic...), bytes.Join(sections, nil)...)
}

// oneFunc is a module with one function of type [] -> [] whose code (no
// locals) is code followed by end, and the offset of code in it.
func oneFunc(code ...byte) ([]byte, int) {
	body := append([]byte{0x00}, code...)
	body = append(body, 0x0b)
	codeSec := append([]byte{0x01}, appendU32(nil, uint32(len(body)))...)
	codeSec = append(codeSec, body...)
	m := mod(
		sec(secType, 0x01, 0x60, 0x00, 0x00),
		sec(secFunction, 0x01, 0x00),
		sec(secCode, codeSec...),
	)
	return m, len(m) - len(code) - 1
}

func TestRefuses(t *testing.T) {
	type tc struct {
		name   string
		wasm   []byte
		err    error
		offset int    // -1: don't check
		detail string // in the message
	}
	var cases []tc
	opcode := func(name string, detail string, code ...byte) {
		m, off := oneFunc(code...)
		cases = append(cases, tc{name, m, ErrUnsupported, off, detail})
	}
	opcode("try_table", "try_table", 0x1f, 0x40, 0x00, 0x0b)
	opcode("legacy try", "try, legacy", 0x06, 0x40, 0x0b)
	opcode("throw", "throw", 0x08, 0x00)
	opcode("call_ref", "call_ref", 0x14, 0x00)
	opcode("br_on_null", "br_on_null", 0xd5, 0x00)
	opcode("GC prefix", "GC", 0xfb, 0x00)
	opcode("unassigned opcode", "unknown opcode 0xc5", 0xc5)
	opcode("relaxed SIMD", "relaxed SIMD", 0xfd, 0x80, 0x02)
	opcode("SIMD gap", "0xfd 154", 0xfd, 0x9a, 0x01)
	opcode("unknown 0xfc", "0xfc 18", 0xfc, 0x12)
	opcode("unknown atomic", "0xfe 0x4f", 0xfe, 0x4f)
	{
		m, off := oneFunc(0x02, 0x63, 0x70, 0x0b)
		cases = append(cases, tc{"typed block type", m, ErrUnsupported, off + 1, "typed reference block type"})
	}

	cases = append(cases,
		tc{"typed reference in a type", mod(sec(secType, 0x01, 0x60, 0x01, 0x64, 0x70, 0x00)), ErrUnsupported, 8 + 2 + 3, "typed reference"},
		tc{"GC type form", mod(sec(secType, 0x01, 0x5f, 0x00, 0x00)), ErrUnsupported, 8 + 2 + 1, "type form 0x5f"},
		tc{"memory64", mod(sec(secMemory, 0x01, 0x04, 0x01)), ErrUnsupported, -1, "memory64"},
		tc{"table64 import", mod(sec(secImport, 0x01, 0x01, 'm', 0x01, 't', 0x01, 0x70, 0x05, 0x01, 0x02)), ErrUnsupported, -1, "table64"},
		tc{"table initialiser", mod(sec(secTable, 0x01, 0x40, 0x00, 0x70, 0x00, 0x01, 0xd2, 0x00, 0x0b)), ErrUnsupported, 8 + 2 + 1, "initialiser"},
		tc{"component", append([]byte{0x00, 'a', 's', 'm', 0x0d, 0x00, 0x01, 0x00}, 0x00), ErrUnsupported, 4, "component"},
		tc{"section 14", mod(sec(14)), ErrUnsupported, 8, "section id 14"},
		tc{"unknown constant instruction", mod(sec(secGlobal, 0x01, 0x7f, 0x00, 0x45, 0x0b)), ErrUnsupported, 8 + 2 + 3, "constant expression"},

		tc{"empty", nil, ErrMalformed, 0, "magic"},
		tc{"not wasm", []byte("\x7fELF\x02\x01\x01\x00"), ErrMalformed, 0, "magic"},
		tc{"truncated section", mod(sec(secType, 0x01, 0x60, 0x00, 0x00))[:12], ErrMalformed, -1, "runs past the end"},
		tc{"long LEB", mod([]byte{secType, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), ErrMalformed, 9, "u32 LEB128 overflows"},
		tc{"LEB overflow", mod([]byte{secType, 0xff, 0xff, 0xff, 0xff, 0x7f}), ErrMalformed, 9, "overflows"},
		tc{"out of order", mod(sec(secFunction, 0x00), sec(secType, 0x00)), ErrMalformed, 8 + 3, "out of order"},
		tc{"repeated", mod(sec(secType, 0x00), sec(secType, 0x00)), ErrMalformed, 8 + 3, "out of order or repeated"},
		tc{"vector too long", mod(sec(secType, 0xff, 0xff, 0x03)), ErrMalformed, 8 + 2, "does not fit"},
		tc{"bodies and functions disagree", mod(sec(secType, 0x01, 0x60, 0x00, 0x00), sec(secFunction, 0x01, 0x00), sec(secCode, 0x00)), ErrMalformed, -1, "0 bodies for 1 functions"},
		tc{"no code section", mod(sec(secType, 0x01, 0x60, 0x00, 0x00), sec(secFunction, 0x01, 0x00)), ErrMalformed, -1, "disagree"},
		tc{"export kind", mod(sec(secExport, 0x01, 0x01, 'x', 0x09, 0x00)), ErrMalformed, -1, "export kind"},
		tc{"start out of range", mod(sec(secStart, 0x00)), ErrMalformed, -1, "function index 0 out of range"},
		tc{"reserved export", mod(sec(secGlobal, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b),
			sec(secExport, append(append([]byte{0x01}, appendName(nil, []byte(ExportInterrupt))...), 0x03, 0x00)...)), ErrReserved, -1, "instrumented twice"},
	)
	{
		m, _ := oneFunc(0x10, 0x05) // call 5
		cases = append(cases, tc{"call out of range", m, ErrMalformed, -1, "function index 5 out of range"})
		m, _ = oneFunc(0x02, 0x40) // block without its end
		cases = append(cases, tc{"unbalanced", m, ErrMalformed, -1, "unexpected end"})
		m, _ = oneFunc(0x0b, 0x01) // end, then nop, end
		cases = append(cases, tc{"code after end", m, ErrMalformed, -1, "after the function's final end"})
		m, _ = oneFunc(0x41, 0x80, 0x80, 0x80, 0x80, 0x70) // i32.const with bad padding
		cases = append(cases, tc{"s32 overflow", m, ErrMalformed, -1, "s32 LEB128 overflows"})
		m, _ = oneFunc(0x02, 0x05, 0x0b) // block type index 5 of 1
		cases = append(cases, tc{"block type index", m, ErrMalformed, -1, "block type index 5"})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Instrument(c.wasm, Options{})
			if err == nil {
				t.Fatalf("accepted, %d bytes", len(out))
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if c.offset >= 0 && e.Offset != c.offset {
				t.Errorf("offset %#x, want %#x: %v", e.Offset, c.offset, err)
			}
			if !strings.Contains(err.Error(), c.detail) {
				t.Errorf("%q does not say %q", err, c.detail)
			}
			t.Log(err)
		})
	}
}

func TestOptions(t *testing.T) {
	m, _ := oneFunc(0x01)
	for _, n := range []uint32{0, 1, MaxSafepointInterval} {
		if _, err := Instrument(m, Options{SafepointInterval: n}); err != nil {
			t.Errorf("SafepointInterval %d: %v", n, err)
		}
	}
	if _, err := Instrument(m, Options{SafepointInterval: MaxSafepointInterval + 1}); !errors.Is(err, ErrOptions) {
		t.Errorf("SafepointInterval %d: %v, want ErrOptions", MaxSafepointInterval+1, err)
	}
}

// TestEmptyModule: a module with no sections gets every section it needs.
func TestEmptyModule(t *testing.T) {
	out, err := Instrument(mod(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, false)
	m := h.instance(t, out, nil)
	if interruptFlag(t, m).Get() != 0 {
		t.Fatal("flag set")
	}
}

// TestLEB: the decoder's signed and unsigned LEB128 limits.
func TestLEB(t *testing.T) {
	cases := []struct {
		in   []byte
		bits int // 0: u32
		want int64
		ok   bool
	}{
		{[]byte{0x00}, 0, 0, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0, 1<<32 - 1, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, 0, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x00}, 0, 0, true},
		{[]byte{0x7f}, 32, -1, true},
		{[]byte{0x40}, 33, -64, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 32, 1<<31 - 1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, 32, -1 << 31, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, 0, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 32, 0, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 33, 1<<32 - 1, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, 64, 1<<63 - 1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, 64, -1 << 63, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 64, 0, false},
	}
	for _, c := range cases {
		r := newReader(c.in, 0, "")
		var got int64
		var err error
		if c.bits == 0 {
			var u uint32
			u, err = r.u32()
			got = int64(u)
		} else {
			got, err = r.signed(c.bits)
		}
		if (err == nil) != c.ok || c.ok && (got != c.want || !r.done()) {
			t.Errorf("% x as %d bits: %d, %v; want %d, ok %v", c.in, c.bits, got, err, c.want, c.ok)
		}
	}
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1<<31 - 1, -1 << 31} {
		r := newReader(appendS32(nil, v), 0, "")
		if got, err := r.signed(32); err != nil || int32(got) != v || !r.done() {
			t.Errorf("appendS32(%d) decodes to %d, %v", v, got, err)
		}
	}
}

// TestCheckPlacement: where checks go. Function 0 calls itself, which
// becomes function 1 once the safepoint import takes index 0.
func TestCheckPlacement(t *testing.T) {
	chk := checkSequence(0, 1, 0, DefaultSafepointInterval)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name     string
		in, want []byte
	}{
		{"leaf", []byte{0x01}, []byte{0x01}},
		{"leaf loop", []byte{0x03, 0x40, 0x0b}, cat([]byte{0x03, 0x40}, chk, []byte{0x0b})},
		{"call", []byte{0x10, 0x00}, cat(chk, []byte{0x10, 0x01})},
		{"tail call", []byte{0x12, 0x00}, cat(chk, []byte{0x12, 0x01})},
		{"call_indirect", []byte{0x41, 0x00, 0x11, 0x00, 0x00}, cat(chk, []byte{0x41, 0x00, 0x11, 0x00, 0x00})},
		{"call in a loop", []byte{0x03, 0x40, 0x10, 0x00, 0x0b}, cat([]byte{0x03, 0x40}, chk, []byte{0x10, 0x01, 0x0b})},
		{"loop first", []byte{0x02, 0x40, 0x41, 0x00, 0x1a, 0x03, 0x40, 0x0b, 0x0b, 0x10, 0x00},
			cat([]byte{0x02, 0x40, 0x41, 0x00, 0x1a, 0x03, 0x40}, chk, []byte{0x0b, 0x0b, 0x10, 0x01})},
		{"call after a loop", []byte{0x41, 0x00, 0x04, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x10, 0x00},
			cat(chk, []byte{0x41, 0x00, 0x04, 0x40, 0x03, 0x40}, chk, []byte{0x0b, 0x0b, 0x10, 0x01})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, _ := oneFunc(c.in...)
			out, err := Instrument(in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := parse(out)
			if err != nil {
				t.Fatal(err)
			}
			r := m.reader(m.byID[secCode])
			r.u32()                        // one body
			r.u32()                        // its size
			r.byte()                       // no locals
			got := r.b[r.pos : len(r.b)-1] // without the final end
			if !bytes.Equal(got, c.want) {
				t.Errorf("code\n% x\nwant\n% x", got, c.want)
			}
			if err := fuzzCompile(out); err != nil && c.name != "call_indirect" { // that module has no table
				t.Error(err)
			}
		})
	}
}
