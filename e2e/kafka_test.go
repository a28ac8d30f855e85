package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pumacdc/puma/internal/envelopetest"
	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testkafka"
)

// startKafkaSink starts a Kafka cluster with the workload's topics
// (puma.app.a, .b, .c, 3 partitions each) and the positions topic, under a
// prefix unique to the cluster; topics lists their full names, the
// positions topic last.
func startKafkaSink(t *testing.T) (kc *testkafka.Cluster, topics []string, prefix string) {
	t.Helper()
	kc = testkafka.Start(t, testkafka.Options{})
	for _, tb := range workloadTables {
		topics = append(topics, kc.Topic(t, "puma.app."+tb.name, 3))
	}
	topics = append(topics, kc.Topic(t, "puma.positions", 1))
	return kc, topics, strings.TrimSuffix(topics[0], "puma.app.a")
}

// kafkaRecord is a change as a read_committed consumer got it.
type kafkaRecord struct {
	topic     string
	partition int32
	offset    int64
	key       string
	txID      string
	txSeq     int
	gtidSeq   int64
	value     []byte
}

// readKafka reads every committed record of topics, read_committed, up
// to their last stable offsets.
func readKafka(t *testing.T, seeds []string, topics ...string) []kafkaRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Topic+"/"+strconv.Itoa(int(o.Partition))] = o.Offset
		}
	})
	var out []kafkaRecord
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed consumer still waits for %v", want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			tp := r.Topic + "/" + strconv.Itoa(int(r.Partition))
			if end, ok := want[tp]; ok && r.Offset+1 >= end {
				delete(want, tp)
			}
			if r.Attrs.IsControl() {
				return
			}
			kr := kafkaRecord{topic: r.Topic, partition: r.Partition, offset: r.Offset, key: string(r.Key), value: r.Value}
			for _, h := range r.Headers {
				switch h.Key {
				case "tx.id":
					kr.txID = string(h.Value)
				case "tx.seq":
					kr.txSeq, _ = strconv.Atoi(string(h.Value))
				}
			}
			parts := strings.Split(kr.txID, "-")
			kr.gtidSeq, _ = strconv.ParseInt(parts[len(parts)-1], 10, 64)
			out = append(out, kr)
		})
	}
	return out
}

// committedCount is how many records of topics read_committed consumers
// can see (offsets up to the last stable ones, markers included).
func committedCount(adm *kadm.Client, topics ...string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += max(o.Offset, 0) })
	return n
}

