// Package admin is Puma's HTTP admin API: health, task status, pause,
// resume, stop-at, incremental snapshots, reload and Prometheus metrics.
//
// The handler is safe for concurrent use; it holds no state of its own
// beyond its Controller.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
)

// Errors a Controller returns, mapped to HTTP statuses.
var (
	// ErrNoTask: no task of that name (404).
	ErrNoTask = errors.New("no such task")
	// ErrState: the task cannot do that in its current state (409). It is
	// the engine's, so that the task's own error says it once.
	ErrState = engine.ErrState
)

// TaskStatus is one task as /tasks shows it.
type TaskStatus struct {
	Name string `json:"name"`
	engine.StatsSnapshot
}

// Controller is what the admin API steers: the daemon.
type Controller interface {
	Tasks() []TaskStatus
	Pause(ctx context.Context, task string) error
	Resume(ctx context.Context, task string) error
	// StopAt makes the task run to the position or time at (the syntax of
	// a start specification), checkpoint and stop.
	StopAt(ctx context.Context, task, at string) error
	// Snapshot starts an incremental snapshot of tables ("db.table") in
	// the task, or adds them to the one running; CancelSnapshot stops it.
	Snapshot(ctx context.Context, task string, tables []string) error
	CancelSnapshot(ctx context.Context, task string) error
	Reload(ctx context.Context) error
}

// Options configure the handler.
type Options struct {
	// Token, when not empty, is required as "Authorization: Bearer …" on
	// every request.
	Token string
	// Metrics writes the Prometheus exposition; nil serves no /metrics.
	Metrics func(w io.Writer)
	Log     *slog.Logger
	// UnhealthyAfter is how long a task may be on its way to streaming
	// (new, connecting, locating, reconnecting) before /healthz reports
	// it; 0 means 60 s.
	UnhealthyAfter time.Duration
}

// NewHandler returns the admin API over c.
func NewHandler(c Controller, opts Options) http.Handler {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.UnhealthyAfter == 0 {
		opts.UnhealthyAfter = 60 * time.Second
	}
	h := &handler{c: c, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.health)
	mux.HandleFunc("GET /tasks", h.tasks)
	mux.HandleFunc("GET /tasks/{name}", h.task)
	mux.HandleFunc("POST /tasks/{name}/pause", h.pause)
	mux.HandleFunc("POST /tasks/{name}/resume", h.resume)
	mux.HandleFunc("POST /tasks/{name}/stop-at", h.stopAt)
	mux.HandleFunc("POST /tasks/{name}/snapshot", h.snapshot)
	mux.HandleFunc("DELETE /tasks/{name}/snapshot", h.cancelSnapshot)
	mux.HandleFunc("POST /tasks/{name}/snapshot/cancel", h.cancelSnapshot)
	mux.HandleFunc("POST /reload", h.reload)
	if opts.Metrics != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			opts.Metrics(w)
		})
	}
	return h.auth(mux)
}

type handler struct {
	c    Controller
	opts Options
}

