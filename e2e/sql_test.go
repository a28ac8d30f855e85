package e2e

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql", to read the source and the MariaDB target
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read the PostgreSQL target

	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testpg"
)

// How a column's values are read back and compared: every value is read
// as text the server renders (so exact types stay exact), then
// normalised only where the two servers spell one value differently.
const (
	cmpText    = iota // the text as is: integers, decimals, strings, dates, enums, UUIDs
	cmpHex            // bytes, as upper-case hex
	cmpClock          // DATETIME and TIMESTAMP, to the microsecond (in UTC)
	cmpBit            // BIT, as its integer
	cmpFloat32        // FLOAT: the same float32, read as a DOUBLE
	cmpFloat64        // DOUBLE: the same float64
	cmpTime           // TIME vs interval: trailing fraction zeros dropped
	cmpJSON           // JSON vs jsonb: the same document
	cmpInet           // INET4/INET6 vs inet: the address
)

type sqlCol struct {
	name string
	cmp  int
}

// sqlTable is a source table the test compares with its copies.
type sqlTable struct {
	name    string
	key     []string // nil: keyless, compared as a multiset of rows
	cols    []sqlCol
	ddl     string
	keyless bool
}

// typesCols are the columns of app.t: every type the engine decodes
// that the PostgreSQL mapping covers.
var typesCols = []struct {
	sqlCol
	ddl string
}{
	{sqlCol{"id", cmpText}, "INT NOT NULL"},
	{sqlCol{"ti", cmpText}, "TINYINT"},
	{sqlCol{"su", cmpText}, "SMALLINT UNSIGNED"},
	{sqlCol{"mi", cmpText}, "MEDIUMINT"},
	{sqlCol{"iu", cmpText}, "INT UNSIGNED"},
	{sqlCol{"bi", cmpText}, "BIGINT"},
	{sqlCol{"bu", cmpText}, "BIGINT UNSIGNED"},
	{sqlCol{"de", cmpText}, "DECIMAL(30,10)"},
	{sqlCol{"fl", cmpFloat32}, "FLOAT"},
	{sqlCol{"db", cmpFloat64}, "DOUBLE"},
	{sqlCol{"ch", cmpText}, "CHAR(8) CHARACTER SET utf8mb4"},
	{sqlCol{"vc", cmpText}, "VARCHAR(40) CHARACTER SET utf8mb4"},
	{sqlCol{"tx", cmpText}, "TEXT CHARACTER SET utf8mb4"},
	{sqlCol{"vb", cmpHex}, "VARBINARY(16)"},
	{sqlCol{"bl", cmpHex}, "BLOB"},
	{sqlCol{"dt", cmpClock}, "DATETIME(6)"},
	{sqlCol{"ts", cmpClock}, "TIMESTAMP(6) NULL"},
	{sqlCol{"da", cmpText}, "DATE"},
	{sqlCol{"tm", cmpTime}, "TIME(6)"},
	{sqlCol{"yr", cmpText}, "YEAR"},
	{sqlCol{"bt", cmpBit}, "BIT(10)"},
	{sqlCol{"en", cmpText}, "ENUM('red','green','blue')"},
	{sqlCol{"se", cmpText}, "SET('a','b','c','d')"},
	{sqlCol{"js", cmpJSON}, "JSON"},
	{sqlCol{"ge", cmpHex}, "GEOMETRY"},
	{sqlCol{"uu", cmpText}, "UUID"},
	{sqlCol{"i4", cmpInet}, "INET4"},
	{sqlCol{"i6", cmpInet}, "INET6"},
}

// lateCol is added to app.t mid-stream, by ALTER TABLE … ADD COLUMN.
var lateCol = sqlCol{"late", cmpText}

