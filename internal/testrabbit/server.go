// Package testrabbit starts private RabbitMQ nodes for tests: each with its
// own node name (puma-test-PORT@localhost), AMQP and distribution ports on
// 127.0.0.1, directory (database, logs, configuration, enabled plugins: none)
// and Erlang cookie, and its own epmd on a port of its own, so it neither
// reaches nor can be reached by a system node, and leaves no epmd daemon
// behind. guest/guest may log in, over loopback only.
//
// RabbitMQ is slow to boot: a node is ready 10 to 25 seconds after New is
// called on a busy two-core machine, and a clean stop takes seconds too.
// Tests that need one should share it where they can.
//
// Tests call Start, which skips when RabbitMQ is unavailable, unless the CI
// environment variable is set, in which case it fails. Other programs call
// New.
package testrabbit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/pumacdc/puma/internal/testproc"
)

// startTimeout bounds how long one node start may take to accept AMQP
// connections; a loaded machine makes RabbitMQ slow to boot.
const startTimeout = 3 * time.Minute

// stopGrace is how long Stop waits for the node to exit once rabbitmqctl
// stop returned before it kills it.
const stopGrace = 30 * time.Second

// ctlTimeout bounds one rabbitmqctl run.
const ctlTimeout = time.Minute

// Options configure a node. The zero value is a fresh node in a new
// temporary directory on free ports.
type Options struct {
	// Dir is the node directory (mnesia/, log/, configuration, cookie).
	// Empty means a new temporary directory that Close (or Start's
	// cleanup) removes. A given Dir is never removed; a node database
	// already in it is reused if Port is the same as then, since the node
	// name carries the port.
	Dir string
	// Port is the AMQP port; 0 picks a free one. 5672 is refused.
	Port int
	// Config is appended to the node's rabbitmq.conf, one setting a line
	// ("consumer_timeout = 60000").
	Config []string
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	errs := []error{testproc.CheckPort("testrabbit", o.Port, 5672)}
	for i, line := range o.Config {
		if k, _, ok := strings.Cut(line, "="); !ok || strings.TrimSpace(k) == "" || strings.Contains(line, "\n") {
			errs = append(errs, fmt.Errorf("testrabbit: options: Config[%d] %q: want one KEY = VALUE line", i, line))
		}
	}
	return errors.Join(errs...)
}

// Server is one private RabbitMQ node and its epmd. URL, Port, Node, Dir,
// LogPath and Ctl are safe for concurrent use; Stop, Kill, Restart and Close
// serialise with each other.
type Server struct {
	opts     Options
	server   string // the rabbitmq-server script
	ctl      string // the rabbitmqctl beside it
	dir      string
	port     int // AMQP
	distPort int
	epmdPort int
	epmd     *testproc.Process // lives until Close, across restarts
	run      *testproc.Runner  // of the rabbitmq-server script
}

// New starts a node and returns once guest can open an AMQP connection. The
// caller owns the node and must Close it. ctx bounds the start only.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Config = append([]string(nil), opts.Config...)
	server, ctl, err := findScripts()
	if err != nil {
		return nil, fmt.Errorf("testrabbit: %w", err)
	}
	epmd, err := testproc.Find("epmd", "erlang-base", "/usr/lib/erlang/bin")
	if err != nil {
		return nil, fmt.Errorf("testrabbit: %w", err)
	}
	s := &Server{opts: opts, server: server, ctl: ctl, port: opts.Port}
	dir, owned, err := testproc.MakeDir("testrabbit", opts.Dir, 0o700)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.run = testproc.NewRunner(testproc.Config{
		Harness:      "testrabbit",
		Program:      "rabbitmq-server",
		Dir:          dir,
		OwnsDir:      owned,
		Logger:       opts.Logger,
		StartTimeout: startTimeout,
		StopGrace:    stopGrace,
		Shutdown: func() error {
			_, err := s.Ctl(context.Background(), "stop")
			return err
		},
		PickPorts: s.pickPorts,
		Ports:     func() []int { return []int{s.port, s.distPort} },
		Spec: func() testproc.Spec {
			return testproc.Spec{
				Path:   s.server,
				Env:    s.env(),
				Dir:    s.dir,
				Output: filepath.Join(s.dir, "stdout.log"),
				// The script forwards SIGTERM to the Erlang VM, which
				// then shuts down cleanly; SIGKILL would orphan the VM.
				DeathSignal: syscall.SIGTERM,
			}
		},
		Ready:   s.ready,
		Name:    s.Node,
		LogPath: s.LogPath,
		Release: func() {
			if s.epmd != nil {
				s.epmd.Kill()
				s.epmd = nil
			}
		},
	})
	fail := func(err error) (*Server, error) {
		s.run.Close()
		return nil, err
	}
	if err := s.writeFiles(); err != nil {
		return fail(err)
	}
	if err := s.startEPMD(ctx, epmd); err != nil {
		return fail(err)
	}
	if err := s.run.Start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// findScripts returns the rabbitmq-server and rabbitmqctl scripts to run.
