package main_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read the counts

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/examples/internal/exampletest"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testpg"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

// TestPGDailyPostgres runs the plugin built to Wasm against a private
// PostgreSQL: the counts of two groups land, and a new instance sent the
// same groups again, as after a crash, reports the stored position, so
// the host skips them and nothing counts twice.
func TestPGDailyPostgres(t *testing.T) {
	srv := testpg.Start(t, testpg.Options{})
	dsn := srv.CreateDB(t, "analytics")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "pgdaily.wasm")
	if err := os.WriteFile(path, hostabitest.BuildGo(t, "./examples/pgdaily"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{Targets: map[string]engine.Target{"analytics": {Kind: "postgres", Settings: map[string]any{
		"port": int64(srv.Port()), "user": "postgres", "database": "analytics", "sslmode": "disable"}}}})
	ctx := context.Background()
	start := func() *hostabi.Sender {
		s, err := h.NewSender(ctx, "shop", engine.PluginConfig{
			Plugin: path, Name: "pgdaily", Timeout: 10 * time.Second, MaxMemory: 64 << 20,
			Config: map[string]any{"target": "analytics"},
			Grants: map[string]any{"postgres": []any{"analytics"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Positioned() {
			t.Fatal("pgdaily did not report its applied position")
		}
		return s
	}
	// Two whole transactions and a third (batches 0-1, 2, 3-4: the
	// last-but-one is a DDL, which counts nothing).
	bs := exampletest.Batches(1)[:5]
	s := start()
	if err := s.SendGroup(ctx, bs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.SendGroup(ctx, bs[2:]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = start()
	defer s.Close()
	if err := s.SendGroup(ctx, bs); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT day::text || ' ' || source || ' ' || inserts || ' ' || updates || ' ' || deletes FROM daily_changes ORDER BY source")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := []string{"2025-11-25 shop.items 2 0 0", "2025-11-25 shop.orders 3 1 1"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("daily_changes: %q, want %q", got, want)
	}
}
