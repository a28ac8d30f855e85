package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a process that spawns a child and
// dies, leaving the child to the death signal.
const helperEnv = "PUMA_TESTPROC_ORPHAN"

func TestMain(m *testing.M) {
	if pidFile := os.Getenv(helperEnv); pidFile != "" {
		p, err := Spawn(Spec{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.PID())), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0) // no cleanup: as if the test binary crashed
	}
	if addr := os.Getenv(serverEnv); addr != "" {
		os.Exit(serve(addr, os.Getenv(tokenEnv)))
	}
	os.Exit(m.Run())
}

// Kill reaches every process the child started, even one that left the
// child's process group and session (as PostgreSQL's backends do).
func TestKillKillsDescendants(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Fatalf("setsid (util-linux): %v", err)
	}
	dir := t.TempDir()
	member, leader := filepath.Join(dir, "member"), filepath.Join(dir, "leader")
	p, err := Spawn(Spec{Path: "sh", Args: []string{"-c",
		`sleep 60 & echo $! > "$0"; setsid sleep 60 & echo $! > "$1"; wait`, member, leader}})
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{waitPIDFile(t, member), waitPIDFile(t, leader)}
	p.Kill()
	if !p.Exited() {
		t.Fatal("child still running after Kill")
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	p.Kill() // a no-op once exited
}

func TestStop(t *testing.T) {
	t.Parallel()
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		p, err := Spawn(Spec{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Stop(syscall.SIGTERM, 10*time.Second) {
			t.Error("Stop = false for a child that exits on SIGTERM")
		}
		if p.Err() == nil || !strings.Contains(p.Err().Error(), "terminated") {
			t.Errorf("Err = %v, want terminated by SIGTERM", p.Err())
		}
	})
	t.Run("ignores the signal", func(t *testing.T) {
		t.Parallel()
		p, err := Spawn(Spec{Path: "sh", Args: []string{"-c", `trap "" TERM; sleep 60`}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let the shell set its trap
		start := time.Now()
		if p.Stop(syscall.SIGTERM, 300*time.Millisecond) {
			t.Error("Stop = true for a child that ignores SIGTERM")
		}
		if !p.Exited() {
			t.Error("child still running after Stop's grace")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Stop took %v with a grace of 300ms", d)
		}
	})
}

// A child outlives no test binary: when the process that spawned it dies
// without cleaning up, the child gets its death signal.
func TestDeathSignal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the death signal is Linux's")
	}
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+pidFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	waitGone(t, waitPIDFile(t, pidFile))
}

func TestSpawnOutputEnvDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	if err := os.WriteFile(out, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Spawn(Spec{
		Path:   "sh",
		Args:   []string{"-c", `echo "$GREETING from $(pwd)"; echo oops >&2`},
		Env:    []string{"GREETING=hello", "PATH=" + os.Getenv("PATH")},
		Dir:    dir,
		Output: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Err() != nil {
		t.Fatalf("Err = %v", p.Err())
	}
	got, _ := os.ReadFile(out)
	if want := "before\nhello from " + dir + "\noops\n"; string(got) != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if got := Tail(out, int64(len("before\n")), 1); got != "oops" {
		t.Errorf("Tail(offset after the first line, 1) = %q, want %q", got, "oops")
	}
	if got := Tail(out, 0, 10); got != "before\nhello from "+dir+"\noops" {
		t.Errorf("Tail(0, 10) = %q", got)
	}
	if got := Tail(out, Size(out), 10); !strings.Contains(got, "nothing written") {
		t.Errorf("Tail(at the end) = %q, want a note that nothing was written", got)
	}
	if got := Tail(filepath.Join(dir, "missing"), 0, 10); !strings.Contains(got, "cannot read") {
		t.Errorf("Tail(missing file) = %q, want a note", got)
	}
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		p, err := Spawn(Spec{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		calls := 0
		err = p.WaitReady(t.Context(), func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("WaitReady = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		p, err := Spawn(Spec{Path: "sh", Args: []string{"-c", "sleep 0.2; exit 3"}})
		if err != nil {
			t.Fatal(err)
		}
		checked := false
		err = p.WaitReady(t.Context(), func(context.Context) error {
			checked = true
			return errors.New("connection refused")
		})
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("WaitReady = %v, want the exit status", err)
		}
		// The last check's error, if there was a check (a loaded machine
		// may run none before the child exits).
		if checked != strings.Contains(err.Error(), "last check: connection refused") || strings.Contains(err.Error(), "<nil>") {
			t.Errorf("WaitReady = %v after checks: %v", err, checked)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		p, err := Spawn(Spec{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err = p.WaitReady(ctx, func(context.Context) error { return errors.New("connection refused") })
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("WaitReady = %v, want the deadline and the last check's error", err)
		}
	})
}

func TestFind(t *testing.T) {
	t.Parallel()
	if p, err := Find("sh", "dash"); err != nil || !filepath.IsAbs(p) {
		t.Errorf(`Find("sh") = %q, %v`, p, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "puma-test-server")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := Find("puma-test-server", "x", "/nonexistent", dir); err != nil || p != bin {
		t.Errorf("Find in dirs = %q, %v, want %q", p, err, bin)
	}
	_, err := Find("puma-no-such-server", "puma-no-such-package", dir)
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "install puma-no-such-package") {
		t.Errorf("Find(missing) = %v, want ErrNotInstalled naming the package", err)
	}
}

func TestPorts(t *testing.T) {
	t.Parallel()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if !PortFree(port) {
		t.Fatalf("PortFree(%d) = false for the port FreePort returned", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if PortFree(port) {
		t.Errorf("PortFree(%d) = true while it is listened on", port)
	}
}

func TestCheckPort(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		port int
		want string
	}{
		{0, ""},
		{14222, ""},
		{65535, ""},
		{4222, "testx: options: Port 4222: reserved for the system server"},
		{-1, "testx: options: Port -1: out of range"},
		{65536, "testx: options: Port 65536: out of range"},
	} {
		err := CheckPort("testx", tt.port, 4222)
		if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("CheckPort(%d) = %v, want %q", tt.port, err, tt.want)
		}
	}
}

// waitPIDFile waits for path to hold a pid and returns it.
func waitPIDFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits until pid has exited (gone, or a zombie awaiting its
// reaper) and fails the test after ten seconds.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pid %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a running, not zombie, process.
func alive(pid int) bool {
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || i+2 >= len(st) || st[i+2] != 'Z'
}

func TestLockFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := LockFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	// A second taker waits for the first.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := LockFile(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFile while held = %v, want the deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := LockFile(t.Context(), path)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("LockFile after unlock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockFile still waiting after unlock")
	}
}
