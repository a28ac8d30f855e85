package testkafka

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The cluster takes transactions and idempotent writes and hides aborted
// records from read_committed consumers; kfake keeps its data and ports
// across Stop and Restart. With PUMA_TEST_KAFKA set this runs on that
// cluster, less Stop and Restart.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	seeds := c.Seeds()
	if !c.External() {
		if len(seeds) != 3 {
			t.Fatalf("Seeds = %v, want 3 brokers", seeds)
		}
		for _, s := range seeds {
			if host, _, err := net.SplitHostPort(s); err != nil || host != "127.0.0.1" {
				t.Errorf("seed %q: want 127.0.0.1:PORT", s)
			}
		}
	}
	topic := c.Topic(t, "orders", 1)
	if !strings.HasPrefix(topic, "puma-test-") || !strings.HasSuffix(topic, "-orders") {
		t.Errorf("Topic = %q, want puma-test-<unique>-orders", topic)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	tx := client(t, c, kgo.TransactionalID("puma-test-tx"), kgo.DefaultProduceTopic(topic))
	transaction(t, tx, kgo.TryCommit, "a", "b")
	transaction(t, tx, kgo.TryAbort, "aborted")
	transaction(t, tx, kgo.TryCommit, "c")
	idem := client(t, c, kgo.DefaultProduceTopic(topic)) // idempotent by default
	if err := idem.ProduceSync(ctx, &kgo.Record{Value: []byte("d")}).FirstErr(); err != nil {
		t.Fatalf("idempotent produce: %v", err)
	}
	wantCommitted(t, c, topic, "a,b,c,d")
	if c.External() {
		return
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", seeds[0], time.Second); err == nil {
		conn.Close()
		t.Fatal("broker accepts connections after Stop")
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got := c.Seeds(); strings.Join(got, ",") != strings.Join(seeds, ",") {
		t.Errorf("Seeds after Restart = %v, want %v", got, seeds)
	}
	wantCommitted(t, c, topic, "a,b,c,d")
}

// PUMA_TEST_KAFKA selects a real cluster; a kfake cluster stands in for one.
func TestExternal(t *testing.T) {
	t.Setenv(EnvExternal, "")
	real := Start(t, Options{Brokers: 1})
	t.Setenv(EnvExternal, strings.Join(real.Seeds(), ","))
	c := Start(t, Options{})
	if !c.External() {
		t.Fatal("External = false with " + EnvExternal + " set")
	}
	if got, want := strings.Join(c.Seeds(), ","), strings.Join(real.Seeds(), ","); got != want {
		t.Errorf("Seeds = %s, want %s", got, want)
	}
	if c.Dir() != "" || c.LogPath() != "" {
		t.Errorf("Dir, LogPath = %q, %q, want none", c.Dir(), c.LogPath())
	}
	if err := c.Stop(); !errors.Is(err, ErrExternal) {
		t.Errorf("Stop = %v, want ErrExternal", err)
	}
	if err := c.Restart(t.Context()); !errors.Is(err, ErrExternal) {
		t.Errorf("Restart = %v, want ErrExternal", err)
	}

	var topic string
	t.Run("topic", func(t *testing.T) {
		topic = c.Topic(t, "orders", 2)
		if !topicExists(t, real, topic) {
			t.Fatalf("topic %s not on the cluster", topic)
		}
	})
	if topicExists(t, real, topic) {
		t.Errorf("topic %s still exists after its test ended", topic)
	}
	other := Start(t, Options{})
	if a, b := c.Topic(t, "x", 1), other.Topic(t, "x", 1); a == b {
		t.Errorf("two clusters made the same topic name %s", a)
	}

	t.Setenv(EnvExternal, "no-port")
	if _, err := New(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), `broker "no-port": want host:port`) {
		t.Errorf("New with a bad %s: %v", EnvExternal, err)
	}
}

func TestValidate(t *testing.T) {
	for _, n := range []int{-1, 17} {
		if err := (Options{Brokers: n}).Validate(); err == nil || !strings.Contains(err.Error(), "Brokers") {
			t.Errorf("Validate(Brokers %d) = %v", n, err)
		}
	}
	if err := (Options{Brokers: 1}).Validate(); err != nil {
		t.Errorf("Validate(Brokers 1) = %v", err)
	}
}

func client(t *testing.T, c *Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// transaction produces values in one transaction and ends it with commit.
func transaction(t *testing.T, cl *kgo.Client, commit kgo.TransactionEndTry, values ...string) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction: %v", err)
	}
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce %v: %v", values, err)
	}
	if err := cl.EndTransaction(t.Context(), commit); err != nil {
		t.Fatalf("end transaction: %v", err)
	}
}

// wantCommitted reads topic from the start with read_committed until it has
// as many records as want lists, and checks them.
func wantCommitted(t *testing.T, c *Cluster, topic, want string) {
	t.Helper()
	cl := client(t, c, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < strings.Count(want, ",")+1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != want {
		t.Errorf("read_committed from %s = %s, want %s", topic, strings.Join(got, ","), want)
	}
}

func topicExists(t *testing.T, c *Cluster, topic string) bool {
	t.Helper()
	adm, err := admin(c.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ts, err := adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ts.Has(topic)
}
