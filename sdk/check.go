package sdk

import (
	"math"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Check reports whether v fits column c as Row.Set takes it: nil, or a
// *SetError wrapping ErrKind that names the column, its kind and the
// value's. Its Table is empty.
func (c *Column) Check(v Value) error {
	if reason := c.fit(v); reason != "" {
		return c.kindError("", v, reason)
	}
	return nil
}

func (c *Column) kindError(table string, v Value, reason string) *SetError {
	return &SetError{Table: table, Column: c.Name, Kind: c.Kind, Value: v.kind, Text: quote(v.String()), Reason: reason, Err: ErrKind}
}

// fit returns why v does not fit c, "" when it does. The conversions it
// allows are the table in Row.Set's documentation; encodeValue performs
// them.
func (c *Column) fit(v Value) string {
	if v.state != valueSet {
		return "" // NULL fits every column, and absent is set as NULL
	}
	vk := v.kind
	switch c.Kind {
	case KindInt, KindYear:
		switch vk {
		case KindInt, KindYear:
			return ""
		case KindUint, KindBit:
			if v.num <= math.MaxInt64 {
				return ""
			}
			return "beyond the int64 range"
		}
		return "the column takes int, year, uint and bit values"
	case KindUint, KindBit:
		switch vk {
		case KindUint, KindBit:
			return ""
		case KindInt, KindYear:
			if int64(v.num) >= 0 {
				return ""
			}
			return "negative"
		}
		return "the column takes uint, bit, and non-negative int and year values"
	case KindFloat, KindDouble:
		switch vk {
		case KindInt, KindYear, KindUint, KindBit:
			return ""
		case KindFloat, KindDouble:
			f := math.Float64frombits(v.num)
			switch {
			case math.IsNaN(f) || math.IsInf(f, 0):
				return "not a finite number"
			case c.Kind == KindFloat && math.IsInf(float64(float32(f)), 0):
				return "beyond the float32 range"
			}
			return ""
		}
		return "the column takes float, double and integer values"
	case KindDecimal:
		switch vk {
		case KindInt, KindYear, KindUint, KindBit:
			return ""
		case KindDecimal, KindString:
			return wire.CheckText(wire.KindDecimal, nil, v.rawBytes())
		}
		return "the column takes integer and decimal values, and decimal text (sdk/decimal makes it from other numbers)"
	case KindString:
		switch {
		case vk.Numeric():
			return ""
		case vk == KindGeometry:
			return "the column takes text, numbers, and bytes that are UTF-8"
		}
		return wire.CheckText(wire.KindString, nil, v.rawBytes())
	case KindBytes:
		return ""
	case KindGeometry:
		if vk == KindBytes || vk == KindGeometry {
			return ""
		}
		return "the column takes bytes and geometry values"
	}
	// Date, time, datetime, timestamp, enum, set, JSON, UUID, inet: text
	// in the kind's format.
	if vk == c.Kind || vk == KindString {
		var members []string
		if len(c.Values) > 0 {
			members = c.Values
		}
		return wire.CheckText(wire.Kind(c.Kind), members, v.rawBytes())
	}
	return "the column takes " + c.Kind.String() + " values and strings in its format"
}

// rawBytes views a non-numeric value's text as bytes.
func (v Value) rawBytes() []byte { return unsafe.Slice(unsafe.StringData(v.text), len(v.text)) }
