package instrument

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Run with
//
//	go test -run '^$' -bench . -benchtime 20x ./hostabi/instrument/
//
// Numbers from this machine are in RATIONALE.md, "Interrupting plugins".

// three is one guest export in the three configurations compared: the
// original module, the instrumented one, and the original under
// WithCloseOnContextDone, each in its own runtime.
type three struct {
	plain, instrumented, closeOnDone api.Function
}

func newThree(b *testing.B, orig []byte, fn string, opts Options) three {
	b.Helper()
	inst, err := Instrument(orig, opts)
	if err != nil {
		b.Fatal(err)
	}
	get := func(h *host, wasm []byte) api.Function {
		f := h.instance(b, wasm, nil).ExportedFunction(fn)
		if f == nil {
			b.Fatalf("no export %q", fn)
		}
		return f
	}
	return three{
		plain:        get(newHost(b, false), orig),
		instrumented: get(newHost(b, false), inst),
		closeOnDone:  get(newHost(b, true), orig),
	}
}

// run calls each configuration once per b.N with the same arguments and
// reports each one's time per unit (an iteration, a call) and the ratios
// to the original's.
func (t three) run(b *testing.B, unit string, units int, args ...uint64) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var d [3]time.Duration
	fns := [3]api.Function{t.plain, t.instrumented, t.closeOnDone}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, f := range fns {
			start := time.Now()
			if _, err := f.Call(ctx, args...); err != nil {
				b.Fatal(err)
			}
			d[k] += time.Since(start)
		}
	}
	per := func(k int) float64 { return float64(d[k].Nanoseconds()) / float64(b.N) / float64(units) }
	b.ReportMetric(per(0), "plain-ns/"+unit)
	b.ReportMetric(per(1), "instrumented-ns/"+unit)
	b.ReportMetric(per(2), "closeondone-ns/"+unit)
	b.ReportMetric(per(1)/per(0), "instrumented/plain")
	b.ReportMetric(per(2)/per(0), "closeondone/plain")
}

// BenchmarkLoop: tight counted loops, per iteration: sum adds locals,
// bump increments a global (the spin loop, bounded).
func BenchmarkLoop(b *testing.B) {
	for _, fn := range []string{"sum", "bump"} {
		b.Run(fn, func(b *testing.B) {
			const iters = 1 << 22
			newThree(b, guestNamed("wat/loops").need(b), fn, Options{}).run(b, "iter", iters, iters)
		})
	}
}

// BenchmarkGuests: whole calls of each toolchain's guest: work (allocation,
// sorting, formatting) and fib (calls, no loops).
func BenchmarkGuests(b *testing.B) {
	for _, name := range []string{"go", "c", "rust", "assemblyscript"} {
		for _, cl := range []call{c("work", 1000), c("fib", 20)} {
			b.Run(name+"/"+cl.fn, func(b *testing.B) {
				newThree(b, guestNamed(name).need(b), cl.fn, Options{}).run(b, "call", 1, cl.args...)
			})
		}
	}
}

var intervals = []uint32{1 << 10, 1 << 14, 1 << 16, 1 << 18}

// BenchmarkInterval: the tight loop's cost per iteration instrumented with
// each candidate safepoint interval; N=1 measures a safepoint call.
func BenchmarkInterval(b *testing.B) {
	for _, n := range append([]uint32{1}, intervals...) {
		b.Run(fmt.Sprintf("loop/N=%d", n), func(b *testing.B) {
			const iters = 1 << 22
			inst, err := Instrument(guestNamed("wat/loops").need(b), Options{SafepointInterval: n})
			if err != nil {
				b.Fatal(err)
			}
			f := newHost(b, false).instance(b, inst, nil).ExportedFunction("sum")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.Call(context.Background(), iters); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/iters, "ns/iter")
		})
	}
}

// BenchmarkStop: how long a spinning guest takes to stop once the
// interrupt flag is set, while two goroutines allocate heavily, for each
// safepoint interval; and the longest the Go runtime waited to stop the
// world meanwhile (the price of a long interval for every other
// goroutine). Each iteration is a fresh instance spinning for 20 ms.
func BenchmarkStop(b *testing.B) {
	for _, g := range []string{"wat/loops", "go"} {
		for _, n := range intervals {
			if g == "go" && n != DefaultSafepointInterval {
				continue // instantiating the Go guest dominates; one interval suffices
			}
			b.Run(fmt.Sprintf("%s/N=%d", g, n), func(b *testing.B) {
				inst, err := Instrument(guestNamed(g).need(b), Options{SafepointInterval: n})
				if err != nil {
					b.Fatal(err)
				}
				h := newHost(b, false)
				var set, late []time.Duration
				var stopping time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					mod := h.instance(b, inst, nil)
					b.StartTimer()
					r := stopSpinning(b, h, mod, "spin", 20*time.Millisecond)
					if !isUnreachable(r.err) {
						b.Fatal(r.err)
					}
					set = append(set, r.setToReturn)
					late = append(late, r.deadlineToReturn)
					stopping = max(stopping, r.maxStopping)
					b.StopTimer()
					mod.Close(context.Background())
					b.StartTimer()
				}
				report := func(ds []time.Duration, name string) {
					slices.Sort(ds)
					b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), name+"-p50-µs")
					b.ReportMetric(float64(ds[len(ds)-1].Microseconds()), name+"-max-µs")
				}
				report(set, "set-to-return")
				report(late, "deadline-to-return")
				b.ReportMetric(float64(stopping.Microseconds()), "max-stw-wait-µs")
			})
		}
	}
}

// BenchmarkInstrument: the cost of the rewrite itself, per guest.
func BenchmarkInstrument(b *testing.B) {
	for _, g := range guests {
		b.Run(g.name, func(b *testing.B) {
			wasm := g.need(b)
			b.SetBytes(int64(len(wasm)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Instrument(wasm, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
