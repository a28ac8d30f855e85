package instrument

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// TestEquivalent: for every guest the instrumented module compiles in
// wazero and answers every call as the original does (results, traps,
// stdout and final memory).
func TestEquivalent(t *testing.T) {
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			orig := g.need(t)
			inst, err := Instrument(orig, Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := newHost(t, false)
			var outA, outB bytes.Buffer
			a := h.instance(t, orig, &outA)
			b := h.instance(t, inst, &outB)
			ctx := context.Background()
			for _, cl := range g.calls {
				fa, fb := a.ExportedFunction(cl.fn), b.ExportedFunction(cl.fn)
				if fa == nil || fb == nil {
					t.Fatalf("%s: export %q missing (original %v, instrumented %v)", g.name, cl.fn, fa != nil, fb != nil)
				}
				ra, errA := fa.Call(ctx, cl.args...)
				rb, errB := fb.Call(ctx, cl.args...)
				if firstLine(errA) != firstLine(errB) {
					t.Fatalf("%s%v: original error %q, instrumented %q", cl.fn, cl.args, firstLine(errA), firstLine(errB))
				}
				if !equalU64(ra, rb) {
					t.Fatalf("%s%v: original %v, instrumented %v", cl.fn, cl.args, ra, rb)
				}
				t.Logf("%s%v = %v %s", cl.fn, cl.args, ra, firstLine(errA))
			}
			if outA.String() != outB.String() {
				t.Fatalf("stdout: original %q, instrumented %q", outA.String(), outB.String())
			}
			if g.memory {
				ma, _ := a.Memory().Read(0, a.Memory().Size())
				mb, _ := b.Memory().Read(0, b.Memory().Size())
				if sha256.Sum256(ma) != sha256.Sum256(mb) {
					t.Fatal("memory differs after the calls")
				}
			}
			if g := interruptFlag(t, b).Get(); g != 0 {
				t.Fatalf("interrupt flag is %d after normal calls", g)
			}
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStopUnderAllocation: a spinning export of every guest is stopped by
// setting the interrupt global from another goroutine while two
// goroutines allocate heavily, so that garbage collections keep asking to
// stop the world. Without safepoints the collector would wait for the
// guest forever and the process would hang (the test binary's -timeout
// would then kill it).
func TestStopUnderAllocation(t *testing.T) {
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			inst, err := Instrument(g.need(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := newHost(t, false)
			// The allocators must get a collection done while the guest
			// spins, or nothing was tested; on a machine busy with other
			// tests they may not within 100 ms, so the guest spins longer.
			var res stopResult
			for _, after := range []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 1600 * time.Millisecond} {
				mod := h.instance(t, inst, nil)
				res = stopSpinning(t, h, mod, g.spin, after)
				if !isUnreachable(res.err) {
					t.Fatalf("spin returned %v, want an unreachable trap", res.err)
				}
				if res.gcs > 0 {
					break
				}
				t.Logf("no collection completed in %v of spinning; again, longer", after)
			}
			if res.gcs == 0 {
				t.Fatal("no garbage collection completed while the guest spun: the allocators did not run")
			}
			t.Logf("stopped %v after the flag was set (%v after the deadline); %d GCs and %d safepoints while spinning, longest stop-the-world wait %v",
				res.setToReturn, res.deadlineToReturn, res.gcs, res.safepoints, res.maxStopping)
		})
	}
}

type stopResult struct {
	err              error
	setToReturn      time.Duration // from the flag's Set to the call's return
	deadlineToReturn time.Duration // from when the watchdog should have fired
	gcs              uint64        // GC cycles completed while the guest spun
	safepoints       int64
	maxStopping      time.Duration // longest wait to stop the world while it spun
}

