package instrument

import "fmt"

// checkSequence returns the instructions inserted at every loop head and
// at the entry of functions that call before any loop:
//
//	global.get $countdown
//	i32.const 1
//	i32.sub
//	global.set $countdown
//	global.get $countdown
//	i32.const 0
//	i32.le_s
//	if
//	  global.get $interrupt
//	  if
//	    unreachable
//	  end
//	  i32.const interval
//	  global.set $countdown
//	  call $safepoint
//	end
//
// The common path is a decrement and one branch; the interrupt flag is
// read only when the countdown runs out, which the host forces by setting
// it to zero with the flag (see the package comment). Measured, this costs
// a third of checking the flag at every head (RATIONALE.md).
//
// It leaves the operand stack as it found it, so it is valid at the head
// of any loop, whatever its block type, and in unreachable code.
func checkSequence(intG, cntG, sp, interval uint32) []byte {
	b := []byte{0x23}
	b = appendU32(b, cntG)
	b = append(b, 0x41, 0x01, 0x6b, 0x24) // i32.const 1, i32.sub, global.set
	b = appendU32(b, cntG)
	b = append(b, 0x23)
	b = appendU32(b, cntG)
	b = append(b, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0, i32.le_s, if
	b = append(b, 0x23)
	b = appendU32(b, intG)
	b = append(b, 0x04, 0x40, 0x00, 0x0b) // if unreachable end
	b = append(b, 0x41)
	b = appendS32(b, int32(interval))
	b = append(b, 0x24)
	b = appendU32(b, cntG)
	b = append(b, 0x10)
	b = appendU32(b, sp)
	return append(b, 0x0b)
}

// bodyWriter rewrites function bodies, reusing its buffers between them.
type bodyWriter struct {
	m      *module
	buf    []byte
	blocks []bool // open blocks, innermost last: whether each is a loop
}

// rewrite returns the instrumented body (locals and code) read from r,
// which holds exactly one function body.
func (w *bodyWriter) rewrite(r *reader) ([]byte, error) {
	n, err := r.count(2)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if _, err := r.valType(); err != nil {
			return nil, err
		}
	}
	locals := r.b[:r.pos]

	body := w.buf[:0]
	from := r.pos
	w.blocks = append(w.blocks[:0], false) // the function's own block
	loops := 0
	// The entry needs a check only if the function can call before it
	// passes a loop head: with a call outside every loop (outerCall),
	// unless a loop head comes first (loopFirst: no branch or call
	// before it, while prefix holds). Every cycle of calls then passes a
	// check, and functions that cannot call run in bounded time between
	// their loop heads.
	prefix, loopFirst, outerCall := true, false, false
	for {
		start := r.pos
		op, err := r.byte()
		if err != nil {
			return nil, err
		}
		if prefix {
			switch {
			case op == 0x03:
				loopFirst, prefix = true, false
			case op == 0x01 || op == 0x02: // nop, block
			case op <= 0x19 || op == 0x1f || op == 0xd5 || op == 0xd6: // control and calls
				prefix = false
			}
		}
		if loops == 0 && (op == 0x10 || op == 0x11 || op == 0x12 || op == 0x13) {
			outerCall = true
		}
		switch {
		case op == 0x00, op == 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b,
			op >= 0x45 && op <= 0xc4, op == 0xd1:
			// No immediates: unreachable, nop, else, return, drop, select,
			// numeric (MVP and sign extension), ref.is_null.
		case op == 0x02 || op == 0x04: // block, if
			err = w.blockType(r)
			w.blocks = append(w.blocks, false)
		case op == 0x03: // loop
			if err = w.blockType(r); err != nil {
				return nil, err
			}
			w.blocks = append(w.blocks, true)
			loops++
			body = append(body, r.b[from:r.pos]...)
			body = append(body, w.m.check...)
			from = r.pos
		case op == 0x0b: // end
			if w.blocks[len(w.blocks)-1] {
				loops--
			}
			w.blocks = w.blocks[:len(w.blocks)-1]
			if len(w.blocks) == 0 {
				if !r.done() {
					return nil, r.errf(ErrMalformed, "%d bytes after the function's final end", len(r.b)-r.pos)
				}
				body = append(body, r.b[from:r.pos]...)
				w.buf = body
				out := make([]byte, 0, len(locals)+len(body)+len(w.m.check))
				out = append(out, locals...)
				if outerCall && !loopFirst {
					out = append(out, w.m.check...)
				}
				return append(out, body...), nil
			}
		case op == 0x0c || op == 0x0d: // br, br_if
			_, err = r.u32()
		case op == 0x0e: // br_table
			var k int
			if k, err = r.count(1); err == nil {
				for i := 0; i <= k && err == nil; i++ {
					_, err = r.u32()
				}
			}
		case op == 0x10 || op == 0x12: // call, return_call
			var f uint32
			if f, err = w.m.funcIndex(r); err != nil {
				return nil, err
			}
			body = append(body, r.b[from:start+1]...)
			body = appendU32(body, f)
			from = r.pos
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect: type, table
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case op == 0x1c: // select with types
			var k int
			if k, err = r.count(1); err == nil {
				for i := 0; i < k && err == nil; i++ {
					_, err = r.valType()
				}
			}
		case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
			_, err = r.u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores
			err = r.memArg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			_, err = r.u32()
		case op == 0x41:
			_, err = r.signed(32)
		case op == 0x42:
			_, err = r.signed(64)
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op == 0xd0: // ref.null
			err = r.heapType()
		case op == 0xd2: // ref.func
			var f uint32
			if f, err = w.m.funcIndex(r); err != nil {
				return nil, err
			}
			body = append(body, r.b[from:start+1]...)
			body = appendU32(body, f)
			from = r.pos
		case op == 0xfc:
			err = r.miscOp(start)
		case op == 0xfd:
			err = r.simdOp(start)
		case op == 0xfe:
			err = r.atomicOp(start)
		default:
			return nil, r.errAt(start, ErrUnsupported, "opcode %#x (%s)", op, opName(op))
		}
		if err != nil {
			return nil, err
		}
	}
}

