package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/shopspring/decimal"
)

// value decodes one non-NULL value of op at the start of b, returning it
// and its size in b. A value error (an ENUM index out of range, text its
// charset cannot hold) still returns the size; a value cut short panics
// (index out of range), which decodeRows turns into an error, as go-mysql
// does.
func (d *rowDecoder) value(op *colOp, b []byte) (any, int, error) {
	switch op.code {
	case opInt, opRawInt:
		return d.box.int64(readInt(b, op.width)), op.width, nil
	case opUint:
		return d.box.uint64(readUint(b, op.width)), op.width, nil
	case opYear:
		if b[0] == 0 {
			return int64(0), 1, nil
		}
		return d.box.int64(int64(b[0]) + 1900), 1, nil
	case opFloat:
		return d.box.float32(math.Float32frombits(binary.LittleEndian.Uint32(b))), 4, nil
	case opDouble:
		return d.box.float64(math.Float64frombits(binary.LittleEndian.Uint64(b))), 8, nil
	case opBit:
		return d.box.uint64(readBE(b[:op.width])), op.width, nil
	case opDecimal:
		dst := d.text.begin(op.prec + 3)
		dst, n, err := appendDecimal(dst, b, op.prec, op.dec)
		if err != nil {
			return nil, n, err
		}
		return d.str(dst), n, nil
	case opDate:
		return d.str(appendDate(d.text.begin(10), b)), 3, nil
	case opTime:
		return d.str(appendTime(d.text.begin(10), b)), 3, nil
	case opTime2:
		return d.str(appendTime2(d.text.begin(24), b, op.dec)), 3 + (op.dec+1)/2, nil
	case opDatetime:
		return d.str(appendDatetime(d.text.begin(19), b)), 8, nil
	case opDatetime2:
		return d.str(appendDatetime2(d.text.begin(28), b, op.dec)), 5 + (op.dec+1)/2, nil
	case opTimestamp:
		return d.str(appendTimestamp(d.text.begin(20), b)), 4, nil
	case opTimestamp2:
		return d.str(appendTimestamp2(d.text.begin(30), b, op.dec)), 4 + (op.dec+1)/2, nil
	case opEnum:
		x := readUint(b, op.width)
		switch {
		case x == 0:
			return "", op.width, nil // the "invalid value" member MySQL stores as 0
		case x <= uint64(len(op.boxed)):
			return op.boxed[x-1], op.width, nil
		}
		return nil, op.width, fmt.Errorf("enum index %d out of range (%d members)", x, len(op.values))
	case opSet:
		x := readUint(b, op.width)
		if x == 0 {
			return "", op.width, nil
		}
		dst := d.text.begin(64)
		first := true
		for i, m := range op.values {
			if i < 64 && x&(1<<uint(i)) != 0 {
				if !first {
					dst = append(dst, ',')
				}
				dst = append(dst, m...)
				first = false
			}
		}
		return d.str(dst), op.width, nil
	case opRawEnum:
		return d.box.int64(int64(readUint(b, op.width))), op.width, nil
	case opText, opBytes, opRawText:
		l := int(readUint(b, op.width))
		n := op.width + l
		raw := b[op.width:n]
		switch op.code {
		case opText:
			switch op.charset {
			case textUTF8:
				return d.box.string(eventString(raw)), n, nil
			case textLatin1:
				if asciiPrefix(raw) == len(raw) {
					return d.box.string(eventString(raw)), n, nil // UTF-8 as it is
				}
				return d.str(appendLatin1(d.text.begin(l+l/2), raw)), n, nil
			}
			var dst []byte
			var err error
			if op.charset == textCJK {
				dst, err = op.mb.Append(d.text.begin(2*l), op.cs, raw)
			} else {
				dst, err = appendUTF8(d.text.begin(2*l), op.cs, raw)
			}
			if err != nil {
				return nil, n, err
			}
			return d.str(dst), n, nil
		case opBytes:
			if l >= op.pad {
				return d.box.bytes(eventBytes(raw)), n, nil
			}
			dst := append(d.text.begin(op.pad), raw...)
			for len(dst) < op.pad {
				dst = append(dst, 0)
			}
			return d.box.bytes(d.text.bytes(dst)), n, nil
		default:
			return d.box.bytes(eventBytes(raw)), n, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: op %d", errMalformed, op.code)
}

// eventString and eventBytes hand out a value as the event holds it,
// without a copy: go-mysql reads every packet into a slice of its own and
// never writes it again (TestSyncerPacketsNotReused), so the value is as
// immutable as the arena's, and keeps the event's bytes alive instead of
// a chunk of the arena. The bytes are capped: an append copies.
func eventString(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(raw), len(raw))
}

func eventBytes(raw []byte) []byte {
	if len(raw) == 0 {
		return []byte{} // empty, not NULL
	}
	return raw[:len(raw):len(raw)]
}

// str hands out dst, built in d.text, as a boxed string.
func (d *rowDecoder) str(dst []byte) any { return d.box.string(d.text.string(dst)) }

// readInt reads a little-endian signed integer of w bytes.
func readInt(b []byte, w int) int64 {
	switch w {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	case 3:
		return int64(int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16) << 8 >> 8)
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	}
	return int64(binary.LittleEndian.Uint64(b))
}

