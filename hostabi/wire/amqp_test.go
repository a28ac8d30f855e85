package wire

import (
	"reflect"
	"strings"
	"testing"
)

func sampleAMQPPublish() *AMQPPublish {
	return &AMQPPublish{Target: "rabbit", TimeoutMS: 1500, Messages: []AMQPMessage{
		{Exchange: "cdc", RoutingKey: "shop.orders", MessageID: "0-1-7:1", ContentType: "application/json",
			Header: []AMQPHeader{{Name: "op", Value: "c"}, {Name: "db", Value: "shop"}}, Body: []byte(`{"op":"c"}`)},
		{RoutingKey: "q", Flags: AMQPTransient, Body: []byte{}},
	}}
}

// A message built one message at a time is the message AppendAMQPPublish
// writes, and both decode to what was encoded.
func TestAMQPMessagesRoundTrip(t *testing.T) {
	p := sampleAMQPPublish()
	whole := AppendAMQPPublish(nil, p)
	msg := StartAMQPPublish(nil, p.Target, p.TimeoutMS)
	for i := range p.Messages {
		msg = AppendAMQPMessage(msg, &p.Messages[i])
	}
	if string(msg) != string(whole) || AMQPCount(msg) != 2 {
		t.Fatalf("incremental encoding differs (count %d)", AMQPCount(msg))
	}
	got, err := ParseAMQPPublish(whole)
	if err != nil || !reflect.DeepEqual(&got, p) {
		t.Fatalf("publish: %+v %v", got, err)
	}
	d := &AMQPDeclare{Target: "rabbit", Exchange: "cdc", Kind: "topic", Queue: "orders", BindingKey: "shop.#"}
	gd, err := ParseAMQPDeclare(AppendAMQPDeclare(nil, d))
	if err != nil || gd != *d {
		t.Fatalf("declare: %+v %v", gd, err)
	}
}

func TestAMQPPublishRefuses(t *testing.T) {
	good := AppendAMQPPublish(nil, sampleAMQPPublish())
	for _, tt := range []struct {
		name string
		b    []byte
		want string
	}{
		{"version", append([]byte{2}, good[1:]...), "unknown message version 2"},
		{"truncated", good[:len(good)-1], "truncated body"},
		{"trailing", append(good[:len(good):len(good)], 0), "trailing bytes"},
		{"count beyond the bytes", func() []byte {
			b := StartAMQPPublish(nil, "t", 0)
			b[len(b)-1] = 0xff
			return b
		}(), "truncated exchange"},
	} {
		_, err := ParseAMQPPublish(tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	bad := sampleAMQPPublish()
	bad.Messages[0].Flags = 4
	if _, err := ParseAMQPPublish(AppendAMQPPublish(nil, bad)); err == nil || !strings.Contains(err.Error(), "unknown message flags 4") {
		t.Errorf("flags: %v", err)
	}
}

// The host decodes amqp messages a guest wrote: they must never panic,
// and what decodes encodes back to the same bytes.
func FuzzAMQPPublish(f *testing.F) {
	seeds(f, AppendAMQPPublish(nil, sampleAMQPPublish()), StartAMQPPublish(nil, "", 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseAMQPPublish(b)
		if err != nil {
			return
		}
		again, err := ParseAMQPPublish(AppendAMQPPublish(nil, &p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip: %+v\n%+v %v", p, again, err)
		}
	})
}

func FuzzAMQPDeclare(f *testing.F) {
	seeds(f, AppendAMQPDeclare(nil, &AMQPDeclare{Target: "r", Exchange: "x", Kind: "topic", Queue: "q", BindingKey: "#"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseAMQPDeclare(b)
		if err != nil {
			return
		}
		if again, err := ParseAMQPDeclare(AppendAMQPDeclare(nil, &d)); err != nil || again != d {
			t.Fatalf("round trip: %+v %+v %v", d, again, err)
		}
	})
}
