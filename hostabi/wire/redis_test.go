package wire

import (
	"reflect"
	"strings"
	"testing"
)

func sampleRedisBatch() *RedisBatch {
	return &RedisBatch{Atomic: true, Target: "cache", TimeoutMS: 1500, Commands: []RedisCommand{
		{Op: RedisXAdd, Key: "puma:shop:orders", MaxLen: 1000, Args: [][]byte{[]byte("op"), []byte("c"), []byte("value"), []byte(`{"id":1}`)}},
		{Op: RedisSet, Key: "puma:position:t:p", Args: [][]byte{[]byte(`{"gtid":"0-1-5"}`)}},
		{Op: RedisGet, Key: "puma:position:t:p"},
	}}
}

func TestRedisMessagesRoundTrip(t *testing.T) {
	q := sampleRedisBatch()
	got, err := ParseRedisBatch(AppendRedisBatch(nil, q))
	if err != nil || !reflect.DeepEqual(&got, q) {
		t.Fatalf("batch: %+v %v", got, err)
	}
	p := &RedisReply{Results: []RedisResult{{Value: []byte("1-0")}, {Value: []byte("OK")}, {Nil: true}}}
	gp, err := ParseRedisReply(AppendRedisReply(nil, p))
	if err != nil || !reflect.DeepEqual(&gp, p) {
		t.Fatalf("reply: %+v %v", gp, err)
	}
}

// The host refuses commands outside the narrow set, and shapes that do
// not fit their op, naming the command.
func TestRedisBatchRefusals(t *testing.T) {
	for _, tt := range []struct {
		c    RedisCommand
		want string
	}{
		{RedisCommand{Op: 4, Key: "k"}, "command 0 (op 4): unknown op (have: 1 XADD, 2 SET, 3 GET)"},
		{RedisCommand{Op: RedisXAdd, Key: "k", Args: [][]byte{[]byte("f")}}, "command 0 (XADD): want field, value pairs, got 1 args"},
		{RedisCommand{Op: RedisSet, Key: "k"}, "command 0 (SET): want one value, got 0 args"},
		{RedisCommand{Op: RedisGet, Key: "k", Args: [][]byte{[]byte("x")}}, "command 0 (GET): want no args, got 1"},
		{RedisCommand{Op: RedisSet, Key: "k", MaxLen: 5, Args: [][]byte{[]byte("v")}}, "command 0 (SET): only XADD trims (maxlen)"},
		{RedisCommand{Op: RedisGet}, "command 0 (GET): empty key"},
	} {
		_, err := ParseRedisBatch(AppendRedisBatch(nil, &RedisBatch{Target: "t", Commands: []RedisCommand{tt.c}}))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.c, err, tt.want)
		}
	}
	b := AppendRedisBatch(nil, &RedisBatch{Target: "t"})
	b[1] = 2
	if _, err := ParseRedisBatch(b); err == nil || !strings.Contains(err.Error(), "unknown flags 2") {
		t.Errorf("unknown flag: err = %v", err)
	}
	b = AppendRedisBatch(nil, &RedisBatch{Target: "t"})
	b[len(b)-4] = 0xff // a command count the message cannot hold
	if _, err := ParseRedisBatch(b); err == nil || !strings.Contains(err.Error(), "exceeds the message") {
		t.Errorf("huge count: err = %v", err)
	}
}

// The host decodes batch messages a guest wrote: they must never panic,
// and what decodes encodes back to the same bytes.
func FuzzRedisBatch(f *testing.F) {
	seeds(f, AppendRedisBatch(nil, sampleRedisBatch()), AppendRedisBatch(nil, &RedisBatch{Target: "x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseRedisBatch(b)
		if err != nil {
			return
		}
		again, err := ParseRedisBatch(AppendRedisBatch(nil, &q))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip: %+v\n%+v %v", q, again, err)
		}
	})
}

func FuzzRedisReply(f *testing.F) {
	seeds(f, AppendRedisReply(nil, &RedisReply{Results: []RedisResult{{Value: []byte("1-0")}, {Nil: true}}}))
	f.Fuzz(func(t *testing.T, b []byte) { ParseRedisReply(b) })
}
