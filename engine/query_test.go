package engine_test

import (
	"testing"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestIncludeQuery: with include_query, each row change's envelope
// carries the statement that made it (MariaDB's annotate events, which it
// sends only to a replica asking for them); without, source.query is null.
func TestIncludeQuery(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT)")
	with, without := &capture{}, &capture{}
	rtWith := startTask(t, taskConfig(t, srv, "include_query = true"), checkpoint.NewMemStore(), with)
	rtWithout := startTask(t, taskConfig(t, srv, ""), checkpoint.NewMemStore(), without)
	waitStreaming(t, rtWith)
	waitStreaming(t, rtWithout)
	insert := "INSERT INTO shop.items VALUES (1, 'a'), (2, 'b')"
	update := "UPDATE shop.items SET name = 'c' /* a comment stays */ WHERE id = 2"
	srv.Exec(t, "BEGIN", insert, update, "COMMIT")
	waitFor(t, "3 changes each", func() bool { return with.count() >= 3 && without.count() >= 3 })
	time.Sleep(100 * time.Millisecond)
	want := []string{insert, insert, update}
	for i, env := range with.envelopes(t) {
		if got := env["source"].(map[string]any)["query"]; got != want[i] {
			t.Errorf("change %d: source.query = %v, want %q", i, got, want[i])
		}
	}
	for i, env := range without.envelopes(t) {
		if got := env["source"].(map[string]any)["query"]; got != nil {
			t.Errorf("change %d without include_query: source.query = %v, want null", i, got)
		}
	}
}
