package testproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotInstalled means a server's binary was not found. Errors returned by
// the harnesses wrap it when that is why a server could not start.
var ErrNotInstalled = errors.New("not installed")

// Find returns the path of the executable name: on PATH, else in the first
// of dirs that has it (Debian keeps servers in /usr/sbin, which a user's PATH
// often lacks). pkg names the Debian package for the error message.
func Find(name, pkg string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %s (install %s; scripts/setup.sh does): %w",
		name, strings.Join(dirs, ", "), pkg, ErrNotInstalled)
}

// executable reports whether path is a regular file with an execute bit.
func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// FreePort asks the kernel for a free port on 127.0.0.1. Another process can
// take it before the server binds it; harnesses retry on a fresh port then.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testproc: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CheckPort checks a harness's Options.Port: 0 (pick one) or a port, but
// not system, the standard port of the system's own server, which a test
// must never reach.
func CheckPort(harness string, port, system int) error {
	switch {
	case port < 0 || port > 65535:
		return fmt.Errorf("%s: options: Port %d: out of range", harness, port)
	case port == system:
		return fmt.Errorf("%s: options: Port %d: reserved for the system server, pick another", harness, port)
	}
	return nil
}

// PortFree reports whether port can be bound on 127.0.0.1 now. A harness
// checks it before starting a server on a known port (Restart), so that it
// fails plainly instead of taking another program for its server.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Size returns the size of the file at path, or 0 if it does not exist: the
// offset where the next start's log lines will begin.
func Size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// Tail returns the last n lines of the file at path that start at or after
// offset, or a note saying why it could not be read.
func Tail(path string, offset int64, n int) string {
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
	if start >= st.Size() {
		return fmt.Sprintf("(%s: nothing written)", path)
	}
	buf := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
