package testproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// MakeDir returns the absolute path, symbolic links resolved (as servers
// report their directories), of a server directory: dir, created with perm
// if it is missing, or, when dir is empty, a new temporary directory named
// after harness, which owned reports and the caller is to remove.
func MakeDir(harness, dir string, perm os.FileMode) (abs string, owned bool, err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", "puma-"+harness+"-"); err != nil {
			return "", false, fmt.Errorf("%s: new: %w", harness, err)
		}
		owned = true
	} else if err := os.MkdirAll(dir, perm); err != nil {
		return "", false, fmt.Errorf("%s: new: %w", harness, err)
	}
	if abs, err = filepath.Abs(dir); err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		if owned {
			os.RemoveAll(dir)
		}
		return "", false, fmt.Errorf("%s: new: dir %s: %w", harness, dir, err)
	}
	return abs, owned, nil
}

// Config describes a harness's server to a Runner. The functions are the
// harness's own; the Runner calls them with its lock held, so they must not
// call the Runner back.
type Config struct {
	// Harness names the harness in errors and log messages: "testnats".
	Harness string
	// Program names the server program in errors: "nats-server".
	Program string
	// Dir is the server directory, from MakeDir; OwnsDir says Close
	// removes it.
	Dir     string
	OwnsDir bool
	// Logger receives start and stop events; nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds one start's wait for Ready.
	StartTimeout time.Duration
	// StopGrace is how long Stop waits for the server to exit once asked
	// to before it kills it.
	StopGrace time.Duration
	// StopSignal asks the server to shut down when Shutdown is nil; 0
	// means SIGTERM.
	StopSignal syscall.Signal
	// Shutdown, if set, asks the server to shut down in place of
	// StopSignal (testrabbit runs rabbitmqctl stop).
	Shutdown func() error
	// Port points at the port of a server that has one, in place of
	// PickPorts and Ports: if it is 0, the first start picks a free one.
	Port *int
	// PickPorts, if set, picks free ports for the first start, and again
	// when a start fails because another program took one meanwhile. Nil
	// means the ports are fixed.
	PickPorts func() error
	// Ports are the server's ports, which must be free before it starts:
	// a server that finds another program on its port would otherwise be
	// taken for that program.
	Ports func() []int
	// Spec is how to run the server on its current ports; its Output is
	// the log whose tail explains a failed start.
	Spec func() Spec
	// Ready reports whether the server on the ports is up, and is this
	// one (see Process.WaitReady).
	Ready func(context.Context) error
	// Name names the running server in errors and log messages: its URL,
	// address or node name.
	Name func() string
	// LogPath is the server's log, named in errors and, if it is not
	// Spec's Output, tailed with it when a start fails. Nil means Spec's
	// Output.
	LogPath func() string
	// Release, if set, frees at Close what the server needs besides its
	// process (testrabbit's epmd), after the server stopped and before the
	// directory is removed.
	Release func()
}

// Runner runs a harness's server: it starts it on free ports, retrying
// when another program takes a port in between, stops it cleanly, kills it
// as a crash would, restarts it on the same directory and ports, and
// removes the directory it owns when closed. Every harness does these
// alike; only Config tells them apart. Start, Stop, Kill, Restart and
// Close serialise with each other.
type Runner struct {
	cfg     Config
	mu      sync.Mutex
	started bool     // a start succeeded: the ports are the server's now
	proc    *Process // nil while stopped
}

// NewRunner returns a Runner of the stopped server c describes.
func NewRunner(c Config) *Runner {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.StopSignal == 0 {
		c.StopSignal = syscall.SIGTERM
	}
	if c.LogPath == nil {
		spec := c.Spec
		c.LogPath = func() string { return spec().Output }
	}
	if port := c.Port; port != nil {
		c.Ports = func() []int { return []int{*port} }
		if *port == 0 {
			c.PickPorts = func() (err error) { *port, err = FreePort(); return err }
		}
	}
	return &Runner{cfg: c}
}

// Dir returns the server directory.
func (r *Runner) Dir() string { return r.cfg.Dir }

// LogPath returns the server's log (Config.LogPath).
func (r *Runner) LogPath() string { return r.cfg.LogPath() }

// A Runner is a Server to Start, which helps test it.
var _ Server = (*Runner)(nil)

