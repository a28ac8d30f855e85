// Package bench is Puma's benchmark harness: it starts a private MariaDB
// (internal/testdb), loads a workload into its binary log, and measures how
// fast each variant consumes that one binary-log range: the floor (go-mysql
// decoding every event and nothing else) and Puma with various senders.
//
// Every measured run happens in a child process (the harness binary run
// again with -run-variant), so that peak RSS, which the kernel keeps per
// process and never lowers, belongs to one variant, and so that one run's
// garbage does not tax the next. cmd/puma-bench is the command; `make
// bench` runs it and rewrites BENCHMARKS.md.
//
// A variant is a name and a function building a Puma task (engine.TaskConfig and
// engine.Deps); the harness wraps each sender the task makes in a probe
// that counts rows, samples lag and notices when the end position was
// acknowledged. New variants (Wasm handlers and senders) are added to
// Variants.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// Options configure a harness run.
type Options struct {
	// Workloads and Variants name what to run, in the order given.
	Workloads, Variants []string
	// Rows overrides the workloads' row counts (narrow and bigtx get Rows,
	// wide Rows/5); 0 keeps the defaults.
	Rows int
	// Repeat is how many runs of each variant a batch workload gets; the
	// report gives medians. Variants take turns, so drift hits all alike.
	Repeat int
	// SteadyRate (rows/s), SteadyDuration and SteadyRepeat shape the steady
	// workload.
	SteadyRate     int
	SteadyDuration time.Duration
	SteadyRepeat   int
	// CPUProfileDir, when set, gets one extra, unmeasured run per batch
	// workload and variant with a CPU profile of its measured window:
	// DIR/<workload>-<variant>.pprof.
	CPUProfileDir string
	// AllocProfileDir, when set, gets the same extra run a heap profile
	// of the allocations of its measured window:
	// DIR/<workload>-<variant>.allocs.pprof.
	AllocProfileDir string
	// Self is the executable to run children with (os.Executable()).
	Self string
	// Command is the command line, for the report.
	Command string
	// Progress receives one line per step.
	Progress io.Writer
}

// serverArgs are the mariadbd settings the harness adds to testdb's, for
// loading speed: a buffer pool that holds the largest workload, a redo log
// a 1M-row transaction does not wrap, no doublewrite, and a binlog cache
// that keeps a 100-row transaction of wide in memory.
var serverArgs = []string{
	"--innodb-buffer-pool-size=2G",
	"--innodb-log-file-size=1G",
	"--innodb-log-buffer-size=64M",
	"--innodb-doublewrite=0",
	"--binlog-cache-size=4M",
	"--max-allowed-packet=64M",
}

// Report is the outcome of a harness run.
type Report struct {
	Machine Machine
	MariaDB string
	GoMySQL string
	// Revision is the Puma commit the binary was built from, "+dirty" when
	// the tree had changes; empty when the build carries no VCS stamp.
	Revision  string
	Command   string
	Date      time.Time
	Repeat    int
	Elapsed   time.Duration
	Workloads []WorkloadResult
}

// WorkloadResult holds the runs of every variant on one workload.
type WorkloadResult struct {
	Name, Doc string
	Steady    bool
	// Rows is the rows in the range (steady: of the last run);
	// BinlogBytes its size; LoadSeconds how long loading took.
	Rows        int
	BinlogBytes int64
	LoadSeconds float64
	// Rate and Duration of the steady writer.
	Rate     int
	Duration time.Duration
	Variants []VariantResult
}

// VariantResult is the runs of one variant on one workload.
type VariantResult struct {
	Name, Label string
	Runs        []Result
}

