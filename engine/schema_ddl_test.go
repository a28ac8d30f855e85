package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// The DDL scenario: rows written before, between and after an ADD COLUMN
// in the middle of the table and a DROP COLUMN, all while the task is
// stopped.
var ddlSetup = []string{
	"CREATE DATABASE shop",
	"CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,2), qty INT UNSIGNED)",
}

func writeWhileStopped(t *testing.T, srv *testdb.Server) {
	t.Helper()
	srv.Exec(t,
		"INSERT INTO shop.items VALUES (2, 'b', 2.50, 2)",
		"USE shop",
		"ALTER TABLE items ADD COLUMN note VARCHAR(30) AFTER name",
		"INSERT INTO shop.items VALUES (3, 'c', 'new', 3.50, 3)",
	)
	srv.Exec(t, // no default database: the DDL is found by its qualified name
		"ALTER TABLE shop.items DROP COLUMN price",
		"INSERT INTO shop.items VALUES (4, 'd', 'later', 4)",
		"TRUNCATE TABLE shop.items",
		"INSERT INTO shop.items VALUES (5, 'e', NULL, 5)",
	)
}

// firstRun streams row 1 and stops the task, leaving its checkpoint in
// store.
func firstRun(t *testing.T, srv *testdb.Server, extra string, store checkpoint.Store) {
	t.Helper()
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, extra), store, sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO shop.items VALUES (1, 'a', 1.50, 1)")
	waitFor(t, "row 1", func() bool { return sink.count() == 1 })
	if !strings.Contains(sink.lines[0], `"after":{"id":1,"name":"a","price":"1.50","qty":1}`) {
		t.Fatalf("row 1: %s", sink.lines[0])
	}
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestDDLWhileStoppedFullMetadata(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, ddlSetup...)
	store := checkpoint.NewMemStore()
	firstRun(t, srv, `tables = ["shop.*"]`, store)
	writeWhileStopped(t, srv)

	sink := &capture{}
	startTask(t, taskConfig(t, srv, `tables = ["shop.*"]`), store, sink)
	waitFor(t, "7 changes", func() bool { return sink.count() >= 7 })
	time.Sleep(200 * time.Millisecond)
	envs := envelopeRows(t, sink)
	if len(envs) != 7 {
		t.Fatalf("got %d changes, want 7:\n%s", len(envs), strings.Join(sink.lines, "\n"))
	}
	want := []struct{ op, contains string }{
		{"c", `"after":{"id":2,"name":"b","price":"2.50","qty":2}`},
		{"ddl", `"db":"shop","table":"items","server_id"` + "\x00" + `"databaseName":"shop","schemaName":null,"ddl":"ALTER TABLE items ADD COLUMN note VARCHAR(30) AFTER name"`},
		{"c", `"after":{"id":3,"name":"c","note":"new","price":"3.50","qty":3}`},
		{"ddl", `"db":"shop","table":"items","server_id"` + "\x00" + `"databaseName":"shop","schemaName":null,"ddl":"ALTER TABLE shop.items DROP COLUMN price"`},
		{"c", `"after":{"id":4,"name":"d","note":"later","qty":4}`},
		{"t", `"before":null,"after":null,"source":{"version":"2.0","connector":"mariadb","name":"","ts_ms"`},
		{"c", `"after":{"id":5,"name":"e","note":null,"qty":5}`},
	}
	for i, w := range want {
		for _, part := range strings.Split(w.contains, "\x00") {
			if envs[i].Op != w.op || !strings.Contains(sink.lines[i], part) {
				t.Errorf("change %d: got %s\nwant op %q containing %s", i, sink.lines[i], w.op, part)
			}
		}
	}
}

