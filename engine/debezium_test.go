package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestDebeziumConsumerRebuildsTypes feeds what builtin:jsonl writes for
// every type of the all-types tables (inserts, updates of every column,
// deletes, updates of the key) to a consumer that knows only Debezium's
// documented envelope, and holds the tables it rebuilds to the server's
// rows, value by value. One sender writes the plain envelope, the other
// with_schema; both with transaction markers, key_change = "delete_create"
// and tombstones, as a Kafka-bound Debezium deployment has them.
func TestDebeziumConsumerRebuildsTypes(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	tables := typeTables()
	stmts := []string{"CREATE DATABASE ty CHARACTER SET utf8mb4", "CREATE TABLE ty.zz_done (id INT PRIMARY KEY)"}
	for _, tt := range tables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE ty.%s (id INT PRIMARY KEY, %s)", tt.name, tt.cols))
	}
	srv.Exec(t, stmts...)
	dir := t.TempDir()
	stop := startJSONLTask(t, srv, dir, `tables = ["ty.*"]`,
		`{ path = "plain.jsonl", markers = true, key_change = "delete_create", tombstones = true }`,
		`{ path = "schema.jsonl", markers = true, key_change = "delete_create", tombstones = true, envelope = "with_schema" }`)

	// Each table: its rows in one transaction; row 1 takes every stored
	// column of the last row in another. Then one transaction across all
	// tables deletes the last row and changes the key of the one before
	// (of row 1 in a table of two rows).
	var last []string
	for _, tt := range tables {
		n := len(tt.rows)
		stmts := append(append([]string(nil), tt.setup...), "BEGIN")
		for i, r := range tt.rows {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO ty.%s VALUES (%d, %s)", tt.name, i+1, r.values))
		}
		stmts = append(stmts, "COMMIT")
		var set []string
		for _, c := range storedColumns(t, srv, tt.name) {
			set = append(set, fmt.Sprintf("a.`%s` = b.`%s`", c, c))
		}
		stmts = append(stmts, fmt.Sprintf("UPDATE ty.%s a JOIN ty.%s b ON b.id = %d SET %s WHERE a.id = 1", tt.name, tt.name, n, strings.Join(set, ", ")))
		srv.Exec(t, stmts...)
		moved := max(n-1, 2) - 1 // not row 1, whose update must show, unless there are only 2 rows
		last = append(last, fmt.Sprintf("DELETE FROM ty.%s WHERE id = %d", tt.name, n), fmt.Sprintf("UPDATE ty.%s SET id = %d WHERE id = %d", tt.name, 1000+moved, moved))
	}
	srv.Exec(t, append(append([]string{"SET sql_mode = ''", "SET check_constraint_checks = 0", "BEGIN"}, last...), "COMMIT", "INSERT INTO ty.zz_done VALUES (1)")...)
	for _, f := range []string{"plain.jsonl", "schema.jsonl"} {
		waitFor(t, f+" to reach the last row", func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			return bytes.Contains(b, []byte(`"table":"zz_done"`)) && bytes.HasSuffix(b, []byte("\n"))
		})
	}
	stop()

	names := []string{"zz_done"}
	for _, tt := range tables {
		names = append(names, tt.name)
	}
	for _, f := range []string{"plain.jsonl", "schema.jsonl"} {
		t.Run(strings.TrimSuffix(f, ".jsonl"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			envelopetest.CheckLines(t, f, data)
			c := newDebeziumConsumer()
			for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
				if err := c.feed(line); err != nil {
					t.Fatalf("line %d: %v\n%s", i+1, err, line)
				}
			}
			if c.tx != nil {
				t.Fatalf("transaction %s has no END", c.tx.id)
			}
			// Every table had its insert transaction, an update, a delete
			// and a key change (a delete and a create), each delete
			// followed by its tombstone.
			nt := len(tables)
			want := map[string]int{"BEGIN": 2*nt + 2, "END": 2*nt + 2, "u": nt, "d": 2 * nt, "tombstone": 2 * nt, "key change": nt}
			for k, n := range want {
				if c.seen[k] != n {
					t.Errorf("%d %s events, want %d (seen: %v)", c.seen[k], k, n, c.seen)
				}
			}
			if f == "schema.jsonl" && len(c.schemas) != len(names) {
				t.Errorf("schemas of %d tables, want %d", len(c.schemas), len(names))
			}
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					jsonCols := compareRebuilt(t, srv, name, c.tables["ty."+name])
					if f == "schema.jsonl" && fmt.Sprint(jsonCols) != fmt.Sprint(c.jsonColumns["ty."+name]) {
						t.Errorf("the schema names %v io.debezium.data.Json, the server's JSON columns are %v", c.jsonColumns["ty."+name], jsonCols)
					}
				})
			}
		})
	}
}

