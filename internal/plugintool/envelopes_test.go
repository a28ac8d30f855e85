package plugintool

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
)

func fixture(tb testing.TB) []byte {
	b, err := os.ReadFile("../../examples/dropvalue/testdata/changes.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Reading envelopes and writing them again gives the same lines; batches
// follow the transactions, split by batchRows.
func TestReadBatches(t *testing.T) {
	in := fixture(t)
	for _, rows := range []int{0, 1, 2} {
		bs, err := ReadBatches(bytes.NewReader(in), rows)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		commits := 0
		for _, b := range bs {
			if b.Commit != nil {
				commits++
			}
			if rows > 0 && len(b.Changes) > rows {
				t.Errorf("batch of %d changes with batchRows %d", len(b.Changes), rows)
			}
		}
		out = render(bs, rows == 0)
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
			if rows == 0 || !strings.HasPrefix(l, `{"status"`) {
				want = append(want, l)
			}
		}
		if strings.Join(out, "\n") != strings.Join(want, "\n") {
			t.Errorf("batchRows %d: round trip differs:\n%s", rows, strings.Join(out, "\n"))
		}
		if commits != 3 {
			t.Errorf("batchRows %d: %d commits, want 3", rows, commits)
		}
	}
	// Without markers, transactions end where the next begins.
	var plain []string
	for _, l := range strings.Split(string(in), "\n") {
		if !strings.HasPrefix(l, `{"status"`) {
			plain = append(plain, l)
		}
	}
	bs, err := ReadBatches(strings.NewReader(strings.Join(plain, "\n")), 0)
	if err != nil || len(bs) != 3 || bs[0].Commit == nil || bs[0].Commit.Pos != 640 || !bs[0].Begin {
		t.Fatalf("%v %+v", err, bs)
	}
	for _, tc := range []struct{ in, err string }{
		{"{", "line 1"},
		{`{"op":"c","source":{"db":"a","table":"b"},"after":{"x":1}}`, "no puma.tx.id"},
		{`{"status":"END","id":"x"}`, "did not begin"},
		{`{"status":"COMMIT","id":"x"}`, `status "COMMIT"`},
		{`{"op":"z","source":{"db":"a","table":"b"},"puma":{"tx":{"id":"t","seq":1}}}`, `op "z"`},
	} {
		if _, err := ReadBatches(strings.NewReader(tc.in), 0); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
		}
	}
}

func FuzzReadBatches(f *testing.F) {
	// One transaction per seed: with the whole fixture as a seed, Go's
	// fuzzer stalls between inputs (each input takes microseconds).
	lines := bytes.SplitAfter(fixture(f), []byte("\n"))
	f.Add(bytes.Join(lines[:5], nil))
	f.Add(bytes.Join(lines[5:8], nil))
	f.Add(bytes.Join(lines[9:12], nil))
	f.Add(lines[1][:len(lines[1])/2])
	f.Add([]byte(`{"op":"u","source":{"db":"a","table":"b"},"before":{"x":1e400},"after":{"x":-1},"puma":{"tx":{"id":"t","seq":1}}}`))
	f.Add([]byte(`{"schema":{"type":"struct"},"payload":{"op":"c","source":{"db":"a","table":"b"},"after":{"x":1},"puma":{"tx":{"id":"t","seq":1}}}}` + "\nnull\n"))
	f.Add([]byte(typedOrders))
	f.Add([]byte(typedOrders[:len(typedOrders)/3]))
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := ReadBatches(bytes.NewReader(b), 2)
		if err != nil {
			return
		}
		render(bs, true)
	})
}

// render writes bs as a JSON sender of task "test" would at RenderTime,
// with or without markers, a line per string.
func render(bs []*engine.Batch, markers bool) []string {
	e := engine.Envelopes{Name: "test"}
	var out []byte
	for _, b := range bs {
		if b.Tx == nil {
			continue
		}
		e.StartBatch(b, RenderTime)
		if b.Begin && markers {
			out = append(e.AppendBegin(out, b), '\n')
		}
		for i := range b.Changes {
			out = e.AppendChange(out, &b.Changes[i], '\n')
		}
		if b.Commit != nil && markers {
			out = append(e.AppendEnd(out, b), '\n')
		}
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// A change's part (rows a handler emitted from one change) survives the
// round trip.
func TestReadBatchesParts(t *testing.T) {
	in := `{"before":null,"after":{"id":1,"s":"a"},"source":{"version":"2.0","connector":"mysql","name":"test","ts_ms":1000,"snapshot":"false","db":"shop","table":"t","server_id":1,"gtid":null,"file":"b.1","pos":9,"row":0,"thread":null,"query":null},"transaction":{"id":"x","total_order":1,"data_collection_order":1},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"x","seq":1,"part":1},"key":{"id":1}}}
{"before":null,"after":{"id":1,"s":"b"},"source":{"version":"2.0","connector":"mysql","name":"test","ts_ms":1000,"snapshot":"false","db":"shop","table":"t","server_id":1,"gtid":null,"file":"b.1","pos":9,"row":1,"thread":null,"query":null},"transaction":{"id":"x","total_order":2,"data_collection_order":2},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,"puma":{"tx":{"id":"x","seq":1,"part":2},"key":{"id":1}}}`
	bs, err := ReadBatches(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(render(bs, false), "\n"); got != in {
		t.Errorf("round trip:\n got %s\nwant %s", got, in)
	}
}
