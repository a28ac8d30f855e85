package hostabi_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testpg"
)

var sqlItems = &engine.Table{
	DB: "shop", Name: "items", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt, SQLType: 3},
		{Name: "price", Kind: engine.KindDecimal, SQLType: 246, Meta: 20<<8 | 4, Nullable: true},
		{Name: "note", Kind: engine.KindString, SQLType: 252, Meta: 2, Charset: "utf8mb4", Nullable: true},
	},
}

var sqlLog = &engine.Table{
	DB: "shop", Name: "log", KeyKind: engine.KeyRow, Key: []int{0}, Version: 1,
	Columns: []engine.Column{{Name: "msg", Kind: engine.KindString, SQLType: 252, Meta: 2, Charset: "utf8mb4", Nullable: true}},
}

// sqlapplyBatches are four source transactions: inserts, an update
// changing a key, a delete, appends to a keyless table.
func sqlapplyBatches() []*engine.Batch {
	var bs []*engine.Batch
	rows := [][]engine.Change{
		{{Op: engine.OpInsert, Table: sqlItems, After: []any{int64(1), "10.5000", "a"}},
			{Op: engine.OpInsert, Table: sqlItems, After: []any{int64(2), "-0.0001", nil}},
			{Op: engine.OpInsert, Table: sqlLog, After: []any{"one"}}},
		{{Op: engine.OpUpdate, Table: sqlItems, Before: []any{int64(1), "10.5000", "a"}, After: []any{int64(3), "10.5000", "moved"}},
			{Op: engine.OpInsert, Table: sqlLog, After: []any{"two"}}},
		{{Op: engine.OpDelete, Table: sqlItems, Before: []any{int64(2), "-0.0001", nil}},
			{Op: engine.OpInsert, Table: sqlItems, After: []any{int64(2), "99999999999999.9999", "back"}},
			{Op: engine.OpUpdate, Table: sqlItems, Before: []any{int64(2), "99999999999999.9999", "back"}, After: []any{int64(2), "1.0000", "again"}}},
		{{Op: engine.OpInsert, Table: sqlLog, After: []any{"three"}}, {Op: engine.OpInsert, Table: sqlLog, After: []any{"one"}}},
	}
	for i, cs := range rows {
		gtid := "0-1-" + string(rune('1'+i))
		tx := &engine.Tx{ID: gtid, GTID: gtid, ServerID: 1, File: "bin.000001", Pos: uint32(100 * (i + 1))}
		for j := range cs {
			cs[j].Tx, cs[j].Seq = tx, uint32(j+1)
		}
		bs = append(bs, &engine.Batch{Seq: uint64(i + 1), Tx: tx, Begin: true, Changes: cs,
			Commit: &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(100*(i+1) + 50), GTIDSet: gtid}})
	}
	return bs
}

func dump(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var f []string
		for _, v := range vals {
			if v.Valid {
				f = append(f, v.String)
			} else {
				f = append(f, "NULL")
			}
		}
		out = append(out, strings.Join(f, ","))
	}
	return strings.Join(out, ";")
}

func testSQLApply(t *testing.T, kind string, tgt engine.Target, db *sql.DB) {
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: builtins(t), Targets: map[string]engine.Target{"tgt": tgt}})
	cfg := map[string]any{"target": "tgt", "dialect": kind, "table": "{db}_{table}", "create_tables": true, "keyless": "append"}
	grants := map[string]any{kind: []any{"tgt"}}
	ctx := context.Background()
	start := func() *hostabi.Sender {
		s, err := h.NewSender(ctx, "shop", plugin("apply", "builtin:sqlapply", cfg, grants))
		if err != nil {
			t.Fatal(err)
		}
		if !s.Positioned() {
			t.Fatal("sqlapply did not report its applied position")
		}
		return s
	}
	bs := sqlapplyBatches()
	s := start()
	if err := s.SendGroup(ctx, bs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.SendGroup(ctx, bs[2:3]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A new sender reads the position back: the batches the target holds
	// are skipped when the host sends them again, so the keyless table
	// gets no second copy.
	s = start()
	defer s.Close()
	if err := s.SendGroup(ctx, bs[1:]); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, db, "SELECT id, price, note FROM shop_items ORDER BY id"), "2,1.0000,again;3,10.5000,moved"; got != want {
		t.Errorf("items: %s, want %s", got, want)
	}
	if got, want := dump(t, db, "SELECT msg FROM shop_log ORDER BY msg"), "one;one;three;two"; got != want {
		t.Errorf("keyless log: %s, want %s", got, want)
	}
	if got := dump(t, db, "SELECT task, sender, position FROM puma_positions"); !strings.Contains(got, "shop,apply,") || !strings.Contains(got, "0-1-4") {
		t.Errorf("positions: %s, want the last transaction's", got)
	}
	// A keyless table is refused without keyless = "append".
	delete(cfg, "keyless")
	s2, err := h.NewSender(ctx, "shop", plugin("strict", "builtin:sqlapply", cfg, grants))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.SendGroup(ctx, bs[3:]); err == nil || !strings.Contains(err.Error(), "has no key") {
		t.Errorf("keyless table without append: %v", err)
	}
}

