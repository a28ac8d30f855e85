package hostabi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
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
	nb, ok := m.Memory().Read(namePtr, nameLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: name out of bounds")
	}
	mac, rc := c.keyedMAC(wire.ImportSecretHMAC, alg, nb)
	if mac == nil {
		return rc
	}
	data, ok := m.Memory().Read(dataPtr, dataLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "secret_hmac: data out of bounds")
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

// secretHMACBatch is secret_hmac_batch(alg, name_ptr, name_len, data_ptr,
// data_len, out_ptr, out_cap) -> len: the MACs of many values (a str
// each in the data) keyed with a granted secret, written back to back,
// raw or as hex digits (wire.HMACHex): one call for a batch of rows
// instead of one per row.
func (c *caps) secretHMACBatch(_ context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doSecretHMACBatch(m, uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4]), uint32(stack[5]), uint32(stack[6])))
}

func (c *caps) doSecretHMACBatch(m api.Module, alg, namePtr, nameLen, dataPtr, dataLen, outPtr, outCap uint32) int64 {
	const fn = wire.ImportSecretHMACBatch
	nb, ok := m.Memory().Read(namePtr, nameLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "%s: name out of bounds", fn)
	}
	data, ok := m.Memory().Read(dataPtr, dataLen)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "%s: data out of bounds", fn)
	}
	return c.macBatch(alg, nb, data, func(n int, need uint32) ([]byte, int64) {
		if need > outCap {
			return nil, c.fail(wire.ErrnoInvalid, "%s: %d MACs take %d bytes, the buffer %d", fn, n, need, outCap)
		}
		// The MACs go straight into guest memory: no copy, no allocation.
		out, ok := m.Memory().Read(outPtr, need)
		if !ok {
			return nil, c.fail(wire.ErrnoInvalid, "%s: output out of bounds", fn)
		}
		return out, 0
	})
}

// macBatch is secret_hmac_batch on the host's own memory: the MACs of
// data's values keyed with the secret name, written to the buffer out
// returns for the n MACs' need bytes (or out's errno).
func (c *caps) macBatch(alg uint32, name, data []byte, out func(n int, need uint32) ([]byte, int64)) int64 {
	const fn = wire.ImportSecretHMACBatch
	hexOut := alg&wire.HMACHex != 0
	mac, rc := c.keyedMAC(fn, alg&^wire.HMACHex, name)
	if mac == nil {
		return rc
	}
	// Count the values first: the output must hold every MAC before the
	// host writes any.
	n := 0
	for at := 0; at < len(data); n++ {
		if len(data)-at < 4 {
			return c.fail(wire.ErrnoInvalid, "%s: value %d at offset %d: %d bytes left, want a u32 length", fn, n, at, len(data)-at)
		}
		l := binary.LittleEndian.Uint32(data[at:])
		if uint64(l) > uint64(len(data)-at-4) {
			return c.fail(wire.ErrnoInvalid, "%s: value %d at offset %d: length %d, but %d bytes follow", fn, n, at, l, len(data)-at-4)
		}
		at += 4 + int(l)
	}
	size := mac.h.Size()
	if hexOut {
		size *= 2
	}
	need := uint64(n) * uint64(size)
	if need > math.MaxInt32 {
		return c.fail(wire.ErrnoInvalid, "%s: %d MACs take %d bytes, more than one call returns (2^31-1)", fn, n, need)
	}
	dst, rc := out(n, uint32(need))
	if dst == nil && need > 0 {
		return rc
	}
	for at, o := 0, 0; at < len(data); o += size {
		l := int(binary.LittleEndian.Uint32(data[at:]))
		sum := mac.sum(data[at+4 : at+4+l])
		at += 4 + l
		if hexOut {
			hex.Encode(dst[o:o+size], sum)
		} else {
			copy(dst[o:o+size], sum)
		}
	}
	return int64(need)
}

// keyedMAC returns the MAC of algorithm alg keyed with the secret named
// at namePtr, or nil and the errno of a call of fn that names an unknown
// algorithm or a secret the plugin may not use.
func (c *caps) keyedMAC(fn string, alg uint32, nb []byte) (*keyedMAC, int64) {
	var h func() hash.Hash
	switch alg {
	case wire.HMACSHA256:
		h = sha256.New
	case wire.HMACSHA512:
		h = sha512.New
	default:
		return nil, c.fail(wire.ErrnoInvalid, "%s: unknown algorithm %d (1 HMAC-SHA256, 2 HMAC-SHA512)", fn, alg)
	}
	// A keyed MAC is kept per secret, made once its grant was checked,
	// and reset per call: keying costs two hash blocks and allocations,
	// and mask hashes every row. (A lookup by string(nb) allocates
	// nothing.)
	macs := &c.macs[alg-1]
	if mac := (*macs)[string(nb)]; mac != nil {
		return mac, 0
	}
	name := string(nb)
	if !slices.Contains(c.grants.Secrets, name) {
		return nil, c.fail(wire.ErrnoDenied, "%s: secret %q is not granted (add it to grants.secrets)", fn, name)
	}
	s, ok := c.secrets[name]
	if !ok {
		return nil, c.fail(wire.ErrnoDenied, "%s: no secret %q in [secrets]", fn, name)
	}
	mac := &keyedMAC{h: hmac.New(h, []byte(s.Reveal()))}
	if *macs == nil {
		*macs = make(map[string]*keyedMAC)
	}
	(*macs)[name] = mac
	return mac, 0
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
