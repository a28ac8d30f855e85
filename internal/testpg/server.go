// Package testpg starts private PostgreSQL servers for tests: each cluster
// made by initdb in its own directory (data/, its unix socket and log), on
// its own port on 127.0.0.1, user postgres with trust authentication, fsync
// on. It never touches a system cluster.
//
// The server is postgres itself, run in the foreground as a child of the
// test, not a pg_ctl daemon: it then dies with a crashed or timed-out test
// binary instead of holding its port and directory forever, and Kill can
// crash it, backends and all. PostgreSQL refuses to run as root, so as root
// initdb and postgres run as the postgres user (which Debian's package
// creates) and the directory is made its own. initdb runs once per machine
// and PostgreSQL version, into a template under os.TempDir() that every
// server copies, in a third to a half of initdb's time; postgres itself is
// ready a few tenths of a second after it starts. Copies share the
// template's system identifier, which only replication would notice.
//
// Tests call Start, which skips when PostgreSQL is unavailable, unless the
// CI environment variable is set, in which case it fails. Other programs
// call New.
package testpg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pumacdc/puma/internal/testproc"
)

// startTimeout bounds how long one postgres start may take to be ready.
const startTimeout = 60 * time.Second

// stopGrace is how long Stop waits after SIGINT (a fast shutdown) before it
// sends SIGKILL.
const stopGrace = 30 * time.Second

// Options configure a server. The zero value is a fresh cluster in a new
// temporary directory on a free port.
type Options struct {
	// Dir is the server directory (data/, log, the unix socket). Empty
	// means a new temporary directory that Close (or Start's cleanup)
	// removes. A given Dir is never removed; a cluster already in its
	// data/ is reused, otherwise initdb makes one.
	Dir string
	// Port is the TCP port; 0 picks a free one. 5432 is refused.
	Port int
	// Settings are extra server settings, each passed as -c NAME=VALUE
	// ("wal_level=logical").
	Settings []string
	// Logger receives start/stop events; nil discards them.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	errs := []error{testproc.CheckPort("testpg", o.Port, 5432)}
	for i, s := range o.Settings {
		if name, _, ok := strings.Cut(s, "="); !ok || name == "" {
			errs = append(errs, fmt.Errorf("testpg: options: Settings[%d] %q: want NAME=VALUE", i, s))
		}
	}
	return errors.Join(errs...)
}

// Server is one private postgres. DSN, Port, Dir, DataDir, LogPath and
// CreateDB are safe for concurrent use; Stop, Kill, Restart and Close
// serialise with each other.
type Server struct {
	opts    Options
	bin     string // directory holding initdb and postgres
	dir     string
	dataDir string
	logPath string
	cred    *syscall.Credential // the postgres user when running as root
	port    int
	run     *testproc.Runner
}

// New makes a cluster if Dir has none (a copy of one initdb made for this
// machine, PostgreSQL version and user, kept under os.TempDir()), starts a
// server on it and returns once it accepts connections. The caller owns the
// server and must Close it. ctx bounds the start; it is not retained.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Settings = append([]string(nil), opts.Settings...)
	bin, err := findBinDir()
	if err != nil {
		return nil, fmt.Errorf("testpg: %w", err)
	}
	cred, err := serverUser()
	if err != nil {
		return nil, fmt.Errorf("testpg: %w", err)
	}
	s := &Server{opts: opts, bin: bin, cred: cred, port: opts.Port}
	dir, owned, err := testproc.MakeDir("testpg", opts.Dir, 0o700)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.dataDir = filepath.Join(s.dir, "data")
	s.logPath = filepath.Join(s.dir, "log")
	s.run = testproc.NewRunner(testproc.Config{
		Harness:      "testpg",
		Program:      "postgres" + s.asUser(),
		Dir:          dir,
		OwnsDir:      owned,
		Logger:       opts.Logger,
		StartTimeout: startTimeout,
		StopGrace:    stopGrace,
		StopSignal:   syscall.SIGINT,
		Port:         &s.port,
		Spec: func() testproc.Spec {
			return testproc.Spec{
				Path:       filepath.Join(s.bin, "postgres"),
				Args:       s.args(),
				Dir:        s.dir,
				Output:     s.logPath,
				Credential: s.cred,
			}
		},
		Ready: s.ready,
		Name:  s.addr,
	})
	fail := func(err error) (*Server, error) {
		s.run.Close()
		return nil, err
	}
	if err := s.chown(s.dir); err != nil {
		return fail(fmt.Errorf("testpg: new: %w", err))
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); err != nil {
		tpl, err := s.templateDir(ctx)
		if err != nil {
			return fail(err)
		}
		// Only an empty directory may be replaced: anything else is
		// someone's data.
		if err := os.Remove(s.dataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Errorf("testpg: new: %s holds no cluster (no PG_VERSION) and is not empty: %w", s.dataDir, err))
		}
		if err := s.copyTemplate(tpl, s.dataDir); err != nil {
			return fail(err)
		}
	}
	if err := s.run.Start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// findBinDir returns the directory holding initdb and postgres: Debian's
