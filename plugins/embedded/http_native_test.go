package embedded

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
)

// recorded is a request as the receiver saw it: method, the headers a
// sender sets, and the body.
type recorded struct {
	method, contentType, key, sig, auth, body string
}

// receiver records the requests it takes and answers status.
type receiver struct {
	mu     sync.Mutex
	got    []recorded
	status int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: 200}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(q.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, recorded{q.Method, q.Header.Get("Content-Type"), q.Header.Get("Idempotency-Key"),
			q.Header.Get("X-Puma-Signature"), q.Header.Get("Authorization"), string(b)})
		w.WriteHeader(r.status)
		io.WriteString(w, "answer")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// postAll sends the calls through a builtin:http of cfg (posting to r)
// and returns the requests r took and the error of each call.
func postAll(t *testing.T, wasm bool, r *receiver, cfg map[string]any, calls [][]*engine.Batch) ([]recorded, []string) {
	t.Helper()
	r.got = nil
	h := newHost(t, wasm)
	ctx := context.Background()
	sd, err := h.NewSender(ctx, "shop", engine.PluginConfig{Plugin: "builtin:http", Name: "http", Config: cfg,
		Grants:  map[string]any{"allow_private": true},
		Timeout: 5 * time.Second, MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	var errs []string
	for _, g := range calls {
		if len(g) == 1 {
			err = sd.Send(ctx, g[0])
		} else {
			err = sd.SendGroup(ctx, g)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	return r.got, errs
}

// TestNativeHTTPMatchesWasm: builtin:http run natively sends the requests
// it sends in the embedded Wasm module, body, signature and keys alike,
// and fails as it does there.
func TestNativeHTTPMatchesWasm(t *testing.T) {
	if b, _ := Builtin("http", nil, ""); b.Native == nil {
		t.Fatal("builtin:http does not run natively")
	}
	r := newReceiver(t)
	calls := splitTx(batches(9, 40))
	cfgs := map[string]map[string]any{
		"array":  {"url": r.srv.URL + "/hook", "hmac": map[string]any{"secret": "hmac_key"}, "markers": true},
		"ndjson": {"url": r.srv.URL + "/hook", "format": "ndjson", "max_body": 4096, "secret_headers": map[string]any{"Authorization": map[string]any{"secret": "token", "prefix": "Bearer "}}},
		"batch":  {"url": r.srv.URL + "/hook", "request": "batch", "method": "PUT", "decimal": "double"},
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			native, nerrs := postAll(t, false, r, cfg, calls)
			wasm, werrs := postAll(t, true, r, cfg, calls)
			if len(nerrs)+len(werrs) > 0 {
				t.Fatalf("errors natively %v, in Wasm %v", nerrs, werrs)
			}
			if len(native) != len(wasm) || len(native) < len(calls) {
				t.Fatalf("natively %d requests, in Wasm %d, for %d calls", len(native), len(wasm), len(calls))
			}
			if _, ok := cfg["hmac"]; ok && !strings.HasPrefix(native[0].sig, "sha256=") {
				t.Fatalf("no signature: %+v", native[0])
			}
			if _, ok := cfg["secret_headers"]; ok && native[0].auth != "Bearer s3cret" {
				t.Fatalf("no secret header: %+v", native[0])
			}
			for i := range native {
				if native[i] != wasm[i] {
					t.Fatalf("request %d natively:\n%+v\nin Wasm:\n%+v", i, native[i], wasm[i])
				}
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		r.status = 503
		defer func() { r.status = 200 }()
		cfg := map[string]any{"url": r.srv.URL + "/hook"}
		_, nerrs := postAll(t, false, r, cfg, calls[:1])
		_, werrs := postAll(t, true, r, cfg, calls[:1])
		if len(nerrs) != 1 || len(werrs) != 1 || nerrs[0] != werrs[0] || !strings.Contains(nerrs[0], "answered 503: answer") {
			t.Errorf("a 503 natively: %v\nin Wasm: %v", nerrs, werrs)
		}
		cfg = map[string]any{"url": "http://127.0.0.1:1/hook"}
		_, nerrs = postAll(t, false, r, cfg, calls[:1])
		_, werrs = postAll(t, true, r, cfg, calls[:1])
		if len(nerrs) != 1 || len(werrs) != 1 || nerrs[0] != werrs[0] || !strings.Contains(nerrs[0], "http: POST http://127.0.0.1:1/hook: http:") {
			t.Errorf("a refused connection natively: %v\nin Wasm: %v", nerrs, werrs)
		}
	})
}
