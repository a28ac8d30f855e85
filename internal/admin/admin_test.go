package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

type fakeDaemon struct {
	paused  map[string]bool
	stopAt  map[string]string
	reloads int
}

func (f *fakeDaemon) Tasks() []TaskStatus {
	return []TaskStatus{
		{Name: "shop", StatsSnapshot: engine.StatsSnapshot{State: "streaming", Rows: 7}},
		{Name: "billing", StatsSnapshot: engine.StatsSnapshot{State: "paused"}},
	}
}

func (f *fakeDaemon) check(name string) error {
	if name != "shop" && name != "billing" {
		return fmt.Errorf("task %q: %w", name, ErrNoTask)
	}
	return nil
}

func (f *fakeDaemon) Pause(_ context.Context, name string) error {
	if err := f.check(name); err != nil {
		return err
	}
	if f.paused[name] {
		return fmt.Errorf("task %s is paused already: %w", name, ErrState)
	}
	f.paused[name] = true
	return nil
}

func (f *fakeDaemon) Resume(_ context.Context, name string) error {
	if err := f.check(name); err != nil {
		return err
	}
	f.paused[name] = false
	return nil
}

func (f *fakeDaemon) StopAt(_ context.Context, name, at string) error {
	if err := f.check(name); err != nil {
		return err
	}
	if _, err := position.ParseStart(at); err != nil {
		return err
	}
	f.stopAt[name] = at
	return nil
}

func (f *fakeDaemon) Reload(context.Context) error { f.reloads++; return nil }

func request(t *testing.T, h http.Handler, method, target, body, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestAPI(t *testing.T) {
	f := &fakeDaemon{paused: map[string]bool{}, stopAt: map[string]string{}}
	h := NewHandler(f, Options{Metrics: func(w io.Writer) { io.WriteString(w, "puma_up 1\n") }})
	cases := []struct {
		name, method, target, body string
		code                       int
		contains                   string
	}{
		{"health", "GET", "/healthz", "", 200, `"shop": "streaming"`},
		{"tasks", "GET", "/tasks", "", 200, `"rows": 7`},
		{"task", "GET", "/tasks/shop", "", 200, `"name": "shop"`},
		{"unknown task", "GET", "/tasks/nope", "", 404, "no such task"},
		{"pause", "POST", "/tasks/shop/pause", "", 200, `"ok"`},
		{"pause twice", "POST", "/tasks/shop/pause", "", 409, "paused already"},
		{"resume", "POST", "/tasks/shop/resume", "", 200, `"ok"`},
		{"pause unknown", "POST", "/tasks/nope/pause", "", 404, "no such task"},
		{"stop-at query", "POST", "/tasks/shop/stop-at?at=file:mysql-bin.000002:4", "", 200, `"ok"`},
		{"stop-at body", "POST", "/tasks/shop/stop-at", `{"at":"2026-11-25T10:00:00Z"}`, 200, `"ok"`},
		{"stop-at bad", "POST", "/tasks/shop/stop-at?at=tomorrow", "", 400, "bad position"},
		{"stop-at missing", "POST", "/tasks/shop/stop-at", "", 400, "needs a position"},
		{"stop-at unknown field", "POST", "/tasks/shop/stop-at", `{"when":"x"}`, 400, "unknown field"},
		{"wrong method", "GET", "/tasks/shop/pause", "", 405, ""},
		{"reload", "POST", "/reload", "", 200, `"ok"`},
		{"metrics", "GET", "/metrics", "", 200, "puma_up 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := request(t, h, c.method, c.target, c.body, "")
			if code != c.code || !strings.Contains(body, c.contains) {
				t.Fatalf("%s %s: %d %s, want %d containing %q", c.method, c.target, code, body, c.code, c.contains)
			}
		})
	}
	if f.stopAt["shop"] != "2026-11-25T10:00:00Z" || f.reloads != 1 {
		t.Fatalf("controller not called: %+v", f)
	}
}

func TestToken(t *testing.T) {
	f := &fakeDaemon{paused: map[string]bool{}, stopAt: map[string]string{}}
	h := NewHandler(f, Options{Token: "s3cret"})
	for _, tok := range []string{"", "wrong", "s3cre"} {
		if code, body := request(t, h, "GET", "/tasks", "", tok); code != 401 || strings.Contains(body, "s3cret") {
			t.Fatalf("token %q: %d %s, want 401 without the token in the body", tok, code, body)
		}
	}
	if code, _ := request(t, h, "POST", "/tasks/shop/pause", "", ""); code != 401 || f.paused["shop"] {
		t.Fatalf("unauthenticated pause: %d", code)
	}
	if code, _ := request(t, h, "GET", "/tasks", "", "s3cret"); code != 200 {
		t.Fatalf("right token: %d", code)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7878": true, "[::1]:7878": true, "localhost:1": true,
		"0.0.0.0:7878": false, ":7878": false, "10.0.0.1:80": false, "bad": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}
