package bench

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type cpuTimes struct{ user, sys time.Duration }

// readCPU returns the CPU time this process has used (getrusage
// RUSAGE_SELF): all goroutines, the GC and go-mysql's reader included.
func readCPU() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	return cpuTimes{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}
}

// peakRSSKiB returns VmHWM from /proc/self/status: the process's peak
// resident set, monotonic over its life. 0 where /proc is missing.
func peakRSSKiB() int64 {
	v, _ := procField("/proc/self/status", "VmHWM:")
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n
}

// procField returns the trimmed rest of the first line of a /proc file
// that starts with key.
func procField(path, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// loadAvg returns the 1-minute load average, 0 where /proc is missing.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// percentile returns the nearest-rank q-quantile of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Machine describes the computer the benchmark ran on.
type Machine struct {
	CPUs     int
	Model    string
	MemTotal string
	Kernel   string
	Go       string
}

// ThisMachine reads /proc for the model, memory and kernel.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	m.Model, _ = procField("/proc/cpuinfo", "model name")
	m.Model = strings.TrimSpace(strings.TrimPrefix(m.Model, ":"))
	if v, ok := procField("/proc/meminfo", "MemTotal:"); ok {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.MemTotal = strconv.FormatFloat(float64(kb)/(1<<20), 'f', 1, 64) + " GiB"
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// clockTicks is USER_HZ, the unit of /proc/stat and /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// busySeconds returns the CPU time all processors spent busy since boot
// (/proc/stat: user, nice, system, irq, softirq, steal).
func busySeconds() float64 {
	v, ok := procField("/proc/stat", "cpu ")
	if !ok {
		return 0
	}
	f := strings.Fields(v)
	var busy uint64
	for i, x := range f {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseUint(x, 10, 64)
		busy += n
	}
	return float64(busy) / clockTicks
}

// processCPUSeconds returns the user+system time of process pid so far; 0
// if it cannot be read.
func processCPUSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return float64(u+k) / clockTicks
}

// pidFromFile reads a pid file; 0 when it cannot.
func pidFromFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
