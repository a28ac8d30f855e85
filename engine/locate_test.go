package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/internal/config"
	"github.com/pumacdc/puma/internal/testdb"
)

// locConfig is taskConfig with the start specification given: start, and
// start_if_none when start is "checkpoint".
func locConfig(t *testing.T, srv *testdb.Server, start, startIfNone, extra string) engine.TaskConfig {
	t.Helper()
	doc := fmt.Sprintf(`
[server]
data_dir = %q
[[task]]
name = "t"
replica_server_id = %d
start = %q
start_if_none = %q
backoff_min = "10ms"
backoff_max = "200ms"
checkpoint_interval = "50ms"
%s
  [[task.source]]
  addr = %q
  user = "root"
  [[task.sender]]
  plugin = "builtin:capture"
`, t.TempDir(), nextReplicaID(), start, startIfNone, extra, srv.Addr())
	cfg, err := config.Parse([]byte(doc), filepath.Join(t.TempDir(), "puma.toml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.Tasks[0]
}

// locRows returns the id column of every change to table d.t the sink
// received, from the after image (before for deletes).
func locRows(t *testing.T, sink *capture) []int {
	t.Helper()
	return locTableRows(t, sink, "t")
}

func locTableRows(t *testing.T, sink *capture, table string) []int {
	t.Helper()
	var out []int
	for _, e := range sink.envelopes(t) {
		if e["source"].(map[string]any)["table"] != table {
			continue
		}
		img, _ := e["after"].(map[string]any)
		if img == nil {
			img, _ = e["before"].(map[string]any)
		}
		if img == nil {
			continue
		}
		out = append(out, int(img["id"].(float64)))
	}
	return out
}

var locLaterID atomic.Int64

// locExpect starts a task at start and checks that it delivers exactly
// the rows want of table d.t, then writes a row to table d.later and checks
// that it follows.
func locExpect(t *testing.T, srv *testdb.Server, start string, want []int) {
	t.Helper()
	sink := &capture{}
	rt := startTask(t, locConfig(t, srv, start, "latest", ""), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	if len(want) > 0 {
		waitFor(t, fmt.Sprintf("%d rows", len(want)), func() bool { return sink.count() >= len(want) })
	}
	time.Sleep(300 * time.Millisecond)
	if got := locRows(t, sink); !slices.Equal(got, want) {
		t.Fatalf("start %s delivered rows %v, want %v", start, got, want)
	}
	// The task goes on from there.
	id := int(locLaterID.Add(1))
	srv.Exec(t, fmt.Sprintf("INSERT INTO d.later VALUES (%d)", id))
	waitFor(t, "the row written after the start", func() bool { return slices.Contains(locTableRows(t, sink, "later"), id) })
	if got := locRows(t, sink); !slices.Equal(got, want) {
		t.Fatalf("then rows %v, want %v", got, want)
	}
	if err := rt.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// locFails runs a task that must stop with an error, and returns it.
func locFails(t *testing.T, cfg engine.TaskConfig, store checkpoint.Store) error {
	t.Helper()
	sink := &capture{}
	rt := startTask(t, cfg, store, sink)
	select {
	case err := <-rt.done:
		close(rt.done)
		if err == nil {
			t.Fatal("task stopped without an error")
		}
		if sink.count() != 0 {
			t.Errorf("delivered %v before failing", sink.lines)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("task kept running (state %q, last error %q)", rt.task.Stats().Snapshot().State, rt.task.Stats().Snapshot().LastError)
	}
	return nil
}

// locWantErr checks err is an ErrUnservable naming every string in want.
func locWantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	t.Logf("error: %v", err)
	if !errors.Is(err, engine.ErrUnservable) {
		t.Errorf("err = %v, want ErrUnservable", err)
	}
	var ue *engine.UnservableError
	if !errors.As(err, &ue) || ue.Asked == "" || ue.Have == "" && ue.Err == nil {
		t.Errorf("err = %#v, want an *UnservableError saying what was asked and what the server has", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v\nwant it to mention %q", err, w)
		}
	}
}

func locQuery(t *testing.T, srv *testdb.Server, q string) string {
	t.Helper()
	r := srv.Query(t, q)
	s, err := r.GetString(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Clone(s)
}

func locMasterStatus(t *testing.T, srv *testdb.Server) (string, uint64) {
	t.Helper()
	r := srv.Query(t, "SHOW MASTER STATUS")
	file, _ := r.GetString(0, 0)
	pos, _ := r.GetUint(0, 1)
	return strings.Clone(file), pos
}

// locAt renders a unix time as a start specification.
func locAt(unix int64, frac time.Duration) string {
	return time.Unix(unix, 0).Add(frac).UTC().Format(time.RFC3339Nano)
}

func locSetTS(unix int64) string { return fmt.Sprintf("SET TIMESTAMP = %d", unix) }

func TestStartModes(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)",
		"INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)")
	file, pos := locMasterStatus(t, srv)
	gtid := srv.GTIDBinlogPos(t)
	srv.Exec(t, "INSERT INTO d.t VALUES (3)", "BEGIN", "INSERT INTO d.t VALUES (4)", "INSERT INTO d.t VALUES (5)", "COMMIT")

	t.Run("earliest", func(t *testing.T) { locExpect(t, srv, "earliest", []int{1, 2, 3, 4, 5}) })
	t.Run("latest", func(t *testing.T) { locExpect(t, srv, "latest", nil) })
	t.Run("file", func(t *testing.T) { locExpect(t, srv, fmt.Sprintf("file:%s:%d", file, pos), []int{3, 4, 5}) })
	t.Run("gtid", func(t *testing.T) { locExpect(t, srv, "gtid:"+gtid, []int{3, 4, 5}) })
	t.Run("start_if_none", func(t *testing.T) {
		sink := &capture{}
		rt := startTask(t, locConfig(t, srv, "checkpoint", "earliest", ""), checkpoint.NewMemStore(), sink)
		waitFor(t, "5 rows", func() bool { return sink.count() >= 5 })
		time.Sleep(200 * time.Millisecond)
		if got := locRows(t, sink); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
			t.Fatalf("start_if_none = earliest delivered %v", got)
		}
		rt.stop(t)
	})
}

func TestStartAtTime(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)")
	// Statement timestamps under the test's control, later than the
	// server's first binary log was opened.
	base := time.Now().Add(time.Hour).Unix()
	srv.Exec(t,
		locSetTS(base), "INSERT INTO d.t VALUES (1)", "INSERT INTO d.t VALUES (2)",
		locSetTS(base+10), "INSERT INTO d.t VALUES (3)", "INSERT INTO d.t VALUES (4)",
	)
	for _, tt := range []struct {
		name string
		at   string
		want []int
	}{
		{"before everything", locAt(base-100, 0), []int{1, 2, 3, 4}},
		{"at the first", locAt(base, 0), []int{1, 2, 3, 4}},
		{"between", locAt(base+5, 0), []int{3, 4}},
		{"exactly at a commit", locAt(base+10, 0), []int{3, 4}},
		{"within a commit's second", locAt(base+10, 999*time.Millisecond), []int{3, 4}},
		{"in another zone", time.Unix(base+5, 0).In(time.FixedZone("", 5*3600+1800)).Format(time.RFC3339), []int{3, 4}},
		{"after everything: latest", locAt(base+11, 0), nil},
	} {
		t.Run(tt.name, func(t *testing.T) { locExpect(t, srv, tt.at, tt.want) })
	}
}

func TestStartAtWallClockTime(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)", "INSERT INTO d.t VALUES (1)")
	// Past the second of the first row, note the time, write more.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	from := time.Now()
	srv.Exec(t, "INSERT INTO d.t VALUES (2)", "INSERT INTO d.t VALUES (3)")
	locExpect(t, srv, from.Format(time.RFC3339Nano), []int{2, 3})
}

