package hostabi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// TestKeyedMAC: a keyed MAC reused value after value gives each value's
// HMAC, as a MAC keyed afresh does, and allocates nothing.
func TestKeyedMAC(t *testing.T) {
	for _, h := range []func() hash.Hash{sha256.New, sha512.New} {
		k := &keyedMAC{h: hmac.New(h, []byte("pepper"))}
		for _, v := range []string{"ann@example.com", "", "bob@example.com", "ann@example.com"} {
			m := hmac.New(h, []byte("pepper"))
			m.Write([]byte(v))
			if got, want := k.sum([]byte(v)), m.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("MAC of %q: %x, want %x", v, got, want)
			}
		}
		data := []byte("user42@example.com")
		if n := testing.AllocsPerRun(100, func() { k.sum(data) }); n != 0 {
			t.Errorf("%v allocations per MAC, want 0", n)
		}
	}
}

func (m *memory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m.b)) {
		return nil, false
	}
	return m.b[off : off+n : off+n], true
}

// TestSecretHMACBatch: secret_hmac_batch writes the MAC of every value of
// its data, in order, raw or in hex, straight into guest memory without
// an allocation; it refuses malformed data, an output too small for every
// MAC (writing none), unknown algorithms and secrets not granted.
func TestSecretHMACBatch(t *testing.T) {
	m := memModule{mem: &memory{b: make([]byte, 1<<16)}}
	c := &caps{grants: Grants{Secrets: []string{"salt"}}, secrets: map[string]engine.Secret{"salt": "pepper", "other": "x"}}
	put := func(at uint32, b []byte) uint32 { copy(m.mem.b[at:], b); return uint32(len(b)) }
	const name, data, out = 0, 100, 4096
	nameLen := put(name, []byte("salt"))
	values := []string{"ann@example.com", "", "bob@example.com"}
	var msg []byte
	for _, v := range values {
		msg = binary.LittleEndian.AppendUint32(msg, uint32(len(v)))
		msg = append(msg, v...)
	}
	dataLen := put(data, msg)
	for _, tc := range []struct {
		alg  uint32
		h    func() hash.Hash
		size int
	}{
		{wire.HMACSHA256, sha256.New, 32},
		{wire.HMACSHA256 | wire.HMACHex, sha256.New, 64},
		{wire.HMACSHA512, sha512.New, 64},
		{wire.HMACSHA512 | wire.HMACHex, sha512.New, 128},
	} {
		clear(m.mem.b[out:])
		rc := c.doSecretHMACBatch(m, tc.alg, name, nameLen, data, dataLen, out, 1024)
		if rc != int64(len(values)*tc.size) {
			t.Fatalf("alg %#x: returned %d (%s), want %d", tc.alg, rc, c.lastErr, len(values)*tc.size)
		}
		for i, v := range values {
			h := hmac.New(tc.h, []byte("pepper"))
			h.Write([]byte(v))
			want := h.Sum(nil)
			if tc.alg&wire.HMACHex != 0 {
				want = []byte(hex.EncodeToString(want))
			}
			if got := m.mem.b[out+i*tc.size : out+(i+1)*tc.size]; !bytes.Equal(got, want) {
				t.Errorf("alg %#x, MAC of %q: %x, want %x", tc.alg, v, got, want)
			}
		}
		if m.mem.b[out+len(values)*tc.size] != 0 {
			t.Errorf("alg %#x: wrote beyond the MACs", tc.alg)
		}
	}
	var mod api.Module = m // as wazero passes it
	if n := testing.AllocsPerRun(100, func() {
		c.doSecretHMACBatch(mod, wire.HMACSHA256|wire.HMACHex, name, nameLen, data, dataLen, out, 1024)
	}); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
	if rc := c.doSecretHMACBatch(m, wire.HMACSHA256, name, nameLen, data, 0, out, 0); rc != 0 {
		t.Errorf("no values: returned %d (%s), want 0", rc, c.lastErr)
	}

	other := put(200, []byte("other"))
	for _, tc := range []struct {
		name                     string
		alg, namePtr, nameLen    uint32
		dataPtr, dataLen, outCap uint32
		data                     []byte
		errno                    wire.Errno
		msg                      string
	}{
		{"output too small", wire.HMACSHA256 | wire.HMACHex, name, nameLen, data, dataLen, 3*64 - 1, nil, wire.ErrnoInvalid,
			"secret_hmac_batch: 3 MACs take 192 bytes, the buffer 191"},
		{"length cut", wire.HMACSHA256, name, nameLen, 300, 6, 1024, []byte{1, 0, 0, 0, 'a', 9}, wire.ErrnoInvalid,
			"secret_hmac_batch: value 1 at offset 5: 1 bytes left, want a u32 length"},
		{"value cut", wire.HMACSHA256, name, nameLen, 300, 6, 1024, []byte{3, 0, 0, 0, 'a', 'b'}, wire.ErrnoInvalid,
			"secret_hmac_batch: value 0 at offset 0: length 3, but 2 bytes follow"},
		{"unknown algorithm", 3 | wire.HMACHex, name, nameLen, data, dataLen, 1024, nil, wire.ErrnoInvalid,
			"secret_hmac_batch: unknown algorithm 3"},
		{"not granted", wire.HMACSHA256, 200, other, data, dataLen, 1024, nil, wire.ErrnoDenied,
			`secret_hmac_batch: secret "other" is not granted`},
		{"data out of bounds", wire.HMACSHA256, name, nameLen, 1<<16 - 2, 4, 1024, nil, wire.ErrnoInvalid,
			"secret_hmac_batch: data out of bounds"},
	} {
		if tc.data != nil {
			put(tc.dataPtr, tc.data)
		}
		clear(m.mem.b[out:])
		rc := c.doSecretHMACBatch(m, tc.alg, tc.namePtr, tc.nameLen, tc.dataPtr, tc.dataLen, out, tc.outCap)
		if rc != int64(tc.errno) || !strings.HasPrefix(c.lastErr, tc.msg) {
			t.Errorf("%s: returned %d %q, want %d %q", tc.name, rc, c.lastErr, tc.errno, tc.msg)
		}
		if !bytes.Equal(m.mem.b[out:out+1024], make([]byte, 1024)) {
			t.Errorf("%s: wrote MACs", tc.name)
		}
	}
	if rc := c.doSecretHMACBatch(m, wire.HMACSHA256, name, nameLen, data, dataLen, 1<<16-8, 1024); rc != int64(wire.ErrnoInvalid) || c.lastErr != "secret_hmac_batch: output out of bounds" {
		t.Errorf("output out of bounds: returned %d %q", rc, c.lastErr)
	}
	if !raceEnabled { // 64 MiB of memory: too much under the race detector
		// 2^24+1 empty values whose MACs in hex are 128 bytes each: the
		// length would not fit the i32 result.
		n := 1<<24 + 1
		big := memModule{mem: &memory{b: make([]byte, 4*n+16)}}
		copy(big.mem.b, "salt")
		if rc := c.doSecretHMACBatch(big, wire.HMACSHA512|wire.HMACHex, 0, 4, 16, uint32(4*n), 0, 1<<31); rc != int64(wire.ErrnoInvalid) || !strings.Contains(c.lastErr, "more than one call returns") {
			t.Errorf("results over 2 GiB: returned %d %q", rc, c.lastErr)
		}
	}
}

