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

func mac(dst []byte, alg uint32, secret string, data []byte) ([]byte, error) {
	key, ok := host.Secrets[secret]
	if !ok {
		return dst, host.Err("secrets: hmac with "+secret, wire.ErrnoDenied, "secret "+secret+" is not granted")
	}
	h := sha256.New
	if alg == 2 {
		h = func() hash.Hash { return sha512.New() }
	}
	m := hmac.New(h, []byte(key))
	m.Write(data)
	return m.Sum(dst), nil
}
