// Package testdb starts private MariaDB servers for tests and local
// development: each in its own directory, on its own TCP port on 127.0.0.1,
// with binary logging configured the way CDC needs it. It never touches a
// system server: sockets, pid files and ports are always private.
//
// A data directory template is built once per machine and mariadbd version
// (mariadb-install-db, anonymous users dropped, root reachable over TCP with
// an empty password), shared by all processes under os.TempDir(), and copied
// for every server: copying takes milliseconds, and a server is typically
// ready about 0.3 s after New is called.
//
// Tests call Start, which skips when MariaDB is unavailable, unless the CI
// environment variable is set, in which case it fails: CI must never go green
// by skipping. Other programs call New.
package testdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// startTimeout bounds how long one mariadbd start may take to accept connections.
const startTimeout = 60 * time.Second

// Options configure a server. The zero value is a ROW-format, FULL-metadata,
// FULL-image primary with binary logging on, in a fresh temporary directory,
// on a free port, with a server ID unique within this process.
type Options struct {
	// ServerID is @@server_id; 0 picks one unique within this process.
	ServerID uint32
	// BinlogFormat is ROW (default), STATEMENT or MIXED.
	BinlogFormat string
	// RowMetadata is @@binlog_row_metadata: FULL (default), MINIMAL or NO_LOG.
	RowMetadata string
	// RowImage is @@binlog_row_image: FULL (default), MINIMAL or NOBLOB.
	RowImage string
	// LogSlaveUpdates writes replicated events to this server's binary log;
	// set it on replicas that may be promoted or read by CDC.
	LogSlaveUpdates bool
	// GTIDStrictMode sets @@gtid_strict_mode.
	GTIDStrictMode bool
	// NoBinlog starts the server with binary logging off.
	NoBinlog bool
	// ExtraArgs are appended to the mariadbd command line.
	ExtraArgs []string

	// Dir is the server directory (data/, error.log, pid file, socket). Empty
	// means a new temporary directory that Close (or Start's cleanup)
	// removes. A given Dir is never removed; if its data/ is missing or empty
	// it is initialised from the template, otherwise reused.
	Dir string
	// Port is the TCP port; 0 picks a free one. 3306 is refused.
	Port int
	// Detach leaves the server running after this process exits (it runs in
	// its own session and is not killed with its parent). Use it with Dir, so
	// StopDir can find the server later.
	Detach bool
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	check := func(field, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				return
			}
		}
		errs = append(errs, fmt.Errorf("testdb: options: %s %q: want one of %s", field, v, strings.Join(allowed, ", ")))
	}
	check("BinlogFormat", o.BinlogFormat, "ROW", "STATEMENT", "MIXED")
	check("RowMetadata", o.RowMetadata, "FULL", "MINIMAL", "NO_LOG")
	check("RowImage", o.RowImage, "FULL", "MINIMAL", "NOBLOB")
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("testdb: options: Port %d: out of range", o.Port))
	}
	if o.Port == 3306 {
		errs = append(errs, errors.New("testdb: options: Port 3306: reserved for the system server, pick another"))
	}
	if o.Detach && o.Dir == "" {
		errs = append(errs, errors.New("testdb: options: Detach needs Dir, or the server could never be found again"))
	}
	return errors.Join(errs...)
}