// startJSONLTask runs a task whose senders are builtin:jsonl (the real
// Wasm module), one per config, writing into dir; stop stops it.
func startJSONLTask(t *testing.T, srv *testdb.Server, dir, extra string, senders ...string) (stop func()) {
	t.Helper()
	doc := fmt.Sprintf(`
[server]
data_dir = "data"
[[task]]
name = "shop"
replica_server_id = %d
start = "checkpoint"
start_if_none = "latest"
checkpoint_interval = "50ms"
%s
  [[task.source]]
  addr = %q
  user = "root"
`, 62000+srv.ServerID()+wasmReplicas.Add(1), extra, srv.Addr())
	for i, s := range senders {
		doc += fmt.Sprintf("  [[task.sender]]\n  name = \"jsonl%d\"\n  plugin = \"builtin:jsonl\"\n  config = %s\n  grants = { files = [\".\"] }\n", i, s)
	}
	cfg, err := config.Parse([]byte(doc), filepath.Join(dir, "puma.toml"))
	if err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{Builtin: func(name string, _ map[string]any) (hostabi.Builtin, bool) {
		return hostabitest.Builtin(t, name), name == "jsonl"
	}})
	task, err := engine.NewTask(cfg.Tasks[0], engine.Deps{
		Store: checkpoint.NewMemStore(),
		Log:   testLogger(t),
		NewSender: func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
			return h.NewSender(ctx, task.Name, p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wt := &wasmTask{dir: dir, cfg: cfg.Tasks[0], cancel: cancel, done: make(chan error, 1), task: task}
	go func() { wt.done <- task.Run(ctx) }()
	t.Cleanup(func() { wt.stop(t) })
	// The built-ins module is compiled first: with the race detector, on
	// a busy machine and a cold cache, that alone can take a minute.
	waitWithin(t, 4*time.Minute, "streaming", func() bool { return task.Stats().Snapshot().State == "streaming" })
	return func() {
		if err := wt.stop(t); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("task: %v", err)
		}
	}
}

// storedColumns lists table's columns a statement can set: all but id
// and the generated ones.
func storedColumns(t *testing.T, srv *testdb.Server, table string) []string {
	t.Helper()
	r := srv.Query(t, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'ty' AND TABLE_NAME = '"+table+
		"' AND COLUMN_NAME <> 'id' AND IS_GENERATED = 'NEVER' ORDER BY ORDINAL_POSITION")
	var out []string
	for i := range r.RowNumber() {
		s, _ := r.GetString(i, 0)
		out = append(out, s)
	}
	return out
}

// debeziumConsumer applies change events to an in-memory copy of the
// tables as a consumer written from Debezium's documentation does. It
// knows only what Debezium documents: the value is the change event
// (wrapped as {"schema","payload"} by Kafka Connect's JSON converter with
// schemas), before/after/op (c, u, d, r, t), source.db and source.table,
// the transaction block and the BEGIN/END transaction events (status,
// id, event_count, data_collections), schema change events (ddl), and
// tombstones (a null value after a delete). Rows are identified by their
// primary key field in the value, id (a JDBC sink's primary.key.mode =
// record_value); Debezium's update event never changes it, an update of
// the key is a delete and a create.
type debeziumConsumer struct {
	tables map[string]map[string]map[string]json.RawMessage // db.table → id → row
	// schemas are the "after" field schemas (with_schema), by db.table and column.
	schemas     map[string]map[string]connectField
	jsonColumns map[string]map[string]bool // columns the schema names io.debezium.data.Json
	tx          *dbzTx
	lastOp      string
	seen        map[string]int
}

type dbzTx struct {
	id      string
	total   int
	perColl map[string]int
	events  []dbzEvent
}

// dbzEvent is a line as Debezium documents it: a change event, a schema
// change event or a transaction event.
type dbzEvent struct {
	Before map[string]json.RawMessage `json:"before"`
	After  map[string]json.RawMessage `json:"after"`
	Op     string                     `json:"op"`
	Source struct {
		DB    string  `json:"db"`
		Table *string `json:"table"`
	} `json:"source"`
	Transaction *struct {
		ID                  string `json:"id"`
		TotalOrder          int    `json:"total_order"`
		DataCollectionOrder int    `json:"data_collection_order"`
	} `json:"transaction"`
	DDL             *string `json:"ddl"`
	Status          string  `json:"status"`
	ID              string  `json:"id"`
	EventCount      *int    `json:"event_count"`
	DataCollections []struct {
		DataCollection string `json:"data_collection"`
		EventCount     int    `json:"event_count"`
	} `json:"data_collections"`
}

// connectField is a field of a Kafka Connect schema.
type connectField struct {
	Type     string         `json:"type"`
	Optional bool           `json:"optional"`
	Name     string         `json:"name"`
	Field    string         `json:"field"`
	Fields   []connectField `json:"fields"`
}

func newDebeziumConsumer() *debeziumConsumer {
	return &debeziumConsumer{
		tables:      map[string]map[string]map[string]json.RawMessage{},
		schemas:     map[string]map[string]connectField{},
		jsonColumns: map[string]map[string]bool{},
		seen:        map[string]int{},
	}
}

func (c *debeziumConsumer) feed(line []byte) error {
	var wrapped struct {
		Schema  *connectField   `json:"schema"`
		Payload json.RawMessage `json:"payload"`
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(line, &keys); err != nil {
		return err
	}
	_, hasSchema := keys["schema"]
	_, hasPayload := keys["payload"]
	var schema *connectField
	if len(keys) == 2 && hasSchema && hasPayload {
		if err := json.Unmarshal(line, &wrapped); err != nil {
			return err
		}
		line, schema = wrapped.Payload, wrapped.Schema
	}
	if bytes.Equal(bytes.TrimSpace(line), []byte("null")) {
		if c.lastOp != "d" {
			return errors.New("a tombstone not right after a delete")
		}
		c.lastOp = ""
		c.seen["tombstone"]++
		return nil
	}
	var e dbzEvent
	if err := json.Unmarshal(line, &e); err != nil {
		return err
	}
	c.lastOp = e.Op
	switch {
	case e.Status == "BEGIN":
		if c.tx != nil {
			return fmt.Errorf("BEGIN %s inside %s", e.ID, c.tx.id)
		}
		c.tx = &dbzTx{id: e.ID, perColl: map[string]int{}}
		c.seen["BEGIN"]++
		return nil
	case e.Status == "END":
		return c.end(&e)
	case e.DDL != nil:
		return nil // a schema change event: nothing to apply
	}
	coll := e.Source.DB + "." + deref(e.Source.Table)
	if c.tx == nil || e.Transaction == nil || e.Transaction.ID != c.tx.id {
		return fmt.Errorf("change outside its transaction's BEGIN and END")
	}
	c.tx.total++
	c.tx.perColl[coll]++
	if e.Transaction.TotalOrder != c.tx.total || e.Transaction.DataCollectionOrder != c.tx.perColl[coll] {
		return fmt.Errorf("total_order %d, data_collection_order %d: want %d, %d", e.Transaction.TotalOrder, e.Transaction.DataCollectionOrder, c.tx.total, c.tx.perColl[coll])
	}
	if schema != nil {
		if err := c.readSchema(coll, schema); err != nil {
			return err
		}
	}
	if err := c.checkTypes(coll, e.Before); err != nil {
		return err
	}
	if err := c.checkTypes(coll, e.After); err != nil {
		return err
	}
	c.tx.events = append(c.tx.events, e)
	return nil
}

// end checks the END event's counts and applies the transaction.
func (c *debeziumConsumer) end(e *dbzEvent) error {
	if c.tx == nil || c.tx.id != e.ID {
		return fmt.Errorf("END %s without its BEGIN", e.ID)
	}
	if e.EventCount == nil || *e.EventCount != c.tx.total {
		return fmt.Errorf("END %s: event_count %v, %d events received", e.ID, e.EventCount, c.tx.total)
	}
	got := map[string]int{}
	for _, dc := range e.DataCollections {
		got[dc.DataCollection] = dc.EventCount
	}
	if fmt.Sprint(got) != fmt.Sprint(c.tx.perColl) {
		return fmt.Errorf("END %s: data_collections %v, received %v", e.ID, got, c.tx.perColl)
	}
	for i := range c.tx.events {
		if err := c.apply(&c.tx.events[i], c.tx.events[:i]); err != nil {
			return err
		}
	}
	c.tx = nil
	c.seen["END"]++
	return nil
}

func (c *debeziumConsumer) apply(e *dbzEvent, earlier []dbzEvent) error {
	coll := e.Source.DB + "." + deref(e.Source.Table)
	rows := c.tables[coll]
	if rows == nil {
		rows = map[string]map[string]json.RawMessage{}
		c.tables[coll] = rows
	}
	c.seen[e.Op]++
	switch e.Op {
	case "c", "r":
		id := string(e.After["id"])
		if _, ok := rows[id]; ok {
			return fmt.Errorf("%s: create of id %s, which exists", coll, id)
		}
		rows[id] = e.After
		if n := len(earlier); n > 0 && earlier[n-1].Op == "d" && sameTable(&earlier[n-1], e) {
			c.seen["key change"]++
		}
	case "u":
		id := string(e.Before["id"])
		if string(e.After["id"]) != id {
			return fmt.Errorf("%s: an update changes the key %s to %s", coll, id, e.After["id"])
		}
		if _, ok := rows[id]; !ok {
			return fmt.Errorf("%s: update of id %s, which does not exist", coll, id)
		}
		rows[id] = e.After
	case "d":
		id := string(e.Before["id"])
		if _, ok := rows[id]; !ok {
			return fmt.Errorf("%s: delete of id %s, which does not exist", coll, id)
		}
		delete(rows, id)
	case "t":
		clear(rows)
	default:
		return fmt.Errorf("unknown op %q", e.Op)
	}
	return nil
}

func sameTable(a, b *dbzEvent) bool {
	return a.Source.DB == b.Source.DB && deref(a.Source.Table) == deref(b.Source.Table)
}

// readSchema keeps the "after" struct's fields of a change event's schema.
func (c *debeziumConsumer) readSchema(coll string, s *connectField) error {
	for _, f := range s.Fields {
		if f.Field != "after" {
			continue
		}
		fields := map[string]connectField{}
		for _, col := range f.Fields {
			fields[col.Field] = col
			if col.Name == "io.debezium.data.Json" {
				if c.jsonColumns[coll] == nil {
					c.jsonColumns[coll] = map[string]bool{}
				}
				c.jsonColumns[coll][col.Field] = true
			}
		}
		c.schemas[coll] = fields
		return nil
	}
	return fmt.Errorf("%s: schema without an after field", coll)
}

// checkTypes holds an image's values to the Kafka Connect types its
// schema gives them.
func (c *debeziumConsumer) checkTypes(coll string, img map[string]json.RawMessage) error {
	fields, ok := c.schemas[coll]
	if !ok || img == nil {
		return nil
	}
	if len(fields) != len(img) {
		return fmt.Errorf("%s: %d columns in the schema, %d in the image", coll, len(fields), len(img))
	}
	for col, v := range img {
		f, ok := fields[col]
		if !ok {
			return fmt.Errorf("%s: column %s is not in the schema", coll, col)
		}
		if string(v) == "null" {
			if !f.Optional {
				return fmt.Errorf("%s.%s: null in a column the schema says is not optional", coll, col)
			}
			continue
		}
		var err error
		switch f.Type {
		case "int8", "int16", "int32", "int64":
			_, err = strconv.ParseInt(string(v), 10, 64)
			if f.Type == "int64" && err != nil { // BIGINT UNSIGNED, BIT(64): documented as exceeding int64
				_, err = strconv.ParseUint(string(v), 10, 64)
			}
		case "float32", "float64":
			_, err = strconv.ParseFloat(string(v), 64)
		case "bytes":
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				_, err = base64.StdEncoding.DecodeString(s)
			}
		case "string":
			if f.Name != "io.debezium.data.Json" {
				var s string
				err = json.Unmarshal(v, &s)
			}
		default:
			err = fmt.Errorf("type %s", f.Type)
		}
		if err != nil {
			return fmt.Errorf("%s.%s: %s is no %s: %v", coll, col, v, f.Type, err)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// compareRebuilt holds the rows a consumer rebuilt for ty.table to the
// server's, value by value, each server value turned into the
// representation README documents for its type, and returns the table's
// JSON columns (MariaDB's JSON: LONGTEXT with the CHECK json_valid).
func compareRebuilt(t *testing.T, srv *testdb.Server, table string, got map[string]map[string]json.RawMessage) (jsonCols map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := srv.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Quit()
	if _, err := conn.Execute("SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	cols, err := conn.Execute("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'ty' AND TABLE_NAME = '" + table + "' ORDER BY ORDINAL_POSITION")
	if err != nil {
		t.Fatal(err)
	}
	var names, types, exprs []string
	for i := range cols.RowNumber() {
		name, _ := cols.GetString(i, 0)
		typ, _ := cols.GetString(i, 1)
		q := "`" + name + "`"
		switch typ {
		case "bit":
			q += "+0"
		case "char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum", "set":
			q = "CONVERT(" + q + " USING utf8mb4)"
		case "binary", "varbinary", "blob", "tinyblob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon":
			q = "HEX(" + q + ")"
		}
		names, types, exprs = append(names, name), append(types, typ), append(exprs, q)
	}
	checks, err := conn.Execute("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'ty' AND TABLE_NAME = '" + table + "'")
	if err != nil {
		t.Fatal(err)
	}
	for i := range checks.RowNumber() {
		clause, _ := checks.GetString(i, 0)
		for j, name := range names {
			if types[j] == "longtext" && clause == "json_valid(`"+name+"`)" {
				if jsonCols == nil {
					jsonCols = map[string]bool{}
				}
				jsonCols[name] = true
			}
		}
	}
	r, err := conn.Execute("SELECT " + strings.Join(exprs, ", ") + " FROM ty." + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	if r.RowNumber() != len(got) {
		t.Errorf("rebuilt %d rows, the server has %d", len(got), r.RowNumber())
	}
	for i := range r.RowNumber() {
		id, _ := r.GetString(i, 0)
		row, ok := got[id]
		if !ok {
			t.Errorf("id %s: not rebuilt", id)
			continue
		}
		if len(row) != len(names) {
			t.Errorf("id %s: %d columns rebuilt, the server has %d", id, len(row), len(names))
		}
		for j, name := range names {
			v, ok := row[name]
			if !ok {
				t.Errorf("id %s: column %s not rebuilt", id, name)
				continue
			}
			null, _ := r.IsNull(i, j)
			s, _ := r.GetString(i, j)
			want, err := documentedValue(types[j], s, null, jsonCols[name])
			if err != nil {
				t.Fatalf("id %s column %s: %v", id, name, err)
			}
			if types[j] == "float" || types[j] == "double" {
				bits := 64
				if types[j] == "float" {
					bits = 32
				}
				v, want = canonicalFloat(v, bits), canonicalFloat(want, bits)
			}
			if !jsonEqual(v, want) {
				t.Errorf("id %s: %s (%s) = %s, the server has %s", id, name, types[j], v, want)
			}
		}
	}
	return jsonCols
}

// documentedValue is the JSON README's "Values" documents for a value of
// SQL type typ whose text (as compareRebuilt selects it) is s.
func documentedValue(typ, s string, null, isJSON bool) (json.RawMessage, error) {
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	switch {
	case null:
		return json.RawMessage("null"), nil
	case isJSON:
		if json.Valid([]byte(s)) {
			return json.RawMessage(s), nil
		}
		return str(s), nil
	}
	switch typ {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "bit", "float", "double":
		return json.RawMessage(s), nil
	case "year":
		n, err := strconv.Atoi(s)
		return json.RawMessage(strconv.Itoa(n)), err
	case "decimal", "date", "time", "datetime", "char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum", "set", "uuid", "inet4", "inet6":
		return str(s), nil
	case "timestamp":
		if strings.HasPrefix(s, "0000-00-00") {
			return str(s), nil
		}
		return str(s[:10] + "T" + s[11:] + "Z"), nil
	case "binary", "varbinary", "blob", "tinyblob", "mediumblob", "longblob", "geometry", "point", "linestring", "polygon":
		b, err := hex.DecodeString(s)
		return str(base64.StdEncoding.EncodeToString(b)), err
	}
	return nil, fmt.Errorf("no documented representation for type %s", typ)
}

// canonicalFloat writes a JSON number as the shortest text of the
// float of that size it reads as, so that the server's text and the
// envelope's compare by value.
func canonicalFloat(v json.RawMessage, bits int) json.RawMessage {
	f, err := strconv.ParseFloat(string(v), bits)
	if err != nil {
		return v
	}
	return json.RawMessage(strconv.FormatFloat(f, 'g', -1, bits))
}
