package hostabi_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testpg"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to check what the targets hold
)

// sqlEnv runs the sqlrun test sender against database targets.
type sqlEnv struct {
	t    *testing.T
	dir  string
	host *hostabi.Host
}

func newSQLEnv(t *testing.T, targets map[string]engine.Target) *sqlEnv {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sqlrun.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/sqlrun"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{Builtin: builtins(t), Targets: targets, Secrets: map[string]engine.Secret{"pw": "p4ss"}})
	return &sqlEnv{t: t, dir: dir, host: h}
}

type sqlStep = map[string]any

// run runs steps on target with the grant grants and returns the error.
func (e *sqlEnv) run(target string, grants map[string]any, steps ...sqlStep) error {
	e.t.Helper()
	return e.runBatch(target, grants, &engine.Batch{Seq: 1, Tx: &engine.Tx{ID: "0-1-1"}, Begin: true}, steps...)
}

// runBatch runs steps while sending b.
func (e *sqlEnv) runBatch(target string, grants map[string]any, b *engine.Batch, steps ...sqlStep) error {
	e.t.Helper()
	var ss []any
	for _, s := range steps {
		ss = append(ss, s)
	}
	s, err := e.host.NewSender(context.Background(), "t", plugin("sqlrun", filepath.Join(e.dir, "sqlrun.wasm"), map[string]any{"target": target, "steps": ss}, grants))
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Send(context.Background(), b)
}

func execStep(sqls ...string) sqlStep {
	var ss []any
	for _, s := range sqls {
		ss = append(ss, s)
	}
	return sqlStep{"op": "exec", "sql": ss}
}

func withArgs(s sqlStep, args ...[]any) sqlStep {
	var as []any
	for _, a := range args {
		as = append(as, a)
	}
	s["args"] = as
	return s
}

func failing(s sqlStep, fail, errno string) sqlStep {
	s["fail"], s["errno"] = fail, errno
	return s
}

func a(kind, value string) any { return map[string]any{"kind": kind, "value": value} }

func op(name string, more ...any) sqlStep {
	s := sqlStep{"op": name}
	for i := 0; i+1 < len(more); i += 2 {
		s[more[i].(string)] = more[i+1]
	}
	return s
}

// sqlCase is one dialect's statements for the shared capability test.
type sqlCase struct {
	kind    string
	target  engine.Target
	db      *sql.DB // the test's own connection to the target, to check
	create  string
	insert  string // 9 placeholders: id, dec, big, ts, dt, js, bin, txt, nul
	selects string // the row back, as text
	want    string
}

