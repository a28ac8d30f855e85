package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

// A source that refuses the task's password fails the task within a
// minute; puma keeps serving /healthz, which answers 503 naming the task,
// its failed state and the server's message, until it is stopped.
func TestWrongPasswordFailsTheTaskAndHealthz(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE USER 'cdc'@'%' IDENTIFIED BY 'right'", "GRANT ALL ON *.* TO 'cdc'@'%'")
	dir := t.TempDir()
	cfg, logPath := filepath.Join(dir, "puma.toml"), filepath.Join(dir, "puma.log")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	writeFile(t, filepath.Join(dir, "pw"), "wrong")
	writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
[[task]]
name = "shop"
replica_server_id = 8998
  [[task.source]]
  addr = %q
  user = "cdc"
  password_file = "pw"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, admin, srv.Addr()))
	defer dumpLog(t, logPath)
	start := time.Now()
	p := startPuma(t, cfg, logPath)

	var code int
	var body string
	failed := func() bool {
		var h struct {
			Unhealthy []struct {
				Task, State string
				LastError   string `json:"last_error"`
			}
		}
		if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &h) != nil || len(h.Unhealthy) != 1 {
			return false
		}
		u := h.Unhealthy[0]
		return u.Task == "shop" && u.State == "failed" && strings.Contains(u.LastError, "Access denied for user 'cdc'")
	}
	for !failed() {
		if time.Since(start) > time.Minute {
			t.Fatalf("/healthz after a minute: %d %s, want 503 with task shop failed and the server's access denied", code, body)
		}
		select {
		case err := <-p.done:
			t.Fatalf("puma exited (%v) instead of reporting the failed task", err)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
	}
	t.Logf("failed and reported after %s", time.Since(start).Round(time.Millisecond))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err == nil {
		t.Fatal("puma exited 0 after a task failed")
	}
}