// Debian's /usr/sbin ones are wrappers that switch to the rabbitmq user,
// whose home holds the system node's cookie, so the real scripts in
// /usr/lib/rabbitmq/bin come first, and a wrapper found on PATH is refused.
func findScripts() (server, ctl string, err error) {
	candidates := []string{"/usr/lib/rabbitmq/bin/rabbitmq-server"}
	if p, err := exec.LookPath("rabbitmq-server"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || filepath.Base(real) == "rabbitmq-script-wrapper" {
			continue
		}
		ctl := filepath.Join(filepath.Dir(p), "rabbitmqctl")
		if _, err := os.Stat(ctl); err == nil {
			return p, ctl, nil
		}
	}
	return "", "", fmt.Errorf("rabbitmq-server and rabbitmqctl not found in /usr/lib/rabbitmq/bin or on PATH (install rabbitmq-server; scripts/setup.sh does): %w", testproc.ErrNotInstalled)
}

// writeFiles writes the node's configuration, its (empty) enabled plugins
// list, an empty rabbitmq-env.conf (so /etc/rabbitmq's is not read) and, if
// there is none yet, a random Erlang cookie, readable by its owner only as
// Erlang demands.
func (s *Server) writeFiles() error {
	conf := "# Written by testrabbit; the node listens on 127.0.0.1 only (RABBITMQ_NODE_IP_ADDRESS).\n" +
		"loopback_users.guest = true\n"
	for _, line := range s.opts.Config {
		conf += line + "\n"
	}
	files := map[string]string{
		"rabbitmq.conf":     conf,
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("testrabbit: new: %w", err)
		}
	}
	cookie := filepath.Join(s.dir, ".erlang.cookie")
	if _, err := os.Stat(cookie); err == nil {
		return nil
	}
	if err := os.WriteFile(cookie, []byte(rand.Text()), 0o400); err != nil {
		return fmt.Errorf("testrabbit: new: %w", err)
	}
	return nil
}

// startEPMD starts the node's own epmd in the foreground on a free port. It
// lives until Close, across restarts of the node.
func (s *Server) startEPMD(ctx context.Context, bin string) error {
	logPath := filepath.Join(s.dir, "epmd.log")
	var err error
	for range 5 {
		if s.epmdPort, err = testproc.FreePort(); err != nil {
			return fmt.Errorf("testrabbit: %w", err)
		}
		var p *testproc.Process
		p, err = testproc.Spawn(testproc.Spec{
			Path:   bin,
			Args:   []string{"-port", strconv.Itoa(s.epmdPort), "-address", "127.0.0.1"},
			Dir:    s.dir,
			Output: logPath,
		})
		if err != nil {
			return fmt.Errorf("testrabbit: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = p.WaitReady(wctx, func(ctx context.Context) error {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.epmdPort)))
			if err == nil {
				c.Close()
			}
			return err
		})
		cancel()
		if err == nil {
			s.epmd = p
			return nil
		}
		p.Kill()
	}
	return fmt.Errorf("testrabbit: start epmd on port %d: %w; %s:\n%s", s.epmdPort, err, logPath, testproc.Tail(logPath, 0, 10))
}

