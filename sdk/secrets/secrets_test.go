package secrets_test

import (
	"bytes"
	"encoding/hex"
	"errors"
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
