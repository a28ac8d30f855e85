package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/internal/testdb"
)

// The rowDecoder must deliver exactly what go-mysql's decoder followed by
// convert delivers. These tests have the server encode random values of
// every type into its binary log, then read the events both ways and
// compare every change, value by value and type by type.

// genCol is a column of the random table and a generator of SQL literals
// for it.
type genCol struct {
	def string
	gen func(r *rand.Rand) string
}

func matrixColumns() []genCol {
	intCol := func(def string, lo, hi int64) genCol {
		return genCol{def, func(r *rand.Rand) string {
			switch r.IntN(6) {
			case 0:
				return strconv.FormatInt(lo, 10)
			case 1:
				return strconv.FormatInt(hi, 10)
			case 2:
				return strconv.FormatInt(r.Int64N(3)-1, 10)
			}
			return strconv.FormatInt(lo+int64(r.Uint64N(uint64(hi-lo))), 10)
		}}
	}
	uintCol := func(def string, hi uint64) genCol {
		return genCol{def, func(r *rand.Rand) string {
			switch r.IntN(5) {
			case 0:
				return "0"
			case 1:
				return strconv.FormatUint(hi, 10)
			}
			if hi == math.MaxUint64 {
				return strconv.FormatUint(r.Uint64(), 10)
			}
			return strconv.FormatUint(r.Uint64N(hi+1), 10)
		}}
	}
	digits := func(r *rand.Rand, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	decCol := func(prec, scale int) genCol {
		return genCol{fmt.Sprintf("DECIMAL(%d,%d)", prec, scale), func(r *rand.Rand) string {
			s := ""
			if r.IntN(2) == 0 {
				s = "-"
			}
			if r.IntN(8) == 0 {
				return "'" + s + "0'"
			}
			s += digits(r, r.IntN(prec-scale+1))
			if scale > 0 {
				s += "." + digits(r, r.IntN(scale+1))
			}
			if strings.TrimLeft(s, "-") == "" || strings.TrimLeft(s, "-")[0] == '.' {
				s = strings.Replace(s, "-", "-0", 1)
				if s == "" || s[0] == '.' {
					s = "0" + s
				}
			}
			return "'" + s + "'"
		}}
	}
	frac := func(r *rand.Rand, n int) string {
		if n == 0 || r.IntN(3) == 0 {
			return ""
		}
		return "." + digits(r, 1+r.IntN(n))
	}
	timeCol := func(n int) genCol {
		return genCol{fmt.Sprintf("TIME(%d)", n), func(r *rand.Rand) string {
			sign := ""
			if r.IntN(2) == 0 {
				sign = "-"
			}
			switch r.IntN(8) {
			case 0:
				return "'" + sign + "838:59:59'"
			case 1:
				return "'00:00:00'"
			case 2:
				return "'" + sign + "00:00:00" + frac(r, n) + "'"
			}
			return fmt.Sprintf("'%s%d:%02d:%02d%s'", sign, r.IntN(839), r.IntN(60), r.IntN(60), frac(r, n))
		}}
	}
	date := func(r *rand.Rand) string {
		switch r.IntN(10) {
		case 0:
			return "0000-00-00"
		case 1:
			return fmt.Sprintf("%04d-00-%02d", 1000+r.IntN(9000), r.IntN(32))
		}
		return fmt.Sprintf("%04d-%02d-%02d", 1000+r.IntN(9000), 1+r.IntN(12), 1+r.IntN(28))
	}
	clock := func(r *rand.Rand) string {
		return fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60))
	}
	datetimeCol := func(n int) genCol {
		return genCol{fmt.Sprintf("DATETIME(%d)", n), func(r *rand.Rand) string {
			if r.IntN(10) == 0 {
				return "'0000-00-00 00:00:00'"
			}
			return "'" + date(r) + " " + clock(r) + frac(r, n) + "'"
		}}
	}
	timestampCol := func(n int) genCol {
		return genCol{fmt.Sprintf("TIMESTAMP(%d) NULL", n), func(r *rand.Rand) string {
			if r.IntN(10) == 0 {
				return "'0000-00-00 00:00:00'"
			}
			sec := 1 + r.Int64N(1<<31-2)
			return "FROM_UNIXTIME(" + strconv.FormatInt(sec, 10) + frac(r, n) + ")"
		}}
	}
	text := func(alphabet []rune) func(r *rand.Rand, n int) string {
		return func(r *rand.Rand, n int) string {
			var b strings.Builder
			for range r.IntN(n + 1) {
				c := alphabet[r.IntN(len(alphabet))]
				switch c {
				case '\'':
					b.WriteString("''")
				case '\\':
					b.WriteString(`\\`)
				default:
					b.WriteRune(c)
				}
			}
			return "'" + b.String() + "'"
		}
	}
	unicode := text([]rune("aZ09 '\\\"\t\néü€日本語🐆Ωж"))
	latin := text([]rune("aZ09 'éüÿ€ŠœÆ"))
	cyr := text([]rune("aZ Жжщ"))
	jp := text([]rune("aZ 日本語テキスト"))
	strCol := func(def string, n int, f func(*rand.Rand, int) string) genCol {
		return genCol{def, func(r *rand.Rand) string { return f(r, n) }}
	}
	hexCol := func(def string, n int) genCol {
		return genCol{def, func(r *rand.Rand) string {
			b := make([]byte, r.IntN(n+1))
			for i := range b {
				b[i] = byte(r.IntN(256))
				if r.IntN(4) == 0 {
					b[i] = 0
				}
			}
			return fmt.Sprintf("X'%X'", b)
		}}
	}
	bitCol := func(n int) genCol {
		return genCol{fmt.Sprintf("BIT(%d)", n), func(r *rand.Rand) string {
			return "b'" + strconv.FormatUint(r.Uint64()>>(64-n), 2) + "'"
		}}
	}
	members := func(prefix string, n int) []string {
		m := make([]string, n)
		for i := range m {
			m[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return m
	}
	setCol := func(def string, ms []string) genCol {
		return genCol{def, func(r *rand.Rand) string {
			var pick []string
			for _, m := range ms {
				if r.IntN(3) == 0 {
					pick = append(pick, m)
				}
			}
			return "'" + strings.Join(pick, ",") + "'"
		}}
	}
	enumCol := func(def string, ms []string) genCol {
		return genCol{def, func(r *rand.Rand) string {
			if r.IntN(10) == 0 {
				return "''" // the invalid-value member (sql_mode '')
			}
			return "'" + ms[r.IntN(len(ms))] + "'"
		}}
	}
	quoteList := func(ms []string) string { return "'" + strings.Join(ms, "','") + "'" }
	many := members("m", 20)
	cols := []genCol{
		intCol("ti TINYINT", math.MinInt8, math.MaxInt8), uintCol("tu TINYINT UNSIGNED", math.MaxUint8),
		intCol("si SMALLINT", math.MinInt16, math.MaxInt16), uintCol("su SMALLINT UNSIGNED", math.MaxUint16),
		intCol("mi MEDIUMINT", -1<<23, 1<<23-1), uintCol("mu MEDIUMINT UNSIGNED", 1<<24-1),
		intCol("i INT", math.MinInt32, math.MaxInt32), uintCol("iu INT UNSIGNED", math.MaxUint32),
		intCol("bi BIGINT", math.MinInt64, math.MaxInt64), uintCol("bu BIGINT UNSIGNED", math.MaxUint64),
		decCol(65, 0), decCol(65, 30), decCol(10, 2), decCol(5, 5), decCol(19, 4), decCol(12, 9), decCol(1, 0), decCol(30, 25),
		{"f FLOAT", func(r *rand.Rand) string {
			return strconv.FormatFloat(float64(float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30)))), 'g', -1, 32)
		}},
		{"db DOUBLE", func(r *rand.Rand) string {
			return strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(600)-300)), 'g', -1, 64)
		}},
		bitCol(1), bitCol(13), bitCol(64),
		{"y YEAR", func(r *rand.Rand) string {
			if r.IntN(8) == 0 {
				return "0"
			}
			return strconv.Itoa(1901 + r.IntN(255))
		}},
		{"d DATE", func(r *rand.Rand) string { return "'" + date(r) + "'" }},
		timeCol(0), timeCol(1), timeCol(2), timeCol(3), timeCol(4), timeCol(5), timeCol(6),
		datetimeCol(0), datetimeCol(1), datetimeCol(2), datetimeCol(3), datetimeCol(4), datetimeCol(5), datetimeCol(6),
		timestampCol(0), timestampCol(1), timestampCol(2), timestampCol(3), timestampCol(4), timestampCol(5), timestampCol(6),
		strCol("c CHAR(5)", 5, unicode), strCol("cl CHAR(100)", 100, unicode),
		strCol("v VARCHAR(50)", 50, unicode), strCol("vl VARCHAR(300)", 300, unicode),
		strCol("tt TINYTEXT", 60, unicode), strCol("tx TEXT", 200, unicode),
		strCol("mt MEDIUMTEXT", 200, unicode), strCol("lt LONGTEXT", 200, unicode),
		strCol("l1 VARCHAR(20) CHARACTER SET latin1", 20, latin), strCol("u2 VARCHAR(10) CHARACTER SET ucs2", 10, unicode),
		strCol("u16 VARCHAR(10) CHARACTER SET utf16", 10, unicode), strCol("u32 VARCHAR(10) CHARACTER SET utf32", 10, unicode),
		strCol("sj VARCHAR(10) CHARACTER SET sjis", 10, jp), strCol("ru VARCHAR(10) CHARACTER SET cp1251", 10, cyr),
		strCol("lc CHAR(10) CHARACTER SET latin1", 10, latin),
		hexCol("b4 BINARY(4)", 4), hexCol("b16 BINARY(16)", 16), hexCol("b200 BINARY(200)", 200),
		hexCol("vb VARBINARY(10)", 10), hexCol("vbl VARBINARY(400)", 400),
		hexCol("bl BLOB", 100), hexCol("tb TINYBLOB", 20), hexCol("mb MEDIUMBLOB", 50), hexCol("lb LONGBLOB", 50),
		enumCol("e ENUM('a','b','c','é')", []string{"a", "b", "c", "é"}),
		enumCol("el ENUM('café','naïve') CHARACTER SET latin1", []string{"café", "naïve"}),
		enumCol("eb ENUM("+quoteList(members("e", 300))+")", members("e", 300)),
		setCol("s SET('x','y','z')", []string{"x", "y", "z"}),
		setCol("sm SET("+quoteList(many)+")", many),
		setCol("sl SET('é','ü') CHARACTER SET latin1", []string{"é", "ü"}),
		{"j JSON", func(r *rand.Rand) string {
			return []string{`'{"a": [1, 2.50, {"b": null}]}'`, `'"str"'`, `'123.50'`, `'[]'`, `'true'`}[r.IntN(5)]
		}},
		{"u UUID", func(r *rand.Rand) string {
			return fmt.Sprintf("'%08x-%04x-%04x-%04x-%012x'", r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()>>16)
		}},
		{"i6 INET6", func(r *rand.Rand) string {
			return []string{"'::'", "'::1'", "'::ffff:10.0.0.1'", "'2001:db8::1:0:0:1'", fmt.Sprintf("'%x::%x'", r.IntN(1<<16), r.IntN(1<<16))}[r.IntN(5)]
		}},
		{"i4 INET4", func(r *rand.Rand) string {
			return fmt.Sprintf("'%d.%d.%d.%d'", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256))
		}},
		{"g GEOMETRY", func(r *rand.Rand) string {
			return fmt.Sprintf("ST_GeomFromText('POINT(%d %d)', %d)", r.IntN(1000), r.IntN(1000), []int{0, 4326}[r.IntN(2)])
		}},
	}
	return cols
}

