//go:build wasip1

package redis

import (
	"errors"
	"strings"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma redis_exec
//go:noescape
func redisExec(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma redis_reply
//go:noescape
func redisReply(ptr unsafe.Pointer, n uint32) int32

var msg, resp []byte

func exec(q *wire.RedisBatch) (*wire.RedisReply, error) {
	msg = wire.AppendRedisBatch(msg[:0], q)
	n := redisExec(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		err := host.Fail(op, n)
		if e, ok := err.(*host.Error); ok {
			e.Msg = strings.TrimPrefix(e.Msg, op+": ")
		}
		return nil, err
	}
	if int64(cap(resp)) < n {
		resp = make([]byte, n)
	}
	resp = resp[:n]
	if got := redisReply(unsafe.Pointer(unsafe.SliceData(resp)), uint32(n)); int64(got) != n {
		return nil, errors.New("redis: the host's reply changed size")
	}
	r, err := wire.ParseRedisReply(resp)
	if err != nil {
		return nil, errors.New("redis: malformed reply message " + err.Error())
	}
	return &r, nil
}
