package wire

import (
	"encoding/json"
	"net/netip"
	"unicode/utf8"
	"unsafe"
)

// CheckText reports why b, the value of a column of variable-length kind
// k, is not a value of that kind as section 3.6 of ABI.md defines it; ""
// when it is. members are an ENUM or SET column's members (nil when
// unknown: any text then fits). The SDK checks what a handler sets with
// it, and the host every value a handler's verdict replaces, so that a
// change passed on never carries a value its column's kind cannot hold.
//
// Bytes and geometry values are not looked into, nor are a DECIMAL's
// digits held to its column's precision and scale: the check is of the
// kind, not of the column's declared size. It allocates nothing.
func CheckText(k Kind, members []string, b []byte) string {
	switch k {
	case KindBytes, KindGeometry:
		return ""
	case KindString:
		if !utf8.Valid(b) {
			return "not valid UTF-8"
		}
	case KindDecimal:
		if !isDecimal(b) {
			return "not a decimal number [-]digits[.digits]"
		}
	case KindDate:
		if len(b) != 10 || !isDate(b) {
			return "not a date YYYY-MM-DD"
		}
	case KindTime:
		if !isTime(b) {
			return "not a time [-]HH:MM:SS[.ffffff]"
		}
	case KindDateTime:
		if len(b) < 19 || !isDate(b[:10]) || b[10] != ' ' || !isClock(b[11:19]) || !isFraction(b[19:]) {
			return "not a datetime YYYY-MM-DD HH:MM:SS[.ffffff]"
		}
	case KindTimestamp:
		if !isTimestamp(b) {
			return "not a timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z (UTC) or 0000-00-00 00:00:00[.ffffff]"
		}
	case KindEnum:
		if !utf8.Valid(b) {
			return "not valid UTF-8"
		}
		// "" is the member MariaDB stores for an invalid value.
		if members != nil && len(b) > 0 && !member(members, b) {
			return "not a member of the ENUM"
		}
	case KindSet:
		if !utf8.Valid(b) {
			return "not valid UTF-8"
		}
		if members != nil && len(b) > 0 {
			for rest := b; ; {
				i := 0
				for i < len(rest) && rest[i] != ',' {
					i++
				}
				if !member(members, rest[:i]) {
					return "not members of the SET joined by ','"
				}
				if i == len(rest) {
					break
				}
				rest = rest[i+1:]
			}
		}
	case KindJSON:
		// The binary log's empty JSON (written as null) is kept as "".
		if len(b) > 0 && !json.Valid(b) {
			return "not valid JSON"
		}
	case KindUUID:
		if !isUUID(b) {
			return "not a UUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in lower-case hex"
		}
	case KindInet:
		a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
		if err != nil || a.Zone() != "" {
			return "not an IPv4 or IPv6 address"
		}
	default:
		return "not a value of a variable-length kind"
	}
	return ""
}

func member(members []string, b []byte) bool {
	for _, m := range members {
		if m == string(b) {
			return true
		}
	}
	return false
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isDecimal: an optional '-', at least one digit, and optionally a '.'
// followed by at least one digit, as MariaDB writes a DECIMAL.
func isDecimal(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	if i == len(b) {
		return true
	}
	return b[i] == '.' && i+1 < len(b) && digits(b[i+1:])
}

// two returns the two-digit number at b[0:2], -1 if not digits.
func two(b []byte) int {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return -1
	}
	return int(b[0]-'0')*10 + int(b[1]-'0')
}

// isDate: YYYY-MM-DD with a month 0-12 and a day 0-31 (MariaDB keeps
// zero dates and zero parts).
func isDate(b []byte) bool {
	if len(b) != 10 || !digits(b[:4]) || b[4] != '-' || b[7] != '-' {
		return false
	}
	m, d := two(b[5:7]), two(b[8:10])
	return m >= 0 && m <= 12 && d >= 0 && d <= 31
}

// isClock: HH:MM:SS of a day.
func isClock(b []byte) bool {
	if len(b) != 8 || b[2] != ':' || b[5] != ':' {
		return false
	}
	h, m, s := two(b[0:2]), two(b[3:5]), two(b[6:8])
	return h >= 0 && h <= 23 && m >= 0 && m <= 59 && s >= 0 && s <= 59
}

// isFraction: empty, or '.' and 1 to 6 digits.
func isFraction(b []byte) bool {
	return len(b) == 0 || len(b) >= 2 && len(b) <= 7 && b[0] == '.' && digits(b[1:])
}

// isTime: [-]HH:MM:SS[.ffffff] with up to 838 hours, as MariaDB's TIME.
func isTime(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	h := 0
	for h < len(b) && b[h] >= '0' && b[h] <= '9' {
		h++
	}
	if h < 2 || h > 3 || len(b) < h+6 || b[h] != ':' || b[h+3] != ':' {
		return false
	}
	hours := 0
	for _, c := range b[:h] {
		hours = hours*10 + int(c-'0')
	}
	m, s := two(b[h+1:h+3]), two(b[h+4:h+6])
	return hours <= 838 && m >= 0 && m <= 59 && s >= 0 && s <= 59 && isFraction(b[h+6:])
}

// isTimestamp: RFC 3339 in UTC as the engine writes a TIMESTAMP, or
// MariaDB's zero timestamp.
func isTimestamp(b []byte) bool {
	const zero = "0000-00-00 00:00:00"
	if len(b) >= len(zero) && string(b[:len(zero)]) == zero {
		return isFraction(b[len(zero):])
	}
	if len(b) < 20 || b[len(b)-1] != 'Z' || !isDate(b[:10]) || b[10] != 'T' || !isClock(b[11:19]) || !isFraction(b[19:len(b)-1]) {
		return false
	}
	m, d := two(b[5:7]), two(b[8:10])
	return m >= 1 && d >= 1
}

// isUUID: 8-4-4-4-12 lower-case hex digits, as MariaDB writes a UUID.
func isUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
