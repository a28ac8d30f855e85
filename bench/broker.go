package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pumacdc/puma/internal/testkafka"
	"github.com/pumacdc/puma/internal/testnats"
	"github.com/pumacdc/puma/internal/testredis"
)

// A broker is the message broker a sink variant publishes to, started by
// the harness for each run of the variant, outside the measured process
// (a real broker runs elsewhere too): a private nats-server with
// JetStream or redis-server with appendfsync always, each a process of
// its own, or a one-broker kfake cluster in the harness's process. Its
// CPU is in "others' CPU". A fresh broker per run keeps one run's stream
// from slowing the next and lets the harness count, after the run, what
// the broker stored.
type broker struct {
	env BrokerEnv
	// count returns the changes of table ("db.table") the broker stored
	// (committed, for Kafka), position records not included.
	count func(ctx context.Context, table string) (uint64, error)
	close func() error
}

// BrokerEnv is where a sink variant publishes: the body of its
// [targets.bench] table and more keys of its sender's config naming the
// stream or topics.
type BrokerEnv struct {
	Target string `json:"target"`
	Config string `json:"config,omitempty"`
}

// Names the brokers' sinks use: builtin:nats's stream and subjects
// (default template puma.{db}.{table}), builtin:redis's streams (default
// puma:{db}:{table}), builtin:kafka's topics.
const (
	natsStream     = "PUMA"
	kafkaTopic     = "changes"
	kafkaPositions = "positions"
)

// startBroker starts a broker of kind ("nats", "redis" or "kafka").
func startBroker(ctx context.Context, kind string) (*broker, error) {
	quiet := slog.New(slog.DiscardHandler)
	switch kind {
	case "nats":
		srv, err := testnats.New(ctx, testnats.Options{Logger: quiet})
		if err != nil {
			return nil, err
		}
		return &broker{
			env: BrokerEnv{
				Target: fmt.Sprintf("kind = \"nats\"\nurl = %q\n", srv.URL()),
				Config: fmt.Sprintf("stream = %q, create_stream = true", natsStream),
			},
			count: func(ctx context.Context, table string) (uint64, error) { return natsCount(ctx, srv.URL(), table) },
			close: srv.Close,
		}, nil
	case "redis":
		srv, err := testredis.New(ctx, testredis.Options{Logger: quiet})
		if err != nil {
			return nil, err
		}
		return &broker{
			env: BrokerEnv{Target: fmt.Sprintf("kind = \"redis\"\naddr = %q\n", srv.Addr())},
			count: func(ctx context.Context, table string) (uint64, error) {
				c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				defer c.Close()
				n, err := c.XLen(ctx, "puma:"+strings.Replace(table, ".", ":", 1)).Result()
				return uint64(n), err
			},
			close: srv.Close,
		}, nil
	case "kafka":
		c, err := testkafka.New(ctx, testkafka.Options{Brokers: 1, Logger: quiet})
		if err != nil {
			return nil, err
		}
		// A topic per table would need the table's name before the
		// run; the narrow table's changes all go to one topic.
		topic, err := c.CreateTopic(ctx, kafkaTopic, 3)
		var pos string
		if err == nil {
			pos, err = c.CreateTopic(ctx, kafkaPositions, 1)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		var brokers []string
		for _, s := range c.Seeds() {
			brokers = append(brokers, strconv.Quote(s))
		}
		return &broker{
			env: BrokerEnv{
				Target: "kind = \"kafka\"\nbrokers = [" + strings.Join(brokers, ", ") + "]\n",
				Config: fmt.Sprintf("topic = %q, positions_topic = %q", topic, pos),
			},
			count: func(ctx context.Context, _ string) (uint64, error) { return kafkaCount(ctx, c.Seeds(), topic) },
			close: c.Close,
		}, nil
	}
	return nil, fmt.Errorf("unknown broker %q (have: nats, redis, kafka)", kind)
}

// natsCount counts the messages the stream holds on table's subject.
func natsCount(ctx context.Context, url, table string) (uint64, error) {
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	s, err := js.Stream(ctx, natsStream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", natsStream, err)
	}
	subject := "puma." + table
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", natsStream, err)
	}
	return info.State.Subjects[subject], nil
}

// kafkaCount counts the committed records of topic, reading it
// read_committed up to each partition's last stable offset. The last
// record before that offset is a transaction marker, which a consumer
// never sees: a partition is read once the record before its marker
// arrived. A partition ending in an aborted transaction never gets
// there, hence the idle limit.
func kafkaCount(ctx context.Context, seeds []string, topic string) (uint64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return 0, err
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	cl.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("topic %s: end offsets: %w", topic, err)
	}
	left := map[int32]int64{} // partition → the offset still to reach
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset - 2
		}
	})
	cl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n uint64
	for len(left) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(pctx)
		idle := pctx.Err() != nil
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if end, ok := left[r.Partition]; ok && r.Offset >= end {
				delete(left, r.Partition)
			}
		})
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return n, fmt.Errorf("topic %s: %w", topic, err)
		}
		if idle && fs.NumRecords() == 0 {
			break // what is left ended in an aborted transaction
		}
	}
	return n, ctx.Err()
}

// wasmFilterBroker is builtin:filter (as in wasmFilterJSONL) in front of
// builtin:<kind> (nats, redis or kafka) with exactly_once = true,
// publishing to the run's broker: each call's changes and its position
// stored together, as in production.
func wasmFilterBroker(kind string) wasmSpec {
	return wasmSpec{
		toml: func(env *Env) (string, error) {
			if env.Broker == nil {
				return "", fmt.Errorf("no %s broker to publish to", kind)
			}
			cfg := `target = "bench", exactly_once = true`
			if env.Broker.Config != "" {
				cfg += ", " + env.Broker.Config
			}
			return fmt.Sprintf(`  [[task.handler]]
  plugin = "builtin:filter"
  config = { where = "id >= 0" }
  [[task.sender]]
  plugin = "builtin:%s"
  config = { %s }
[targets.bench]
%s`, kind, cfg, env.Broker.Target), nil
		},
		modules: []string{"filter", kind},
	}
}
