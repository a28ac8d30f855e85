package hostabi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
)

// fakeDNS answers from a table and nothing else: no test name ever
// reaches a real resolver, and no test traffic leaves this machine.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// recorder is a test server remembering the requests it served.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
	hits atomic.Int32
	// discard keeps no requests (benchmarks).
	discard bool
}

type recorded struct {
	method, path, host string
	uri                string // the request line's target, as sent
	header             http.Header
	body               string
}

func newRecorder(t testing.TB, tlsServer bool, h func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		discard := rec.discard
		rec.mu.Unlock()
		var body []byte
		if discard {
			// A benchmark's receiver: reading a body into a new buffer
			// per request costed more than the plugin sending it.
			io.Copy(io.Discard, r.Body)
		} else {
			body, _ = io.ReadAll(r.Body)
		}
		rec.hits.Add(1)
		rec.mu.Lock()
		if !discard {
			rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.Host, r.RequestURI, r.Header.Clone(), string(body)})
		}
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	})
	if tlsServer {
		rec.srv = httptest.NewTLSServer(handler)
	} else {
		rec.srv = httptest.NewServer(handler)
	}
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) port() string {
	_, p, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	return p
}

func (r *recorder) last() recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

type netEnv struct {
	t    testing.TB
	dir  string
	host *hostabi.Host
}

func newNetEnv(t testing.TB, dns fakeDNS, roots *x509.CertPool) *netEnv {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fetcher.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/fetcher"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := hostabitest.NewHost(t, dir, hostabi.Options{
		Builtin:     builtins(t),
		Resolver:    dns,
		HTTPRootCAs: roots,
		Secrets:     map[string]engine.Secret{"token": "s3cr3t-token", "hmac_key": "k3y", "other": "x"},
	})
	return &netEnv{t: t, dir: dir, host: h}
}

// fetch runs the fetcher once with cfg and grants and returns its error.
func (e *netEnv) fetch(cfg, grants map[string]any) error {
	e.t.Helper()
	s, err := e.host.NewSender(context.Background(), "t", plugin("fetcher", filepath.Join(e.dir, "fetcher.wasm"), cfg, grants))
	if err != nil {
		return err
	}
	defer s.Close()
	b := &engine.Batch{Seq: 1, Tx: &engine.Tx{ID: "0-1-1"}, Begin: true}
	return s.Send(context.Background(), b)
}

