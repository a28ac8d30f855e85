package main_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/examples/internal/exampletest"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hostabitest.Cleanup()
	os.Exit(code)
}

// localDNS resolves hooks.test to this machine and nothing else.
type localDNS struct{}

func (localDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "hooks.test" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestWebhook(t *testing.T) {
	const key = "k3y-only-the-host-knows"
	var mu sync.Mutex
	var bodies [][]byte
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		if got, want := r.Header.Get("X-Puma-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
			t.Errorf("signature %q, want %q", got, want)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := "http://hooks.test:" + port + "/puma"

	dir := t.TempDir()
	path := filepath.Join(dir, "webhook.wasm")
	if err := os.WriteFile(path, hostabitest.BuildGo(t, "./examples/webhook"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{
		Resolver: localDNS{},
		Secrets:  map[string]engine.Secret{"webhook_hmac": key},
	})
	s, err := h.NewSender(context.Background(), "shop", engine.PluginConfig{
		Plugin: path, Name: "webhook", Timeout: 5 * time.Second, MaxMemory: 64 << 20,
		Config: map[string]any{"url": url, "secret": "webhook_hmac"},
		// The test server is on loopback, which a grant reaches only with
		// allow_private.
		Grants: map[string]any{"http": []any{url}, "secrets": []any{"webhook_hmac"}, "allow_private": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	bs := exampletest.Batches(1)
	for _, b := range bs {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("batch %d: %v", b.Seq, err)
		}
	}
	// One POST per batch with changes, each a JSON array of envelopes.
	var want [][]byte
	e := engine.Envelopes{Name: "shop"}
	for _, b := range bs {
		if b.Tx == nil {
			continue
		}
		e.StartBatch(b, hostabitest.Now())
		if len(b.Changes) == 0 {
			continue
		}
		arr := []byte{'['}
		for i := range b.Changes {
			arr = e.AppendChange(arr, &b.Changes[i], ',')
		}
		arr[len(arr)-1] = ']'
		want = append(want, arr)
	}
	mu.Lock()
	got := bodies
	mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("%d posts, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("post %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}

	// 503 is retried by the pipeline, 400 is fatal.
	for _, tc := range []struct {
		status int32
		fatal  bool
	}{{503, false}, {429, false}, {400, true}} {
		status.Store(tc.status)
		err := s.Send(context.Background(), bs[0])
		var he *hostabi.Error
		if !errors.As(err, &he) || he.Fatal != tc.fatal {
			t.Errorf("status %d: error %v, want fatal=%v", tc.status, err, tc.fatal)
		}
	}
}
