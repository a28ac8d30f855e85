package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// recordingSink is an HTTP endpoint for builtin:http that answers 503
// while failing is set and records the ids of the rows it accepted.
type recordingSink struct {
	mu      sync.Mutex
	failing bool
	ids     []int
	srv     *httptest.Server
}

var afterID = regexp.MustCompile(`"after":\{"id":(\d+)`)

func newRecordingSink(t *testing.T) *recordingSink {
	s := &recordingSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failing {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		for _, m := range afterID.FindAllSubmatch(body, -1) {
			id, _ := strconv.Atoi(string(m[1]))
			s.ids = append(s.ids, id)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *recordingSink) set(failing bool) {
	s.mu.Lock()
	s.failing = failing
	s.mu.Unlock()
}

func (s *recordingSink) received() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// TestFirstStartLosesNothing stops a task started at "latest" before its
// first transaction (by SIGTERM and by SIGKILL), or has its sender fail on
// the first transaction, then writes rows while puma is down: the restart
// resumes where the first run started and delivers every row, instead of
// resolving "latest" again.
func TestFirstStartLosesNothing(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)")
	next := 0
	insert := func() int {
		next++
		srv.Exec(t, fmt.Sprintf("INSERT INTO app.t VALUES (%d)", next))
		return next
	}
	// One data directory for all: the built-in plugins compile once into
	// its cache; each case has a task (and checkpoint) of its own.
	dir := t.TempDir()
	for i, tc := range []struct {
		name      string
		stop      syscall.Signal
		failFirst bool
	}{
		{"SIGTERM before any row", syscall.SIGTERM, false},
		{"SIGKILL before any row", syscall.SIGKILL, false},
		{"sender fails on the first transaction, then SIGTERM", syscall.SIGTERM, true},
		{"sender fails on the first transaction, then SIGKILL", syscall.SIGKILL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newRecordingSink(t)
			logPath := filepath.Join(t.TempDir(), "puma.log")
			defer dumpLog(t, logPath)
			cfgPath := filepath.Join(dir, fmt.Sprintf("puma%d.toml", i))
			writeFile(t, cfgPath, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "app%d"
replica_server_id = %d
start_if_none = "latest"
tables = ["app.*"]
checkpoint_interval = "100ms"
backoff_min = "20ms"
backoff_max = "200ms"
max_failures = 1000000
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:http"
  config = { url = %q }
  grants = { allow_private = true }
`, i, 7100+i, srv.Addr(), sink.srv.URL))
			var want []int
			sink.set(tc.failFirst)
			p := startPuma(t, cfgPath, logPath)
			waitLog(t, logPath, "msg=streaming", 1)
			if tc.failFirst {
				// Retried without end: the sender fails on the first
				// transaction until puma is stopped.
				want = append(want, insert())
				waitLog(t, logPath, "503", 1)
			}
			if err := p.cmd.Process.Signal(tc.stop); err != nil {
				t.Fatal(err)
			}
			<-p.done
			want = append(want, insert(), insert())
			sink.set(false)
			p = startPuma(t, cfgPath, logPath)
			deadline := time.Now().Add(60 * time.Second)
			for !slices.Equal(sink.received(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("after the restart the sink has rows %v, want %v", sink.received(), want)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-p.done; err != nil {
				t.Fatalf("puma exited with %v after SIGTERM", err)
			}
		})
	}
}
