//go:build !wasip1

package secrets

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
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
	sum       [sha512.Size]byte // a MAC macBatch is copying out
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

// macBatch computes the MACs of data's values into out as the host does
// (hostabi's secret_hmac_batch), with the secrets set by sdktest.Secret.
func macBatch(alg uint32, secret string, data, out []byte) error {
	hexDigits := alg&wire.HMACHex != 0
	alg &^= wire.HMACHex
	for at, o := 0, 0; at < len(data); {
		l := int(binary.LittleEndian.Uint32(data[at:]))
		m, err := mac(last.sum[:0], alg, secret, data[at+4:at+4+l])
		if err != nil {
			return err
		}
		at += 4 + l
		if hexDigits {
			o += hex.Encode(out[o:], m)
		} else {
			o += copy(out[o:], m)
		}
	}
	return nil
}