func (h *handler) auth(next http.Handler) http.Handler {
	if h.opts.Token == "" {
		return next
	}
	want := []byte("Bearer " + h.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="puma"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNoTask):
		return http.StatusNotFound
	case errors.Is(err, ErrState):
		return http.StatusConflict
	case errors.Is(err, position.ErrBadSpec), errors.Is(err, engine.ErrSnapshotRefused):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// Health is the body of /healthz.
type Health struct {
	// Status is "ok" (200) or "unhealthy" (503).
	Status string `json:"status"`
	// Tasks maps every task to its state.
	Tasks map[string]string `json:"tasks"`
	// Unhealthy are the tasks that make the status unhealthy, by name.
	Unhealthy []Unhealthy `json:"unhealthy,omitempty"`
}

// Unhealthy is a task /healthz reports.
type Unhealthy struct {
	Task  string    `json:"task"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Reason says why the task counts as unhealthy.
	Reason    string `json:"reason"`
	LastError string `json:"last_error,omitempty"`
}

// unhealthy reports why t is unhealthy at now, or "" when it is not: it
// failed, or it has been on its way to streaming for longer than after.
func unhealthy(t TaskStatus, now time.Time, after time.Duration) string {
	switch t.State {
	case "failed":
		return "the task stopped on an error; fix it and reload or restart puma"
	case "new", "connecting", "locating", "reconnecting", "retrying":
		if d := now.Sub(t.Since); !t.Since.IsZero() && d > after {
			return fmt.Sprintf("not streaming for %s (unhealthy_after is %s)", d.Round(time.Second), after)
		}
	}
	return ""
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body := Health{Status: "ok", Tasks: map[string]string{}}
	for _, t := range h.c.Tasks() {
		body.Tasks[t.Name] = t.State
		if why := unhealthy(t, now, h.opts.UnhealthyAfter); why != "" {
			body.Unhealthy = append(body.Unhealthy, Unhealthy{Task: t.Name, State: t.State, Since: t.Since, Reason: why, LastError: t.LastError})
		}
	}
	code := http.StatusOK
	if len(body.Unhealthy) > 0 {
		body.Status, code = "unhealthy", http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (h *handler) tasks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.c.Tasks())
}

func (h *handler) task(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, t := range h.c.Tasks() {
		if t.Name == name {
			writeJSON(w, http.StatusOK, t)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("task %q: %w", name, ErrNoTask))
}

// Result is the body of a successful POST.
type Result struct {
	// Status is "ok".
	Status string `json:"status"`
	// Task is, for the /tasks/{name}/… routes, the task's status once the
	// request was carried out.
	Task *TaskStatus `json:"task,omitempty"`
}

func (h *handler) do(w http.ResponseWriter, r *http.Request, what string, f func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	name := r.PathValue("name")
	h.opts.Log.Info("admin: "+what, "task", name, "remote", r.RemoteAddr)
	res := Result{Status: "ok"}
	for _, t := range h.c.Tasks() {
		if name != "" && t.Name == name {
			res.Task = &t
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) pause(w http.ResponseWriter, r *http.Request) {
	h.do(w, r, "pause", func(ctx context.Context) error { return h.c.Pause(ctx, r.PathValue("name")) })
}

func (h *handler) resume(w http.ResponseWriter, r *http.Request) {
	h.do(w, r, "resume", func(ctx context.Context) error { return h.c.Resume(ctx, r.PathValue("name")) })
}

// stopAt takes the position as ?at=… or a JSON body {"at": "…"}.
func (h *handler) stopAt(w http.ResponseWriter, r *http.Request) {
	at := r.URL.Query().Get("at")
	if at == "" && r.Body != nil {
		var body struct {
			At string `json:"at"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("stop-at body: %w", err))
			return
		}
		at = body.At
	}
	if at == "" {
		writeError(w, http.StatusBadRequest, errors.New(`stop-at needs a position: ?at=… or {"at": "…"} (an RFC 3339 time, gtid:<set> or file:<name>:<pos>)`))
		return
	}
	h.do(w, r, "stop-at "+at, func(ctx context.Context) error { return h.c.StopAt(ctx, r.PathValue("name"), at) })
}

// snapshot takes the tables as a JSON body {"tables": ["db.table", …]}.
func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tables []string `json:"tables"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("snapshot body: %w", err))
		return
	}
	if len(body.Tables) == 0 {
		writeError(w, http.StatusBadRequest, errors.New(`snapshot needs tables: {"tables": ["db.table", …]}`))
		return
	}
	h.do(w, r, "snapshot "+strings.Join(body.Tables, " "), func(ctx context.Context) error {
		return h.c.Snapshot(ctx, r.PathValue("name"), body.Tables)
	})
}

func (h *handler) cancelSnapshot(w http.ResponseWriter, r *http.Request) {
	h.do(w, r, "cancel snapshot", func(ctx context.Context) error { return h.c.CancelSnapshot(ctx, r.PathValue("name")) })
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	h.do(w, r, "reload", h.c.Reload)
}

// IsLoopback reports whether addr (host:port) listens only on loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve listens on addr and serves h until ctx ends. ready, when not nil,
// receives the bound address once listening.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("admin: %w", err)
	}
}