func TestStartAtTimeInsideTransaction(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)")
	base := time.Now().Add(time.Hour).Unix()
	srv.Exec(t, locSetTS(base), "INSERT INTO d.t VALUES (1)")

	// A transaction begins at base+5 and commits at base+20; meanwhile
	// another session commits a row at base+8, logged first.
	ctx := context.Background()
	long, err := srv.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Quit()
	for _, q := range []string{locSetTS(base + 5), "BEGIN", "INSERT INTO d.t VALUES (2)"} {
		if _, err := long.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	srv.Exec(t, locSetTS(base+8), "INSERT INTO d.t VALUES (4)")
	for _, q := range []string{locSetTS(base + 20), "INSERT INTO d.t VALUES (3)", "COMMIT"} {
		if _, err := long.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	for _, tt := range []struct {
		name string
		at   string
		want []int
	}{
		{"began before, committed after: included", locAt(base+10, 0), []int{2, 3}},
		{"at its commit", locAt(base+20, 0), []int{2, 3}},
		{"at the earlier commit", locAt(base+8, 0), []int{4, 2, 3}},
		{"at its first statement", locAt(base+5, 0), []int{4, 2, 3}},
		{"after its commit: latest", locAt(base+21, 0), nil},
	} {
		t.Run(tt.name, func(t *testing.T) { locExpect(t, srv, tt.at, tt.want) })
	}
}

func TestStartAtTimeAcrossBinlogFiles(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)")
	base := time.Now().Add(time.Hour).Unix()
	// FLUSH under SET TIMESTAMP stamps the new file's first event with the
	// session's time: each file opens at the time of the row before it.
	srv.Exec(t,
		locSetTS(base), "INSERT INTO d.t VALUES (1)", "FLUSH BINARY LOGS",
		locSetTS(base+10), "INSERT INTO d.t VALUES (2)", "FLUSH BINARY LOGS",
		locSetTS(base+20), "INSERT INTO d.t VALUES (3)", "CREATE TABLE d.u (id INT PRIMARY KEY)", "FLUSH BINARY LOGS",
		locSetTS(base+30), "INSERT INTO d.t VALUES (4)", "FLUSH BINARY LOGS",
	)
	if files := srv.BinlogFiles(t); len(files) != 5 {
		t.Fatalf("binary logs %v, want 5", files)
	}
	for _, tt := range []struct {
		name string
		at   string
		want []int
	}{
		{"first file", locAt(base, 0), []int{1, 2, 3, 4}},
		{"second file", locAt(base+5, 0), []int{2, 3, 4}},
		{"third file", locAt(base+15, 0), []int{3, 4}},
		{"the DDL's second", locAt(base+20, 0), []int{3, 4}},
		{"fourth file", locAt(base+25, 0), []int{4}},
		{"fourth file exactly", locAt(base+30, 0), []int{4}},
		{"the empty last file: latest", locAt(base+31, 0), nil},
	} {
		t.Run(tt.name, func(t *testing.T) { locExpect(t, srv, tt.at, tt.want) })
	}
}

