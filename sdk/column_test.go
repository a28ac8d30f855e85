package sdk

import "testing"

// TestColumnSizes: precision and scale, fractional digits and lengths
// come from the binary-log type and metadata the host sends, and are
// unknown (ok false) where they do not apply.
func TestColumnSizes(t *testing.T) {
	type sizes struct {
		prec, scale int
		decOK       bool
		frac        int
		fracOK      bool
		bytes       int64
		bytesOK     bool
		chars       int
		charsOK     bool
	}
	tests := []struct {
		name string
		c    Column
		want sizes
	}{
		{"DECIMAL(10,2)", Column{Kind: KindDecimal, SQLType: 246, Meta: 10<<8 | 2}, sizes{prec: 10, scale: 2, decOK: true}},
		{"DECIMAL(65,30)", Column{Kind: KindDecimal, SQLType: 246, Meta: 65<<8 | 30}, sizes{prec: 65, scale: 30, decOK: true}},
		{"added decimal", Column{Kind: KindDecimal}, sizes{}},
		{"DATETIME(3)", Column{Kind: KindDateTime, SQLType: 18, Meta: 3}, sizes{frac: 3, fracOK: true}},
		{"TIMESTAMP(6)", Column{Kind: KindTimestamp, SQLType: 17, Meta: 6}, sizes{frac: 6, fracOK: true}},
		{"TIME", Column{Kind: KindTime, SQLType: 19}, sizes{fracOK: true}},
		{"old DATETIME", Column{Kind: KindDateTime, SQLType: 12}, sizes{fracOK: true}},
		{"DATE", Column{Kind: KindDate, SQLType: 10}, sizes{}},
		{"VARCHAR(20) utf8mb4", Column{Kind: KindString, SQLType: 15, Meta: 80, Charset: "utf8mb4"}, sizes{bytes: 80, bytesOK: true, chars: 20, charsOK: true}},
		{"VARCHAR(20) latin1", Column{Kind: KindString, SQLType: 15, Meta: 20, Charset: "latin1"}, sizes{bytes: 20, bytesOK: true, chars: 20, charsOK: true}},
		{"CHAR(10) utf8mb4", Column{Kind: KindString, SQLType: 254, Meta: 0xfe28, Charset: "utf8mb4"}, sizes{bytes: 40, bytesOK: true, chars: 10, charsOK: true}},
		{"CHAR(255) utf8mb4", Column{Kind: KindString, SQLType: 254, Meta: 0xcefc, Charset: "utf8mb4"}, sizes{bytes: 1020, bytesOK: true, chars: 255, charsOK: true}},
		{"VARBINARY(16)", Column{Kind: KindBytes, SQLType: 15, Meta: 16, Charset: "binary"}, sizes{bytes: 16, bytesOK: true}},
		{"TEXT", Column{Kind: KindString, SQLType: 252, Meta: 2, Charset: "utf8mb4"}, sizes{bytes: 65535, bytesOK: true}},
		{"LONGBLOB", Column{Kind: KindBytes, SQLType: 252, Meta: 4}, sizes{bytes: 1<<32 - 1, bytesOK: true}},
		{"VARCHAR unknown charset", Column{Kind: KindString, SQLType: 15, Meta: 30, Charset: "filename"}, sizes{bytes: 30, bytesOK: true}},
		{"UUID", Column{Kind: KindUUID, SQLType: 254, Meta: 0xfe10}, sizes{}},
		{"INT", Column{Kind: KindInt, SQLType: 3}, sizes{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got sizes
			got.prec, got.scale, got.decOK = tc.c.Decimal()
			got.frac, got.fracOK = tc.c.FracDigits()
			got.bytes, got.bytesOK = tc.c.MaxBytes()
			got.chars, got.charsOK = tc.c.MaxChars()
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
