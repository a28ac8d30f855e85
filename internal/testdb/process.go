package testdb

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
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 30 * time.Second

// process owns one mariadbd child of this process. The goroutine started by
// startProcess owns the exec.Cmd and is the only caller of Wait; everyone else
// learns about the exit through done. Safe for concurrent use.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // Wait's result; read only after done is closed
}

// startProcess starts bin with args. Unless detach is set the child gets
// SIGKILL when this process dies. A detached child runs in its own session and
// outlives this process.
func startProcess(bin string, args []string, detach bool) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = sysProcAttr(detach)
	// stdin/stdout/stderr stay nil (/dev/null): mariadbd writes to --log-error.
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(p.done)
		if !detach {
			// Pdeathsig fires when the thread that forked the child exits, not
			// when the process does. Keep this thread alive until the child
			// is gone so the Go scheduler cannot retire it under us.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		if err := cmd.Start(); err != nil {
			p.err = err
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("testdb: start %s: %w", bin, err)
	}
	return p, nil
}

// pid returns the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the child has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits up to grace for the child to exit, then
// sends SIGKILL. It reports whether the child exited on its own.
func (p *process) terminate(grace time.Duration) (clean bool) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.kill()
		return false
	}
}

// kill sends SIGKILL and waits for the child to be reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitReady polls addr (host:port or a unix socket path) until the server
// answers a query, the child exits, or ctx ends. logPath is the server's error
// log; logOffset is where this start's messages begin in it.
func waitReady(ctx context.Context, p *process, addr, logPath string, logOffset int64) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("mariadbd exited (%v) before accepting connections; %s:\n%s",
				p.err, logPath, tailFrom(logPath, logOffset, 30))
		}
		if last = ping(ctx, addr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (last error: %v); %s:\n%s: %w",
				addr, last, logPath, tailFrom(logPath, logOffset, 30), ctx.Err())
		case <-p.done:
		case <-tick.C:
		}
	}
}

// ping connects as root and runs a trivial query, all within two seconds.
func ping(ctx context.Context, addr string) error {
	c, err := connect(ctx, addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Quit() // COM_QUIT, so the server logs no aborted connection
	_, err = c.Execute("SELECT 1")
	return err
}

// connect opens a root connection to addr (host:port or a unix socket path).
// The socket gets a deadline of timeout, so a peer that accepts but never
// speaks MySQL (another program on the port, a wedged server) cannot hang
// the caller; go-mysql itself has no handshake timeout. The caller clears
// the deadline if the connection is to live longer.
func connect(ctx context.Context, addr string, timeout time.Duration) (*client.Conn, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	// go-mysql asks for collation 255 (utf8mb4_0900_ai_ci), which MariaDB
	// does not know and silently replaces with latin1: name one it has.
	utf8 := func(c *client.Conn) error { return c.SetCollation("utf8mb4_general_ci") }
	return client.ConnectWithDialer(ctx, "", addr, "root", "", "", dial, utf8)
}

// tail returns the last n lines of the file at path, or a note saying why it
// could not be read.
func tail(path string, n int) string { return tailFrom(path, 0, n) }

// tailFrom is tail restricted to the bytes at or after offset.
func tailFrom(path string, offset int64, n int) string {
	const maxRead = 64 << 10
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	start := max(offset, st.Size()-maxRead)
	buf := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return lastLines(string(buf), n)
}

// fileSize returns the size of path, or 0 if it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// liveServer reads the pid file at pidPath and reports the pid and port of
// the mariadbd that owns dataDir, if one is alive. A pid file left by a killed
// server, or whose pid now belongs to another program, is not a live server.
func liveServer(pidPath, dataDir string) (pid, port int, ok bool) {
	b, err := os.ReadFile(pidPath)
	if err != nil {
		return 0, 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, 0, false
	}
	port, ok = processOwns(pid, dataDir)
	return pid, port, ok
}

// processOwns reports whether pid is a live (not zombie) process whose command
// line names dataDir, and the --port it was given (0 if unknown).
func processOwns(pid int, dataDir string) (port int, ok bool) {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	if st, err := os.ReadFile(filepath.Join(proc, "stat")); err == nil {
		// The state follows the parenthesised command name; Z has exited.
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return 0, false
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	if err != nil {
		return 0, true // no /proc: trust the pid
	}
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if arg == "--datadir="+dataDir {
			ok = true
		}
		if v, found := strings.CutPrefix(arg, "--port="); found {
			port, _ = strconv.Atoi(v)
		}
	}
	return port, ok
}