// stopSpinning calls spin on mod, lets it run for after while allocators
// force collections, sets the interrupt flag from a watchdog goroutine,
// and waits (at most 30 s) for the call to return.
func stopSpinning(tb testing.TB, h *host, mod api.Module, spin string, after time.Duration) stopResult {
	tb.Helper()
	ctx := context.Background()
	fn := mod.ExportedFunction(spin)
	if fn == nil {
		tb.Fatalf("no export %q", spin)
	}
	interrupt := interrupter(tb, mod)
	stopAlloc := allocate(2)
	defer stopAlloc()

	gcBefore := gcCycles()
	spBefore := h.safepoints.Load()
	stopBefore := stoppingHistogram()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := fn.Call(ctx)
		done <- err
	}()
	deadline := start.Add(after)
	setAt := make(chan time.Time, 1)
	watchdog := time.AfterFunc(after, func() {
		now := time.Now()
		interrupt()
		setAt <- now
	})
	defer watchdog.Stop()
	var err error
	select {
	case err = <-done:
	case <-time.After(after + 30*time.Second):
		tb.Fatalf("%s not stopped 30 s after its deadline", spin)
	}
	returned := time.Now()
	var set time.Time
	select {
	case set = <-setAt:
	case <-time.After(5 * time.Second):
		tb.Fatalf("%s returned before the flag was set: %v", spin, err)
	}
	r := stopResult{
		err:              err,
		setToReturn:      returned.Sub(set),
		deadlineToReturn: returned.Sub(deadline),
		gcs:              gcCycles() - gcBefore,
		safepoints:       h.safepoints.Load() - spBefore,
	}
	r.maxStopping = maxNewStopping(stopBefore, stoppingHistogram())
	return r
}

// allocate starts n goroutines that allocate heavily, keeping ~32 MiB
// live so that collections are frequent, until the returned func is
// called.
func allocate(n int) (stop func()) {
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var keep [64][]byte
			for j := 0; ; j++ {
				select {
				case <-quit:
					return
				default:
				}
				keep[j%len(keep)] = make([]byte, 256<<10)
			}
		}()
	}
	return func() { close(quit); wg.Wait() }
}

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// stoppingHistogram is the distribution of the time the runtime waited
// for every goroutine to stop for a collection.
func stoppingHistogram() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// maxNewStopping is the upper bound of the highest bucket that gained
// samples between two readings.
func maxNewStopping(before, after *metrics.Float64Histogram) time.Duration {
	if before == nil || after == nil {
		return 0
	}
	for i := len(after.Counts) - 1; i >= 0; i-- {
		if after.Counts[i] > before.Counts[i] {
			return time.Duration(after.Buckets[i+1] * float64(time.Second))
		}
	}
	return 0
}