// readUint reads a little-endian unsigned integer of w (1 to 8) bytes.
func readUint(b []byte, w int) uint64 {
	switch w {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	var v uint64
	for i := w - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// readBE reads a big-endian unsigned integer of len(b) bytes.
func readBE(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// appendPadded appends v in decimal, zero-padded to at least width
// digits, as fmt's %0*d does for v ≥ 0.
func appendPadded(dst []byte, v uint64, width int) []byte {
	switch {
	case width == 2 && v < 100:
		return append(dst, byte('0'+v/10), byte('0'+v%10))
	case width == 4 && v < 10000:
		hi, lo := v/100, v%100
		return append(dst, byte('0'+hi/10), byte('0'+hi%10), byte('0'+lo/10), byte('0'+lo%10))
	case width == 6 && v < 1000000:
		a, b, c := v/10000, v/100%100, v%100
		return append(dst, byte('0'+a/10), byte('0'+a%10), byte('0'+b/10), byte('0'+b%10), byte('0'+c/10), byte('0'+c%10))
	}
	var buf [20]byte
	i := len(buf)
	for v >= 10 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	buf[i] = byte('0' + v)
	for n := len(buf) - i; n < width; n++ {
		dst = append(dst, '0')
	}
	return append(dst, buf[i:]...)
}

// appendFraction appends "." and the first dec of the (at least) six
// digits of micro, as go-mysql cuts "%06d": nothing when dec is 0.
func appendFraction(dst []byte, micro uint64, dec int) []byte {
	if dec == 0 {
		return dst
	}
	dst = appendPadded(append(dst, '.'), micro, 6)
	return dst[:len(dst)-(6-dec)]
}

// The binary DECIMAL format packs each 9 decimal digits into 4 bytes, and
// the leftover digits of each part into as few bytes as they need.
const digitsPerWord = 9

var decimalLeftoverBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

var powersOf10 = [10]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func decimalBinSize(prec, scale int) int {
	intg := prec - scale
	return intg/digitsPerWord*4 + decimalLeftoverBytes[intg%digitsPerWord] +
		scale/digitsPerWord*4 + decimalLeftoverBytes[scale%digitsPerWord]
}

// appendDecimal appends the exact text of a binary DECIMAL(prec, scale)
// value: what go-mysql's decoder writes, normalised as
// decimal.NewFromString(...).StringFixed(scale) does (no "-" for zero).
func appendDecimal(dst []byte, data []byte, prec, scale int) ([]byte, int, error) {
	intg := prec - scale
	intgWords, intgLeft := intg/digitsPerWord, intg%digitsPerWord
	fracWords, fracLeft := scale/digitsPerWord, scale%digitsPerWord
	size := intgWords*4 + decimalLeftoverBytes[intgLeft] + fracWords*4 + decimalLeftoverBytes[fracLeft]
	var buf [40]byte
	b := buf[:copy(buf[:], data[:size])]
	neg := b[0]&0x80 == 0
	b[0] ^= 0x80
	var mask uint32
	if neg {
		mask = ^uint32(0)
	}
	read := func(pos, n int) uint32 {
		var v uint32
		for _, c := range b[pos : pos+n] {
			v = v<<8 | uint32(c)
		}
		if n == 4 {
			return v ^ mask
		}
		return v ^ mask&(1<<(8*n)-1)
	}
	start := len(dst)
	if neg {
		dst = append(dst, '-')
	}
	digitsStart := len(dst)
	pos := 0
	leading := true
	if n := decimalLeftoverBytes[intgLeft]; n > 0 {
		if v := read(0, n); v != 0 {
			leading = false
			dst = strconv.AppendUint(dst, uint64(v), 10)
		}
		pos = n
	}
	for range intgWords {
		v := read(pos, 4)
		pos += 4
		switch {
		case leading && v == 0:
		case leading:
			leading = false
			dst = strconv.AppendUint(dst, uint64(v), 10)
		case v >= powersOf10[9]:
			return dst[:start], size, fmt.Errorf("%w: decimal word %d", errMalformed, v)
		default:
			dst = appendPadded(dst, uint64(v), 9)
		}
	}
	if leading {
		dst = append(dst, '0')
	}
	fracStart := len(dst)
	if pos < size {
		dst = append(dst, '.')
		fracStart = len(dst)
		for range fracWords {
			v := read(pos, 4)
			pos += 4
			if v >= powersOf10[9] {
				return dst[:start], size, fmt.Errorf("%w: decimal word %d", errMalformed, v)
			}
			dst = appendPadded(dst, uint64(v), 9)
		}
		if n := decimalLeftoverBytes[fracLeft]; n > 0 {
			dst = appendPadded(dst, uint64(read(pos, n)), fracLeft)
		}
	}
	if scale > 0 && len(dst)-fracStart != scale {
		// Digits the declared scale cannot hold (a corrupt value): round
		// as decimal does.
		d, err := decimal.NewFromString(string(dst[start:]))
		if err != nil {
			return dst[:start], size, fmt.Errorf("%w: %v", errMalformed, err)
		}
		return append(dst[:start], d.StringFixed(int32(scale))...), size, nil
	}
	if neg {
		zero := true
		for _, c := range dst[digitsStart:] {
			if c != '0' && c != '.' {
				zero = false
				break
			}
		}
		if zero {
			dst = append(dst[:start], dst[digitsStart:]...)
		}
	}
	return dst, size, nil
}

// appendDate appends a DATE (3 bytes, little-endian day | month << 5 |
// year << 9) as go-mysql writes it.
func appendDate(dst []byte, b []byte) []byte {
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	if v == 0 {
		return append(dst, "0000-00-00"...)
	}
	return appendYMD(dst, v/(16*32), v/32%16, v%32)
}

func appendYMD(dst []byte, y, m, d uint64) []byte {
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, '-')
	return appendPadded(dst, d, 2)
}

func appendHMS(dst []byte, h, m, s uint64) []byte {
	dst = appendPadded(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, ':')
	return appendPadded(dst, s, 2)
}

// appendTime appends a TIME of before MySQL 5.6 (3 bytes, HHMMSS as an
// integer).
func appendTime(dst []byte, b []byte) []byte {
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	if v == 0 {
		return append(dst, "00:00:00"...)
	}
	return appendHMS(dst, v/10000, v%10000/100, v%100)
}

// appendTime2 appends a TIME(dec) with dec fractional digits, zeros
// included (go-mysql's text plus timeWithFraction).
func appendTime2(dst []byte, b []byte, dec int) []byte {
	const intOfs, ofs = 0x800000, 0x800000000000
	var tmp int64
	switch dec {
	case 1, 2:
		intPart := int64(readBE(b[0:3])) - intOfs
		frac := int64(b[3])
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x100
		}
		tmp = intPart<<24 + frac*10000
	case 3, 4:
		intPart := int64(readBE(b[0:3])) - intOfs
		frac := int64(binary.BigEndian.Uint16(b[3:5]))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x10000
		}
		tmp = intPart<<24 + frac*100
	case 5, 6:
		tmp = int64(readBE(b[0:6])) - ofs
	default:
		tmp = (int64(readBE(b[0:3])) - intOfs) << 24
	}
	if tmp < 0 {
		tmp = -tmp
		dst = append(dst, '-')
	}
	hms := tmp >> 24
	dst = appendHMS(dst, uint64((hms>>12)%(1<<10)), uint64((hms>>6)%(1<<6)), uint64(hms%(1<<6)))
	return appendFraction(dst, uint64(tmp%(1<<24)), dec)
}

