package sdk

import (
	"encoding/base64"
	"math"
	"strconv"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Value is one column value: absent (the image does not carry the column),
// NULL, or a value of its column's Kind. A Value read from a row views the
// batch: it is valid until the handler or sender returns.
type Value struct {
	state uint8 // valueAbsent, valueNull, valueSet
	kind  Kind  // 0 for values made by the constructors until Set
	num   uint64
	text  string
}

const (
	valueAbsent = iota
	valueNull
	valueSet
	valueBad // a value Set refused (ErrKind); text holds the error
)

// Null returns the SQL NULL.
func Null() Value { return Value{state: valueNull} }

// Int returns an integer value (for Int and Year columns).
func Int(v int64) Value { return Value{state: valueSet, kind: KindInt, num: uint64(v)} }

// Uint returns an unsigned value (for Uint and Bit columns).
func Uint(v uint64) Value { return Value{state: valueSet, kind: KindUint, num: v} }

// Float returns a floating-point value (for Float and Double columns).
func Float(v float64) Value {
	return Value{state: valueSet, kind: KindDouble, num: math.Float64bits(v)}
}

// String returns a text value (for every text kind: String, Decimal, the
// temporal kinds, Enum, Set, JSON).
func String(s string) Value { return Value{state: valueSet, kind: KindString, text: s} }

// Bytes returns a binary value (for Bytes and Geometry columns). The value
// views b: do not modify b before the handler returns.
func Bytes(b []byte) Value {
	return Value{state: valueSet, kind: KindBytes, text: unsafe.String(unsafe.SliceData(b), len(b))}
}

// Kind returns the kind of the column the value was read from (or the
// constructor's kind).
func (v Value) Kind() Kind { return v.kind }

// IsAbsent reports whether the image does not carry the column.
func (v Value) IsAbsent() bool { return v.state == valueAbsent }

// IsNull reports whether the value is SQL NULL.
func (v Value) IsNull() bool { return v.state == valueNull }

// Valid reports whether the value is neither absent nor NULL.
func (v Value) Valid() bool { return v.state == valueSet }

// Int returns an Int or Year value; Uint and Bit values are converted,
// and floats truncated; 0 for anything else.
func (v Value) Int() int64 {
	if v.state != valueSet {
		return 0
	}
	switch v.kind {
	case KindInt, KindYear, KindUint, KindBit:
		return int64(v.num)
	case KindFloat, KindDouble:
		return int64(math.Float64frombits(v.num))
	}
	return 0
}

// Uint returns a Uint or Bit value; Int and Year values are converted;
// 0 for anything else.
func (v Value) Uint() uint64 {
	if v.state != valueSet {
		return 0
	}
	switch v.kind {
	case KindInt, KindYear, KindUint, KindBit:
		return v.num
	case KindFloat, KindDouble:
		return uint64(math.Float64frombits(v.num))
	}
	return 0
}

// Float returns a Float or Double value (a Float column's float32, widened
// exactly); integers are converted; 0 for anything else.
func (v Value) Float() float64 {
	if v.state != valueSet {
		return 0
	}
	switch v.kind {
	case KindFloat, KindDouble:
		return math.Float64frombits(v.num)
	case KindInt, KindYear:
		return float64(int64(v.num))
	case KindUint, KindBit:
		return float64(v.num)
	}
	return 0
}

// Text returns the text of a non-numeric value (for Bytes and Geometry,
// the bytes as a string); "" for numbers, NULL and absent values. String
// gives every kind's text as the envelope writes it.
func (v Value) Text() string {
	if v.state != valueSet {
		return ""
	}
	return v.text
}

// String returns the value's canonical text: what the JSON envelope
// writes for it, unquoted, so that a sender writing another format (CSV,
// say) renders values alike. Int, Uint, Year and Bit values are decimal
// integers; Float and Double the shortest decimal that reads back to the
// value at the column's precision ("1.5", "1e+21"); Bytes and Geometry
// standard base64 with padding; every other kind its text as carried
// (a DECIMAL's exact digits, a TIMESTAMP in RFC 3339 UTC, JSON as JSON
// text). NULL and absent values are "" (tell them apart with IsNull and
// IsAbsent), as is the empty JSON the envelope writes as null.
//
// String allocates for numbers and bytes; AppendText does not.
func (v Value) String() string {
	if v.state == valueSet && !v.kind.Numeric() && v.kind != KindBytes && v.kind != KindGeometry {
		return v.text
	}
	return string(v.AppendText(nil))
}

// AppendText appends the value's String to dst.
func (v Value) AppendText(dst []byte) []byte {
	if v.state != valueSet {
		return dst
	}
	switch v.kind {
	case KindInt, KindYear:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindUint, KindBit:
		return strconv.AppendUint(dst, v.num, 10)
	case KindFloat:
		return wire.AppendJSONFloat(dst, math.Float64frombits(v.num), 32)
	case KindDouble:
		return wire.AppendJSONFloat(dst, math.Float64frombits(v.num), 64)
	case KindBytes, KindGeometry:
		return base64.StdEncoding.AppendEncode(dst, v.Bytes())
	}
	return append(dst, v.text...)
}

// Bytes returns the bytes of a non-numeric value; nil for numbers, NULL
// and absent values. The slice views the batch: do not modify it.
func (v Value) Bytes() []byte {
	if v.state != valueSet || v.kind.Numeric() {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(v.text), len(v.text))
}

// Image is a row image: the values of a row before or after the change,
// one per column of the row's table. Its methods take a column's name or
// index; a name the table does not have reads as absent.
//
// An Image is two pointers (into the row), so that passing one around is
// cheap inside Wasm.
type Image struct {
	t  *Table
	im *wire.Image
}

// Present reports whether the change carries this image (inserts have no
// before image, deletes no after image).
func (im Image) Present() bool { return im.im != nil && im.im.Present() }

// Len returns the number of columns.
func (im Image) Len() int {
	if !im.Present() {
		return 0
	}
	return im.im.Len()
}

// At returns column i's value.
func (im Image) At(i int) Value {
	t := im.t
	if t == nil || uint(i) >= uint(len(t.Columns)) {
		return Value{}
	}
	k := t.Columns[i].Kind
	if im.im == nil {
		return Value{kind: k}
	}
	slot, num, b, ok := im.im.Value(i, k.Numeric())
	switch {
	case slot == wire.SlotNull:
		return Value{state: valueNull, kind: k}
	case slot == wire.SlotAbsent || !ok:
		return Value{kind: k}
	case b != nil:
		return Value{state: valueSet, kind: k, text: unsafe.String(unsafe.SliceData(b), len(b))}
	}
	return Value{state: valueSet, kind: k, num: num}
}

// Get returns the named column's value.
func (im Image) Get(name string) Value {
	if im.t == nil {
		return Value{}
	}
	return im.At(im.t.Index(name))
}

// String returns the named column's text ("" when NULL, absent or
// numeric).
func (im Image) String(name string) string { return im.Get(name).Text() }

// Int returns the named column's integer (0 when NULL or absent).
func (im Image) Int(name string) int64 { return im.Get(name).Int() }

// Uint returns the named column's unsigned integer (0 when NULL or absent).
func (im Image) Uint(name string) uint64 { return im.Get(name).Uint() }

// Float returns the named column's float (0 when NULL or absent).
func (im Image) Float(name string) float64 { return im.Get(name).Float() }

// Bytes returns the named column's bytes, viewing the batch.
func (im Image) Bytes(name string) []byte { return im.Get(name).Bytes() }

// IsNull reports whether the named column is NULL.
func (im Image) IsNull(name string) bool { return im.Get(name).IsNull() }

// Has reports whether the image carries the named column (NULL or not).
func (im Image) Has(name string) bool { return !im.Get(name).IsAbsent() }

// view returns b as a string without copying; valid while b is.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