// pickPorts picks a free distribution port, and a free AMQP port unless
// Options.Port fixed it, for the node's first start: its name and database
// carry the AMQP port from then on.
func (s *Server) pickPorts() (err error) {
	if s.opts.Port == 0 {
		if s.port, err = testproc.FreePort(); err != nil {
			return err
		}
	}
	s.distPort, err = testproc.FreePort()
	return err
}

// env is the environment of rabbitmq-server and rabbitmqctl: this
// process's, less anything that configures RabbitMQ or Erlang, plus the
// node's own settings. HOME is the node directory, where Erlang finds the
// node's cookie.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") || k == "HOME" || k == "NOTIFY_SOCKET" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+s.dir,
		"ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_NODENAME="+s.Node(),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(s.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(s.distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(s.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(s.dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(s.dir, "rabbitmq.conf"),
		"RABBITMQ_CONFIG_FILES="+filepath.Join(s.dir, "conf.d"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(s.dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(s.dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(s.dir, "rabbitmq-env.conf"),
		// rabbitmqctl's own node takes any free port, not one of the
		// fixed few it would share with every other rabbitmqctl.
		"RABBITMQ_CTL_DIST_PORT_MIN=0",
		"RABBITMQ_CTL_DIST_PORT_MAX=0",
	)
}

// ready opens an AMQP connection as guest, within two seconds, and checks
// that the broker is this node by its cluster name, which defaults to the
// node's name with the machine's host name after the @.
func (s *Server) ready(context.Context) error {
	c, err := amqp.DialConfig(s.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		return err
	}
	defer c.Close()
	name, _, _ := strings.Cut(s.Node(), "@")
	if got, _ := c.Properties["cluster_name"].(string); !strings.HasPrefix(got, name+"@") {
		return fmt.Errorf("broker on port %d is %q, not %s", s.port, got, s.Node())
	}
	return nil
}

// URL returns "amqp://guest:guest@127.0.0.1:PORT/".
func (s *Server) URL() string {
	return "amqp://guest:guest@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) + "/"
}

// Port returns the AMQP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Node returns the node's name, puma-test-PORT@localhost.
func (s *Server) Node() string { return "puma-test-" + strconv.Itoa(s.port) + "@localhost" }

// Dir returns the node directory.
func (s *Server) Dir() string { return s.dir }

// LogPath returns the node's log, Dir/log/NODE.log; it is appended to
// across restarts.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "log", s.Node()+".log") }

// Ctl runs rabbitmqctl against the node with args ("list_queues", "name",
// "messages") and returns its standard output. Tests use it to look at or
// act on the broker (close_all_connections) beyond what AMQP offers.
func (s *Server) Ctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ctl, append([]string{"-n", s.Node(), "-q"}, args...)...)
	cmd.Env = s.env()
	cmd.Dir = s.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("testrabbit: rabbitmqctl -n %s %s: %w: %s", s.Node(), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Stop shuts the node down cleanly with rabbitmqctl stop, then waits up to
// 30 seconds for it to exit before killing it (reported as an error, as is
// a node that had crashed on its own, or a failing rabbitmqctl). Stopping a
// stopped node is a no-op. The database is kept for Restart; epmd keeps
// running.
func (s *Server) Stop() error { return s.run.Stop() }

// Kill sends SIGKILL to the node's processes and waits for them to exit,
// simulating a crash. The database is kept for Restart, which recovers it.
func (s *Server) Kill() error { return s.run.Kill() }

// Restart stops the node if it is running and starts it again on the same
// directory, ports and options. ctx bounds the start.
func (s *Server) Restart(ctx context.Context) error { return s.run.Restart(ctx) }

// Close stops the node and its epmd and, if New created its directory,
// removes it.
func (s *Server) Close() error { return s.run.Close() }