// TestDDLRoutedByTable: DDL run without a default database reaches the task
// reading its table and names it; DDL of other tables of the database does
// not; a statement the parser cannot read is routed by the database it
// names rather than dropped.
func TestDDLRoutedByTable(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY)")
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["shop.orders"]`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	srv.Exec(t, // one session, no USE
		"CREATE TABLE shop.unrelated (id INT)",
		"ALTER TABLE shop.orders ADD COLUMN IF NOT EXISTS note VARCHAR(10)",
		"CREATE OR REPLACE TABLE shop.unrelated (id INT)",
		"RENAME TABLE shop.unrelated TO shop.unrelated2",
		"CREATE DATABASE other",
		"CREATE TABLE other.orders (id INT)",
		"INSERT INTO shop.orders VALUES (1, 'a')",
		"DROP TABLE shop.unrelated2, shop.orders",
		"DROP DATABASE other",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY)",
		"INSERT INTO shop.orders VALUES (2)",
	)
	waitFor(t, "row 2", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.lines) > 0 && strings.Contains(sink.lines[len(sink.lines)-1], `"after":{"id":2}`)
	})
	// Each change: what its source names, then what it carries.
	want := [][2]string{
		{`"db":"shop","table":"orders",`, `"ddl":"ALTER TABLE shop.orders ADD COLUMN IF NOT EXISTS note VARCHAR(10)"`},
		{`"db":"shop","table":null,`, `"ddl":"CREATE OR REPLACE TABLE shop.unrelated (id INT)"`},
		{`"db":"shop","table":"orders",`, `"after":{"id":1,"note":"a"}`},
		{`"db":"shop","table":"orders",`, `"ddl":"DROP TABLE `},
		{`"db":"shop","table":"orders",`, `"ddl":"CREATE TABLE shop.orders (id INT PRIMARY KEY)"`},
		{`"db":"shop","table":"orders",`, `"after":{"id":2}`},
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.lines) != len(want) {
		t.Fatalf("got %d changes, want %d:\n%s", len(sink.lines), len(want), strings.Join(sink.lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(sink.lines[i], w[0]) || !strings.Contains(sink.lines[i], w[1]) {
			t.Errorf("change %d:\n got %s\nwant %s and %s", i+1, sink.lines[i], w[0], w[1])
		}
	}
}

// TestLiveSchemaStreams runs schema = "live" on servers that log no column
// names: names, key, signedness, charsets, ENUM/SET members and MariaDB's
// JSON and UUID come from information_schema.
func TestLiveSchemaStreams(t *testing.T) {
	for _, meta := range []string{"MINIMAL", "NO_LOG"} {
		t.Run(meta, func(t *testing.T) {
			srv := testdb.Start(t, testdb.Options{RowMetadata: meta})
			srv.Exec(t,
				"CREATE DATABASE shop",
				`CREATE TABLE shop.items (
					a INT, id INT UNSIGNED, name VARCHAR(20) CHARACTER SET latin1, kind ENUM('x','it''s') CHARACTER SET latin1,
					tags SET('p','q'), doc JSON, u UUID, raw VARBINARY(4), big BIGINT UNSIGNED, y YEAR, d DECIMAL(6,2) UNSIGNED,
					PRIMARY KEY (id, a))`,
			)
			sink := &capture{}
			rt := startTask(t, taskConfig(t, srv, `tables = ["shop.*"]
schema = "live"`), checkpoint.NewMemStore(), sink)
			waitStreaming(t, rt)
			srv.Exec(t,
				`INSERT INTO shop.items VALUES (-1, 4294967295, 'café', 'it''s', 'p,q', '{"k": [1]}', '123e4567-e89b-12d3-a456-426614174000', X'00ff', 18446744073709551615, 2155, 9999.99)`,
				"UPDATE shop.items SET name = 'é' WHERE id = 4294967295",
			)
			waitChanges(t, rt, sink, 2)
			envs := envelopeRows(t, sink)
			compareImage(t, "insert", envs[0].After, rawObject(t, `{"a":-1,"id":4294967295,"name":"café","kind":"it's","tags":"p,q","doc":{"k":[1]},"u":"123e4567-e89b-12d3-a456-426614174000","raw":"AP8=","big":18446744073709551615,"y":2155,"d":"9999.99"}`))
			compareImage(t, "key", envs[0].Key, rawObject(t, `{"id":4294967295,"a":-1}`))
			if envs[0].KeyKind != "" {
				t.Errorf("key_kind = %q, want none (primary)", envs[0].KeyKind)
			}
			if envs[1].Op != "u" || string(envs[1].Before["name"]) != `"café"` || string(envs[1].After["name"]) != `"é"` {
				t.Errorf("update: %s", sink.lines[1])
			}
		})
	}
}

// TestLiveSchemaDDLWhileStopped: under schema = "live" the rows written
// before the ALTER are read with the definition saved in the checkpoint,
// and the first row written after it stops the task with the mismatch,
// never with a mislabelled row.
func TestLiveSchemaDDLWhileStopped(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{RowMetadata: "MINIMAL"})
	srv.Exec(t, ddlSetup...)
	store := checkpoint.NewMemStore()
	extra := `tables = ["shop.*"]
schema = "live"`
	firstRun(t, srv, extra, store)
	cp, err := store.Load(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cp.Schemas), `"shop.items"`) {
		t.Fatalf("checkpoint schemas lack shop.items: %s", cp.Schemas)
	}
	writeWhileStopped(t, srv)

	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, extra), store, sink)
	var runErr error
	select {
	case runErr = <-rt.done:
		close(rt.done)
	case <-time.After(60 * time.Second):
		t.Fatal("task did not stop on the schema mismatch")
	}
	var mm *engine.SchemaMismatchError
	if !errors.As(runErr, &mm) {
		t.Fatalf("err = %v, want a *SchemaMismatchError", runErr)
	}
	for _, part := range []string{
		"table shop.items: binary log has 5 columns (int, varchar/varbinary, varchar/varbinary, decimal, int unsigned)",
		"schema in use has 4 (id int, name varchar, note varchar, qty int unsigned)",
		"binlog_row_metadata=FULL",
	} {
		if !strings.Contains(runErr.Error(), part) {
			t.Errorf("error lacks %q:\n%v", part, runErr)
		}
	}
	// Row 2 came before the ALTER, read with the saved definition; the
	// ALTER itself was delivered; nothing after it was.
	envs := envelopeRows(t, sink)
	if len(envs) != 2 || !strings.Contains(sink.lines[0], `"after":{"id":2,"name":"b","price":"2.50","qty":2}`) || envs[1].Op != "ddl" {
		t.Fatalf("delivered before the error:\n%s", strings.Join(sink.lines, "\n"))
	}
}