// appendDatetime appends a DATETIME of before MySQL 5.6 (8 bytes,
// YYYYMMDDHHMMSS as an integer).
func appendDatetime(dst []byte, b []byte) []byte {
	v := binary.LittleEndian.Uint64(b)
	if v == 0 {
		return append(dst, "0000-00-00 00:00:00"...)
	}
	d, t := v/1000000, v%1000000
	dst = appendYMD(dst, d/10000, d%10000/100, d%100)
	dst = append(dst, ' ')
	return appendHMS(dst, t/10000, t%10000/100, t%100)
}

// appendDatetime2 appends a DATETIME(dec) as go-mysql writes it.
func appendDatetime2(dst []byte, b []byte, dec int) []byte {
	const intOfs = 0x8000000000
	intPart := int64(readBE(b[0:5])) - intOfs
	frac := readFrac(b[5:], dec)
	if intPart == 0 {
		dst = append(dst, "0000-00-00 00:00:00"...)
		return appendFraction(dst, uint64(frac), dec)
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd, hms := ymdhms>>17, ymdhms%(1<<17)
	ym := ymd >> 5
	dst = appendYMD(dst, uint64(ym/13), uint64(ym%13), uint64(ymd%(1<<5)))
	dst = append(dst, ' ')
	dst = appendHMS(dst, uint64(hms>>12), uint64((hms>>6)%(1<<6)), uint64(hms%(1<<6)))
	return appendFraction(dst, uint64(frac), dec)
}

// readFrac reads the fractional seconds of a DATETIME2 or TIMESTAMP2, in
// microseconds.
func readFrac(b []byte, dec int) int64 {
	switch dec {
	case 1, 2:
		return int64(b[0]) * 10000
	case 3, 4:
		return int64(binary.BigEndian.Uint16(b)) * 100
	case 5, 6:
		return int64(readBE(b[:3]))
	}
	return 0
}

// appendTimestamp appends a TIMESTAMP of before MySQL 5.6 (4 bytes,
// seconds) in RFC 3339, UTC.
func appendTimestamp(dst []byte, b []byte) []byte {
	sec := binary.LittleEndian.Uint32(b)
	if sec == 0 {
		return append(dst, "0000-00-00 00:00:00"...)
	}
	return appendRFC3339(dst, int64(sec), 0, 0)
}

// appendTimestamp2 appends a TIMESTAMP(dec) in RFC 3339, UTC, or MySQL's
// zero timestamp.
func appendTimestamp2(dst []byte, b []byte, dec int) []byte {
	sec := int64(binary.BigEndian.Uint32(b))
	usec := readFrac(b[4:], dec)
	if sec == 0 {
		dst = append(dst, "0000-00-00 00:00:00"...)
		return appendFraction(dst, uint64(usec), dec)
	}
	return appendRFC3339(dst, sec, usec, dec)
}

// appendRFC3339 appends the instant sec seconds and usec microseconds (at
// least 0) after the epoch, in UTC, as YYYY-MM-DDTHH:MM:SS[.f]Z with dec
// fractional digits: what time.Unix(sec, usec*1000).UTC().Format does
// (a usec of a second or more carries into sec).
func appendRFC3339(dst []byte, sec, usec int64, dec int) []byte {
	sec += usec / 1e6
	usec %= 1e6
	days, s := sec/86400, sec%86400
	if s < 0 {
		days, s = days-1, s+86400
	}
	y, m, d := civilDate(days)
	dst = appendYMD(dst, uint64(y), uint64(m), uint64(d))
	dst = append(dst, 'T')
	dst = appendHMS(dst, uint64(s/3600), uint64(s%3600/60), uint64(s%60))
	return append(appendFraction(dst, uint64(usec), dec), 'Z')
}

// civilDate returns the proleptic Gregorian date of a day counted from
// 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
func civilDate(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// valueBlock hands out row images cut from blocks of []any: one
// allocation for many rows. A block lives as long as any row cut from it.
type valueBlock struct{ free []any }

const valueBlockSize = 2048

// row returns n nil values, owned by the caller.
func (b *valueBlock) row(n int) []any {
	if len(b.free) < n {
		b.free = make([]any, max(valueBlockSize, n))
	}
	r := b.free[:n:n]
	b.free = b.free[n:]
	return r
}

// rowsBlock hands out the [][]any of rows events cut from blocks: one
// allocation for many events. A block lives as long as any slice cut from
// it.
type rowsBlock struct{ free [][]any }

const rowsBlockSize = 1024

// rows returns an empty slice with room for n rows, owned by the caller
// (an append beyond n reallocates).
func (b *rowsBlock) rows(n int) [][]any {
	if n > rowsBlockSize/4 {
		return make([][]any, 0, n)
	}
	if len(b.free) < n {
		b.free = make([][]any, rowsBlockSize)
	}
	r := b.free[:0:n]
	b.free = b.free[n:]
	return r
}

// textArena hands out strings and byte slices cut from chunks of bytes:
// one allocation for many values. Bytes handed out are never written
// again, which makes the strings sound; a chunk lives as long as any value
// cut from it.
//
// A value is built by appending to begin's result and handed out by
// string or bytes, before the next begin.
type textArena struct{ buf []byte }

const textChunkSize = 32 << 10

// begin returns where the next value goes, with room for at least n bytes
// (more may be appended: the chunk then moves, which is only a copy).
func (a *textArena) begin(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		if n > textChunkSize/4 {
			return make([]byte, 0, n) // large values get their own
		}
		a.buf = make([]byte, 0, textChunkSize)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// commit hands dst (from begin) out and returns it, capacity capped.
func (a *textArena) commit(dst []byte) []byte {
	n := len(dst)
	if n > 0 && cap(a.buf)-len(a.buf) >= n && unsafe.SliceData(dst) == unsafe.SliceData(a.buf[len(a.buf):]) {
		a.buf = a.buf[:len(a.buf)+n]
	}
	return dst[:n:n]
}

func (a *textArena) string(dst []byte) string {
	dst = a.commit(dst)
	if len(dst) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(dst), len(dst))
}

// bytes hands dst out as a []byte; empty is not nil (NULL is).
func (a *textArena) bytes(dst []byte) []byte {
	dst = a.commit(dst)
	if dst == nil {
		return []byte{}
	}
	return dst
}

// boxes puts decoded values into interfaces without an allocation each:
// the value is written into a slot of a block of its type, and the
// interface made to point at that slot, exactly as the runtime's own
// boxing points at a fresh allocation. A slot is written once, before it
// is boxed, and never again, so the boxed values are as immutable as the
// runtime's. A block lives as long as any value boxed in it.
type boxes struct {
	ints   []int64
	uints  []uint64
	f32s   []float32
	f64s   []float64
	strs   []string
	bytess [][]byte
}

const boxBlockSize = 512

// eface is the layout of an empty interface (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

func efaceType(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	int64Type   = efaceType(int64(0))
	uint64Type  = efaceType(uint64(0))
	float32Type = efaceType(float32(0))
	float64Type = efaceType(float64(0))
	stringType  = efaceType("")
	bytesType   = efaceType([]byte(nil))
)

// box returns the interface of type typ whose value is at p.
func box(typ unsafe.Pointer, p unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, p
	return v
}

// slot returns the next free slot of *block, refilling it when empty.
func slot[T any](block *[]T) *T {
	if len(*block) == 0 {
		*block = make([]T, boxBlockSize)
	}
	p := &(*block)[0]
	*block = (*block)[1:]
	return p
}

func (b *boxes) int64(v int64) any {
	p := slot(&b.ints)
	*p = v
	return box(int64Type, unsafe.Pointer(p))
}

func (b *boxes) uint64(v uint64) any {
	p := slot(&b.uints)
	*p = v
	return box(uint64Type, unsafe.Pointer(p))
}

func (b *boxes) float32(v float32) any {
	p := slot(&b.f32s)
	*p = v
	return box(float32Type, unsafe.Pointer(p))
}

func (b *boxes) float64(v float64) any {
	p := slot(&b.f64s)
	*p = v
	return box(float64Type, unsafe.Pointer(p))
}

func (b *boxes) string(v string) any {
	if v == "" {
		return "" // boxed without allocating by the runtime too
	}
	p := slot(&b.strs)
	*p = v
	return box(stringType, unsafe.Pointer(p))
}

func (b *boxes) bytes(v []byte) any {
	p := slot(&b.bytess)
	*p = v
	return box(bytesType, unsafe.Pointer(p))
}

// Values hands out row images and text values boxed in interfaces, cut
// from blocks as the decoder's are: no allocation per row or value. What
// it hands out is never written again; a block lives as long as anything
// cut from it. A handler's verdicts decoded by hostabi use one per
// instance. Not safe for concurrent use; the zero value is ready to use.
type Values struct {
	rows valueBlock
	text textArena
	box  boxes
}

// Row returns n nil values, owned by the caller.
func (v *Values) Row(n int) []any { return v.rows.row(n) }

// String returns a copy of b as a string in an interface.
func (v *Values) String(b []byte) any {
	return v.box.string(v.text.string(append(v.text.begin(len(b)), b...)))
}

// Bytes returns a copy of b (not nil, even when empty) in an interface.
func (v *Values) Bytes(b []byte) any {
	return v.box.bytes(v.text.bytes(append(v.text.begin(len(b)), b...)))
}