// BenchmarkMaskHMAC measures the HMAC-SHA256 of one masked value (an
// email address) as secret_hmac computes it, keyed once, against keying a
// MAC per value.
func BenchmarkMaskHMAC(b *testing.B) {
	data := []byte("user42@example.com")
	b.Run("keyed", func(b *testing.B) {
		k := &keyedMAC{h: hmac.New(sha256.New, []byte("pepper"))}
		b.ReportAllocs()
		for b.Loop() {
			k.sum(data)
		}
	})
	b.Run("rekeyed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, []byte("pepper"))
			m.Write(data)
			m.Sum(nil)
		}
	})
}

// The MACs of a native instance (NativeHost.HMACBatch) are those of
// secret_hmac_batch, under the same grant check and errors.
func TestNativeHMACBatch(t *testing.T) {
	c := &caps{grants: Grants{Secrets: []string{"salt"}}, secrets: map[string]engine.Secret{"salt": "pepper", "other": "x"}}
	h := nativeHost{c}
	var data []byte
	for _, v := range []string{"ann@example.com", ""} {
		data = binary.LittleEndian.AppendUint32(data, uint32(len(v)))
		data = append(data, v...)
	}
	out := make([]byte, 2*64)
	if err := h.HMACBatch(wire.HMACSHA256|wire.HMACHex, "salt", data, out); err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("pepper"))
	m.Write([]byte("ann@example.com"))
	if got, want := string(out[:64]), hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("MAC %s, want %s", got, want)
	}
	for _, tc := range []struct {
		secret string
		out    int
		errno  wire.Errno
		msg    string
	}{
		{"other", 128, wire.ErrnoDenied, `secret_hmac_batch: secret "other" is not granted`},
		{"salt", 127, wire.ErrnoInvalid, "secret_hmac_batch: 2 MACs take 128 bytes, the buffer 127"},
	} {
		err := h.HMACBatch(wire.HMACSHA256|wire.HMACHex, tc.secret, data, make([]byte, tc.out))
		if err == nil || !errors.Is(err, tc.errno) || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("%s into %d bytes: %v, want errno %v and %q", tc.secret, tc.out, err, tc.errno, tc.msg)
		}
	}
}
