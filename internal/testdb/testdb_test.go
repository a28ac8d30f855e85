package testdb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})

	s.Exec(t,
		"CREATE DATABASE puma",
		"CREATE TABLE puma.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO puma.t VALUES (1, 'one'), (2, 'two')",
	)
	wantRows(t, s, "SELECT id, v FROM puma.t ORDER BY id", "1=one,2=two")
	wantVars(t, s, map[string]string{
		"log_bin":             "1",
		"binlog_format":       "ROW",
		"binlog_row_metadata": "FULL",
		"binlog_row_image":    "FULL",
		"server_id":           fmt.Sprint(s.ServerID()),
		"port":                fmt.Sprint(s.Port()),
		"bind_address":        "127.0.0.1",
	})
	// Connections speak utf8mb4, so non-Latin-1 text survives a round trip.
	s.Exec(t, "CREATE TABLE puma.u (v VARCHAR(20)) CHARACTER SET utf8mb4", "INSERT INTO puma.u VALUES ('żółw ✓ 🐆')")
	wantRows(t, s, "SELECT v FROM puma.u", "żółw ✓ 🐆")
	wantRows(t, s, "SELECT @@character_set_client", "utf8mb4")
	if got := s.BinlogFiles(t); len(got) == 0 || got[0] != "mysql-bin.000001" {
		t.Errorf("BinlogFiles = %q, want a fresh log starting at mysql-bin.000001", got)
	}
	if pos := s.GTIDBinlogPos(t); pos == "" {
		t.Error("GTIDBinlogPos is empty after writes")
	}
	if want := "127.0.0.1:" + fmt.Sprint(s.Port()); s.Addr() != want {
		t.Errorf("Addr = %q, want %q", s.Addr(), want)
	}

	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if c, err := s.Conn(context.Background()); err == nil {
		c.Close()
		t.Fatal("Conn succeeded after Kill")
	}
	port := s.Port()
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if s.Port() != port {
		t.Errorf("Port after Restart = %d, want %d", s.Port(), port)
	}
	wantRows(t, s, "SELECT id, v FROM puma.t ORDER BY id", "1=one,2=two")

	// A clean restart keeps the data too and rotates the binary log.
	s.Exec(t, "INSERT INTO puma.t VALUES (3, 'three')")
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	wantRows(t, s, "SELECT id, v FROM puma.t ORDER BY id", "1=one,2=two,3=three")
	if got := s.BinlogFiles(t); len(got) < 3 {
		t.Errorf("BinlogFiles after two restarts = %q, want at least 3 files", got)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want map[string]string
	}{
		{"row metadata minimal", Options{RowMetadata: "MINIMAL"},
			map[string]string{"log_bin": "1", "binlog_row_metadata": "MINIMAL"}},
		{"row metadata no_log, minimal image", Options{RowMetadata: "NO_LOG", RowImage: "MINIMAL"},
			map[string]string{"binlog_row_metadata": "NO_LOG", "binlog_row_image": "MINIMAL"}},
		{"no binlog", Options{NoBinlog: true},
			map[string]string{"log_bin": "0"}},
		{"statement, strict gtid, fixed server id", Options{BinlogFormat: "STATEMENT", GTIDStrictMode: true, LogSlaveUpdates: true, ServerID: 4242},
			map[string]string{"binlog_format": "STATEMENT", "gtid_strict_mode": "1", "log_slave_updates": "1", "server_id": "4242"}},
		{"extra args", Options{ExtraArgs: []string{"--max-allowed-packet=33554432"}},
			map[string]string{"max_allowed_packet": "33554432"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tt.opts)
			wantVars(t, s, tt.want)
		})
	}
}

