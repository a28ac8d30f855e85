package kafka

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
)

func init() { sdk.Register(Plugin()) }

var orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt}, {Name: "note", Kind: sdk.KindString},
}}

func header(r wire.KafkaRecord, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<none>"
}

func TestKafkaEnvelopes(t *testing.T) {
	k := sdktest.Kafka("events")
	defer sdktest.Kafka()
	if err := sdktest.InitSender(`{"target":"events","tombstones":true,"key_change":"delete_create"}`); err != nil {
		t.Fatal(err)
	}
	if _, positioned := sdktest.Applied(); positioned {
		t.Error("a sender without exactly_once reported a position")
	}
	err := sdktest.Send(
		sdktest.Insert(orders, int64(1), "a"),
		sdktest.Update(orders, []any{int64(1), "a"}, []any{int64(1), "b"}),
		sdktest.Update(orders, []any{int64(1), "b"}, []any{int64(2), "b"}),
		sdktest.Delete(orders, int64(2), "b"),
	)
	if err != nil {
		t.Fatal(err)
	}
	recs := k.Records("puma.shop.orders")
	// By key: {"id":1} c, u, d + tombstone; {"id":2} c, d + tombstone.
	type got struct{ key, op, seq, value string }
	var byKey = map[string][]got{}
	for _, r := range recs {
		v := "null"
		if r.Value != nil {
			var env struct {
				Op string `json:"op"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				t.Fatalf("value %s: %v", r.Value, err)
			}
			v = env.Op
		}
		byKey[string(r.Key)] = append(byKey[string(r.Key)], got{string(r.Key), header(r, "op"), header(r, "tx.seq"), v})
		if header(r, "db") != "shop" || header(r, "table") != "orders" || header(r, "tx.id") != "0-1-1" || !strings.HasPrefix(header(r, "position"), "bin.000001:") {
			t.Errorf("headers %+v", r.Headers)
		}
	}
	want := map[string][]got{
		`{"id":1}`: {{`{"id":1}`, "c", "1", "c"}, {`{"id":1}`, "u", "2", "u"}, {`{"id":1}`, "d", "3", "d"}, {`{"id":1}`, "d", "3", "null"}},
		`{"id":2}`: {{`{"id":2}`, "c", "3", "c"}, {`{"id":2}`, "d", "4", "d"}, {`{"id":2}`, "d", "4", "null"}},
	}
	for key, w := range want {
		if g := byKey[key]; len(g) != len(w) {
			t.Errorf("key %s: %+v, want %+v", key, g, w)
		} else {
			for i := range w {
				if g[i] != w[i] {
					t.Errorf("key %s record %d: %+v, want %+v", key, i, g[i], w[i])
				}
			}
		}
	}
	if len(recs) != 7 {
		t.Errorf("%d records, want 7", len(recs))
	}
}

func TestKafkaRowFormatAndKeyColumn(t *testing.T) {
	k := sdktest.Kafka("events")
	defer sdktest.Kafka()
	if err := sdktest.InitSender(`{"target":"events","format":"row","key_column":"note","topic":"cdc-{table}"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(1), "x"), sdktest.Delete(orders, int64(1), "x")); err != nil {
		t.Fatal(err)
	}
	recs := k.Records("cdc-orders")
	if len(recs) != 2 {
		t.Fatalf("records %+v", recs)
	}
	if string(recs[0].Key) != `{"note":"x"}` || string(recs[0].Value) != `{"id":1,"note":"x"}` {
		t.Errorf("insert: key %s value %s", recs[0].Key, recs[0].Value)
	}
	if string(recs[1].Key) != `{"note":"x"}` || recs[1].Value != nil || header(recs[1], "op") != "d" {
		t.Errorf("delete: key %s value %q op %s, want a tombstone", recs[1].Key, recs[1].Value, header(recs[1], "op"))
	}
}

func TestKafkaExactlyOnce(t *testing.T) {
	k := sdktest.Kafka("events")
	defer sdktest.Kafka()
	cfg := `{"target":"events","exactly_once":true}`
	if err := sdktest.InitSender(cfg); err != nil {
		t.Fatal(err)
	}
	if tok, ok := sdktest.Applied(); !ok || tok != "" {
		t.Fatalf("first init reported %q %v, want an empty position", tok, ok)
	}
	err := sdktest.SendGroup(
		[]sdktest.Change{sdktest.Insert(orders, int64(1), "a")},
		[]sdktest.Change{sdktest.Insert(orders, int64(2), "b"), sdktest.Insert(orders, int64(3), "c")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if k.InTxn("events") {
		t.Error("the call left its transaction open")
	}
	if n := len(k.Records("puma.shop.orders")); n != 3 {
		t.Errorf("%d records, want 3", n)
	}
	pos := k.Records("puma.positions")
	if len(pos) != 1 || string(pos[0].Key) != "test/test" || !strings.Contains(string(pos[0].Value), `"pos":202`) {
		t.Fatalf("positions %+v", pos)
	}
	// A new instance reads the position back.
	if err := sdktest.InitSender(cfg); err != nil {
		t.Fatal(err)
	}
	if tok, _ := sdktest.Applied(); tok != string(pos[0].Value) {
		t.Errorf("init reported %q, want %q", tok, pos[0].Value)
	}

	// A record that fails aborts the whole call: neither its records nor
	// its position become visible.
	k.Fail = func(r *wire.KafkaRecord) string {
		if string(r.Key) == `{"id":5}` {
			return "NOT_ENOUGH_REPLICAS"
		}
		return ""
	}
	err = sdktest.SendGroup([]sdktest.Change{sdktest.Insert(orders, int64(4), "d"), sdktest.Insert(orders, int64(5), "e")})
	if err == nil || !strings.Contains(err.Error(), "NOT_ENOUGH_REPLICAS") || strings.Contains(err.Error(), "fatal") {
		t.Errorf("err = %v, want a retryable error naming the failure", err)
	}
	if n := len(k.Records("puma.shop.orders")); n != 3 {
		t.Errorf("%d records after the failed call, want still 3", n)
	}
	if n := len(k.Records("puma.positions")); n != 1 || k.InTxn("events") {
		t.Errorf("%d positions, transaction open %v", n, k.InTxn("events"))
	}
}

func TestKafkaConfig(t *testing.T) {
	sdktest.Kafka("events")
	defer sdktest.Kafka()
	for _, tt := range []struct{ cfg, want string }{
		{`{}`, "target is required"},
		{`{"target":"events","topic":"a b"}`, `topic "a b"`},
		{`{"target":"events","format":"avro"}`, `format "avro"`},
		{`{"target":"events","format":"row","tombstones":true}`, `need format = "envelope"`},
		{`{"target":"events","markers":true}`, "markers"},
		{`{"target":"events","positions_topic":"x/y"}`, `positions_topic "x/y"`},
		{`{"target":"events","colour":1}`, "colour"},
	} {
		err := sdktest.InitSender(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	// A target outside the grant is denied: fatal, as no retry helps.
	if err := sdktest.InitSender(`{"target":"other"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(1), "a")); err == nil || !strings.Contains(err.Error(), "not in the plugin's kafka grant") {
		t.Errorf("err = %v", err)
	}
}
