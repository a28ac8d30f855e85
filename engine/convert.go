package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// convert turns a go-mysql decoded value into the Change value for column
// c. Strings and byte slices are copied: go-mysql's may alias the packet.
func convert(c *Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindYear:
		switch x := v.(type) {
		case int8:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		}
	case KindUint:
		switch x := v.(type) {
		case uint8:
			return uint64(x), nil
		case uint16:
			return uint64(x), nil
		case uint32:
			return uint64(x), nil
		case uint64:
			return x, nil
		}
		// Without signedness in the TABLE_MAP (binlog_row_metadata=NO_LOG,
		// schema = "live") go-mysql decodes every integer as signed: take
		// back the column's bits.
		var bits int64
		switch x := v.(type) {
		case int8:
			bits = int64(x)
		case int16:
			bits = int64(x)
		case int32:
			bits = int64(x)
		case int64:
			bits = x
		default:
			return nil, fmt.Errorf("%s column: unexpected decoded value %T", c.Kind, v)
		}
		switch c.SQLType {
		case mysql.MYSQL_TYPE_TINY:
			return uint64(bits) & 0xff, nil
		case mysql.MYSQL_TYPE_SHORT:
			return uint64(bits) & 0xffff, nil
		case mysql.MYSQL_TYPE_INT24:
			return uint64(bits) & 0xffffff, nil
		case mysql.MYSQL_TYPE_LONG:
			return uint64(bits) & 0xffffffff, nil
		}
		return uint64(bits), nil
	case KindBit:
		if x, ok := v.(int64); ok {
			return uint64(x), nil
		}
	case KindFloat:
		if x, ok := v.(float32); ok {
			return x, nil
		}
	case KindDouble:
		if x, ok := v.(float64); ok {
			return x, nil
		}
	case KindDecimal:
		if x, ok := v.(decimal.Decimal); ok {
			return x.StringFixed(int32(c.Meta & 0xff)), nil
		}
	case KindDate, KindDateTime:
		if x, ok := v.(string); ok {
			return strings.Clone(x), nil
		}
	case KindTime:
		if x, ok := v.(string); ok {
			return timeWithFraction(c, x), nil
		}
	case KindTimestamp:
		if x, ok := v.(string); ok {
			return timestampRFC3339(x), nil
		}
	case KindEnum:
		if x, ok := v.(int64); ok {
			if x == 0 {
				return "", nil // the "invalid value" member MySQL stores as 0
			}
			if int(x) <= len(c.Values) {
				return c.Values[x-1], nil
			}
			return nil, fmt.Errorf("enum index %d out of range (%d members)", x, len(c.Values))
		}
	case KindSet:
		if x, ok := v.(int64); ok {
			var b strings.Builder
			for i, m := range c.Values {
				if x&(1<<uint(i)) != 0 {
					if b.Len() > 0 {
						b.WriteByte(',')
					}
					b.WriteString(m)
				}
			}
			return b.String(), nil
		}
	case KindJSON:
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		case []byte:
			b = x
		case *replication.JsonDiff:
			// binlog_row_value_options=PARTIAL_JSON logs what changed in
			// the document, not the document: no after image to deliver.
			return nil, fmt.Errorf("partial JSON update (%s at %s): the source logs JSON updates as diffs (binlog_row_value_options=PARTIAL_JSON); run SET GLOBAL binlog_row_value_options='' on the source", x.Op, x.Path)
		default:
			return nil, fmt.Errorf("json column: unexpected decoded value %T", v)
		}
		return jsonText(c, b)
	case KindUUID:
		b, err := binaryValue(c, v)
		if err != nil {
			return nil, err
		}
		if len(b) != 16 {
			return nil, fmt.Errorf("uuid value of %d bytes", len(b))
		}
		// The binary log carries the bytes in text order (the storage
		// engine's index-friendly swap is not logged).
		return uuid.UUID(b).String(), nil
	case KindInet:
		b, err := binaryValue(c, v)
		if err != nil {
			return nil, err
		}
		return formatInet(b)
	case KindBytes, KindGeometry:
		return binaryValue(c, v)
	case KindString:
		switch x := v.(type) {
		case string:
			return toUTF8(c.Charset, []byte(x))
		case []byte:
			return toUTF8(c.Charset, x)
		}
	}
	return nil, fmt.Errorf("%s column: unexpected decoded value %T", c.Kind, v)
}