// withDefaults returns o with every zero field replaced by its default.
func (o Options) withDefaults() Options {
	if o.ServerID == 0 {
		o.ServerID = nextServerID()
	}
	if o.BinlogFormat == "" {
		o.BinlogFormat = "ROW"
	}
	if o.RowMetadata == "" {
		o.RowMetadata = "FULL"
	}
	if o.RowImage == "" {
		o.RowImage = "FULL"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.ExtraArgs = append([]string(nil), o.ExtraArgs...)
	return o
}

var serverSeq atomic.Uint32

// nextServerID returns IDs unique within this process and unlikely to clash
// with another process's: the pid picks a block of 256.
func nextServerID() uint32 {
	return 100 + uint32(os.Getpid()%(1<<22))<<8 + serverSeq.Add(1)%256
}

// Server is one private mariadbd. Addr, Port, ServerID, DataDir, LogPath,
// User, Password, Conn and the testing helpers are safe for concurrent use.
// Stop, Kill, Restart and Close serialise with each other.
type Server struct {
	opts    Options // with defaults applied; never changes
	bin     string
	dir     string
	dataDir string
	socket  string
	logPath string
	pidPath string
	// tmpDir is the server's own tmpdir: mariadbd deletes every #sql*
	// file in its tmpdir when it starts, so servers sharing /tmp delete
	// each other's temporary tables (the information_schema queries'
	// among them) whenever one starts.
	tmpDir  string
	port    int
	ownsDir bool // dir was created by New and is removed by Close
	mu      sync.Mutex
	proc    *process // nil while stopped
}

// New starts a server and returns once it accepts connections over TCP. The
// caller owns the server and must Close it (or Stop it, for a Dir it wants to
// keep). ctx bounds the start only; it is not retained.
//
// With Options.Dir set and a live server already owning that directory, New
// returns a *RunningError (errors.Is ErrAlreadyRunning).
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	bin, err := findBinary("mariadbd", "/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")
	if err != nil {
		return nil, err
	}
	tpl, err := templateDir(ctx, bin, opts.Logger)
	if err != nil {
		return nil, err
	}

	s := &Server{opts: opts, bin: bin, port: opts.Port}
	if opts.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "puma-testdb-"); err != nil {
			return nil, fmt.Errorf("testdb: new: %w", err)
		}
		s.ownsDir = true
	} else {
		if s.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("testdb: new: dir %s: %w", opts.Dir, err)
		}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, fmt.Errorf("testdb: new: %w", err)
		}
	}
	s.dataDir = filepath.Join(s.dir, "data")
	s.socket = socketPath(s.dir)
	s.logPath = filepath.Join(s.dir, "error.log")
	s.pidPath = filepath.Join(s.dir, "mariadbd.pid")
	s.tmpDir = filepath.Join(s.dir, "tmp")

	if pid, port, ok := liveServer(s.pidPath, s.dataDir); ok {
		e := &RunningError{Dir: s.dir, PID: pid}
		if port > 0 {
			e.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		return nil, e
	}

	fail := func(err error) (*Server, error) {
		if s.ownsDir {
			os.RemoveAll(s.dir)
		}
		return nil, err
	}
	empty, err := dirEmpty(s.dataDir)
	if err != nil {
		return fail(fmt.Errorf("testdb: new: %w", err))
	}
	if empty {
		if err := copyTemplate(tpl, s.dataDir); err != nil {
			return fail(err)
		}
	}
	if err := s.start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// dirEmpty reports whether dir is missing or has no entries.
func dirEmpty(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	return len(ents) == 0, err
}

// start launches mariadbd and waits until it is ready. With Options.Port 0 on
// the first start it retries on a fresh port when the chosen one was taken in
// the meantime; later starts (Restart) keep the port, since replicas and
// clients know it. Callers hold s.mu or own s exclusively.
func (s *Server) start(ctx context.Context) error {
	pickPort := s.port == 0
	const attempts = 5
	var err error
	for range attempts {
		if pickPort {
			if s.port, err = freePort(); err != nil {
				return err
			}
		} else if l, lerr := net.Listen("tcp", s.Addr()); lerr != nil {
			// Say so plainly rather than after mariadbd's start-up, and
			// never probe something else on the port with our client.
			return fmt.Errorf("testdb: start server in %s: port %d is in use by another program; pick another port: %w", s.dir, s.port, lerr)
		} else {
			l.Close()
		}
		if err := os.MkdirAll(s.tmpDir, 0o700); err != nil {
			return fmt.Errorf("testdb: start server in %s: %w", s.dir, err)
		}
		offset := fileSize(s.logPath)
		var p *process
		p, err = startProcess(s.bin, s.args(), s.opts.Detach)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, startTimeout)
		err = waitReady(wctx, p, s.Addr(), s.logPath, offset)
		cancel()
		if err == nil {
			s.proc = p
			s.opts.Logger.Info("testdb server started", "addr", s.Addr(), "dir", s.dir, "pid", p.pid(), "server_id", s.opts.ServerID)
			return nil
		}
		if !p.exited() {
			p.kill()
		}
		if !pickPort || !portInUse(s.logPath, offset) {
			break
		}
		s.opts.Logger.Info("testdb port taken, retrying", "port", s.port)
	}
	return fmt.Errorf("testdb: start server in %s on port %d: %w", s.dir, s.port, err)
}

