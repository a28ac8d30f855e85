package testproc

import "syscall"

func sysProcAttr(death syscall.Signal) *syscall.SysProcAttr {
	if death == 0 {
		death = syscall.SIGKILL
	}
	return &syscall.SysProcAttr{Pdeathsig: death, Setpgid: true}
}
