package bench

import "runtime/metrics"

// runtimeCounters are the Go runtime's cumulative counters a run reads at
// both ends of its window: what the process allocated and what its
// garbage collector cost.
type runtimeCounters struct {
	// objects and bytes allocated on the heap, tiny objects included (as
	// runtime.MemStats.Mallocs counts them, and testing.AllocsPerRun).
	objects, bytes uint64
	// gcCPU and busyCPU are the runtime's estimates of the CPU its
	// collector used and of all CPU it used (total less idle), in
	// seconds. Both are estimates of the same kind, so their ratio is the
	// collector's share; neither compares with getrusage.
	gcCPU, busyCPU float64
}

var runtimeMetricNames = []string{
	"/gc/heap/allocs:objects",
	"/gc/heap/tiny/allocs:objects",
	"/gc/heap/allocs:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

func readRuntimeCounters() runtimeCounters {
	s := make([]metrics.Sample, len(runtimeMetricNames))
	for i, name := range runtimeMetricNames {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	f := func(i int) float64 {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return s[i].Value.Float64()
	}
	return runtimeCounters{
		objects: u(0) + u(1),
		bytes:   u(2),
		gcCPU:   f(3),
		busyCPU: f(4) - f(5),
	}
}

// sub is what happened between then and c.
func (c runtimeCounters) sub(then runtimeCounters) runtimeCounters {
	return runtimeCounters{
		objects: c.objects - then.objects,
		bytes:   c.bytes - then.bytes,
		gcCPU:   c.gcCPU - then.gcCPU,
		busyCPU: c.busyCPU - then.busyCPU,
	}
}
