package sqlapply

import (
	"strconv"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

// narrow is the benchmark's narrow table, as the binary log describes it.
var narrow = &sdktest.Table{DB: "bench", Name: "narrow", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindUint, SQLType: tLongLong, Unsigned: true},
	{Name: "account", Kind: sdk.KindInt, SQLType: tLong},
	{Name: "status", Kind: sdk.KindInt, SQLType: tTiny},
	{Name: "amount", Kind: sdk.KindDecimal, SQLType: 246, Meta: 12<<8 | 2},
	{Name: "ratio", Kind: sdk.KindDouble, SQLType: 5, Nullable: true},
	{Name: "name", Kind: sdk.KindString, SQLType: 15, Meta: 256, Charset: "utf8mb4"},
	{Name: "email", Kind: sdk.KindString, SQLType: 15, Meta: 384, Charset: "utf8mb4", Nullable: true},
	{Name: "city", Kind: sdk.KindString, SQLType: 15, Meta: 128, Charset: "utf8mb4"},
	{Name: "created", Kind: sdk.KindDateTime, SQLType: 18, Meta: 6},
	{Name: "updated", Kind: sdk.KindTimestamp, SQLType: 17, Meta: 3, Nullable: true},
	{Name: "state", Kind: sdk.KindEnum, SQLType: 254, Values: []string{"new", "paid", "shipped", "cancelled"}},
	{Name: "ts", Kind: sdk.KindDateTime, SQLType: 18, Meta: 6},
}}

func narrowTxs(n, rows int) [][]sdktest.Change {
	txs := make([][]sdktest.Change, n)
	id := uint64(0)
	for i := range txs {
		for range rows {
			id++
			s := strconv.FormatUint(id, 10)
			txs[i] = append(txs[i], sdktest.Insert(narrow, id, int64(id%100003), int64(id%7), s+".25", float64(id)/7,
				"customer-"+s+"-abcdefghijklmnopqrstuvwxyz", "user"+s+"@example.com", "Dakar",
				"2026-01-01 00:00:00.000000", "2026-01-01T00:00:00.125Z", "paid", "2026-12-07 00:00:00.000000"))
		}
	}
	return txs
}

// BenchmarkSendGroup measures the sender's own work for a group of 16
// transactions of 100 narrow rows, the target answering at once.
func BenchmarkSendGroup(b *testing.B) {
	sdktest.SQL(func(q *wire.SQLRequest) ([]byte, error) {
		switch q.Op {
		case wire.SQLExec:
			return wire.AppendSQLExecResult(nil, make([]int64, len(q.Statements))), nil
		case wire.SQLQuery:
			return wire.AppendSQLQueryResult(nil, false, nil), nil
		}
		return nil, nil
	})
	defer sdktest.SQL(nil)
	if err := sdktest.InitSender(`{"target":"t","dialect":"postgres"}`); err != nil {
		b.Fatal(err)
	}
	txs := narrowTxs(16, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := sdktest.SendGroup(txs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1600)/b.Elapsed().Seconds(), "rows/s")
}

func TestAddsColumns(t *testing.T) {
	for _, tc := range []struct {
		stmt string
		want bool
	}{
		{"ALTER TABLE app.t ADD COLUMN late DECIMAL(12,3) NULL", true},
		{"alter table t add c int", true},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT DEFAULT NULL, ADD COLUMN d TEXT", true},
		{"ALTER TABLE t ADD COLUMN c INT NOT NULL", false},
		{"ALTER TABLE t ADD COLUMN c INT DEFAULT 5", false},
		{"ALTER TABLE t ADD COLUMN c VARCHAR(9) NULL DEFAULT 'x'", false},
		{"ALTER TABLE t ADD COLUMN c INT AS (a + 1) VIRTUAL", false},
		{"ALTER TABLE t ADD COLUMN c BIGINT AUTO_INCREMENT UNIQUE", false},
		{"ALTER TABLE t ADD INDEX (c)", false},
		{"ALTER TABLE t ADD COLUMN c INT, DROP COLUMN d", false},
		{"ALTER TABLE t MODIFY c BIGINT", false},
	} {
		if got := addsColumns(tc.stmt); got != tc.want {
			t.Errorf("addsColumns(%q) = %v, want %v", tc.stmt, got, tc.want)
		}
	}
}
