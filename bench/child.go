package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pumacdc/puma/engine"
)

// Spec tells a child process which run to make. The parent passes it as
// JSON on the command line.
type Spec struct {
	Workload string `json:"workload"`
	Variant  string `json:"variant"`
	Addr     string `json:"addr"`
	Table    string `json:"table"`
	Start    Pos    `json:"start"`
	// End is the end of the range; nil means the parent sends "file:pos"
	// on standard input once it knows it (the steady workload).
	End      *Pos   `json:"end,omitempty"`
	ServerID uint32 `json:"server_id"`
	Dir      string `json:"dir"`
	// Lag samples lag from TSColumn.
	Lag bool `json:"lag,omitempty"`
	// SinkURL is where the variant posts (Variant.Sink); set by the
	// parent.
	SinkURL string `json:"sink_url,omitempty"`
	// TargetPort and TargetDB are the database target of a variant with
	// Target set; set by the parent.
	TargetPort int    `json:"target_port,omitempty"`
	TargetDB   string `json:"target_db,omitempty"`
	// Broker is where the variant publishes (Variant.Broker); set by the
	// parent.
	Broker *BrokerEnv `json:"broker,omitempty"`
	// CPUProfile, when set, is written over the measured window.
	CPUProfile string `json:"cpu_profile,omitempty"`
	// AllocProfile, when set, gets a heap profile of the allocations
	// made in the measured window (sampled at the runtime's default rate;
	// set-up, such as compiling plugins, is not sampled).
	AllocProfile string        `json:"alloc_profile,omitempty"`
	Timeout      time.Duration `json:"timeout"`
}

// Result is what one run measured. Times and CPU cover the window from
// just before the consumer connects to the moment every sender
// acknowledged the end position.
type Result struct {
	// Rows is the rows the senders acknowledged (the first sender's
	// count).
	Rows uint64 `json:"rows"`
	// SourceRows is the rows of the range, what the variant read: Rows
	// unless the variant's handlers dropped some. Rates and CPU per row
	// are per source row. Set by the parent; 0 in results from before it
	// was recorded, which means Rows.
	SourceRows uint64  `json:"source_rows,omitempty"`
	Seconds    float64 `json:"seconds"`
	// FirstRowSeconds is when the first row was counted, from the start:
	// connecting, preflight, locating the start and the first transaction.
	FirstRowSeconds float64 `json:"first_row_seconds"`
	UserCPU         float64 `json:"user_cpu"`
	SysCPU          float64 `json:"sys_cpu"`
	PeakRSSKiB      int64   `json:"peak_rss_kib"`
	// Allocs and AllocBytes are the heap allocations the process made
	// over the window (runtime/metrics, tiny objects included); GCShare
	// is the share of the CPU the Go runtime counted as busy that its
	// garbage collector used over the window (its own estimates). Zero
	// in results from before they were recorded.
	Allocs     uint64  `json:"allocs,omitempty"`
	AllocBytes uint64  `json:"alloc_bytes,omitempty"`
	GCShare    float64 `json:"gc_share,omitempty"`
	// WasmSeconds is the time inside Wasm plugins; nil when there are
	// none.
	WasmSeconds *float64 `json:"wasm_seconds,omitempty"`
	// Lag percentiles in milliseconds, when sampled.
	LagSamples int     `json:"lag_samples,omitempty"`
	LagP50     float64 `json:"lag_p50_ms,omitempty"`
	LagP99     float64 `json:"lag_p99_ms,omitempty"`
	LagMax     float64 `json:"lag_max_ms,omitempty"`
	// LoadAvg is the machine's 1-minute load average when the run ended,
	// read by the parent: other work on the machine skews wall-clock
	// numbers (CPU per row much less).
	LoadAvg float64 `json:"load_avg"`
	// OtherCores is the CPU the rest of the machine used while the child
	// lived, in cores: all busy time less the child's and MariaDB's, over
	// the child's wall time. Read by the parent.
	OtherCores float64 `json:"other_cores"`
	// ServerCPU is MariaDB's CPU time while the child lived (dump thread
	// included), in seconds. Read by the parent.
	ServerCPU float64 `json:"server_cpu"`
	// SinkRows and SinkRequests are what the HTTP sink received (rows of
	// each batch counted once), for a variant that posts to one; set by
	// the parent.
	SinkRows     *uint64 `json:"sink_rows,omitempty"`
	SinkRequests uint64  `json:"sink_requests,omitempty"`
	// TargetRows and TargetRoundTrips are what the database target's
	// table held after the run and the round trips the run made to it
	// (counted by the harness's proxy, connecting and reading the
	// applied position included), for a variant with a Target; set by
	// the parent.
	TargetRows       *uint64 `json:"target_rows,omitempty"`
	TargetRoundTrips uint64  `json:"target_round_trips,omitempty"`
	// BrokerRows is the changes the broker stored (committed, for
	// Kafka), for a variant that publishes to one; set by the parent.
	BrokerRows *uint64 `json:"broker_rows,omitempty"`
}

