package wire

import (
	"reflect"
	"strings"
	"testing"
)

func sampleProduce() *KafkaProduce {
	return &KafkaProduce{Target: "events", TimeoutMS: 5000, Records: []KafkaRecord{
		{Topic: "puma.shop.orders", Key: []byte(`{"id":1}`), Value: []byte(`{"op":"c"}`),
			Headers: []KafkaHeader{{Key: "op", Value: []byte("c")}, {Key: "empty", Value: []byte{}}}},
		{Topic: "t", Key: nil, Value: nil, Partition: 3, HasPartition: true},
		{Topic: "t", Key: []byte{}, Value: []byte{}},
	}}
}

func TestKafkaMessagesRoundTrip(t *testing.T) {
	p := sampleProduce()
	got, err := ParseKafkaProduce(AppendKafkaProduce(nil, p), 10)
	if err != nil || !reflect.DeepEqual(&got, p) {
		t.Fatalf("produce:\n%+v\n%+v %v", got, p, err)
	}
	if _, err := ParseKafkaProduce(AppendKafkaProduce(nil, p), 2); err == nil || !strings.Contains(err.Error(), "3 records exceed 2") {
		t.Errorf("over the record limit: %v", err)
	}
	q := &KafkaLast{Target: "events", TimeoutMS: 1, Topic: "puma.positions", Key: []byte("task/sink")}
	gq, err := ParseKafkaLast(AppendKafkaLast(nil, q))
	if err != nil || !reflect.DeepEqual(&gq, q) {
		t.Fatalf("last: %+v %v", gq, err)
	}
	found := &KafkaRecord{Topic: "puma.positions", Key: []byte("k"), Value: []byte("v"), Partition: 2, Offset: 1 << 40}
	gf, err := ParseKafkaFound(AppendKafkaFound(nil, found))
	if err != nil || !reflect.DeepEqual(&gf, found) {
		t.Fatalf("found: %+v %v", gf, err)
	}
	res := KafkaProduceResult{{Partition: 1, Offset: 7}, {Errno: ErrnoRemote, Partition: -1, Offset: -1, Err: "NOT_ENOUGH_REPLICAS"}}
	gr, err := ParseKafkaProduceResult(AppendKafkaProduceResult(nil, res), 2)
	if err != nil || !reflect.DeepEqual(gr, res) {
		t.Fatalf("result: %+v %v", gr, err)
	}
	if _, err := ParseKafkaProduceResult(AppendKafkaProduceResult(nil, res), 3); err == nil {
		t.Error("a result for another number of records was accepted")
	}
	bad := AppendKafkaProduce(nil, p)
	bad[0] = 9
	if _, err := ParseKafkaProduce(bad, 10); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("unknown version: %v", err)
	}
}

// The host decodes kafka messages a guest wrote: they must never panic,
// and what decodes encodes back to the same message.
func FuzzKafkaProduce(f *testing.F) {
	seeds(f, AppendKafkaProduce(nil, sampleProduce()), AppendKafkaProduce(nil, &KafkaProduce{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseKafkaProduce(b, 1000)
		if err != nil {
			return
		}
		again, err := ParseKafkaProduce(AppendKafkaProduce(nil, &p), 1000)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip: %+v\n%+v %v", p, again, err)
		}
	})
}

func FuzzKafkaLast(f *testing.F) {
	seeds(f, AppendKafkaLast(nil, &KafkaLast{Target: "a", Topic: "b", Key: []byte("c")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseKafkaLast(b)
		if err != nil {
			return
		}
		again, err := ParseKafkaLast(AppendKafkaLast(nil, &q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip: %+v\n%+v %v", q, again, err)
		}
	})
}

func FuzzKafkaResults(f *testing.F) {
	seeds(f, AppendKafkaProduceResult(nil, KafkaProduceResult{{Err: "x"}}), AppendKafkaFound(nil, &KafkaRecord{Topic: "t"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKafkaProduceResult(b, 1)
		ParseKafkaFound(b)
	})
}