func TestPreflightRowMetadata(t *testing.T) {
	full := testdb.Start(t, testdb.Options{})
	minimal := testdb.Start(t, testdb.Options{RowMetadata: "MINIMAL"})
	tests := []struct {
		name   string
		srv    *testdb.Server
		extra  string
		status string
		detail string
	}{
		{"full", full, "", engine.CheckOK, "FULL"},
		{"minimal refused", minimal, "", engine.CheckFail, "MINIMAL, want FULL"},
		{"minimal live", minimal, `schema = "live"`, engine.CheckWarn, `schema = "live"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := taskConfig(t, tc.srv, tc.extra)
			rep := engine.Preflight(context.Background(), cfg, cfg.Sources[0])
			var found *engine.Check
			for i := range rep.Checks {
				if rep.Checks[i].Name == "binlog_row_metadata" {
					found = &rep.Checks[i]
				}
			}
			if found == nil {
				t.Fatalf("no binlog_row_metadata check in %+v", rep.Checks)
			}
			if found.Status != tc.status || !strings.Contains(found.Detail, tc.detail) {
				t.Errorf("check = %+v, want status %s with %q", *found, tc.status, tc.detail)
			}
			if tc.status == engine.CheckFail {
				if !strings.Contains(found.Fix, "binlog_row_metadata=FULL") || !strings.Contains(found.Fix, `schema = "live"`) {
					t.Errorf("fix = %q", found.Fix)
				}
				if err := rep.Err(); !errors.Is(err, engine.ErrPreflight) {
					t.Errorf("Err() = %v, want ErrPreflight", err)
				}
			}
		})
	}
}

func TestKeys(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t,
		"CREATE DATABASE k",
		"CREATE TABLE k.events (tenant INT, seq INT, body VARCHAR(10))",
		"CREATE TABLE k.logs (at INT, msg VARCHAR(10))",
	)
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["k.*"]
key_columns = { "k.events" = ["tenant", "seq"] }`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	srv.Exec(t,
		"INSERT INTO k.events VALUES (1, 1, 'x')",
		"UPDATE k.events SET seq = 2 WHERE tenant = 1",
		"INSERT INTO k.logs VALUES (7, 'hi')",
		"DELETE FROM k.logs",
	)
	waitFor(t, "4 changes", func() bool { return sink.count() >= 4 })
	envs := envelopeRows(t, sink)

	t.Run("config", func(t *testing.T) {
		if envs[0].KeyKind != "config" {
			t.Errorf("key_kind = %q, want config: %s", envs[0].KeyKind, sink.lines[0])
		}
		compareImage(t, "insert key", envs[0].Key, rawObject(t, `{"tenant":1,"seq":1}`))
		// An update that changes the key keeps both images.
		upd := envs[1]
		if upd.Op != "u" || upd.KeyKind != "config" {
			t.Fatalf("update: %s", sink.lines[1])
		}
		compareImage(t, "update before", upd.Before, rawObject(t, `{"tenant":1,"seq":1,"body":"x"}`))
		compareImage(t, "update after", upd.After, rawObject(t, `{"tenant":1,"seq":2,"body":"x"}`))
		compareImage(t, "update key", upd.Key, rawObject(t, `{"tenant":1,"seq":2}`))
	})
	t.Run("row", func(t *testing.T) {
		for i := 2; i < 4; i++ {
			if envs[i].KeyKind != "row" {
				t.Errorf("key_kind = %q, want row: %s", envs[i].KeyKind, sink.lines[i])
			}
			compareImage(t, "key", envs[i].Key, rawObject(t, `{"at":7,"msg":"hi"}`))
		}
		if envs[3].Op != "d" {
			t.Errorf("delete: %s", sink.lines[3])
		}
	})
	t.Run("unknown column", func(t *testing.T) {
		if err := rt.stop(t); err != nil { // one replica id per server
			t.Fatal(err)
		}
		srv.Exec(t, "CREATE TABLE k.other (a INT)")
		rt2 := startTask(t, taskConfig(t, srv, `tables = ["k.other"]
key_columns = { "k.other" = ["a", "nope"] }`), checkpoint.NewMemStore(), &capture{})
		waitStreaming(t, rt2)
		srv.Exec(t, "INSERT INTO k.other VALUES (1)")
		select {
		case err := <-rt2.done:
			close(rt2.done)
			if err == nil || !strings.Contains(err.Error(), "table k.other: key_columns names column \"nope\"") {
				t.Fatalf("err = %v, want one naming the table and the column", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("task did not stop on a key_columns entry naming a missing column")
		}
	})
}

func rawObject(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad object %s: %v", s, err)
	}
	return m
}

// waitChanges waits for n changes, failing at once if the task stops.
func waitChanges(t *testing.T, rt *runningTask, sink *capture, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for sink.count() < n {
		select {
		case err := <-rt.done:
			close(rt.done)
			t.Fatalf("task stopped after %d of %d changes: %v", sink.count(), n, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d changes (have %d)", n, sink.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJSONDetectionFollowsDDL: MariaDB logs JSON as LONGTEXT, so whether
// a column is JSON comes from information_schema, kept with the checkpoint
// and read again after a DDL naming the table. Values are valid JSON
// text either way: only their type tells which definition was used.
func TestJSONDetectionFollowsDDL(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d CHARACTER SET utf8mb4", "CREATE TABLE d.j (id INT PRIMARY KEY, doc LONGTEXT)")
	store := checkpoint.NewMemStore()
	cfg := taskConfig(t, srv, `tables = ["d.*"]`)
	sink := &capture{}
	rt := startTask(t, cfg, store, sink)
	waitStreaming(t, rt)
	srv.Exec(t, "INSERT INTO d.j VALUES (1, '[1]')")
	waitChanges(t, rt, sink, 1)
	if err := rt.stop(t); err != nil {
		t.Fatal(err)
	}
	// While stopped: a row, then the column becomes JSON, then a row. The
	// definition saved with the checkpoint still says LONGTEXT for row 2.
	srv.Exec(t,
		"INSERT INTO d.j VALUES (2, '[2]')",
		"ALTER TABLE d.j MODIFY doc JSON",
		"INSERT INTO d.j VALUES (3, '[3]')",
	)
	rt = startTask(t, cfg, store, sink)
	waitChanges(t, rt, sink, 4)
	srv.Exec(t,
		"ALTER TABLE d.j MODIFY doc LONGTEXT",
		"INSERT INTO d.j VALUES (4, '[4]')",
	)
	waitChanges(t, rt, sink, 6)
	envs := envelopeRows(t, sink)
	want := []string{`"[1]"`, `"[2]"`, "", `[3]`, "", `"[4]"`}
	var got []string
	for _, e := range envs {
		got = append(got, string(e.After["doc"]))
	}
	if len(envs) != 6 || envs[2].Op != "ddl" || envs[4].Op != "ddl" || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("doc values %q, want %q:\n%s", got, want, strings.Join(sink.lines, "\n"))
	}
}
