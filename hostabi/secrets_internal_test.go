package hostabi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"testing"
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