// startPGTarget starts a private PostgreSQL with a database tgt and
// returns the target reaching it and the test's own connection to it.
func startPGTarget(t *testing.T) (engine.Target, *sql.DB) {
	srv := testpg.Start(t, testpg.Options{})
	db, err := sql.Open("pgx", srv.CreateDB(t, "tgt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return engine.Target{Kind: "postgres", Settings: map[string]any{
		"port": int64(srv.Port()), "user": "postgres", "database": "tgt", "sslmode": "disable"}}, db
}

func TestSQLApplyPostgres(t *testing.T) {
	tgt, db := startPGTarget(t)
	testSQLApply(t, "postgres", tgt, db)
}

func TestSQLApplyMySQL(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE tgt")
	db, err := sql.Open("mysql", "root@tcp("+srv.Addr()+")/tgt")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testSQLApply(t, "mysql", engine.Target{Kind: "mysql", Settings: map[string]any{
		"port": int64(srv.Port()), "user": "root", "database": "tgt", "sslmode": "disable"}}, db)
}

// TestSQLApplyMySQLTextKey creates a MariaDB table keyed by TEXT and BLOB
// columns (key_columns of a table without a primary key): MySQL indexes
// neither whole, so they become VARCHAR and VARBINARY of their share of
// the key, and two keys alike but for their last characters stay two
// rows.
func TestSQLApplyMySQLTextKey(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE tgt")
	db, err := sql.Open("mysql", "root@tcp("+srv.Addr()+")/tgt")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	notes := &engine.Table{
		DB: "shop", Name: "notes", KeyKind: engine.KeyConfig, Key: []int{0, 1}, Version: 1,
		Columns: []engine.Column{
			{Name: "title", Kind: engine.KindString, SQLType: 252, Meta: 2, Charset: "utf8mb4"},
			{Name: "tag", Kind: engine.KindBytes, SQLType: 252, Meta: 2, Charset: "binary"},
			{Name: "n", Kind: engine.KindInt, SQLType: 3},
		},
	}
	long := strings.Repeat("é", 300)
	tx := &engine.Tx{ID: "0-1-1", GTID: "0-1-1", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: notes, After: []any{long + "a", []byte{0, 1}, int64(1)}, Tx: tx, Seq: 1},
		{Op: engine.OpInsert, Table: notes, After: []any{long + "b", []byte{0, 1}, int64(2)}, Tx: tx, Seq: 2},
		{Op: engine.OpUpdate, Table: notes, Before: []any{long + "a", []byte{0, 1}, int64(1)}, After: []any{long + "a", []byte{0, 1}, int64(3)}, Tx: tx, Seq: 3},
	}, Commit: &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: 150, GTIDSet: "0-1-1"}}
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: builtins(t), Targets: map[string]engine.Target{"tgt": {Kind: "mysql", Settings: map[string]any{
		"port": int64(srv.Port()), "user": "root", "database": "tgt", "sslmode": "disable"}}}})
	ctx := context.Background()
	s, err := h.NewSender(ctx, "shop", plugin("apply", "builtin:sqlapply", map[string]any{"target": "tgt", "dialect": "mysql", "create_tables": true}, map[string]any{"mysql": []any{"tgt"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendGroup(ctx, []*engine.Batch{b}); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, db, "SELECT RIGHT(title, 1), HEX(tag), n FROM notes ORDER BY title"), "a,0001,3;b,0001,2"; got != want {
		t.Errorf("notes: %s, want %s", got, want)
	}
	if got := dump(t, db, "SELECT GROUP_CONCAT(column_type ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'tgt' AND table_name = 'notes'"); got != "varchar(384),varbinary(1536),int(11)" {
		t.Errorf("column types %s", got)
	}
}

// TestSQLApplyOrder sends transactions that insert, update (moving keys
// too) and delete the same few keys again and again, in both bulk
// modes, all in one group and, with bulk = "copy", in groups of one to
// three transactions too, some repeating no key (whose merge reads the
// staging table unsorted, with or without deletes; inserts alone are
// copied into the table tentatively, and every other such group finds
// one of its keys there already, written by hand, so that the copy is
// undone and the rows merged), others repeating keys: after each group
// the target must hold what the source did, which the test's model of
// the source applies change by change.
func TestSQLApplyOrder(t *testing.T) {
	tgt, db := startPGTarget(t)
	kv := &engine.Table{
		DB: "shop", Name: "kv", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: []engine.Column{{Name: "k", Kind: engine.KindInt, SQLType: 3}, {Name: "v", Kind: engine.KindString, SQLType: 252, Meta: 2, Charset: "utf8mb4", Nullable: true}},
	}
	const keys = 16
	model := map[int64]string{}
	rnd := uint64(7)
	next := func(n int) int64 {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return int64(rnd>>33) % int64(n)
	}
	var bs []*engine.Batch
	var states []string // the model after each transaction
	for i := range 150 {
		gtid := fmt.Sprintf("0-1-%d", i+1)
		tx := &engine.Tx{ID: gtid, GTID: gtid, ServerID: 1, File: "bin.000001", Pos: uint32(100 * (i + 1))}
		var cs []engine.Change
		for j := range 1 + next(4) {
			k := next(keys)
			v := fmt.Sprintf("t%d.%d", i, j)
			old, ok := model[k]
			var c engine.Change
			switch {
			case !ok:
				c = engine.Change{Op: engine.OpInsert, After: []any{k, v}}
				model[k] = v
			case next(3) == 0:
				c = engine.Change{Op: engine.OpDelete, Before: []any{k, old}}
				delete(model, k)
			default:
				nk := next(keys)
				if _, taken := model[nk]; taken && nk != k {
					nk = k
				}
				c = engine.Change{Op: engine.OpUpdate, Before: []any{k, old}, After: []any{nk, v}}
				delete(model, k)
				model[nk] = v
			}
			c.Table, c.Tx, c.Seq = kv, tx, uint32(j+1)
			cs = append(cs, c)
		}
		bs = append(bs, &engine.Batch{Seq: uint64(i + 1), Tx: tx, Begin: true, Changes: cs,
			Commit: &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(100*(i+1) + 50), GTIDSet: gtid}})
		var state []string
		for k := range int64(keys) {
			if v, ok := model[k]; ok {
				state = append(state, fmt.Sprintf("%d,%s", k, v))
			}
		}
		states = append(states, strings.Join(state, ";"))
	}
	// The groups of one to three transactions, and how their rows stage:
	// each key once without a delete, once with, or some key twice.
	var groups [][2]int
	kinds := map[string]int{}
	held := map[int]int64{} // a key the target holds before group i
	for i := 0; i < len(bs); {
		n := min(len(bs)-i, 1+int(next(3)))
		groups = append(groups, [2]int{i, i + n})
		seen, repeats, deletes, updates := map[any]bool{}, false, false, false
		for _, b := range bs[i : i+n] {
			for _, c := range b.Changes {
				var staged []any
				switch {
				case c.Op == engine.OpInsert:
					staged = []any{c.After[0]}
				case c.Op == engine.OpDelete:
					staged, deletes = []any{c.Before[0]}, true
				case c.Before[0] != c.After[0]:
					staged, deletes = []any{c.Before[0], c.After[0]}, true
				default:
					staged = []any{c.After[0]}
				}
				updates = updates || c.Op == engine.OpUpdate
				for _, k := range staged {
					repeats = repeats || seen[k]
					seen[k] = true
				}
			}
		}
		kind := "unique"
		switch {
		case repeats:
			kind = "repeating"
		case deletes:
			kind = "unique, deleting"
		case !updates:
			kind = "inserts"
			if kinds[kind]%2 == 1 {
				held[len(groups)-1] = bs[i].Changes[0].After[0].(int64)
			}
		}
		kinds[kind]++
		i += n
	}
	for _, kind := range []string{"unique", "unique, deleting", "repeating"} {
		if kinds[kind] == 0 {
			t.Fatalf("no group of kind %q among %v", kind, kinds)
		}
	}
	if kinds["inserts"] < 2 {
		t.Fatalf("fewer than two groups of inserts alone among %v", kinds)
	}
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: builtins(t), Targets: map[string]engine.Target{"tgt": tgt}})
	for _, mode := range []string{"copy", "insert", "copy-groups"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			bulk, table := strings.TrimSuffix(mode, "-groups"), "kv_"+strings.ReplaceAll(mode, "-", "_")
			s, err := h.NewSender(ctx, "shop", plugin(table, "builtin:sqlapply", map[string]any{"target": "tgt", "dialect": "postgres", "table": table, "create_tables": true, "bulk": bulk},
				map[string]any{"postgres": []any{"tgt"}}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sends := [][2]int{{0, len(bs)}}
			if mode == "copy-groups" {
				sends = groups
			}
			for i, g := range sends {
				if k, ok := held[i]; ok && mode == "copy-groups" {
					if _, err := db.Exec("INSERT INTO "+table+" VALUES ($1, 'held')", k); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.SendGroup(ctx, bs[g[0]:g[1]]); err != nil {
					t.Fatal(err)
				}
				if got, want := dump(t, db, "SELECT k, v FROM "+table+" ORDER BY k"), states[g[1]-1]; got != want {
					t.Fatalf("after transactions %d to %d: target %s, want %s", g[0]+1, g[1], got, want)
				}
			}
		})
	}
}