// binaryValue copies a bytes value, restoring the trailing zero bytes the
// binary log strips from BINARY(n).
func binaryValue(c *Column, v any) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = bytes.Clone(x)
	default:
		return nil, fmt.Errorf("want bytes, got %T", v)
	}
	if n := binaryPadLength(c); n > len(b) {
		b = append(b, make([]byte, n-len(b))...)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// jsonText returns the JSON text of a JSON column's value. MySQL's binary
// JSON decodes to valid JSON text, an empty value meaning JSON null (rows
// written before a NOT NULL JSON column was added). MariaDB's JSON is
// text whose validity a CHECK constraint enforces, unless checks were off
// when it was written (check_constraint_checks=0): such a value is
// delivered as a JSON string of its text, so the output is always JSON.
func jsonText(c *Column, b []byte) (string, error) {
	if c.SQLType == mysql.MYSQL_TYPE_JSON {
		if len(b) == 0 {
			return "null", nil
		}
		return string(b), nil
	}
	if !utf8Charset(c.Charset) {
		s, err := toUTF8(c.Charset, b)
		if err != nil {
			return "", err
		}
		b = []byte(s)
	}
	if json.Valid(b) {
		return string(b), nil
	}
	return string(appendString(nil, string(b))), nil
}

// utf8Charset reports whether text of charset cs is UTF-8 already.
func utf8Charset(cs string) bool { return cs == "utf8mb4" || cs == "utf8mb3" || cs == "utf8" }

// binaryPadLength is the declared length of a BINARY(n) column (and of
// MariaDB's UUID, INET6 and INET4, stored as BINARY(16) and BINARY(4)),
// whose trailing zero bytes the binary log strips; 0 for other columns.
func binaryPadLength(c *Column) int {
	if c.SQLType != mysql.MYSQL_TYPE_STRING {
		return 0
	}
	switch c.Kind {
	case KindBytes, KindUUID, KindInet:
	default:
		return 0
	}
	if c.Meta >= 256 {
		b0, b1 := byte(c.Meta>>8), byte(c.Meta&0xff)
		if b0&0x30 != 0x30 {
			return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
		}
		return int(b1)
	}
	return int(c.Meta)
}

// timeWithFraction gives a TIME value the column's fractional digits:
// go-mysql drops them when they are all zero.
func timeWithFraction(c *Column, s string) string {
	if c.SQLType != mysql.MYSQL_TYPE_TIME2 || c.Meta == 0 || c.Meta > 6 || strings.IndexByte(s, '.') >= 0 {
		return strings.Clone(s)
	}
	return s + "." + "000000"[:c.Meta]
}

// timestampRFC3339 turns go-mysql's "YYYY-MM-DD HH:MM:SS[.f]" (already in
// UTC) into RFC 3339 with a Z; zero timestamps stay as MySQL writes them.
func timestampRFC3339(s string) string {
	if strings.HasPrefix(s, "0000-00-00") || len(s) < 19 {
		return strings.Clone(s)
	}
	return s[:10] + "T" + s[11:] + "Z"
}

// formatInet writes MariaDB's text form of an INET4 (4 bytes) or INET6 (16
// bytes) value: RFC 5952 (the first longest run of two or more zero groups
// shortened to ::), except that, as inet_ntop and MariaDB do, an
// IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address ends
// in dotted form.
func formatInet(b []byte) (string, error) {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case 16:
	default:
		return "", fmt.Errorf("inet value of %d bytes", len(b))
	}
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		best = -1
	}
	var out []byte
	for i := 0; i < 8; i++ {
		if i == best {
			out = append(out, ':')
			if i == 0 {
				out = append(out, ':')
			}
			i += bestLen - 1
			continue
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			return string(netip.AddrFrom4([4]byte(b[12:])).AppendTo(out)), nil
		}
		out = strconv.AppendUint(out, uint64(w[i]), 16)
		if i < 7 {
			out = append(out, ':')
		}
	}
	return string(out), nil
}
