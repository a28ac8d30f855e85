package instrument

import "fmt"

// reader decodes the primitive encodings of the binary format from b.
// Offsets in its errors are absolute: base is the offset of b[0] in the
// original input.
type reader struct {
	b       []byte
	pos     int
	base    int
	section string
	fn      int // function index for errors, -1 outside code
}

func newReader(b []byte, base int, section string) *reader {
	return &reader{b: b, base: base, section: section, fn: -1}
}

// sub returns a reader over the next n bytes and advances past them.
func (r *reader) sub(n int, section string) (*reader, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, r.errf(ErrMalformed, "size %d runs past the end (%d bytes left)", n, len(r.b)-r.pos)
	}
	s := &reader{b: r.b[r.pos : r.pos+n], base: r.base + r.pos, section: section, fn: -1}
	r.pos += n
	return s, nil
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) offset() int { return r.base + r.pos }

func (r *reader) errf(sentinel error, format string, args ...any) error {
	return r.errAt(r.pos, sentinel, format, args...)
}

// errAt reports an error at position pos of this reader.
func (r *reader) errAt(pos int, sentinel error, format string, args ...any) error {
	return &Error{Offset: r.base + pos, Section: r.section, Func: r.fn, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.errf(ErrMalformed, "unexpected end")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, r.errf(ErrMalformed, "%d bytes run past the end (%d left)", n, len(r.b)-r.pos)
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes whose unused high bits
// are zero, as the spec requires.
func (r *reader) u32() (uint32, error) {
	start := r.pos
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xf0 != 0 {
			return 0, r.errAt(start, ErrMalformed, "u32 LEB128 overflows 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, r.errAt(start, ErrMalformed, "u32 LEB128 longer than 5 bytes")
}

// signed reads a signed LEB128 of at most bits bits (32, 33 or 64), with
// the spec's rule that unused bits of the last byte repeat the sign.
func (r *reader) signed(bits int) (int64, error) {
	start := r.pos
	maxBytes := (bits + 6) / 7
	var v int64
	shift := 0
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if i == maxBytes-1 {
				// The bits of the last byte above the value's width must
				// all repeat its sign bit.
				used := uint(bits - 7*(maxBytes-1))
				sign := (c >> (used - 1)) & 1
				upper := (c & 0x7f) >> used
				if (sign == 0 && upper != 0) || (sign == 1 && upper != 0x7f>>used) {
					return 0, r.errAt(start, ErrMalformed, "s%d LEB128 overflows", bits)
				}
			}
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, r.errAt(start, ErrMalformed, "s%d LEB128 too long", bits)
}

// name reads a length-prefixed byte string (a name; UTF-8 is wazero's to
// check, names are copied as they are).
func (r *reader) name() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	return r.bytes(int(n))
}

// count reads a vector length and checks it against the bytes left, each
// element taking at least min bytes, so that a corrupt count cannot make
// a caller allocate or loop for long.
func (r *reader) count(min int) (int, error) {
	start := r.pos
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(min) > uint64(len(r.b)-r.pos) {
		return 0, r.errAt(start, ErrMalformed, "vector of %d elements does not fit in %d bytes", n, len(r.b)-r.pos)
	}
	return int(n), nil
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendS32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s []byte) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
