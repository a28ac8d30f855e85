package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pumacdc/puma/internal/testdb"
	"github.com/pumacdc/puma/internal/testredis"
)

// redisSetup is MariaDB → builtin:filter → builtin:redis, with a private
// redis-server (appendfsync always) and the workload's tables.
type redisSetup struct {
	db     *testdb.Server
	redis  *testredis.Server
	dir    string
	cfg    string
	log    string
	admin  string
	writer *writer
}

func newRedisSetup(t *testing.T, seed uint64, exactlyOnce bool) *redisSetup {
	t.Helper()
	s := &redisSetup{db: testdb.Start(t, testdb.Options{}), redis: testredis.Start(t, testredis.Options{}), dir: t.TempDir()}
	createWorkload(t, s.db)
	s.cfg = filepath.Join(s.dir, "puma.toml")
	s.log = filepath.Join(s.dir, "puma.log")
	s.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// The checkpoint lags (500 ms) so that every kill leaves entries in
	// Redis the checkpoint does not cover: only the position key keeps
	// them from being appended again. An outage does not count towards
	// max_failures: the sender retries through it.
	writeFile(t, s.cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[targets.cache]
kind = "redis"
addr = %q
timeout = "2s"
dial_timeout = "1s"
[[task]]
name = "app"
replica_server_id = 7101
start_if_none = "earliest"
tables = ["app.*"]
checkpoint_interval = "500ms"
max_batch_delay = "2ms"
backoff_min = "20ms"
backoff_max = "500ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { include = ["app.*"] }
  [[task.sender]]
  plugin = "builtin:redis"
  config = { target = "cache", stream = "cdc:{db}:{table}", exactly_once = %v }
`, s.admin, s.redis.Addr(), s.db.Addr(), exactlyOnce))
	s.writer = newWriter(t, s.db, rand.New(rand.NewPCG(seed, seed^0x51afd7ed558ccd)))
	return s
}

// entries counts the stream entries in Redis, 0 while it is down.
func (s *redisSetup) entries(rc *redis.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, err := rc.Keys(ctx, "cdc:*").Result()
	if err != nil {
		return 0
	}
	var n int64
	for _, k := range keys {
		l, _ := rc.XLen(ctx, k).Result()
		n += l
	}
	return n
}

// finish waits for the checkpoint of everything written, stops puma, reads
// every stream back as a consumer would, and checks it against the source:
// every committed row change arrived, in order per stream (so per key),
// with the source's values. It returns how many changes arrived more than
// once.
func (s *redisSetup) finish(t *testing.T, p *puma) int {
	t.Helper()
	final := s.db.GTIDBinlogPos(t)
	t.Logf("wrote %d row changes in %d transactions; waiting for checkpoint %s", s.writer.rows, len(s.writer.gtids), final)
	waitCheckpoint(t, filepath.Join(s.dir, "data", "checkpoints", "app.json"), final)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v after SIGTERM, want 0", err)
	}
	rc := redis.NewClient(&redis.Options{Addr: s.redis.Addr()})
	defer rc.Close()
	ctx := context.Background()
	var streams []string
	var cursor uint64
	for {
		keys, next, err := rc.ScanType(ctx, cursor, "*", 100, "stream").Result()
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, keys...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	slices.Sort(streams)
	type change struct {
		tx, seq int64
		id      string
		value   string
	}
	var all []change
	ids := map[string]string{}
	dups := 0
	for _, st := range streams {
		if !strings.HasPrefix(st, "cdc:app:") {
			t.Errorf("stream %s: not named by the template cdc:{db}:{table}", st)
		}
		es, err := rc.XRange(ctx, st, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var prev change
		for _, e := range es {
			f := func(name string) string { v, _ := e.Values[name].(string); return v }
			id := f("id")
			if where, ok := ids[id]; ok {
				dups++
				if dups <= 3 {
					t.Logf("change %s in %s entry %s, again in %s entry %s", id, where[:strings.IndexByte(where, ' ')], where, st, e.ID)
				}
				continue
			}
			ids[id] = st + " " + e.ID
			// id is "<gtid>:<seq>:<part>", the GTID "domain-server-seq".
			parts := strings.Split(id, ":")
			g := strings.Split(parts[0], "-")
			if len(parts) != 3 || len(g) != 3 {
				t.Fatalf("%s entry %s: id %q is not <gtid>:<seq>:<part>", st, e.ID, id)
			}
			c := change{id: id, value: f("value")}
			c.tx, _ = strconv.ParseInt(g[2], 10, 64)
			c.seq, _ = strconv.ParseInt(parts[1], 10, 64)
			if c.tx < prev.tx || c.tx == prev.tx && c.seq <= prev.seq {
				t.Fatalf("%s: entry %s (%s) after %s: out of commit order", st, e.ID, id, prev.id)
			}
			prev = c
			var env struct {
				Op     string `json:"op"`
				DDL    *string
				Source struct{ DB, Table string }
				Puma   struct{ Key json.RawMessage }
			}
			if err := json.Unmarshal([]byte(c.value), &env); err != nil {
				t.Fatalf("%s entry %s: value: %v", st, e.ID, err)
			}
			wantOp := env.Op
			if env.DDL != nil {
				wantOp = "ddl"
			}
			if f("op") != wantOp || f("db") != env.Source.DB || f("table") != env.Source.Table {
				t.Errorf("%s entry %s: fields op %q db %q table %q; the envelope says %q %q %q", st, e.ID, f("op"), f("db"), f("table"), wantOp, env.Source.DB, env.Source.Table)
			}
			if env.Puma.Key != nil && f("key") != string(env.Puma.Key) {
				t.Errorf("%s entry %s: key %s, the envelope's %s", st, e.ID, f("key"), env.Puma.Key)
			}
			all = append(all, c)
		}
	}
	// Commit order across streams, to replay into the source's tables.
	slices.SortFunc(all, func(a, b change) int {
		if a.tx != b.tx {
			return int(a.tx - b.tx)
		}
		return int(a.seq - b.seq)
	})
	var lines strings.Builder
	for _, c := range all {
		lines.WriteString(c.value)
		lines.WriteByte('\n')
	}
	out := filepath.Join(s.dir, "consumed.jsonl")
	writeFile(t, out, lines.String())
	model := applyStream(t, out, s.writer.gtids)
	checkModel(t, s.db, model, "consumer")
	t.Logf("%d changes in %d streams, %d delivered more than once", len(all), len(streams), dups)
	return dups
}

// TestRedisKillNineExactlyOnce kills puma -9 three times mid-stream while
// builtin:redis (exactly_once) appends a workload's changes: the streams
// must hold every committed change exactly once, in commit order per
// stream, with the source's values.
func TestRedisKillNineExactlyOnce(t *testing.T) {
	seed := workloadSeed(t)
	s := newRedisSetup(t, seed, true)
	defer dumpLog(t, s.log)
	rc := redis.NewClient(&redis.Options{Addr: s.redis.Addr()})
	defer rc.Close()
	target := 6000
	rng := rand.New(rand.NewPCG(seed, 7))
	var kills []int
	for range 3 {
		kills = append(kills, target/10+rng.IntN(target*8/10))
	}
	slices.Sort(kills)
	t.Logf("SIGKILL after %v rows", kills)
	p := startPuma(t, s.cfg, s.log)
	var last int64
	w := s.writer
	for w.rows < target || (len(kills) > 0 && w.rows < 20*target) {
		w.transaction(t)
		// Kill only a puma that has delivered since it started, so that
		// every kill lands mid-stream.
		if len(kills) > 0 && w.rows >= kills[0] {
			if n := s.entries(rc); n > last {
				kills, last = kills[1:], n
				p.kill(t)
				p = startPuma(t, s.cfg, s.log)
			}
		}
	}
	if len(kills) > 0 {
		t.Fatalf("%d kills did not happen: puma delivered nothing after a restart", len(kills))
	}
	if dups := s.finish(t, p); dups != 0 {
		t.Errorf("%d changes delivered more than once with exactly_once = true", dups)
	}
}

// TestRedisOutageLosesNothing stops Redis for 20 s mid-stream while the
// workload goes on: the sender fails and retries (the task keeps
// running, its plugin errors count), and once Redis is back every
// change arrives.
func TestRedisOutageLosesNothing(t *testing.T) {
	// Most of it is waiting out the outage: it runs beside the others.
	t.Parallel()
	seed := workloadSeed(t)
	s := newRedisSetup(t, seed, false)
	defer dumpLog(t, s.log)
	rc := redis.NewClient(&redis.Options{Addr: s.redis.Addr()})
	defer rc.Close()
	p := startPuma(t, s.cfg, s.log)
	w := s.writer
	for w.rows < 1500 {
		w.transaction(t)
	}
	// Stop Redis mid-stream: once puma delivers, with changes still
	// coming.
	for deadline := time.Now().Add(time.Minute); s.entries(rc) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("nothing arrived in Redis within a minute")
		}
		w.transaction(t)
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	metrics := `puma_plugin_errors_total{task="app",plugin="redis"}`
	for time.Since(down) < 20*time.Second {
		w.transaction(t)
		time.Sleep(20 * time.Millisecond)
	}
	m := get(t, "http://"+s.admin+"/metrics", "")
	if v := metricValue(m, metrics); v < 2 {
		t.Errorf("%s = %v after 20 s without Redis, want retries\n%s", metrics, v, grepLines(m, "puma_plugin"))
	}
	if v := metricValue(m, `puma_task_state{task="app",state="retrying"}`); v != 1 {
		t.Errorf("the task is not retrying while Redis is down:\n%s", grepLines(m, "puma_task_state"))
	}
	logData, _ := os.ReadFile(s.log)
	if !strings.Contains(string(logData), "plugin failed, retrying") {
		t.Error("the log does not show the sender retrying")
	}
	if err := s.redis.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis down for %s", time.Since(down).Round(time.Millisecond))
	for range 200 {
		w.transaction(t)
	}
	s.finish(t, p)
}
