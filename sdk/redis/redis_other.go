//go:build !wasip1

package redis

import (
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// exec hands the batch, encoded and decoded as the host would, to the
// store sdktest.Redis set up for its target.
func exec(q *wire.RedisBatch) (*wire.RedisReply, error) {
	parsed, err := wire.ParseRedisBatch(wire.AppendRedisBatch(nil, q))
	if err != nil {
		return nil, host.Err(op, wire.ErrnoInvalid, "malformed batch message "+err.Error())
	}
	f, ok := host.Redis[q.Target]
	if !ok {
		return nil, host.Err(op, wire.ErrnoDenied, "target \""+q.Target+"\" is not in the plugin's redis grant (sdktest.Redis grants it)")
	}
	r, err := f(&parsed)
	if err != nil {
		return nil, err
	}
	// Through the reply message too, so values never alias the store.
	p, err := wire.ParseRedisReply(wire.AppendRedisReply(nil, r))
	if err != nil {
		return nil, host.Err(op, wire.ErrnoInvalid, "malformed reply message "+err.Error())
	}
	return &p, nil
}
