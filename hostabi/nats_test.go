package hostabi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/internal/testnats"
)

// natsEnv is a private nats-server and a host whose [targets] reach it
// as "events".
type natsEnv struct {
	t    *testing.T
	srv  *testnats.Server
	host *hostabi.Host
	js   jetstream.JetStream
}

func newNATSEnv(t *testing.T) *natsEnv {
	srv := testnats.Start(t, testnats.Options{})
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{
		Builtin: builtins(t),
		Targets: map[string]engine.Target{
			"events": {Kind: "nats", Settings: map[string]any{"url": srv.URL(), "publish_timeout": "2s", "connect_timeout": "1s"}},
			"other":  {Kind: "nats", Settings: map[string]any{"url": srv.URL()}},
		},
	})
	return &natsEnv{t: t, srv: srv, host: h, js: js}
}

func (e *natsEnv) sender(task string, cfg map[string]any) (*hostabi.Sender, error) {
	e.t.Helper()
	target, _ := cfg["target"].(string)
	if target == "" {
		target = "events"
	}
	return e.host.NewSender(context.Background(), task, plugin("nats", "builtin:nats", cfg, map[string]any{"nats": []any{target}}))
}

// stored reads every message of stream, in order.
func (e *natsEnv) stored(stream string) []jetstream.Msg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	n := int(info.State.Msgs)
	if n == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// TestNATSSenderEnvelopes: builtin:nats creates its stream and publishes
// each change of the corpus as the envelope the JSON senders write, on
// its database and table's subject, with its headers and idempotency key.
func TestNATSSenderEnvelopes(t *testing.T) {
	env := newNATSEnv(t)
	s, err := env.sender("shop", map[string]any{"target": "events", "stream": "PUMA", "create_stream": true})
	if err != nil {
		t.Fatal(err)
	}
	bs := corpus()
	sendAll(t, s, bs)
	// Sent again (a retry after a lost reply): the stream keeps one copy.
	sendAll(t, s, bs[:2])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := bytes.Split(bytes.TrimSuffix(envelopes(bs, false), []byte("\n")), []byte("\n"))
	var changes []*engine.Change
	for _, b := range bs {
		for i := range b.Changes {
			changes = append(changes, &b.Changes[i])
		}
	}
	got := env.stored("PUMA")
	if len(got) != len(want) || len(got) != len(changes) {
		t.Fatalf("stream holds %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		c := changes[i]
		table := "_"
		db := c.DB
		if c.Table != nil {
			table, db = c.Table.Name, c.Table.DB
		}
		h := m.Headers()
		for _, x := range []struct{ what, got, want string }{
			{"subject", m.Subject(), "puma." + db + "." + table},
			{"Nats-Msg-Id", h.Get("Nats-Msg-Id"), fmt.Sprintf("%s:%d:0", c.Tx.ID, c.Seq)},
			{"Puma-Op", h.Get("Puma-Op"), c.Op.String()},
			{"Puma-DB", h.Get("Puma-DB"), db},
			{"Puma-Position", h.Get("Puma-Position"), fmt.Sprintf("%s:%d", c.File, c.Pos)},
			{"data", string(m.Data()), string(want[i])},
		} {
			if x.got != x.want {
				t.Errorf("message %d: %s = %q, want %q", i, x.what, x.got, x.want)
			}
		}
		if h.Get("Puma-Commit") != "" {
			t.Errorf("message %d carries Puma-Commit without exactly_once", i)
		}
	}
}

// natsTxs are n transactions of two inserts each into customers, GTIDs
// 0-1-1 to 0-1-n.
func natsTxs(n int) []*engine.Batch {
	var bs []*engine.Batch
	for i := 1; i <= n; i++ {
		gtid := fmt.Sprintf("0-1-%d", i)
		tx := &engine.Tx{ID: gtid, GTID: gtid, ServerID: 1, File: "bin.000001", Pos: uint32(1000 * i)}
		row := func(seq uint32, id int64) engine.Change {
			return engine.Change{Op: engine.OpInsert, Table: customers, Tx: tx, Seq: seq, File: tx.File, Pos: tx.Pos + 10*seq,
				After: []any{id, fmt.Sprintf("c%d@example.com", id), "live", "1.00"}}
		}
		bs = append(bs, &engine.Batch{Seq: uint64(i), Tx: tx, Begin: true,
			Changes: []engine.Change{row(1, int64(2*i)), row(2, int64(2*i+1))},
			Commit:  &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(1000*i + 500), GTIDSet: gtid}})
	}
	return bs
}

