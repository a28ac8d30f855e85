//go:build wasip1

package nats

import (
	"errors"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma nats_publish
//go:noescape
func natsPublish(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma nats_last
//go:noescape
func natsLast(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma nats_stream
//go:noescape
func natsStream(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport puma nats_result
//go:noescape
func natsResult(ptr unsafe.Pointer, n uint32) int32

var msg, res []byte

// result copies the host's result of n bytes.
func result(n int64) ([]byte, error) {
	if int64(cap(res)) < n {
		res = make([]byte, n)
	}
	res = res[:n]
	if got := natsResult(unsafe.Pointer(unsafe.SliceData(res)), uint32(n)); int64(got) != n {
		return nil, errors.New("nats: the host's result changed size")
	}
	return res, nil
}

func publish(q *wire.NATSPublish) ([]wire.NATSAck, error) {
	msg = wire.AppendNATSPublish(msg[:0], q)
	n := natsPublish(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		return nil, host.Fail("nats: publish to "+q.Target, n)
	}
	b, err := result(n)
	if err != nil {
		return nil, err
	}
	acks, err := wire.ParseNATSAcks(b)
	if err != nil {
		return nil, errors.New("nats: malformed acks " + err.Error())
	}
	if len(acks) != len(q.Msgs) {
		return nil, errors.New("nats: the host acknowledged a different number of messages")
	}
	return acks, nil
}

func last(q *wire.NATSLast) (*wire.NATSStored, error) {
	msg = wire.AppendNATSLast(msg[:0], q)
	n := natsLast(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		return nil, host.Fail("nats: last of "+q.Subject, n)
	}
	b, err := result(n)
	if err != nil {
		return nil, err
	}
	m, err := wire.ParseNATSStored(b)
	if err != nil {
		return nil, errors.New("nats: malformed stored message " + err.Error())
	}
	m.Data = append([]byte(nil), m.Data...)
	return &m, nil
}

func ensureStream(q *wire.NATSStream) error {
	msg = wire.AppendNATSStream(msg[:0], q)
	if n := natsStream(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg))); n < 0 {
		return host.Fail("nats: stream "+q.Name, int64(n))
	}
	return nil
}
