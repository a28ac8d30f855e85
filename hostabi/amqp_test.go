package hostabi_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testrabbit"
)

// amqpRows is a batch of n inserts into customers, whose emails are
// "<tx>-<i>@x".
func amqpRows(seq uint64, tx string, n int) *engine.Batch {
	t := &engine.Tx{ID: tx}
	b := &engine.Batch{Seq: seq, Tx: t, Begin: true, Commit: &position.Position{File: "bin.000001", Pos: uint32(1000 + seq)}}
	for i := 1; i <= n; i++ {
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: customers, Tx: t, Seq: uint32(i),
			After: []any{int64(i), fmt.Sprintf("%s-%d@x", tx, i), "live", "1"}})
	}
	return b
}

// The amqp capability against a private RabbitMQ node: declare, publish
// with confirms, the properties a consumer sees, unroutable messages and
// missing exchanges failing the call, grants, and a broker stopped and
// restarted.
func TestAMQPCapability(t *testing.T) {
	srv := testrabbit.Start(t, testrabbit.Options{})
	dir := t.TempDir()
	mod := filepath.Join(dir, "amqppub.wasm")
	if err := os.WriteFile(mod, hostabitest.BuildGo(t, "./hostabi/testdata/amqppub"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{
		Secrets: map[string]engine.Secret{"rabbit_pw": "guest"},
		Targets: map[string]engine.Target{
			"rabbit": {Kind: "amqp", Settings: map[string]any{"url": fmt.Sprintf("amqp://127.0.0.1:%d", srv.Port()), "password_secret": "rabbit_pw", "publish_timeout": "5s"}},
			"nobody": {Kind: "amqp", Settings: map[string]any{"url": "amqp://127.0.0.1:1/"}},
		},
	})
	sender := func(t *testing.T, cfg map[string]any, targets ...any) engine.Sender {
		t.Helper()
		if targets == nil {
			targets = []any{"rabbit"}
		}
		pc := plugin("amqppub", mod, cfg, map[string]any{"amqp": targets})
		// Longer than any publish timeout here: the host's own bounds
		// must end a call, not the plugin's.
		pc.Timeout = 30 * time.Second
		s, err := h.NewSender(context.Background(), "shop", pc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	conn, err := amqp.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, queue string) amqp.Delivery {
		t.Helper()
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok {
			t.Fatalf("get from %s: ok %v, %v", queue, ok, err)
		}
		return d
	}
	ctx := context.Background()
	cfg := map[string]any{"target": "rabbit", "exchange": "cdc", "routing_key": "shop.customers",
		"declare": map[string]any{"Exchange": "cdc", "Kind": "topic", "Queue": "all", "BindingKey": "shop.#"}}

	t.Run("publish", func(t *testing.T) {
		s := sender(t, cfg)
		if err := s.Send(ctx, amqpRows(1, "0-1-1", 3)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			d := get(t, "all")
			if string(d.Body) != fmt.Sprintf("0-1-1-%d@x", i) || d.MessageId != fmt.Sprintf("0-1-1:%d", i) ||
				d.DeliveryMode != amqp.Persistent || d.ContentType != "text/plain" || d.Headers["table"] != "shop.customers" ||
				d.Exchange != "cdc" || d.RoutingKey != "shop.customers" {
				t.Errorf("message %d: %+v", i, d)
			}
		}
		if q, err := ch.QueueDeclarePassive("all", true, false, false, false, nil); err != nil || q.Messages != 0 {
			t.Errorf("queue all: %+v %v, want it durable and drained", q, err)
		}
	})

	t.Run("unroutable", func(t *testing.T) {
		s := sender(t, map[string]any{"target": "rabbit", "exchange": "cdc", "routing_key": "other.t"})
		err := s.Send(ctx, amqpRows(2, "0-1-2", 2))
		if err == nil || !strings.Contains(err.Error(), "2 message(s) unroutable") || !strings.Contains(err.Error(), `routing key "other.t"`) {
			t.Fatalf("an unroutable publish: %v", err)
		}
		// The same client goes on.
		s2 := sender(t, cfg)
		if err := s2.Send(ctx, amqpRows(3, "0-1-3", 1)); err != nil {
			t.Fatal(err)
		}
		get(t, "all")
	})

	t.Run("no such exchange", func(t *testing.T) {
		s := sender(t, map[string]any{"target": "rabbit", "exchange": "missing", "routing_key": "x"})
		if err := s.Send(ctx, amqpRows(4, "0-1-4", 1)); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
			t.Fatalf("publish to a missing exchange: %v", err)
		}
	})

	t.Run("grants", func(t *testing.T) {
		s := sender(t, map[string]any{"target": "elsewhere", "routing_key": "all"})
		if err := s.Send(ctx, amqpRows(5, "0-1-5", 1)); err == nil || !strings.Contains(err.Error(), `target "elsewhere" is not granted`) {
			t.Errorf("an ungranted target: %v", err)
		}
		_, err := h.NewSender(ctx, "shop", plugin("amqppub", mod, cfg, nil))
		if err == nil || !strings.Contains(err.Error(), "amqp") {
			t.Errorf("a module importing amqp without the grant: %v", err)
		}
		s = sender(t, map[string]any{"target": "nobody", "routing_key": "all"}, "nobody")
		if err := s.Send(ctx, amqpRows(6, "0-1-6", 1)); err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:1") {
			t.Errorf("a target that does not answer: %v", err)
		}
	})

	// A broker that stops reading (a memory alarm blocks publishers)
	// holds no call beyond its timeout: the host closes the connection,
	// and the next call, once the alarm is gone, dials again.
	t.Run("blocked broker", func(t *testing.T) {
		short := maps.Clone(cfg)
		short["timeout"] = "1500ms"
		s := sender(t, short)
		if err := s.Send(ctx, amqpRows(10, "0-1-10", 1)); err != nil {
			t.Fatal(err)
		}
		get(t, "all")
		if _, err := srv.Ctl(ctx, "set_vm_memory_high_watermark", "0"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := s.Send(ctx, amqpRows(11, "0-1-11", 1))
		took := time.Since(start)
		if _, cerr := srv.Ctl(ctx, "set_vm_memory_high_watermark", "0.4"); cerr != nil {
			t.Fatal(cerr)
		}
		if err == nil || !strings.Contains(err.Error(), "no confirm within 1.5s") {
			t.Fatalf("publish to a blocked broker: %v", err)
		}
		if took > 10*time.Second {
			t.Errorf("the call took %s with a timeout of 1.5s", took)
		}
		if err := s.Send(ctx, amqpRows(12, "0-1-12", 1)); err != nil {
			t.Fatalf("after the alarm cleared: %v", err)
		}
		// The blocked message may or may not have reached the queue: at
		// least once.
		for {
			d := get(t, "all")
			if d.MessageId == "0-1-12:1" {
				break
			}
			if d.MessageId != "0-1-11:1" {
				t.Fatalf("got %s", d.MessageId)
			}
		}
	})

	t.Run("broker restarted", func(t *testing.T) {
		if _, err := ch.QueuePurge("all", false); err != nil {
			t.Fatal(err)
		}
		s := sender(t, cfg)
		if err := s.Send(ctx, amqpRows(7, "0-1-7", 1)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, amqpRows(8, "0-1-8", 1)); err == nil {
			t.Fatal("a publish to a stopped broker succeeded")
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := srv.Restart(rctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, amqpRows(9, "0-1-9", 1)); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
		conn, err := amqp.Dial(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch2, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		// The persistent message from before the stop survived it.
		for _, want := range []string{"0-1-7:1", "0-1-9:1"} {
			d, ok, err := ch2.Get("all", true)
			if err != nil || !ok || d.MessageId != want {
				t.Fatalf("after the restart got %q (ok %v, %v), want %s", d.MessageId, ok, err, want)
			}
		}
	})
}
