package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

func TestPosOrder(t *testing.T) {
	for _, tc := range []struct {
		p, q string
		want bool
	}{
		{"mysql-bin.000001:100", "mysql-bin.000001:100", true},
		{"mysql-bin.000001:101", "mysql-bin.000001:100", true},
		{"mysql-bin.000001:99", "mysql-bin.000001:100", false},
		{"mysql-bin.000002:4", "mysql-bin.000001:900000", true},
		{"mysql-bin.000001:900000", "mysql-bin.000002:4", false},
	} {
		p, err := ParsePos(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePos(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.AtOrAfter(q); got != tc.want {
			t.Errorf("%s.AtOrAfter(%s) = %v, want %v", p, q, got, tc.want)
		}
		if p.String() != tc.p {
			t.Errorf("String() = %q, want %q", p.String(), tc.p)
		}
	}
	for _, bad := range []string{"", "file", "file:", ":4", "file:x", "file:-1"} {
		if _, err := ParsePos(bad); err == nil {
			t.Errorf("ParsePos(%q) succeeded", bad)
		}
	}
}

func TestProbeEnd(t *testing.T) {
	stopped := 0
	end := Pos{File: "b.000001", Pos: 500}
	t.Run("known end, two consumers", func(t *testing.T) {
		p := NewProbe(2, &end, false, func() { stopped++ })
		if p.reached(0, Pos{"b.000001", 600}) {
			t.Fatal("done with one of two consumers at the end")
		}
		if !p.reached(1, Pos{"b.000001", 500}) {
			t.Fatal("not done with both at the end")
		}
		<-p.Done()
		p.reached(1, Pos{"b.000001", 700})
		if stopped != 1 {
			t.Fatalf("stop called %d times, want 1", stopped)
		}
	})
	t.Run("end learnt after it was reached", func(t *testing.T) {
		p := NewProbe(1, nil, false, nil)
		if p.reached(0, Pos{"b.000001", 500}) {
			t.Fatal("done without an end")
		}
		p.SetEnd(end)
		select {
		case <-p.Done():
		default:
			t.Fatal("SetEnd did not notice the end was already reached")
		}
	})
}

// A snapshot's batches commit at its point with progress attached: the
// probe must not take the first of them for the end of the run.
func TestProbeSnapshotEnd(t *testing.T) {
	at := position.Position{File: "b.000001", Pos: 500}
	p := NewProbe(1, &Pos{File: "b.000001", Pos: 500}, false, nil)
	s := &probeSender{p: p, inner: nullSender{}, tsCol: map[*engine.Table]int{}}
	chunk := at
	chunk.Snapshot = &position.Snapshot{Table: "bench.narrow", Key: []string{"i:10"}}
	if err := s.Send(context.Background(), &engine.Batch{Changes: make([]engine.Change, 10), Commit: &chunk}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("done after a snapshot chunk")
	default:
	}
	if err := s.Send(context.Background(), &engine.Batch{Commit: &at}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("not done after the batch that ends the snapshot")
	}
	if p.Rows() != 10 {
		t.Fatalf("rows %d, want 10", p.Rows())
	}
}

func TestProbeLag(t *testing.T) {
	p := NewProbe(1, nil, true, nil)
	now := time.Date(2026, 11, 25, 10, 0, 1, 500_000_000, time.UTC)
	p.addLag("2026-11-25 10:00:01.250000", now)
	p.addLag("not a time", now)
	lags := p.Lags()
	if len(lags) != 1 || lags[0] != 250*time.Millisecond {
		t.Fatalf("lags = %v, want [250ms]", lags)
	}
}

func TestStatistics(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median empty = %v", got)
	}
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p50, p99 := percentile(d, 0.5), percentile(d, 0.99); p50 != 50 || p99 != 99 {
		t.Errorf("p50 %v p99 %v, want 50 99", p50, p99)
	}
	if got := percentile(d[:1], 0.99); got != 1 {
		t.Errorf("p99 of one = %v", got)
	}
	if got := thousands(1234567.4); got != "1\u202f234\u202f567" {
		t.Errorf("thousands = %q", got)
	}
}

func TestSplice(t *testing.T) {
	gen := []byte(BeginMarker + "\nnew\n" + EndMarker)
	doc := []byte("# Benchmarks\n\nintro\n\n" + BeginMarker + "\nold\n" + EndMarker + "\n\n## Where the time goes\nmine\n")
	got := string(Splice(doc, gen))
	if !strings.Contains(got, "intro") || !strings.Contains(got, "new") || strings.Contains(got, "old") || !strings.Contains(got, "mine") {
		t.Fatalf("Splice kept the wrong parts:\n%s", got)
	}
	if fresh := Splice(nil, gen); !bytes.Contains(fresh, gen) {
		t.Fatalf("Splice of nothing lacks the report:\n%s", fresh)
	}
}

func TestWorkloadsAndVariants(t *testing.T) {
	if n := strings.Count(wideDDL(), "\n\t"); n != wideColumnCount {
		t.Errorf("wide has %d columns, want %d", n, wideColumnCount)
	}
	if sel := wideSelect(1, 100); strings.Contains(sel, "%!") {
		t.Errorf("wide SELECT has a formatting error: %s", sel)
	}
	if sel := narrowSelect(1, 100); strings.Contains(sel, "%!") || !strings.Contains(sel, "bench.seq_1_to_100") {
		t.Errorf("narrow SELECT: %s", sel)
	}
	names := map[string]bool{}
	for _, v := range Variants() {
		if names[v.Name] || (v.Engine == nil) == (v.Raw == nil) {
			t.Errorf("variant %q: duplicate, or not exactly one of Engine and Raw", v.Name)
		}
		names[v.Name] = true
	}
	env := &Env{Addr: "127.0.0.1:3307", Start: Pos{"mysql-bin.000001", 4}, Table: "bench.narrow", Dir: t.TempDir(), ServerID: 50001,
		Workload: "narrow", SinkURL: "http://127.0.0.1:1/puma", TargetPort: 1, TargetDB: "bench_1",
		Broker: &BrokerEnv{Target: "kind = \"nats\"\nurl = \"nats://127.0.0.1:1\"\n", Config: `stream = "PUMA"`}}
	for _, v := range Variants() {
		if v.Engine == nil {
			continue
		}
		s, err := v.Engine(env)
		if err != nil {
			t.Errorf("variant %s: %v", v.Name, err)
			continue
		}
		if len(s.Task.Senders) == 0 || s.Task.Start.String() != "file:mysql-bin.000001:4" {
			t.Errorf("variant %s: task %+v", v.Name, s.Task)
		}
		if want := map[bool]string{true: "initial", false: "never"}[v.Snapshot]; s.Task.Snapshot != want {
			t.Errorf("variant %s: snapshot %q, want %q", v.Name, s.Task.Snapshot, want)
		}
		if s.Close != nil {
			if err := s.Close(); err != nil {
				t.Errorf("variant %s: close: %v", v.Name, err)
			}
		}
	}
}

func TestWorkloadPredicates(t *testing.T) {
	for _, w := range Workloads() {
		ddl := w.DDL
		if w.Keep == "" || w.MaskColumn == "" {
			t.Errorf("workload %s: Keep %q, MaskColumn %q", w.Name, w.Keep, w.MaskColumn)
			continue
		}
		col, _, _ := strings.Cut(w.Keep, " ")
		if !strings.Contains(ddl, "\t"+col+" ") {
			t.Errorf("workload %s: Keep %q names no column of %s", w.Name, w.Keep, ddl)
		}
		i := strings.Index(ddl, "\t"+w.MaskColumn+" ")
		if i < 0 {
			t.Errorf("workload %s: no column %s", w.Name, w.MaskColumn)
			continue
		}
		if typ := ddl[i+len(w.MaskColumn)+2:]; !strings.HasPrefix(typ, "VARCHAR") && !strings.HasPrefix(typ, "TEXT") {
			t.Errorf("workload %s: MaskColumn %s is not text: %.20s", w.Name, w.MaskColumn, typ)
		}
	}
}

func TestCheckRows(t *testing.T) {
	plain := Variant{Name: "plain"}
	filtered := Variant{Name: "filtered", Filtered: true, Sink: func(Workload, []byte) error { return nil }}
	target := Variant{Name: "target", Target: "postgres"}
	brokered := Variant{Name: "brokered", Broker: "nats"}
	n := func(x uint64) *uint64 { return &x }
	for _, tc := range []struct {
		v          Variant
		res        Result
		want, rows int
		ok         bool
	}{
		{plain, Result{Rows: 100}, 100, 100, true},
		{plain, Result{Rows: 99}, 100, 100, false},
		{filtered, Result{Rows: 90, SinkRows: n(90)}, 90, 100, true},
		{filtered, Result{Rows: 100, SinkRows: n(100)}, 90, 100, false},
		{filtered, Result{Rows: 90, SinkRows: n(89)}, 90, 100, false},
		{filtered, Result{Rows: 90}, 90, 100, false},
		{target, Result{Rows: 100, TargetRows: n(100)}, 100, 100, true},
		{target, Result{Rows: 100, TargetRows: n(99)}, 100, 100, false},
		{target, Result{Rows: 100}, 100, 100, false},
		{brokered, Result{Rows: 100, BrokerRows: n(100)}, 100, 100, true},
		{brokered, Result{Rows: 100, BrokerRows: n(101)}, 100, 100, false},
		{brokered, Result{Rows: 100, BrokerRows: n(99)}, 100, 100, false},
		{brokered, Result{Rows: 100}, 100, 100, false},
	} {
		if err := checkRows(tc.v, tc.res, tc.want, tc.rows); (err == nil) != tc.ok {
			t.Errorf("checkRows(%s, %+v, %d, %d) = %v", tc.v.Name, tc.res, tc.want, tc.rows, err)
		}
	}
	// Rates are per row of the range, whatever the variant delivered.
	r := Result{Rows: 90, SourceRows: 100, Seconds: 2, UserCPU: 1}
	if got := rowsPerSecond([]Result{r}); got[0] != 50 {
		t.Errorf("rows/s %v, want 50", got)
	}
	if got := cpuPerMillion(r); got != 1e4 {
		t.Errorf("CPU s / M rows %v, want 1e4", got)
	}
	if got := rowsPerSecond([]Result{{Rows: 90, Seconds: 2}}); got[0] != 45 {
		t.Errorf("rows/s without SourceRows %v, want 45", got)
	}
}

func TestHTTPSink(t *testing.T) {
	s, err := newHTTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	post := func(method, key, body string) int {
		req, err := http.NewRequest(method, s.URL(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range []struct{ key, body string }{
		{"tx1:1-2", "{\"a\":1}\n{\"a\":2}\n"},
		{"tx1:1-2", "{\"a\":1}\n{\"a\":2}\n"}, // sent again
		{"tx2:3-3", "{\"a\":3}\n"},
	} {
		if code := post("POST", r.key, r.body); code != http.StatusNoContent {
			t.Fatalf("POST answered %d", code)
		}
	}
	c := s.counts()
	if c.Rows != 3 || c.Requests != 3 || c.Resent != 1 || string(c.First) != "{\"a\":1}\n{\"a\":2}\n" || c.Err != nil {
		t.Fatalf("counts %+v", c)
	}
	if code := post("GET", "", ""); code/100 == 2 {
		t.Fatalf("GET answered %d", code)
	}
	if s.counts().Err == nil {
		t.Fatal("a GET is not an error")
	}
}

func TestCheckMasked(t *testing.T) {
	w, _ := WorkloadByName("narrow")
	hash := strings.Repeat("ab", 32)
	good := `{"op":"c","after":{"id":1,"email":"` + hash + `"}}` + "\n" + `{"op":"c","after":{"id":2,"email":"` + hash + `"}}` + "\n"
	if err := checkMasked(w, []byte(good)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{
		"",
		`{"op":"c","after":{"id":1,"email":"user1@example.com"}}` + "\n",
		`{"op":"c","after":{"id":1,"email":null}}` + "\n",
		`{"op":"c","after":{"id":1,"email":"` + hash[:62] + `"}}` + "\n",
		"not json\n",
	} {
		if err := checkMasked(w, []byte(bad)); err == nil {
			t.Errorf("checkMasked accepted %q", bad)
		}
	}
}

// The filter-mask-jsonl-http variant's plugins, built as a run builds
// them, on one batch of ten rows: the filter drops the one its workload's
// Keep predicate does not hold for, the mask hashes the rest's MaskColumn,
// and both senders accept them, the HTTP one posting to a sink.
func TestFilterMaskChain(t *testing.T) {
	if testing.Short() {
		t.Skip("instantiates four Wasm modules")
	}
	v, _ := VariantByName("filter-mask-jsonl-http")
	if !v.Filtered || v.Sink == nil {
		t.Fatal("filter-mask-jsonl-http neither filters nor posts")
	}
	for _, tc := range []struct {
		workload string
		table    *engine.Table
		row      func(i int) []any
	}{
		{"narrow", &engine.Table{DB: DB, Name: "narrow", Key: []int{0}, KeyKind: engine.KeyPrimary, Columns: []engine.Column{
			{Name: "id", Kind: engine.KindUint, Unsigned: true},
			{Name: "account", Kind: engine.KindInt},
			{Name: "email", Kind: engine.KindString, Nullable: true, Charset: "utf8mb4"},
		}}, func(i int) []any {
			var email any = fmt.Sprintf("user%010d@example.com", i)
			if i%10 == 0 {
				email = nil
			}
			return []any{uint64(i), int64(i), email}
		}},
		{"wide", &engine.Table{DB: DB, Name: "wide", Key: []int{0}, KeyKind: engine.KeyPrimary, Columns: []engine.Column{
			{Name: "id", Kind: engine.KindUint, Unsigned: true},
			{Name: "c02", Kind: engine.KindString, Nullable: true, Charset: "utf8mb4"},
			{Name: "c08", Kind: engine.KindInt, Nullable: true},
		}}, func(i int) []any {
			return []any{uint64(i), fmt.Sprintf("value-2-%d", i), int64((i + 8) % 100)}
		}},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			sink, err := newHTTPSink()
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			env := &Env{Addr: "127.0.0.1:3307", Start: Pos{"mysql-bin.000001", 4}, Table: DB + "." + tc.table.Name, Dir: t.TempDir(),
				ServerID: 50001, Workload: tc.workload, SinkURL: sink.URL()}
			s, err := v.Engine(env)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.Task.Handlers) != 2 || len(s.Task.Senders) != 2 {
				t.Fatalf("%d handlers, %d senders, want 2 and 2", len(s.Task.Handlers), len(s.Task.Senders))
			}
			ctx := context.Background()
			tx := &engine.Tx{ID: "0-1-1", GTID: "0-1-1", ServerID: 1, File: "mysql-bin.000001", Pos: 4}
			b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Commit: &position.Position{File: "mysql-bin.000001", Pos: 2000}, CommitTime: 1}
			for i := 1; i <= 10; i++ {
				b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: tc.table, After: tc.row(i), Seq: uint32(i), Tx: tx, File: "mysql-bin.000001", Pos: uint32(100 * i)})
			}
			for _, p := range s.Task.Handlers {
				h, err := s.Deps.NewHandler(ctx, s.Task, p)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				if b, err = h.Handle(ctx, b); err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
			}
			if len(b.Changes) != 9 {
				t.Fatalf("%d rows passed the filter, want 9", len(b.Changes))
			}
			for _, p := range s.Task.Senders {
				snd, err := s.Deps.NewSender(ctx, s.Task, p)
				if err != nil {
					t.Fatal(err)
				}
				defer snd.Close()
				if err := snd.Send(ctx, b); err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
			}
			c := sink.counts()
			if c.Rows != 9 || c.Requests != 1 || c.Err != nil {
				t.Fatalf("sink counts %+v", c)
			}
			w, _ := WorkloadByName(tc.workload)
			if err := v.Sink(w, c.First); err != nil {
				t.Fatal(err)
			}
			if out, err := os.ReadFile(filepath.Join(env.Dir, "out", "bench.jsonl")); err != nil || bytes.Count(out, []byte{'\n'}) != 9 {
				t.Fatalf("jsonl wrote %d lines (%v)", bytes.Count(out, []byte{'\n'}), err)
			}
			if s.WasmTime() <= 0 {
				t.Error("no time inside the plugins")
			}
		})
	}
}

