package wire

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// EnvelopeVersion is the envelope's source.version: the version of Puma's
// envelope format (Debezium writes its connector's release there).
const EnvelopeVersion = "2.0"

// EnvelopeFlags are the envelope's options, as a sender's config sets
// them. The guest passes them to the envelope host function in bits 8 and
// up of its sep argument, so the host renders what the guest would; a
// module built before the options existed passes 0, the defaults.
type EnvelopeFlags uint32

// The envelope options; the zero value of each is the default.
const (
	// EnvDeleteCreate renders an update that changes the key as a
	// delete of the old key and a create of the new one (key_change =
	// "delete_create"), as Debezium does; otherwise it is one "u".
	EnvDeleteCreate EnvelopeFlags = 1 << iota
	// EnvTombstones follows every delete with a tombstone (tombstones =
	// true), for Kafka compaction.
	EnvTombstones
	// EnvDecimalDouble writes DECIMAL as a JSON number (decimal =
	// "double"), not as an exact string.
	EnvDecimalDouble
	// EnvTimeMicros writes DATE as days since the epoch, TIME as
	// microseconds, DATETIME and TIMESTAMP as microseconds since the
	// epoch (time = "micros"), not as ISO 8601 strings.
	EnvTimeMicros
	// EnvBinaryHex writes bytes as hex (binary = "hex"), not base64.
	EnvBinaryHex
	// EnvWithSchema wraps each envelope as {"schema":…,"payload":…}
	// (envelope = "with_schema").
	EnvWithSchema

	envFlagsAll = EnvDeleteCreate | EnvTombstones | EnvDecimalDouble | EnvTimeMicros | EnvBinaryHex | EnvWithSchema
)

// Valid reports whether f holds only known flags.
func (f EnvelopeFlags) Valid() bool { return f&^envFlagsAll == 0 }

// Connector is the envelope's source.connector for a transaction with
// this GTID: "mariadb" for a MariaDB GTID (domain-server-sequence, which
// MariaDB logs for every transaction), "mysql" otherwise.
func Connector(gtid string) string {
	if gtid == "" || strings.IndexByte(gtid, ':') >= 0 {
		return "mysql"
	}
	return "mariadb"
}

// Snapshot is the envelope's source.snapshot for a change of op in the
// transaction txID: "incremental" for a row an incremental snapshot read
// (its transaction is "incremental:<chunk>"), "true" for one an initial
// snapshot read, "false" for a streamed change.
func Snapshot(op Op, txID string) string {
	switch {
	case op != OpRead:
		return "false"
	case strings.HasPrefix(txID, "incremental:"):
		return "incremental"
	}
	return "true"
}

// AppendJSONBytes appends b as a JSON string, base64 or, with
// EnvBinaryHex, hex.
func AppendJSONBytes(dst, b []byte, f EnvelopeFlags) []byte {
	dst = append(dst, '"')
	if f&EnvBinaryHex != 0 {
		dst = hex.AppendEncode(dst, b)
	} else {
		dst = base64.StdEncoding.AppendEncode(dst, b)
	}
	return append(dst, '"')
}

// AppendJSONDecimal appends DECIMAL text s as a string or, with
// EnvDecimalDouble, as the nearest double.
func AppendJSONDecimal(dst []byte, s string, f EnvelopeFlags) []byte {
	if f&EnvDecimalDouble != 0 {
		if d, err := strconv.ParseFloat(s, 64); err == nil {
			return AppendJSONFloat(dst, d, 64)
		}
	}
	return AppendJSONString(dst, s)
}

// AppendJSONDate appends DATE text (YYYY-MM-DD) as a string or, with
// EnvTimeMicros, as days since 1970-01-01; a zero or partial date is
// then null, as Debezium writes it.
func AppendJSONDate(dst []byte, s string, f EnvelopeFlags) []byte {
	if f&EnvTimeMicros == 0 {
		return AppendJSONString(dst, s)
	}
	y, m, d, ok := parseDate(s)
	if !ok {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, daysFromCivil(y, m, d), 10)
}

// AppendJSONTime appends TIME text ([-]HHH:MM:SS[.ffffff]) as a string
// or, with EnvTimeMicros, as signed microseconds.
func AppendJSONTime(dst []byte, s string, f EnvelopeFlags) []byte {
	if f&EnvTimeMicros == 0 {
		return AppendJSONString(dst, s)
	}
	neg := strings.HasPrefix(s, "-")
	us, ok := parseClock(strings.TrimPrefix(s, "-"), 838)
	if !ok {
		return append(dst, "null"...)
	}
	if neg {
		us = -us
	}
	return strconv.AppendInt(dst, us, 10)
}

// AppendJSONDateTime appends DATETIME text (YYYY-MM-DD HH:MM:SS[.ffffff])
// or TIMESTAMP text (RFC 3339 in UTC) as a string or, with EnvTimeMicros,
// as microseconds since the epoch (a DATETIME read as UTC); a zero or
// partial date is then null.
func AppendJSONDateTime(dst []byte, s string, f EnvelopeFlags) []byte {
	if f&EnvTimeMicros == 0 {
		return AppendJSONString(dst, s)
	}
	s = strings.TrimSuffix(s, "Z")
	if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') {
		return append(dst, "null"...)
	}
	y, m, d, ok := parseDate(s[:10])
	if !ok {
		return append(dst, "null"...)
	}
	us, ok := parseClock(s[11:], 23)
	if !ok {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, daysFromCivil(y, m, d)*86_400_000_000+us, 10)
}

// parseDate reads YYYY-MM-DD; a zero month or day is not a date.
func parseDate(s string) (y, m, d int64, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := decimalDigits(s[0:4])
	m, ok2 := decimalDigits(s[5:7])
	d, ok3 := decimalDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseClock reads H+:MM:SS[.f+] as microseconds, hours up to maxHours.
func parseClock(s string, maxHours int64) (int64, bool) {
	hh, rest, ok := strings.Cut(s, ":")
	if !ok || len(rest) < 5 || rest[2] != ':' {
		return 0, false
	}
	h, ok1 := decimalDigits(hh)
	mi, ok2 := decimalDigits(rest[0:2])
	se, ok3 := decimalDigits(rest[3:5])
	if !ok1 || !ok2 || !ok3 || h > maxHours || mi > 59 || se > 59 {
		return 0, false
	}
	us := ((h*60+mi)*60 + se) * 1_000_000
	if frac := rest[5:]; frac != "" {
		if frac[0] != '.' || len(frac) > 7 || len(frac) < 2 {
			return 0, false
		}
		f, ok := decimalDigits(frac[1:])
		if !ok {
			return 0, false
		}
		for range 7 - len(frac) {
			f *= 10
		}
		us += f
	}
	return us, true
}

// decimalDigits parses s, at most 9 ASCII digits, as a number.
func decimalDigits(s string) (int64, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
