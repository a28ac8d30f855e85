package redis

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt}, {Name: "note", Kind: sdk.KindString},
}}

func TestRedisSenderEntries(t *testing.T) {
	defer sdktest.ResetRedis()
	st := sdktest.Redis("cache")
	if err := sdktest.InitSender(`{"target":"cache","stream":"cdc.{task}.{db}.{table}","maxlen":2}`); err != nil {
		t.Fatal(err)
	}
	if _, positioned := sdktest.Applied(); positioned {
		t.Error("positioned without exactly_once")
	}
	err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"), sdktest.Update(orders, []any{int64(1), "a"}, []any{int64(1), "b"}),
		sdktest.Delete(orders, int64(1), "b"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 1 || st.Atomic != 0 {
		t.Errorf("%d calls, %d atomic; want one pipelined call", st.Calls, st.Atomic)
	}
	es := st.Streams["cdc.test.shop.orders"]
	if len(es) != 2 {
		t.Fatalf("stream %v: want the last 2 entries (maxlen 2); have streams %v", es, st.Streams)
	}
	e := es[1]
	for f, want := range map[string]string{"op": "d", "db": "shop", "table": "orders", "key": `{"id":1}`,
		"position": "bin.000001:102", "id": "0-1-1:3:0"} {
		if got := e.Field(f); got != want {
			t.Errorf("field %s = %q, want %q", f, got, want)
		}
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(e.Field("value")), &env); err != nil || env["op"] != "d" || env["before"].(map[string]any)["note"] != "b" {
		t.Errorf("value %s: %v", e.Field("value"), err)
	}
	if got := strings.Join(fieldsOf(e), ","); got != "op,db,table,key,value,position,id" {
		t.Errorf("fields %s", got)
	}
}

func fieldsOf(e sdktest.RedisEntry) []string {
	var names []string
	for i := 0; i < len(e.Fields); i += 2 {
		names = append(names, e.Fields[i])
	}
	return names
}

func TestRedisSenderRowFormat(t *testing.T) {
	defer sdktest.ResetRedis()
	st := sdktest.Redis("cache")
	if err := sdktest.InitSender(`{"target":"cache","format":"row"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(7), "x\ny")); err != nil {
		t.Fatal(err)
	}
	if v := st.Streams["puma:shop:orders"][0].Field("value"); v != `{"id":7,"note":"x\ny"}` {
		t.Errorf("value %s", v)
	}
}

// TestRedisSenderExactlyOnce: every call is one MULTI/EXEC holding its
// entries and the position; Init reports what the position key holds.
func TestRedisSenderExactlyOnce(t *testing.T) {
	defer sdktest.ResetRedis()
	st := sdktest.Redis("cache")
	cfg := `{"target":"cache","exactly_once":true}`
	if err := sdktest.InitSender(cfg); err != nil {
		t.Fatal(err)
	}
	if tok, positioned := sdktest.Applied(); !positioned || tok != "" {
		t.Fatalf("Applied() = %q, %v; want an empty position reported", tok, positioned)
	}
	err := sdktest.SendGroup([]sdktest.Change{sdktest.Insert(orders, int64(1), "a")}, []sdktest.Change{sdktest.Insert(orders, int64(2), "b")})
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 2 || st.Atomic != 1 {
		t.Errorf("%d calls (Init's GET and one EXEC), %d atomic", st.Calls, st.Atomic)
	}
	pos := st.Strings["puma:position:test:test"]
	if len(st.Streams["puma:shop:orders"]) != 2 || !strings.Contains(pos, `"gtid_set":"0-1-1"`) {
		t.Errorf("entries %v, position %q", st.Streams, pos)
	}
	// A reply lost after Redis applied the call: the call fails, and the
	// next instance reports the position the call wrote.
	st.LoseReply = true
	if err := sdktest.Send(sdktest.Insert(orders, int64(3), "c")); err == nil {
		t.Fatal("a lost reply succeeded")
	}
	if err := sdktest.InitSender(cfg); err != nil {
		t.Fatal(err)
	}
	if tok, _ := sdktest.Applied(); tok != st.Strings["puma:position:test:test"] {
		t.Errorf("Init reported %q, the key holds %q", tok, st.Strings["puma:position:test:test"])
	}
	st.Down = true
	if err := sdktest.InitSender(cfg); err == nil || !strings.Contains(err.Error(), `read position key "puma:position:test:test": redis: target "cache": dial tcp`) {
		t.Errorf("Init with the server down: %v", err)
	}
}

func TestRedisSenderConfig(t *testing.T) {
	defer sdktest.ResetRedis()
	for cfg, want := range map[string]string{
		`{}`:                                          `config: target is required`,
		`{"target":"c","stream":"x:{schema}"}`:        `config: stream "x:{schema}": unknown placeholder {schema} (have: {db}, {table}, {task}, {plugin})`,
		`{"target":"c","stream":"x:{db"}`:             `unclosed {`,
		`{"target":"c","format":"avro"}`:              `config: format "avro": want "envelope" or "row"`,
		`{"target":"c","tombstones":true}`:            `config: tombstones: not for Redis streams`,
		`{"target":"c","markers":true}`:               `config: markers: not for Redis streams`,
		`{"target":"c","key_change":"delete_create"}`: `config: key_change "delete_create": not for Redis streams`,
		`{"target":"c","position_key":"p"}`:           `config: position_key is set without exactly_once = true`,
		`{"target":"c","timeout":"soon"}`:             `config: timeout "soon": want a positive duration`,
		`{"target":"c","maxlen":-1}`:                  `maxlen`,
		`{"target":"c","streams":"x"}`:                `streams`,
		`{"target":"c","exactly_once":true}`:          `redis: target "c" is not in the plugin's redis grant`,
	} {
		if err := sdktest.InitSender(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