// writeMatrix creates dd.matrix and writes random rows into it: inserts
// in transactions of various sizes (some beyond a batch), updates and
// deletes. It returns the binary-log range written.
func writeMatrix(t *testing.T, srv *testdb.Server, seed uint64) (start, end mysql.Position) {
	t.Helper()
	cols := matrixColumns()
	defs := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = c.def
		names[i] = strings.Fields(c.def)[0]
		if names[i] != strings.ToLower(names[i]) {
			// A bare type: name it after its type.
			names[i] = strings.ToLower(strings.Map(func(r rune) rune {
				if r == '(' || r == ',' {
					return '_'
				}
				if r == ')' {
					return -1
				}
				return r
			}, names[i]))
			defs[i] = names[i] + " " + c.def
		}
	}
	srv.Exec(t, "CREATE DATABASE IF NOT EXISTS dd CHARACTER SET utf8mb4",
		"DROP TABLE IF EXISTS dd.matrix",
		"CREATE TABLE dd.matrix (id INT PRIMARY KEY, "+strings.Join(defs, ", ")+")")
	start = masterPos(t, srv)
	r := rand.New(rand.NewPCG(seed, 1))
	row := func(id int) string {
		vals := make([]string, len(cols))
		for i, c := range cols {
			if r.IntN(10) == 0 {
				vals[i] = "NULL"
			} else {
				vals[i] = c.gen(r)
			}
		}
		return fmt.Sprintf("(%d, %s)", id, strings.Join(vals, ", "))
	}
	session := []string{"SET sql_mode = ''", "SET time_zone = '+00:00'", "SET check_constraint_checks = 0"}
	stmts := append([]string(nil), session...)
	id := 0
	for _, n := range []int{1, 3, 40, 300, 7, 1} {
		var rows []string
		for range n {
			id++
			rows = append(rows, row(id))
		}
		stmts = append(stmts, "INSERT INTO dd.matrix VALUES "+strings.Join(rows, ", "))
	}
	for k := range 20 {
		set := make([]string, 0, 4)
		for range 4 {
			i := r.IntN(len(cols))
			set = append(set, names[i]+" = "+cols[i].gen(r))
		}
		stmts = append(stmts, fmt.Sprintf("UPDATE dd.matrix SET %s WHERE id %% 20 = %d", strings.Join(set, ", "), k))
	}
	stmts = append(stmts, "DELETE FROM dd.matrix WHERE id % 9 = 0", "BEGIN", "DELETE FROM dd.matrix WHERE id % 5 = 0",
		"UPDATE dd.matrix SET id = id + 1000 WHERE id % 7 = 0", "COMMIT")
	srv.Exec(t, stmts...)
	return start, masterPos(t, srv)
}