// TestStopRecursion: a guest that recurses without any loop (fib) or
// loops by tail calls alone is stopped by the checks at function entry.
func TestStopRecursion(t *testing.T) {
	cases := []struct {
		guest, fn string
		args      []uint64
	}{
		{"wat/loops", "fib", []uint64{60}},
		{"wat/tailcall", "spin", nil},
		{"go", "fib", []uint64{60}},
		{"c", "fib", []uint64{60}},
		{"rust", "fib", []uint64{60}},
		{"assemblyscript", "fib", []uint64{60}},
	}
	for _, tc := range cases {
		t.Run(tc.guest+"/"+tc.fn, func(t *testing.T) {
			inst, err := Instrument(guestNamed(tc.guest).need(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := newHost(t, false)
			mod := h.instance(t, inst, nil)
			timer := time.AfterFunc(50*time.Millisecond, interrupter(t, mod))
			defer timer.Stop()
			_, err = mod.ExportedFunction(tc.fn).Call(context.Background(), tc.args...)
			if !isUnreachable(err) {
				t.Fatalf("%s returned %v, want an unreachable trap", tc.fn, err)
			}
			if h.safepoints.Load() == 0 {
				t.Fatal("no safepoint was called")
			}
		})
	}
}

// TestFlagAlone: if the host's store to the countdown is lost (the guest
// decrements it concurrently), the flag alone still stops the guest when
// the countdown next runs out.
func TestFlagAlone(t *testing.T) {
	inst, err := Instrument(guestNamed("wat/loops").need(t), Options{SafepointInterval: 1000})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, false)
	mod := h.instance(t, inst, nil)
	flag := interruptFlag(t, mod)
	timer := time.AfterFunc(20*time.Millisecond, func() { flag.Set(1) })
	defer timer.Stop()
	if _, err := mod.ExportedFunction("spin").Call(context.Background()); !isUnreachable(err) {
		t.Fatalf("spin returned %v, want an unreachable trap", err)
	}
}

// TestSafepointInterval: the safepoint runs once every SafepointInterval
// checks, counted across loop heads.
func TestSafepointInterval(t *testing.T) {
	orig := guestNamed("wat/loops").need(t)
	for _, n := range []uint32{1, 7, 1000, 1 << 16} {
		inst, err := Instrument(orig, Options{SafepointInterval: n})
		if err != nil {
			t.Fatal(err)
		}
		h := newHost(t, false)
		mod := h.instance(t, inst, nil)
		// sum(k) passes its loop head k+1 times and makes no call, so no
		// check at its entry.
		const k = 100_000
		if _, err := mod.ExportedFunction("sum").Call(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		if got, want := h.safepoints.Load(), int64((k+1)/n); got != want {
			t.Errorf("interval %d: %d safepoints for %d checks, want %d", n, got, k+1, want)
		}
	}
}

// TestDeterministic: the same input gives the same bytes, and an
// instrumented module is refused as input.
func TestDeterministic(t *testing.T) {
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			orig := g.need(t)
			keep := bytes.Clone(orig)
			a, err := Instrument(orig, Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := Instrument(orig, Options{SafepointInterval: DefaultSafepointInterval})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatal("two runs differ")
			}
			if !bytes.Equal(orig, keep) {
				t.Fatal("Instrument modified its input")
			}
			if _, err := Instrument(a, Options{}); !errors.Is(err, ErrReserved) {
				t.Fatalf("instrumenting twice: %v, want ErrReserved", err)
			}
			if CacheKey(orig, Options{}) == CacheKey(orig, Options{SafepointInterval: 1024}) {
				t.Fatal("CacheKey ignores the options")
			}
			if CacheKey(orig, Options{}) != CacheKey(orig, Options{SafepointInterval: DefaultSafepointInterval}) {
				t.Fatal("CacheKey differs for equivalent options")
			}
		})
	}
}

// TestNamesAndCustomSections: function names survive the index shift,
// DWARF is dropped, other custom sections are kept.
func TestNamesAndCustomSections(t *testing.T) {
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			orig := g.need(t)
			inst, err := Instrument(orig, Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := newHost(t, false)
			ctx := context.Background()
			a, err := h.CompileModule(ctx, orig)
			if err != nil {
				t.Fatal(err)
			}
			b, err := h.CompileModule(ctx, inst)
			if err != nil {
				t.Fatal(err)
			}
			for name, da := range a.ExportedFunctions() {
				db := b.ExportedFunctions()[name]
				if db == nil {
					t.Fatalf("export %q lost", name)
				}
				_, _, imported := da.Import()
				if da.Name() != db.Name() || !imported && da.Index()+1 != db.Index() {
					t.Errorf("export %q: original %s (index %d), instrumented %s (index %d)", name, da.Name(), da.Index(), db.Name(), db.Index())
				}
			}
			var hadDebug bool
			custom := customSections(t, orig)
			for _, n := range custom {
				hadDebug = hadDebug || strings.HasPrefix(n, ".debug_")
			}
			var want []string
			for _, n := range custom {
				if !strings.HasPrefix(n, ".debug_") {
					want = append(want, n)
				}
			}
			if got := customSections(t, inst); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("custom sections %q, want %q", got, want)
			}
			t.Logf("custom sections %q; DWARF dropped: %v", want, hadDebug)
		})
	}
}

func customSections(t *testing.T, wasm []byte) []string {
	m, err := parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.sections {
		if s.id == secCustom {
			names = append(names, s.name)
		}
	}
	return names
}
