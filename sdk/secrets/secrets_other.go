//go:build !wasip1

package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// last is the MAC of the last secret used, keyed once and reset per call,
// as the host keeps one per secret.
var last struct {
	alg       uint32
	name, key string
	h         hash.Hash
}

func mac(dst []byte, alg uint32, secret string, data []byte) ([]byte, error) {
	key, ok := host.Secrets[secret]
	if !ok {
		return dst, host.Err("secrets: hmac with "+secret, wire.ErrnoDenied, "secret "+secret+" is not granted")
	}
	if last.h == nil || last.alg != alg || last.name != secret || last.key != key {
		h := sha256.New
		if alg == 2 {
			h = func() hash.Hash { return sha512.New() }
		}
		last.alg, last.name, last.key, last.h = alg, secret, key, hmac.New(h, []byte(key))
	}
	last.h.Reset()
	last.h.Write(data)
	return last.h.Sum(dst), nil
}
