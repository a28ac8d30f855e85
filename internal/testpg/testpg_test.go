package testpg

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pumacdc/puma/internal/testproc"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Settings: []string{"application_name=puma_test"}})
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port()); s.DSN() != want {
		t.Errorf("DSN = %q, want %q", s.DSN(), want)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	dsn := s.CreateDB(t, "shop")
	if !strings.HasSuffix(dsn, "/shop?sslmode=disable") {
		t.Errorf("CreateDB DSN = %q, want database shop", dsn)
	}
	run(t, dsn, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'one')")
	wantRows(t, dsn, "1=one")
	for setting, want := range map[string]string{
		"fsync":                   "on",
		"listen_addresses":        "127.0.0.1",
		"port":                    fmt.Sprint(s.Port()),
		"server_encoding":         "UTF8",
		"application_name":        "puma_test", // from Options.Settings
		"data_directory":          s.DataDir(),
		"unix_socket_directories": s.Dir(),
	} {
		if got := query(t, dsn, "SHOW "+setting); got != want {
			t.Errorf("SHOW %s = %q, want %q", setting, got, want)
		}
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses root: the cluster belongs to user postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(s.DataDir())
		if err != nil {
			t.Fatal(err)
		}
		if uid := fmt.Sprint(st.Sys().(*syscall.Stat_t).Uid); uid != u.Uid {
			t.Errorf("data directory owned by uid %s, want postgres (%s)", uid, u.Uid)
		}
	}

	// A clean stop and a restart on the same port keep the data.
	port := s.Port()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("Connect succeeded after Stop")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", s.Port(), port)
	}
	wantRows(t, dsn, "1=one")

	// So does a crash: a committed row survives SIGKILL of the postmaster
	// and its backends, one of which holds a connection open.
	run(t, dsn, "INSERT INTO t VALUES (2, 'two')")
	idle, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(context.Background())
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	wantRows(t, dsn, "1=one,2=two")
	if log, _ := os.ReadFile(s.LogPath()); !strings.Contains(string(log), "not properly shut down") {
		t.Errorf("no crash recovery in %s after Kill", s.LogPath())
	}
}

func TestRestartPortTaken(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	b := Start(t, Options{})
	// Both are copies of the one cluster initdb made.
	const sysID = "SELECT system_identifier::text FROM pg_control_system()"
	if ida, idb := query(t, a.DSN(), sysID), query(t, b.DSN(), sysID); ida != idb {
		t.Errorf("system identifiers %s and %s differ: clusters not copied from the template", ida, idb)
	}
	testproc.CheckPortTaken(t, a)
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Port: 5432}, "Port 5432: reserved"},
		{Options{Port: -1}, "Port -1: out of range"},
		{Options{Settings: []string{"wal_level=logical", "fsync"}}, `Settings[1] "fsync": want NAME=VALUE`},
		{Options{Settings: []string{"=x"}}, `Settings[0] "=x": want NAME=VALUE`},
	} {
		err := tt.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	if err := (Options{Port: 15432, Settings: []string{"wal_level=logical"}}).Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func run(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	c := connect(t, dsn)
	for _, stmt := range stmts {
		if _, err := c.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	var v string
	if err := connect(t, dsn).QueryRow(t.Context(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// wantRows checks table t as id=v pairs in id order.
func wantRows(t *testing.T, dsn, want string) {
	t.Helper()
	if got := query(t, dsn, "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t"); got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
}
