package wire

import (
	"strconv"
	"testing"
	"time"
)

// The time = "micros" forms agree with the time package, and what is no
// date (zero and partial dates) is null.
func TestEnvelopeTimeMicros(t *testing.T) {
	at := func(s string) string {
		tm, err := time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return itoa(tm.UnixMicro())
	}
	for _, tc := range []struct {
		name string
		f    func([]byte, string, EnvelopeFlags) []byte
		in   string
		want string
	}{
		{"date", AppendJSONDate, "1970-01-01", "0"},
		{"date", AppendJSONDate, "2026-11-25", itoa(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
		{"date before 1970", AppendJSONDate, "1000-03-01", itoa(time.Date(1000, 3, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
		{"zero date", AppendJSONDate, "0000-00-00", "null"},
		{"partial date", AppendJSONDate, "2024-00-15", "null"},
		{"time", AppendJSONTime, "10:00:00.5", "36000500000"},
		{"negative time", AppendJSONTime, "-838:59:59.000000", "-3020399000000"},
		{"datetime", AppendJSONDateTime, "2026-11-25 10:00:00.123456", at("2026-11-25 10:00:00.123456")},
		{"timestamp", AppendJSONDateTime, "2026-11-25T10:00:00.25Z", at("2026-11-25 10:00:00.25")},
		{"zero datetime", AppendJSONDateTime, "0000-00-00 00:00:00", "null"},
	} {
		if got := string(tc.f(nil, tc.in, EnvTimeMicros)); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.name, tc.in, got, tc.want)
		}
		if got := string(tc.f(nil, tc.in, 0)); got != `"`+tc.in+`"` {
			t.Errorf("%s %s as ISO: %s", tc.name, tc.in, got)
		}
	}
	if got := string(AppendJSONDecimal(nil, "-12.50", EnvDecimalDouble)); got != "-12.5" {
		t.Errorf("decimal as double: %s", got)
	}
	if got := string(AppendJSONBytes(nil, []byte{0, 0xff}, EnvBinaryHex)); got != `"00ff"` {
		t.Errorf("bytes as hex: %s", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
