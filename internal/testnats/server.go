// Package testnats starts private NATS servers with JetStream for tests:
// each in its own directory (the JetStream store and nats.log), on its own
// port on 127.0.0.1. It never touches a system server. A server is ready
// within a tenth of a second after New is called.
//
// Tests call Start, which skips when nats-server is unavailable, unless the
// CI environment variable is set, in which case it fails. Other programs call
// New.
package testnats

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pumacdc/puma/internal/testproc"
)

// startTimeout bounds how long one nats-server start may take to be ready.
const startTimeout = 60 * time.Second

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 30 * time.Second

// Options configure a server. The zero value is a JetStream server in a
// fresh temporary directory on a free port.
type Options struct {
	// Dir is the server directory (jetstream/, nats.log). Empty means a new
	// temporary directory that Close (or Start's cleanup) removes. A given
	// Dir is never removed; a store already in it is reused.
	Dir string
	// Port is the client port; 0 picks a free one. 4222 is refused.
	Port int
	// ExtraArgs are appended to the nats-server command line.
	ExtraArgs []string
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	return testproc.CheckPort("testnats", o.Port, 4222)
}

// Server is one private nats-server. URL, Port, Dir and LogPath are safe for
// concurrent use; Stop, Kill, Restart and Close serialise with each other.
type Server struct {
	opts    Options
	bin     string
	dir     string
	logPath string
	port    int
	run     *testproc.Runner
}

// New starts a server and returns once it serves JetStream. The caller owns
// the server and must Close it. ctx bounds the start only.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.ExtraArgs = append([]string(nil), opts.ExtraArgs...)
	bin, err := testproc.Find("nats-server", "nats-server", "/usr/sbin", "/usr/local/sbin")
	if err != nil {
		return nil, fmt.Errorf("testnats: %w", err)
	}
	s := &Server{opts: opts, bin: bin, port: opts.Port}
	dir, owned, err := testproc.MakeDir("testnats", opts.Dir, 0o755)
	if err != nil {
		return nil, err
	}
	s.dir, s.logPath = dir, filepath.Join(dir, "nats.log")
	s.run = testproc.NewRunner(testproc.Config{
		Harness:      "testnats",
		Program:      "nats-server",
		Dir:          dir,
		OwnsDir:      owned,
		Logger:       opts.Logger,
		StartTimeout: startTimeout,
		StopGrace:    stopGrace,
		Port:         &s.port,
		Spec: func() testproc.Spec {
			return testproc.Spec{Path: s.bin, Args: s.args(), Dir: s.dir, Output: s.logPath}
		},
		Ready: s.ready,
		Name:  s.URL,
	})
	if err := s.run.Start(ctx); err != nil {
		s.run.Close()
		return nil, err
	}
	return s, nil
}

// args is the nats-server command line for s. The server's name carries its
// port, so ready can tell it from another program on the port.
func (s *Server) args() []string {
	a := []string{
		"-js",
		"-sd", s.dir,
		"-p", strconv.Itoa(s.port),
		"-a", "127.0.0.1",
		"-n", s.name(),
	}
	return append(a, s.opts.ExtraArgs...)
}

// name is the server's name.
func (s *Server) name() string { return "puma-test-" + strconv.Itoa(s.port) }

// ready connects, checks that the server is this one, and asks JetStream
// for the account's limits, all within two seconds.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nc, err := nats.Connect(s.URL(), nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	if got := nc.ConnectedServerName(); got != s.name() {
		return fmt.Errorf("server on port %d is %q, not %q", s.port, got, s.name())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(ctx)
	return err
}

// URL returns "nats://127.0.0.1:PORT".
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the client port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Dir returns the server directory; the JetStream store is Dir/jetstream.
func (s *Server) Dir() string { return s.dir }

// LogPath returns nats.log; it is appended to across restarts.
func (s *Server) LogPath() string { return s.logPath }

// Stop shuts the server down cleanly: SIGTERM, then SIGKILL if it has not
// exited after 30 seconds (reported as an error, as is a server that had
// crashed on its own). Stopping a stopped server is a no-op. The store is
// kept for Restart.
func (s *Server) Stop() error { return s.run.Stop() }

// Kill sends SIGKILL and waits for the process to exit, simulating a crash.
// The store is kept for Restart, which recovers it.
func (s *Server) Kill() error { return s.run.Kill() }

// Restart stops the server if it is running and starts it again on the same
// directory, port and options. ctx bounds the start.
func (s *Server) Restart(ctx context.Context) error { return s.run.Restart(ctx) }

// Close stops the server and, if New created its directory, removes it.
func (s *Server) Close() error { return s.run.Close() }
