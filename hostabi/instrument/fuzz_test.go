package instrument

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument: on any input Instrument either refuses with an *Error or
// returns a module; it never panics, it is deterministic, and when wazero
// accepts the input it accepts the output too. (An input that decodes but
// that wazero rejects, say for a type error, may give an output that
// wazero rejects as well: Instrument checks structure, not types.)
//
// Seeds: testdata/fuzz/FuzzInstrument holds the WAT, C and Rust guests
// (regenerate with go test -run TestFuzzCorpus -update), and each is also
// added truncated. CI runs the seeds only; fuzz with
//
//	go test -run '^$' -fuzz FuzzInstrument ./hostabi/instrument/
func FuzzInstrument(f *testing.F) {
	for _, name := range seedFiles(f) {
		b := readSeed(f, name)
		for _, n := range []int{8, 9, 11, len(b) / 3, len(b) / 2, len(b) - 1} {
			if n > 0 && n < len(b) {
				f.Add(b[:n])
			}
		}
	}
	m, _ := oneFunc(0x03, 0x40, 0x0c, 0x00, 0x0b) // loop br 0 end
	f.Add(m)
	f.Add(mod())
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Instrument(in, Options{SafepointInterval: 1000})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(in) {
				t.Fatalf("error %v (%T) is not an *Error within the input", err, err)
			}
			return
		}
		again, err := Instrument(in, Options{SafepointInterval: 1000})
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("not deterministic: %v", err)
		}
		if len(in) > 1<<20 {
			return // compiling takes long; the module tests cover big guests
		}
		errIn, errOut := fuzzCompile(in), fuzzCompile(out)
		if errIn == nil && errOut != nil {
			t.Fatalf("wazero accepts the input but not the output: %v", errOut)
		}
		if errIn == nil {
			if _, err := Instrument(out, Options{}); !errors.Is(err, ErrReserved) {
				t.Fatalf("instrumenting the output again: %v, want ErrReserved", err)
			}
		}
	})
}

var (
	fuzzRuntimeOnce sync.Once
	fuzzRuntime     wazero.Runtime
)

// fuzzCompile compiles wasm in a runtime without a cache (fuzzed inputs
// are all different), releasing the result. A panic in wazero (v1.12.0
// has some on invalid input) counts as a rejection.
func fuzzCompile(wasm []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	fuzzRuntimeOnce.Do(func() {
		fuzzRuntime = wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
	})
	cm, err := fuzzRuntime.CompileModule(context.Background(), wasm)
	if err != nil {
		return err
	}
	return cm.Close(context.Background())
}

const seedDir = "testdata/fuzz/FuzzInstrument"

func seedFiles(tb testing.TB) []string {
	entries, err := os.ReadDir(seedDir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// readSeed decodes a corpus file (go test fuzz v1, one []byte).
func readSeed(tb testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join(seedDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	_, lit, ok := strings.Cut(string(b), "\n[]byte(")
	if !ok || !strings.HasSuffix(lit, ")\n") {
		tb.Fatalf("%s: not a go test fuzz v1 []byte file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")\n"))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// TestFuzzCorpus notes when the committed seed corpus no longer holds
// the small guests as built now (another compiler version builds other
// bytes, which is no failure); with -update it rewrites the corpus.
// Custom sections are left out to keep the files small.
func TestFuzzCorpus(t *testing.T) {
	want := map[string][]byte{}
	for _, g := range guests {
		if g.name == "go" {
			continue // 2 MB: covered by the module tests
		}
		b := stripCustom(t, g.need(t))
		want[strings.ReplaceAll(g.name, "/", "-")] = b
	}
	if *update {
		if err := os.MkdirAll(seedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range want {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(seedDir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range want {
		if got := readSeed(t, name); !bytes.Equal(got, b) {
			t.Logf("%s/%s differs from the guest built here: go test -run TestFuzzCorpus -update refreshes it", seedDir, name)
		}
	}
}

// stripCustom returns wasm without its custom sections.
func stripCustom(t *testing.T, wasm []byte) []byte {
	m, err := parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), magic...)
	for _, s := range m.sections {
		if s.id == secCustom {
			continue
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.payload)))
		out = append(out, s.payload...)
	}
	return out
}
