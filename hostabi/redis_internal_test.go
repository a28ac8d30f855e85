package hostabi

import (
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
)

// TestRedisSettingsDefaults holds README's target table to the code, and
// the TLS client to the settings (the server name defaults to addr's
// host).
func TestRedisSettingsDefaults(t *testing.T) {
	v, err := parseTarget(engine.Target{Kind: "redis", Settings: map[string]any{"addr": "r.example.com:6380", "tls": true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := v.(redisSettings)
	if s.DB != 0 || s.DialTimeout != 5*time.Second || s.Timeout != 10*time.Second || s.KeyPrefix != "" || s.Password != "" {
		t.Errorf("defaults %+v", s)
	}
	c, err := dialRedis(s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// go-redis turns MaxRetries -1 (never) into 0 retries; 3 is its
	// default.
	o := c.(*redisConn).c.Options()
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "r.example.com" || o.MaxRetries != 0 || o.ReadTimeout != 10*time.Second {
		t.Errorf("client options: TLS server name %v, MaxRetries %d, ReadTimeout %s", o.TLSConfig != nil && o.TLSConfig.ServerName == "r.example.com", o.MaxRetries, o.ReadTimeout)
	}
}
