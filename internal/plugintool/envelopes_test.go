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
			for i := range b.Changes {
				out = append(out, string(engine.AppendEnvelope(nil, &b.Changes[i])))
			}
		}
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
			if !strings.HasPrefix(l, `{"begin"`) && !strings.HasPrefix(l, `{"commit"`) {
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
		if !strings.HasPrefix(l, `{"begin"`) && !strings.HasPrefix(l, `{"commit"`) {
			plain = append(plain, l)
		}
	}
	bs, err := ReadBatches(strings.NewReader(strings.Join(plain, "\n")), 0)
	if err != nil || len(bs) != 3 || bs[0].Commit == nil || bs[0].Commit.Pos != 640 || !bs[0].Begin {
		t.Fatalf("%v %+v", err, bs)
	}
	for _, tc := range []struct{ in, err string }{
		{"{", "line 1"},
		{`{"op":"c","db":"a","table":"b","after":{"x":1}}`, "no tx.id"},
		{`{"commit":{"id":"x"}}`, "did not begin"},
		{`{"op":"z","db":"a","table":"b","tx":{"id":"t","seq":1}}`, `op "z"`},
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
	f.Add([]byte(`{"op":"u","db":"a","table":"b","before":{"x":1e400},"after":{"x":-1},"tx":{"id":"t","seq":1}}`))
	f.Add([]byte(typedOrders))
	f.Add([]byte(typedOrders[:len(typedOrders)/3]))
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := ReadBatches(bytes.NewReader(b), 2)
		if err != nil {
			return
		}
		for _, b := range bs {
			for i := range b.Changes {
				engine.AppendEnvelope(nil, &b.Changes[i])
			}
		}
	})
}

// A change's part (rows a handler emitted from one change) survives the
// round trip.
func TestReadBatchesParts(t *testing.T) {
	in := `{"op":"c","db":"shop","table":"t","before":null,"after":{"id":1,"s":"a"},"key":{"id":1},"ts_ms":1000,"source":{"server_id":1,"file":"b.1","pos":9},"tx":{"id":"x","seq":1,"part":1}}
{"op":"c","db":"shop","table":"t","before":null,"after":{"id":1,"s":"b"},"key":{"id":1},"ts_ms":1000,"source":{"server_id":1,"file":"b.1","pos":9},"tx":{"id":"x","seq":1,"part":2}}`
	bs, err := ReadBatches(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		for i := range b.Changes {
			out = append(out, string(engine.AppendEnvelope(nil, &b.Changes[i])))
		}
	}
	if got := strings.Join(out, "\n"); got != in {
		t.Errorf("round trip:\n got %s\nwant %s", got, in)
	}
}