// TestRoundTripProxy counts the turns of a request-response exchange:
// a request sent in several writes is one round trip, and so is a
// pipelined batch of requests answered together.
func TestRoundTripProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Answer each line with "ok\n", after reading all that came.
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			n := 1 + strings.Count(line, ";")
			for r.Buffered() > 0 {
				more, _ := r.ReadString('\n')
				n += 1 + strings.Count(more, ";")
			}
			c.Write([]byte(strings.Repeat("ok\n", n)))
		}
	}()
	p, err := newRoundTripProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	turn := func(writes []string, answers int) {
		t.Helper()
		for _, w := range writes {
			if _, err := c.Write([]byte(w)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // separate reads at the proxy
		}
		for range answers {
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
	}
	turn([]string{"a\n"}, 1)
	turn([]string{"b", "c", "d\n"}, 1)
	turn([]string{"e;f;g\n"}, 3)
	if got := p.RoundTrips(); got != 3 {
		t.Errorf("round trips %d, want 3", got)
	}
}

// positioned is a sender that keeps its own position, or says it does
// not.
type positioned struct {
	nullSender
	keeps bool
}

func (positioned) SendGroup(context.Context, []*engine.Batch) error { return nil }
func (p positioned) Positioned() bool                               { return p.keeps }

// TestWrappersPassPositioned: the probe and the Wasm timer wrap every
// sender; an exactly-once sender must still look like one to the
// pipeline, or it would get transactions split across calls.
func TestWrappersPassPositioned(t *testing.T) {
	for _, inner := range []engine.Sender{positioned{keeps: true}, positioned{}, nullSender{}} {
		want := false
		if p, ok := inner.(positioned); ok {
			want = p.keeps
		}
		for _, s := range []engine.Sender{&probeSender{inner: inner}, timedSender{Sender: inner}} {
			ps, ok := s.(engine.PositionedSender)
			if !ok || ps.Positioned() != want {
				t.Errorf("%T around %T: PositionedSender %v, Positioned() = %v, want %v", s, inner, ok, ok && ps.Positioned(), want)
			}
		}
	}
}
