package hostabi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// The handler built-ins as Wasm modules, in a chain: mask (its salt a
// secret only the host holds), rename, route.
func TestBuiltinHandlers(t *testing.T) {
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: builtins(t), Secrets: map[string]engine.Secret{"salt": "pepper"}})
	ctx := context.Background()
	var chain []*hostabi.Handler
	for _, p := range []engine.PluginConfig{
		plugin("mask", "builtin:mask", map[string]any{"salt_secret": "salt", "hash": []any{"shop.customers.email"}, "redact": []any{"shop.*.status"}, "replacement": "test"},
			map[string]any{"secrets": []any{"salt"}}),
		plugin("rename", "builtin:rename", map[string]any{"tables": map[string]any{"shop.customers": "crm.clients"}, "columns": map[string]any{"shop.customers.amount": "total"}}, nil),
		plugin("route", "builtin:route", map[string]any{"key": "{db}/{table}/{id}"}, nil),
	} {
		hd, err := h.NewHandler(ctx, "shop", p)
		if err != nil {
			t.Fatal(err)
		}
		defer hd.Close()
		chain = append(chain, hd)
	}
	tx := &engine.Tx{ID: "0-1-1", GTID: "0-1-1", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: customers, After: []any{int64(1), "ann@example.com", "live", "10.50"}, Seq: 1, Tx: tx, File: "bin.000001", Pos: 100},
	}}
	var err error
	for _, hd := range chain {
		if b, err = hd.Handle(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m := hmac.New(sha256.New, []byte("pepper"))
	m.Write([]byte("ann@example.com"))
	c := b.Changes[0]
	e := engine.Envelopes{Name: "shop"}
	e.StartBatch(b, time.Unix(0, 0))
	got := string(e.AppendOne(nil, &c))
	want := `{"before":null,"after":{"id":1,"email":"` + hex.EncodeToString(m.Sum(nil)) + `","status":"test","total":"10.50"},` +
		`"source":{"version":"2.0","connector":"mariadb","name":"shop","ts_ms":0,"snapshot":"false","db":"crm","table":"clients",` +
		`"server_id":1,"gtid":"0-1-1","file":"bin.000001","pos":100,"row":0,"thread":null,"query":null},` +
		`"transaction":{"id":"0-1-1","total_order":1,"data_collection_order":1},"op":"c","ts_ms":0,"ts_us":0,"ts_ns":0,` +
		`"puma":{"tx":{"id":"0-1-1","seq":1},"key":{"id":1}}}`
	if got != want {
		t.Errorf("envelope\n got %s\nwant %s", got, want)
	}
	if c.Route != "crm/clients/1" {
		t.Errorf("route %q", c.Route)
	}
}

// builtin:http as a Wasm module: a batch sent alone is one POST, under the
// same Idempotency-Key when it is sent again; retryable and fatal
// statuses.
func TestBuiltinHTTP(t *testing.T) {
	status := 200
	srv := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
	env := newNetEnv(t, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
	url := "http://hooks.test:" + srv.port() + "/puma"
	s, err := env.host.NewSender(context.Background(), "shop", plugin("http", "builtin:http",
		map[string]any{"url": url, "hmac": map[string]any{"secret": "hmac_key"}},
		map[string]any{"http": []any{url}, "allow_private": true, "secrets": []any{"hmac_key"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bs := corpus()
	sendAll(t, s, bs)
	var keys []string
	srv.mu.Lock()
	for i, r := range srv.reqs {
		keys = append(keys, r.header.Get("Idempotency-Key"))
		m := hmac.New(sha256.New, []byte("k3y"))
		m.Write([]byte(r.body))
		if sig := r.header.Get("X-Puma-Signature"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("post %d: signature %q", i, sig)
		}
		if !strings.HasPrefix(r.body, `[{`) || !json.Valid([]byte(r.body)) || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("post %d: %s %s", i, r.header.Get("Content-Type"), r.body)
		}
	}
	srv.mu.Unlock()
	if got := strings.Join(keys, " "); got != "0-1-100:1-3 0-1-100:4-9 bin.000001:900:1-2 0-1-101:1-4" {
		t.Errorf("idempotency keys %s", got)
	}
	status = 503
	if err := s.Send(context.Background(), bs[0]); err == nil {
		t.Fatal("a 503 was acknowledged")
	}
	status = 200
	if err := s.Send(context.Background(), bs[0]); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	n := len(srv.reqs)
	k1, k2 := srv.reqs[n-2].header.Get("Idempotency-Key"), srv.reqs[n-1].header.Get("Idempotency-Key")
	srv.mu.Unlock()
	if k1 != "0-1-100:1-3" || k2 != k1 {
		t.Errorf("a batch sent again got key %q then %q", k1, k2)
	}
}

// builtin:http as a Wasm module given a group: the call's batches go in
// one POST, the envelopes builtin:jsonl would write, under a key naming
// the first and last batch; max_body splits the call between batches,
// and a call failing at its second POST is sent again as the same
// requests; request = "batch" posts each batch alone.
func TestBuiltinHTTPGroup(t *testing.T) {
	var posts, failAt atomic.Int32 // failAt: the post answered 503, from 1
	srv := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == failAt.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	env := newNetEnv(t, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
	url := "http://hooks.test:" + srv.port() + "/puma"
	ctx := context.Background()
	bs := corpus()
	lines := envelopes(bs, true)
	twoBatches := envelopes(bs[:2], true)
	sender := func(cfg map[string]any) *hostabi.Sender {
		t.Helper()
		cfg["url"], cfg["markers"] = url, true
		s, err := env.host.NewSender(ctx, "shop", plugin("http", "builtin:http", cfg, map[string]any{"http": []any{url}, "allow_private": true, "secrets": []any{"hmac_key"}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	// send sends bs as one group and returns the bodies and keys posted.
	send := func(s *hostabi.Sender) (bodies, keys []string, err error) {
		srv.mu.Lock()
		srv.reqs = nil
		srv.mu.Unlock()
		posts.Store(0)
		err = s.SendGroup(ctx, bs)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, r := range srv.reqs {
			bodies = append(bodies, r.body)
			keys = append(keys, r.header.Get("Idempotency-Key"))
		}
		return bodies, keys, err
	}

	bodies, keys, err := send(sender(map[string]any{"format": "ndjson"}))
	if err != nil || len(bodies) != 1 || bodies[0] != string(lines) {
		t.Errorf("ndjson: %v, posts\n%q\nwant one of\n%s", err, bodies, lines)
	}
	if want := []string{"0-1-100:1-3..0-1-101:1-4"}; !slices.Equal(keys, want) {
		t.Errorf("ndjson: keys %q, want %q", keys, want)
	}
	bodies, _, err = send(sender(map[string]any{}))
	array := "[" + strings.ReplaceAll(strings.TrimSuffix(string(lines), "\n"), "\n", ",") + "]"
	if err != nil || len(bodies) != 1 || bodies[0] != array {
		t.Errorf("array: %v, posts\n%q\nwant one of\n%s", err, bodies, array)
	}

	s := sender(map[string]any{"format": "ndjson", "max_body": len(twoBatches)})
	bodies, keys, err = send(s)
	if err != nil || len(bodies) < 2 || bodies[0] != string(twoBatches) || strings.Join(bodies, "") != string(lines) {
		t.Errorf("max_body %d: %v, posts %q, want the first two batches in the first", len(twoBatches), err, bodies)
	}
	if len(keys) < 2 || keys[0] != "0-1-100:1-3..0-1-100:4-9" || !strings.HasSuffix(keys[len(keys)-1], "0-1-101:1-4") {
		t.Errorf("max_body %d: keys %q", len(twoBatches), keys)
	}
	failAt.Store(2)
	failed, failedKeys, err := send(s)
	failAt.Store(0)
	if err == nil || len(failed) != 2 || failed[0] != bodies[0] || !slices.Equal(failedKeys, keys[:2]) {
		t.Errorf("a call failing at its second post: %v, keys %q, want an error after %q", err, failedKeys, keys[:2])
	}
	again, againKeys, err := send(s)
	if err != nil || !slices.Equal(again, bodies) || !slices.Equal(againKeys, keys) {
		t.Errorf("the failed call sent again: %v, keys %q, want the same posts as keys %q", err, againKeys, keys)
	}

	_, keys, err = send(sender(map[string]any{"request": "batch"}))
	if want := []string{"0-1-100:1-3", "0-1-100:4-9", "bin.000001:900:1-2", "0-1-101:1-4"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("request = \"batch\": %v, keys %q, want %q", err, keys, want)
	}
}

// builtin:jsonl syncs once per transaction: a batch that does not close
// its transaction is acknowledged unsynced, the commit's sync covers it;
// the file is also synced before it is rotated, and not at all with
// fsync = false.
func TestJSONLSyncsPerTransaction(t *testing.T) {
	h := newHost(t, t.TempDir())
	tx := &engine.Tx{ID: "0-1-5", GTID: "0-1-5", ServerID: 1, File: "bin.000001", Pos: 4}
	row := func(seq uint32) engine.Change {
		return engine.Change{Op: engine.OpInsert, Table: customers, Seq: seq, Tx: tx, File: tx.File, Pos: 100, After: []any{int64(seq), "a@example.com", "live", "1.00"}}
	}
	commit := &position.Position{File: "bin.000001", Pos: 900, GTIDSet: "0-1-5"}
	for _, tc := range []struct {
		name  string
		cfg   map[string]any
		syncs []int // after each batch below
	}{
		{"fsync", map[string]any{"path": "a.jsonl"}, []int{0, 0, 1, 1, 2}},
		{"no fsync", map[string]any{"path": "b.jsonl", "fsync": false}, []int{0, 0, 0, 0, 0}},
		{"rotating", map[string]any{"path": "c.jsonl", "max_bytes": 1}, []int{1, 2, 3, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := h.NewSender(context.Background(), "t", plugin("jsonl", "builtin:jsonl", tc.cfg, map[string]any{"files": []any{"."}}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			batches := []*engine.Batch{
				{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{row(1), row(2)}},
				{Seq: 2, Tx: tx, Changes: []engine.Change{row(3)}},
				{Seq: 3, Tx: tx, Changes: []engine.Change{row(4)}, Commit: commit},
				{Seq: 4}, // position only
				{Seq: 5, Tx: tx, Begin: true, Changes: []engine.Change{row(1)}, Commit: commit},
			}
			for i, b := range batches {
				if err := s.Send(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				if got := hostabi.FileSyncs(s); got != tc.syncs[i] {
					t.Errorf("after batch %d: %d syncs, want %d", b.Seq, got, tc.syncs[i])
				}
			}
		})
	}
}
