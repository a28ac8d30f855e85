package hostabi_test

import (
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
)

func TestAMQPTargetSettings(t *testing.T) {
	secrets := map[string]engine.Secret{"pw": "x"}
	check := func(s map[string]any) error {
		return hostabi.CheckTarget(engine.Target{Kind: "amqp", Settings: s}, secrets)
	}
	for _, s := range []map[string]any{
		{"url": "amqp://rabbit.example.com"},
		{"url": "amqps://rabbit.example.com:5671/prod", "user": "puma", "password_secret": "pw", "tls": true,
			"connect_timeout": "3s", "publish_timeout": "1m", "heartbeat": "5s"},
	} {
		if err := check(s); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	for _, tt := range []struct {
		s    map[string]any
		want string
	}{
		{map[string]any{}, "url: required"},
		{map[string]any{"url": "http://x"}, "want an amqp:// or amqps:// URL"},
		{map[string]any{"url": "amqp://guest:guest@x/"}, "credentials do not belong in a URL"},
		{map[string]any{"url": "amqp://x/?heartbeat=5"}, "without query"},
		{map[string]any{"url": "amqps://x/", "tls": false}, "tls: false, but the url is amqps://"},
		{map[string]any{"url": "amqp://x/", "password": "guest"}, "password: unknown key (have: kind, connect_timeout, heartbeat, password_secret, publish_timeout, tls, url, user)"},
		{map[string]any{"url": "amqp://x/", "password_secret": "nope"}, `no secret "nope"`},
	} {
		if err := check(tt.s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.s, err, tt.want)
		}
	}
}
