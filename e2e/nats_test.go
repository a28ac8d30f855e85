package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testnats"
)

// natsRun is MariaDB → builtin:filter → builtin:nats (exactly once) into
// a private JetStream server, with the workload of kill_test.go.
type natsRun struct {
	t                       *testing.T
	db                      *testdb.Server
	nats                    *testnats.Server
	js                      jetstream.JetStream
	dir, cfg, log, admin    string
	w                       *writer
	positionSubject, stream string
}

func newNATSRun(t *testing.T, seedMix uint64, serverID int) *natsRun {
	seed := workloadSeed(t)
	r := &natsRun{t: t, stream: "PUMA", positionSubject: "puma.position.app.nats"}
	r.db = testdb.Start(t, testdb.Options{})
	createWorkload(t, r.db)
	r.nats = testnats.Start(t, testnats.Options{})
	nc, err := nats.Connect(r.nats.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if r.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	r.dir = t.TempDir()
	r.log = filepath.Join(r.dir, "puma.log")
	r.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.cfg = filepath.Join(r.dir, "puma.toml")
	writeFile(t, r.cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q

[targets.events]
kind = "nats"
url = %q
connect_timeout = "1s"
publish_timeout = "3s"

[[task]]
name = "app"
replica_server_id = %d
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "200ms"
max_batch_delay = "2ms"
backoff_min = "20ms"
backoff_max = "1s"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.*"], ops = ["c", "u", "d"] }
  [[task.sender]]
  plugin = "builtin:nats"
  config = { target = "events", stream = "PUMA", create_stream = true, exactly_once = true }
`, r.admin, r.nats.URL(), serverID, r.db.Addr()))
	r.w = newWriter(t, r.db, rand.New(rand.NewPCG(seed, seed^seedMix)))
	return r
}

// count returns how many messages the stream holds (0 before it exists
// or while the server is down).
func (r *natsRun) count() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// check reads the whole stream with an ordered consumer, as a consumer
// application would: every change must be there exactly once (by
// Nats-Msg-Id and by the envelope's tx id and seq), each carrying its
// transaction's commit, in commit order, and replaying them must give
// the source's tables.
func (r *natsRun) check() {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := r.count()
	s, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(r.dir, "stream.jsonl")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	ids := map[string]bool{}
	dups, positions := 0, 0
	for got := uint64(0); got < n; {
		batch, err := c.Fetch(int(min(n-got, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			got++
			if m.Subject() == r.positionSubject {
				positions++
				continue
			}
			id := m.Headers().Get("Nats-Msg-Id")
			if ids[id] {
				dups++
			}
			ids[id] = true
			if m.Headers().Get("Puma-Commit") == "" {
				t.Fatalf("message %s has no Puma-Commit", id)
			}
			if want := "puma.app." + m.Headers().Get("Puma-Table"); m.Subject() != want {
				t.Fatalf("message %s on %s, want %s", id, m.Subject(), want)
			}
			bw.Write(m.Data())
			bw.WriteByte('\n')
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Logf("stream holds %d changes and %d positions", len(ids), positions)
	if dups > 0 {
		t.Errorf("%d duplicate messages, want none with exactly_once", dups)
	}
	if positions == 0 {
		t.Error("no position was stored")
	}
	model := applyStream(t, out, r.w.gtids)
	checkModel(t, r.db, model, "model")
}

func (r *natsRun) finish(p *puma) {
	t := r.t
	final := r.db.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", r.w.rows, len(r.w.gtids), final)
	waitCheckpoint(t, filepath.Join(r.dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	r.check()
}

// TestNATSKillNineExactlyOnce kills puma -9 three times mid-stream while
// builtin:nats publishes with exactly_once: a consumer reading the stream
// must find every committed change once, and none twice.
func TestNATSKillNineExactlyOnce(t *testing.T) {
	r := newNATSRun(t, 0x6a09e667f3bcc908, 7401)
	defer dumpLog(t, r.log)
	target := 4000
	p := startPuma(t, r.cfg, r.log)
	kills := []int{target / 4, target / 2, 3 * target / 4}
	last := uint64(0)
	for r.w.rows < target || (len(kills) > 0 && r.w.rows < 20*target) {
		r.w.transaction(t)
		// Kill only a puma that has published since it started, so every
		// kill lands mid-stream; until it has, write slowly.
		if len(kills) > 0 && r.w.rows >= kills[0] {
			if n := r.count(); n <= last {
				time.Sleep(10 * time.Millisecond)
			} else {
				kills = kills[1:]
				p.kill(t)
				last = r.count()
				p = startPuma(t, r.cfg, r.log)
			}
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma published nothing after a restart", len(kills))
	}
	r.finish(p)
}

// pluginErrors returns puma_plugin_errors_total of the nats sender.
func (r *natsRun) pluginErrors() int { return pluginErrors(r.admin, "nats") }

func (r *natsRun) taskStatus() taskStatus { return taskStatusOf(r.admin) }

// pluginErrors returns puma_plugin_errors_total of the plugin of task app
// named plugin, from the admin listener at admin (-1 when it cannot be
// read).
func pluginErrors(admin, plugin string) int {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "puma_plugin_errors_total{") && strings.Contains(line, `plugin="`+plugin+`"`) {
			n, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			return n
		}
	}
	return 0
}

// taskStatus is what /tasks/app says of the task.
type taskStatus struct {
	State        string `json:"state"`
	PluginErrors uint64 `json:"plugin_errors"`
	LastError    string `json:"last_error"`
}

func taskStatusOf(admin string) taskStatus {
	var st taskStatus
	resp, err := http.Get("http://" + admin + "/tasks/app")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&st)
	return st
}

// TestNATSOutageCatchesUp stops the NATS server for 20 s while the
// source keeps writing: the task retries past max_failures (its sender's
// errors count up, it shows retrying, it does not fail), and once the
// server is back it catches up with nothing lost and nothing twice.
func TestNATSOutageCatchesUp(t *testing.T) {
	// Most of it is waiting out the outage: it runs beside the others.
	t.Parallel()
	r := newNATSRun(t, 0xbb67ae8584caa73b, 7402)
	defer dumpLog(t, r.log)
	p := startPuma(t, r.cfg, r.log)
	for r.w.rows < 1000 {
		r.w.transaction(t)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.nats.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	before := r.pluginErrors()
	for time.Since(down) < 20*time.Second {
		r.w.transaction(t)
		time.Sleep(20 * time.Millisecond)
	}
	errs, st := r.pluginErrors(), r.taskStatus()
	t.Logf("during the outage: %d sender errors (from %d); /tasks: %+v", errs, before, st)
	if errs <= before || st.PluginErrors == 0 {
		t.Errorf("sender errors %d (was %d), /tasks plugin_errors %d: the task did not retry during the outage", errs, before, st.PluginErrors)
	}
	if st.State != "retrying" {
		t.Errorf("task state %q during the outage, want retrying (its sender's destination is down)", st.State)
	}
	if err := r.nats.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		r.w.transaction(t)
	}
	r.finish(p)
}
