package redis_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk/redis"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func TestExecAgainstStore(t *testing.T) {
	defer sdktest.ResetRedis()
	st := sdktest.Redis("cache")
	b := redis.Batch{Target: "cache", Atomic: true}
	x := b.XAdd("s", 2, redis.Field{Name: "op", Value: []byte("c")})
	b.XAdd("s", 2, redis.Field{Name: "op", Value: []byte("u")})
	b.XAdd("s", 2, redis.Field{Name: "op", Value: []byte("d")})
	set := b.Set("pos", []byte("p1"))
	get := b.Get("missing")
	r, err := redis.Exec(&b)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := r.Value(x); !ok || string(id) != "1-0" {
		t.Errorf("XADD reply %q %v", id, ok)
	}
	if v, ok := r.Value(set); !ok || string(v) != "OK" {
		t.Errorf("SET reply %q %v", v, ok)
	}
	if _, ok := r.Value(get); ok {
		t.Error("GET of a missing key has a value")
	}
	if s := st.Streams["s"]; len(s) != 2 || s[1].Field("op") != "d" {
		t.Errorf("stream %+v, want the last 2 entries (maxlen 2)", s)
	}
	if st.Atomic != 1 {
		t.Errorf("%d atomic calls", st.Atomic)
	}
	v, ok, err := redis.Get("cache", "pos")
	if err != nil || !ok || string(v) != "p1" {
		t.Errorf("Get = %q %v %v", v, ok, err)
	}

	st.Down = true
	if _, _, err := redis.Get("cache", "pos"); !errors.Is(err, redis.ErrRemote) {
		t.Errorf("down: %v, want ErrRemote", err)
	}
	if _, _, err := redis.Get("other", "pos"); !errors.Is(err, redis.ErrDenied) || !strings.Contains(err.Error(), `redis: target "other" is not in the plugin's redis grant`) {
		t.Errorf("ungranted target: %v", err)
	}
}