func testSQLCapability(t *testing.T, c sqlCase) {
	env := newSQLEnv(t, map[string]engine.Target{"tgt": c.target})
	grant := map[string]any{c.kind: []any{"tgt"}}
	bin := base64.StdEncoding.EncodeToString([]byte{0, 1, 0xfe, 0xff, '\''})
	ins := withArgs(execStep(c.insert, c.insert), []any{
		a("int", "1"), a("decimal", "12345678901234567890.123456789"), a("uint", "18446744073709551615"),
		a("timestamp", "2026-11-25T05:11:12.123456Z"), a("datetime", "2026-11-25 05:11:12.5"),
		a("json", `{"a": [1, 2.5, "x"]}`), a("bytes", bin), a("text", "it's ☃"), a("null", ""),
	}, []any{
		a("int", "2"), a("decimal", "-0.000000001"), a("uint", "0"),
		a("timestamp", "1970-01-01T00:00:01Z"), a("datetime", "1999-12-31 23:59:59"),
		a("json", `null`), a("bytes", ""), a("text", ""), a("null", ""),
	})
	ins["want"] = "1,1"
	// Everything in one transaction, the position read back inside it.
	err := env.run("tgt", grant,
		op("exec1", "sql", []any{c.create}),
		op("begin"),
		ins,
		op("query", "sql", []any{c.selects}, "want", c.want),
		op("commit"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after commit: %d, %v", n, err)
	}
	// A rollback leaves nothing; a failed statement names itself and
	// rolls its transaction back; commit after it fails.
	// Each statement of an exec counts its own rows, though they go to
	// the server together.
	counts := withArgs(execStep("UPDATE t SET nul = 1 WHERE id = "+ph(c.kind, 1)+";", "UPDATE t SET nul = 2", "DELETE FROM t WHERE id = 99"), []any{a("int", "1")})
	counts["want"] = "1,2,0"
	err = env.run("tgt", grant,
		op("begin"),
		counts,
		withArgs(execStep("DELETE FROM t WHERE id = "+ph(c.kind, 1)), []any{a("int", "1")}),
		op("rollback"),
		op("begin"),
		failing(withArgs(execStep("DELETE FROM t WHERE id = "+ph(c.kind, 1), "INSERT INTO nope VALUES (1)"), []any{a("int", "2")}), "nope", "invalid"),
		op("commit", "fail", "transaction has ended"),
		// exec1: its own transaction, atomic too.
		op("exec1", "sql", []any{"DELETE FROM t", "INSERT INTO nope VALUES (1)"}, "fail", "nope", "errno", "invalid"),
		op("query1", "sql", []any{"SELECT count(*) AS n FROM t"}, "want", "n=2"),
		op("query1", "sql", []any{"SELECT id FROM t WHERE id = 99"}, "want", "-"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// A transaction the instance leaves open is rolled back when it ends.
	if err := env.run("tgt", grant, op("begin"), execStep("DELETE FROM t")); err != nil {
		t.Fatal(err)
	}
	if err := c.db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after an abandoned transaction: %d, %v", n, err)
	}
	// Denied: a target not granted, and one of the other kind's name.
	err = env.run("other", grant, op("query1", "sql", []any{"SELECT 1"}, "fail", `target "other" is not granted`, "errno", "denied"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.run("tgt", map[string]any{}, op("query1", "sql", []any{"SELECT 1"})); err == nil || !strings.Contains(err.Error(), "grants = { postgres") {
		t.Fatalf("no grant: %v", err)
	}
}

func ph(kind string, i int) string {
	if kind == "postgres" {
		return "$" + string(rune('0'+i))
	}
	return "?"
}

func TestSQLMySQL(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE tgt", "CREATE USER 'puma'@'%' IDENTIFIED BY 'p4ss'", "GRANT ALL ON tgt.* TO 'puma'@'%'")
	db, err := sql.Open("mysql", "puma:p4ss@tcp("+srv.Addr()+")/tgt")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testSQLCapability(t, sqlCase{
		kind: "mysql",
		target: engine.Target{Kind: "mysql", Settings: map[string]any{
			"host": "127.0.0.1", "port": int64(srv.Port()), "user": "puma", "password_secret": "pw", "database": "tgt", "sslmode": "disable",
		}},
		db: db,
		create: "CREATE TABLE t (id INT PRIMARY KEY, d DECIMAL(30,9), big BIGINT UNSIGNED, ts TIMESTAMP(6) NULL, dt DATETIME(6), " +
			"js JSON, bin VARBINARY(10), txt VARCHAR(20) CHARACTER SET utf8mb4, nul INT)",
		insert:  "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		selects: "SELECT d, big, ts, dt, js, hex(bin) AS bin, txt, nul FROM t WHERE id = 1",
		want:    `d=12345678901234567890.123456789;big=18446744073709551615;ts=2026-11-25 05:11:12.123456;dt=2026-11-25 05:11:12.500000;js={"a": [1, 2.5, "x"]};bin=0001FEFF27;txt=it's ☃;nul=NULL`,
	})
}

func TestSQLPostgres(t *testing.T) {
	srv := testpg.Start(t, testpg.Options{})
	dsn := srv.CreateDB(t, "tgt")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testSQLCapability(t, sqlCase{
		kind: "postgres",
		target: engine.Target{Kind: "postgres", Settings: map[string]any{
			"port": int64(srv.Port()), "user": "postgres", "password_secret": "pw", "database": "tgt", "sslmode": "disable", "pool_size": int64(2),
		}},
		db: db,
		create: "CREATE TABLE t (id int PRIMARY KEY, d numeric(30,9), big numeric(20), ts timestamptz, dt timestamp(6), " +
			"js jsonb, bin bytea, txt text, nul int)",
		insert:  "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		selects: "SELECT d, big, ts, dt, js, bin, txt, nul FROM t WHERE id = 1",
		want:    `d=12345678901234567890.123456789;big=18446744073709551615;ts=2026-11-25 05:11:12.123456+00;dt=2026-11-25 05:11:12.5;js={"a": [1, 2.5, "x"]};bin=\x0001feff27;txt=it's ☃;nul=NULL`,
	})
}

// TestSQLPostgresCopy loads rows with op copy: every value the server
// gets is the one it would get as an argument, escapes and all, the rows
// are in the open transaction (a rollback takes them away), and what is
// not a COPY … FROM STDIN or not a PostgreSQL target is refused.
func TestSQLPostgresCopy(t *testing.T) {
	tgt, db := startPGTarget(t)
	env := newSQLEnv(t, map[string]engine.Target{"tgt": tgt})
	grant := map[string]any{"postgres": []any{"tgt"}}
	bin := base64.StdEncoding.EncodeToString([]byte{0, '\\', '\t', '\n', 0xff})
	rows := []any{
		a("int", "1"), a("decimal", "12345678901234567890.123456789"), a("uint", "18446744073709551615"),
		a("timestamp", "2026-11-25T05:11:12.123456Z"), a("datetime", "2026-11-25 05:11:12.5"),
		a("json", `{"a": "tab\tnew\nline \\ \"q\""}`), a("bytes", bin), a("text", "back\\slash\ttab\nnl\rcr \\N ☃"), a("float", "0.1"),
		a("int", "2"), a("decimal", "-0.000000001"), a("uint", "0"),
		a("timestamp", "1970-01-01T00:00:01Z"), a("datetime", "1999-12-31 23:59:59"),
		a("json", ""), a("bytes", ""), a("text", ""), a("null", ""),
	}
	copyStep := op("copy", "sql", []any{"COPY t (id, d, big, ts, dt, js, bin, txt, f) FROM STDIN"}, "width", 9, "args", []any{rows}, "want", "2")
	err := env.run("tgt", grant,
		op("exec1", "sql", []any{"CREATE TABLE t (id int PRIMARY KEY, d numeric(30,9), big numeric(20), ts timestamptz, dt timestamp(6), " +
			"js jsonb, bin bytea, txt text, f float8)"}),
		op("begin"), copyStep, op("rollback"),
		op("query1", "sql", []any{"SELECT count(*) AS n FROM t"}, "want", "n=0"),
		op("begin"), copyStep,
		op("query", "sql", []any{"SELECT d, big, ts, dt, js, bin, txt, f FROM t WHERE id = 1"},
			"want", `d=12345678901234567890.123456789;big=18446744073709551615;ts=2026-11-25 05:11:12.123456+00;dt=2026-11-25 05:11:12.5;js={"a": "tab\tnew\nline \\ \"q\""};bin=\x005c090aff;txt=back\slash`+"\ttab\nnl\rcr \\N ☃;f=0.1"),
		op("query", "sql", []any{"SELECT d, big, js, bin, txt, f FROM t WHERE id = 2"},
			"want", `d=-0.000000001;big=0;js=null;bin=\x;txt=;f=NULL`),
		op("commit"),
		// A bad value fails the copy and ends its transaction.
		op("begin"),
		op("copy", "sql", []any{"COPY t (id, d) FROM STDIN"}, "width", 2, "args", []any{[]any{a("int", "3"), a("text", "lots")}},
			"fail", "copy", "errno", "invalid"),
		op("commit", "fail", "transaction has ended"),
		op("begin"),
		op("copy", "sql", []any{"DELETE FROM t"}, "width", 1, "args", []any{[]any{a("int", "3")}}, "fail", "must be COPY", "errno", "invalid"),
		op("begin"),
		op("copy", "sql", []any{"COPY t (id) FROM STDIN"}, "width", 1, "args", []any{[]any{a("int", "1")}}, "fail", "duplicate key", "errno", "invalid"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after the copies: %d, %v", n, err)
	}
}

func TestSQLMySQLCopyRefused(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE tgt")
	env := newSQLEnv(t, map[string]engine.Target{"tgt": {Kind: "mysql", Settings: map[string]any{
		"port": int64(srv.Port()), "user": "root", "database": "tgt", "sslmode": "disable"}}})
	err := env.run("tgt", map[string]any{"mysql": []any{"tgt"}}, op("begin"),
		op("copy", "sql", []any{"COPY t (id) FROM STDIN"}, "width", 1, "args", []any{[]any{a("int", "1")}}, "fail", "only postgres targets take COPY", "errno", "invalid"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestSQLPostgresCopyChanges copies the images of the changes being sent,
// which the host writes: every kind exactly, numbered and marked rows,
// and refusals naming the row for a change or column out of range and a
// value absent from its image.
func TestSQLPostgresCopyChanges(t *testing.T) {
	tgt, _ := startPGTarget(t)
	env := newSQLEnv(t, map[string]engine.Target{"tgt": tgt})
	grant := map[string]any{"postgres": []any{"tgt"}}
	tbl := &engine.Table{DB: "shop", Name: "all", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "d", Kind: engine.KindDecimal}, {Name: "big", Kind: engine.KindUint},
		{Name: "ts", Kind: engine.KindTimestamp}, {Name: "dt", Kind: engine.KindDateTime}, {Name: "js", Kind: engine.KindJSON},
		{Name: "bin", Kind: engine.KindBytes}, {Name: "txt", Kind: engine.KindString}, {Name: "f", Kind: engine.KindFloat},
	}}
	tx := &engine.Tx{ID: "0-1-1"}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: tbl, Tx: tx, Seq: 1, After: []any{int64(1), "12345678901234567890.123456789", uint64(18446744073709551615),
			"2026-11-25T05:11:12.123456Z", "2026-11-25 05:11:12.5", `{"a": "tab\tnl\n \\"}`, []byte{0, '\\', '\t', 0xff}, "back\\slash\ttab\nnl \\N ☃", float32(0.1)}},
		{Op: engine.OpUpdate, Table: tbl, Tx: tx, Seq: 2,
			Before: []any{int64(2), "-0.000000001", uint64(0), nil, nil, "", []byte{}, "", nil},
			After:  []any{int64(3), "1", uint64(1), nil, nil, "", []byte{}, "", engine.Absent}},
	}}
	err := env.runBatch("tgt", grant, b,
		op("exec1", "sql", []any{"CREATE TABLE t (n bigint, m text, id int PRIMARY KEY, d numeric(30,9), big numeric(20), ts timestamptz, dt timestamp(6), " +
			"js jsonb, bin bytea, txt text, f real)"}),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t FROM STDIN"}, "width", 9, "columns", []any{0, 1, 2, 3, 4, 5, 6, 7, 8}, "numbered", true,
			"changes", []any{[]any{0, 1, 'u'}, []any{1, 0, 'd'}}, "want", "2"),
		op("query", "sql", []any{"SELECT n, m, d, big, ts, dt, js, bin, txt, f FROM t WHERE id = 1"},
			"want", `n=0;m=u;d=12345678901234567890.123456789;big=18446744073709551615;ts=2026-11-25 05:11:12.123456+00;dt=2026-11-25 05:11:12.5;js={"a": "tab\tnl\n \\"};bin=\x005c09ff;txt=back\slash`+"\ttab\nnl \\N ☃;f=0.1"),
		op("query", "sql", []any{"SELECT n, m, d, big, ts, js, bin, txt, f FROM t WHERE id = 2"},
			"want", `n=1;m=d;d=-0.000000001;big=0;ts=NULL;js=null;bin=\x;txt=;f=NULL`),
		op("commit"),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t (id) FROM STDIN"}, "width", 1, "columns", []any{0}, "changes", []any{[]any{2, 1, 0}},
			"fail", "row 0: change 2 of a batch of 2", "errno", "invalid"),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t (id) FROM STDIN"}, "width", 1, "columns", []any{9}, "changes", []any{[]any{0, 1, 0}},
			"fail", "row 0: column 9 of shop.all", "errno", "invalid"),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t (id, f) FROM STDIN"}, "width", 2, "columns", []any{0, 8}, "changes", []any{[]any{0, 1, 0}, []any{1, 1, 0}},
			"fail", "row 1: column f of shop.all is absent from the after image", "errno", "invalid"),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t (id) FROM STDIN"}, "width", 1, "columns", []any{0}, "changes", []any{[]any{0, 0, 0}},
			"fail", "has no before image", "errno", "invalid"),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// TestSQLPostgresExecCommit runs a transaction in two requests: a
