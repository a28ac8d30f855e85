//go:build !wasip1

package sdktest

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// KafkaCluster is an in-memory stand-in for the Kafka clusters a
// plugin's kafka grant reaches, for unit tests of its logic: topics of
// Partitions partitions, records placed by a hash of their key, and
// transactions whose records only Records shows once committed. It is no
// Kafka: the plugin's real behaviour is tested against a cluster (see
// internal/testkafka).
type KafkaCluster struct {
	// Partitions is the partition count of every topic (default 3).
	Partitions int32
	// Fail, when set, decides which records fail (with ErrnoRemote and
	// its message) instead of being written.
	Fail func(r *wire.KafkaRecord) string

	mu      sync.Mutex
	targets []string
	logs    map[string][][]wire.KafkaRecord // committed, by topic and partition
	open    map[string][]wire.KafkaRecord   // by target: the open transaction
	inTxn   map[string]bool
	failed  map[string]bool // a record of the open transaction failed
}

// Kafka grants the plugin the kafka targets named, on a new empty
// in-memory cluster, and returns it; Kafka() with no names revokes the
// grant.
func Kafka(targets ...string) *KafkaCluster {
	if len(targets) == 0 {
		host.Kafka = nil
		return nil
	}
	k := &KafkaCluster{Partitions: 3, targets: targets, logs: map[string][][]wire.KafkaRecord{},
		open: map[string][]wire.KafkaRecord{}, inTxn: map[string]bool{}, failed: map[string]bool{}}
	host.Kafka = k
	return k
}

func (k *KafkaCluster) check(op, target string) error {
	if !slices.Contains(k.targets, target) {
		return host.Err("kafka: "+op+" "+target, wire.ErrnoDenied, fmt.Sprintf("target %q is not in the plugin's kafka grant", target))
	}
	return nil
}

func (k *KafkaCluster) partitionOf(r *wire.KafkaRecord) int32 {
	if r.HasPartition {
		return r.Partition
	}
	h := fnv.New32a()
	h.Write(r.Key)
	return int32(h.Sum32() % uint32(k.Partitions))
}

func (k *KafkaCluster) append(r wire.KafkaRecord) {
	parts := k.logs[r.Topic]
	if parts == nil {
		parts = make([][]wire.KafkaRecord, k.Partitions)
	}
	r.Offset = int64(len(parts[r.Partition]))
	parts[r.Partition] = append(parts[r.Partition], r)
	k.logs[r.Topic] = parts
}

// Produce implements the kafka capability.
func (k *KafkaCluster) Produce(p *wire.KafkaProduce) (wire.KafkaProduceResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.check("produce to", p.Target); err != nil {
		return nil, err
	}
	res := make(wire.KafkaProduceResult, len(p.Records))
	for i, r := range p.Records {
		r = cloneRecord(r)
		r.Partition = k.partitionOf(&r)
		if r.Partition < 0 || r.Partition >= k.Partitions {
			res[i] = wire.KafkaResult{Errno: wire.ErrnoInvalid, Partition: -1, Offset: -1, Err: fmt.Sprintf("no partition %d in %s", r.Partition, r.Topic)}
			k.failed[p.Target] = k.inTxn[p.Target]
			continue
		}
		if k.Fail != nil {
			if msg := k.Fail(&r); msg != "" {
				res[i] = wire.KafkaResult{Errno: wire.ErrnoRemote, Partition: -1, Offset: -1, Err: msg}
				k.failed[p.Target] = k.inTxn[p.Target]
				continue
			}
		}
		if k.inTxn[p.Target] {
			k.open[p.Target] = append(k.open[p.Target], r)
			res[i] = wire.KafkaResult{Partition: r.Partition, Offset: -1}
			continue
		}
		k.append(r)
		res[i] = wire.KafkaResult{Partition: r.Partition, Offset: r.Offset}
	}
	return res, nil
}

// Txn implements the kafka capability.
func (k *KafkaCluster) Txn(target string, op uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.check("transaction on", target); err != nil {
		return err
	}
	switch {
	case op == wire.KafkaBegin && k.inTxn[target]:
		return host.Err("kafka: begin on "+target, wire.ErrnoInvalid, "a transaction is already open")
	case op == wire.KafkaBegin:
		k.inTxn[target], k.failed[target] = true, false
		return nil
	case op != wire.KafkaCommit && op != wire.KafkaAbort:
		return host.Err("kafka: transaction on "+target, wire.ErrnoInvalid, fmt.Sprintf("unknown operation %d", op))
	case !k.inTxn[target]:
		return host.Err("kafka: end transaction on "+target, wire.ErrnoInvalid, "no transaction is open")
	}
	recs, bad := k.open[target], k.failed[target]
	delete(k.open, target)
	k.inTxn[target] = false
	if op == wire.KafkaCommit && bad {
		return host.Err("kafka: commit on "+target, wire.ErrnoInvalid, "a record of the transaction failed: it was aborted, not committed")
	}
	if op == wire.KafkaCommit {
		for _, r := range recs {
			k.append(r)
		}
	}
	return nil
}

// Last implements the kafka capability.
func (k *KafkaCluster) Last(q *wire.KafkaLast) (*wire.KafkaRecord, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.check("last of "+q.Topic+" on", q.Target); err != nil {
		return nil, false, err
	}
	parts := k.logs[q.Topic]
	if parts == nil {
		return nil, false, nil
	}
	log := parts[k.partitionOf(&wire.KafkaRecord{Key: q.Key})]
	for i := len(log) - 1; i >= 0; i-- {
		if bytes.Equal(log[i].Key, q.Key) {
			r := cloneRecord(log[i])
			return &r, true, nil
		}
	}
	return nil, false, nil
}

// Records returns the committed records of topic, partition by
// partition, each in offset order.
func (k *KafkaCluster) Records(topic string) []wire.KafkaRecord {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []wire.KafkaRecord
	for _, p := range k.logs[topic] {
		for _, r := range p {
			out = append(out, cloneRecord(r))
		}
	}
	return out
}

// InTxn reports whether target has an open transaction.
func (k *KafkaCluster) InTxn(target string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.inTxn[target]
}

func cloneRecord(r wire.KafkaRecord) wire.KafkaRecord {
	r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
	hs := make([]wire.KafkaHeader, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = wire.KafkaHeader{Key: h.Key, Value: bytes.Clone(h.Value)}
	}
	r.Headers = hs
	return r
}