func TestReplication(t *testing.T) {
	t.Parallel()
	primary := Start(t, Options{LogSlaveUpdates: true, GTIDStrictMode: true})
	replica := Start(t, Options{LogSlaveUpdates: true, GTIDStrictMode: true})
	if primary.ServerID() == replica.ServerID() {
		t.Fatalf("primary and replica share server id %d", primary.ServerID())
	}

	primary.Exec(t,
		"CREATE DATABASE puma",
		"CREATE TABLE puma.t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO puma.t VALUES (1, 'one')",
	)
	replica.ReplicateFrom(t, primary)
	replica.WaitCaughtUp(t, primary, 30*time.Second)
	wantRows(t, replica, "SELECT id, v FROM puma.t", "1=one")

	primary.Exec(t, "INSERT INTO puma.t VALUES (2, 'two')")
	replica.WaitCaughtUp(t, primary, 30*time.Second)
	wantRows(t, replica, "SELECT id, v FROM puma.t ORDER BY id", "1=one,2=two")
	// log_slave_updates: the replica logged the same GTIDs.
	if p, r := primary.GTIDBinlogPos(t), replica.GTIDBinlogPos(t); p != r {
		t.Errorf("replica gtid_binlog_pos = %q, want primary's %q", r, p)
	}

	replica.Promote(t)
	replica.Exec(t, "INSERT INTO puma.t VALUES (3, 'three')")
	wantRows(t, replica, "SELECT id, v FROM puma.t ORDER BY id", "1=one,2=two,3=three")
	wantRows(t, replica, "SHOW SLAVE STATUS", "")
}

// A proxy armed with CutOn drops the statement and every connection, once.
func TestProxyCutOn(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.Exec(t, "CREATE DATABASE puma", "CREATE TABLE puma.t (id INT PRIMARY KEY)")
	p := NewProxy(t, s.Addr())
	dial := func() *client.Conn {
		t.Helper()
		c, err := connect(t.Context(), p.Addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("connect through the proxy: %v", err)
		}
		if err := c.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c, other := dial(), dial()
	const stmt = "INSERT INTO puma.t VALUES (1)"
	p.CutOn(stmt)
	if _, err := c.Execute("INSERT INTO puma.t VALUES (2)"); err != nil {
		t.Fatalf("a statement before the armed one: %v", err)
	}
	if _, err := c.Execute(stmt); err == nil {
		t.Fatal("the armed statement went through")
	}
	if _, err := other.Execute("SELECT 1"); err == nil {
		t.Error("the cut left another connection open")
	}
	if n := p.Cuts(); n != 1 {
		t.Errorf("Cuts = %d after one armed cut, want 1", n)
	}
	wantRows(t, s, "SELECT id FROM puma.t", "2")
	// Disarmed: the statement goes through on a new connection.
	if _, err := dial().Execute(stmt); err != nil {
		t.Fatalf("the statement after the cut: %v", err)
	}
	wantRows(t, s, "SELECT id FROM puma.t ORDER BY id", "1,2")
}

func TestDetachedDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{Dir: dir, Detach: true}
	s, err := New(t.Context(), opts)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() { _ = StopDir(context.Background(), dir) })
	s.Exec(t, "CREATE DATABASE puma", "CREATE TABLE puma.t (id INT PRIMARY KEY)", "INSERT INTO puma.t VALUES (7)")

	_, err = New(t.Context(), opts)
	var running *RunningError
	if !errors.As(err, &running) || !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second New on a live dir: err = %v, want a *RunningError", err)
	}
	if running.Addr != s.Addr() || running.PID != s.proc.pid() {
		t.Errorf("RunningError = %+v, want addr %s pid %d", running, s.Addr(), s.proc.pid())
	}

	if err := StopDir(t.Context(), dir); err != nil {
		t.Fatalf("StopDir: %v", err)
	}
	if err := StopDir(t.Context(), dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("StopDir on a stopped dir: err = %v, want ErrNotRunning", err)
	}

	// The directory is reused, data and all, on the same fixed port.
	s2, err := New(t.Context(), Options{Dir: dir, Port: s.Port(), Detach: true})
	if err != nil {
		t.Fatalf("New on a stopped dir: %v", err)
	}
	wantRows(t, s2, "SELECT id FROM puma.t", "7")
	if err := s2.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// TestStartSkipsOrFails checks the CI rule: a server that cannot start skips