// sourceRows is the rows the run read: SourceRows, or Rows in results
// without it.
func (r Result) sourceRows() uint64 {
	if r.SourceRows > 0 {
		return r.SourceRows
	}
	return r.Rows
}

// readyLine is what a child prints once it is reading, so the parent can
// start a steady writer.
const readyLine = "ready"

// RunChild makes the run spec describes in this process, writes readyLine
// to out once the consumer reads, and returns what it measured. When
// spec.End is nil the end position arrives as a "file:pos" line on stdin;
// the goroutine reading it lives as long as the process (a child makes one
// run and exits).
func RunChild(ctx context.Context, spec Spec, stdin io.Reader, out io.Writer) (Result, error) {
	v, ok := VariantByName(spec.Variant)
	if !ok {
		return Result{}, fmt.Errorf("unknown variant %q", spec.Variant)
	}
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	env := &Env{
		Addr: spec.Addr, Start: spec.Start, Table: spec.Table, Dir: spec.Dir, ServerID: spec.ServerID,
		Log:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Workload: spec.Workload, SinkURL: spec.SinkURL, TargetPort: spec.TargetPort, TargetDB: spec.TargetDB, Broker: spec.Broker,
	}
	var (
		profile *os.File
		cpuEnd  cpuTimes
		rtEnd   runtimeCounters
		wasm    func() time.Duration
		wasmEnd time.Duration
	)
	if spec.AllocProfile != "" {
		// Sample nothing until the window opens: set-up (compiling the
		// plugins) would swamp the profile.
		runtime.MemProfileRate = 0
	}
	if spec.CPUProfile != "" {
		f, err := os.Create(spec.CPUProfile)
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		profile = f
	}
	stop := func() {
		cpuEnd = readCPU()
		rtEnd = readRuntimeCounters()
		if spec.AllocProfile != "" {
			runtime.MemProfileRate = 0
		}
		if wasm != nil {
			wasmEnd = wasm()
		}
		if profile != nil {
			pprof.StopCPUProfile()
		}
	}
	consumers := 1
	var setup *Setup
	if v.Engine != nil {
		var err error
		if setup, err = v.Engine(env); err != nil {
			return Result{}, err
		}
		consumers = len(setup.Task.Senders)
		wasm = setup.WasmTime
	}
	probe := NewProbe(consumers, spec.End, spec.Lag, stop)
	if spec.End == nil {
		go readEnd(stdin, probe)
	}
	var readyOnce sync.Once
	ready := func() { readyOnce.Do(func() { fmt.Fprintln(out, readyLine) }) }

	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return Result{}, err
		}
	}
	if spec.AllocProfile != "" {
		runtime.MemProfileRate = allocProfileRate
	}
	rtStart := readRuntimeCounters()
	cpuStart := readCPU()
	start := time.Now()
	var err error
	if v.Raw != nil {
		err = runRaw(ctx, v, env, probe, ready)
	} else {
		err = runEngine(ctx, setup, probe, ready)
	}
	if err != nil {
		select {
		case <-probe.Done():
		default:
			if profile != nil {
				pprof.StopCPUProfile()
			}
		}
		return Result{}, err
	}
	res := Result{
		Rows:            probe.Rows(),
		Seconds:         probe.At().Sub(start).Seconds(),
		FirstRowSeconds: probe.First().Sub(start).Seconds(),
		UserCPU:         (cpuEnd.user - cpuStart.user).Seconds(),
		SysCPU:          (cpuEnd.sys - cpuStart.sys).Seconds(),
		PeakRSSKiB:      peakRSSKiB(),
	}
	rt := rtEnd.sub(rtStart)
	res.Allocs, res.AllocBytes = rt.objects, rt.bytes
	if rt.busyCPU > 0 {
		res.GCShare = rt.gcCPU / rt.busyCPU
	}
	if spec.AllocProfile != "" {
		if err := writeAllocProfile(spec.AllocProfile); err != nil {
			return Result{}, err
		}
	}
	if wasm != nil {
		s := wasmEnd.Seconds()
		res.WasmSeconds = &s
	}
	if lags := probe.Lags(); len(lags) > 0 {
		slices.Sort(lags)
		res.LagSamples = len(lags)
		res.LagP50 = ms(percentile(lags, 0.50))
		res.LagP99 = ms(percentile(lags, 0.99))
		res.LagMax = ms(lags[len(lags)-1])
	}
	return res, nil
}

