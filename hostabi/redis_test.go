package hostabi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testredis"
)

type redisCmd = map[string]any

// redisSender starts testdata/rediscmd on a host whose [targets] are
// targets, granted grant, running commands with each call.
func redisSender(t *testing.T, targets map[string]engine.Target, grant []any, cfg map[string]any) (*hostabi.Sender, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rediscmd.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/rediscmd"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{Targets: targets, Secrets: map[string]engine.Secret{"pw": "s3cret", "wrong": "nope"}})
	return h.NewSender(context.Background(), "t", plugin("rediscmd", filepath.Join(dir, "rediscmd.wasm"), cfg, map[string]any{"redis": grant}))
}

// runRedis sends one batch and returns the call's outcome: "reply: [...]"
// or the error's kind and message.
func runRedis(t *testing.T, s *hostabi.Sender) string {
	t.Helper()
	err := s.Send(context.Background(), ledgerBatches()[0])
	if err == nil {
		t.Fatal("the call succeeded; rediscmd always fails it with its outcome")
	}
	_, after, ok := strings.Cut(err.Error(), "fatal error: ")
	if !ok {
		t.Fatalf("the call failed without rediscmd's outcome: %v", err)
	}
	return after
}

func redisTarget(addr string, extra map[string]any) engine.Target {
	s := map[string]any{"addr": addr}
	for k, v := range extra {
		s[k] = v
	}
	return engine.Target{Kind: "redis", Settings: s}
}