// newest /usr/lib/postgresql/VERSION/bin, else the one an initdb on PATH
// resolves to (/usr/local/bin/initdb may be a symbolic link into Debian's).
func findBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb and postgres not found in /usr/lib/postgresql/*/bin or beside an initdb on PATH (install postgresql; scripts/setup.sh does): %w", testproc.ErrNotInstalled)
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// serverUser returns the credential to run PostgreSQL with: nil (this
// process's user) unless that is root, which PostgreSQL refuses; then the
// postgres user's.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses, and there is no postgres user to run it as (the postgresql package creates one): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// asUser says, for error messages, which user PostgreSQL runs as when that
// is not this process's.
func (s *Server) asUser() string {
	if s.cred == nil {
		return ""
	}
	return " (run as user postgres, who must be able to reach the directory)"
}

// args is the postgres command line for s. The server logs to stderr, which
// start sends to the log file.
func (s *Server) args() []string {
	socketDir := s.dir
	if len(filepath.Join(socketDir, ".s.PGSQL.65535.lock")) > 100 {
		socketDir = "" // too long for a unix socket: TCP only
	}
	a := []string{
		"-D", s.dataDir,
		"-p", strconv.Itoa(s.port),
		"-k", socketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
	}
	for _, kv := range s.opts.Settings {
		a = append(a, "-c", kv)
	}
	return a
}

// ready connects, within two seconds, and checks that the server is this
// one, by its data directory.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var dir string
	if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return err
	}
	if dir != s.dataDir {
		return fmt.Errorf("server on port %d has data directory %q, not %q", s.port, dir, s.dataDir)
	}
	return nil
}

func (s *Server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// DSN returns "postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable".
func (s *Server) DSN() string { return s.dsn("postgres") }

// dsn returns the DSN of database db.
func (s *Server) dsn(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     s.addr(),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Dir returns the server directory.
func (s *Server) Dir() string { return s.dir }

// DataDir returns the cluster's data directory, Dir/data.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the server log; it is appended to across restarts.
func (s *Server) LogPath() string { return s.logPath }

// Stop shuts the server down with a fast shutdown (SIGINT: sessions are
// ended, a checkpoint is written), then SIGKILL if it has not exited after
// 30 seconds (reported as an error, as is a server that had crashed on its
// own). Stopping a stopped server is a no-op. The cluster is kept for
// Restart.
func (s *Server) Stop() error { return s.run.Stop() }

// Kill sends SIGKILL to the postmaster and every backend, simulating a
// crash, and waits for the postmaster to exit. The cluster is kept for
// Restart, which runs crash recovery.
func (s *Server) Kill() error { return s.run.Kill() }

// Restart stops the server if it is running and starts it again on the same
// directory, port and options. ctx bounds the start.
func (s *Server) Restart(ctx context.Context) error { return s.run.Restart(ctx) }

// Close stops the server and, if New created its directory, removes it.
func (s *Server) Close() error { return s.run.Close() }