// Real MariaDB → builtin:filter → builtin:kafka with exactly_once, puma
// SIGKILLed three times under a writing workload: a read_committed
// consumer then finds every committed change exactly once, each row's
// changes in order in one partition, and the rows equal to the source's.
func TestKafkaKillNineExactlyOnce(t *testing.T) {
	seed := workloadSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	target := 3000

	srv := testdb.Start(t, testdb.Options{})
	kc, topics, prefix := startKafkaSink(t)
	seeds := kc.Seeds()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	createWorkload(t, srv)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	brokers, _ := json.Marshal(seeds)
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[targets.events]
kind = "kafka"
brokers = %s
request_timeout = "10s"
[[task]]
name = "app"
replica_server_id = 7011
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.*"], ops = ["c", "u", "d"] }
  [[task.sender]]
  plugin = "builtin:kafka"
  config = { target = "events", exactly_once = true, topic = "%spuma.{db}.{table}", positions_topic = "%spuma.positions" }
`, brokers, srv.Addr(), prefix, prefix))

	w := newWriter(t, srv, rng)

	p := startPuma(t, cfgPath, logPath)
	var kills []int
	for range 3 {
		kills = append(kills, target/10+rng.IntN(target*7/10))
	}
	sort.Ints(kills)
	t.Logf("SIGKILL after %v rows", kills)
	seen := int64(0)
	deadline := time.Now().Add(2 * time.Minute)
	for w.rows < target || len(kills) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d kills did not happen: puma delivered nothing after a restart", len(kills))
		}
		w.transaction(t)
		if len(kills) == 0 || w.rows < kills[0] {
			continue
		}
		// Kill only a puma that has delivered since it started, so every
		// kill lands mid-stream; until it has, write slowly.
		if n := committedCount(adm, topics...); n > seen {
			kills = kills[1:]
			p.kill(t)
			seen = n
			p = startPuma(t, cfgPath, logPath)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}

	recs := readKafka(t, seeds, topics[:3]...)
	checkKafkaStream(t, recs, w.gtids)
	model := applyKafka(t, recs)
	checkModel(t, srv, model, "model")
}

// checkKafkaStream checks that no change arrived twice, none was rolled
// back, every committed transaction arrived, and each key's changes are
// in transaction order within one partition.
func checkKafkaStream(t *testing.T, recs []kafkaRecord, committed []string) {
	t.Helper()
	seen := map[string]kafkaRecord{}
	txSeen := map[string]bool{}
	type pos struct {
		gtid int64
		seq  int
	}
	lastOf := map[string]pos{}   // topic/key -> last change seen, in offset order
	partOf := map[string]int32{} // topic/key -> partition
	sorted := slices.Clone(recs)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.partition != b.partition {
			return a.partition < b.partition
		}
		return a.offset < b.offset
	})
	for _, r := range sorted {
		if strings.Contains(string(r.value), "rolled-back") || strings.Contains(string(r.value), `"rb"`) {
			t.Fatalf("%s/%d@%d: a rolled-back change was delivered: %s", r.topic, r.partition, r.offset, r.value)
		}
		id := r.txID + "/" + strconv.Itoa(r.txSeq)
		if d, dup := seen[id]; dup {
			t.Fatalf("change %s delivered twice: %s/%d@%d and %s/%d@%d", id, d.topic, d.partition, d.offset, r.topic, r.partition, r.offset)
		}
		seen[id] = r
		txSeen[r.txID] = true
		envelopetest.Check(t, fmt.Sprintf("%s/%d@%d", r.topic, r.partition, r.offset), r.value)
		k := r.topic + "/" + r.key
		if p, ok := partOf[k]; ok && p != r.partition {
			t.Fatalf("key %s in partitions %d and %d", k, p, r.partition)
		}
		partOf[k] = r.partition
		now := pos{r.gtidSeq, r.txSeq}
		if last, ok := lastOf[k]; ok && (now.gtid < last.gtid || now.gtid == last.gtid && now.seq <= last.seq) {
			t.Fatalf("key %s: change %s at offset %d after change of tx seq %d/%d", k, id, r.offset, last.gtid, last.seq)
		}
		lastOf[k] = now
	}
	for _, g := range committed {
		if !txSeen[g] {
			t.Fatalf("committed transaction %s was never delivered", g)
		}
	}
	t.Logf("%d changes of %d transactions, none twice", len(seen), len(txSeen))
}

// applyKafka replays the records in commit order into table -> key -> row
// text.
func applyKafka(t *testing.T, recs []kafkaRecord) map[string]map[string]string {
	t.Helper()
	sorted := slices.Clone(recs)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].gtidSeq != sorted[j].gtidSeq {
			return sorted[i].gtidSeq < sorted[j].gtidSeq
		}
		return sorted[i].txSeq < sorted[j].txSeq
	})
	model := map[string]map[string]string{}
	for _, tb := range workloadTables {
		model[tb.name] = map[string]string{}
	}
	for _, r := range sorted {
		var e envelope
		if err := json.Unmarshal(r.value, &e); err != nil {
			t.Fatalf("%s/%d@%d: %v: %s", r.topic, r.partition, r.offset, err, r.value)
		}
		tb := model[e.Table]
		if tb == nil {
			t.Fatalf("%s/%d@%d: change of table %s.%s", r.topic, r.partition, r.offset, e.DB, e.Table)
		}
		switch e.Op {
		case "c":
			tb[rowKey(e.Table, e.After)] = rowText(e.Table, e.After)
		case "u":
			delete(tb, rowKey(e.Table, e.Before))
			tb[rowKey(e.Table, e.After)] = rowText(e.Table, e.After)
		case "d":
			delete(tb, rowKey(e.Table, e.Before))
		default:
			t.Fatalf("%s/%d@%d: unexpected op %q", r.topic, r.partition, r.offset, e.Op)
		}
	}
	return model
}

// taskStats reads /tasks/NAME from puma's admin listener.
func taskStats(admin, task string) (st struct {
	State        string `json:"state"`
	PluginErrors uint64 `json:"plugin_errors"`
	LastError    string `json:"last_error"`
}, err error) {
	resp, err := http.Get("http://" + admin + "/tasks/" + task)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// The Kafka cluster stopped for 20 s mid-stream: the task keeps
// streaming, retries the sender (plugin errors, the last one shown in
// /tasks), and once the cluster is back delivers everything, once.
func TestKafkaBrokerOutage(t *testing.T) {
	// Most of it is waiting out the outage: it runs beside the others.
	t.Parallel()
	srv := testdb.Start(t, testdb.Options{})
	kc, topics, prefix := startKafkaSink(t)
	if kc.External() {
		t.Skip("stops the cluster: needs the kfake cluster, not PUMA_TEST_KAFKA")
	}
	seeds := kc.Seeds()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	createWorkload(t, srv)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	cfgPath := filepath.Join(dir, "puma.toml")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	brokers, _ := json.Marshal(seeds)
	writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[targets.events]
kind = "kafka"
brokers = %s
request_timeout = "2s"
[[task]]
name = "app"
replica_server_id = 7012
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "50ms"
backoff_max = "1s"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:kafka"
  config = { target = "events", exactly_once = true, topic = "%spuma.{db}.{table}", positions_topic = "%spuma.positions" }
`, admin, brokers, srv.Addr(), prefix, prefix))

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	w := newWriter(t, srv, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	p := startPuma(t, cfgPath, logPath)

	// Streaming: wait for a first delivery.
	deadline := time.Now().Add(60 * time.Second)
	for committedCount(adm, topics...) <= 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing delivered before the outage")
		}
		w.transaction(t)
		time.Sleep(20 * time.Millisecond)
	}
	if err := kc.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster stopped after %d row changes", w.rows)
	outage := time.Now()
	var before, errs uint64
	sawRetrying := false
	if st, err := taskStats(admin, "app"); err == nil {
		before = st.PluginErrors
	}
	for time.Since(outage) < 20*time.Second {
		w.transaction(t)
		time.Sleep(50 * time.Millisecond)
		if st, err := taskStats(admin, "app"); err == nil {
			errs = st.PluginErrors - before
			if st.State == "failed" {
				t.Fatalf("the task failed during the outage: %s", st.LastError)
			}
			sawRetrying = sawRetrying || st.State == "retrying"
		}
	}
	if errs == 0 {
		t.Error("no plugin errors during the outage: /tasks does not show the sender retrying")
	}
	if !sawRetrying {
		t.Error("/tasks never showed the task retrying during the outage")
	}
	t.Logf("during the outage: %d plugin errors (retries)", errs)
	if countLog(t, logPath, "plugin failed, retrying") == 0 {
		t.Error("no retry logged during the outage")
	}
	if err := kc.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		w.transaction(t)
	}
	final := srv.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", w.rows, len(w.gtids), final)
	waitCheckpoint(t, filepath.Join(dir, "data", "checkpoints", "app.json"), final)
	if st, err := taskStats(admin, "app"); err != nil || st.State != "streaming" {
		t.Errorf("after the outage: state %q (%v), want streaming", st.State, err)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	recs := readKafka(t, seeds, topics[:3]...)
	checkKafkaStream(t, recs, w.gtids)
	model := applyKafka(t, recs)
	checkModel(t, srv, model, "model")
}
