package sdk

import (
	"errors"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
)

// TestPrepare: a handler's Prepare reads the whole batch (its tables
// announced in it too) before the Handler sees the same rows, in order;
// the Handler's verdicts are as without it; preparing allocates nothing
// once the batch's rows were read once; an error from Prepare fails the
// batch with its message.
func TestPrepare(t *testing.T) {
	defer Register(Plugin{})
	first, msg := testBatch(t, true), testBatch(t, false)
	var prepared, handled []int64
	var fail error
	handler := func(r *Row) Verdict {
		handled = append(handled, r.After().Int("id"))
		if r.After().Int("id")%2 == 1 {
			return Drop()
		}
		return Keep()
	}
	Register(Plugin{
		Prepare: func(b *Batch) error {
			prepared = prepared[:0]
			for i := range b.Len() {
				r := b.Row(i)
				if r.Index() != i || r.Table() == nil || r.Table().FullName() != "shop.c" {
					t.Fatalf("row %d: index %d, table %v", i, r.Index(), r.Table())
				}
				prepared = append(prepared, r.After().Int("id"))
			}
			return fail
		},
	})
	initHandler(t, handler)
	for _, m := range [][]byte{first, msg} {
		handled = handled[:0]
		rep, err := wire.ParseReply(state.handle(m))
		if err != nil || rep.Status != wire.StatusOK {
			t.Fatalf("reply %+v, %v", rep, err)
		}
		if len(prepared) != 256 || len(handled) != 256 {
			t.Fatalf("prepared %d rows, handled %d, want 256", len(prepared), len(handled))
		}
		for i := range handled {
			if prepared[i] != int64(i) || handled[i] != int64(i) {
				t.Fatalf("row %d: prepared id %d, handled id %d", i, prepared[i], handled[i])
			}
		}
		drops := 0
		for {
			tag, body, at, ok := rep.Records.Next()
			if !ok {
				break
			}
			v, err := wire.ParseVerdict(body, at)
			if err != nil || tag != wire.RecVerdict || v.Verdict != wire.VerdictDrop || v.Index%2 != 1 {
				t.Fatalf("record %d at %d: %+v, %v", tag, at, v, err)
			}
			drops++
		}
		if drops != 128 {
			t.Fatalf("%d drops, want 128", drops)
		}
	}
	if allocs := testing.AllocsPerRun(20, func() { handled = handled[:0]; state.handle(msg) }); allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
	fail = errors.New("no MACs today")
	handled = handled[:0]
	rep, err := wire.ParseReply(state.handle(msg))
	if err != nil || rep.Status != wire.StatusRetry || string(rep.Message) != "no MACs today" || len(handled) != 0 {
		t.Fatalf("reply %+v %q, %v; handled %d rows", rep, rep.Message, err, len(handled))
	}
}
