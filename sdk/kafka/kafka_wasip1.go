//go:build wasip1

package kafka

import (
	"errors"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma kafka_produce
//go:noescape
func kafkaProduce(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma kafka_txn
//go:noescape
func kafkaTxn(op uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport puma kafka_last
//go:noescape
func kafkaLast(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma kafka_result
//go:noescape
func kafkaResult(ptr unsafe.Pointer, n uint32) int32

var msg, resp []byte

func result(n int64) error {
	if int64(cap(resp)) < n {
		resp = make([]byte, n)
	}
	resp = resp[:n]
	if got := kafkaResult(unsafe.Pointer(unsafe.SliceData(resp)), uint32(n)); int64(got) != n {
		return errors.New("kafka: the host's result changed size")
	}
	return nil
}

func produce(p *wire.KafkaProduce) (wire.KafkaProduceResult, error) {
	msg = wire.AppendKafkaProduce(msg[:0], p)
	n := kafkaProduce(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		return nil, host.Fail("kafka: produce to "+p.Target, n)
	}
	if err := result(n); err != nil {
		return nil, err
	}
	res, err := wire.ParseKafkaProduceResult(resp, len(p.Records))
	if err != nil {
		return nil, errors.New("kafka: malformed result " + err.Error())
	}
	return res, nil
}

var txnOps = [...]string{wire.KafkaBegin: "begin", wire.KafkaCommit: "commit", wire.KafkaAbort: "abort"}

func txn(target string, op uint32) error {
	if n := kafkaTxn(op, unsafe.Pointer(unsafe.StringData(target)), uint32(len(target))); n < 0 {
		return host.Fail("kafka: "+txnOps[op]+" on "+target, int64(n))
	}
	return nil
}

func last(q *wire.KafkaLast) (*wire.KafkaRecord, bool, error) {
	msg = wire.AppendKafkaLast(msg[:0], q)
	n := kafkaLast(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n == int64(wire.ErrnoNotFound) {
		return nil, false, nil
	}
	if n < 0 {
		return nil, false, host.Fail("kafka: last of "+q.Topic+" on "+q.Target, n)
	}
	if err := result(n); err != nil {
		return nil, false, err
	}
	r, err := wire.ParseKafkaFound(resp)
	if err != nil {
		return nil, false, errors.New("kafka: malformed result " + err.Error())
	}
	return &r, true, nil
}
