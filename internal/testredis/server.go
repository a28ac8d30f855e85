// Package testredis starts private Redis servers for tests: each in its own
// directory (the append-only file and redis.log), on its own port on
// 127.0.0.1, with every write fsynced to the append-only file before it is
// acknowledged, so data survives Stop, Kill and Restart. It never touches a
// system server. A server is ready within a tenth of a second after New is
// called.
//
// Tests call Start, which skips when redis-server is unavailable, unless the
// CI environment variable is set, in which case it fails. Other programs call
// New.
package testredis

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pumacdc/puma/internal/testproc"
)

// startTimeout bounds how long one redis-server start may take to be ready.
const startTimeout = 60 * time.Second

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 30 * time.Second

// Options configure a server. The zero value is a server with append-only
// persistence (appendfsync always) and no snapshots, in a fresh temporary
// directory on a free port.
type Options struct {
	// Dir is the server directory (appendonlydir/, redis.log). Empty means
	// a new temporary directory that Close (or Start's cleanup) removes. A
	// given Dir is never removed; data already in it is loaded.
	Dir string
	// Port is the TCP port; 0 picks a free one. 6379 is refused.
	Port int
	// ExtraArgs are appended to the redis-server command line
	// ("--maxmemory", "10mb").
	ExtraArgs []string
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	return testproc.CheckPort("testredis", o.Port, 6379)
}

// Server is one private redis-server. Addr, Port, Dir and LogPath are safe
// for concurrent use; Stop, Kill, Restart and Close serialise with each
// other.
type Server struct {
	opts    Options
	bin     string
	dir     string // absolute, symbolic links resolved, as Redis reports it
	logPath string
	port    int
	run     *testproc.Runner
}

// New starts a server and returns once it answers commands. The caller owns
// the server and must Close it. ctx bounds the start only.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.ExtraArgs = append([]string(nil), opts.ExtraArgs...)
	bin, err := testproc.Find("redis-server", "redis-server", "/usr/bin", "/usr/sbin", "/usr/local/bin")
	if err != nil {
		return nil, fmt.Errorf("testredis: %w", err)
	}
	s := &Server{opts: opts, bin: bin, port: opts.Port}
	dir, owned, err := testproc.MakeDir("testredis", opts.Dir, 0o755)
	if err != nil {
		return nil, err
	}
	s.dir, s.logPath = dir, filepath.Join(dir, "redis.log")
	s.run = testproc.NewRunner(testproc.Config{
		Harness:      "testredis",
		Program:      "redis-server",
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
		Name:  s.Addr,
	})
	if err := s.run.Start(ctx); err != nil {
		s.run.Close()
		return nil, err
	}
	return s, nil
}

// args is the redis-server command line for s. It logs to stdout, which
// start sends to redis.log.
func (s *Server) args() []string {
	a := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--daemonize", "no",
	}
	return append(a, s.opts.ExtraArgs...)
}

// ready checks, within two seconds, that the server answers (not while it
// loads its append-only file: Redis answers LOADING then) and that it is
// this one, by its directory.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Dial first: go-redis logs every failed dial, and a starting server
	// refuses a few.
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	conn.Close()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.password(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 2 * time.Second})
	defer c.Close()
	got, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return err
	}
	if got["dir"] != s.dir {
		return fmt.Errorf("server on port %d has dir %q, not %q", s.port, got["dir"], s.dir)
	}
	return nil
}

// password is the --requirepass of the server's ExtraArgs ("" when
// none): the readiness check must authenticate like any client.
func (s *Server) password() string {
	for i, a := range s.opts.ExtraArgs {
		if a == "--requirepass" && i+1 < len(s.opts.ExtraArgs) {
			return s.opts.ExtraArgs[i+1]
		}
	}
	return ""
}

// Addr returns "127.0.0.1:PORT", for redis.Options.Addr.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Dir returns the server directory; the append-only file is in
// Dir/appendonlydir.
func (s *Server) Dir() string { return s.dir }

// LogPath returns redis.log; it is appended to across restarts.
func (s *Server) LogPath() string { return s.logPath }

// Stop shuts the server down cleanly: SIGTERM, then SIGKILL if it has not
// exited after 30 seconds (reported as an error, as is a server that had
// crashed on its own). Stopping a stopped server is a no-op. The data is
// kept for Restart.
func (s *Server) Stop() error { return s.run.Stop() }

// Kill sends SIGKILL and waits for the process to exit, simulating a crash.
// Every acknowledged write is in the append-only file, which Restart loads.
func (s *Server) Kill() error { return s.run.Kill() }

// Restart stops the server if it is running and starts it again on the same
// directory, port and options. ctx bounds the start.
func (s *Server) Restart(ctx context.Context) error { return s.run.Restart(ctx) }

// Close stops the server and, if New created its directory, removes it.
func (s *Server) Close() error { return s.run.Close() }
