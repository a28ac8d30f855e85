package amqp

import (
	"encoding/json"
	"errors"
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

// broker records what the sender publishes and declares.
type broker struct {
	calls    [][]wire.AMQPMessage
	timeouts []uint32
	declared []wire.AMQPDeclare
	fail     error
}

func newBroker(t *testing.T) *broker {
	b := &broker{}
	sdktest.AMQP(func(q *wire.AMQPPublish) error {
		if b.fail != nil {
			return b.fail
		}
		var msgs []wire.AMQPMessage
		for _, m := range q.Messages {
			if q.Target != "rabbit" {
				t.Errorf("published to target %q", q.Target)
			}
			m.Body = append([]byte{}, m.Body...)
			msgs = append(msgs, m)
		}
		b.calls, b.timeouts = append(b.calls, msgs), append(b.timeouts, q.TimeoutMS)
		return nil
	}, func(d *wire.AMQPDeclare) error {
		b.declared = append(b.declared, *d)
		return b.fail
	})
	t.Cleanup(func() { sdktest.AMQP(nil, nil) })
	return b
}

func (b *broker) messages() []wire.AMQPMessage {
	var all []wire.AMQPMessage
	for _, c := range b.calls {
		all = append(all, c...)
	}
	return all
}

func header(m wire.AMQPMessage) map[string]string {
	h := map[string]string{}
	for _, x := range m.Header {
		h[x.Name] = x.Value
	}
	return h
}

func TestEnvelopes(t *testing.T) {
	b := newBroker(t)
	if err := sdktest.InitSender(`{"target":"rabbit","exchange":"cdc","timeout":"3s","declare":{"exchange_type":"topic","queue":"all"}}`); err != nil {
		t.Fatal(err)
	}
	err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"),
		sdktest.Update(orders, []any{int64(1), "a"}, []any{int64(1), "b"}),
		sdktest.Delete(orders, int64(1), "b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.calls) != 1 || b.timeouts[0] != 3000 {
		t.Fatalf("%d publish calls (timeouts %v), want one of 3s for the batch", len(b.calls), b.timeouts)
	}
	for i, m := range b.messages() {
		op := []string{"c", "u", "d"}[i]
		var env struct {
			Op, Before, After any
			Transaction       struct{ ID string }
		}
		if err := json.Unmarshal(m.Body, &env); err != nil || env.Op != op || env.Transaction.ID != "0-1-1" {
			t.Errorf("message %d: body %s: %v", i, m.Body, err)
		}
		h := header(m)
		want := map[string]string{"op": op, "db": "shop", "table": "orders", "position": "bin.000001:" + []string{"100", "101", "102"}[i]}
		if m.Exchange != "cdc" || m.RoutingKey != "shop.orders" || m.MessageID != "0-1-1:"+[]string{"1", "2", "3"}[i] ||
			m.ContentType != "application/json" || m.Flags != 0 || len(h) != 4 || h["op"] != want["op"] || h["position"] != want["position"] || h["table"] != "orders" || h["db"] != "shop" {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	if want := (wire.AMQPDeclare{Target: "rabbit", Exchange: "cdc", Kind: "topic", Queue: "all", BindingKey: "#"}); len(b.declared) != 1 || b.declared[0] != want {
		t.Errorf("declared %+v, want %+v", b.declared, want)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(2), "c")); err != nil || len(b.declared) != 1 {
		t.Errorf("second batch: %v, %d declarations, want one per instance", err, len(b.declared))
	}
}

func TestRowsAndTemplate(t *testing.T) {
	b := newBroker(t)
	if err := sdktest.InitSender(`{"target":"rabbit","routing_key":"cdc.{op}.{table}","format":"row"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"), sdktest.Delete(orders, int64(1), "a")); err != nil {
		t.Fatal(err)
	}
	ms := b.messages()
	if len(ms) != 2 || ms[0].RoutingKey != "cdc.c.orders" || ms[1].RoutingKey != "cdc.d.orders" || ms[0].Exchange != "" {
		t.Fatalf("messages %+v", ms)
	}
	for i, m := range ms {
		if string(m.Body) != `{"id":1,"note":"a"}` {
			t.Errorf("message %d body %s, want the row", i, m.Body)
		}
	}
}

// An update of the key under key_change = "delete_create" is two
// envelopes, so two messages, each with an ID of its own.
func TestKeyChange(t *testing.T) {
	b := newBroker(t)
	if err := sdktest.InitSender(`{"target":"rabbit","key_change":"delete_create"}`); err != nil {
		t.Fatal(err)
	}
	if err := sdktest.Send(sdktest.Update(orders, []any{int64(1), "a"}, []any{int64(2), "a"}), sdktest.Insert(orders, int64(3), "x")); err != nil {
		t.Fatal(err)
	}
	ms := b.messages()
	if len(ms) != 3 {
		t.Fatalf("%d messages, want 3", len(ms))
	}
	for i, want := range []struct{ id, op string }{{"0-1-1:1:d", "d"}, {"0-1-1:1:c", "c"}, {"0-1-1:2", "c"}} {
		var env struct{ Op string }
		json.Unmarshal(ms[i].Body, &env)
		if ms[i].MessageID != want.id || header(ms[i])["op"] != want.op || env.Op != want.op {
			t.Errorf("message %d: id %s op %s body %s, want %+v", i, ms[i].MessageID, header(ms[i])["op"], ms[i].Body, want)
		}
	}
}

func TestErrors(t *testing.T) {
	b := newBroker(t)
	if err := sdktest.InitSender(`{"target":"rabbit"}`); err != nil {
		t.Fatal(err)
	}
	b.fail = errors.New("connection refused")
	err := sdktest.Send(sdktest.Insert(orders, int64(1), "a"))
	if err == nil || strings.HasPrefix(err.Error(), "fatal") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a broker failure: %v, want a retryable error", err)
	}
	b.fail = nil
	if err := sdktest.Send(sdktest.Insert(orders, int64(2), "b")); err != nil {
		t.Fatal(err)
	}
	if ms := b.messages(); len(ms) != 1 || ms[0].MessageID != "0-1-1:1" {
		t.Errorf("after a failure published %+v, want only the new batch", ms)
	}
	sdktest.AMQP(nil, nil)
	if err := sdktest.Send(sdktest.Insert(orders, int64(3), "c")); err == nil || !strings.HasPrefix(err.Error(), "fatal") {
		t.Errorf("an ungranted target: %v, want a fatal error", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`{"target":"rabbit","exactly_once":true}`, "exactly_once: builtin:amqp delivers at least once"},
		{`{}`, "target is required"},
		{`{"target":"rabbit","format":"avro"}`, `format "avro"`},
		{`{"target":"rabbit","routing_key":"{schema}.x"}`, "unknown placeholder {schema} (have: {db}, {table}, {op})"},
		{`{"target":"rabbit","routing_key":"{db"}`, "unclosed {"},
		{`{"target":"rabbit","markers":true}`, "markers:"},
		{`{"target":"rabbit","tombstones":true}`, "tombstones:"},
		{`{"target":"rabbit","declare":{"exchange_type":"topic"}}`, "the default exchange"},
		{`{"target":"rabbit","exchange":"x","declare":{"exchange_type":"fan"}}`, `exchange_type "fan"`},
		{`{"target":"rabbit","exchange":"x","declare":{}}`, "set exchange_type, queue or both"},
		{`{"target":"rabbit","timeout":"soon"}`, `timeout "soon"`},
		{`{"target":"rabbit","rouitng_key":"x"}`, `unknown field "rouitng_key"`},
	} {
		err := sdktest.InitSender(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
