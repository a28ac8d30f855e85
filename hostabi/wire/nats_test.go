package wire

import (
	"reflect"
	"testing"
)

func samplePublish() *NATSPublish {
	return &NATSPublish{Target: "events", Stream: "PUMA", TimeoutMS: 2500, Msgs: []NATSMsg{
		{Subject: "puma.shop.customers", MsgID: "0-1-5:1:0", Header: []NATSHeader{{Name: "Puma-Op", Value: "c"}, {Name: "Puma-Op", Value: "again"}}, Data: []byte(`{"op":"c"}`)},
		{Subject: "puma.position.t.nats", Data: []byte{}},
	}}
}

func TestNATSMessagesRoundTrip(t *testing.T) {
	p := samplePublish()
	got, err := ParseNATSPublish(AppendNATSPublish(nil, p))
	if err != nil || !reflect.DeepEqual(&got, p) {
		t.Fatalf("publish: %+v %v", got, err)
	}
	acks := []NATSAck{{Stream: "PUMA", Seq: 7, Duplicate: true}, {Errno: ErrnoRemote, Error: "timeout"}}
	ga, err := ParseNATSAcks(AppendNATSAcks(nil, acks))
	if err != nil || !reflect.DeepEqual(ga, acks) {
		t.Fatalf("acks: %+v %v", ga, err)
	}
	l := &NATSLast{Target: "events", Stream: "PUMA", Subject: "a.b", TimeoutMS: 9}
	gl, err := ParseNATSLast(AppendNATSLast(nil, l))
	if err != nil || gl != *l {
		t.Fatalf("last: %+v %v", gl, err)
	}
	m := &NATSStored{Seq: 3, TimeNS: -1, Subject: "a.b", Header: []NATSHeader{{Name: "X", Value: "y"}}, Data: []byte("tok")}
	gm, err := ParseNATSStored(AppendNATSStored(nil, m))
	if err != nil || !reflect.DeepEqual(&gm, m) {
		t.Fatalf("stored: %+v %v", gm, err)
	}
	s := &NATSStream{Target: "events", Name: "PUMA", Subjects: []string{"puma.*.*", "puma.position.t.n"}, DuplicatesMS: 600000, TimeoutMS: 1}
	gs, err := ParseNATSStream(AppendNATSStream(nil, s))
	if err != nil || !reflect.DeepEqual(&gs, s) {
		t.Fatalf("stream: %+v %v", gs, err)
	}
	if _, err := ParseNATSPublish(append(AppendNATSPublish(nil, p), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	bad := AppendNATSPublish(nil, &NATSPublish{})
	bad[len(bad)-4] = 0xff // a message count the message cannot hold
	if _, err := ParseNATSPublish(bad); err == nil {
		t.Error("a message count beyond the message accepted")
	}
}

// The host decodes the requests a guest wrote, the guest the host's
// results: never a panic, and what decodes encodes back the same.
func FuzzNATSPublish(f *testing.F) {
	seeds(f, AppendNATSPublish(nil, samplePublish()), AppendNATSPublish(nil, &NATSPublish{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseNATSPublish(b)
		if err != nil {
			return
		}
		again, err := ParseNATSPublish(AppendNATSPublish(nil, &p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip: %+v\n%+v %v", p, again, err)
		}
	})
}

func FuzzNATSRequests(f *testing.F) {
	seeds(f, AppendNATSLast(nil, &NATSLast{Target: "t", Subject: "a"}),
		AppendNATSStream(nil, &NATSStream{Target: "t", Name: "S", Subjects: []string{"a.>"}}),
		AppendNATSAcks(nil, []NATSAck{{Seq: 1}}),
		AppendNATSStored(nil, &NATSStored{Subject: "a", Data: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseNATSLast(b)
		ParseNATSStream(b)
		ParseNATSAcks(b)
		ParseNATSStored(b)
	})
}
