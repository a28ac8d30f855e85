package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/internal/testdb"
)

type slogLogger = slog.Logger

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func newTestLogger(t *testing.T) *slog.Logger {
	return slog.New(engine.NewLogHandler(testWriter{t}, "text", slog.LevelInfo))
}

// syncBuffer is a bytes.Buffer safe for a logger writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A connection cut makes go-mysql return an error built with
// pingcap/errors, which carries a stack trace; the "source failed" warning
// logs it with its message only, unless the level is debug.
func TestLoggedErrorsCarryNoStackTrace(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	for _, c := range []struct {
		name, format string
		level        slog.Level
		stack        bool
	}{
		{"text", "text", slog.LevelInfo, false},
		{"json", "json", slog.LevelInfo, false},
		{"text debug", "text", slog.LevelDebug, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := testdb.NewProxy(t, srv.Addr())
			cfg := taskConfig(t, srv, `heartbeat = "100ms"`)
			cfg.Sources[0].Addr = proxy.Addr()
			var buf syncBuffer
			task, err := engine.NewTask(cfg, engine.Deps{
				Store: checkpoint.NewMemStore(),
				Log:   slog.New(engine.NewLogHandler(&buf, c.format, c.level)),
				NewSender: func(context.Context, engine.TaskConfig, engine.PluginConfig) (engine.Sender, error) {
					return &capture{}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			rt := &runningTask{cancel: cancel, done: make(chan error, 1), task: task}
			go func() { rt.done <- task.Run(ctx) }()
			t.Cleanup(func() { rt.stop(t) })
			waitStreaming(t, rt)
			proxy.Cut()
			var line string
			waitFor(t, "a source failed warning", func() bool {
				for l := range strings.Lines(buf.String()) {
					if strings.Contains(l, "source failed") {
						line = l
						return true
					}
				}
				return false
			})
			if !strings.Contains(line, "err") {
				t.Fatalf("no error in %s", line)
			}
			if got := strings.Contains(line, ".go:"); got != c.stack {
				t.Fatalf("stack trace logged = %v, want %v:\n%s", got, c.stack, line)
			}
		})
	}
}