// the test locally and fails it when CI is set. Without mariadbd the bad
// option below is never tried, so the test itself skips then, unless CI is
// set: then it fails like every other test that needs a server.
func TestStartSkipsOrFails(t *testing.T) {
	inCI := ciSet() // before the subtests set CI
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(rec, Options{ExtraArgs: []string{"--puma-no-such-option"}})
				rec.returned = true
			}()
			<-done
			switch {
			case rec.returned:
				t.Fatal("Start returned a server despite a bad mariadbd option")
			case ci == "" && rec.skipped == "":
				t.Fatalf("Start did not skip without CI (fatal: %q)", rec.fatal)
			case ci != "" && rec.fatal == "":
				t.Fatalf("Start did not fail with CI set (skip: %q)", rec.skipped)
			}
			msg := rec.skipped + rec.fatal
			if strings.Contains(msg, ErrNotInstalled.Error()) {
				if inCI {
					t.Fatalf("cannot check that Start quotes the error log, and CI is set: %s", msg)
				}
				t.Skipf("mariadbd missing, the reason is: %s", msg)
			}
			if !strings.Contains(msg, "puma-no-such-option") {
				t.Errorf("reason does not quote the error log: %s", msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		opts Options
		want string // substring of the error; "" means valid
	}{
		{Options{}, ""},
		{Options{BinlogFormat: "row", RowMetadata: "minimal", RowImage: "noblob"}, ""},
		{Options{BinlogFormat: "JSON"}, `BinlogFormat "JSON"`},
		{Options{RowMetadata: "ALL"}, `RowMetadata "ALL"`},
		{Options{RowImage: "HALF"}, `RowImage "HALF"`},
		{Options{Port: 3306}, "Port 3306"},
		{Options{Port: 70000}, "Port 70000"},
		{Options{Detach: true}, "Detach needs Dir"},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.opts, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v, want an error mentioning %q", tt.opts, err, tt.want)
		}
	}
}

// recordingTB records Skipf and Fatalf instead of ending the real test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
	returned       bool
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// skipOrFail applies Start's CI rule to an error from New.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && !ciSet() {
		t.Skipf("%v", err)
	}
	t.Fatalf("New: %v", err)
}

// wantRows compares the rows of sql, rendered as "a=b,c=d", with want.
func wantRows(t *testing.T, s *Server, sql, want string) {
	t.Helper()
	r := s.Query(t, sql)
	defer r.Close()
	var rows []string
	if r.Resultset != nil {
		for i := range r.Values {
			var cols []string
			for j := range r.Values[i] {
				cols = append(cols, cell(t, r, i, j))
			}
			rows = append(rows, strings.Join(cols, "="))
		}
	}
	if got := strings.Join(rows, ","); got != want {
		t.Errorf("%s on %s = %q, want %q", sql, s.Addr(), got, want)
	}
}

// wantVars checks global variables.
func wantVars(t *testing.T, s *Server, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := s.queryString(t, "SELECT @@GLOBAL."+name); got != v {
			t.Errorf("@@%s = %q, want %q", name, got, v)
		}
	}
}

// A server keeps its temporary files in a tmpdir of its own: mariadbd
// deletes every #sql* file of its tmpdir when it starts, so with a shared
// /tmp a server starting deleted the on-disk temporary tables (those of
// information_schema queries among them) of every server running.
func TestOwnTmpdir(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	wantVars(t, a, map[string]string{"tmpdir": filepath.Join(a.dir, "tmp")})
	c, err := a.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{
		"CREATE TEMPORARY TABLE test.scratch (v TEXT) ENGINE=Aria",
		"INSERT INTO test.scratch VALUES ('before')",
	} {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(a.dir, "tmp", "#sql*"))
	if len(files) == 0 {
		t.Fatalf("no #sql* file in %s/tmp for an Aria temporary table", a.dir)
	}
	Start(t, Options{}) // starting deletes the #sql* files of its own tmpdir only
	for _, q := range []string{
		"INSERT INTO test.scratch VALUES ('after')",
		"SELECT COUNT(*) FROM test.scratch",
		"DROP TEMPORARY TABLE test.scratch",
	} {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s after another server started: %v", q, err)
		}
	}
}