func sqlTables(late bool) []sqlTable {
	var ts []sqlTable
	for _, tb := range workloadTables {
		st := sqlTable{name: tb.name, key: tb.key}
		for _, c := range columnOrder[tb.name] {
			cmp := cmpText
			if c == "val" {
				cmp = cmpFloat64
			}
			st.cols = append(st.cols, sqlCol{c, cmp})
		}
		ts = append(ts, st)
	}
	types := sqlTable{name: "t", key: []string{"id"}}
	var defs []string
	for _, c := range typesCols {
		types.cols = append(types.cols, c.sqlCol)
		defs = append(defs, c.name+" "+c.ddl)
	}
	types.ddl = "CREATE TABLE app.t (" + strings.Join(defs, ", ") + ", PRIMARY KEY (id))"
	if late {
		types.cols = append(types.cols, lateCol)
	}
	ts = append(ts, types, sqlTable{name: "log", keyless: true,
		cols: []sqlCol{{"n", cmpText}, {"msg", cmpText}, {"at", cmpClock}},
		ddl:  "CREATE TABLE app.log (n BIGINT NOT NULL, msg VARCHAR(40) NOT NULL, at DATETIME(6) NOT NULL)"})
	return ts
}

// typesWriter writes app.t (inserts, updates, key changes, deletes) and
// appends to the keyless app.log, in transactions of their own, some
// rolled back.
type typesWriter struct {
	rng  *rand.Rand
	keys []int // ids app.t holds
	next int
	logN int
	late bool // app.t has the late column
	rows int
}

func (tw *typesWriter) value(col string) string {
	r := tw.rng
	if col != "id" && col != "at" && r.IntN(10) == 0 {
		return "NULL"
	}
	str := func(n int) string {
		alphabet := []rune("abcXYZ09 é中😀'\\\"%_")
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(b.String()) + "'"
	}
	bytes := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return "X'" + hex.EncodeToString(b) + "'"
	}
	clock := func(from, to int64) string {
		sec := from + r.Int64N(to-from)
		return fmt.Sprintf("'%s.%06d'", time.Unix(sec, 0).UTC().Format(time.DateTime), r.IntN(1e6))
	}
	switch col {
	case "ti":
		return strconv.Itoa(r.IntN(256) - 128)
	case "su":
		return strconv.Itoa(r.IntN(65536))
	case "mi":
		return strconv.Itoa(r.IntN(1<<24) - 1<<23)
	case "iu":
		return strconv.FormatUint(uint64(r.Uint32()), 10)
	case "bi":
		return strconv.FormatInt(int64(r.Uint64()), 10)
	case "bu":
		return strconv.FormatUint(r.Uint64(), 10)
	case "de", "late":
		sign := []string{"", "-"}[r.IntN(2)]
		if col == "late" {
			return fmt.Sprintf("%s%d.%03d", sign, r.IntN(1e9), r.IntN(1e3))
		}
		return fmt.Sprintf("%s%d%09d.%010d", sign, r.IntN(1e11), r.IntN(1e9), r.Int64N(1e10))
	case "fl":
		return strconv.FormatFloat(float64(r.IntN(2e6)-1e6)/8, 'f', -1, 32)
	case "db":
		return strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(30)-15)), 'e', -1, 64)
	case "ch":
		return str(r.IntN(9))
	case "vc":
		return str(r.IntN(41))
	case "tx":
		return str(r.IntN(100))
	case "vb":
		return bytes(r.IntN(17))
	case "bl":
		return bytes(r.IntN(100))
	case "dt", "at":
		return clock(-2e9, 4e9)
	case "ts":
		return clock(1, 2147483647)
	case "da":
		return "'" + time.Unix(r.Int64N(1e11)-3e10, 0).UTC().Format(time.DateOnly) + "'"
	case "tm":
		sign := []string{"", "-"}[r.IntN(2)]
		return fmt.Sprintf("'%s%d:%02d:%02d.%06d'", sign, r.IntN(839), r.IntN(60), r.IntN(60), r.IntN(1e6))
	case "yr":
		return strconv.Itoa(1901 + r.IntN(255))
	case "bt":
		return fmt.Sprintf("b'%b'", r.IntN(1024))
	case "en":
		return []string{"'red'", "'green'", "'blue'"}[r.IntN(3)]
	case "se":
		var m []string
		for _, s := range []string{"a", "b", "c", "d"} {
			if r.IntN(2) == 0 {
				m = append(m, s)
			}
		}
		return "'" + strings.Join(m, ",") + "'"
	case "js":
		doc := map[string]any{
			"n": r.IntN(1e6) - 5e5, "d": json.Number(fmt.Sprintf("%d.%02d", r.IntN(1000), r.IntN(100))),
			"s": strings.Trim(str(r.IntN(10)), "'"), "a": []any{true, nil, r.IntN(10)}, "o": map[string]any{"k": "v"},
		}
		b, _ := json.Marshal(doc)
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(string(b)) + "'"
	case "ge":
		return fmt.Sprintf("ST_GeomFromText('POINT(%d.5 %d.25)', %d)", r.IntN(1000), r.IntN(1000), r.IntN(2)*4326)
	case "uu":
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		b[6] = b[6]&0x0f | 0x40 // version 4, variant 1: MariaDB refuses others
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b)
		return "'" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + "'"
	case "i4":
		return fmt.Sprintf("'%d.%d.%d.%d'", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256))
	case "i6":
		if r.IntN(4) == 0 {
			return fmt.Sprintf("'::ffff:%d.%d.%d.%d'", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256))
		}
		return fmt.Sprintf("'2001:db8::%x:%x'", r.IntN(65536), r.IntN(65536))
	}
	panic("no values for column " + col)
}

