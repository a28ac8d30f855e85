package hostabi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"slices"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/hostabi/wire"
)

// secretHMAC is secret_hmac(alg, name_ptr, name_len, data_ptr, data_len,
// out_ptr, out_cap) -> len: the MAC of the data keyed with a granted
// secret. The key never enters the guest.
func (c *caps) secretHMAC(_ context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doSecretHMAC(m, uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4]), uint32(stack[5]), uint32(stack[6])))
}

func (c *caps) doSecretHMAC(m api.Module, alg, namePtr, nameLen, dataPtr, dataLen, outPtr, outCap uint32) int64 {
	var h func() hash.Hash
	switch alg {
	case wire.HMACSHA256:
		h = sha256.New
	case wire.HMACSHA512:
		h = sha512.New
	default:
		return c.fail(wire.ErrnoInvalid, "secret_hmac: unknown algorithm %d (1 HMAC-SHA256, 2 HMAC-SHA512)", alg)
	}
	nb, ok := m.Memory().Read(namePtr, nameLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: name out of bounds")
	}
	data, ok := m.Memory().Read(dataPtr, dataLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: data out of bounds")
	}
	// A keyed MAC is kept per secret, made once its grant was checked,
	// and reset per call: keying costs two hash blocks and allocations,
	// and mask hashes every row. (A lookup by string(nb) allocates
	// nothing.)
	macs := &c.macs[alg-1]
	mac := (*macs)[string(nb)]
	if mac == nil {
		name := string(nb)
		if !slices.Contains(c.grants.Secrets, name) {
			return c.fail(wire.ErrnoDenied, "secret_hmac: secret %q is not granted (add it to grants.secrets)", name)
		}
		s, ok := c.secrets[name]
		if !ok {
			return c.fail(wire.ErrnoDenied, "secret_hmac: no secret %q in [secrets]", name)
		}
		mac = &keyedMAC{h: hmac.New(h, []byte(s.Reveal()))}
		if *macs == nil {
			*macs = make(map[string]*keyedMAC)
		}
		(*macs)[name] = mac
	}
	sum := mac.sum(data)
	if uint32(len(sum)) > outCap {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: the MAC has %d bytes, the buffer %d", len(sum), outCap)
	}
	if !m.Memory().Write(outPtr, sum) {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: output out of bounds")
	}
	return int64(len(sum))
}

// keyedMAC is a secret's HMAC keyed once: Reset restores the keyed state
// (hmac keeps the hashes of the padded key) instead of hashing the key
// again, and the sum goes to a buffer of its own, so that a MAC per value
// (mask hashes a column of every row) allocates nothing.
type keyedMAC struct {
	h   hash.Hash
	out [sha512.Size]byte
}

// sum returns the MAC of data, valid until the next call.
func (k *keyedMAC) sum(data []byte) []byte {
	k.h.Reset()
	k.h.Write(data)
	return k.h.Sum(k.out[:0])
}
