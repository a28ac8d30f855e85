package amqp_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/amqp"
	"github.com/pumacdc/puma/sdk/sdktest"
)

// published records what reaches the capability, one slice per call.
type published struct {
	calls    [][]wire.AMQPMessage
	targets  []string
	declared []wire.AMQPDeclare
	fail     error
}

func (p *published) install(t *testing.T) {
	sdktest.AMQP(func(q *wire.AMQPPublish) error {
		if p.fail != nil {
			return p.fail
		}
		var msgs []wire.AMQPMessage
		for _, m := range q.Messages {
			m.Body = append([]byte{}, m.Body...)
			msgs = append(msgs, m)
		}
		p.calls, p.targets = append(p.calls, msgs), append(p.targets, q.Target)
		return nil
	}, func(d *wire.AMQPDeclare) error {
		p.declared = append(p.declared, *d)
		return p.fail
	})
	t.Cleanup(func() { sdktest.AMQP(nil, nil) })
}

func TestPublisher(t *testing.T) {
	var rec published
	rec.install(t)
	p := &amqp.Publisher{Target: "rabbit"}
	if err := p.Publish(); err != nil || len(rec.calls) != 0 {
		t.Fatalf("an empty Publish called the host: %v %d", err, len(rec.calls))
	}
	m := amqp.Message{Exchange: "cdc", RoutingKey: "shop.orders", MessageID: "0-1-1:1", ContentType: "application/json",
		Header: []amqp.Header{{Name: "op", Value: "c"}}, Body: []byte(`{"id":1}`)}
	if err := p.Add(&m); err != nil {
		t.Fatal(err)
	}
	m.Body[0] = 'X' // Add copied it
	if err := p.Add(&amqp.Message{RoutingKey: "q", Transient: true}); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d", p.Len())
	}
	if err := p.Publish(); err != nil {
		t.Fatal(err)
	}
	want := []wire.AMQPMessage{
		{Exchange: "cdc", RoutingKey: "shop.orders", MessageID: "0-1-1:1", ContentType: "application/json", Header: []wire.AMQPHeader{{Name: "op", Value: "c"}}, Body: []byte(`{"id":1}`)},
		{RoutingKey: "q", Flags: wire.AMQPTransient, Body: []byte{}},
	}
	if len(rec.calls) != 1 || !reflect.DeepEqual(rec.calls[0], want) || rec.targets[0] != "rabbit" || p.Len() != 0 {
		t.Fatalf("published %+v to %v, want %+v", rec.calls, rec.targets, want)
	}
}

// Add publishes what it holds before a message that would exceed a
// publish's limits, so a sender never meets them.
func TestPublisherSplits(t *testing.T) {
	var rec published
	rec.install(t)
	p := &amqp.Publisher{Target: "rabbit"}
	n := amqp.MaxMessages*2 + 5
	for i := range n {
		if err := p.Add(&amqp.Message{RoutingKey: "q", MessageID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Publish(); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 3 || len(rec.calls[0]) != amqp.MaxMessages || len(rec.calls[2]) != 5 {
		t.Fatalf("%d calls", len(rec.calls))
	}
	i := 0
	for _, c := range rec.calls {
		for _, m := range c {
			if m.MessageID != fmt.Sprint(i) {
				t.Fatalf("message %d has id %s: order lost", i, m.MessageID)
			}
			i++
		}
	}

	big := make([]byte, amqp.MaxBytes/3)
	rec.calls = nil
	for range 4 {
		if err := p.Add(&amqp.Message{RoutingKey: "q", Body: big}); err != nil {
			t.Fatal(err)
		}
	}
	p.Publish()
	if len(rec.calls) != 2 || len(rec.calls[0]) != 2 {
		t.Fatalf("4 messages of a third of the limit went in %d calls", len(rec.calls))
	}
	if err := p.Add(&amqp.Message{Body: make([]byte, amqp.MaxBytes)}); !errors.Is(err, amqp.ErrLimit) {
		t.Errorf("a message over the limit: %v, want ErrLimit", err)
	}
}

func TestPublisherErrors(t *testing.T) {
	var rec published
	rec.install(t)
	rec.fail = errors.New("broker down")
	p := &amqp.Publisher{Target: "rabbit"}
	p.Add(&amqp.Message{RoutingKey: "q"})
	err := p.Publish()
	if !errors.Is(err, amqp.ErrRemote) || p.Len() != 0 {
		t.Errorf("Publish: %v (len %d), want ErrRemote and the batch forgotten", err, p.Len())
	}
	if err := amqp.Declare("rabbit", amqp.Declaration{Exchange: "cdc", Kind: "topic", Queue: "all", BindingKey: "#"}); !errors.Is(err, amqp.ErrRemote) {
		t.Errorf("Declare: %v", err)
	}
	if want := (wire.AMQPDeclare{Target: "rabbit", Exchange: "cdc", Kind: "topic", Queue: "all", BindingKey: "#"}); len(rec.declared) != 1 || rec.declared[0] != want {
		t.Errorf("declared %+v", rec.declared)
	}
	sdktest.AMQP(nil, nil)
	p.Add(&amqp.Message{RoutingKey: "q"})
	if err := p.Publish(); !errors.Is(err, amqp.ErrDenied) {
		t.Errorf("without a broker: %v, want ErrDenied", err)
	}
}
