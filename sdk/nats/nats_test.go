package nats_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/pumacdc/puma/sdk/nats"
)

func TestFakePublish(t *testing.T) {
	nats.ResetFakes()
	defer nats.ResetFakes()
	if _, err := nats.Publish("events", []nats.Msg{{Subject: "a.b"}}, nats.Options{}); !errors.Is(err, nats.ErrDenied) {
		t.Fatalf("publish to a target the test never made: %v, want ErrDenied", err)
	}
	f := nats.Fake("events")
	if err := nats.EnsureStream("events", nats.Stream{Name: "S", Subjects: []string{"puma.*.*", "pos.>"}}); err != nil {
		t.Fatal(err)
	}
	// More messages than one host call takes: Publish splits them.
	msgs := make([]nats.Msg, nats.MaxCallMessages+5)
	for i := range msgs {
		msgs[i] = nats.Msg{Subject: "puma.shop.t", MsgID: strconv.Itoa(i), Data: []byte(strconv.Itoa(i))}
	}
	msgs = append(msgs, nats.Msg{Subject: "elsewhere.x"}, nats.Msg{Subject: "puma.shop.t", MsgID: "3"})
	acks, err := nats.Publish("events", msgs, nats.Options{Stream: "S"})
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != len(msgs) {
		t.Fatalf("%d acks for %d messages", len(acks), len(msgs))
	}
	n := len(msgs)
	if !errors.Is(acks[n-2].Err, nats.ErrRemote) || nats.FirstError(acks) != acks[n-2].Err {
		t.Errorf("a subject no stream stores: %v, want ErrRemote", acks[n-2].Err)
	}
	if !acks[n-1].Duplicate || acks[n-1].Seq != 4 || acks[n-1].Err != nil {
		t.Errorf("a repeated msg id: %+v, want a duplicate of sequence 4", acks[n-1])
	}
	if got := len(f.Messages("S")); got != nats.MaxCallMessages+5 {
		t.Errorf("stream holds %d messages", got)
	}
	if _, err := nats.Last("events", "S", "pos.x"); !errors.Is(err, nats.ErrNotFound) {
		t.Errorf("last of an empty subject: %v, want ErrNotFound", err)
	}
	nats.Publish("events", []nats.Msg{{Subject: "pos.x", Data: []byte("1")}, {Subject: "pos.x", Data: []byte("2")}}, nats.Options{})
	if m, err := nats.Last("events", "", "pos.x"); err != nil || string(m.Data) != "2" {
		t.Errorf("last = %+v, %v; want the second", m, err)
	}
	f.SetDown(true)
	acks, _ = nats.Publish("events", []nats.Msg{{Subject: "pos.x"}}, nats.Options{})
	if !errors.Is(nats.FirstError(acks), nats.ErrRemote) {
		t.Errorf("server down: %v, want ErrRemote", nats.FirstError(acks))
	}
}
