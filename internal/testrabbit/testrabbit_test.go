package testrabbit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/pumacdc/puma/internal/testproc"
)

// One node serves the whole lifecycle: each start costs seconds.
func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Config: []string{"consumer_timeout = 60000"}})
	if want := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", s.Port()); s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	if want := fmt.Sprintf("puma-test-%d@localhost", s.Port()); s.Node() != want {
		t.Errorf("Node = %q, want %q", s.Node(), want)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	ch := channel(t, s)
	if _, err := ch.QueueDeclare("orders", true, false, false, false, nil); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	publish(t, ch, "one")
	publish(t, ch, "two")
	wantGet(t, ch, "one")
	wantCtl(t, s, "orders\t1", "list_queues", "name", "messages")
	wantCtl(t, s, "consumer_timeout", "environment") // from Options.Config
	wantIsolated(t, s)

	// A clean stop keeps the durable queue and its persistent message; a
	// restart needs the same port back.
	testproc.CheckPortTaken(t, s)
	if _, err := amqp.Dial(s.URL()); err == nil {
		t.Fatal("Dial succeeded after Stop")
	}
	port := s.Port()
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", s.Port(), port)
	}
	ch = channel(t, s)
	wantGet(t, ch, "two")

	// So does a crash: a confirmed persistent message is on disk.
	publish(t, ch, "three")
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	ch = channel(t, s)
	wantGet(t, ch, "three")
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Port: 5672}, "Port 5672: reserved"},
		{Options{Port: 99999}, "Port 99999: out of range"},
		{Options{Config: []string{"consumer_timeout = 1", "oops"}}, `Config[1] "oops": want one KEY = VALUE line`},
		{Options{Config: []string{"a = 1\nb = 2"}}, `Config[0]`},
	} {
		err := tt.opts.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	if err := (Options{Port: 15672, Config: []string{"consumer_timeout = 1"}}).Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

// channel opens a connection and a channel in confirm mode, closed when the
// test ends.
func channel(t *testing.T, s *Server) *amqp.Channel {
	t.Helper()
	c, err := amqp.Dial(s.URL())
	if err != nil {
		t.Fatalf("dial %s: %v", s.URL(), err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm mode: %v", err)
	}
	return ch
}

// publish sends a persistent message to queue orders and waits for the
// broker's confirm.
func publish(t *testing.T, ch *amqp.Channel, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "orders", true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
	if err != nil {
		t.Fatalf("publish %q: %v", body, err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("confirm of %q: ack %v, %v", body, ok, err)
	}
}

// wantGet gets and acknowledges the next message of queue orders.
func wantGet(t *testing.T, ch *amqp.Channel, want string) {
	t.Helper()
	m, ok, err := ch.Get("orders", false)
	if err != nil || !ok {
		t.Fatalf("get from orders: ok %v, %v; want %q", ok, err, want)
	}
	if string(m.Body) != want {
		t.Errorf("got %q, want %q", m.Body, want)
	}
	if err := m.Ack(false); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

// wantCtl runs rabbitmqctl args and checks that its output contains want.
func wantCtl(t *testing.T, s *Server, want string, args ...string) {
	t.Helper()
	out, err := s.Ctl(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, want) {
		t.Errorf("rabbitmqctl %s: want %q in:\n%s", strings.Join(args, " "), want, out)
	}
}

// wantIsolated checks that the node registered with its own epmd only, not
// the system's on 4369, and has a cookie of its own.
func wantIsolated(t *testing.T, s *Server) {
	t.Helper()
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		t.Fatal(err)
	}
	names := func(port int) string {
		cmd := exec.Command(epmd, "-names")
		cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
		out, _ := cmd.CombinedOutput() // fails when no epmd listens
		return string(out)
	}
	name, _, _ := strings.Cut(s.Node(), "@")
	if got := names(s.epmdPort); !strings.Contains(got, "name "+name+" at port "+strconv.Itoa(s.distPort)) {
		t.Errorf("own epmd on %d does not list %s at port %d:\n%s", s.epmdPort, name, s.distPort, got)
	}
	if got := names(4369); strings.Contains(got, name) {
		t.Errorf("system epmd lists %s:\n%s", name, got)
	}
	cookie, err := os.ReadFile(filepath.Join(s.Dir(), ".erlang.cookie"))
	if err != nil {
		t.Fatal(err)
	}
	if sys, err := os.ReadFile("/var/lib/rabbitmq/.erlang.cookie"); err == nil && string(sys) == string(cookie) {
		t.Error("the node shares the system node's cookie")
	}
}
