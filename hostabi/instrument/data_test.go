package instrument

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tetratelabs/wazero"
)

// dataModule is a module with a 2-page memory exported as "mem" and the
// given data section payload, preceded by a data count section when
// dataCount >= 0.
func dataModule(data []byte, dataCount int) []byte {
	out := append([]byte(nil), magic...)
	section := func(id byte, payload []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	section(secMemory, []byte{1, 0x00, 2})
	section(secExport, append(appendName([]byte{1}, []byte("mem")), 0x02, 0))
	if dataCount >= 0 {
		section(secDataCount, appendU32(nil, uint32(dataCount)))
	}
	section(secData, data)
	return out
}

// activeData is a data section of active segments of memory 0.
func activeData(segs []dataSegment) []byte {
	out := appendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		out = append(out, 0x00, 0x41)
		out = appendS32(out, int32(s.off))
		out = append(out, 0x0b)
		out = appendU32(out, uint32(len(s.init)))
		out = append(out, s.init...)
	}
	return out
}

// segmentsOf returns the data segments of an instrumented module, or
// nil with false when they are not all active at constant offsets.
func segmentsOf(t *testing.T, wasm []byte) ([]dataSegment, bool) {
	t.Helper()
	m, err := parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if m.byID[secData] == nil {
		return nil, true
	}
	return m.dataSegments(m.byID[secData])
}

// memoryOf instantiates wasm and returns its memory, or the
// instantiation's error.
func memoryOf(t *testing.T, h *host, wasm []byte) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	cm, err := h.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := h.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	b, _ := mod.Memory().Read(0, mod.Memory().Size())
	return bytes.Clone(b), nil
}

// scattered is n disjoint segments of 1-40 bytes, gaps of 0-600 bytes
// between them, in random order.
func scattered(rng *rand.Rand, n int) []dataSegment {
	var segs []dataSegment
	off := uint32(rng.IntN(64))
	for range n {
		init := make([]byte, 1+rng.IntN(40))
		for i := range init {
			init[i] = byte(rng.IntN(256))
		}
		segs = append(segs, dataSegment{off: off, init: init})
		off += uint32(len(init)) + uint32(rng.IntN(601))
	}
	rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
	return segs
}

func TestCoalesceData(t *testing.T) {
	h := newHost(t, false)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		segs := scattered(rng, 300)
		orig := dataModule(activeData(segs), -1)
		inst, err := Instrument(orig, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := segmentsOf(t, inst)
		if !ok || len(got) >= len(segs) {
			t.Fatalf("round %d: %d segments became %d (all active: %v)", round, len(segs), len(got), ok)
		}
		for i := 1; i < len(got); i++ {
			if gap := got[i].off - (got[i-1].off + uint32(len(got[i-1].init))); gap <= maxDataGap {
				t.Fatalf("round %d: segments %d and %d are %d bytes apart and were not coalesced", round, i-1, i, gap)
			}
		}
		ma, errA := memoryOf(t, h, orig)
		mb, errB := memoryOf(t, h, inst)
		if errA != nil || errB != nil {
			t.Fatalf("round %d: instantiation: original %v, instrumented %v", round, errA, errB)
		}
		if !bytes.Equal(ma, mb) {
			t.Fatalf("round %d: initial memory differs", round)
		}
	}
}

// TestCoalesceDataLeaves checks the modules whose data section must stay
// as it is, and that a segment out of bounds still fails instantiation.
func TestCoalesceDataLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	segs := scattered(rng, 50)
	overlapping := append(segs[:len(segs):len(segs)], dataSegment{off: segs[0].off, init: []byte{1, 2, 3}})
	passive := append([]byte(nil), activeData(segs)...)
	passive[0]++ // one more segment, passive
	passive = append(passive, 0x01, 2, 7, 7)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"overlapping segments", dataModule(activeData(overlapping), -1)},
		{"a data count section", dataModule(activeData(segs), len(segs))},
		{"a passive segment", dataModule(passive, -1)},
		{"one segment", dataModule(activeData(segs[:1]), -1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := Instrument(tc.wasm, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mi, err := parse(inst)
			if err != nil {
				t.Fatal(err)
			}
			mo, _ := parse(tc.wasm)
			if !bytes.Equal(mi.byID[secData].payload, mo.byID[secData].payload) {
				t.Fatal("the data section was rewritten")
			}
		})
	}

	t.Run("out of bounds", func(t *testing.T) {
		h := newHost(t, false)
		oob := append(scattered(rng, 20), dataSegment{off: 2*65536 - 2, init: []byte{1, 2, 3}})
		orig := dataModule(activeData(oob), -1)
		inst, err := Instrument(orig, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := segmentsOf(t, inst); len(got) >= len(oob) {
			t.Fatalf("%d segments were not coalesced (%d)", len(oob), len(got))
		}
		_, errA := memoryOf(t, h, orig)
		_, errB := memoryOf(t, h, inst)
		if errA == nil || errB == nil {
			t.Fatalf("instantiation: original %v, instrumented %v; both should fail", errA, errB)
		}
	})

	t.Run("mostly gaps", func(t *testing.T) {
		// Each gap could be coalesced, but the section would grow ~40×.
		var sparse []dataSegment
		for i := range 2000 {
			sparse = append(sparse, dataSegment{off: uint32(i) * (maxDataGap + 1), init: []byte{byte(i)}})
		}
		inst, err := Instrument(dataModule(activeData(sparse), -1), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := segmentsOf(t, inst); len(got) != len(sparse) {
			t.Fatalf("one-byte segments %d bytes apart were coalesced: %d became %d", maxDataGap, len(sparse), len(got))
		}
	})
}

// TestCoalesceGoData checks a real Go module: tens of thousands of
// segments before, a handful after (TestEquivalent runs it).
func TestCoalesceGoData(t *testing.T) {
	orig := guestNamed("go").need(t)
	before, ok := segmentsOf(t, orig)
	if !ok {
		t.Fatal("the Go module's data segments are not all active at constant offsets")
	}
	inst, err := Instrument(orig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := segmentsOf(t, inst)
	t.Logf("%d data segments, %d coalesced; module %d bytes, instrumented %d", len(before), len(after), len(orig), len(inst))
	if len(after) > 64 || len(after)*10 > len(before) {
		t.Fatalf("%d data segments became %d", len(before), len(after))
	}
}