// copy_changes whose statement before the COPY creates the staging table
// it fills, and an exec_commit merging it and committing. A statement
// failing in either, or the commit itself (a deferred constraint), ends
// the transaction with nothing applied, and the connection serves the
// next one.
func TestSQLPostgresExecCommit(t *testing.T) {
	tgt, db := startPGTarget(t)
	tgt.Settings["pool_size"] = int64(1)
	env := newSQLEnv(t, map[string]engine.Target{"tgt": tgt})
	grant := map[string]any{"postgres": []any{"tgt"}}
	tbl := &engine.Table{DB: "shop", Name: "ids", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1, Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}}}
	tx := &engine.Tx{ID: "0-1-1"}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: tbl, Tx: tx, Seq: 1, After: []any{int64(1)}},
		{Op: engine.OpInsert, Table: tbl, Tx: tx, Seq: 2, After: []any{int64(2)}},
	}}
	stage := op("copy_changes", "sql", []any{"CREATE TEMPORARY TABLE s ON COMMIT DROP AS SELECT id FROM t WITH NO DATA", "COPY s (id) FROM STDIN"},
		"width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}, []any{1, 1, 0}}, "want", "2")
	count := func(want string) sqlStep {
		return op("query1", "sql", []any{"SELECT count(*) AS n FROM t"}, "want", "n="+want)
	}
	err := env.runBatch("tgt", grant, b,
		op("exec1", "sql", []any{"CREATE TABLE t (id int, CONSTRAINT once UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"}),
		op("begin"), stage,
		op("exec_commit", "sql", []any{"INSERT INTO t SELECT id FROM s", "INSERT INTO t VALUES (7)"}, "want", "2,1"),
		op("commit", "fail", "transaction has ended"),
		count("3"),
		// A statement failing before the COPY ends the transaction.
		op("begin"),
		op("copy_changes", "sql", []any{"CREATE TEMPORARY TABLE s AS SELECT nothing FROM t", "COPY s (id) FROM STDIN"},
			"width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}}, "fail", "nothing", "errno", "invalid"),
		op("commit", "fail", "transaction has ended"),
		// Only the last statement may be a COPY.
		op("begin"),
		op("copy_changes", "sql", []any{"COPY t (id) FROM STDIN", "COPY t (id) FROM STDIN"},
			"width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}}, "fail", "only the last statement may be a COPY", "errno", "invalid"),
		// A failing statement of an exec_commit: nothing committed.
		op("begin"), stage,
		op("exec_commit", "sql", []any{"INSERT INTO t SELECT id + 10 FROM s", "INSERT INTO t VALUES (1 / 0)"}, "fail", "statement 1: ERROR: division by zero", "errno", "invalid"),
		count("3"),
		// The commit failing (the deferred constraint): nothing committed.
		op("begin"), stage,
		op("exec_commit", "sql", []any{"INSERT INTO t SELECT id FROM s"}, "fail", "once", "errno", "invalid"),
		count("3"),
		op("begin"), stage,
		op("exec_commit", "sql", []any{"INSERT INTO t SELECT id + 100 FROM s"}, "want", "2"),
		count("5"),
		// A tentative copy meeting a key the table holds is undone, and
		// the transaction goes on; one that does not is kept.
		op("exec1", "sql", []any{"CREATE TABLE u (id int PRIMARY KEY)"}),
		op("exec1", "sql", []any{"INSERT INTO u VALUES (2)"}),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY u (id) FROM STDIN"}, "width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}, []any{1, 1, 0}},
			"tentative", true, "want", "undone"),
		op("exec_commit", "sql", []any{"INSERT INTO u VALUES (5)"}, "want", "1"),
		op("begin"),
		op("copy_changes", "sql", []any{"COPY u (id) FROM STDIN"}, "width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}},
			"tentative", true, "want", "1"),
		op("exec_commit", "sql", []any{"INSERT INTO u VALUES (6)"}, "want", "1"),
		op("query1", "sql", []any{"SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM u"}, "want", "ids=1,2,5,6"),
		// Another failure of a tentative copy ends the transaction.
		op("begin"),
		op("copy_changes", "sql", []any{"COPY u (nothing) FROM STDIN"}, "width", 1, "columns", []any{0}, "changes", []any{[]any{0, 1, 0}},
			"tentative", true, "fail", "nothing", "errno", "invalid"),
		op("commit", "fail", "transaction has ended"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t WHERE id > 100").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows of the last transaction: %d, %v", n, err)
	}
}
