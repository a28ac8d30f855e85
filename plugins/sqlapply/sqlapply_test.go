package sqlapply

import (
	"fmt"
	"strconv"
	"strings"
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

// answer is a target that does what it is asked at once: every
// statement affects nothing, every copy copies its rows, and no position
// is stored.
func answer(q *wire.SQLRequest) ([]byte, error) {
	switch q.Op {
	case wire.SQLExec, wire.SQLExecCommit:
		return wire.AppendSQLExecResult(nil, make([]int64, len(q.Statements))), nil
	case wire.SQLCopyChanges:
		return wire.AppendSQLExecResult(nil, []int64{int64(len(q.Changes))}), nil
	case wire.SQLQuery:
		return wire.AppendSQLQueryResult(nil, false, nil), nil
	}
	return nil, nil
}

// BenchmarkSendGroup measures the sender's own work for a group of 16
// transactions of 100 narrow rows, the target answering at once.
func BenchmarkSendGroup(b *testing.B) {
	sdktest.SQL(answer)
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

// TestCopyRequests checks what a group sends to a PostgreSQL target: the
// call's transaction, one copy_changes creating the staging table and
// naming each image in order (an update changing its key as a delete of
// the old and an upsert of the new, in the batch of the group that holds
// it), then the merge and the position in one exec_commit. When a key
// recurs the rows are numbered and the merge takes each key's last;
// when none does the merge reads the staging table as it is, and
// without deletes the rows carry no number or operation. Inserts alone
// are copied into the table tentatively first: staged and merged only
// when the target refused the copy for a key it held.
func TestCopyRequests(t *testing.T) {
	var got []string
	held := false // the target holds a key of the tentative copy
	sdktest.SQL(func(q *wire.SQLRequest) ([]byte, error) {
		if q.Tentative && held {
			got = append(got, "7 tentative, refused")
			return wire.AppendSQLExecResult(nil, []int64{-1}), nil
		}
		line := strconv.Itoa(int(q.Op))
		for _, st := range q.Statements {
			line += " | " + st.SQL
		}
		for _, c := range q.Changes {
			line += fmt.Sprintf(" %d/%d/%v", c.Batch, c.Change, c.After)
			if c.Mark != 0 {
				line += "/" + string(rune(c.Mark))
			}
		}
		if q.Op == wire.SQLCopyChanges {
			line += fmt.Sprintf(" cols=%v numbered=%v", q.Columns, q.Numbered)
		}
		if q.Tentative {
			line += " tentative"
		}
		got = append(got, line)
		return answer(q)
	})
	defer sdktest.SQL(nil)
	if err := sdktest.InitSender(`{"target":"t","dialect":"postgres"}`); err != nil {
		t.Fatal(err)
	}
	kv := &sdktest.Table{DB: "d", Name: "kv", Columns: []sdk.Column{{Name: "k", Kind: sdk.KindInt}, {Name: "v", Kind: sdk.KindString}}}
	numbered := `CREATE TEMPORARY TABLE "puma_stage_0" ON COMMIT DROP AS SELECT NULL::bigint AS puma_seq, NULL::text AS puma_op, "k", "v" FROM "kv" WITH NO DATA | ` +
		`COPY "puma_stage_0" (puma_seq, puma_op, "k", "v") FROM STDIN`
	upsert := ` ON CONFLICT ("k") DO UPDATE SET "v" = EXCLUDED."v" | ` + postgres{}.positionUpsert(`"puma_positions"`)
	inserts := [][]sdktest.Change{{sdktest.Insert(kv, int64(1), "a"), sdktest.Insert(kv, int64(2), "b")}, {sdktest.Insert(kv, int64(3), "c")}}
	staged := `7 | CREATE TEMPORARY TABLE "puma_stage_0" ON COMMIT DROP AS SELECT "k", "v" FROM "kv" WITH NO DATA | COPY "puma_stage_0" ("k", "v") FROM STDIN` +
		` 0/0/true 0/1/true 1/0/true cols=[0 1] numbered=false`
	for _, tc := range []struct {
		name  string
		held  bool
		group [][]sdktest.Change
		want  []string
	}{{
		name: "a key recurs",
		group: [][]sdktest.Change{
			{sdktest.Insert(kv, int64(1), "a"), sdktest.Insert(kv, int64(2), "b")},
			{sdktest.Update(kv, []any{int64(1), "a"}, []any{int64(1), "A"}), sdktest.Update(kv, []any{int64(2), "b"}, []any{int64(3), "b"}), sdktest.Delete(kv, int64(1), "A")},
		},
		want: []string{
			"1",
			"7 | " + numbered + ` 0/0/true/u 0/1/true/u 1/0/true/u 1/1/false/d 1/1/true/u 1/2/false/d cols=[0 1] numbered=true`,
			`8 | DELETE FROM "kv" USING (SELECT DISTINCT ON ("k") * FROM "puma_stage_0" ORDER BY "k", puma_seq DESC) AS l WHERE l.puma_op = 'd' AND "kv"."k" = l."k" | ` +
				`INSERT INTO "kv" ("k", "v") SELECT "k", "v" FROM (SELECT DISTINCT ON ("k") * FROM "puma_stage_0" ORDER BY "k", puma_seq DESC) AS l WHERE l.puma_op = 'u'` + upsert,
		},
	}, {
		name: "every key once, a delete",
		group: [][]sdktest.Change{
			{sdktest.Insert(kv, int64(1), "a")},
			{sdktest.Update(kv, []any{int64(2), "b"}, []any{int64(3), "b"}), sdktest.Delete(kv, int64(4), "d")},
		},
		want: []string{
			"1",
			"7 | " + numbered + ` 0/0/true/u 1/0/false/d 1/0/true/u 1/1/false/d cols=[0 1] numbered=true`,
			`8 | DELETE FROM "kv" USING "puma_stage_0" AS l WHERE l.puma_op = 'd' AND "kv"."k" = l."k" | ` +
				`INSERT INTO "kv" ("k", "v") SELECT "k", "v" FROM "puma_stage_0" AS l WHERE l.puma_op = 'u'` + upsert,
		},
	}, {
		name: "every key once, upserts",
		group: [][]sdktest.Change{
			{sdktest.Insert(kv, int64(1), "a"), sdktest.Insert(kv, int64(2), "b")},
			{sdktest.Update(kv, []any{int64(3), "c"}, []any{int64(3), "C"})},
		},
		want: []string{
			"1",
			staged,
			`8 | INSERT INTO "kv" ("k", "v") SELECT "k", "v" FROM "puma_stage_0"` + upsert,
		},
	}, {
		name:  "inserts new to the table",
		group: inserts,
		want: []string{
			"1",
			`7 | COPY "kv" ("k", "v") FROM STDIN 0/0/true 0/1/true 1/0/true cols=[0 1] numbered=false tentative`,
			"8 | " + postgres{}.positionUpsert(`"puma_positions"`),
		},
	}, {
		name:  "inserts of a key the table holds",
		held:  true,
		group: inserts,
		want: []string{
			"1",
			"7 tentative, refused",
			staged,
			`8 | INSERT INTO "kv" ("k", "v") SELECT "k", "v" FROM "puma_stage_0"` + upsert,
		},
	}} {
		got, held = nil, tc.held
		if err := sdktest.SendGroup(tc.group...); err != nil {
			t.Fatal(err)
		}
		if g, w := strings.Join(got, "\n"), strings.Join(tc.want, "\n"); g != w {
			t.Errorf("%s: requests:\n%s\nwant:\n%s", tc.name, g, w)
		}
	}
}

func TestBulkConfig(t *testing.T) {
	sdktest.SQL(answer)
	defer sdktest.SQL(nil)
	for _, tc := range []struct{ config, fail string }{
		{`{"target":"t","dialect":"postgres","bulk":"insert"}`, ""},
		{`{"target":"t","dialect":"mysql"}`, ""},
		{`{"target":"t","dialect":"mysql","bulk":"copy"}`, `bulk "copy" needs dialect postgres, not "mysql"`},
		{`{"target":"t","dialect":"postgres","bulk":"load"}`, `bulk "load": want copy or insert`},
	} {
		err := sdktest.InitSender(tc.config)
		if tc.fail == "" && err != nil || tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
			t.Errorf("%s: error %v, want one holding %q", tc.config, err, tc.fail)
		}
	}
}