// portInUse reports whether the log written since offset says the port was taken.
func portInUse(logPath string, offset int64) bool {
	t := tailFrom(logPath, offset, 50)
	return strings.Contains(t, "Address already in use") || strings.Contains(t, "Do you already have another server running on port")
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process can
// take it before mariadbd binds it; start retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testdb: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// args is the mariadbd command line for s.
func (s *Server) args() []string {
	o := s.opts
	a := []string{
		"--no-defaults", // must be first
		"--datadir=" + s.dataDir,
		"--socket=" + s.socket,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--pid-file=" + s.pidPath,
		"--log-error=" + s.logPath,
		"--tmpdir=" + s.tmpDir,
		"--server-id=" + strconv.FormatUint(uint64(o.ServerID), 10),
		"--skip-name-resolve",
		"--binlog-format=" + strings.ToUpper(o.BinlogFormat),
		"--binlog-row-metadata=" + strings.ToUpper(o.RowMetadata),
		"--binlog-row-image=" + strings.ToUpper(o.RowImage),
		"--sync-binlog=0",
		"--innodb-flush-log-at-trx-commit=2",
		"--performance-schema=OFF",
		"--relay-log=relay-bin",
		"--max-connections=200",
	}
	a = append(a, innodbArgs...)
	a = append(a, userArgs()...)
	if !o.NoBinlog {
		a = append(a, "--log-bin=mysql-bin")
	}
	if o.LogSlaveUpdates {
		a = append(a, "--log-slave-updates")
	}
	if o.GTIDStrictMode {
		a = append(a, "--gtid-strict-mode=ON")
	}
	return append(a, o.ExtraArgs...)
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// ServerID returns @@server_id.
func (s *Server) ServerID() uint32 { return s.opts.ServerID }

// DataDir returns the mariadbd data directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the mariadbd error log; it is appended to across restarts.
func (s *Server) LogPath() string { return s.logPath }

// User returns the user with all privileges: root.
func (s *Server) User() string { return "root" }

// Password returns the password of User: empty.
func (s *Server) Password() string { return "" }

// Conn opens a new connection as root with no default database and
// character set utf8mb4; connecting and the handshake must finish within 10
// seconds, after which the connection has no deadline. The caller owns it and
// must Close it; a Conn is not safe for concurrent use.
func (s *Server) Conn(ctx context.Context) (*client.Conn, error) {
	c, err := connect(ctx, s.Addr(), 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("testdb: connect %s: %w", s.Addr(), err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("testdb: connect %s: %w", s.Addr(), err)
	}
	return c, nil
}

// Stop shuts the server down cleanly: SIGTERM, then SIGKILL if it has not
// exited after 30 seconds (reported as an error, as is a server that had
// crashed on its own). Stopping a stopped server is a no-op. The data
// directory is kept for Restart.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if p.exited() {
		if p.err != nil {
			return fmt.Errorf("testdb: stop %s: mariadbd had already exited: %w; see %s", s.Addr(), p.err, s.logPath)
		}
		return nil
	}
	if !p.terminate(stopGrace) {
		return fmt.Errorf("testdb: stop %s: no clean shutdown within %v, killed; see %s", s.Addr(), stopGrace, s.logPath)
	}
	s.opts.Logger.Info("testdb server stopped", "addr", s.Addr(), "dir", s.dir)
	return nil
}

// Kill sends SIGKILL and waits for the process to exit, simulating a crash.
// The data directory is kept for Restart, which runs crash recovery.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	p.kill()
	return nil
}

// Restart stops the server if it is running and starts it again on the same
// directory, port and options. ctx bounds the start.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(); err != nil {
		return err
	}
	return s.start(ctx)
}

// Close stops the server and, if New created its directory, removes it.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopLocked()
	if s.ownsDir {
		if rerr := os.RemoveAll(s.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("testdb: close: %w", rerr))
		}
	}
	return err
}

// StopDir cleanly stops the server that owns dir (an Options.Dir), typically
// one started with Detach by another process: SIGTERM, then SIGKILL after 30
// seconds. It returns an error wrapping ErrNotRunning if no live server owns
// dir; a stale pid file is not a live server.
func StopDir(ctx context.Context, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("testdb: stop %s: %w", dir, err)
	}
	pidPath := filepath.Join(abs, "mariadbd.pid")
	dataDir := filepath.Join(abs, "data")
	pid, _, ok := liveServer(pidPath, dataDir)
	if !ok {
		return fmt.Errorf("testdb: stop %s: %w", dir, ErrNotRunning)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return fmt.Errorf("testdb: stop %s: pid %d: %w", dir, pid, err)
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("testdb: stop %s: pid %d: %w", dir, pid, err)
	}
	deadline := time.Now().Add(stopGrace)
	for {
		if _, alive := processOwns(pid, dataDir); !alive {
			return nil
		}
		if time.Now().After(deadline) {
			_ = proc.Kill()
			return fmt.Errorf("testdb: stop %s: pid %d: no clean shutdown within %v, killed; see %s", dir, pid, stopGrace, filepath.Join(abs, "error.log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testdb: stop %s: pid %d: %w", dir, pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
