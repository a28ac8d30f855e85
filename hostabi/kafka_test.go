package hostabi_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testkafka"
)

// kafkaEnv runs the kafkaer test sender against a Kafka cluster.
type kafkaEnv struct {
	t       *testing.T
	dir     string
	cluster *testkafka.Cluster
	seeds   []string
	topic   string // a topic of 3 partitions made for the test
	adm     *kadm.Client
}

var kafkaTopics atomic.Int32

func newKafkaEnv(t *testing.T) *kafkaEnv {
	t.Helper()
	kc := testkafka.Start(t, testkafka.Options{Brokers: 1})
	e := &kafkaEnv{t: t, dir: t.TempDir(), cluster: kc, seeds: kc.Seeds()}
	if err := os.WriteFile(filepath.Join(e.dir, "kafkaer.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/kafkaer"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.adm = kadm.NewClient(cl)
	e.topic = e.newTopic(3)
	return e
}

func (e *kafkaEnv) newTopic(partitions int32) string {
	e.t.Helper()
	return e.cluster.Topic(e.t, fmt.Sprintf("t%d", kafkaTopics.Add(1)), partitions)
}

// host returns a host whose [targets] has the cluster as "events" (with
// settings merged in) and "other".
func (e *kafkaEnv) host(settings map[string]any) *hostabi.Host {
	s := map[string]any{"kind": "kafka", "brokers": toAny(e.seeds), "request_timeout": "10s"}
	for k, v := range settings {
		s[k] = v
	}
	kind := s["kind"].(string)
	delete(s, "kind")
	return hostabitest.NewHost(e.t, e.dir, hostabi.Options{
		Builtin: builtins(e.t),
		Targets: map[string]engine.Target{
			"events": {Kind: kind, Settings: s},
			"other":  {Kind: "kafka", Settings: map[string]any{"brokers": toAny(e.seeds)}},
		},
		Secrets: map[string]engine.Secret{"kpw": "x"},
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// run makes a kafkaer sender named name on h and sends it one batch,
// which runs ops.
func (e *kafkaEnv) run(h *hostabi.Host, name string, grants map[string]any, ops ...map[string]any) error {
	e.t.Helper()
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	s, err := h.NewSender(context.Background(), "t", plugin(name, filepath.Join(e.dir, "kafkaer.wasm"),
		map[string]any{"target": "events", "ops": list}, grants))
	if err != nil {
		return err
	}
	defer s.Close()
	err = s.Send(context.Background(), &engine.Batch{Seq: 1, Tx: &engine.Tx{ID: "0-1-1"}, Begin: true})
	if err != nil && strings.Contains(err.Error(), "without sending its commit") {
		// The client lost a commit (see hostabi/kafka.go txnVersions) and
		// said so: the engine sends the batch again, and so does the test.
		e.t.Logf("sent again after: %v", err)
		err = s.Send(context.Background(), &engine.Batch{Seq: 1, Tx: &engine.Tx{ID: "0-1-1"}, Begin: true})
	}
	return err
}

var kafkaGrant = map[string]any{"kafka": []any{"events"}}

// read returns every record of topic that read_committed consumers see.
func (e *kafkaEnv) read(topic string) []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := e.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: still waiting for %v", topic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

func produce(topic, key, value string) map[string]any {
	return map[string]any{"op": "produce", "topic": topic, "key": key, "value": value}
}

func TestKafkaProduceByKey(t *testing.T) {
	e := newKafkaEnv(t)
	h := e.host(map[string]any{"compression": "zstd"})
	ops := []map[string]any{}
	for i := range 6 {
		ops = append(ops, map[string]any{"op": "produce", "topic": e.topic, "key": "k", "count": 4,
			"value": fmt.Sprint(i), "headers": map[string]any{"op": "c", "n": fmt.Sprint(i)}})
	}
	zero := 0
	ops = append(ops, map[string]any{"op": "produce", "topic": e.topic, "value": "to-2", "partition": 2},
		map[string]any{"op": "produce", "topic": e.topic, "key": "gone"}, // a tombstone
		map[string]any{"op": "produce", "topic": e.topic, "value": "bad", "partition": 7, "fail": "remote"},
		map[string]any{"op": "produce", "topic": e.topic, "key": "x", "value": "y", "partition": zero})
	if err := e.run(h, "kafkaer", kafkaGrant, ops...); err != nil {
		t.Fatal(err)
	}
	recs := e.read(e.topic)
	if len(recs) != 6*4+3 {
		t.Fatalf("%d records, want %d", len(recs), 6*4+3)
	}
	part := map[string]int32{}
	last := map[string]string{}
	for _, r := range recs {
		key := string(r.Key)
		switch {
		case r.Key == nil:
			if string(r.Value) != "to-2" || r.Partition != 2 {
				t.Errorf("record without a key: %q in partition %d, want to-2 in 2", r.Value, r.Partition)
			}
			continue
		case key == "gone":
			if r.Value != nil {
				t.Errorf("tombstone has value %q", r.Value)
			}
			continue
		case key == "x":
			if r.Partition != 0 {
				t.Errorf("record sent to partition 0 is in %d", r.Partition)
			}
			continue
		}
		if p, ok := part[key]; ok && p != r.Partition {
			t.Errorf("key %s in partitions %d and %d", key, p, r.Partition)
		}
		part[key] = r.Partition
		if last[key] >= string(r.Value) {
			t.Errorf("key %s: value %s after %s", key, r.Value, last[key])
		}
		last[key] = string(r.Value)
		if len(r.Headers) != 2 || r.Headers[0].Key != "op" && r.Headers[1].Key != "op" {
			t.Errorf("headers %+v", r.Headers)
		}
	}
	if len(part) != 4 {
		t.Errorf("keys %v", part)
	}
}

func TestKafkaTransactions(t *testing.T) {
	e := newKafkaEnv(t)
	h := e.host(nil)
	err := e.run(h, "kafkaer", kafkaGrant,
		map[string]any{"op": "begin"}, produce(e.topic, "a", "committed-1"), produce(e.topic, "b", "committed-2"), map[string]any{"op": "commit"},
		map[string]any{"op": "begin"}, produce(e.topic, "a", "aborted"), map[string]any{"op": "abort"},
		map[string]any{"op": "commit", "fail": "invalid"},
		map[string]any{"op": "begin"}, map[string]any{"op": "begin", "fail": "invalid"}, map[string]any{"op": "abort"},
		// A failed record dooms its transaction: the commit aborts it.
		map[string]any{"op": "begin"}, produce(e.topic, "a", "doomed"),
		map[string]any{"op": "produce", "topic": e.topic, "value": "bad", "partition": 9, "fail": "remote"},
		map[string]any{"op": "commit", "fail": "invalid"},
		map[string]any{"op": "last", "topic": e.topic, "key": "a", "expect": "committed-1"},
		map[string]any{"op": "last", "topic": e.topic, "key": "zzz", "expect_none": true},
	)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, r := range e.read(e.topic) {
		vals = append(vals, string(r.Value))
	}
	if strings.Join(vals, ",") != "committed-1,committed-2" && strings.Join(vals, ",") != "committed-2,committed-1" {
		t.Errorf("read_committed sees %v, want the committed records only", vals)
	}
}

// A process killed mid-transaction leaves it open; the next producer with
// the same transactional.id (same task and plugin) aborts it, so its
// records never become visible.
func TestKafkaFencing(t *testing.T) {
	e := newKafkaEnv(t)
	first := e.host(nil)
	if err := e.run(first, "sink", kafkaGrant, map[string]any{"op": "begin"}, produce(e.topic, "k", "left-open")); err != nil {
		t.Fatal(err)
	}
	// first is never closed while second runs: as if its process had died.
	second := e.host(nil)
	err := e.run(second, "sink", kafkaGrant,
		map[string]any{"op": "begin"}, produce(e.topic, "k", "after"), map[string]any{"op": "commit"},
		map[string]any{"op": "last", "topic": e.topic, "key": "k", "expect": "after"})
	if err != nil {
		t.Fatal(err)
	}
	recs := e.read(e.topic)
	if len(recs) != 1 || string(recs[0].Value) != "after" {
		var vals []string
		for _, r := range recs {
			vals = append(vals, string(r.Value))
		}
		t.Errorf("read_committed sees %v, want [after]", vals)
	}
}

// last finds a key's latest value beyond the first window it reads back.
func TestKafkaLastScansBack(t *testing.T) {
	e := newKafkaEnv(t)
	topic := e.newTopic(1)
	h := e.host(nil)
	err := e.run(h, "kafkaer", kafkaGrant,
		produce(topic, "pos", "v1"),
		map[string]any{"op": "produce", "topic": topic, "key": "other", "value": "x", "count": 700},
		map[string]any{"op": "last", "topic": topic, "key": "pos", "expect": "v1"},
		map[string]any{"op": "last", "topic": "puma-no-such-topic", "key": "pos", "expect_none": true},
	)
	if err != nil {
		t.Fatal(err)
	}
}

func TestKafkaDenied(t *testing.T) {
	e := newKafkaEnv(t)
	h := e.host(nil)
	// A module importing kafka without the grant does not load.
	err := e.run(h, "kafkaer", nil)
	if err == nil || !strings.Contains(err.Error(), "kafka") {
		t.Errorf("without the grant: %v", err)
	}
	// A target outside the grant is denied.
	err = e.run(h, "kafkaer", map[string]any{"kafka": []any{"other"}}, map[string]any{"op": "produce", "topic": e.topic, "key": "k", "fail": "denied"})
	if err != nil {
		t.Error(err)
	}
	// A grant naming no such target does not load.
	if err := e.run(h, "kafkaer", map[string]any{"kafka": []any{"nope"}}); err == nil || !strings.Contains(err.Error(), `grants.kafka[0]: no target "nope"`) {
		t.Errorf("unknown target: %v", err)
	}
}

// A broker that does not answer fails the records once request_timeout
// has passed, as retryable errors, instead of hanging the call.
func TestKafkaUnreachable(t *testing.T) {
	e := newKafkaEnv(t)
	h := e.host(map[string]any{"brokers": []any{closedKafkaAddr(t)}, "request_timeout": "1s"})
	start := time.Now()
	err := e.run(h, "kafkaer", kafkaGrant, map[string]any{"op": "produce", "topic": e.topic, "key": "k", "value": "v", "fail": "remote"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the call took %s with request_timeout 1s", d)
	}
}

func closedKafkaAddr(t *testing.T) string {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// With the cluster down, a transactional produce fails within the call's
// time instead of hanging, and once the cluster is back the plugin's next
// transaction commits.
func TestKafkaClusterDown(t *testing.T) {
	e := newKafkaEnv(t)
	if e.cluster.External() {
		t.Skip("stops the cluster: needs kfake, not PUMA_TEST_KAFKA")
	}
	h := e.host(map[string]any{"request_timeout": "2s"})
	if err := e.run(h, "sink", kafkaGrant, map[string]any{"op": "begin"}, produce(e.topic, "k", "before"), map[string]any{"op": "commit"}); err != nil {
		t.Fatal(err)
	}
	if err := e.cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := e.run(h, "sink", kafkaGrant, map[string]any{"op": "begin"},
		map[string]any{"op": "produce", "topic": e.topic, "key": "k", "value": "lost", "fail": "remote"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the failing call took %s with request_timeout 2s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	err = e.run(h, "sink", kafkaGrant, map[string]any{"op": "begin"}, produce(e.topic, "k", "after"), map[string]any{"op": "commit"},
		map[string]any{"op": "last", "topic": e.topic, "key": "k", "expect": "after"})
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, r := range e.read(e.topic) {
		vals = append(vals, string(r.Value))
	}
	if strings.Join(vals, ",") != "before,after" {
		t.Errorf("read_committed sees %v, want [before after]", vals)
	}
}
