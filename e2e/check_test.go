package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

func checkConfig(t *testing.T, addr string, replicaID uint32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "puma.toml")
	writeFile(t, path, fmt.Sprintf(`
[[task]]
name = "shop"
replica_server_id = %d
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:stdout"
`, replicaID, addr))
	return path
}

func TestCheckHealthyServer(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	out, code := runPuma(t, "check", "-c", checkConfig(t, srv.Addr(), 9001))
	if code != 0 || !strings.Contains(out, "preflight ok") {
		t.Fatalf("puma check on a healthy server: exit %d\n%s", code, out)
	}
	for _, want := range []string{"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "privilege REPLICATION SLAVE"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %s:\n%s", want, out)
		}
	}
}

func TestCheckStatementFormat(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{BinlogFormat: "STATEMENT"})
	out, code := runPuma(t, "check", "-c", checkConfig(t, srv.Addr(), 9001))
	if code == 0 {
		t.Fatalf("puma check passed a STATEMENT server:\n%s", out)
	}
	if !strings.Contains(out, "FAIL  binlog_format") || !strings.Contains(out, "SET GLOBAL binlog_format=ROW") {
		t.Fatalf("report does not name binlog_format with its fix:\n%s", out)
	}
}

func TestCheckMissingMetadataAndServerID(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{RowMetadata: "MINIMAL"})
	out, code := runPuma(t, "check", "-c", checkConfig(t, srv.Addr(), srv.ServerID()))
	if code == 0 {
		t.Fatalf("puma check passed:\n%s", out)
	}
	for _, want := range []string{"FAIL  binlog_row_metadata", "SET GLOBAL binlog_row_metadata=FULL", "FAIL  replica_server_id", "source's own server_id"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckDuplicateReplicaID(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "puma.toml")
	writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "data"
admin = ""
[[task]]
name = "a"
replica_server_id = 9100
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = "out.jsonl" }
`, srv.Addr()))
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	p := startPuma(t, cfg, logPath)
	defer p.stop(t)
	// Wait until the running puma is registered as replica 9100.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := srv.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r, err := conn.Execute("SHOW SLAVE HOSTS")
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.RowNumber() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("puma never registered as a replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, code := runPuma(t, "check", "-c", checkConfig(t, srv.Addr(), 9100))
	if code == 0 || !strings.Contains(out, "FAIL  replica_server_id") || !strings.Contains(out, "already used by a connected replica") {
		t.Fatalf("duplicate replica_server_id not detected (exit %d):\n%s", code, out)
	}
}

func TestBadConfigReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "puma.toml")
	writeFile(t, path, `
[server]
log_format = "yaml"
[[task]]
name = "shop"
replica_server_id = "x"
start = "yesterday"
colour = "blue"
  [[task.sender]]
  plugin = "builtin:stdout"
`)
	for _, cmd := range []string{"check", "run"} {
		out, code := runPuma(t, cmd, "-c", path)
		if code != 2 {
			t.Errorf("puma %s: exit %d, want 2\n%s", cmd, code, out)
		}
		for _, want := range []string{
			"server.log_format",
			"task[0] (shop).replica_server_id",
			"task[0] (shop).start",
			"task[0] (shop).colour: unknown key",
			"task[0] (shop).source",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("puma %s: output lacks %q:\n%s", cmd, want, out)
			}
		}
		if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines < 5 {
			t.Errorf("puma %s: want one line per problem (>= 5), got %d:\n%s", cmd, lines, out)
		}
	}

	writeFile(t, path, "[[task]\nname = \"x\"\n")
	out, code := runPuma(t, "check", "-c", path)
	if code != 2 || !strings.Contains(out, "line 2, column") {
		t.Errorf("syntax error: exit %d, want 2 with a line number:\n%s", code, out)
	}
}

func TestCheckReplicaWithoutLogSlaveUpdates(t *testing.T) {
	primary := testdb.Start(t, testdb.Options{})
	replica := testdb.Start(t, testdb.Options{LogSlaveUpdates: false})
	replica.ReplicateFrom(t, primary)
	out, code := runPuma(t, "check", "-c", checkConfig(t, replica.Addr(), 9001))
	if code == 0 || !strings.Contains(out, "FAIL  log_slave_updates") || !strings.Contains(out, "log_slave_updates=ON") {
		t.Fatalf("a replica without log_slave_updates passed (exit %d):\n%s", code, out)
	}
}

// puma check starts every plugin as run would, without the database: a
// missing module, an unknown built-in and a misspelt config key are each
// reported with their TOML path, next to the source it cannot reach.
func TestCheckPlugins(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "puma.toml")
	writeFile(t, cfg, fmt.Sprintf(`
[server]
data_dir = "var"
admin = ""
[[task]]
name = "shop"
replica_server_id = 9001
  [[task.source]]
  addr = %q
  user = "root"
  [[task.handler]]
  plugin = "builtin:filtr"
  [[task.handler]]
  plugin = "plugins/missing.wasm"
  [[task.handler]]
  plugin = "builtin:filter"
  config = { ops = ["c"] }
  [[task.handler]]
  plugin = "builtin:stdout"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { pth = "out/shop.jsonl" }
  [[task.sender]]
  plugin = "builtin:http"
  config = { url = "http://127.0.0.1:9/hook" }
  [[task.sender]]
  plugin = "builtin:jsonl"
  name = "good"
  config = { path = "out/good.jsonl" }
`, closedAddr(t)))
	out, code := runPuma(t, "check", "-c", cfg)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		`FAIL  handler[0] (filtr)`,
		`task[0] (shop).handler[0].plugin: no built-in plugin "filtr": did you mean builtin:filter? (the built-ins are amqp, filter, http, jsonl, kafka, mask, nats, redis, rename, route, sqlapply, stdout)`,
		`task[0] (shop).handler[1].plugin: ` + filepath.Join(dir, "plugins", "missing.wasm") + ` does not exist`,
		`ok    handler[2] (filter)`,
		`task[0] (shop).handler[3].plugin: builtin:stdout is a sender: move it to a [[task.sender]] table`,
		`task[0] (shop).sender[0].config.pth: unknown key: builtin:jsonl has no config key "pth"`,
		`task[0] (shop).sender[1].grants: grants.http: http://127.0.0.1:9/hook is a loopback address: add allow_private = true`,
		`ok    sender[2] (good)`,
		`FAIL  connect`,
		`preflight failed`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "needs the \"files\" grant") {
		t.Errorf("the misspelt config key is reported as a missing grant")
	}
	if t.Failed() {
		t.Logf("puma check:\n%s", out)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
