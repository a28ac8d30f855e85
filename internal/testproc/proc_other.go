//go:build !linux

package testproc

import "syscall"

// Without Pdeathsig a child survives a crashed test process; t.Cleanup still
// stops it on every orderly exit.
func sysProcAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// descendants finds nothing without /proc: Kill reaches the process group.
func descendants(int) []int { return nil }

// running cannot tell without /proc; Kill then waits for the child only.
func running(int) bool { return false }
