package testnats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pumacdc/puma/internal/testproc"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	if want := fmt.Sprintf("nats://127.0.0.1:%d", s.Port()); s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	js := connect(t, s)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	publish(t, js, "orders.1", "one")
	wantMsg(t, js, 1, "orders.1", "one")

	// A clean stop and a restart on the same port keep the file store.
	port := s.Port()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := nats.Connect(s.URL(), nats.NoReconnect(), nats.Timeout(time.Second)); err == nil {
		t.Fatal("Connect succeeded after Stop")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", s.Port(), port)
	}
	js = connect(t, s)
	wantMsg(t, js, 1, "orders.1", "one")

	// A crash keeps it too, and the restarted server takes new messages.
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	js = connect(t, s)
	wantMsg(t, js, 1, "orders.1", "one")
	publish(t, js, "orders.2", "two")
	wantMsg(t, js, 2, "orders.2", "two")
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
		{Options{Port: 4222}, "Port 4222: reserved"},
		{Options{Port: -1}, "Port -1: out of range"},
		{Options{Port: 70000}, "Port 70000: out of range"},
	} {
		err := tt.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	if err := (Options{Port: 14222}).Validate(); err != nil {
		t.Errorf("Validate(Port 14222) = %v", err)
	}
}

// connect returns a JetStream context on a new connection to s, closed when
// the test ends.
func connect(t *testing.T, s *Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatalf("connect %s: %v", s.URL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, subject, data string) {
	t.Helper()
	if _, err := js.Publish(t.Context(), subject, []byte(data)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

// wantMsg checks the message at seq in stream ORDERS.
func wantMsg(t *testing.T, js jetstream.JetStream, seq uint64, subject, data string) {
	t.Helper()
	st, err := js.Stream(t.Context(), "ORDERS")
	if err != nil {
		t.Fatalf("stream ORDERS: %v", err)
	}
	m, err := st.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatalf("get message %d: %v", seq, err)
	}
	if m.Subject != subject || string(m.Data) != data {
		t.Errorf("message %d = %s %q, want %s %q", seq, m.Subject, m.Data, subject, data)
	}
}
