package hostabi_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testkafka"
	"github.com/pumacdc/puma/internal/testnats"
	"github.com/pumacdc/puma/internal/testredis"
)

// BenchmarkBrokerSenders measures builtin:nats, builtin:redis and
// builtin:kafka with exactly_once, each against a private broker: one
// group of a 256-row transaction per call, a new transaction each time
// (so that nothing is skipped as applied, nor stored as a duplicate),
// host side, broker round trip and position included.
func BenchmarkBrokerSenders(b *testing.B) {
	const rows = 256
	ctx := context.Background()
	run := func(b *testing.B, kind string, settings, cfg map[string]any) {
		h := hostabitest.NewHost(b, b.TempDir(), hostabi.Options{
			Builtin: builtins(b),
			Targets: map[string]engine.Target{"events": {Kind: kind, Settings: settings}},
		})
		cfg["target"], cfg["exactly_once"] = "events", true
		s, err := h.NewSender(ctx, "bench", plugin(kind, "builtin:"+kind, cfg, map[string]any{kind: []any{"events"}}))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		batch := benchBatch(rows)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n++
			tx := *batch.Tx
			tx.ID, tx.GTID = "0-1-"+strconv.Itoa(n), "0-1-"+strconv.Itoa(n)
			batch.Tx = &tx
			for i := range batch.Changes {
				batch.Changes[i].Tx = &tx
			}
			batch.Commit = &position.Position{File: "bin.000001", Pos: uint32(9000 + n), GTIDSet: "0-1-" + strconv.Itoa(n)}
			if err := s.SendGroup(ctx, []*engine.Batch{batch}); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b, rows)
	}
	b.Run("nats", func(b *testing.B) {
		srv := testnats.Start(b, testnats.Options{})
		run(b, "nats", map[string]any{"url": srv.URL()}, map[string]any{"stream": "PUMA", "create_stream": true})
	})
	b.Run("redis", func(b *testing.B) {
		srv := testredis.Start(b, testredis.Options{})
		run(b, "redis", map[string]any{"addr": srv.Addr()}, map[string]any{})
	})
	b.Run("kafka", func(b *testing.B) {
		c := testkafka.Start(b, testkafka.Options{Brokers: 1})
		topic := c.Topic(b, "changes", 3)
		pos := c.Topic(b, "positions", 1)
		brokers := make([]any, 0, len(c.Seeds()))
		for _, s := range c.Seeds() {
			brokers = append(brokers, s)
		}
		run(b, "kafka", map[string]any{"brokers": brokers}, map[string]any{"topic": topic, "positions_topic": pos})
	})
}
