package testpg

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pumacdc/puma/internal/testproc"
)

// Start starts a server for the test t and registers a cleanup that stops it.
// The cleanup removes the server's directory, unless the test failed: then it
// keeps the directory and logs its path and the last 50 lines of its log.
//
// Invalid options fail the test. When PostgreSQL is missing or cannot
// start, Start skips the test, or fails it if the CI environment variable is
// non-empty, so a CI run can never pass by skipping.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return testproc.Start(t, "testpg", "postgres", opts, New)
}

// CreateDB creates the database name and returns its DSN. Any error fails
// the test.
func (s *Server) CreateDB(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatalf("testpg: create database %s: %v", name, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testpg: create database %s on %s: %v", name, s.addr(), err)
	}
	return s.dsn(name)
}
