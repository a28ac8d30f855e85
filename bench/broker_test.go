package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerCount starts each broker as the harness does and stores
// changes in it as its sink would, with what the count must leave out:
// NATS messages on the position subject, Redis entries of another
// stream, Kafka records of an aborted transaction. The count is what the
// harness holds a run to.
func TestBrokerCount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const table = "bench.narrow"
	for _, kind := range []string{"nats", "redis", "kafka"} {
		t.Run(kind, func(t *testing.T) {
			b, err := startBroker(ctx, kind)
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal(err)
				}
				t.Skip(err)
			}
			defer b.close()
			if got, err := b.count(ctx, table); err == nil && got != 0 && kind != "nats" {
				t.Fatalf("an empty %s broker counts %d", kind, got)
			}
			switch kind {
			case "nats":
				storeNATS(ctx, t, b.env)
			case "redis":
				storeRedis(ctx, t, b.env)
			case "kafka":
				storeKafka(ctx, t, b.env)
			}
			got, err := b.count(ctx, table)
			if err != nil {
				t.Fatal(err)
			}
			if got != 3 {
				t.Errorf("count %d, want the 3 changes stored", got)
			}
		})
	}
}

// setting returns the value of key in TOML text such as `url = "x"`.
func setting(t *testing.T, toml, key string) string {
	t.Helper()
	for line := range strings.SplitSeq(toml, "\n") {
		for part := range strings.SplitSeq(line, ", ") {
			k, v, ok := strings.Cut(part, " = ")
			if ok && k == key {
				return strings.Trim(v, `"[]`)
			}
		}
	}
	t.Fatalf("no %s in %q", key, toml)
	return ""
}

func storeNATS(ctx context.Context, t *testing.T, env BrokerEnv) {
	nc, err := nats.Connect(setting(t, env.Target, "url"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// As builtin:nats makes it: the data subjects and its position's.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: setting(t, env.Config, "stream"),
		Subjects: []string{"puma.*.*", "puma.position.bench.nats"}}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"puma.bench.narrow", "puma.bench.narrow", "puma.position.bench.nats", "puma.bench.other", "puma.bench.narrow"} {
		if _, err := js.Publish(ctx, subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
}

func storeRedis(ctx context.Context, t *testing.T, env BrokerEnv) {
	c := redis.NewClient(&redis.Options{Addr: setting(t, env.Target, "addr")})
	defer c.Close()
	for _, stream := range []string{"puma:bench:narrow", "puma:bench:other", "puma:bench:narrow", "puma:bench:narrow"} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"op", "c"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, "puma:position:bench:redis", "{}", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func storeKafka(ctx context.Context, t *testing.T, env BrokerEnv) {
	topic := setting(t, env.Config, "topic")
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(setting(t, env.Target, "brokers"), `", "`)...),
		kgo.TransactionalID("bench-test"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Two committed transactions (over several partitions) and an
	// aborted one between them.
	for i, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		keys := []string{"a", "b"}
		if i == 2 {
			keys = keys[:1]
		}
		for _, k := range keys {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte("{}")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
}
