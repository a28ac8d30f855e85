package testrabbit

import (
	"testing"

	"github.com/pumacdc/puma/internal/testproc"
)

// Start starts a node for the test t and registers a cleanup that stops it.
// The cleanup removes the node's directory, unless the test failed: then it
// keeps the directory and logs its path and the last 50 lines of the node
// log. A node takes seconds to start: share one between tests where you can.
//
// Invalid options fail the test. When RabbitMQ is missing or cannot
// start, Start skips the test, or fails it if the CI environment variable is
// non-empty, so a CI run can never pass by skipping.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return testproc.Start(t, "testrabbit", "rabbitmq-server", opts, New)
}