// Start starts the server and waits until it is ready. The first start
// picks its ports (if Config.PickPorts is set) and retries on fresh ones
// when a server gave up because a port was taken; later starts keep them,
// since clients know them. ctx bounds the start.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.start(ctx)
}

func (r *Runner) start(ctx context.Context) error {
	c := r.cfg
	pick := !r.started && c.PickPorts != nil
	var err error
	for range 5 {
		if pick {
			if err := c.PickPorts(); err != nil {
				return fmt.Errorf("%s: %w", c.Harness, err)
			}
		}
		if busy := busyPort(c.Ports()); busy != 0 {
			err = fmt.Errorf("port %d is in use by another program; pick another port", busy)
			if pick {
				continue
			}
			break
		}
		spec := c.Spec()
		logPath := c.LogPath()
		outOffset, logOffset := Size(spec.Output), Size(logPath)
		var p *Process
		if p, err = Spawn(spec); err != nil {
			return fmt.Errorf("%s: %w", c.Harness, err)
		}
		wctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
		err = p.WaitReady(wctx, c.Ready)
		cancel()
		if err == nil {
			r.proc, r.started = p, true
			c.Logger.Info(c.Harness+" server started", "server", c.Name(), "dir", c.Dir, "pid", p.PID())
			return nil
		}
		// Only a server that gave up by itself may have lost its port.
		exited := p.Exited()
		p.Kill()
		err = fmt.Errorf("%s %w; %s:\n%s", c.Program, err, spec.Output, Tail(spec.Output, outOffset, 30))
		if logPath != spec.Output {
			err = fmt.Errorf("%w\n%s:\n%s", err, logPath, Tail(logPath, logOffset, 30))
		}
		if !pick || !exited || busyPort(c.Ports()) == 0 {
			break
		}
		c.Logger.Info(c.Harness+" port taken, retrying", "ports", c.Ports())
	}
	return fmt.Errorf("%s: start %s in %s: %w", c.Harness, c.Name(), c.Dir, err)
}

// busyPort returns the first of ports that cannot be bound now, or 0.
func busyPort(ports []int) int {
	for _, p := range ports {
		if !PortFree(p) {
			return p
		}
	}
	return 0
}

// Stop shuts the server down cleanly (Config.Shutdown, else
// Config.StopSignal), and kills it if it has not exited after
// Config.StopGrace; that is an error, as is a server that had crashed on
// its own or a failing Shutdown. Stopping a stopped server is a no-op. The
// directory is kept for Restart.
func (r *Runner) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stop()
}

func (r *Runner) stop() error {
	c, p := r.cfg, r.proc
	if p == nil {
		return nil
	}
	r.proc = nil
	if p.Exited() {
		if p.Err() != nil {
			return fmt.Errorf("%s: stop %s: %s had already exited: %w; see %s", c.Harness, c.Name(), c.Program, p.Err(), c.LogPath())
		}
		return nil
	}
	if c.Shutdown == nil {
		_ = p.cmd.Process.Signal(c.StopSignal)
	} else if err := c.Shutdown(); err != nil {
		p.Kill()
		return fmt.Errorf("%s: stop %s: %w; killed it", c.Harness, c.Name(), err)
	}
	if !p.waitOrKill(c.StopGrace) {
		return fmt.Errorf("%s: stop %s: no clean shutdown within %v, killed; see %s", c.Harness, c.Name(), c.StopGrace, c.LogPath())
	}
	c.Logger.Info(c.Harness+" server stopped", "server", c.Name(), "dir", c.Dir)
	return nil
}

// Kill kills the server and every process it started, as a crash would
// (see Process.Kill), and waits for it to exit. The directory is kept for
// Restart.
func (r *Runner) Kill() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
		r.proc = nil
	}
	return nil
}

// Restart stops the server if it is running and starts it again on the
// same directory and ports. ctx bounds the start.
func (r *Runner) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.stop(); err != nil {
		return err
	}
	return r.start(ctx)
}

// Close stops the server, calls Config.Release and removes the directory
// if the Runner owns it. It also cleans up after a failed first Start.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.stop()
	if r.cfg.Release != nil {
		r.cfg.Release()
	}
	if r.cfg.OwnsDir {
		if rerr := os.RemoveAll(r.cfg.Dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: close: %w", r.cfg.Harness, rerr))
		}
	}
	return err
}