func TestHTTPAllowed(t *testing.T) {
	srv := newRecorder(t, false, nil)
	env := newNetEnv(t, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
	url := "http://hooks.test:" + srv.port() + "/in/hook?x=1"
	err := env.fetch(map[string]any{
		"method": "POST", "url": url, "body": `{"a":1}`, "hmac": "hmac_key",
		"headers": []any{
			map[string]any{"name": "Authorization", "value": "Bearer ", "secret": "token"},
			map[string]any{"name": "Content-Type", "value": "application/json"},
		},
	}, map[string]any{"http": []any{"http://hooks.test:" + srv.port() + "/in/"}, "allow_private": true, "secrets": []any{"token", "hmac_key"}})
	if err != nil {
		t.Fatal(err)
	}
	r := srv.last()
	mac := hmac.New(sha256.New, []byte("k3y"))
	mac.Write([]byte(`{"a":1}`))
	for _, c := range []struct{ name, got, want string }{
		{"method", r.method, "POST"},
		{"path", r.path, "/in/hook"},
		{"host", r.host, "hooks.test:" + srv.port()},
		{"body", r.body, `{"a":1}`},
		{"authorization", r.header.Get("Authorization"), "Bearer s3cr3t-token"},
		{"content-type", r.header.Get("Content-Type"), "application/json"},
		{"signature", r.header.Get("X-Sig"), hex.EncodeToString(mac.Sum(nil))},
		{"user-agent", r.header.Get("User-Agent"), "Puma plugin t/fetcher"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// The SSRF tests: every way to reach what the grant does not name fails,
// and the server behind it is never contacted.
func TestHTTPRefused(t *testing.T) {
	target := newRecorder(t, false, nil) // what must never be reached
	tp := target.port()
	redirector := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://internal.test:"+tp+"/admin", http.StatusFound)
	})
	rp := redirector.port()
	dns := fakeDNS{
		"hooks.test":    {"127.0.0.1"},
		"internal.test": {"127.0.0.1"},
		"mixed.test":    {"93.184.216.34", "127.0.0.1"}, // rebinding: one good address, one bad
		"meta.test":     {"169.254.169.254"},
		"v6.test":       {"::1"},
		"mapped.test":   {"::ffff:10.1.2.3"},
		"zero.test":     {"0.0.0.0"},
		"redirect.test": {"127.0.0.1"},
	}
	env := newNetEnv(t, dns, nil)
	get := func(url string, hdr ...map[string]any) map[string]any {
		c := map[string]any{"method": "GET", "url": url}
		if len(hdr) > 0 {
			var hs []any
			for _, h := range hdr {
				hs = append(hs, h)
			}
			c["headers"] = hs
		}
		return c
	}
	grant := func(allowPrivate bool, urls ...string) map[string]any {
		var us []any
		for _, u := range urls {
			us = append(us, u)
		}
		g := map[string]any{"http": us, "secrets": []any{"token"}}
		if allowPrivate {
			g["allow_private"] = true
		}
		return g
	}
	for _, tc := range []struct {
		name   string
		cfg    map[string]any
		grants map[string]any
		want   string
	}{
		{"host not in the allowlist", get("http://internal.test:" + tp + "/"), grant(true, "http://hooks.test:"+tp), "is not granted"},
		{"port not in the allowlist", get("http://hooks.test:" + rp + "/"), grant(true, "http://hooks.test:"+tp), "is not granted"},
		{"scheme not in the allowlist", get("https://hooks.test:" + tp + "/"), grant(true, "http://hooks.test:"+tp), "is not granted"},
		{"path outside the prefix", get("http://hooks.test:" + tp + "/admin"), grant(true, "http://hooks.test:"+tp+"/api/"), "is not granted"},
		{"dot segments", get("http://hooks.test:" + tp + "/api/../admin"), grant(true, "http://hooks.test:"+tp+"/api/"), `".." segments`},
		{"wildcard does not match the apex", get("http://hooks.test:" + tp + "/"), grant(true, "http://*.hooks.test:"+tp), "is not granted"},
		{"name resolving to loopback", get("http://hooks.test:" + tp + "/"), grant(false, "http://hooks.test:"+tp), "resolves to 127.0.0.1, a loopback address"},
		{"name resolving to ::1", get("http://v6.test:" + tp + "/"), grant(false, "http://v6.test:"+tp), "a loopback address"},
		{"name resolving to a mapped private address", get("http://mapped.test:" + tp + "/"), grant(false, "http://mapped.test:"+tp), "resolves to 10.1.2.3, a private address"},
		{"one bad address of several", get("http://mixed.test:" + tp + "/"), grant(false, "http://mixed.test:"+tp), "resolves to 127.0.0.1"},
		{"link-local even with allow_private", get("http://meta.test:" + tp + "/"), grant(true, "http://meta.test:"+tp), "link-local address: never reachable"},
		{"0.0.0.0 even with allow_private", get("http://zero.test:" + tp + "/"), grant(true, "http://zero.test:"+tp), "unspecified address: never reachable"},
		{"IP literal without allow_private", get("http://127.0.0.1:" + tp + "/"), grant(false, "http://127.0.0.1:"+tp), "add allow_private = true"},
		{"credentials in the URL", get("http://u:p@hooks.test:" + tp + "/"), grant(true, "http://hooks.test:"+tp), "credentials in a URL are refused"},
		{"redirect not followed", get("http://redirect.test:" + rp + "/go"), grant(true, "http://redirect.test:"+rp, "http://hooks.test:"+tp), "status 302 location \"http://internal.test:" + tp + "/admin\""},
		{"following the redirect by hand", get("http://internal.test:" + tp + "/admin"), grant(true, "http://redirect.test:"+rp), "is not granted"},
		{"Host header", get("http://hooks.test:"+tp+"/", map[string]any{"name": "Host", "value": "evil"}), grant(true, "http://hooks.test:"+tp), "header Host is set by the host"},
		{"Transfer-Encoding header", get("http://hooks.test:"+tp+"/", map[string]any{"name": "transfer-encoding", "value": "chunked"}), grant(true, "http://hooks.test:"+tp), "header Transfer-Encoding is set by the host"},
		{"literal Authorization", get("http://hooks.test:"+tp+"/", map[string]any{"name": "Authorization", "value": "Basic x"}), grant(true, "http://hooks.test:"+tp), "Authorization may only come from a secret"},
		{"secret not granted", get("http://hooks.test:"+tp+"/", map[string]any{"name": "X-Key", "secret": "other"}), grant(true, "http://hooks.test:"+tp), `secret "other" is not granted`},
		{"header injection", get("http://hooks.test:"+tp+"/", map[string]any{"name": "X-A", "value": "a\r\nHost: evil"}), grant(true, "http://hooks.test:"+tp), "control characters"},
		{"unknown name", get("http://nowhere.test:" + tp + "/"), grant(true, "http://nowhere.test:"+tp), "no such host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := target.hits.Load()
			err := env.fetch(tc.cfg, tc.grants)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if n := target.hits.Load() - before; n != 0 {
				t.Fatalf("the target was contacted %d times", n)
			}
		})
	}
	// The redirecting server itself was reached (the 302 came from it).
	if redirector.hits.Load() == 0 {
		t.Error("the redirecting server was never reached")
	}
}

// Under a granted path prefix, the host matches the path as it is sent
// and refuses what servers read in different ways, so no server sees a
// resource outside the prefix; a host granted without a path may be sent
// anything.
func TestHTTPPathPrefix(t *testing.T) {
	srv := newRecorder(t, false, nil)
	p := srv.port()
	env := newNetEnv(t, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
	prefix := map[string]any{"http": []any{"http://hooks.test:" + p + "/ok/"}, "allow_private": true, "secrets": []any{}}
	anyPath := map[string]any{"http": []any{"http://hooks.test:" + p}, "allow_private": true, "secrets": []any{}}
	for _, tc := range []struct {
		path   string
		grants map[string]any
		want   string // the error, or "" for a request that is sent
		uri    string // what the server was sent
	}{
		{"/ok%2Fx", prefix, "the path has an encoded slash (%2F)", ""},
		{"/ok/a%2fb", prefix, "the path has an encoded slash (%2f)", ""},
		{"/ok/..;/x", prefix, `the path has a ";" (path parameter)`, ""},
		{"/ok/x;jsessionid=1", prefix, `the path has a ";" (path parameter)`, ""},
		{"/ok/../x", prefix, `".." segments`, ""},
		{"/ok/./x", prefix, `".." segments`, ""},
		{"/ok/%2e%2e/x", prefix, `".." segments`, ""},
		{"/ok/%2E%2E%2Fx", prefix, `".." segments`, ""},
		{"/ok/a%5Cb", prefix, "the path has an encoded backslash (%5C)", ""},
		{"/ok/a%2Eb", prefix, "the path has an encoded dot (%2E)", ""},
		{"/other", prefix, "is not granted (grants.http: http://hooks.test:" + p + "/ok/)", ""},
		{"/ok/a%20b", prefix, "", "/ok/a%20b"},
		{"/ok/x", prefix, "", "/ok/x"},
		{"/ok/?q=a;b/../c", prefix, "", "/ok/?q=a;b/../c"}, // the query is no path
		{"/group%2Fproject/issues", anyPath, "", "/group%2Fproject/issues"},
		{"/a;v=1/x", anyPath, "", "/a;v=1/x"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			before := srv.hits.Load()
			err := env.fetch(map[string]any{"method": "GET", "url": "http://hooks.test:" + p + tc.path}, tc.grants)
			sent := srv.hits.Load() - before
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one saying %q", err, tc.want)
				}
				if sent != 0 {
					t.Fatalf("the server was sent %d requests", sent)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sent != 1 || srv.last().uri != tc.uri {
				t.Fatalf("%d requests, the last for %q; want 1 for %q", sent, srv.last().uri, tc.uri)
			}
		})
	}
}

// Proxy settings in Puma's environment are ignored: the host dials what it
// checked.
func TestHTTPIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer proxy.Close()
	for _, v := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(v, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv := newRecorder(t, false, nil)
	env := newNetEnv(t, fakeDNS{"hooks.test": {"127.0.0.1"}}, nil)
	err := env.fetch(map[string]any{"method": "GET", "url": "http://hooks.test:" + srv.port() + "/"},
		map[string]any{"http": []any{"http://hooks.test:" + srv.port()}, "allow_private": true, "secrets": []any{"token"}})
	if err != nil {
		t.Fatal(err)
	}
	if proxied.Load() != 0 {
		t.Fatalf("the proxy from the environment was contacted %d times", proxied.Load())
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("the server was reached %d times, want 1", srv.hits.Load())
	}
}

// TLS is verified: a server whose certificate the host does not trust is
// refused, with a retryable error.
func TestHTTPVerifiesTLS(t *testing.T) {
	srv := newRecorder(t, true, nil)
	dns := fakeDNS{"example.com": {"127.0.0.1"}} // httptest's certificate names example.com
	cfg := map[string]any{"method": "GET", "url": "https://example.com:" + srv.port() + "/"}
	grants := map[string]any{"http": []any{"https://example.com:" + srv.port()}, "allow_private": true, "secrets": []any{"token"}}

	err := newNetEnv(t, dns, nil).fetch(cfg, grants)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted server: error %v, want a certificate error", err)
	}
	var he *hostabi.Error
	if !errors.As(err, &he) || he.Fatal {
		t.Errorf("a TLS failure should be retryable: %#v", err)
	}
	if srv.hits.Load() != 0 {
		t.Fatal("the untrusted server got the request")
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.srv.Certificate())
	if err := newNetEnv(t, dns, roots).fetch(cfg, grants); err != nil {
		t.Fatalf("trusted server: %v", err)
	}
}

