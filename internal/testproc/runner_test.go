package testproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverEnv makes the test binary act as a server listening on its value,
// host:port, that greets every connection with tokenEnv's value and exits
// 0 on SIGTERM. A value of "fail" makes it complain and exit 3 instead.
const (
	serverEnv = "PUMA_TESTPROC_SERVE"
	tokenEnv  = "PUMA_TESTPROC_TOKEN"
)

// serve is the helper server; it returns the exit status.
func serve(addr, token string) int {
	if addr == "fail" {
		fmt.Println("bad configuration, giving up")
		return 3
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Println("listening on", addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, token)
			c.Close()
		}
	}()
	<-term
	l.Close()
	fmt.Println("stopped on SIGTERM")
	return 0
}

// helperServer returns a Config for the helper server in a directory of
// its own on *port, which Ready tells apart from another helper by token.
func helperServer(t *testing.T, port *int, token string) Config {
	t.Helper()
	dir, owned, err := MakeDir("testproc", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := func() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)) }
	return Config{
		Harness:      "testproc",
		Program:      "helper",
		Dir:          dir,
		OwnsDir:      owned,
		StartTimeout: 30 * time.Second,
		StopGrace:    10 * time.Second,
		Port:         port,
		Spec: func() Spec {
			return Spec{
				Path:   os.Args[0],
				Args:   []string{"-test.run=^$"},
				Env:    append(os.Environ(), serverEnv+"="+addr(), tokenEnv+"="+token),
				Output: filepath.Join(dir, "helper.log"),
			}
		},
		Ready: func(ctx context.Context) error { return greets(ctx, addr(), token) },
		Name:  addr,
	}
}

// greets dials addr and checks that the server there greets with token.
func greets(ctx context.Context, addr, token string) error {
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if got := strings.TrimSpace(line); got != token {
		return fmt.Errorf("server on %s greets %q, not %q (%v)", addr, got, token, err)
	}
	return nil
}

func TestRunnerLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var port int
	released := false
	c := helperServer(t, &port, "a")
	c.Release = func() { released = true }
	r := NewRunner(c)
	if err := r.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	first := port
	if first == 0 {
		t.Fatal("Start picked no port")
	}
	addr := c.Name()

	// A clean stop is SIGTERM; a restart keeps the port.
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if greets(ctx, addr, "a") == nil {
		t.Fatal("server still answers after Stop")
	}
	if log := Tail(c.Spec().Output, 0, 10); !strings.Contains(log, "stopped on SIGTERM") {
		t.Errorf("log after Stop:\n%s", log)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := r.Restart(ctx); err != nil || port != first {
		t.Fatalf("Restart: %v, port %d, want %d", err, port, first)
	}

	// A kill is a crash; a restart comes back on the same port.
	if err := r.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if greets(ctx, addr, "a") == nil {
		t.Fatal("server still answers after Kill")
	}
	if err := r.Restart(ctx); err != nil || port != first {
		t.Fatalf("Restart after Kill: %v, port %d, want %d", err, port, first)
	}

	// Another program on the port is not taken for the server.
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Restart(ctx)
	l.Close()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use by another program", first)) {
		t.Fatalf("Restart on a taken port = %v, want one saying the port is in use", err)
	}

	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !released {
		t.Error("Close did not call Release")
	}
	if _, err := os.Stat(r.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owned dir %s after Close: %v, want it removed", r.Dir(), err)
	}
}

func TestRunnerFailures(t *testing.T) {
	t.Parallel()
	t.Run("exits at start", func(t *testing.T) {
		t.Parallel()
		var port int
		c := helperServer(t, &port, "b")
		spec := c.Spec
		c.Spec = func() Spec {
			s := spec()
			s.Env = append(s.Env, serverEnv+"=fail")
			return s
		}
		r := NewRunner(c)
		defer r.Close()
		err := r.Start(t.Context())
		for _, want := range []string{"testproc: start 127.0.0.1:", "helper exited (exit status 3)", "bad configuration, giving up"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Start = %v, want %q in it", err, want)
			}
		}
	})
	t.Run("crashed before Stop", func(t *testing.T) {
		t.Parallel()
		var port int
		r := NewRunner(helperServer(t, &port, "c"))
		defer r.Close()
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		r.proc.Kill()
		if err := r.Stop(); err == nil || !strings.Contains(err.Error(), "helper had already exited") {
			t.Errorf("Stop after a crash = %v, want one saying it had exited", err)
		}
	})
	t.Run("shutdown fails", func(t *testing.T) {
		t.Parallel()
		var port int
		c := helperServer(t, &port, "d")
		c.Shutdown = func() error { return errors.New("ctl: no such node") }
		r := NewRunner(c)
		defer r.Close()
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		err := r.Stop()
		if err == nil || !strings.Contains(err.Error(), "ctl: no such node; killed it") {
			t.Errorf("Stop = %v, want Shutdown's error", err)
		}
		if greets(t.Context(), c.Name(), "d") == nil {
			t.Error("server still answers after a failed Shutdown")
		}
	})
	t.Run("no clean shutdown", func(t *testing.T) {
		t.Parallel()
		var port int
		c := helperServer(t, &port, "e")
		c.StopSignal, c.StopGrace = syscall.SIGWINCH, 200*time.Millisecond // ignored
		r := NewRunner(c)
		defer r.Close()
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(); err == nil || !strings.Contains(err.Error(), "no clean shutdown within 200ms, killed") {
			t.Errorf("Stop = %v, want a kill after the grace", err)
		}
	})
}

func TestMakeDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	link := filepath.Join(base, "link")
	if err := os.Symlink(base, link); err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(base)
	got, owned, err := MakeDir("testx", filepath.Join(link, "a", "b"), 0o700)
	if err != nil || owned || got != filepath.Join(real, "a", "b") {
		t.Errorf("MakeDir(given) = %q, %v, %v; want %q, not owned", got, owned, err, filepath.Join(real, "a", "b"))
	}
	if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("made dir: %v, %v", st, err)
	}
	tmp, owned, err := MakeDir("testx", "", 0)
	if err != nil || !owned || !strings.HasPrefix(filepath.Base(tmp), "puma-testx-") {
		t.Errorf("MakeDir(\"\") = %q, %v, %v; want an owned puma-testx-* dir", tmp, owned, err)
	}
	os.RemoveAll(tmp)
}

// recorder is a testing.TB that records what Start does to a test: its
// Fatalf and Skipf end the goroutine as the real ones do.
type recorder struct {
	testing.TB
	failed   bool
	msgs     []string
	cleanups []func()
}

func (r *recorder) Helper()                 {}
func (r *recorder) Failed() bool            { return r.failed }
func (r *recorder) Cleanup(f func())        { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Logf(f string, a ...any) { r.msgs = append(r.msgs, "log: "+fmt.Sprintf(f, a...)) }
func (r *recorder) Errorf(f string, a ...any) {
	r.failed = true
	r.msgs = append(r.msgs, "error: "+fmt.Sprintf(f, a...))
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failed = true
	r.msgs = append(r.msgs, "fatal: "+fmt.Sprintf(f, a...))
	runtime.Goexit()
}
func (r *recorder) Skipf(f string, a ...any) {
	r.msgs = append(r.msgs, "skip: "+fmt.Sprintf(f, a...))
	runtime.Goexit()
}

// startRecorded calls Start on a new recorder in a goroutine of its own, as Fatalf
// and Skipf end it, and returns the recorder and whether Start returned.
func startRecorded(t *testing.T, opts runnerOptions) (*recorder, *Runner, bool) {
	r := &recorder{TB: t}
	var got *Runner
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		got = Start(r, "testx", "helper", opts, newHelper)
		returned = true
	}()
	return r, got, <-done
}

// runnerOptions are the helper server's options for Start.
type runnerOptions struct {
	t     *testing.T
	token string // "" is invalid
	fail  bool   // the server exits at start
}

func (o runnerOptions) Validate() error {
	if o.token == "" {
		return errors.New("testx: options: no token")
	}
	return nil
}

// newHelper starts the helper server on a Runner, which Start then owns.
func newHelper(ctx context.Context, o runnerOptions) (*Runner, error) {
	var port int
	c := helperServer(o.t, &port, o.token)
	if o.fail {
		spec := c.Spec
		c.Spec = func() Spec {
			s := spec()
			s.Env = append(s.Env, serverEnv+"=fail")
			return s
		}
	}
	r := NewRunner(c)
	if err := r.Start(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func TestStart(t *testing.T) {
	t.Setenv("CI", "")
	t.Run("invalid options fail", func(t *testing.T) {
		r, _, returned := startRecorded(t, runnerOptions{t: t})
		if returned || !r.failed || len(r.msgs) != 1 || r.msgs[0] != "fatal: testx: options: no token" {
			t.Errorf("Start returned %v, failed %v, %q", returned, r.failed, r.msgs)
		}
	})
	t.Run("no server skips", func(t *testing.T) {
		r, _, returned := startRecorded(t, runnerOptions{t: t, token: "f", fail: true})
		if returned || r.failed || len(r.msgs) != 1 || !strings.HasPrefix(r.msgs[0], "skip: testx: cannot start helper (set CI=1") {
			t.Errorf("Start returned %v, failed %v, %q", returned, r.failed, r.msgs)
		}
	})
	t.Run("no server fails under CI", func(t *testing.T) {
		t.Setenv("CI", "1")
		r, _, returned := startRecorded(t, runnerOptions{t: t, token: "f", fail: true})
		if returned || !r.failed || len(r.msgs) != 1 || !strings.Contains(r.msgs[0], "failing, not skipping, because CI is set") {
			t.Errorf("Start returned %v, failed %v, %q", returned, r.failed, r.msgs)
		}
	})
	t.Run("passed test removes the directory", func(t *testing.T) {
		r, s, returned := startRecorded(t, runnerOptions{t: t, token: "g"})
		if !returned || len(r.cleanups) != 1 {
			t.Fatalf("Start returned %v with %d cleanups: %q", returned, len(r.cleanups), r.msgs)
		}
		r.cleanups[0]()
		if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) || len(r.msgs) != 0 {
			t.Errorf("after the cleanup: dir %v, messages %q; want it removed, no messages", err, r.msgs)
		}
	})
	t.Run("failed test keeps the directory", func(t *testing.T) {
		r, s, returned := startRecorded(t, runnerOptions{t: t, token: "h"})
		if !returned || len(r.cleanups) != 1 {
			t.Fatalf("Start returned %v with %d cleanups: %q", returned, len(r.cleanups), r.msgs)
		}
		defer s.Close()
		r.failed = true
		r.cleanups[0]()
		if _, err := os.Stat(s.Dir()); err != nil {
			t.Errorf("dir after a failed test's cleanup: %v", err)
		}
		if greets(t.Context(), s.cfg.Name(), "h") == nil {
			t.Error("server still answers after a failed test's cleanup")
		}
		if len(r.msgs) != 1 || !strings.Contains(r.msgs[0], "kept helper dir "+s.Dir()) || !strings.Contains(r.msgs[0], "stopped on SIGTERM") {
			t.Errorf("messages %q, want the kept dir and the log's tail", r.msgs)
		}
	})
}