// allocProfileRate is runtime.MemProfileRate's default: one sample every
// 512 KiB allocated.
const allocProfileRate = 512 * 1024

// writeAllocProfile writes the heap profile to path. A profile shows the
// allocations as of the last completed collection, so it collects first;
// its samples are scaled by the rate in force when it is written.
func writeAllocProfile(path string) error {
	runtime.MemProfileRate = allocProfileRate
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("alloc profile: %w", err)
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// readEnd reads "file:pos" from r and hands it to the probe.
func readEnd(r io.Reader, p *Probe) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return
	}
	end, err := ParsePos(strings.TrimSpace(line))
	if err != nil {
		return
	}
	p.SetEnd(end)
}

func runRaw(ctx context.Context, v Variant, env *Env, probe *Probe, ready func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- v.Raw(ctx, env, probe, ready) }()
	select {
	case <-probe.Done():
		cancel()
		<-errc
		return nil
	case err := <-errc:
		select {
		case <-probe.Done():
			return nil
		default:
		}
		if err == nil {
			err = errors.New("consumer returned before the end position")
		}
		return err
	}
}

// runEngine runs the task until the probe saw the end, then stops it
// (a graceful drain, outside the measured window).
func runEngine(ctx context.Context, setup *Setup, probe *Probe, ready func()) error {
	if setup.Close != nil {
		defer setup.Close()
	}
	inner := setup.Deps.NewSender
	var mu sync.Mutex
	next := 0
	setup.Deps.NewSender = func(ctx context.Context, task engine.TaskConfig, p engine.PluginConfig) (engine.Sender, error) {
		s, err := inner(ctx, task, p)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		ps := &probeSender{p: probe, i: next, inner: s, tsCol: map[*engine.Table]int{}}
		next++
		return ps, nil
	}
	task, err := engine.NewTask(setup.Task, setup.Deps)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- task.Run(runCtx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	poll := tick.C // until the task streams
	for {
		select {
		case <-probe.Done():
			cancel()
			if err := <-errc; err != nil {
				return fmt.Errorf("task stopped with: %w", err)
			}
			return nil
		case err := <-errc:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("task stopped before the end position: %w", err)
		case <-poll:
			if task.Stats().Snapshot().State == "streaming" {
				ready()
				poll = nil
			}
		}
	}
}
