// Package secrets is the secrets capability: the host computes with
// secrets from puma.toml's [secrets] that the plugin was granted
// (grants = { secrets = ["webhook_hmac"] }), and the plugin never sees
// them. Importing it makes the module need the grant.
//
// To send a secret in an HTTP header, name it in the header instead (see
// package sdk/http); this package signs data with one.
//
// Outside Wasm (in unit tests) the secrets are those set with
// sdktest.Secret.
package secrets

import (
	"encoding/binary"
	"errors"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

// HMACSHA256 returns the HMAC-SHA256 of data keyed with the named secret.
func HMACSHA256(secret string, data []byte) ([]byte, error) { return mac(nil, 1, secret, data) }

// HMACSHA512 returns the HMAC-SHA512 of data keyed with the named secret.
func HMACSHA512(secret string, data []byte) ([]byte, error) { return mac(nil, 2, secret, data) }

// AppendHMACSHA256 appends the HMAC-SHA256 of data keyed with the named
// secret to dst: with room in dst, it allocates nothing (for a handler
// hashing a column of every row).
func AppendHMACSHA256(dst []byte, secret string, data []byte) ([]byte, error) {
	return mac(dst, 1, secret, data)
}

// AppendHMACSHA512 is AppendHMACSHA256 with SHA-512.
func AppendHMACSHA512(dst []byte, secret string, data []byte) ([]byte, error) {
	return mac(dst, 2, secret, data)
}

// MACs computes the MACs of many values with one call to the host, where
// HMACSHA256 makes one per value: a handler hashing a column of every row
// adds the values of a whole batch, then asks for their MACs once. The
// zero value is ready to use; reused, it allocates nothing once its
// buffers have grown.
type MACs struct {
	// Host, when set, computes the MACs in place of the module's host:
	// the host of a plugin it runs compiled into its own process (see
	// sdk.Instance) sets it. It is secret_hmac_batch without the memory
	// (hostabi/ABI.md): alg is 1 (HMAC-SHA256) or 2 (HMAC-SHA512), with
	// 0x100 for hex digits; data holds each value as a little-endian u32
	// length and its bytes; out has room for exactly their MACs.
	Host func(alg uint32, secret string, data, out []byte) error

	data []byte // a u32 length and the bytes per value, as the host reads them
	n    int
	out  []byte
}

// Reset forgets the values added, keeping the buffers.
func (m *MACs) Reset() { m.data, m.n = m.data[:0], 0 }

// Add adds a value (copied) to those to compute the MACs of.
func (m *MACs) Add(v []byte) {
	m.data = binary.LittleEndian.AppendUint32(m.data, uint32(len(v)))
	m.data = append(m.data, v...)
	m.n++
}

// Len returns the number of values added since the last Reset.
func (m *MACs) Len() int { return m.n }

// HMACSHA256 returns the HMAC-SHA256 of every value added, in the order
// added, keyed with the named secret, back to back: 32 bytes each, or
// with hexDigits 64 lower-case hex digits each. The result is valid until
// the next HMACSHA256 or HMACSHA512 on m.
func (m *MACs) HMACSHA256(secret string, hexDigits bool) ([]byte, error) {
	return m.sum(wire.HMACSHA256, 32, secret, hexDigits)
}

// HMACSHA512 is HMACSHA256 with SHA-512: 64 bytes, or 128 hex digits,
// each.
func (m *MACs) HMACSHA512(secret string, hexDigits bool) ([]byte, error) {
	return m.sum(wire.HMACSHA512, 64, secret, hexDigits)
}

func (m *MACs) sum(alg uint32, size int, secret string, hexDigits bool) ([]byte, error) {
	if hexDigits {
		alg, size = alg|wire.HMACHex, 2*size
	}
	need := m.n * size
	if cap(m.out) < need {
		m.out = make([]byte, need)
	}
	out := m.out[:need]
	if m.Host != nil {
		if err := m.Host(alg, secret, m.data, out); err != nil {
			// As the module's host call reports it.
			e := &host.Error{Op: "secrets: hmac with " + secret, Errno: wire.ErrnoInvalid, Msg: err.Error()}
			errors.As(err, &e.Errno)
			return nil, e
		}
		return out, nil
	}
	if err := macBatch(alg, secret, m.data, out); err != nil {
		return nil, err
	}
	return out, nil
}
