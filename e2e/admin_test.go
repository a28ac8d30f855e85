package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pumacdc/puma/internal/testdb"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// adminSetup is a puma config with an admin listener on a free port and a
// jsonl sender.
type adminSetup struct {
	dir, cfg, out, log, admin string
}

func newAdminSetup(t *testing.T, srv *testdb.Server, server string) *adminSetup {
	t.Helper()
	dir := t.TempDir()
	s := &adminSetup{dir: dir, cfg: filepath.Join(dir, "puma.toml"), out: filepath.Join(dir, "out.jsonl"), log: filepath.Join(dir, "puma.log")}
	s.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if server == "" {
		server = fmt.Sprintf("admin = %q", s.admin)
	}
	writeFile(t, s.cfg, fmt.Sprintf(`
[server]
data_dir = "data"
%s
[[task]]
name = "shop"
replica_server_id = %d
tables = ["shop.*"]
checkpoint_interval = "100ms"
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, server, 8000+srv.ServerID()%1000, srv.Addr()))
	return s
}

func (s *adminSetup) lines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(s.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func waitLines(t *testing.T, s *adminSetup, n int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l := s.lines(t)
		if len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d delivered changes, have %d", n, len(l))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitState(t *testing.T, s *adminSetup, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.admin + "/tasks/shop")
		if err == nil {
			var st struct{ State string }
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			last = st.State
			if last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task state never became %q (last %q)", want, last)
}

func TestPauseSurvivesRestartAndResumeLosesNothing(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)")
	s := newAdminSetup(t, srv, "")
	defer dumpLog(t, s.log)
	p := startPuma(t, s.cfg, s.log)
	waitState(t, s, "streaming")
	srv.Exec(t, "INSERT INTO shop.t VALUES (1)")
	waitLines(t, s, 1)

	if out, code := runPuma(t, "pause", "-c", s.cfg, "shop"); code != 0 {
		t.Fatalf("puma pause: %d %s", code, out)
	}
	waitState(t, s, "paused")
	srv.Exec(t, "INSERT INTO shop.t VALUES (2)", "INSERT INTO shop.t VALUES (3)")
	time.Sleep(500 * time.Millisecond)
	if n := len(s.lines(t)); n != 1 {
		t.Fatalf("paused task delivered %d changes, want 1", n)
	}
	if out, code := runPuma(t, "pause", "-c", s.cfg, "shop"); code == 0 || !strings.Contains(out, "already paused") {
		t.Fatalf("second pause: %d %s", code, out)
	}

	// The pause survives a restart.
	if err := p.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p = startPuma(t, s.cfg, s.log)
	waitState(t, s, "paused")
	time.Sleep(300 * time.Millisecond)
	if n := len(s.lines(t)); n != 1 {
		t.Fatalf("restarted paused task delivered %d changes, want 1", n)
	}
	out, code := runPuma(t, "status", "-c", s.cfg)
	if code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("puma status: %d\n%s", code, out)
	}

	if out, code := runPuma(t, "resume", "-c", s.cfg, "shop"); code != 0 {
		t.Fatalf("puma resume: %d %s", code, out)
	}
	lines := waitLines(t, s, 3)
	for i, want := range []string{`"id":1`, `"id":2`, `"id":3`} {
		if !strings.Contains(lines[i], want) {
			t.Fatalf("line %d = %s, want %s", i, lines[i], want)
		}
	}

	// /metrics counts exactly the rows this process delivered (2 and 3),
	// and has a lag gauge. A row is counted when its batch is acknowledged,
	// which is after jsonl wrote (and synced) its line: wait for it.
	var metrics string
	rows := `puma_rows_total{task="shop",db="shop",table="t",op="c"}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		metrics = get(t, "http://"+s.admin+"/metrics", "")
		if metricValue(metrics, rows) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if v := metricValue(metrics, rows); v != 2 {
		t.Errorf("puma_rows_total = %v, want 2\n%s", v, grepLines(metrics, "puma_"))
	}
	if v := metricValue(metrics, `puma_bytes_read_total{task="shop"}`); v <= 0 {
		t.Errorf("puma_bytes_read_total = %v", v)
	}
	if !strings.Contains(metrics, `puma_lag_seconds{task="shop"}`) {
		t.Errorf("no lag gauge:\n%s", grepLines(metrics, "puma_"))
	}
	// Prometheus's own parser reads it, and the plugin-call histogram is
	// one with le buckets that counted the sender's calls.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("Prometheus cannot parse /metrics: %v", err)
	}
	calls := fams["puma_plugin_call_duration_seconds"]
	if calls.GetType() != dto.MetricType_HISTOGRAM || len(calls.GetMetric()) == 0 ||
		calls.GetMetric()[0].GetHistogram().GetSampleCount() == 0 || len(calls.GetMetric()[0].GetHistogram().GetBucket()) == 0 {
		t.Errorf("puma_plugin_call_duration_seconds is not a histogram of the sender's calls: %v", calls)
	}
	if v := metricValue(metrics, `puma_task_state{task="shop",state="streaming"}`); v != 1 {
		t.Errorf("puma_task_state{state=streaming} = %v\n%s", v, grepLines(metrics, "puma_task_state"))
	}
	if v := metricValue(metrics, `puma_task_up{task="shop"}`); v != 1 {
		t.Errorf("puma_task_up = %v", v)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestStopAtHaltsExactly(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)")
	s := newAdminSetup(t, srv, "")
	defer dumpLog(t, s.log)
	p := startPuma(t, s.cfg, s.log)
	waitState(t, s, "streaming")
	if out, code := runPuma(t, "pause", "-c", s.cfg, "shop"); code != 0 {
		t.Fatalf("pause: %s", out)
	}
	waitState(t, s, "paused")
	srv.Exec(t, "INSERT INTO shop.t VALUES (1)", "INSERT INTO shop.t VALUES (2)")
	r := srv.Query(t, "SHOW MASTER STATUS")
	file, _ := r.GetString(0, 0)
	pos, _ := r.GetUint(0, 1)
	srv.Exec(t, "INSERT INTO shop.t VALUES (3)", "INSERT INTO shop.t VALUES (4)")

	at := fmt.Sprintf("file:%s:%d", file, pos)
	if out, code := runPuma(t, "stop-at", "-c", s.cfg, "shop", at); code != 0 {
		t.Fatalf("stop-at: %d %s", code, out)
	}
	if out, code := runPuma(t, "resume", "-c", s.cfg, "shop"); code != 0 {
		t.Fatalf("resume: %s", out)
	}
	// The task runs to the point, checkpoints and stops; with no task
	// left, puma exits 0.
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("puma exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("puma did not stop at the stop-at point")
	}
	lines := s.lines(t)
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":1`) || !strings.Contains(lines[1], `"id":2`) {
		t.Fatalf("delivered %v, want exactly rows 1 and 2", lines)
	}
	cp, err := os.ReadFile(filepath.Join(s.dir, "data", "checkpoints", "shop.json"))
	if err != nil || !strings.Contains(string(cp), at) || !strings.Contains(string(cp), strconv.FormatUint(pos, 10)) {
		t.Fatalf("checkpoint does not end at the stop point %s: %s %v", at, cp, err)
	}
}

func TestAdminTokenOnNonLoopback(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	port := freePort(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "hunter2\n")
	s := newAdminSetup(t, srv, fmt.Sprintf("admin = \"0.0.0.0:%d\"\nadmin_token_file = %q", port, tokenFile))
	s.admin = fmt.Sprintf("127.0.0.1:%d", port)
	defer dumpLog(t, s.log)
	p := startPuma(t, s.cfg, s.log)
	defer p.stop(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := http.Get("http://" + s.admin + "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("admin never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tok := range []string{"", "wrong"} {
		if code := status(t, "http://"+s.admin+"/tasks", tok); code != http.StatusUnauthorized {
			t.Fatalf("token %q: %d, want 401", tok, code)
		}
	}
	if code := status(t, "http://"+s.admin+"/tasks", "hunter2"); code != http.StatusOK {
		t.Fatalf("right token: %d", code)
	}
	// The CLI reads the token from the config.
	if out, code := runPuma(t, "status", "-c", s.cfg); code != 0 {
		t.Fatalf("puma status with token: %d %s", code, out)
	}
}

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url, token string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(text, series string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A task that cannot reach its source turns /healthz to 503 once it has
// not streamed for unhealthy_after, naming the task, its state and error.
func TestHealthzReportsATaskThatCannotConnect(t *testing.T) {
	dir := t.TempDir()
	cfg, logPath := filepath.Join(dir, "puma.toml"), filepath.Join(dir, "puma.log")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = %q
unhealthy_after = "1s"
[[task]]
name = "shop"
replica_server_id = 8999
backoff_max = "200ms"
  [[task.source]]
  addr = "127.0.0.1:%d"
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, admin, freePort(t)))
	defer dumpLog(t, logPath)
	p := startPuma(t, cfg, logPath)
	defer p.stop(t)
	// Plugins are built first (the task is new), then the task retries
	// its connection: the state moves on, the 503 stays.
	var code int
	var body string
	ok := func() bool {
		var h struct {
			Status    string
			Unhealthy []struct {
				Task, State string
				LastError   string `json:"last_error"`
			}
		}
		if json.Unmarshal([]byte(body), &h) != nil || code != http.StatusServiceUnavailable {
			return false
		}
		return h.Status == "unhealthy" && len(h.Unhealthy) == 1 && h.Unhealthy[0].Task == "shop" &&
			(h.Unhealthy[0].State == "reconnecting" || h.Unhealthy[0].State == "connecting") &&
			strings.Contains(h.Unhealthy[0].LastError, "connect")
	}
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %d %s, want 503 naming task shop, reconnecting, with its connection error", code, body)
		}
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
	}
}