// Run starts the server, loads and measures every workload, and returns
// the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	started := time.Now()
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "puma-bench: "+format+"\n", args...)
		}
	}
	var workloads []Workload
	for _, name := range opts.Workloads {
		w, ok := WorkloadByName(name)
		if !ok {
			return nil, fmt.Errorf("unknown workload %q", name)
		}
		workloads = append(workloads, w)
	}
	var variants []Variant
	for _, name := range opts.Variants {
		v, ok := VariantByName(name)
		if !ok {
			return nil, fmt.Errorf("unknown variant %q", name)
		}
		variants = append(variants, v)
	}
	for _, w := range workloads {
		for _, v := range variants {
			if v.Filtered && w.Keep == "" {
				return nil, fmt.Errorf("variant %s filters, and workload %s has no Keep predicate", v.Name, w.Name)
			}
		}
	}
	opts.Repeat = max(opts.Repeat, 1)
	opts.SteadyRepeat = max(opts.SteadyRepeat, 1)

	scratch, err := os.MkdirTemp("", "puma-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	progress("starting MariaDB")
	srv, err := testdb.New(ctx, testdb.Options{
		ExtraArgs: serverArgs,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	h := &harness{opts: opts, targets: map[string]*dbTarget{}, addr: srv.Addr(), scratch: scratch, progress: progress,
		serverPID: pidFromFile(filepath.Join(filepath.Dir(srv.DataDir()), "mariadbd.pid"))}
	defer func() {
		for _, t := range h.targets {
			t.close()
		}
	}()
	rep := &Report{Machine: ThisMachine(), Command: opts.Command, Date: started.UTC(), Repeat: opts.Repeat, GoMySQL: goMySQLVersion(), Revision: revision()}
	if rep.MariaDB, err = h.queryString(ctx, "SELECT VERSION()"); err != nil {
		return nil, err
	}
	if err := h.exec(ctx, "CREATE DATABASE "+DB); err != nil {
		return nil, err
	}
	for _, w := range workloads {
		var wr WorkloadResult
		var err error
		var vs []Variant
		for _, v := range variants {
			if v.runsOn(w) && !(w.Steady && v.Snapshot) {
				vs = append(vs, v)
			}
		}
		if w.Steady {
			wr, err = h.steady(ctx, w, vs)
		} else {
			wr, err = h.batch(ctx, w, vs)
		}
		if err != nil {
			return nil, fmt.Errorf("workload %s: %w", w.Name, err)
		}
		rep.Workloads = append(rep.Workloads, wr)
		// Free the disk and page cache for the next workload.
		if err := h.exec(ctx, "DROP TABLE "+DB+"."+w.Table); err != nil {
			return nil, err
		}
		for _, stmt := range []string{"FLUSH BINARY LOGS", "PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 DAY"} {
			if err := h.exec(ctx, stmt); err != nil {
				progress("%v", err)
			}
		}
	}
	rep.Elapsed = time.Since(started)
	return rep, nil
}

type harness struct {
	opts Options
	// targets are the database targets started so far, by kind; runs
	// counts the databases made on them.
	targets  map[string]*dbTarget
	runs     int
	addr     string
	scratch  string
	progress func(string, ...any)
	serverID uint32
	// serverPID is mariadbd's, to read its CPU time; 0 if unknown.
	serverPID int
}

func (h *harness) exec(ctx context.Context, stmt string) error {
	c, err := dial(ctx, h.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Execute(stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// count runs a SELECT COUNT(*).
func (h *harness) count(ctx context.Context, q string) (int, error) {
	c, err := dial(ctx, h.addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r, err := c.Execute(q)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	n, err := r.GetInt(0, 0)
	return int(n), err
}

// want is the rows variant v must deliver of the rows of the range, all
// of which satisfy where (SQL over the workload's table): all of them,
// or for a variant that filters, those the workload's Keep predicate
// holds for, counted by MariaDB.
func (h *harness) want(ctx context.Context, w Workload, v Variant, rows int, where string) (int, error) {
	if !v.Filtered {
		return rows, nil
	}
	q := "SELECT COUNT(*) FROM " + DB + "." + w.Table + " WHERE (" + w.Keep + ")"
	if where != "" {
		q += " AND " + where
	}
	return h.count(ctx, q)
}

func (h *harness) queryString(ctx context.Context, q string) (string, error) {
	c, err := dial(ctx, h.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	r, err := c.Execute(q)
	if err != nil {
		return "", fmt.Errorf("%s: %w", q, err)
	}
	s, err := r.GetString(0, 0)
	return strings.Clone(s), err
}

// masterStatus returns the end of the binary log.
func (h *harness) masterStatus(ctx context.Context) (Pos, error) {
	c, err := dial(ctx, h.addr)
	if err != nil {
		return Pos{}, err
	}
	defer c.Close()
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		return Pos{}, err
	}
	file, err := r.GetString(0, 0)
	if err != nil {
		return Pos{}, err
	}
	pos, err := r.GetUint(0, 1)
	return Pos{File: strings.Clone(file), Pos: uint32(pos)}, err
}

// binlogBytes is the size of the range from a to b.
func (h *harness) binlogBytes(ctx context.Context, a, b Pos) (int64, error) {
	if a.File == b.File {
		return int64(b.Pos) - int64(a.Pos), nil
	}
	c, err := dial(ctx, h.addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return 0, err
	}
	var n int64
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		size, _ := r.GetInt(i, 1)
		switch {
		case name == a.File:
			n += size - int64(a.Pos)
		case name == b.File:
			n += int64(b.Pos)
		case name > a.File && name < b.File:
			n += size
		}
	}
	return n, nil
}

func (h *harness) batch(ctx context.Context, w Workload, variants []Variant) (WorkloadResult, error) {
	rows := w.Rows
	if h.opts.Rows > 0 {
		rows = w.Scale(h.opts.Rows)
	}
	wr := WorkloadResult{Name: w.Name, Doc: w.Doc, Rows: rows}
	if err := h.exec(ctx, w.DDL); err != nil {
		return wr, err
	}
	start, err := h.masterStatus(ctx)
	if err != nil {
		return wr, err
	}
	h.progress("%s: loading %d rows", w.Name, rows)
	t0 := time.Now()
	if err := w.Load(ctx, h.addr, rows); err != nil {
		return wr, err
	}
	wr.LoadSeconds = time.Since(t0).Seconds()
	end, err := h.masterStatus(ctx)
	if err != nil {
		return wr, err
	}
	if wr.BinlogBytes, err = h.binlogBytes(ctx, start, end); err != nil {
		return wr, err
	}
	h.progress("%s: loaded in %.1f s, binary log %s..%s (%.1f MB)", w.Name, wr.LoadSeconds, start, end, float64(wr.BinlogBytes)/1e6)

	wr.Variants = make([]VariantResult, len(variants))
	want := make([]int, len(variants))
	for i, v := range variants {
		wr.Variants[i] = VariantResult{Name: v.Name, Label: v.Label}
		if want[i], err = h.want(ctx, w, v, rows, ""); err != nil {
			return wr, err
		}
		if v.Filtered {
			h.progress("%s: %s keeps %d of %d rows (%s)", w.Name, v.Name, want[i], rows, w.Keep)
		}
	}
	for r := range h.opts.Repeat {
		for i, v := range variants {
			spec := h.spec(w, v, start)
			spec.End = &end
			res, err := h.child(ctx, spec, nil)
			if err != nil {
				return wr, fmt.Errorf("variant %s: %w", v.Name, err)
			}
			res.SourceRows = uint64(rows)
			if err := checkRows(v, res, want[i], rows); err != nil {
				return wr, err
			}
			h.progress("%s/%s run %d: %.0f rows/s, %.2f CPU s, peak RSS %d MiB, %.2f allocs/row, GC %.0f%%, MariaDB %.2f CPU s, others %.2f cores%s", w.Name, v.Name, r+1, float64(rows)/res.Seconds, res.UserCPU+res.SysCPU, res.PeakRSSKiB>>10, allocsPerRow(res), 100*res.GCShare, res.ServerCPU, res.OtherCores, sinkNote(res))
			wr.Variants[i].Runs = append(wr.Variants[i].Runs, res)
		}
	}
	if h.opts.CPUProfileDir != "" || h.opts.AllocProfileDir != "" {
		for i, v := range variants {
			spec := h.spec(w, v, start)
			spec.End = &end
			if h.opts.CPUProfileDir != "" {
				spec.CPUProfile = filepath.Join(h.opts.CPUProfileDir, w.Name+"-"+v.Name+".pprof")
			}
			if h.opts.AllocProfileDir != "" {
				spec.AllocProfile = filepath.Join(h.opts.AllocProfileDir, w.Name+"-"+v.Name+".allocs.pprof")
			}
			res, err := h.child(ctx, spec, nil)
			if err != nil {
				return wr, fmt.Errorf("variant %s (profiled): %w", v.Name, err)
			}
			if err := checkRows(v, res, want[i], rows); err != nil {
				return wr, fmt.Errorf("(profiled) %w", err)
			}
			h.progress("%s/%s: profiled (%s)", w.Name, v.Name, strings.Join(slices.DeleteFunc([]string{spec.CPUProfile, spec.AllocProfile}, func(s string) bool { return s == "" }), ", "))
		}
	}
	return wr, nil
}

func (h *harness) steady(ctx context.Context, w Workload, variants []Variant) (WorkloadResult, error) {
	wr := WorkloadResult{Name: w.Name, Doc: w.Doc, Steady: true, Rate: h.opts.SteadyRate, Duration: h.opts.SteadyDuration}
	if err := h.exec(ctx, w.DDL); err != nil {
		return wr, err
	}
	wr.Variants = make([]VariantResult, len(variants))
	for i, v := range variants {
		wr.Variants[i] = VariantResult{Name: v.Name, Label: v.Label}
	}
	next := 1
	for r := range h.opts.SteadyRepeat {
		for i, v := range variants {
			start, err := h.masterStatus(ctx)
			if err != nil {
				return wr, err
			}
			spec := h.spec(w, v, start)
			spec.Lag = true
			first, written := next, 0
			res, err := h.child(ctx, spec, func(ctx context.Context) (Pos, error) {
				n, err := Steady(ctx, h.addr, h.opts.SteadyRate, h.opts.SteadyDuration, next)
				written = n
				next += n
				if err != nil {
					return Pos{}, err
				}
				return h.masterStatus(ctx)
			})
			if err != nil {
				return wr, fmt.Errorf("variant %s: %w", v.Name, err)
			}
			want, err := h.want(ctx, w, v, written, fmt.Sprintf("id BETWEEN %d AND %d", first, first+written-1))
			if err != nil {
				return wr, err
			}
			res.SourceRows = uint64(written)
			if err := checkRows(v, res, want, written); err != nil {
				return wr, err
			}
			if res.LagSamples != want {
				return wr, fmt.Errorf("variant %s: %d lag samples of %d rows delivered", v.Name, res.LagSamples, want)
			}
			wr.Rows = written
			h.progress("%s/%s run %d: %d rows, lag p50 %.2f ms p99 %.2f ms max %.2f ms, %.2f CPU s, others %.2f cores%s", w.Name, v.Name, r+1, written, res.LagP50, res.LagP99, res.LagMax, res.UserCPU+res.SysCPU, res.OtherCores, sinkNote(res))
			wr.Variants[i].Runs = append(wr.Variants[i].Runs, res)
		}
	}
	return wr, nil
}

// checkRows fails a run whose senders did not deliver want of the range's
// rows: the probe's count, and the sink's for a variant that posts to one.
func checkRows(v Variant, res Result, want, rows int) error {
	of := ""
	if v.Filtered {
		of = fmt.Sprintf(" (of %d in the range)", rows)
	}
	if res.Rows != uint64(want) {
		return fmt.Errorf("variant %s: senders acknowledged %d rows, want %d%s", v.Name, res.Rows, want, of)
	}
	if v.Target != "" && (res.TargetRows == nil || *res.TargetRows != uint64(want)) {
		got := "none"
		if res.TargetRows != nil {
			got = fmt.Sprint(*res.TargetRows)
		}
		return fmt.Errorf("variant %s: the target table holds %s rows, want %d%s", v.Name, got, want, of)
	}
	if v.Broker != "" && (res.BrokerRows == nil || *res.BrokerRows != uint64(want)) {
		got := "none"
		if res.BrokerRows != nil {
			got = fmt.Sprint(*res.BrokerRows)
		}
		return fmt.Errorf("variant %s: the %s broker stored %s changes, want %d%s", v.Name, v.Broker, got, want, of)
	}
	if v.Sink != nil && (res.SinkRows == nil || *res.SinkRows != uint64(want)) {
		got := "none"
		if res.SinkRows != nil {
			got = fmt.Sprint(*res.SinkRows)
		}
		return fmt.Errorf("variant %s: the HTTP sink received %s rows, want %d%s", v.Name, got, want, of)
	}
	return nil
}

func sinkNote(res Result) string {
	if res.TargetRows != nil {
		return fmt.Sprintf(", target %d rows in %d round trips (%.0f rows per round trip)", *res.TargetRows, res.TargetRoundTrips, rowsPerTrip(res))
	}
	if res.BrokerRows != nil {
		return fmt.Sprintf(", broker %d changes", *res.BrokerRows)
	}
	if res.SinkRows == nil {
		return ""
	}
	return fmt.Sprintf(", sink %d rows in %d requests", *res.SinkRows, res.SinkRequests)
}

// rowsPerTrip is the rows a run applied per round trip to its target.
func rowsPerTrip(res Result) float64 {
	if res.TargetRows == nil || res.TargetRoundTrips == 0 {
		return 0
	}
	return float64(*res.TargetRows) / float64(res.TargetRoundTrips)
}

// target returns the database target of kind, starting it on first use.
func (h *harness) target(ctx context.Context, kind string) (*dbTarget, error) {
	if t, ok := h.targets[kind]; ok {
		return t, nil
	}
	h.progress("starting the %s target", kind)
	t, err := startTarget(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("%s target: %w", kind, err)
	}
	h.targets[kind] = t
	return t, nil
}

func (h *harness) spec(w Workload, v Variant, start Pos) Spec {
	h.serverID++
	return Spec{
		Workload: w.Name, Variant: v.Name, Addr: h.addr, Table: DB + "." + w.Table,
		Start: start, ServerID: 50000 + h.serverID, Timeout: 20 * time.Minute,
	}
}

// child runs spec in a child process. With write non-nil (the steady
// workload) it calls write once the child reads, and sends the child the
// end position write returns.
func (h *harness) child(ctx context.Context, spec Spec, write func(context.Context) (Pos, error)) (Result, error) {
	dir, err := os.MkdirTemp(h.scratch, spec.Workload+"-"+spec.Variant+"-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	spec.Dir = dir
	v, ok := VariantByName(spec.Variant)
	if !ok {
		return Result{}, fmt.Errorf("unknown variant %q", spec.Variant)
	}
	var sink *httpSink
	if v.Sink != nil {
		if sink, err = newHTTPSink(); err != nil {
			return Result{}, fmt.Errorf("HTTP sink: %w", err)
		}
		defer sink.Close()
		spec.SinkURL = sink.URL()
	}
	var (
		target *dbTarget
		proxy  *roundTripProxy
	)
	if v.Target != "" {
		if target, err = h.target(ctx, v.Target); err != nil {
			return Result{}, err
		}
		h.runs++
		spec.TargetDB = fmt.Sprintf("bench_%d", h.runs)
		if err := target.exec(ctx, "CREATE DATABASE "+spec.TargetDB); err != nil {
			return Result{}, fmt.Errorf("%s target: %w", v.Target, err)
		}
		defer target.exec(context.WithoutCancel(ctx), "DROP DATABASE "+spec.TargetDB)
		if proxy, err = newRoundTripProxy(target.addr); err != nil {
			return Result{}, err
		}
		defer proxy.Close()
		spec.TargetPort = proxy.Addr().Port
	}
	var brk *broker
	if v.Broker != "" {
		if brk, err = startBroker(ctx, v.Broker); err != nil {
			return Result{}, fmt.Errorf("%s broker: %w", v.Broker, err)
		}
		defer brk.close()
		spec.Broker = &brk.env
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.opts.Self, "-run-variant", spec.Variant, "-spec", string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Result{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	// Every run starts with nothing left for the kernel to write back:
	// what earlier runs left dirty in the page cache (a database
	// target's tables and log, the loaded binary log) is written out
	// now, not while this run writes its own. Above the kernel's dirty
	// threshold every write(2) costs about three times as much CPU here,
	// so without this a file sink's run measured what ran before it.
	syscall.Sync()
	busy0, server0, t0 := busySeconds(), processCPUSeconds(h.serverPID), time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	waited := false
	fail := func(err error) (Result, error) {
		cancel()
		if !waited {
			_ = cmd.Wait()
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w\nchild stderr:\n%s", err, s)
		}
		return Result{}, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var res Result
	got := false
	for sc.Scan() {
		line := sc.Text()
		if line == readyLine {
			if write == nil {
				continue
			}
			end, err := write(ctx)
			if err != nil {
				return fail(err)
			}
			if _, err := fmt.Fprintln(stdin, end.String()); err != nil {
				return fail(err)
			}
			continue
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return fail(fmt.Errorf("child said %q: %w", line, err))
		}
		got = true
	}
	stdin.Close()
	err = cmd.Wait()
	waited = true
	if err != nil {
		return fail(fmt.Errorf("child: %w", err))
	}
	if !got {
		return fail(errors.New("child printed no result"))
	}
	res.LoadAvg = loadAvg()
	res.ServerCPU = processCPUSeconds(h.serverPID) - server0
	child := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	res.OtherCores = max(0, (busySeconds()-busy0-child-res.ServerCPU)/time.Since(t0).Seconds())
	if sink != nil {
		// Every batch was answered before the sender acknowledged it:
		// the counts are complete.
		sc := sink.counts()
		if sc.Err != nil {
			return Result{}, sc.Err
		}
		w, _ := WorkloadByName(spec.Workload)
		if sc.First != nil {
			if err := v.Sink(w, sc.First); err != nil {
				return Result{}, fmt.Errorf("variant %s: %w", v.Name, err)
			}
		}
		res.SinkRows, res.SinkRequests = &sc.Rows, sc.Requests
	}
	if target != nil {
		// The sender acknowledged each group after its commit: the table
		// holds every row the probe counted.
		n, err := target.count(ctx, spec.TargetDB, spec.Table[strings.IndexByte(spec.Table, '.')+1:])
		if err != nil {
			return Result{}, fmt.Errorf("variant %s: count the target's rows: %w", v.Name, err)
		}
		res.TargetRows, res.TargetRoundTrips = &n, proxy.RoundTrips()
	}
	if brk != nil {
		// The sender acknowledged each call once the broker stored it:
		// the broker holds every row the probe counted.
		n, err := brk.count(ctx, spec.Table)
		if err != nil {
			return Result{}, fmt.Errorf("variant %s: count what the broker stored: %w", v.Name, err)
		}
		res.BrokerRows = &n
	}
	return res, nil
}

func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

func goMySQLVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/go-mysql-org/go-mysql" {
			return d.Version
		}
	}
	return "unknown"
}
