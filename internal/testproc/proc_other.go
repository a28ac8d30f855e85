//go:build !linux

package testproc

import "syscall"

// Without Pdeathsig a child survives a crashed test process; t.Cleanup still
// stops it on every orderly exit.
func sysProcAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