// TestNATSExactlyOnce: with exactly_once the sender stores its position
// after each group, reports it when it starts again, and the host then
// skips what the stream holds: a restart that sends everything again
// adds only what is new, whatever the duplicates window (here 1 s,
// passed before the restart).
func TestNATSExactlyOnce(t *testing.T) {
	env := newNATSEnv(t)
	cfg := map[string]any{"target": "events", "stream": "EO", "create_stream": true, "exactly_once": true,
		"duplicate_window": "1s", "subject": "cdc.{db}.{table}", "format": "row"}
	s, err := env.sender("shop", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Positioned() {
		t.Fatal("exactly_once sender is not positioned")
	}
	bs := natsTxs(4)
	ctx := context.Background()
	if err := s.SendGroup(ctx, bs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // past the duplicates window
	s2, err := env.sender("shop", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.SendGroup(ctx, bs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var pos []string
	for _, m := range env.stored("EO") {
		if m.Subject() == "cdc.position.shop.nats" {
			pos = append(pos, string(m.Data()))
			continue
		}
		ids = append(ids, m.Headers().Get("Nats-Msg-Id"))
		if tok := m.Headers().Get("Puma-Commit"); tok == "" {
			t.Errorf("message %s has no Puma-Commit", m.Headers().Get("Nats-Msg-Id"))
		} else if p, err := hostabi.ParsePositionToken([]byte(tok)); err != nil || !strings.HasPrefix(m.Headers().Get("Nats-Msg-Id"), p.GTIDSet+":") {
			t.Errorf("message %s: Puma-Commit %s (%v) is not its transaction's", m.Headers().Get("Nats-Msg-Id"), tok, err)
		}
		if m.Subject() != "cdc.shop.customers" || !strings.HasPrefix(string(m.Data()), `{"id":`) {
			t.Errorf("message on %s: %s, want a row on cdc.shop.customers", m.Subject(), m.Data())
		}
	}
	var want []string
	for _, b := range bs {
		for _, c := range b.Changes {
			want = append(want, fmt.Sprintf("%s:%d:0", b.Tx.ID, c.Seq))
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("stream holds %q, want each change once: %q", ids, want)
	}
	if len(pos) != 2 {
		t.Fatalf("%d position messages, want 2 (one per group)", len(pos))
	}
	if p, err := hostabi.ParsePositionToken([]byte(pos[1])); err != nil || p.GTIDSet != "0-1-4" {
		t.Errorf("last position %s (%v), want the commit of 0-1-4", pos[1], err)
	}
}

// TestNATSOutage: a call made while the server is down fails with an
// error retrying may cure; once the server is back the same sender
// delivers, on the connection the host keeps.
func TestNATSOutage(t *testing.T) {
	env := newNATSEnv(t)
	s, err := env.sender("shop", map[string]any{"target": "events", "stream": "OUT", "create_stream": true, "exactly_once": true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bs := natsTxs(3)
	ctx := context.Background()
	if err := s.SendGroup(ctx, bs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := env.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	err = s.SendGroup(ctx, bs[1:2])
	var he *hostabi.Error
	if !errors.As(err, &he) || he.Fatal {
		t.Fatalf("send with the server down: %v, want a retryable error", err)
	}
	if err := env.srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = s.SendGroup(ctx, bs[1:])
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	n := 0
	for _, m := range env.stored("OUT") {
		if m.Headers().Get("Nats-Msg-Id") != "" {
			n++
		}
	}
	if n != 6 {
		t.Errorf("stream holds %d changes, want 6", n)
	}
}

func TestNATSRefusals(t *testing.T) {
	env := newNATSEnv(t)
	ctx := context.Background()
	t.Run("a target outside the grant", func(t *testing.T) {
		s, err := env.host.NewSender(ctx, "shop", plugin("nats", "builtin:nats", map[string]any{"target": "events", "stream": "X", "create_stream": true},
			map[string]any{"nats": []any{"other"}}))
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), `target "events" is not granted (grants.nats: other)`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no stream stores the subject", func(t *testing.T) {
		s, err := env.sender("shop", map[string]any{"target": "events", "subject": "nowhere.{table}"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Send(ctx, natsTxs(1)[0])
		var he *hostabi.Error
		if !errors.As(err, &he) || he.Fatal || !strings.Contains(err.Error(), "no stream stores this subject") {
			t.Fatalf("err = %v, want a retryable error naming the missing stream", err)
		}
	})
	t.Run("a stream of another name stores the subject", func(t *testing.T) {
		if _, err := env.js.CreateStream(ctx, jetstream.StreamConfig{Name: "THEIRS", Subjects: []string{"theirs.>"}}); err != nil {
			t.Fatal(err)
		}
		s, err := env.sender("shop", map[string]any{"target": "events", "subject": "theirs.{table}", "stream": "MINE"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Send(ctx, natsTxs(1)[0])
		var he *hostabi.Error
		if !errors.As(err, &he) || !he.Fatal {
			t.Fatalf("err = %v, want a fatal error: the messages would land in another stream", err)
		}
	})
	t.Run("config", func(t *testing.T) {
		for cfg, want := range map[string]map[string]any{
			"unknown placeholder {schema}":                           {"target": "events", "subject": "x.{schema}"},
			"stream is required":                                     {"target": "events", "exactly_once": true},
			"target is required":                                     {"stream": "X"},
			"markers: builtin:nats publishes one message per change": {"target": "events", "markers": true},
			`format "avro"`:                                          {"target": "events", "format": "avro"},
			"duplicate_window applies to a":                          {"target": "events", "stream": "X", "duplicate_window": "1m"},
		} {
			_, err := env.sender("shop", want)
			if err == nil || !strings.Contains(err.Error(), cfg) {
				t.Errorf("%v: err = %v, want %q", want, err, cfg)
			}
		}
	})
}

func TestNATSTargetSettings(t *testing.T) {
	secrets := map[string]engine.Secret{"pw": "x", "tok": "y"}
	ok := []map[string]any{
		{"url": "nats://127.0.0.1:4222"},
		{"urls": []any{"nats://a:4222", "tls://b:4222"}, "user": "puma", "password_secret": "pw", "tls": true, "ca_file": "/etc/ca.pem"},
		{"url": "nats://a:4222", "token_secret": "tok", "connect_timeout": "2s", "publish_timeout": "30s"},
	}
	for _, s := range ok {
		if err := hostabi.CheckTarget(engine.Target{Kind: "nats", Settings: s}, secrets); err != nil {
			t.Errorf("%v: %v", s, err)
		}
	}
	for want, s := range map[string]map[string]any{
		"url: required":                            {},
		`url: "http://a": want nats://`:            {"url": "http://a"},
		"urls[1]: \"nats://u:p@b\": credentials":   {"urls": []any{"nats://a", "nats://u:p@b"}},
		"password_secret: required with user":      {"url": "nats://a", "user": "puma"},
		"token_secret: give either":                {"url": "nats://a", "user": "puma", "password_secret": "pw", "token_secret": "tok"},
		"ca_file: needs tls = true":                {"url": "nats://a", "ca_file": "/x"},
		`password_secret: no secret "nope"`:        {"url": "nats://a", "user": "u", "password_secret": "nope"},
		"publish_timeout: 10m0s exceeds":           {"url": "nats://a", "publish_timeout": "10m"},
		"colour: unknown key (have: kind, ca_file": {"url": "nats://a", "colour": "red"},
	} {
		err := hostabi.CheckTarget(engine.Target{Kind: "nats", Settings: s}, secrets)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err = %v, want %q", s, err, want)
		}
	}
}