// decodeStats counts how the rowDecoder decoded rows events: itself
// (decoded, with deferred columns left to the reader), or converting
// go-mysql's values (converted).
type decodeStats struct {
	decoded, converted, deferred int
}

// readBoth reads log's events the old way (go-mysql's values, every one
// converted by the reader) and through a rowDecoder, with readers whose
// schemas cfg configures, and returns the batches of each.
func readBoth(t *testing.T, log *capturedLog, cfg func() schemaConfig) (old, fast []*Batch, st decodeStats) {
	t.Helper()
	read := func(p *replication.BinlogParser) []*Batch {
		var seq uint64
		r := &reader{
			log:         slog.New(slog.DiscardHandler),
			match:       func(string, string) bool { return true },
			matchDB:     func(string) bool { return true },
			batchRows:   64,
			nextSeq:     func() uint64 { seq++; return seq },
			schemaState: newSchemaState(),
		}
		c := cfg()
		r.pos.Flavor = c.Flavor
		r.schemas = newSchemas(c, r.schemaState)
		r.resetConnection(1)
		var out []*Batch
		emit := func(_ context.Context, b *Batch) error { out = append(out, b); return nil }
		for _, raw := range log.events {
			ev, err := p.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.handle(context.Background(), ev, emit); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	fastParser := newBenchParser()
	dec := newRowDecoder(cfg().Flavor, cfg().Collations, nil)
	fastParser.SetRowsEventDecodeFunc(func(e *replication.RowsEvent, data []byte) error {
		if err := dec.decode(e, data); err != nil {
			return err
		}
		_, res := decodedRows(e)
		switch {
		case res == nil:
			t.Errorf("table %s: rows event without the decoder's result", e.Table.Table)
		case plainRowsEvent(e) && !res.plan.goMySQL:
			st.decoded++
		default:
			st.converted++
		}
		if res != nil {
			st.deferred = 0
			for _, d := range res.plan.deferred {
				if d {
					st.deferred++
				}
			}
		}
		return nil
	})
	return read(newBenchParser()), read(fastParser), st
}

// compareBatches fails at every difference between the changes two reads
// delivered.
func compareBatches(t *testing.T, old, fast []*Batch) (rows int) {
	t.Helper()
	if len(old) != len(fast) {
		t.Fatalf("%d batches the old way, %d through the decoder", len(old), len(fast))
	}
	errs := 0
	for i := range old {
		a, b := old[i], fast[i]
		if a.Begin != b.Begin || (a.Commit == nil) != (b.Commit == nil) || len(a.Changes) != len(b.Changes) {
			t.Fatalf("batch %d: begin %v/%v, commit %v/%v, %d/%d changes", i, a.Begin, b.Begin, a.Commit, b.Commit, len(a.Changes), len(b.Changes))
		}
		for j := range a.Changes {
			ca, cb := &a.Changes[j], &b.Changes[j]
			if ca.Op != cb.Op || ca.Seq != cb.Seq || (ca.Table == nil) != (cb.Table == nil) {
				t.Fatalf("batch %d change %d: %c/%c seq %d/%d", i, j, ca.Op, cb.Op, ca.Seq, cb.Seq)
			}
			if ca.Table == nil {
				continue
			}
			if !reflect.DeepEqual(ca.Table, cb.Table) {
				t.Fatalf("batch %d change %d: tables differ:\n%+v\n%+v", i, j, ca.Table, cb.Table)
			}
			rows++
			for _, img := range [][2][]any{{ca.Before, cb.Before}, {ca.After, cb.After}} {
				if len(img[0]) != len(img[1]) {
					t.Fatalf("batch %d change %d: images of %d and %d values", i, j, len(img[0]), len(img[1]))
				}
				for k := range img[0] {
					if !reflect.DeepEqual(img[0][k], img[1][k]) {
						t.Errorf("batch %d change %d (%s) column %s: old %T %#v, decoder %T %#v",
							i, j, ca.Op, ca.Table.Columns[k].Name, img[0][k], img[0][k], img[1][k], img[1][k])
						if errs++; errs > 20 {
							t.FailNow()
						}
					}
				}
			}
		}
	}
	return rows
}

// collations reads the source's collation ids, as inspect does.
func collations(t *testing.T, srv *testdb.Server) map[uint64]string {
	t.Helper()
	r := srv.Query(t, "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
	m := make(map[uint64]string)
	for i := range r.RowNumber() {
		id, _ := r.GetUint(i, 0)
		cs, _ := r.GetString(i, 1)
		m[id] = cs
	}
	return m
}

func TestDecodeDifferential(t *testing.T) {
	t.Run("full metadata", func(t *testing.T) {
		srv := testdb.Start(t, testdb.Options{})
		start, end := writeMatrix(t, srv, 1)
		log := captureRaw(t, srv, start, end)
		src := Source{Addr: "127.0.0.1:" + strconv.Itoa(srv.Port()), User: srv.User(), Password: Secret(srv.Password())}
		colls := collations(t, srv)
		for _, tc := range []struct {
			name string
			cfg  func() schemaConfig
		}{
			{"no catalog", func() schemaConfig { return schemaConfig{Flavor: mysql.MariaDBFlavor, Collations: colls} }},
			// With the table definitions: JSON, UUID, INET6 and INET4.
			{"catalog", func() schemaConfig {
				return schemaConfig{Flavor: mysql.MariaDBFlavor, Collations: colls, Catalog: newSourceCatalog(src, mysql.MariaDBFlavor)}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				old, fast, st := readBoth(t, log, tc.cfg)
				n := compareBatches(t, old, fast)
				t.Logf("%d changes compared; %+v", n, st)
				// MariaDB's LONGTEXT and BINARY(16)/(4) columns (lt, b4,
				// b16, j, u, i6, i4) are the reader's to convert.
				if st.decoded == 0 || st.converted != 0 || st.deferred != 7 {
					t.Errorf("decoder stats %+v, want every event decoded by the decoder, 7 columns deferred", st)
				}
			})
		}
	})
	for _, meta := range []string{"NO_LOG", "MINIMAL"} {
		t.Run("live schema, "+meta, func(t *testing.T) { testLiveDifferential(t, meta) })
	}
	t.Run("compressed events", func(t *testing.T) {
		// MariaDB's compressed rows events are go-mysql's to decode; the
		// decoder converts its values.
		srv := testdb.Start(t, testdb.Options{ExtraArgs: []string{"--log-bin-compress=ON", "--log-bin-compress-min-len=10"}})
		start, end := writeMatrix(t, srv, 3)
		log := captureRaw(t, srv, start, end)
		colls := collations(t, srv)
		old, fast, st := readBoth(t, log, func() schemaConfig { return schemaConfig{Flavor: mysql.MariaDBFlavor, Collations: colls} })
		n := compareBatches(t, old, fast)
		t.Logf("%d changes compared; %+v", n, st)
		if st.converted == 0 {
			t.Errorf("decoder stats %+v, want compressed events converted", st)
		}
	})
}

// testLiveDifferential compares the two ways under schema = "live", with
// the source logging binlog_row_metadata meta (no column names).
func testLiveDifferential(t *testing.T, meta string) {
	srv := testdb.Start(t, testdb.Options{RowMetadata: meta})
	start, end := writeMatrix(t, srv, 2)
	log := captureRaw(t, srv, start, end)
	src := Source{Addr: "127.0.0.1:" + strconv.Itoa(srv.Port()), User: srv.User(), Password: Secret(srv.Password())}
	colls := collations(t, srv)
	old, fast, st := readBoth(t, log, func() schemaConfig {
		return schemaConfig{Flavor: mysql.MariaDBFlavor, Collations: colls, Live: true, Catalog: newSourceCatalog(src, mysql.MariaDBFlavor)}
	})
	n := compareBatches(t, old, fast)
	t.Logf("%d changes compared; %+v", n, st)
	if st.decoded == 0 || st.converted != 0 || st.deferred == 0 {
		t.Errorf("decoder stats %+v, want every event decoded by the decoder, columns deferred", st)
	}
}

// TestRowsEventTypeField pins the go-mysql internal the decoder reads: the
// event type of a RowsEvent. Without it every event goes through go-mysql's
// decoder (correct, but slow).
func TestRowsEventTypeField(t *testing.T) {
	if rowsEventTypeField < 0 {
		t.Fatal("replication.RowsEvent has no eventType field of type EventType: update plainRowsEvent for this go-mysql")
	}
}

var update = flag.Bool("update", false, "rewrite testdata/decode/matrix.events from a server")

// decodeCorpus is a TABLE_MAP of the random table (dd.matrix) and some of
// its rows events, as a server wrote them: the fuzz target's seeds.
type decodeCorpus struct {
	fde, tableMap []byte
	rows          []corpusEvent
	// collations are the server's collation ids.
	collations map[uint64]string
}

type corpusEvent struct {
	raw []byte
	// prefix is the length of the event header and rows header: the row
	// images start there.
	prefix int
}

const (
	corpusPath           = "testdata/decode/matrix.events"
	corpusCollationsPath = "testdata/decode/collations.json"
)

// TestDecodeCorpus rewrites the fuzz corpus with -update: the format
// description, the TABLE_MAP and a few small rows events of each kind, each
// event as a little-endian uint32 length, a uint32 prefix and its bytes.
func TestDecodeCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite " + corpusPath)
	}
	srv := testdb.Start(t, testdb.Options{})
	start, end := writeMatrix(t, srv, 4)
	log := captureRaw(t, srv, start, end)
	p := newBenchParser()
	prefix := 0
	p.SetRowsEventDecodeFunc(func(e *replication.RowsEvent, data []byte) error {
		pos, err := e.DecodeHeader(data)
		prefix = replication.EventHeaderSize + pos
		if err != nil {
			return err
		}
		return e.DecodeData(pos, data)
	})
	var out []byte
	put := func(raw []byte, prefix int) {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(raw)))
		out = binary.LittleEndian.AppendUint32(out, uint32(prefix))
		out = append(out, raw...)
	}
	var fde, tm []byte
	kinds := map[replication.EventType]int{}
	for _, raw := range log.events {
		ev, err := p.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.Event.(type) {
		case *replication.FormatDescriptionEvent:
			fde = raw
		case *replication.TableMapEvent:
			if string(e.Table) == "matrix" && tm == nil {
				tm = raw
				put(fde, 0)
				put(tm, 0)
			}
		case *replication.RowsEvent:
			if len(raw) <= 8<<10 && kinds[ev.Header.EventType] < 3 {
				kinds[ev.Header.EventType]++
				put(raw, prefix)
			}
		}
	}
	if len(kinds) != 3 {
		t.Fatalf("rows events of %d kinds, want insert, update and delete", len(kinds))
	}
	if err := os.MkdirAll(filepath.Dir(corpusPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpusPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	colls, err := json.Marshal(collations(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpusCollationsPath, colls, 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadDecodeCorpus(tb testing.TB) *decodeCorpus {
	tb.Helper()
	b, err := os.ReadFile(corpusPath)
	if err != nil {
		tb.Fatalf("%v (run TestDecodeCorpus with -update)", err)
	}
	c := &decodeCorpus{}
	for len(b) >= 8 {
		n, prefix := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:]))
		raw := b[8 : 8+n]
		b = b[8+n:]
		switch {
		case c.fde == nil:
			c.fde = raw
		case c.tableMap == nil:
			c.tableMap = raw
		default:
			c.rows = append(c.rows, corpusEvent{raw: raw, prefix: prefix})
		}
	}
	if len(c.rows) == 0 {
		tb.Fatalf("%s: no rows events", corpusPath)
	}
	if b, err = os.ReadFile(corpusCollationsPath); err == nil {
		err = json.Unmarshal(b, &c.collations)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// decoder returns a rowDecoder for the corpus's server.
func (c *decodeCorpus) decoder() *rowDecoder {
	return newRowDecoder(mysql.MariaDBFlavor, c.collations, nil)
}

// FuzzDecodeRows gives the rowDecoder arbitrary row images of the random
// table, in real rows events: it must never panic, must refuse what
// go-mysql refuses, and must deliver what go-mysql's values converted
// deliver, value for value, or fail where that fails.
func FuzzDecodeRows(f *testing.F) {
	c := loadDecodeCorpus(f)
	for i, ev := range c.rows {
		body := ev.raw[ev.prefix : len(ev.raw)-replication.BinlogChecksumLength]
		f.Add(uint8(i), body)
		f.Add(uint8(i), body[:len(body)/2])
		f.Add(uint8(i), body[:len(body)-1])
	}
	// Events without checksums: go-mysql cuts a checksum off the end of an
	// event but leaves it in the slice's capacity, where its decoder (not
	// the rowDecoder) reads on when the last value runs past the end.
	fde := bytes.Clone(c.fde)
	fde[len(fde)-replication.BinlogChecksumLength-1] = byte(replication.BINLOG_CHECKSUM_ALG_OFF)
	tableMap := bytes.Clone(c.tableMap[:len(c.tableMap)-replication.BinlogChecksumLength])
	binary.LittleEndian.PutUint32(tableMap[9:13], uint32(len(tableMap)))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ev := c.rows[int(which)%len(c.rows)]
		raw := append(append(make([]byte, 0, ev.prefix+len(body)), ev.raw[:ev.prefix]...), body...)
		binary.LittleEndian.PutUint32(raw[9:13], uint32(len(raw)))

		read := func(decoder bool) ([]Change, error, error) {
			p := replication.NewBinlogParser()
			p.SetFlavor(mysql.MariaDBFlavor)
			p.SetUseDecimal(true)
			p.SetTimestampStringLocation(time.UTC)
			if decoder {
				p.SetRowsEventDecodeFunc(c.decoder().decode)
			}
			for _, e := range [][]byte{fde, tableMap} {
				if _, err := p.Parse(e); err != nil {
					t.Fatal(err)
				}
			}
			e, err := p.Parse(raw)
			if err != nil {
				return nil, err, nil
			}
			if _, res := decodedRows(e.Event.(*replication.RowsEvent)); decoder && (res == nil || !res.plan.fast) {
				t.Fatal("the decoder left the event to go-mysql")
			}
			r := newBenchReader()
			r.schemas.cfg.Collations = c.collations
			r.batchRows = 1 << 20
			err = r.handle(context.Background(), e, func(context.Context, *Batch) error { return nil })
			return r.pending, nil, err
		}
		oldChanges, oldParse, oldErr := read(false)
		newChanges, newParse, newErr := read(true)
		if (oldParse == nil) != (newParse == nil) {
			t.Fatalf("go-mysql: %v; decoder: %v", oldParse, newParse)
		}
		if oldParse != nil {
			return
		}
		if (oldErr == nil) != (newErr == nil) {
			t.Fatalf("old way: %v; decoder: %v", oldErr, newErr)
		}
		if oldErr != nil {
			return
		}
		if len(oldChanges) != len(newChanges) {
			t.Fatalf("%d changes the old way, %d through the decoder", len(oldChanges), len(newChanges))
		}
		for i := range oldChanges {
			a, b := &oldChanges[i], &newChanges[i]
			if !reflect.DeepEqual(a.Before, b.Before) || !reflect.DeepEqual(a.After, b.After) {
				t.Fatalf("change %d:\nold     %#v %#v\ndecoder %#v %#v", i, a.Before, a.After, b.Before, b.After)
			}
		}
	})
}

// corpusParser returns a parser that has read the corpus's format
// description and TABLE_MAP, decoding rows with dec (nil: go-mysql).
func corpusParser(t testing.TB, c *decodeCorpus, dec *rowDecoder) *replication.BinlogParser {
	t.Helper()
	p := newBenchParser()
	if dec != nil {
		p.SetRowsEventDecodeFunc(dec.decode)
	}
	for _, e := range [][]byte{c.fde, c.tableMap} {
		if _, err := p.Parse(e); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestDecoderSkipsUnreadTables: rows of a table the task does not read
// are not decoded, and a reader that would read them refuses them rather
// than deliver nothing.
func TestDecoderSkipsUnreadTables(t *testing.T) {
	c := loadDecodeCorpus(t)
	p := corpusParser(t, c, newRowDecoder(mysql.MariaDBFlavor, c.collations, func(db, table string) bool { return table != "matrix" }))
	ev, err := p.Parse(c.rows[0].raw)
	if err != nil {
		t.Fatal(err)
	}
	rows, res := decodedRows(ev.Event.(*replication.RowsEvent))
	if len(rows) != 0 || res == nil || !res.plan.skip {
		t.Fatalf("skipped table: %d rows, result %+v", len(rows), res)
	}
	r := newBenchReader()
	r.match = func(string, string) bool { return false }
	if err := r.handle(context.Background(), ev, nil); err != nil || len(r.pending) != 0 {
		t.Fatalf("reader not reading the table: %v, %d changes", err, len(r.pending))
	}
	r = newBenchReader()
	r.schemas.cfg.Collations = c.collations
	if err := r.handle(context.Background(), ev, nil); err == nil || !strings.Contains(err.Error(), "not decoded") {
		t.Fatalf("reader reading the table: %v", err)
	}
}

// decodeAllocBudget is what decoding a rows event may allocate whatever
// its rows: go-mysql's event, header and RowsEvent, and the blocks the
// decoder cuts row lists, rows, rendered text and value slots from, which
// refill every few events. (Text the event holds as delivered is not
// copied at all.)
const decodeAllocBudget = 4

// TestDecodeAllocs holds the decoder to a fixed number of allocations per
// event, whatever its number of rows and columns (here 75, of every type).
func TestDecodeAllocs(t *testing.T) {
	c := loadDecodeCorpus(t)
	p := corpusParser(t, c, c.decoder())
	p.SetVerifyChecksum(false)
	for _, ev := range c.rows {
		// Without the statement-end flag, the parser keeps the table map.
		raw := bytes.Clone(ev.raw)
		raw[replication.EventHeaderSize+6] &^= byte(replication.RowsEventStmtEndFlag)
		var rows int
		allocs := testing.AllocsPerRun(50, func() {
			e, err := p.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			rs, res := decodedRows(e.Event.(*replication.RowsEvent))
			if res == nil || !plainRowsEvent(e.Event.(*replication.RowsEvent)) {
				t.Fatal("the decoder left the event to go-mysql")
			}
			rows = len(rs)
		})
		t.Logf("%d row images: %.1f allocations", rows, allocs)
		if allocs > decodeAllocBudget {
			t.Errorf("%d row images: %.1f allocations per event, want at most %d", rows, allocs, decodeAllocBudget)
		}
	}
}

// TestAppendRFC3339 checks the decoder's TIMESTAMP rendering against the
// time package over the whole TIMESTAMP range.
func TestAppendRFC3339(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	check := func(sec, usec int64, dec int) {
		layout := "2006-01-02T15:04:05"
		if dec > 0 {
			layout += "." + strings.Repeat("0", dec)
		}
		want := time.Unix(sec, usec*1000).UTC().Format(layout) + "Z"
		if got := string(appendRFC3339(nil, sec, usec, dec)); got != want {
			t.Fatalf("appendRFC3339(%d, %d, %d) = %s, want %s", sec, usec, dec, got, want)
		}
	}
	for _, sec := range []int64{1, 59, 86399, 86400, 951782400, 951868800, 2147483647, 4102444800, 4294967295} {
		for dec := range 7 {
			check(sec, 0, dec)
			check(sec, 999999, dec)
			check(sec, 16777215, dec) // more than a second: carried
		}
	}
	for range 200000 {
		check(1+r.Int64N(1<<32-1), r.Int64N(1<<24), r.IntN(7))
	}
}

// TestReaderFixValue checks the reader's conversion of deferred columns
// against convert, and that a MariaDB JSON value (LONGTEXT in the binary
// log, deferred in every row) costs no allocation of its own.
func TestReaderFixValue(t *testing.T) {
	r := &reader{}
	jsonCol := &Column{Name: "j", Kind: KindJSON, SQLType: mysql.MYSQL_TYPE_BLOB, Charset: "utf8mb4"}
	for _, tc := range []struct {
		c *Column
		v any
	}{
		{jsonCol, []byte(`{"a": [1, 2]}`)},
		{jsonCol, []byte(`not json`)}, // delivered as a JSON string
		{jsonCol, []byte{}},
		{jsonCol, nil},
		{jsonCol, `{"s": 1}`},
		{&Column{Name: "j", Kind: KindJSON, SQLType: mysql.MYSQL_TYPE_BLOB, Charset: "latin1"}, []byte("[\"\xe9\"]")},
		{&Column{Name: "j", Kind: KindJSON, SQLType: mysql.MYSQL_TYPE_JSON}, []byte(`[true]`)},
		{&Column{Name: "u", Kind: KindUUID, SQLType: mysql.MYSQL_TYPE_STRING, Meta: 16}, []byte("0123456789abcdef")},
	} {
		want, werr := convert(tc.c, tc.v)
		got, err := r.fixValue(tc.c, tc.v)
		if !reflect.DeepEqual(got, want) || (err == nil) != (werr == nil) {
			t.Errorf("%s %q: fixValue %#v, %v; convert %#v, %v", tc.c.Kind, tc.v, got, err, want, werr)
		}
	}
	var doc any = []byte(`{"id": 123456, "tags": ["a", "b"], "ok": true}`) // boxed once, as the decoder hands it over
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.fixValue(jsonCol, doc); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a JSON value costs %.1f allocations, want none (arena and slot blocks only)", n)
	}
}

// TestSyncerPacketsNotReused pins what the decoder's text values rely
// on (eventString, eventBytes): go-mysql's syncer hands every event its
// own bytes and never writes them again. The decoder here runs on a real
// syncer configured as a task's; every rows event's bytes, and every text
// and BLOB value decoded from them, must be unchanged once the whole
// range, many packets later, has been read.
func TestSyncerPacketsNotReused(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	start := masterPos(t, srv)
	stmts := []string{"CREATE DATABASE pk", "CREATE TABLE pk.t (id INT PRIMARY KEY, s VARCHAR(200) CHARACTER SET latin1, b BLOB, " +
		"u VARCHAR(50) CHARACTER SET utf8mb4, l VARCHAR(50) CHARACTER SET latin1)"}
	for tx := range 40 {
		var rows []string
		for i := range 50 {
			id := tx*50 + i
			rows = append(rows, fmt.Sprintf("(%d, REPEAT('%c', %d), REPEAT('%c', %d), 'grün %d', 'café %d')", id, 'a'+id%26, 1+id%150, 'A'+id%26, id%300, id, id))
		}
		stmts = append(stmts, "INSERT INTO pk.t VALUES "+strings.Join(rows, ", "))
	}
	srv.Exec(t, stmts...)
	end := masterPos(t, srv)

	type seen struct{ data, clone []byte }
	// Recorded on the syncer's goroutine, which parses ahead of GetEvent.
	var mu sync.Mutex
	var events []seen
	byEvent := map[*replication.RowsEvent][]byte{}
	dec := newRowDecoder(mysql.MariaDBFlavor, nil, nil)
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 1<<31 | uint32(time.Now().UnixNano()&0xffff), Flavor: mysql.MariaDBFlavor,
		Host: "127.0.0.1", Port: uint16(srv.Port()), User: srv.User(), Password: srv.Password(),
		UseDecimal: true, TimestampStringLocation: time.UTC, VerifyChecksum: true,
		EventCacheCount: EventCacheCount, Logger: slog.New(slog.DiscardHandler),
		RowsEventDecodeFunc: func(e *replication.RowsEvent, data []byte) error {
			mu.Lock()
			events = append(events, seen{data: data, clone: bytes.Clone(data)})
			byEvent[e] = data
			mu.Unlock()
			return dec.decode(e, data)
		},
	})
	defer s.Close()
	st, err := s.StartSync(start)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var values []string // each text value as decoded, copied
	var decoded [][]any
	for file := start.Name; ; {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
		case *replication.RowsEvent:
			rows, res := decodedRows(e)
			if res == nil || !bytes.Equal(e.Table.Schema, []byte("pk")) {
				continue
			}
			mu.Lock()
			data := byEvent[e]
			mu.Unlock()
			within := func(p *byte, n int) bool {
				return n > 0 && uintptr(unsafe.Pointer(p)) >= uintptr(unsafe.Pointer(&data[0])) &&
					uintptr(unsafe.Pointer(p))+uintptr(n) <= uintptr(unsafe.Pointer(&data[0]))+uintptr(len(data))
			}
			for _, r := range rows {
				s, b, u, l := r[1].(string), r[2].([]byte), r[3].(string), r[4].(string)
				values = append(values, strings.Clone(s), string(b))
				decoded = append(decoded, r)
				// ASCII latin1 text, UTF-8 text and bytes are the event's
				// own; latin1 beyond ASCII is converted.
				if !within(unsafe.StringData(s), len(s)) || !within(unsafe.StringData(u), len(u)) || (len(b) > 0 && !within(&b[0], len(b))) {
					t.Fatalf("row %v: a value that needs no conversion was copied", r[0])
				}
				if within(unsafe.StringData(l), len(l)) || !strings.HasPrefix(l, "café ") {
					t.Fatalf("row %v: latin1 %q not converted", r[0], l)
				}
			}
		}
		if file == end.Name && ev.Header.LogPos >= end.Pos {
			break
		}
	}
	if len(decoded) != 2000 {
		t.Fatalf("%d rows decoded, want 2000", len(decoded))
	}
	s.Close() // no more events recorded
	for i, ev := range events {
		if !bytes.Equal(ev.data, ev.clone) {
			t.Fatalf("rows event %d: its bytes changed after it was decoded", i)
		}
	}
	for i, r := range decoded {
		if r[1].(string) != values[2*i] || string(r[2].([]byte)) != values[2*i+1] {
			t.Fatalf("row %d: a value changed after it was decoded", i)
		}
	}
}

