// Package testproc owns the server processes that the test harnesses
// (testnats, testredis, testrabbit, testpg) start: it starts a child in its
// own process group, reaps it, stops it with a signal and a grace period,
// kills the whole group to simulate a crash, and finds free ports, binaries
// and log tails. It also holds the one Runner that starts, stops, kills,
// restarts and closes a harness's server, and the one Start that turns a
// harness's New into a test helper, so every harness behaves alike.
//
// A child gets a signal when the test process dies (Linux), so a crashed or
// timed-out `go test` leaves no server running. That is why the harnesses
// run servers in the foreground (postgres rather than pg_ctl, which would
// daemonize it).
package testproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Spec describes a server process.
type Spec struct {
	// Path is the executable.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is the child's whole environment; nil means this process's.
	Env []string
	// Dir is the working directory; empty means this process's.
	Dir string
	// Output is a file the child's stdout and stderr are appended to; empty
	// means /dev/null.
	Output string
	// Credential, if set, runs the child as another user (PostgreSQL
	// refuses to run as root). Setting it needs root.
	Credential *syscall.Credential
	// DeathSignal is sent to the child when this process dies before it;
	// 0 means SIGKILL. A child that forwards signals to its own children
	// (a shell script) needs one it can catch, such as SIGTERM.
	DeathSignal syscall.Signal
}

// Process is one running child. The goroutine started by Spawn owns the
// exec.Cmd and is the only caller of Wait; everyone else learns about the
// exit through Done. Safe for concurrent use.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // Wait's result; read only after done is closed
}

// Spawn starts the child described by s in a new process group whose ID is
// its pid.
func Spawn(s Spec) (*Process, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr(s.DeathSignal)
	cmd.SysProcAttr.Credential = s.Credential
	if s.Output != "" {
		f, err := os.OpenFile(s.Output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("testproc: spawn %s: %w", s.Path, err)
		}
		// The child holds its own descriptor; ours closes once it started.
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(p.done)
		// The death signal fires when the thread that forked the child
		// exits, not when the process does. Keep this thread alive until
		// the child is gone so the Go scheduler cannot retire it under us.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			p.err = err
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("testproc: spawn %s: %w", s.Path, err)
	}
	return p, nil
}

// PID returns the child's process ID, which is also its process group's.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the child exited (nil for status 0). Call it only after
// Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig to the child and waits up to grace for it to exit, then
// kills its process group. It reports whether the child exited on its own.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) (clean bool) {
	_ = p.cmd.Process.Signal(sig)
	return p.waitOrKill(grace)
}

// waitOrKill waits up to grace for the child to exit, then kills it. It
// reports whether the child exited on its own.
func (p *Process) waitOrKill(grace time.Duration) (exited bool) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.Kill()
		return false
	}
}

// Kill sends SIGKILL to the child and to every process it started, as a
// power cut would, and waits for the child to be reaped. It finds the
// child's descendants while the child is stopped (SIGSTOP), so none is
// forked behind its back: PostgreSQL's backends, for one, each lead a
// session of their own and would escape a process-group kill. Killing an
// exited child is a no-op.
func (p *Process) Kill() {
	if p.Exited() {
		// Once reaped, its pid may belong to someone else.
		return
	}
	// Until it is reaped the child holds its pid and its group's ID, and
	// Linux hands out pids in sequence, so these reach no other program.
	pid := p.PID()
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	victims := descendants(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	for _, v := range victims {
		_ = syscall.Kill(v, syscall.SIGKILL)
	}
	<-p.done
	// A descendant may outlive the child by a moment, holding ports and
	// files that a restart needs: wait until every one is gone.
	deadline := time.Now().Add(killWait)
	for _, v := range victims {
		for running(v) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// killWait bounds how long Kill waits for killed descendants to exit.
const killWait = 10 * time.Second

// WaitReady calls ready every 25 ms until it returns nil, the child exits,
// or ctx ends. The error says which, with ready's last error.
func (p *Process) WaitReady(ctx context.Context, ready func(context.Context) error) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p.Exited() {
			if last == nil { // exited before the first check
				return fmt.Errorf("exited (%v) before it was ready", p.err)
			}
			return fmt.Errorf("exited (%v) before it was ready (last check: %v)", p.err, last)
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready (last check: %v): %w", last, ctx.Err())
		case <-p.done:
		case <-tick.C:
		}
	}
}
