// Command puma-bench is Puma's reproducible benchmark: it starts a private
// MariaDB, loads each workload into its binary log and measures, on that
// one binary-log range, go-mysql's decoder alone (the floor) and Puma with
// various senders, each run in a child process of its own. See package
// bench and BENCHMARKS.md.
//
//	puma-bench [-workloads narrow,wide,bigtx,steady] [-variants floor,null,jsonl]
//	           [-rows N] [-repeat K] [-out BENCHMARKS.md] [-json FILE]
//	           [-cpuprofile DIR] [-memprofile DIR]
//	puma-bench -render FILE -out BENCHMARKS.md
//
// It only wires flags to package bench.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pumacdc/puma/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("puma-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workloads := fs.String("workloads", "narrow,wide,bigtx,steady", "workloads to run, comma-separated: narrow, wide, bigtx, steady")
	variants := fs.String("variants", "floor,decode,null,jsonl,jsonl-nofsync,filter-jsonl,filter-jsonl-wasm,filter-jsonl-fsync,filter-mask-jsonl-http,filter-postgres,filter-mariadb,snapshot", "variants to measure, comma-separated: "+variantNames())
	rows := fs.Int("rows", 0, "rows for narrow and bigtx (wide gets a fifth); 0 keeps 1M, 200k, 1M")
	repeat := fs.Int("repeat", 5, "runs per variant of each batch workload; the report gives medians")
	rate := fs.Int("steady-rate", 5000, "rows/s the steady writer inserts")
	dur := fs.Duration("steady-duration", 60*time.Second, "how long the steady writer runs, per variant and run")
	steadyRepeat := fs.Int("steady-repeat", 1, "runs per variant of the steady workload")
	out := fs.String("out", "", "rewrite the generated part of this Markdown file (BENCHMARKS.md)")
	jsonOut := fs.String("json", "", "also write the raw results, as JSON, to this file")
	render := fs.String("render", "", "run nothing: render the raw results of an earlier -json run")
	profile := fs.String("cpuprofile", "", "directory for CPU profiles: one extra, unmeasured run per batch workload and variant")
	memProfile := fs.String("memprofile", "", "directory for profiles of the allocations of that extra run's window (with or without -cpuprofile)")
	child := fs.String("run-variant", "", "internal: run one variant in this process (the harness's child)")
	spec := fs.String("spec", "", "internal: the child's run, as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *child != "" {
		return runChild(ctx, *child, *spec, stdout, stderr)
	}
	if *render != "" {
		var rep bench.Report
		b, err := os.ReadFile(*render)
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			fmt.Fprintln(stderr, "puma-bench: -render:", err)
			return 1
		}
		return output(&rep, *out, "", stdout, stderr)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "puma-bench:", err)
		return 1
	}
	for _, dir := range []string{*profile, *memProfile} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(stderr, "puma-bench:", err)
			return 1
		}
	}
	rep, err := bench.Run(ctx, bench.Options{
		Workloads:       split(*workloads),
		Variants:        split(*variants),
		Rows:            *rows,
		Repeat:          *repeat,
		SteadyRate:      *rate,
		SteadyDuration:  *dur,
		SteadyRepeat:    *steadyRepeat,
		CPUProfileDir:   *profile,
		AllocProfileDir: *memProfile,
		Self:            self,
		Command:         "puma-bench " + strings.Join(args, " "),
		Progress:        stderr,
	})
	if err != nil {
		fmt.Fprintln(stderr, "puma-bench:", err)
		return 1
	}
	return output(rep, *out, *jsonOut, stdout, stderr)
}

// output prints the report and writes the files asked for.
func output(rep *bench.Report, out, jsonOut string, stdout, stderr io.Writer) int {
	rep.Markdown(stdout)
	if jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "puma-bench:", err)
			return 1
		}
		fmt.Fprintln(stderr, "puma-bench: wrote", jsonOut)
	}
	if out != "" {
		if err := rep.WriteFile(out); err != nil {
			fmt.Fprintln(stderr, "puma-bench:", err)
			return 1
		}
		fmt.Fprintln(stderr, "puma-bench: wrote", out)
	}
	return 0
}

func runChild(ctx context.Context, variant, specJSON string, stdout, stderr io.Writer) int {
	var spec bench.Spec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(stderr, "puma-bench: -spec:", err)
		return 2
	}
	spec.Variant = variant
	res, err := bench.RunChild(ctx, spec, os.Stdin, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "puma-bench: %s/%s: %v\n", spec.Workload, variant, err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintln(stderr, "puma-bench:", err)
		return 1
	}
	return 0
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func variantNames() string {
	var names []string
	for _, v := range bench.Variants() {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}
