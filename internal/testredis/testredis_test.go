package testredis

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pumacdc/puma/internal/testproc"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if want := fmt.Sprintf("127.0.0.1:%d", s.Port()); s.Addr() != want {
		t.Errorf("Addr = %q, want %q", s.Addr(), want)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	c := client(t, s)
	xadd(t, c, "1-1", "one")
	wantStream(t, c, "1-1=one")

	// A clean stop and a restart on the same port keep the data.
	port := s.Port()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatal("server still accepts connections after Stop")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", s.Port(), port)
	}
	wantStream(t, c, "1-1=one")

	// So does a crash: appendfsync always puts every acknowledged write in
	// the append-only file first.
	xadd(t, c, "2-1", "two")
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	wantStream(t, c, "1-1=one,2-1=two")
	for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "always", "save": "", "bind": "127.0.0.1"} {
		got, err := c.ConfigGet(ctx, k).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", k, err)
		}
		if got[k] != want {
			t.Errorf("CONFIG GET %s = %q, want %q", k, got[k], want)
		}
	}
}

func TestRestartPortTaken(t *testing.T) {
	t.Parallel()
	testproc.CheckPortTaken(t, Start(t, Options{}))
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Port: 6379}, "Port 6379: reserved"},
		{Options{Port: -1}, "Port -1: out of range"},
		{Options{Port: 65536}, "Port 65536: out of range"},
	} {
		err := tt.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	if err := (Options{Port: 16379}).Validate(); err != nil {
		t.Errorf("Validate(Port 16379) = %v", err)
	}
}

// client returns a client of s, closed when the test ends. It reconnects
// by itself after a restart.
func client(t *testing.T, s *Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func xadd(t *testing.T, c *redis.Client, id, v string) {
	t.Helper()
	if err := c.XAdd(t.Context(), &redis.XAddArgs{Stream: "orders", ID: id, Values: []string{"v", v}}).Err(); err != nil {
		t.Fatalf("XADD orders %s: %v", id, err)
	}
}

// wantStream checks the whole stream "orders" as id=v pairs.
func wantStream(t *testing.T, c *redis.Client, want string) {
	t.Helper()
	msgs, err := c.XRange(t.Context(), "orders", "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE orders: %v", err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%s=%v", m.ID, m.Values["v"]))
	}
	if strings.Join(got, ",") != want {
		t.Errorf("XRANGE orders = %s, want %s", strings.Join(got, ","), want)
	}
}

// TestPassword: a server started with --requirepass is ready (the check
// authenticates) and refuses a client without the password.
func TestPassword(t *testing.T) {
	s := Start(t, Options{ExtraArgs: []string{"--requirepass", "pw"}})
	ctx := context.Background()
	if err := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: "pw"}).Ping(ctx).Err(); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	if err := redis.NewClient(&redis.Options{Addr: s.Addr()}).Ping(ctx).Err(); err == nil {
		t.Fatal("a client without the password was let in")
	}
}