func TestRedisCommands(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, atomic := range []bool{false, true} {
		t.Run(map[bool]string{false: "pipelined", true: "atomic"}[atomic], func(t *testing.T) {
			rc.Del(ctx, "s", "k2")
			multis := commandCalls(t, rc, "multi")
			s, err := redisSender(t, map[string]engine.Target{"cache": redisTarget(srv.Addr(), nil)}, []any{"cache"}, map[string]any{
				"target": "cache", "atomic": atomic, "commands": []any{
					redisCmd{"op": "GET", "key": "k"},
					redisCmd{"op": "XADD", "key": "s", "args": []any{"op", "c", "value", `{"id":1}`}},
					redisCmd{"op": "XADD", "key": "s", "args": []any{"op", "u"}},
					redisCmd{"op": "SET", "key": "k2", "args": []any{"after"}},
					redisCmd{"op": "GET", "key": "k2"},
					redisCmd{"op": "GET", "key": "missing"},
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := runRedis(t, s)
			entries, err := rc.XRange(ctx, "s", "-", "+").Result()
			if err != nil || len(entries) != 2 {
				t.Fatalf("stream s: %v %v, want 2 entries", entries, err)
			}
			want := `reply: ["before","` + entries[0].ID + `","` + entries[1].ID + `","OK","after",null]`
			if got != want {
				t.Errorf("outcome %s\nwant    %s", got, want)
			}
			if v := entries[0].Values; v["op"] != "c" || v["value"] != `{"id":1}` {
				t.Errorf("entry 0 = %v", v)
			}
			if d := commandCalls(t, rc, "multi") - multis; atomic != (d == 1) {
				t.Errorf("MULTI sent %d times for atomic = %v", d, atomic)
			}
		})
	}
}

// commandCalls returns how often the server ran cmd, from INFO
// commandstats.
func commandCalls(t *testing.T, rc *redis.Client, cmd string) int {
	t.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n := 0
			for _, c := range rest {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	return 0
}

// TestRedisTrimsStreams: MAXLEN ~ keeps a stream near its bound.
func TestRedisTrimsStreams(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	var cmds []any
	for range 300 {
		cmds = append(cmds, redisCmd{"op": "XADD", "key": "s", "maxlen": 10, "args": []any{"f", "v"}})
	}
	s, err := redisSender(t, map[string]engine.Target{"cache": redisTarget(srv.Addr(), nil)}, []any{"cache"}, map[string]any{"target": "cache", "commands": cmds})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runRedis(t, s)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	n, err := rc.XLen(context.Background(), "s").Result()
	// Approximate trimming drops whole nodes (100 entries by default).
	if err != nil || n < 10 || n > 200 {
		t.Errorf("XLEN = %d (%v), want about 10 after 300 XADDs with maxlen 10", n, err)
	}
}

func TestRedisRefusals(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{ExtraArgs: []string{"--requirepass", "s3cret"}})
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "s3cret"})
	defer rc.Close()
	if err := rc.Set(context.Background(), "puma:str", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	targets := map[string]engine.Target{
		"good":   redisTarget(srv.Addr(), map[string]any{"password_secret": "pw", "key_prefix": "puma:"}),
		"badpw":  redisTarget(srv.Addr(), map[string]any{"password_secret": "wrong"}),
		"nopw":   redisTarget(srv.Addr(), nil),
		"banned": redisTarget(srv.Addr(), nil),
	}
	xadd := func(key string) []any { return []any{redisCmd{"op": "XADD", "key": key, "args": []any{"f", "v"}}} }
	for _, tt := range []struct {
		name, target string
		cmds         []any
		atomic       bool
		want         string
	}{
		{"target not granted", "banned", xadd("puma:s"), false, `denied: redis: target "banned" is not in the plugin's redis grant`},
		{"key outside key_prefix", "good", xadd("other:s"), false, `denied: redis: target "good": command 0 (XADD): key "other:s" lies outside the target's key_prefix "puma:"`},
		{"wrong password", "badpw", xadd("puma:s"), false, "denied: redis: target \"badpw\": WRONGPASS"},
		{"no password", "nopw", xadd("puma:s"), false, "denied: redis: target \"nopw\": command 0 (XADD \"puma:s\"): NOAUTH"},
		{"wrong type in EXEC", "good", append(xadd("puma:s"), xadd("puma:str")...), true,
			`invalid: redis: target "good": command 1 (XADD "puma:str"): WRONGTYPE Operation against a key holding the wrong kind of value; the transaction's other 1 commands were applied (Redis does not roll back a failed command of an EXEC)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisSender(t, targets, []any{"good", "badpw", "nopw"}, map[string]any{"target": tt.target, "atomic": tt.atomic, "commands": tt.cmds})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := runRedis(t, s); !strings.HasPrefix(got, tt.want) {
				t.Errorf("outcome %s\nwant    %s...", got, tt.want)
			}
		})
	}
}

// TestRedisOutage: while the server is down a call fails as remote (retry
// may help); once it is back the same plugin reaches it again.
func TestRedisOutage(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	s, err := redisSender(t, map[string]engine.Target{"cache": redisTarget(srv.Addr(), map[string]any{"timeout": "2s"})}, []any{"cache"},
		map[string]any{"target": "cache", "commands": []any{redisCmd{"op": "SET", "key": "k", "args": []any{"v"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := runRedis(t, s); got != `reply: ["OK"]` {
		t.Fatalf("outcome %s", got)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := runRedis(t, s); !strings.HasPrefix(got, `remote: redis: target "cache": command 0 (SET "k"): dial tcp `) {
		t.Errorf("outcome while down: %s", got)
	}
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runRedis(t, s); got != `reply: ["OK"]` {
		t.Errorf("outcome after restart: %s", got)
	}
}

// TestRedisAppliedPosition: a sender reads its position key in Init and
// reports it; a token the host did not write is refused.
func TestRedisAppliedPosition(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	targets := map[string]engine.Target{"cache": redisTarget(srv.Addr(), nil)}
	cfg := map[string]any{"target": "cache", "position": "pos"}
	s, err := redisSender(t, targets, []any{"cache"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Positioned() {
		t.Error("not positioned after reporting an empty position")
	}
	s.Close()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	tok, err := hostabi.PositionToken(*ledgerBatches()[1].Commit)
	if err != nil {
		t.Fatal(err)
	}
	rc.Set(context.Background(), "pos", tok, 0)
	s, err = redisSender(t, targets, []any{"cache"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Batch 1 is included in the position: skipped, so the call never
	// reaches the guest.
	if err := s.Send(context.Background(), ledgerBatches()[0]); err != nil {
		t.Errorf("a batch the position includes was sent: %v", err)
	}
	rc.Set(context.Background(), "pos", "garbage", 0)
	if _, err := redisSender(t, targets, []any{"cache"}, cfg); err == nil || !strings.Contains(err.Error(), "not a position token") {
		t.Errorf("err = %v, want the token refused", err)
	}
}

func TestRedisTargetSettings(t *testing.T) {
	secrets := map[string]engine.Secret{"pw": "x"}
	ok := map[string]any{"addr": "r:6380", "db": int64(3), "username": "puma", "password_secret": "pw", "tls": true,
		"tls_server_name": "r.example.com", "key_prefix": "puma:", "dial_timeout": "1s", "timeout": "3s"}
	if err := hostabi.CheckTarget(engine.Target{Kind: "redis", Settings: ok}, secrets); err != nil {
		t.Fatal(err)
	}
	err := hostabi.CheckTarget(engine.Target{Kind: "redis", Settings: map[string]any{"addr": "nohost", "db": int64(-1),
		"tls_server_name": "x", "timeout": "10m", "url": "redis://x"}}, secrets)
	for _, w := range []string{`addr: "nohost": want host:port`, "db: want an integer from 0 to 65536, got -1",
		"tls_server_name: set without tls = true", "timeout: 10m0s exceeds 5m0s",
		"url: unknown key (have: kind, addr, db, dial_timeout, key_prefix, password_secret, timeout, tls, tls_server_name, username)"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}
