package secrets_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/sdktest"
	"github.com/pumacdc/puma/sdk/secrets"
)

// TestMACs: the MACs of many values asked at once are, back to back and
// in order, each value's own MAC, raw or in hex; a reused MACs allocates
// nothing; a secret not granted is an error.
func TestMACs(t *testing.T) {
	sdktest.Secret("salt", "pepper")
	values := []string{"ann@example.com", "", "bob@example.com"}
	var m secrets.MACs
	for round := range 2 {
		m.Reset()
		for _, v := range values {
			m.Add([]byte(v))
		}
		if m.Len() != len(values) {
			t.Fatalf("Len %d, want %d", m.Len(), len(values))
		}
		for _, tc := range []struct {
			name string
			sum  func(string, bool) ([]byte, error)
			one  func(string, []byte) ([]byte, error)
		}{
			{"SHA-256", m.HMACSHA256, secrets.HMACSHA256},
			{"SHA-512", m.HMACSHA512, secrets.HMACSHA512},
		} {
			for _, hexDigits := range []bool{false, true} {
				var want []byte
				for _, v := range values {
					mac, err := tc.one("salt", []byte(v))
					if err != nil {
						t.Fatal(err)
					}
					if hexDigits {
						mac = []byte(hex.EncodeToString(mac))
					}
					want = append(want, mac...)
				}
				got, err := tc.sum("salt", hexDigits)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("round %d, %s, hex %v: %q, %v; want %q", round, tc.name, hexDigits, got, err, want)
				}
			}
		}
	}
	if n := testing.AllocsPerRun(20, func() {
		m.Reset()
		for _, v := range values {
			m.Add([]byte(v))
		}
		m.HMACSHA256("salt", true)
	}); n != 0 {
		t.Errorf("%v allocations per round, want 0", n)
	}
	if _, err := m.HMACSHA256("nope", true); !errors.Is(err, wire.ErrnoDenied) {
		t.Errorf("ungranted secret: %v, want ErrnoDenied", err)
	}
}

// A MACs whose Host is set (a plugin the host runs natively) asks it, not
// the module's host, and reports its refusal as the host call would.
func TestMACsHost(t *testing.T) {
	var m secrets.MACs
	var gotAlg uint32
	m.Host = func(alg uint32, secret string, data, out []byte) error {
		gotAlg = alg
		if secret != "salt" {
			return wire.ErrnoDenied
		}
		for i := range out {
			out[i] = 'x'
		}
		return nil
	}
	m.Add([]byte("a"))
	sums, err := m.HMACSHA256("salt", true)
	if err != nil || string(sums) != string(bytes.Repeat([]byte("x"), 64)) || gotAlg != wire.HMACSHA256|wire.HMACHex {
		t.Errorf("through Host: %q, %v, alg %#x", sums, err, gotAlg)
	}
	_, err = m.HMACSHA512("pepper", false)
	if !errors.Is(err, wire.ErrnoDenied) || !strings.HasPrefix(err.Error(), "secrets: hmac with pepper: ") {
		t.Errorf("a refusal: %v", err)
	}
}