func TestUnservablePositions(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	sid := srv.ServerID()
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)",
		"INSERT INTO d.t VALUES (1)", "FLUSH BINARY LOGS",
		"INSERT INTO d.t VALUES (2)", "FLUSH BINARY LOGS",
		"INSERT INTO d.t VALUES (3)")
	files := srv.BinlogFiles(t)
	if len(files) != 3 {
		t.Fatalf("binary logs %v, want 3", files)
	}
	oldGTID := locQuery(t, srv, fmt.Sprintf("SELECT BINLOG_GTID_POS('%s', 4)", files[1]))
	// MariaDB keeps a file until its binlog checkpoint (InnoDB has flushed
	// what it logged), which comes a moment after the rotation.
	waitFor(t, "PURGE BINARY LOGS to remove "+files[0]+" and "+files[1], func() bool {
		srv.Exec(t, "PURGE BINARY LOGS TO '"+files[2]+"'")
		return slices.Equal(srv.BinlogFiles(t), files[2:])
	})
	file, pos := locMasterStatus(t, srv)
	current := srv.GTIDBinlogPos(t)
	nextFile := strings.TrimSuffix(file, "3") + "9"

	for _, tt := range []struct {
		name  string
		start string
		want  []string
	}{
		{"purged file", "file:" + files[0] + ":4", []string{"file:" + files[0] + ":4", "purged", "oldest binary log the server has is " + files[2], "earliest"}},
		{"purged file mid-way", "file:" + files[1] + ":400", []string{files[1], "purged", files[2]}},
		{"beyond the current file's end", fmt.Sprintf("file:%s:%d", file, pos+1000), []string{"ahead of the server", fmt.Sprintf("%s ends at %d", file, pos)}},
		{"a file the server has not written", "file:" + nextFile + ":4", []string{"ahead of the server", nextFile, file}},
		{"another base name", "file:other-bin.000003:4", []string{"other-bin.000003 is not one of the server's binary logs", files[2]}},
		{"purged gtid", "gtid:" + oldGTID, []string{"gtid:" + oldGTID, "purged", files[2]}},
		{"gtid ahead", fmt.Sprintf("gtid:0-%d-9999", sid), []string{fmt.Sprintf("gtid 0-%d-9999 is ahead of the server", sid), "gtid_binlog_pos \"" + current + "\""}},
		{"gtid of another history", fmt.Sprintf("gtid:0-%d-3", sid+1), []string{"not in the server's history", fmt.Sprintf("server %d", sid+1)}},
		{"gtid in a domain the server lacks", fmt.Sprintf("gtid:%s,7-%d-1", current, sid), []string{"no transaction in domain 7"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := locFails(t, locConfig(t, srv, tt.start, "latest", ""), checkpoint.NewMemStore())
			locWantErr(t, err, tt.want...)
		})
	}

	cp := func(p position.Position) checkpoint.Store {
		store := checkpoint.NewMemStore()
		if err := store.Save(context.Background(), &checkpoint.Checkpoint{Task: "t", Position: p}); err != nil {
			t.Fatal(err)
		}
		return store
	}
	for _, tt := range []struct {
		name string
		cp   position.Position
		want []string
	}{
		{
			"checkpoint gtid ahead (a lagging replica)",
			position.Position{ServerID: sid + 1, Flavor: mysql.MariaDBFlavor, File: "mysql-bin.000042", Pos: 4, GTIDSet: fmt.Sprintf("0-%d-9999", sid)},
			[]string{fmt.Sprintf("gtid:0-%d-9999", sid), "ahead of the server", current},
		},
		{
			"checkpoint file ahead",
			position.Position{ServerID: sid, Flavor: mysql.MariaDBFlavor, File: file, Pos: uint32(pos) + 500, GTIDSet: current},
			[]string{fmt.Sprintf("file:%s:%d", file, pos+500), "ahead of the server"},
		},
		{
			"checkpoint in a purged file",
			position.Position{ServerID: sid, Flavor: mysql.MariaDBFlavor, File: files[0], Pos: 4},
			[]string{files[0], "purged", files[2]},
		},
		{
			"checkpoint gtid purged",
			position.Position{ServerID: sid + 1, Flavor: mysql.MariaDBFlavor, GTIDSet: oldGTID},
			[]string{"gtid:" + oldGTID, "purged"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// start = "earliest" is ignored: the checkpoint decides.
			err := locFails(t, locConfig(t, srv, "earliest", "latest", ""), cp(tt.cp))
			locWantErr(t, err, tt.want...)
		})
	}

	t.Run("server refuses the dump", func(t *testing.T) {
		// Inside the first event: the checks pass, the server refuses.
		store := cp(position.Position{ServerID: sid, Flavor: mysql.MariaDBFlavor, File: file, Pos: 5})
		err := locFails(t, locConfig(t, srv, "checkpoint", "latest", ""), store)
		locWantErr(t, err, fmt.Sprintf("file:%s:5", file), "refused", "1236")
	})
}

func TestLag(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	srv.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "CREATE TABLE d.later (id INT PRIMARY KEY)")
	sink := &capture{}
	rt := startTask(t, locConfig(t, srv, "latest", "latest", `heartbeat = "3s"`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)
	snap := func() engine.StatsSnapshot { return rt.task.Stats().Snapshot() }
	waitFor(t, "a heartbeat", func() bool { return !snap().LastEvent.IsZero() && snap().Lag == 0 })

	// An event stamped 100 s ago: 100 s behind until the next heartbeat.
	srv.Exec(t, locSetTS(time.Now().Unix()-100), "INSERT INTO d.t VALUES (1)")
	waitFor(t, "the row", func() bool { return sink.count() == 1 })
	var lag float64
	deadline := time.Now().Add(5 * time.Second)
	for lag < 99 && time.Now().Before(deadline) {
		lag = snap().Lag
		time.Sleep(2 * time.Millisecond)
	}
	if lag < 99 || lag > 110 {
		t.Errorf("lag after an event stamped 100 s ago = %v", lag)
	}
	// Caught up again at the next heartbeat.
	waitFor(t, "lag 0 after a heartbeat", func() bool { return snap().Lag == 0 })
}
