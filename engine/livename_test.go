package engine_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestTypesOfRowsBeforeAnAlter: rows written before a table gained a
// column, read after it did, still come with their UUID, INET6 and JSON
// values, which the binary log shows as BINARY(16) and LONGTEXT: the
// table's definition now is matched to the older rows by column name.
func TestTypesOfRowsBeforeAnAlter(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t,
		"CREATE DATABASE d",
		"CREATE TABLE d.t (id INT PRIMARY KEY, u UUID, ip INET6, j JSON)",
		`INSERT INTO d.t VALUES (1, '0e2d9b10-6b1c-11ef-9f1f-0242ac120002', '2001:db8::7', '{"a": [1, 2]}')`,
		"ALTER TABLE d.t ADD COLUMN extra INT AFTER id",
		`INSERT INTO d.t VALUES (2, 5, '1c7c2f3a-0000-4000-8000-000000000001', '::1', '[true]')`,
	)
	doc := fmt.Sprintf(`
[server]
data_dir = %q
[[task]]
name = "t"
replica_server_id = %d
start = "earliest"
tables = ["d.t"]
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:capture"
`, t.TempDir(), nextReplicaID(), srv.Addr())
	cfg, err := config.Parse([]byte(doc), filepath.Join(t.TempDir(), "puma.toml"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &capture{}
	startTask(t, cfg.Tasks[0], checkpoint.NewMemStore(), sink)
	waitFor(t, "the DDL and both rows", func() bool { return sink.count() >= 5 })
	time.Sleep(100 * time.Millisecond)
	var envs []map[string]any
	for _, e := range sink.envelopes(t) {
		if e["op"] == "c" {
			envs = append(envs, e)
		}
	}
	if len(envs) != 2 {
		t.Fatalf("%d inserts, want 2", len(envs))
	}
	for i, want := range []map[string]any{
		{"u": "0e2d9b10-6b1c-11ef-9f1f-0242ac120002", "ip": "2001:db8::7", "j": `{"a": [1, 2]}`},
		{"u": "1c7c2f3a-0000-4000-8000-000000000001", "ip": "::1", "j": "[true]"},
	} {
		after := envs[i]["after"].(map[string]any)
		for col, v := range want {
			got := after[col]
			if col == "j" {
				got = fmt.Sprint(got)
				if i == 0 {
					v = "map[a:[1 2]]"
				} else {
					v = "[true]"
				}
			}
			if got != v {
				t.Errorf("row %d: %s = %#v, want %#v", i+1, col, after[col], v)
			}
		}
	}
}