// blockType reads the block type of block, loop and if: empty, one value
// type, or (multi-value) a type index.
func (w *bodyWriter) blockType(r *reader) error {
	start := r.pos
	v, err := r.signed(33)
	if err != nil {
		return err
	}
	if v >= 0 {
		if uint64(v) >= uint64(w.m.numTypes) {
			return r.errAt(start, ErrMalformed, "block type index %d out of range (%d types)", v, w.m.numTypes)
		}
		return nil
	}
	switch v {
	case -0x40, -1, -2, -3, -4, -5, -0x10, -0x11: // empty, i32, i64, f32, f64, v128, funcref, externref
		return nil
	case -0x1d, -0x1c: // 0x63, 0x64
		return r.errAt(start, ErrUnsupported, "typed reference block type (function references)")
	}
	return r.errAt(start, ErrUnsupported, "block type %d", v)
}

// memArg reads alignment (with the multi-memory flag, bit 6, announcing a
// memory index) and offset.
func (r *reader) memArg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.u32()
	return err
}

// miscOp reads what follows the 0xfc prefix: saturating conversions, bulk
// memory and table instructions.
func (r *reader) miscOp(start int) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	var imms int
	switch {
	case sub <= 7: // i32/i64.trunc_sat_*
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		imms = 2
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		imms = 1
	default:
		return r.errAt(start, ErrUnsupported, "opcode 0xfc %d", sub)
	}
	for i := 0; i < imms; i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// simdGaps are the unassigned opcodes of the fixed-width SIMD proposal
// below 256.
var simdGaps = [...]uint32{154, 162, 165, 166, 175, 176, 178, 179, 180, 187, 194, 197, 198, 207, 208, 210, 211, 212, 226, 238}

// simdOp reads what follows the 0xfd prefix (fixed-width SIMD).
func (r *reader) simdOp(start int) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	if sub > 255 {
		return r.errAt(start, ErrUnsupported, "opcode 0xfd %#x (relaxed SIMD or unknown)", sub)
	}
	for _, g := range simdGaps {
		if sub == g {
			return r.errAt(start, ErrUnsupported, "opcode 0xfd %d (not a SIMD instruction)", sub)
		}
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // v128.load*, v128.store, load*_zero
		return r.memArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err = r.byte()
	case sub >= 84 && sub <= 91: // load*_lane, store*_lane
		if err = r.memArg(); err == nil {
			_, err = r.byte()
		}
	}
	return err
}

// atomicOp reads what follows the 0xfe prefix (threads).
func (r *reader) atomicOp(start int) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 2, sub >= 0x10 && sub <= 0x4e: // notify, wait32/64, loads, stores, rmw
		return r.memArg()
	case sub == 3: // atomic.fence
		p := r.pos
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c != 0 {
			return r.errAt(p, ErrMalformed, "atomic.fence immediate %#x", c)
		}
		return nil
	}
	return r.errAt(start, ErrUnsupported, "opcode 0xfe %#x", sub)
}

// opName names the opcodes Instrument refuses, for its errors.
func opName(op byte) string {
	switch op {
	case 0x06:
		return "try, legacy exception handling"
	case 0x07:
		return "catch, legacy exception handling"
	case 0x08:
		return "throw, exception handling"
	case 0x09:
		return "rethrow, legacy exception handling"
	case 0x0a:
		return "throw_ref, exception handling"
	case 0x14:
		return "call_ref, function references"
	case 0x15:
		return "return_call_ref, function references"
	case 0x18:
		return "delegate, legacy exception handling"
	case 0x19:
		return "catch_all, legacy exception handling"
	case 0x1f:
		return "try_table, exception handling"
	case 0xd3:
		return "ref.eq, GC"
	case 0xd4:
		return "ref.as_non_null, function references"
	case 0xd5:
		return "br_on_null, function references"
	case 0xd6:
		return "br_on_non_null, function references"
	case 0xfb:
		return "GC prefix"
	}
	return fmt.Sprintf("unknown opcode %#x", op)
}
