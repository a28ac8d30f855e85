//go:build !wasip1

package kafka

import (
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

var txnOps = [...]string{wire.KafkaBegin: "begin", wire.KafkaCommit: "commit", wire.KafkaAbort: "abort"}

func cluster(op, target string) (host.KafkaCluster, error) {
	if host.Kafka == nil {
		return nil, host.Err("kafka: "+op+" "+target, wire.ErrnoDenied, "kafka is not granted (call sdktest.Kafka in the test)")
	}
	return host.Kafka, nil
}

func produce(p *wire.KafkaProduce) (wire.KafkaProduceResult, error) {
	k, err := cluster("produce to", p.Target)
	if err != nil {
		return nil, err
	}
	return k.Produce(p)
}

func txn(target string, op uint32) error {
	k, err := cluster(txnOps[op]+" on", target)
	if err != nil {
		return err
	}
	return k.Txn(target, op)
}

func last(q *wire.KafkaLast) (*wire.KafkaRecord, bool, error) {
	k, err := cluster("last of "+q.Topic+" on", q.Target)
	if err != nil {
		return nil, false, err
	}
	return k.Last(q)
}
