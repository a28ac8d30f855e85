package sdk_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// TestSendGroup: a group calls the sender once per batch, in order, and
// Flush once; a failing batch stops the sending and the flush, and the
// tables that the group's later batches announce are still remembered.
func TestSendGroup(t *testing.T) {
	people := &sdktest.Table{DB: "shop", Name: "people", Columns: []sdk.Column{{Name: "id", Kind: sdk.KindInt}}}
	pets := &sdktest.Table{DB: "shop", Name: "pets", Columns: []sdk.Column{{Name: "name", Kind: sdk.KindString}}}
	var sent []string
	flushes := 0
	failOn := ""
	sdk.Register(sdk.Plugin{
		Sender: func(b *sdk.Batch) error {
			for i := range b.Len() {
				r := b.Row(i)
				v := r.Table().Name + ":" + r.After().At(0).String()
				if v == failOn {
					return errors.New("refused " + v)
				}
				sent = append(sent, v)
			}
			return nil
		},
		Flush: func() error { flushes++; return nil },
	})
	if err := sdktest.InitSender("{}"); err != nil {
		t.Fatal(err)
	}

	failOn = "people:2"
	err := sdktest.SendGroup(
		[]sdktest.Change{sdktest.Insert(people, int64(1))},
		[]sdktest.Change{sdktest.Insert(people, int64(2))},
		[]sdktest.Change{sdktest.Insert(pets, "rex")}, // announces pets
	)
	if err == nil || flushes != 0 || !slices.Equal(sent, []string{"people:1"}) {
		t.Fatalf("failing group: err %v, flushes %d, sent %v; want an error, no flush, people:1 only", err, flushes, sent)
	}

	failOn, sent = "", nil
	if err := sdktest.SendGroup(
		[]sdktest.Change{sdktest.Insert(people, int64(2))},
		[]sdktest.Change{sdktest.Insert(pets, "rex")}, // pets is not announced again
	); err != nil {
		t.Fatal(err)
	}
	if flushes != 1 || !slices.Equal(sent, []string{"people:2", "pets:rex"}) {
		t.Fatalf("flushes %d, sent %v; want 1 flush after people:2, pets:rex", flushes, sent)
	}

	// A batch sent alone is flushed too.
	if err := sdktest.Send(sdktest.Insert(people, int64(3))); err != nil || flushes != 2 {
		t.Fatalf("Send: err %v, flushes %d; want nil, 2", err, flushes)
	}
}