// TestGTIDStrings checks the reader's GTID formatting against go-mysql's.
func TestGTIDStrings(t *testing.T) {
	for _, g := range []mysql.MariadbGTID{{}, {DomainID: 0, ServerID: 1, SequenceNumber: 7}, {DomainID: 4294967295, ServerID: 4294967295, SequenceNumber: 18446744073709551615}, {DomainID: 3}} {
		if got, want := mariadbGTIDString(&g), g.String(); got != want {
			t.Errorf("GTID %+v: %q, want %q", g, got, want)
		}
	}
	for _, set := range []string{"0-1-100", "0-1-100,1-2-5", "2-1-3,10-1-4", ""} {
		s, err := mysql.ParseMariadbGTIDSet(set)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := gtidSetString(s), s.String(); got != want {
			t.Errorf("set %q: %q, want %q", set, got, want)
		}
	}
	mysqlSet, err := mysql.ParseMysqlGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := gtidSetString(mysqlSet), mysqlSet.String(); got != want {
		t.Errorf("MySQL set: %q, want %q", got, want)
	}
	g := mysql.MariadbGTID{DomainID: 0, ServerID: 1, SequenceNumber: 123456789}
	if n := testing.AllocsPerRun(100, func() { _ = mariadbGTIDString(&g) }); n > 1 {
		t.Errorf("%.0f allocations a GTID, want 1", n)
	}
}
