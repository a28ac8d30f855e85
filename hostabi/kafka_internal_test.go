package hostabi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKafkaTargetSettings(t *testing.T) {
	secrets := map[string]engine.Secret{"kpw": "hunter2"}
	v, err := parseTarget(engine.Target{Kind: "kafka", Settings: map[string]any{
		"brokers": []any{"k1:9092", "[::1]:9093"}, "compression": "zstd", "sasl": "scram-sha-512",
		"user": "puma", "password_secret": "kpw", "tls": true, "request_timeout": "5s", "client_id": "cdc",
	}}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	k := v.(kafkaSettings)
	if len(k.Brokers) != 2 || k.Compression != "zstd" || k.SASL != "scram-sha-512" || k.Password.Reveal() != "hunter2" ||
		!k.TLS || k.RequestTimeout != 5*time.Second || k.ClientID != "cdc" {
		t.Errorf("settings %+v", k)
	}
	if _, err := kgo.NewClient(k.producerOpts()...); err != nil {
		t.Errorf("the settings make no client: %v", err)
	}
	for _, tt := range []struct {
		settings map[string]any
		want     []string
	}{
		{map[string]any{}, []string{"brokers: required"}},
		{map[string]any{"brokers": []any{"k1"}, "compression": "brotli"}, []string{`brokers[0]: "k1": want host:port`, `compression: "brotli" is not one of none, gzip, snappy, lz4, zstd`}},
		{map[string]any{"brokers": []any{"k1:9092"}, "sasl": "plain"}, []string{"sasl: plain needs user and password_secret"}},
		{map[string]any{"brokers": []any{"k1:9092"}, "user": "u", "password_secret": "kpw"}, []string{"sasl: user and password_secret need sasl"}},
		{map[string]any{"brokers": []any{"k1:9092"}, "request_timeout": "1h", "acks": "1"}, []string{"request_timeout: 1h0m0s exceeds 5m0s", "acks: unknown key (have: kind, brokers, client_id, compression,"}},
	} {
		err := CheckTarget(engine.Target{Kind: "kafka", Settings: tt.settings}, secrets)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v lacks %q", tt.settings, err, w)
			}
		}
	}
}

// Records the plugin sends to a partition go there; the others go where
// Kafka's own clients put their key, which keyPartition (used to find a
// key's last record) agrees with.
func TestKafkaPartitioner(t *testing.T) {
	p := keyOrManual{kgo.StickyKeyPartitioner(nil)}.ForTopic("t")
	for _, key := range []string{"a", `{"id":1}`, "task/sink"} {
		r := &kgo.Record{Key: []byte(key)}
		if got, want := p.Partition(r, 12), int(keyPartition("t", []byte(key), 12)); got != want {
			t.Errorf("key %s: partition %d, keyPartition says %d", key, got, want)
		}
	}
	r := &kgo.Record{Key: []byte("a"), Partition: 7, Context: context.WithValue(context.Background(), manualPartition{}, true)}
	if got := p.Partition(r, 12); got != 7 {
		t.Errorf("a record sent to partition 7 went to %d", got)
	}
}