func (tw *typesWriter) columns() []string {
	var cs []string
	for _, c := range typesCols {
		cs = append(cs, c.name)
	}
	if tw.late {
		cs = append(cs, lateCol.name)
	}
	return cs
}

// transaction runs 1..4 statements on app.t and app.log; 1 in 15 rolls
// back.
func (tw *typesWriter) transaction(t *testing.T, w *writer) {
	r := tw.rng
	rollback := r.IntN(15) == 0
	keys, next, logN := slices.Clone(tw.keys), tw.next, tw.logN
	w.exec(t, "BEGIN")
	changed := 0
	for range 1 + r.IntN(4) {
		op := r.IntN(100)
		switch {
		case len(tw.keys) < 5 || op < 40:
			cols := tw.columns()
			var rows []string
			for range 1 + r.IntN(5) {
				tw.next++
				vals := []string{strconv.Itoa(tw.next)}
				for _, c := range cols[1:] {
					vals = append(vals, tw.value(c))
				}
				rows = append(rows, "("+strings.Join(vals, ", ")+")")
				tw.keys = append(tw.keys, tw.next)
			}
			changed += int(w.exec(t, "INSERT INTO app.t ("+strings.Join(cols, ", ")+") VALUES "+strings.Join(rows, ", ")))
		case op < 65:
			cols := tw.columns()[1:]
			var set []string
			for range 1 + r.IntN(4) {
				c := cols[r.IntN(len(cols))]
				set = append(set, c+" = "+tw.value(c))
			}
			changed += int(w.exec(t, fmt.Sprintf("UPDATE app.t SET %s WHERE id = %d", strings.Join(set, ", "), tw.keys[r.IntN(len(tw.keys))])))
		case op < 75:
			// A key change, with other columns changed too.
			i := r.IntN(len(tw.keys))
			tw.next++
			changed += int(w.exec(t, fmt.Sprintf("UPDATE app.t SET id = %d, vc = %s WHERE id = %d", tw.next, tw.value("vc"), tw.keys[i])))
			tw.keys[i] = tw.next
		case op < 85:
			i := r.IntN(len(tw.keys))
			changed += int(w.exec(t, fmt.Sprintf("DELETE FROM app.t WHERE id = %d", tw.keys[i])))
			tw.keys = slices.Delete(tw.keys, i, i+1)
		default:
			var rows []string
			for range 1 + r.IntN(5) {
				tw.logN++
				msg := "ok"
				if rollback {
					msg = "rolled-back"
				}
				rows = append(rows, fmt.Sprintf("(%d, '%s %d', %s)", tw.logN, msg, tw.logN, tw.value("at")))
			}
			changed += int(w.exec(t, "INSERT INTO app.log VALUES "+strings.Join(rows, ", ")))
		}
	}
	if rollback {
		w.exec(t, "ROLLBACK")
		tw.keys, tw.next, tw.logN = keys, next, logN
		return
	}
	w.exec(t, "COMMIT")
	tw.rows += changed
}

