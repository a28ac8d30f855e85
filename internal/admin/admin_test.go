package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

type fakeDaemon struct {
	paused    map[string]bool
	stopAt    map[string]string
	snapshots map[string][]string
	cancels   int
	reloads   int
	progress  *engine.SnapshotProgress // shop's
}

func (f *fakeDaemon) Tasks() []TaskStatus {
	return []TaskStatus{
		{Name: "shop", StatsSnapshot: engine.StatsSnapshot{State: "streaming", Rows: 7, SnapshotProgress: f.progress}},
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

func (f *fakeDaemon) Snapshot(_ context.Context, name string, tables []string) error {
	if err := f.check(name); err != nil {
		return err
	}
	for _, tb := range tables {
		if !strings.Contains(tb, ".") {
			return fmt.Errorf("snapshot %q: want db.table: %w", tb, engine.ErrSnapshotRefused)
		}
	}
	if f.snapshots == nil {
		f.snapshots = map[string][]string{}
	}
	f.snapshots[name] = append(f.snapshots[name], tables...)
	return nil
}

func (f *fakeDaemon) CancelSnapshot(_ context.Context, name string) error {
	if err := f.check(name); err != nil {
		return err
	}
	f.cancels++
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
		{"pause", "POST", "/tasks/shop/pause", "", 200, `"name": "shop"`},
		{"pause twice", "POST", "/tasks/shop/pause", "", 409, "paused already"},
		{"resume", "POST", "/tasks/shop/resume", "", 200, `"ok"`},
		{"pause unknown", "POST", "/tasks/nope/pause", "", 404, "no such task"},
		{"stop-at query", "POST", "/tasks/shop/stop-at?at=file:mysql-bin.000002:4", "", 200, `"ok"`},
		{"stop-at body", "POST", "/tasks/shop/stop-at", `{"at":"2026-11-25T10:00:00Z"}`, 200, `"ok"`},
		{"stop-at bad", "POST", "/tasks/shop/stop-at?at=tomorrow", "", 400, "bad position"},
		{"stop-at missing", "POST", "/tasks/shop/stop-at", "", 400, "needs a position"},
		{"stop-at unknown field", "POST", "/tasks/shop/stop-at", `{"when":"x"}`, 400, "unknown field"},
		{"wrong method", "GET", "/tasks/shop/pause", "", 405, ""},
		{"snapshot", "POST", "/tasks/shop/snapshot", `{"tables":["shop.orders","shop.items"]}`, 200, `"ok"`},
		{"snapshot refused", "POST", "/tasks/shop/snapshot", `{"tables":["orders"]}`, 400, "want db.table"},
		{"snapshot no tables", "POST", "/tasks/shop/snapshot", `{}`, 400, "needs tables"},
		{"snapshot unknown field", "POST", "/tasks/shop/snapshot", `{"table":"shop.orders"}`, 400, "unknown field"},
		{"snapshot unknown task", "POST", "/tasks/nope/snapshot", `{"tables":["a.b"]}`, 404, "no such task"},
		{"snapshot cancel", "POST", "/tasks/shop/snapshot/cancel", "", 200, `"ok"`},
		{"snapshot delete", "DELETE", "/tasks/shop/snapshot", "", 200, `"ok"`},
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
	if f.stopAt["shop"] != "2026-11-25T10:00:00Z" || f.reloads != 1 ||
		!slices.Equal(f.snapshots["shop"], []string{"shop.orders", "shop.items"}) || f.cancels != 2 {
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

// states is a controller whose tasks are given.
type states struct {
	fakeDaemon
	tasks []TaskStatus
}

func (s *states) Tasks() []TaskStatus { return s.tasks }

func TestHealth(t *testing.T) {
	now := time.Now()
	task := func(name, state string, ago time.Duration, lastErr string) TaskStatus {
		return TaskStatus{Name: name, StatsSnapshot: engine.StatsSnapshot{State: state, Since: now.Add(-ago), LastError: lastErr}}
	}
	cases := []struct {
		name      string
		tasks     []TaskStatus
		code      int
		unhealthy []string // "task state", in order
	}{
		{"streaming", []TaskStatus{task("shop", "streaming", time.Hour, "old error")}, 200, nil},
		{"paused for long", []TaskStatus{task("shop", "paused", time.Hour, "")}, 200, nil},
		{"stopped at its stop-at point", []TaskStatus{task("shop", "stopped-at", time.Hour, "")}, 200, nil},
		{"reconnecting briefly", []TaskStatus{task("shop", "reconnecting", 20*time.Second, "connection refused")}, 200, nil},
		{"connecting briefly", []TaskStatus{task("shop", "connecting", 5*time.Second, "")}, 200, nil},
		{"failed", []TaskStatus{task("shop", "streaming", 0, ""), task("billing", "failed", time.Second, "sender[0] http: 401")}, 503, []string{"billing failed"}},
		{"reconnecting too long", []TaskStatus{task("shop", "reconnecting", 2*time.Minute, "connection refused")}, 503, []string{"shop reconnecting"}},
		{"connecting too long", []TaskStatus{task("shop", "connecting", 61*time.Second, "")}, 503, []string{"shop connecting"}},
		{"locating too long", []TaskStatus{task("shop", "locating", 5*time.Minute, "")}, 503, []string{"shop locating"}},
		{"never streamed", []TaskStatus{task("shop", "new", 5*time.Minute, "")}, 503, []string{"shop new"}},
		{"two", []TaskStatus{task("a", "failed", 0, "boom"), task("b", "reconnecting", time.Hour, "refused")}, 503, []string{"a failed", "b reconnecting"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHandler(&states{tasks: c.tasks}, Options{UnhealthyAfter: time.Minute})
			code, body := request(t, h, "GET", "/healthz", "", "")
			var got Health
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%d %s: %v", code, body, err)
			}
			var names []string
			for _, u := range got.Unhealthy {
				names = append(names, u.Task+" "+u.State)
				var last string
				for _, tk := range c.tasks {
					if tk.Name == u.Task {
						last = tk.LastError
					}
				}
				if u.LastError != last || u.Reason == "" || u.Since.IsZero() {
					t.Errorf("unhealthy %+v: want last error %q, a reason and since", u, last)
				}
			}
			if code != c.code || !slices.Equal(names, c.unhealthy) || len(got.Tasks) != len(c.tasks) {
				t.Fatalf("/healthz: %d %s, want %d naming %v", code, body, c.code, c.unhealthy)
			}
			if want := map[int]string{200: "ok", 503: "unhealthy"}[c.code]; got.Status != want {
				t.Fatalf("status %q, want %q", got.Status, want)
			}
		})
	}
}

// unhealthy_after defaults to 60 s.
func TestHealthDefault(t *testing.T) {
	for ago, want := range map[time.Duration]int{50 * time.Second: 200, 70 * time.Second: 503} {
		c := &states{tasks: []TaskStatus{{Name: "shop", StatsSnapshot: engine.StatsSnapshot{State: "reconnecting", Since: time.Now().Add(-ago)}}}}
		if code, body := request(t, NewHandler(c, Options{}), "GET", "/healthz", "", ""); code != want {
			t.Errorf("reconnecting for %s: %d %s, want %d", ago, code, body, want)
		}
	}
}

// /tasks shows a snapshot's progress per table under snapshot_progress,
// with these names; an ETA that cannot be told is absent, not 0.
func TestTasksSnapshotProgress(t *testing.T) {
	eta := 4.5
	f := &fakeDaemon{progress: &engine.SnapshotProgress{
		Kind: "initial", Started: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), ChunkRows: 100,
		RowsRead: 250, RowsEstimated: 1000, RowsPerSecond: 50, ETA: &eta,
		Tables: []engine.TableProgress{
			{Table: "shop.a", State: "done", RowsRead: 200, RowsEstimated: 200, Chunks: 2, ChunksEstimated: 2, ETA: new(float64)},
			{Table: "shop.b", State: "reading", RowsRead: 50, RowsEstimated: 300, Chunks: 1, ChunksEstimated: 3, RowsPerSecond: 50, Resumed: true},
			{Table: "shop.c", State: "pending", RowsEstimated: 500, ChunksEstimated: 5},
		},
	}}
	h := NewHandler(f, Options{})
	code, body := request(t, h, "GET", "/tasks/shop", "", "")
	if code != 200 {
		t.Fatalf("GET /tasks/shop: %d %s", code, body)
	}
	var got struct {
		SnapshotProgress map[string]any `json:"snapshot_progress"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	p := got.SnapshotProgress
	for k, want := range map[string]any{"kind": "initial", "started": "2026-12-07T03:00:00Z", "chunk_rows": 100.0,
		"rows_read": 250.0, "rows_estimated": 1000.0, "rows_per_second": 50.0, "eta_seconds": 4.5} {
		if p[k] != want {
			t.Errorf("snapshot_progress.%s = %v, want %v", k, p[k], want)
		}
	}
	if _, ok := p["finished"]; ok {
		t.Error("snapshot_progress.finished shown while it runs")
	}
	tables, _ := p["tables"].([]any)
	if len(tables) != 3 {
		t.Fatalf("snapshot_progress.tables = %v", p["tables"])
	}
	b := tables[1].(map[string]any)
	for k, want := range map[string]any{"table": "shop.b", "state": "reading", "rows_read": 50.0, "rows_estimated": 300.0,
		"chunks": 1.0, "chunks_estimated": 3.0, "rows_per_second": 50.0, "resumed": true} {
		if b[k] != want {
			t.Errorf("tables[1].%s = %v, want %v", k, b[k], want)
		}
	}
	if _, ok := b["eta_seconds"]; ok {
		t.Errorf("tables[1].eta_seconds = %v for an unknown ETA, want it absent", b["eta_seconds"])
	}
	if a := tables[0].(map[string]any); a["eta_seconds"] != 0.0 || a["state"] != "done" {
		t.Errorf("tables[0] = %v, want done with eta_seconds 0", a)
	}

	f.progress = nil
	if _, body := request(t, h, "GET", "/tasks/shop", "", ""); strings.Contains(body, "snapshot_progress") {
		t.Errorf("snapshot_progress shown for a task that ran no snapshot: %s", body)
	}
}