// A module importing a capability it was not granted is refused at load,
// naming the import and the grant; so is a grant naming a secret that
// does not exist.
func TestUngrantedImportsRefused(t *testing.T) {
	for _, tc := range []struct {
		imp, sig, grant string
		grants          map[string]any
	}{
		{"http_request", "(param i32 i32) (result i64)", `"http" grant: add grants = { http = ["https://<host>"] }`, nil},
		{"http_request", "(param i32 i32) (result i64)", `"http" grant`, map[string]any{"kv": true}},
		{"http_response", "(param i32 i32) (result i32)", `"http" grant`, nil},
		{"secret_hmac", "(param i32 i32 i32 i32 i32 i32 i32) (result i32)", `"secrets" grant`, map[string]any{"http": []any{"https://x.example"}}},
		{"secret_hmac_batch", "(param i32 i32 i32 i32 i32 i32 i32) (result i32)", `"secrets" grant`, nil},
		{"kv_get", "(param i32 i32 i32 i32) (result i64)", `"kv" grant: add grants = { kv = true }`, nil},
		{"kv_put", "(param i32 i32 i32 i32) (result i32)", `"kv" grant`, map[string]any{"kv": false}},
		{"file_open", "(param i32 i32 i32) (result i64)", `"files" grant`, nil},
		{"stdout_write", "(param i32 i32) (result i32)", `"stdout" grant`, nil},
	} {
		t.Run(tc.imp, func(t *testing.T) {
			dir := t.TempDir()
			wasm := hostabitest.WAT(t, fmt.Sprintf(`(module
  (import "puma" %q (func %s))
  (memory (export "memory") 2)
  (func (export "puma_abi_v1"))
  (func (export "puma_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "puma_init") (param i32 i32) (result i64) (i64.const 0))
  (func (export "puma_send") (param i32 i32) (result i64) (i64.const 0)))`, tc.imp, tc.sig))
			path := filepath.Join(dir, "m.wasm")
			if err := os.WriteFile(path, wasm, 0o644); err != nil {
				t.Fatal(err)
			}
			h := newHost(t, dir)
			_, err := h.NewSender(context.Background(), "t", plugin("m", path, nil, tc.grants))
			if err == nil || !strings.Contains(err.Error(), "imports puma."+tc.imp) || !strings.Contains(err.Error(), tc.grant) {
				t.Fatalf("error %v, want one naming puma.%s and %s", err, tc.imp, tc.grant)
			}
			if !errors.Is(err, hostabi.ErrLoad) {
				t.Errorf("error %v is not ErrLoad", err)
			}
		})
	}
	t.Run("missing secret", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "fetcher.wasm"), hostabitest.BuildGo(t, "./hostabi/testdata/fetcher"), 0o644); err != nil {
			t.Fatal(err)
		}
		h := newHost(t, dir)
		_, err := h.NewSender(context.Background(), "t", plugin("f", filepath.Join(dir, "fetcher.wasm"), nil,
			map[string]any{"http": []any{"https://x.example"}, "secrets": []any{"nope"}}))
		if err == nil || !strings.Contains(err.Error(), `no secret "nope" in [secrets]`) {
			t.Fatalf("error %v", err)
		}
	})
}

// TestHTTPUnreachableIsUnavailable: a call failing because the http
// capability could not reach the server is marked unavailable (the engine
// then waits for it without end); one the grant refused is not.
func TestHTTPUnreachableIsUnavailable(t *testing.T) {
	env := newNetEnv(t, fakeDNS{}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	err = env.fetch(map[string]any{"method": "GET", "url": closed + "/x"}, map[string]any{"http": []any{closed}, "allow_private": true, "secrets": []any{}})
	if err == nil || !engine.Unavailable(err) {
		t.Fatalf("err = %v; want it unavailable", err)
	}
	err = env.fetch(map[string]any{"method": "GET", "url": "http://10.0.0.1/x"}, map[string]any{"http": []any{closed}, "allow_private": true, "secrets": []any{}})
	if err == nil || engine.Unavailable(err) {
		t.Fatalf("err = %v; want a refusal, not unavailable", err)
	}
}