// sqlRun is MariaDB → builtin:filter → builtin:sqlapply into a private
// PostgreSQL (sender pg) and, with mirror, into a second private MariaDB
// (sender mirror).
type sqlRun struct {
	t                    *testing.T
	src, my              *testdb.Server
	pg                   *testpg.Server
	srcDB, pgDB, myDB    *sql.DB
	dir, cfg, log, admin string
	w                    *writer
	tw                   *typesWriter
	truncated            bool
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

func newSQLRun(t *testing.T, seedMix uint64, serverID int, mirror bool) *sqlRun {
	seed := workloadSeed(t)
	r := &sqlRun{t: t}
	r.src = testdb.Start(t, testdb.Options{})
	createWorkload(t, r.src)
	for _, tb := range sqlTables(false)[len(workloadTables):] {
		r.src.Exec(t, tb.ddl)
	}
	// Read back in UTC: TIMESTAMPs are compared as UTC wall clocks.
	r.srcDB = openDB(t, "mysql", "root@tcp("+r.src.Addr()+")/app?time_zone=%27%2B00%3A00%27")
	r.pg = testpg.Start(t, testpg.Options{})
	r.pgDB = openDB(t, "pgx", r.pg.CreateDB(t, "tgt")+"&timezone=UTC")
	targets := fmt.Sprintf(`
[targets.pg]
kind = "postgres"
port = %d
user = "postgres"
database = "tgt"
sslmode = "disable"
connect_timeout = "1s"
`, r.pg.Port())
	senders := `
  [[task.sender]]
  name = "pg"
  plugin = "builtin:sqlapply"
  config = { target = "pg", dialect = "postgres", create_tables = true, keyless = "append", ddl = "apply_add_column" }
`
	if mirror {
		r.my = testdb.Start(t, testdb.Options{})
		r.my.Exec(t, "CREATE DATABASE tgt")
		r.myDB = openDB(t, "mysql", "root@tcp("+r.my.Addr()+")/tgt?time_zone=%27%2B00%3A00%27")
		targets += fmt.Sprintf(`
[targets.mirror]
kind = "mysql"
port = %d
user = "root"
database = "tgt"
connect_timeout = "1s"
`, r.my.Port())
		senders += `
  [[task.sender]]
  name = "mirror"
  plugin = "builtin:sqlapply"
  config = { target = "mirror", dialect = "mysql", create_tables = true, keyless = "append", ddl = "apply_add_column" }
`
	}
	r.dir = t.TempDir()
	r.log = filepath.Join(r.dir, "puma.log")
	r.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.cfg = filepath.Join(r.dir, "puma.toml")
	writeFile(t, r.cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
%s
[[task]]
name = "app"
replica_server_id = %d
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "200ms"
max_batch_delay = "2ms"
backoff_min = "20ms"
backoff_max = "1s"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.*"] }
%s`, r.admin, targets, serverID, r.src.Addr(), senders))
	r.w = newWriter(t, r.src, rand.New(rand.NewPCG(seed, seed^seedMix)))
	r.tw = &typesWriter{rng: rand.New(rand.NewPCG(seed^seedMix, seed))}
	return r
}

// rows is the row changes written so far.
func (r *sqlRun) rows() int { return r.w.rows + r.tw.rows }

// step writes one transaction of each writer, and at a third of target
// rows truncates app.c, at half adds a column to app.t.
func (r *sqlRun) step(target int) {
	t := r.t
	r.w.transaction(t)
	r.tw.transaction(t, r.w)
	if !r.truncated && r.rows() >= target/3 {
		r.truncated = true
		r.w.exec(t, "TRUNCATE TABLE app.c")
	}
	if !r.tw.late && r.rows() >= target/2 {
		// Puma reads the types the binary log leaves ambiguous (UUID,
		// INET4/6 and JSON are BINARY(n) and LONGTEXT there) from
		// information_schema, which describes rows written before an
		// ALTER TABLE only until it runs: so that every row of app.t is
		// delivered with its type, the ALTER runs once puma has
		// checkpointed all before it, and writing resumes once it has
		// checkpointed the ALTER (no restart goes back across it).
		cp := filepath.Join(r.dir, "data", "checkpoints", "app.json")
		waitCheckpoint(t, cp, r.src.GTIDBinlogPos(t))
		r.tw.late = true
		r.w.exec(t, "ALTER TABLE app.t ADD COLUMN "+lateCol.name+" DECIMAL(12,3) NULL")
		waitCheckpoint(t, cp, r.src.GTIDBinlogPos(t))
	}
}

// pgPosition is what the pg sender stored last, "" before it stored any
// or while PostgreSQL is down.
func (r *sqlRun) pgPosition() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var pos string
	r.pgDB.QueryRowContext(ctx, "SELECT position FROM puma_positions WHERE task = 'app' AND sender = 'pg'").Scan(&pos)
	return pos
}

// readRows returns a table's rows: by key, or for a keyless table by the
// row's own text (each with its count).
func readRows(t *testing.T, db *sql.DB, pg bool, tb sqlTable) map[string]int {
	t.Helper()
	var exprs []string
	for _, c := range tb.cols {
		exprs = append(exprs, colExpr(c, pg))
	}
	rows, err := db.Query("SELECT " + strings.Join(exprs, ", ") + " FROM " + tb.name)
	if err != nil {
		t.Fatalf("read %s: %v", tb.name, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		vals := make([]sql.NullString, len(tb.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var f []string
		for i, v := range vals {
			if !v.Valid {
				f = append(f, tb.cols[i].name+"=NULL")
				continue
			}
			f = append(f, tb.cols[i].name+"="+normalize(t, tb.cols[i].cmp, v.String))
		}
		out[strings.Join(f, " | ")]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// colExpr renders a column as text: for MariaDB (the source and the
// mirror, which keeps the source's types) or PostgreSQL.
func colExpr(c sqlCol, pg bool) string {
	n := c.name
	if !pg {
		switch c.cmp {
		case cmpHex:
			return "HEX(" + n + ")"
		case cmpClock:
			return "DATE_FORMAT(" + n + ", '%Y-%m-%d %H:%i:%s.%f')"
		case cmpBit:
			return "CAST(" + n + " + 0 AS CHAR)"
		case cmpFloat32:
			// A FLOAT's own text has 6 digits; as a DOUBLE it is exact.
			return "CAST(CAST(" + n + " AS DOUBLE) AS CHAR)"
		}
		return "CAST(" + n + " AS CHAR)"
	}
	switch c.cmp {
	case cmpHex:
		return "upper(encode(" + n + ", 'hex'))"
	case cmpClock:
		return "to_char(" + n + ", 'YYYY-MM-DD HH24:MI:SS.US')"
	case cmpInet:
		return "host(" + n + ")"
	case cmpFloat32:
		return n + "::float8::text"
	}
	return n + "::text"
}

func normalize(t *testing.T, cmp int, v string) string {
	switch cmp {
	case cmpFloat32, cmpFloat64:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("float %q: %v", v, err)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case cmpTime:
		if i := strings.IndexByte(v, '.'); i >= 0 {
			v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
		}
		return v
	case cmpJSON:
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber()
		var doc any
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("json %q: %v", v, err)
		}
		b, _ := json.Marshal(doc) // sorted keys, no spaces
		return string(b)
	}
	return v
}

// compare checks that every target table equals its source table, value
// by value, and that each target's position is the last source
// transaction.
func (r *sqlRun) compare() {
	t := r.t
	final := r.src.GTIDBinlogPos(t)
	targets := map[string]*sql.DB{"pg": r.pgDB}
	if r.myDB != nil {
		targets["mirror"] = r.myDB
	}
	for name, db := range targets {
		pg := name == "pg"
		for _, tb := range sqlTables(r.tw.late) {
			want, got := readRows(t, r.srcDB, false, tb), readRows(t, db, pg, tb)
			if tb.keyless {
				n := 0
				for row, c := range got {
					n += c
					if want[row] != c {
						t.Errorf("%s: keyless %s holds %d of %s, source %d", name, tb.name, c, row, want[row])
					}
				}
				t.Logf("%s: keyless %s holds %d rows", name, tb.name, n)
			}
			var missing []string
			for row, c := range want {
				if got[row] != c {
					missing = append(missing, row)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 || len(got) != len(want) {
				var extra []string
				for row := range got {
					if want[row] == 0 {
						extra = append(extra, row)
					}
				}
				sort.Strings(extra)
				t.Errorf("%s: table %s: %d rows, source %d; %d source rows differ, first %q; first extra %q",
					name, tb.name, len(got), len(want), len(missing), first(missing), first(extra))
			} else {
				t.Logf("%s: table %s equals the source (%d rows)", name, tb.name, len(want))
			}
		}
		var pos string
		if err := db.QueryRow("SELECT position FROM puma_positions WHERE task = 'app' AND sender = '" + name + "'").Scan(&pos); err != nil {
			t.Fatalf("%s: position: %v", name, err)
		}
		var p struct {
			GTIDSet string `json:"gtid_set"`
		}
		if err := json.Unmarshal([]byte(pos), &p); err != nil || p.GTIDSet != final {
			t.Errorf("%s: puma_positions holds %s (%v), want the source's last transaction %s", name, pos, err, final)
		}
	}
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

// columnTypes lists a target table's column types, for failure messages.
func columnTypes(db *sql.DB, pg bool, table string) string {
	q := "SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type) ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?"
	if pg {
		q = "SELECT string_agg(column_name || ' ' || data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1"
	}
	var s sql.NullString
	if err := db.QueryRow(q, table).Scan(&s); err != nil {
		return err.Error()
	}
	return s.String
}

func (r *sqlRun) finish(p *puma) {
	t := r.t
	final := r.src.GTIDBinlogPos(t)
	defer func() {
		if t.Failed() {
			t.Logf("pg: t: %s", columnTypes(r.pgDB, true, "t"))
			if r.myDB != nil {
				t.Logf("mirror: t: %s", columnTypes(r.myDB, false, "t"))
			}
		}
	}()
	t.Logf("wrote %d row changes; waiting for checkpoint %s", r.rows(), final)
	waitCheckpoint(t, filepath.Join(r.dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	r.compare()
}

// TestSQLKillNineExactlyOnce replicates a mixed workload into PostgreSQL
// and a second MariaDB while puma is killed -9 three times: afterwards
// each target table equals its source table value by value, the keyless
// table holds each row once, and each target's position is the source's
// last transaction.
func TestSQLKillNineExactlyOnce(t *testing.T) {
	r := newSQLRun(t, 0x3c6ef372fe94f82b, 7501, true)
	defer dumpLog(t, r.log)
	target := 4000
	p := startPuma(t, r.cfg, r.log)
	kills := []int{target / 4, target / 2, 3 * target / 4}
	last := ""
	for r.rows() < target || (len(kills) > 0 && r.rows() < 20*target) {
		r.step(target)
		// Kill only a puma that has applied since it started, so every
		// kill lands mid-stream; until it has, write slowly.
		if len(kills) > 0 && r.rows() >= kills[0] {
			if pos := r.pgPosition(); pos == last {
				time.Sleep(10 * time.Millisecond)
			} else {
				kills = kills[1:]
				p.kill(t)
				last = r.pgPosition()
				t.Logf("killed puma -9 after %d rows written; PostgreSQL holds %s", r.rows(), last)
				p = startPuma(t, r.cfg, r.log)
			}
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma applied nothing after a restart", len(kills))
	}
	r.finish(p)
}

// TestSQLOutageCatchesUp stops PostgreSQL for 20 s while the source
// keeps writing: the task retries (its sender's errors count up, it does
// not fail), and once the server is back it catches up, every table
// equal to its source and the keyless one holding each row once.
func TestSQLOutageCatchesUp(t *testing.T) {
	// Most of it is waiting out the outage: it runs beside the others.
	t.Parallel()
	r := newSQLRun(t, 0xa54ff53a5f1d36f1, 7502, false)
	defer dumpLog(t, r.log)
	target := 1500
	p := startPuma(t, r.cfg, r.log)
	for r.rows() < target {
		r.step(target)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.pgPosition() == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	before := pluginErrors(r.admin, "pg")
	if err := r.pg.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for time.Since(down) < 20*time.Second {
		r.step(target)
		time.Sleep(100 * time.Millisecond)
	}
	errs, st := pluginErrors(r.admin, "pg"), taskStatusOf(r.admin)
	t.Logf("during the outage: %d sender errors (from %d); /tasks: %+v", errs, before, st)
	if errs <= before || st.PluginErrors == 0 {
		t.Errorf("sender errors %d (was %d), /tasks plugin_errors %d: the task did not retry during the outage", errs, before, st.PluginErrors)
	}
	if st.State != "retrying" {
		t.Errorf("task state %q during the outage, want retrying (its sender's target is down)", st.State)
	}
	if err := r.pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r.step(target)
	}
	r.finish(p)
}
