package testdb

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them, so test with errors.Is.
var (
	// ErrNotInstalled means no mariadbd or mariadb-install-db binary was found.
	ErrNotInstalled = errors.New("mariadb is not installed")
	// ErrAlreadyRunning means a server is already running on the requested
	// directory; the error is a *RunningError carrying its pid and address.
	ErrAlreadyRunning = errors.New("server already running")
	// ErrNotRunning means no server is running on the given directory.
	ErrNotRunning = errors.New("server not running")
)

// RunningError reports a live mariadbd that already owns a directory.
type RunningError struct {
	Dir  string // server directory (holds data/, error.log, mariadbd.pid)
	PID  int
	Addr string // "127.0.0.1:PORT", empty if the port could not be read
}

func (e *RunningError) Error() string {
	if e.Addr == "" {
		return fmt.Sprintf("testdb: start %s: pid %d: %v", e.Dir, e.PID, ErrAlreadyRunning)
	}
	return fmt.Sprintf("testdb: start %s: pid %d at %s: %v", e.Dir, e.PID, e.Addr, ErrAlreadyRunning)
}

// Unwrap returns ErrAlreadyRunning.
func (e *RunningError) Unwrap() error { return ErrAlreadyRunning }
