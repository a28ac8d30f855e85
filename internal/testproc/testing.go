package testproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long Start waits for a server.
const startTimeout = 3 * time.Minute

// Server is what Start needs of a harness's server.
type Server interface {
	// Stop stops the server and keeps its directory.
	Stop() error
	// Close stops the server and removes the directory its New created.
	Close() error
	// Dir is the server's directory, kept when the test fails; "" if the
	// server has none.
	Dir() string
	// LogPath is the server's log, whose tail a failed test shows.
	LogPath() string
}

// Options are a harness's options, which Start checks first.
type Options interface {
	// Validate reports every invalid field.
	Validate() error
}

// Start calls newServer(ctx, opts) for the test t and registers a cleanup
// that closes the server. If the test failed, the cleanup stops the server
// instead, keeps its directory and logs the directory and the last 50
// lines of its log.
//
// Invalid options fail the test. When newServer fails (the server is not
// installed, or does not come up), Start skips the test, or fails it if the
// CI environment variable is non-empty, so a CI run can never pass by
// skipping. harness and what name the caller and its server in messages:
// "testnats", "nats-server".
func Start[S Server, O Options](t testing.TB, harness, what string, opts O, newServer func(context.Context, O) (S, error)) S {
	t.Helper()
	if err := opts.Validate(); err != nil {
		t.Fatalf("%v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	s, err := newServer(ctx, opts)
	if err != nil {
		if CI() {
			t.Fatalf("%s: cannot start %s (failing, not skipping, because CI is set): %v", harness, what, err)
		}
		t.Skipf("%s: cannot start %s (set CI=1 to fail instead of skip): %v", harness, what, err)
	}
	t.Cleanup(func() {
		if !t.Failed() || s.Dir() == "" {
			if err := s.Close(); err != nil {
				t.Errorf("%s: %v", harness, err)
			}
			return
		}
		if err := s.Stop(); err != nil {
			t.Logf("%s: %v", harness, err)
		}
		t.Logf("%s: test failed; kept %s dir %s; last 50 lines of %s:\n%s",
			harness, what, s.Dir(), s.LogPath(), Tail(s.LogPath(), 0, 50))
	})
	return s
}

// CI reports whether the CI environment variable is non-empty: harnesses
// then fail where they would skip.
func CI() bool { return os.Getenv("CI") != "" }

// Restarter is a harness's server as CheckPortTaken drives it.
type Restarter interface {
	Port() int
	Stop() error
	Restart(context.Context) error
}

// CheckPortTaken stops s, has another program take its port, and checks
// that Restart refuses to start there, rather than take that program for
// the server. It leaves s stopped. Each harness's tests call it, since
// each wires its own ports.
func CheckPortTaken(t testing.TB, s Restarter) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())))
	if err != nil {
		t.Fatalf("take port %d: %v", s.Port(), err)
	}
	defer l.Close()
	err = s.Restart(t.Context())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use by another program", s.Port())) {
		t.Fatalf("Restart on a taken port: err = %v, want one saying the port is in use", err)
	}
}
