package sdk

import (
	"bytes"
	"sync"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
)

// dropper drops the rows whose id is a multiple of n, counting the rows
// it saw in its own state.
func dropper(n int64, seen *int) Plugin {
	return Plugin{Handler: func(r *Row) Verdict {
		*seen++
		if r.After().At(0).Int()%n == 0 {
			return Drop()
		}
		return Keep()
	}}
}

// Instances keep their own state and functions: run at once, each
// replies as it does alone, and neither touches the module's own
// registration.
func TestInstance(t *testing.T) {
	var e wire.Encoder
	e.StartInit(wire.Version, wire.RoleHandler, "t", "p", []byte("{}"))
	initMsg := append([]byte(nil), e.Message()...)
	batch := testBatch(t, true)

	var moduleSeen int
	defer func(fn Plugin) { state.fn = fn }(state.fn)
	state.fn = dropper(1000, &moduleSeen)
	alone := map[int64][]byte{}
	for _, n := range []int64{2, 3} {
		var seen int
		in := NewInstance(dropper(n, &seen))
		if rep := in.Init(initMsg); len(rep) != 0 {
			t.Fatalf("init: %q", rep)
		}
		alone[n] = bytes.Clone(in.Handle(batch))
		if seen != 256 {
			t.Errorf("instance %d saw %d rows, want 256", n, seen)
		}
	}
	if bytes.Equal(alone[2], alone[3]) {
		t.Fatal("two handlers dropping different rows gave the same reply: the test cannot tell them apart")
	}
	var wg sync.WaitGroup
	for _, n := range []int64{2, 3} {
		wg.Go(func() {
			var seen int
			in := NewInstance(dropper(n, &seen))
			in.Init(initMsg)
			for range 50 {
				if rep := in.Handle(batch); !bytes.Equal(rep, alone[n]) {
					t.Errorf("instance %d replied otherwise beside another", n)
					return
				}
			}
		})
	}
	wg.Wait()
	if moduleSeen != 0 {
		t.Errorf("the module's registered handler saw %d rows of the instances'", moduleSeen)
	}
}
