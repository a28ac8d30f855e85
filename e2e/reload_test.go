package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pumacdc/puma/internal/testdb"
)

const reloadTask = `
[[task]]
name = %q
replica_server_id = %d
tables = [%q]
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:jsonl"
  config = { path = %q }
`

// SIGHUP applies a changed puma.toml task by task; an invalid one changes
// nothing.
func TestReloadAppliesTaskByTask(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE a", "CREATE DATABASE b", "CREATE TABLE a.t (id INT PRIMARY KEY)", "CREATE TABLE b.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "puma.toml")
	head := "[server]\ndata_dir = \"data\"\nadmin = \"\"\n"
	taskA := fmt.Sprintf(reloadTask, "a", 9301, "a.*", srv.Addr(), "a.jsonl")
	taskB := fmt.Sprintf(reloadTask, "b", 9302, "b.*", srv.Addr(), "b.jsonl")
	writeFile(t, cfg, head+taskA)
	logPath := filepath.Join(dir, "puma.log")
	defer dumpLog(t, logPath)
	p := startPuma(t, cfg, logPath)
	waitLog(t, logPath, `msg=streaming task=a`, 1)
	srv.Exec(t, "INSERT INTO a.t VALUES (1)", "INSERT INTO b.t VALUES (1)")
	waitFileLines(t, filepath.Join(dir, "a.jsonl"), 1)

	writeFile(t, cfg, head+taskA+taskB)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logPath, `msg=streaming task=b`, 1)
	srv.Exec(t, "INSERT INTO a.t VALUES (2)", "INSERT INTO b.t VALUES (2)")
	waitFileLines(t, filepath.Join(dir, "a.jsonl"), 2)
	waitFileLines(t, filepath.Join(dir, "b.jsonl"), 1)
	if n := countLog(t, logPath, `msg=streaming task=a`); n != 1 {
		t.Errorf("unchanged task a was restarted by the reload (%d starts)", n)
	}

	writeFile(t, cfg, head+taskA+taskB+"\n[[task]]\nname = 7\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logPath, "reload failed", 1)
	srv.Exec(t, "INSERT INTO a.t VALUES (3)", "INSERT INTO b.t VALUES (3)")
	waitFileLines(t, filepath.Join(dir, "a.jsonl"), 3)
	waitFileLines(t, filepath.Join(dir, "b.jsonl"), 2)
	if err := p.stop(t); err != nil {
		t.Fatalf("puma exited with %v", err)
	}
}

func countLog(t *testing.T, path, needle string) int {
	t.Helper()
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), needle)
}

func waitLog(t *testing.T, path, needle string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for countLog(t, path, needle) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q", needle)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFileLines(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %d lines, have:\n%s", path, n, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
