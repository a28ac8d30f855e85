package testdb

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Start starts a server for the test t and registers a cleanup that stops it.
// The cleanup removes the server's directory, unless the test failed: then it
// keeps the directory and logs its path and the last 50 lines of error.log.
//
// Invalid options fail the test. When MariaDB is missing or the server cannot
// start, Start skips the test, or fails it if the CI environment variable is
// non-empty, so a CI run can never pass by skipping.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if err := opts.Validate(); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if opts.Detach {
		t.Fatalf("testdb: Start does not support Detach; use New")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	s, err := New(ctx, opts)
	if err != nil {
		if ciSet() {
			t.Fatalf("testdb: cannot start MariaDB (failing, not skipping, because CI is set): %v", err)
		}
		t.Skipf("testdb: cannot start MariaDB (set CI=1 to fail instead of skip): %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			if err := s.Close(); err != nil {
				t.Errorf("testdb: %v", err)
			}
			return
		}
		if err := s.Stop(); err != nil {
			t.Logf("testdb: %v", err)
		}
		t.Logf("testdb: test failed; kept server dir %s (was %s); last 50 lines of %s:\n%s",
			s.dir, s.Addr(), s.logPath, tail(s.logPath, 50))
	})
	return s
}

// ciSet reports whether the CI environment variable is non-empty.
func ciSet() bool { return os.Getenv("CI") != "" }

// Exec runs stmts in order on one new connection, so session state such as
// USE or SET carries from one to the next. Any error fails the test.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	c := s.connT(t)
	defer c.Quit()
	for _, stmt := range stmts {
		r, err := c.Execute(stmt)
		if err != nil {
			t.Fatalf("testdb: exec on %s: %s: %v", s.Addr(), stmt, err)
		}
		r.Close()
	}
}

// Query runs one statement on a new connection and returns its result; an
// error fails the test. The caller owns the result (Close returns its buffers
// to go-mysql's pool but is optional).
func (s *Server) Query(t testing.TB, sql string) *mysql.Result {
	t.Helper()
	c := s.connT(t)
	defer c.Quit()
	r, err := c.Execute(sql)
	if err != nil {
		t.Fatalf("testdb: query on %s: %s: %v", s.Addr(), sql, err)
	}
	return r
}

// connT connects for the testing helpers. It does not use t.Context, which
// is already cancelled when cleanups run.
func (s *Server) connT(t testing.TB) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Conn(ctx)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return c
}

// queryString returns the first column of the first row of sql, "" for NULL.
func (s *Server) queryString(t testing.TB, sql string) string {
	t.Helper()
	r := s.Query(t, sql)
	defer r.Close()
	if r.Resultset == nil || len(r.Values) == 0 || len(r.Values[0]) == 0 {
		t.Fatalf("testdb: query on %s: %s: no rows", s.Addr(), sql)
	}
	return cell(t, r, 0, 0)
}

// cell returns the value at row, col as a string owned by the caller ("" for
// NULL; numbers in decimal).
func cell(t testing.TB, r *mysql.Result, row, col int) string {
	t.Helper()
	v, err := r.GetString(row, col)
	if err != nil {
		t.Fatalf("testdb: row %d column %d: %v", row, col, err)
	}
	return strings.Clone(v) // GetString aliases the result's buffer
}

// BinlogFiles returns the binary log file names (SHOW BINARY LOGS), oldest first.
func (s *Server) BinlogFiles(t testing.TB) []string {
	t.Helper()
	r := s.Query(t, "SHOW BINARY LOGS")
	defer r.Close()
	files := make([]string, 0, len(r.Values))
	for i := range r.Values {
		files = append(files, cell(t, r, i, 0))
	}
	return files
}

// GTIDBinlogPos returns @@gtid_binlog_pos, e.g. "0-101-7"; "" before any
// transaction has been logged.
func (s *Server) GTIDBinlogPos(t testing.TB) string {
	t.Helper()
	return s.queryString(t, "SELECT @@GLOBAL.gtid_binlog_pos")
}

// ReplicateFrom makes s a GTID replica of primary (MASTER_USE_GTID=slave_pos)
// and starts replication. Start replicas with Options.LogSlaveUpdates so their
// binary log carries the replicated events.
func (s *Server) ReplicateFrom(t testing.TB, primary *Server) {
	t.Helper()
	s.Exec(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
			primary.Port(), quote(primary.User()), quote(primary.Password())),
		"START SLAVE")
}

// WaitCaughtUp waits until s has applied everything in primary's binary log
// as of the call (MASTER_GTID_WAIT on primary's @@gtid_binlog_pos). It fails
// the test with the replica's status if that takes longer than timeout.
func (s *Server) WaitCaughtUp(t testing.TB, primary *Server, timeout time.Duration) {
	t.Helper()
	pos := primary.GTIDBinlogPos(t)
	if pos == "" {
		return
	}
	got := s.queryString(t, fmt.Sprintf("SELECT MASTER_GTID_WAIT(%s, %.3f)", quote(pos), timeout.Seconds()))
	if got == "0" {
		return
	}
	t.Fatalf("testdb: replica %s not caught up with %s (gtid %s) within %v: %s",
		s.Addr(), primary.Addr(), pos, timeout, s.replicaStatus(t))
}

// replicaStatus summarises SHOW SLAVE STATUS for failure messages.
func (s *Server) replicaStatus(t testing.TB) string {
	t.Helper()
	r := s.Query(t, "SHOW SLAVE STATUS")
	defer r.Close()
	if r.Resultset == nil || len(r.Values) == 0 {
		return "not a replica"
	}
	var b strings.Builder
	for _, name := range []string{"Slave_IO_Running", "Slave_SQL_Running", "Last_IO_Error", "Last_SQL_Error", "Gtid_IO_Pos"} {
		v, err := r.GetStringByName(0, name)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s=%q ", name, v)
	}
	fmt.Fprintf(&b, "gtid_slave_pos=%q", s.queryString(t, "SELECT @@GLOBAL.gtid_slave_pos"))
	return b.String()
}

// Promote turns a replica into a standalone primary: STOP SLAVE; RESET SLAVE ALL.
func (s *Server) Promote(t testing.TB) {
	t.Helper()
	s.Exec(t, "STOP SLAVE", "RESET SLAVE ALL")
}
