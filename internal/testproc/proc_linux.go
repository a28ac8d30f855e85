package testproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

func sysProcAttr(death syscall.Signal) *syscall.SysProcAttr {
	if death == 0 {
		death = syscall.SIGKILL
	}
	return &syscall.SysProcAttr{Pdeathsig: death, Setpgid: true}
}

// descendants returns the pids of every live descendant of pid, read from
// /proc, stopping each (SIGSTOP) as it is found so it forks no more; a
// second pass picks up children forked before their parent stopped.
func descendants(pid int) []int {
	var found []int
	seen := map[int]bool{pid: true}
	for range 2 {
		parents := parentsOf()
		for changed := true; changed; {
			changed = false
			for child, parent := range parents {
				if seen[parent] && !seen[child] {
					seen[child], changed = true, true
					_ = syscall.Kill(child, syscall.SIGSTOP)
					found = append(found, child)
				}
			}
		}
	}
	return found
}

// parentsOf maps every process's pid to its parent's.
func parentsOf() map[int]int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parents := make(map[int]int, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(st[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(string(f[1])); err == nil {
			parents[pid] = ppid
		}
	}
	return parents
}

// running reports whether any thread of process pid has yet to exit. The
// main thread of a killed multi-threaded process (beam.smp) can be a zombie
// while others still exit and hold the process's files and ports.
func running(pid int) bool {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) && st[i+2] != 'Z' && st[i+2] != 'X' {
			return true
		}
	}
	return false
}
