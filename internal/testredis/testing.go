package testredis

import (
	"testing"

	"github.com/pumacdc/puma/internal/testproc"
)

// Start starts a server for the test t and registers a cleanup that stops it.
// The cleanup removes the server's directory, unless the test failed: then it
// keeps the directory and logs its path and the last 50 lines of redis.log.
//
// Invalid options fail the test. When redis-server is missing or cannot
// start, Start skips the test, or fails it if the CI environment variable is
// non-empty, so a CI run can never pass by skipping.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return testproc.Start(t, "testredis", "redis-server", opts, New)
}