// The operator commands read only [server]: they work where a source's
// password variable is not set, say what they did in a line, see the
// pause at once, and say an error once.
func TestOperatorCommands(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)",
		"CREATE USER cdc@'%' IDENTIFIED BY 'cdc-pw'", "GRANT ALL ON *.* TO cdc@'%'")
	s := newAdminSetup(t, srv, "")
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.cfg, strings.Replace(string(cfg), `user = "root"`, "user = \"cdc\"\n  password_env = \"PUMA_E2E_CDC_PASSWORD\"", 1))
	defer dumpLog(t, s.log)
	t.Setenv("PUMA_E2E_CDC_PASSWORD", "cdc-pw")
	p := startPuma(t, s.cfg, s.log)
	defer p.stop(t)
	os.Unsetenv("PUMA_E2E_CDC_PASSWORD") // for the commands below
	waitState(t, s, "streaming")
	srv.Exec(t, "INSERT INTO shop.t VALUES (1)")
	waitLines(t, s, 1)

	out, code := runPuma(t, "pause", "-c", s.cfg, "shop")
	if code != 0 || !regexp.MustCompile(`^task shop paused at mysql-bin\.\d+:\d+( gtid:\S+)?\n$`).MatchString(out) {
		t.Fatalf("puma pause: %d %q, want one line with the position", code, out)
	}
	out, code = runPuma(t, "status", "-c", s.cfg, "shop")
	if code != 0 || !regexp.MustCompile(`\nshop +(paused|pausing) `).MatchString(out) {
		t.Fatalf("puma status right after pause: %d\n%s", code, out)
	}
	out, code = runPuma(t, "pause", "-c", s.cfg, "shop")
	if code == 0 || strings.Count(out, "not possible in the task's state") != 1 || !strings.Contains(out, "already paused") {
		t.Fatalf("second pause: %d %q, want the error said once", code, out)
	}
	out, code = runPuma(t, "resume", "-c", s.cfg, "shop")
	if code != 0 || !regexp.MustCompile(`^task shop resumed at mysql-bin\.\d+:\d+( gtid:\S+)?\n$`).MatchString(out) {
		t.Fatalf("puma resume: %d %q", code, out)
	}
	out, code = runPuma(t, "stop-at", "-c", s.cfg, "shop", "file:mysql-bin.999999:4")
	if code != 0 || !strings.HasPrefix(out, "task shop will stop at file:mysql-bin.999999:4; now at mysql-bin.") {
		t.Fatalf("puma stop-at: %d %q", code, out)
	}
	if out, code = runPuma(t, "pause", "-c", s.cfg, "nope"); code == 0 || strings.Count(out, "no such task") != 1 {
		t.Fatalf("pause of an unknown task: %d %q", code, out)
	}
	// The daemon itself still needs the password: a command that loads
	// the whole file says so.
	if out, code = runPuma(t, "check", "-c", s.cfg); code == 0 || !strings.Contains(out, "PUMA_E2E_CDC_PASSWORD") {
		t.Fatalf("puma check without the password: %d %q", code, out)
	}
}
