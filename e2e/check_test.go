package e2e

import (
	"context"
	"fmt"
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
