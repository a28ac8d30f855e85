//go:build !linux

package testdb

import "syscall"

// Without Pdeathsig a child survives a crashed test process; t.Cleanup still
// stops it on every orderly exit.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
