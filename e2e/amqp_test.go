package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testrabbit"
)

// rabbitSink is a real consumer of the queue builtin:amqp publishes to:
// it declares the exchange and queue the sender's config declares (so
// nothing published before the sender's first call is lost), and keeps
// every message it receives, in order.
type rabbitSink struct {
	conn *amqp.Connection
	mu   sync.Mutex
	msgs []amqp.Delivery
	done chan struct{}
}

func newRabbitSink(t *testing.T, srv *testrabbit.Server) *rabbitSink {
	t.Helper()
	conn, err := amqp.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("cdc", "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("cdc-app", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("cdc-app", "app.#", "cdc", false, nil); err != nil {
		t.Fatal(err)
	}
	// Acknowledged once kept: what a consumer closed before it kept
	// goes back to the queue (a duplicate at worst, never a loss).
	ds, err := ch.Consume("cdc-app", "e2e", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &rabbitSink{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for d := range ds {
			s.mu.Lock()
			s.msgs = append(s.msgs, d)
			s.mu.Unlock()
			d.Ack(false)
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *rabbitSink) close() {
	s.conn.Close()
	<-s.done
}

func (s *rabbitSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// settle waits until no message arrived for quiet, and returns them all.
func (s *rabbitSink) settle(quiet time.Duration) []amqp.Delivery {
	time.Sleep(quiet)
	n := -1
	for n != s.len() {
		n = s.len()
		time.Sleep(quiet)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs
}

// checkMessages holds each message to its envelope: the message ID is
// the change's idempotency key, the headers its op, db, table, so a
// duplicate is one with the same ID and the same change. It writes the
// bodies, one per line, to path for applyStream.
func checkMessages(t *testing.T, msgs []amqp.Delivery, path string) {
	t.Helper()
	var out []byte
	first := map[string]string{}
	dups := 0
	for i, d := range msgs {
		var e envelope
		if err := json.Unmarshal(d.Body, &e); err != nil {
			t.Fatalf("message %d: %v: %s", i, err, d.Body)
		}
		if want := e.Tx.ID + ":" + strconv.Itoa(e.Tx.Seq); d.MessageId != want {
			t.Fatalf("message %d: id %q, want %q: %s", i, d.MessageId, want, d.Body)
		}
		if d.Headers["op"] != e.Op || d.Headers["db"] != e.DB || d.Headers["table"] != e.Table || d.RoutingKey != e.DB+"."+e.Table ||
			d.ContentType != "application/json" || d.DeliveryMode != amqp.Persistent {
			t.Fatalf("message %d: headers %v, routing key %q, content type %q, mode %d for %s", i, d.Headers, d.RoutingKey, d.ContentType, d.DeliveryMode, d.Body)
		}
		body := processingTime.ReplaceAllString(string(d.Body), "")
		if prev, ok := first[d.MessageId]; ok {
			dups++
			if prev != body {
				t.Fatalf("message %d: id %s again with another change:\n%s\n%s", i, d.MessageId, prev, body)
			}
		} else {
			first[d.MessageId] = body
		}
		out = append(append(out, d.Body...), '\n')
	}
	t.Logf("%d messages, %d of them duplicates of an earlier one", len(msgs), dups)
	writeFile(t, path, string(out))
}

func rabbitConfig(admin, db string, port int) string {
	return fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[secrets]
rabbit_pw_env = "PUMA_E2E_RABBIT_PASSWORD"
[targets.rabbit]
kind = "amqp"
url = "amqp://127.0.0.1:%d/"
user = "guest"
password_secret = "rabbit_pw"
publish_timeout = "5s"
heartbeat = "2s"
[[task]]
name = "app"
replica_server_id = 7003
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "20ms"
backoff_max = "1s"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.*"], ops = ["c", "u", "d"] }
  [[task.sender]]
  plugin = "builtin:amqp"
  config = { target = "rabbit", exchange = "cdc", declare = { exchange_type = "topic", queue = "cdc-app", binding_key = "app.#" } }
`, admin, port, db)
}

func newAppDB(t *testing.T) (*testdb.Server, *writer) {
	t.Helper()
	srv := testdb.Start(t, testdb.Options{})
	createWorkload(t, srv)
	seed := workloadSeed(t)
	w := newWriter(t, srv, rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)))
	return srv, w
}

// checkDelivered replays the messages like a consumer de-duplicating by
// message ID, and compares the result with the source's tables.
func checkDelivered(t *testing.T, srv *testdb.Server, w *writer, msgs []amqp.Delivery, dir string) {
	t.Helper()
	out := filepath.Join(dir, "messages.jsonl")
	checkMessages(t, msgs, out)
	model := applyStream(t, out, w.gtids)
	checkModel(t, srv, model, "the consumer")
}

// Killed three times mid-stream, Puma publishes every committed change to
// RabbitMQ at least once: the consumer sees each transaction's first
// occurrence in commit order, duplicates only as the same change under
// the same message ID, and ends with the source's rows.
func TestAMQPKillNine(t *testing.T) {
	target := 3000
	srv, w := newAppDB(t)
	rabbit := testrabbit.Start(t, testrabbit.Options{})
	sink := newRabbitSink(t, rabbit)
	t.Setenv("PUMA_E2E_RABBIT_PASSWORD", "guest")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, rabbitConfig("", srv.Addr(), rabbit.Port()))

	p := startPuma(t, cfgPath, logPath)
	kills := []int{target / 4, target / 2, 3 * target / 4}
	last := 0
	deadline := time.Now().Add(3 * time.Minute)
	for w.rows < target || len(kills) > 0 {
		if time.Now().After(deadline) {
			break
		}
		w.transaction(t)
		if w.rows >= target {
			// Past the target, write slowly until the kills are done: a
			// loaded machine may take seconds to start puma.
			time.Sleep(50 * time.Millisecond)
		}
		// Kill only a puma that has published since it started.
		if len(kills) > 0 && w.rows >= kills[0] && sink.len() > last {
			kills = kills[1:]
			p.kill(t)
			last = sink.len()
			p = startPuma(t, cfgPath, logPath)
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma published nothing after a restart", len(kills))
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	checkDelivered(t, srv, w, sink.settle(time.Second), dir)
}

// The broker stopped for 20 s under a writing workload: the task keeps
// streaming and retries its sender (the amqp plugin's error counter
// grows), and once the broker is back Puma reconnects and catches up,
// losing nothing.
func TestAMQPBrokerOutage(t *testing.T) {
	srv, w := newAppDB(t)
	rabbit := testrabbit.Start(t, testrabbit.Options{})
	sink := newRabbitSink(t, rabbit)
	t.Setenv("PUMA_E2E_RABBIT_PASSWORD", "guest")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfgPath := filepath.Join(dir, "puma.toml")
	writeFile(t, cfgPath, rabbitConfig(admin, srv.Addr(), rabbit.Port()))
	p := startPuma(t, cfgPath, logPath)

	for w.rows < 500 {
		w.transaction(t)
	}
	deadline := time.Now().Add(60 * time.Second)
	for sink.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if sink.len() == 0 {
		t.Fatal("nothing published before the outage")
	}
	sink.close()
	before := sink.msgs
	if err := rabbit.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	errorsBefore := pluginErrors(admin, "amqp")
	for time.Since(down) < 20*time.Second {
		w.transaction(t)
		time.Sleep(100 * time.Millisecond)
	}
	// The task shows it retries its sender, past max_failures.
	if st := taskStatusOf(admin).State; st != "retrying" {
		t.Errorf("with the broker down the task is %q, want retrying", st)
	}
	if n := pluginErrors(admin, "amqp"); n <= errorsBefore+5 {
		t.Errorf("amqp errors went from %v to %v during a 20 s outage: not retrying", errorsBefore, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := rabbit.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sink = newRabbitSink(t, rabbit)
	for range 50 {
		w.transaction(t)
	}
	final := srv.GTIDBinlogPos(t)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	// The consumer before the outage took what it had; the queue, durable,
	// kept the rest through the restart. Both together are the stream.
	checkDelivered(t, srv, w, append(before, sink.settle(time.Second)...), dir)
}
