package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// Initial snapshot.
//
// A task with snapshot = "initial" or "initial_only" and no checkpoint
// first reads the rows of its tables, all at one consistent point P1 of
// the source's binary log, and delivers them as changes with op "r"
// through the same handlers and senders as streamed changes, one
// transaction per chunk of snapshot_chunk_rows rows, handed down in
// batches of at most batch_rows as a large streamed transaction is. Then it
// streams from P1: a change committed before P1 is in the rows read, one
// committed after it is streamed.
//
// On MariaDB the point needs no lock: START TRANSACTION WITH CONSISTENT
// SNAPSHOT makes the server report, in the same session, the binary-log
// position its read view matches (binlog_snapshot_file and
// binlog_snapshot_position), and BINLOG_GTID_POS gives the GTID set there.
// The rows are read over snapshot_parallel connections whose views report
// the same position (openLockFree), or, with snapshot_locking = "flush"
// (required on MySQL), whose views were opened while FLUSH TABLES WITH READ
// LOCK held every commit (openLocked). Chunks are cut and read side by side
// and delivered in key order by one goroutine (snapshotPlan, deliver).
//
// Every chunk commits at P1 with the snapshot's progress attached (see
// position.Snapshot): the checkpoint thus says which tables are done and
// the key of the last acknowledged row of the current one, and a restart
// resumes at the next chunk, at a new consistent point P2. Streaming still
// begins at P1 after such a resumed snapshot: rows read at P2 then see the
// changes between P1 and P2 again, which converges (at least once); starting
// at P2 would lose those changes for the rows read at P1.

// errSnapshotMySQL: on MySQL the initial snapshot needs snapshot_locking =
// "flush".
var errSnapshotMySQL = errors.New(`snapshot: MySQL has no lock-free way to learn a read view's binary-log position: set snapshot_locking = "flush" to take a brief global read lock while the snapshot opens`)

// needsSnapshot reports whether the task reads its tables before it
// streams: a snapshot mode is set and the checkpoint is empty or names an
// unfinished snapshot. (when_needed also snapshots a task whose checkpoint
// the source no longer serves: see snapshotWhenNeeded.)
func (t *Task) needsSnapshot(cp *checkpoint.Checkpoint) bool {
	return t.cfg.Snapshot != SnapshotNever && t.cfg.Snapshot != "" &&
		(cp.Position.IsZero() || cp.Position.Snapshot != nil)
}

// snapshot runs or resumes the initial snapshot and leaves cp.Position at
// the position streaming begins from. Sources are tried in turn; an error
// reading the rows stops the snapshot, and the task resumes it at its next
// run from the last acknowledged chunk.
func (t *Task) snapshot(ctx context.Context, p *pipeline, cp *checkpoint.Checkpoint) error {
	var errs []error
	for _, src := range t.cfg.Sources {
		t.stats.setState("snapshot", src.Addr, nil)
		s, err := openSnapshot(ctx, t, p, src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = s.run(ctx, cp)
		s.close()
		if ctx.Err() != nil {
			return ctx.Err() // stopping: the checkpoint keeps the progress
		}
		return err
	}
	return fmt.Errorf("task %s: snapshot: no source could start it: %w", t.cfg.Name, errors.Join(errs...))
}

// snapshotWhenNeeded replaces a checkpoint the source no longer serves
// (unservable, the stream's error) by a new snapshot, then streams from
// its point. The old position, its schema history and any snapshot
// progress are dropped: every row is read again. It happens at most once
// per run: a stream that cannot start right after a snapshot stops the
// task with the error.
func (t *Task) snapshotWhenNeeded(ctx context.Context, p *pipeline, cp *checkpoint.Checkpoint, unservable error) error {
	t.metrics.resnapshots.Inc()
	t.log.Error("the source no longer serves the checkpoint's position: snapshotting the tables again (snapshot = \"when_needed\"); every row is delivered again as op r",
		"checkpoint", cp.Position.String(), "err", unservable)
	cp.Position, cp.Schemas, cp.Incremental = position.Position{}, nil, nil
	if err := t.snapshot(ctx, p, cp); err != nil || ctx.Err() != nil {
		return err
	}
	return t.read(ctx, p, cp)
}

// snapshotReader reads one consistent snapshot. Its connections (conns)
// all hold a read view at the same point (at); conn is the one a method
// runs its statements on. The reading goroutine owns it; each chunk
// reader works on a copy with its own conn.
type snapshotReader struct {
	t     *Task
	p     *pipeline
	src   Source
	conn  *client.Conn
	conns []*client.Conn
	info  *serverInfo
	// at is this read's consistent point; its commit time is when the
	// snapshot started.
	at position.Position
}

// snapshotLockWait is the lock_wait_timeout, in seconds, of FLUSH TABLES
// WITH READ LOCK: the lock waits for running statements, and every write
// on the server waits behind it, so it gives up rather than stall them.
const snapshotLockWait = 10

// snapshotOpenTries is how often opening the read views without a lock is
// tried before reading over the connections whose view matched the first.
const snapshotOpenTries = 5

// openSnapshot connects snapshot_parallel times to src and opens a read
// view at one binary-log position on every connection.
func openSnapshot(ctx context.Context, t *Task, p *pipeline, src Source) (*snapshotReader, error) {
	s := &snapshotReader{t: t, p: p, src: src}
	err := s.open(ctx)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("task %s: snapshot on %s: %w", t.cfg.Name, src.Addr, err)
	}
	return s, nil
}

func (s *snapshotReader) close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.conns, s.conn = nil, nil
}

func (s *snapshotReader) open(ctx context.Context) error {
	// The connections are made side by side: each costs round trips.
	n := max(s.t.cfg.SnapshotParallel, 1)
	s.conns = make([]*client.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { s.conns[i], errs[i] = openSnapshotConn(ctx, s.src) })
	}
	wg.Wait()
	s.conns = slices.DeleteFunc(s.conns, func(c *client.Conn) bool { return c == nil })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.conn = s.conns[0]
	info, err := inspect(s.conn, s.src)
	if err != nil {
		return err
	}
	s.info = info
	flush := s.t.cfg.SnapshotLocking == SnapshotLockingFlush
	if info.Flavor != mysql.MariaDBFlavor && !flush {
		return errSnapshotMySQL
	}
	var file string
	var pos uint32
	var gtid string
	if flush {
		file, pos, gtid, err = s.openLocked(ctx)
	} else {
		file, pos, err = s.openLockFree()
	}
	if err != nil {
		return err
	}
	if info.Flavor == mysql.MariaDBFlavor {
		// The GTID set at exactly that position: @@gtid_binlog_pos is not
		// part of the read view and may already count later transactions.
		if gtid, err = mariadbGTIDAt(s.conn, file, pos); err != nil {
			return err
		}
	}
	s.at = position.Position{ServerID: info.ServerID, Flavor: info.Flavor, File: file, Pos: pos, GTIDSet: gtid, Timestamp: time.Now().Unix()}
	return nil
}

// openSnapshotConn connects to src and sets the session up for reading
// rows: values come as the column stores them (character_set_results =
// binary) and are converted as the binary log's are; TIMESTAMP is read in
// UTC. A chunk may wait on a slow sender mid-result: the server must not
// time the connection out meanwhile.
func openSnapshotConn(ctx context.Context, src Source) (*client.Conn, error) {
	conn, err := connect(ctx, src)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION character_set_results = binary",
		"SET SESSION net_write_timeout = 86400",
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	} {
		if _, err := conn.Execute(q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return conn, nil
}

// viewPoint is the binary-log position a read view matches.
type viewPoint struct {
	file string
	pos  uint32
}

// startViews opens a consistent-snapshot transaction on every connection
// at once and, on MariaDB, returns the position each view matches
// (binlog_snapshot_file and binlog_snapshot_position, which the server
// takes with the view, under the lock that orders commits).
func (s *snapshotReader) startViews() ([]viewPoint, error) {
	points := make([]viewPoint, len(s.conns))
	errs := make([]error, len(s.conns))
	var wg sync.WaitGroup
	for i, conn := range s.conns {
		if testHookBetweenViews != nil && i > 0 {
			wg.Wait()
			testHookBetweenViews()
		}
		wg.Go(func() {
			const q = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
			if _, err := conn.Execute(q); err != nil {
				errs[i] = fmt.Errorf("%s: %w", q, err)
				return
			}
			if s.info.Flavor == mysql.MariaDBFlavor {
				points[i], errs[i] = viewPosition(conn)
			}
		})
	}
	wg.Wait()
	return points, errors.Join(errs...)
}

// testHookBetweenViews, when set, makes startViews open the views one
// after the other and run it between two.
var testHookBetweenViews func()

// viewPosition reads the binary-log position of conn's read view (MariaDB).
func viewPosition(conn *client.Conn) (viewPoint, error) {
	r, err := conn.Execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return viewPoint{}, fmt.Errorf("read the snapshot's binary-log position: %w", err)
	}
	var p viewPoint
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.file = cellString(r, i, 1)
		case "binlog_snapshot_position":
			v, _ := r.GetString(i, 1)
			n, _ := strconv.ParseUint(v, 10, 32)
			p.pos = uint32(n)
		}
	}
	if p.file == "" || p.pos == 0 {
		return viewPoint{}, fmt.Errorf("the server reports no binary-log position for the snapshot (binlog_snapshot_file %q): enable log_bin on the source", p.file)
	}
	return p, nil
}

// openLockFree opens the read views without a lock (MariaDB). Views at
// the same binary-log position see the same committed transactions, so
// the snapshot reads only over connections whose view matches the first
// one's; a commit landing while they open makes them differ, and they are
// opened again, at most snapshotOpenTries times, after which the snapshot
// reads over the matching connections only (at least the first).
func (s *snapshotReader) openLockFree() (string, uint32, error) {
	for try := 1; ; try++ {
		points, err := s.startViews()
		if err != nil {
			return "", 0, err
		}
		same := 0
		for _, p := range points {
			if p == points[0] {
				same++
			}
		}
		if same == len(points) {
			return points[0].file, points[0].pos, nil
		}
		if try == snapshotOpenTries {
			keep := s.conns[:0]
			for i, conn := range s.conns {
				if points[i] == points[0] {
					keep = append(keep, conn)
				} else {
					conn.Close()
				}
			}
			clear(s.conns[len(keep):])
			s.conns = keep
			s.t.log.Warn("snapshot: commits kept moving the binary log while the read views opened: reading over fewer connections (snapshot_locking = \"flush\" holds commits while they open)",
				"connections", len(keep), "snapshot_parallel", s.t.cfg.SnapshotParallel)
			return points[0].file, points[0].pos, nil
		}
		for _, conn := range s.conns {
			if _, err := conn.Execute("ROLLBACK"); err != nil {
				return "", 0, fmt.Errorf("rollback: %w", err)
			}
		}
	}
}

// openLocked opens the read views while FLUSH TABLES WITH READ LOCK,
// taken on a connection of its own, holds every commit, and reads the
// binary-log position (and on MySQL the executed GTID set) before
// releasing it: every view then sees exactly the transactions up to that
// position. On MariaDB each view's own position must agree.
func (s *snapshotReader) openLocked(ctx context.Context) (string, uint32, string, error) {
	lock, err := connect(ctx, s.src)
	if err != nil {
		return "", 0, "", err
	}
	defer lock.Close()
	if _, err := lock.Execute("SET SESSION lock_wait_timeout = " + strconv.Itoa(snapshotLockWait)); err != nil {
		return "", 0, "", fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	took := time.Now()
	if _, err := lock.Execute("FLUSH TABLES WITH READ LOCK"); err != nil {
		return "", 0, "", fmt.Errorf("FLUSH TABLES WITH READ LOCK (snapshot_locking = \"flush\"; it needs the RELOAD privilege and waits at most %d s for running statements): %w", snapshotLockWait, err)
	}
	points, err := s.startViews()
	var file, gtid string
	var pos uint32
	if err == nil {
		file, pos, gtid, err = masterStatus(lock)
	}
	if _, uerr := lock.Execute("UNLOCK TABLES"); uerr != nil && err == nil {
		err = fmt.Errorf("unlock tables: %w", uerr)
	}
	held := time.Since(took)
	if err != nil {
		return "", 0, "", err
	}
	for _, p := range points {
		if s.info.Flavor == mysql.MariaDBFlavor && (p != viewPoint{file, pos}) {
			return "", 0, "", fmt.Errorf("a read view opened under FLUSH TABLES WITH READ LOCK is at %s:%d, the binary log at %s:%d", p.file, p.pos, file, pos)
		}
	}
	s.t.log.Info("snapshot: read views opened under FLUSH TABLES WITH READ LOCK", "held", held, "connections", len(s.conns), "position", fmt.Sprintf("%s:%d", file, pos))
	return file, pos, gtid, nil
}

// run reads every table the snapshot has not finished, then leaves
// cp.Position at the stream's start.
//
// Chunks are read over every connection at once (see snapshotPlan) and
// handed to the pipeline in key order, table by table, by this goroutine
// alone: a chunk's batch carries the progress of everything before it.
func (s *snapshotReader) run(ctx context.Context, cp *checkpoint.Checkpoint) error {
	start, progress := s.at, position.Snapshot{}
	if cp.Position.Snapshot != nil {
		start, progress = cp.Position, *cp.Position.Snapshot
		start.Snapshot = nil
		s.t.log.Info("resuming snapshot", "source", s.src.Addr, "stream_from", start.String(), "read_at", s.at.String(),
			"tables_done", len(progress.Done), "table", progress.Table, "connections", len(s.conns))
	} else {
		s.t.log.Info("starting snapshot", "source", s.src.Addr, "position", s.at.String(), "connections", len(s.conns))
		begun := start
		begun.Snapshot = &position.Snapshot{}
		if err := s.p.start(ctx, begun); err != nil {
			return err
		}
	}
	tables, err := s.tables()
	if err != nil {
		return fmt.Errorf("task %s: snapshot on %s: %w", s.t.cfg.Name, s.src.Addr, err)
	}
	s.t.snapshotBegin(s.conn, tables, progress.Done, progress.Table)
	plan := &snapshotPlan{start: start, tables: tables, progress: progress, chunk: s.t.cfg.SnapshotChunkRows,
		units: make(chan *snapUnit, len(s.conns))}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, conn := range s.conns {
		w := *s
		w.conn = conn
		wg.Go(func() { w.work(rctx, plan) })
	}
	err = s.deliver(rctx, start, &progress, plan.units)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	// The snapshot is complete: the stream begins at P1.
	done := start
	if err := s.p.emit(ctx, &Batch{Seq: s.t.seq.Add(1), Commit: &done, CommitTime: done.Timestamp}); err != nil {
		return err
	}
	s.t.stats.snap.end(false)
	s.t.log.Info("snapshot read", "tables", len(tables), "stream_from", start.String())
	cp.Position = start
	return nil
}

// tables lists the base tables the task reads, in name order.
func (s *snapshotReader) tables() ([]string, error) {
	r, err := s.conn.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
		ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer r.Close()
	var out []string
	for i := range r.RowNumber() {
		db, table := cellString(r, i, 0), cellString(r, i, 1)
		if s.t.cfg.Match(db, table) && db+"."+table != s.t.cfg.HeartbeatTable && db+"."+table != s.t.cfg.SignalTable {
			out = append(out, db+"."+table)
		}
	}
	return out, nil
}

// snapColumn is how one column is selected and converted.
type snapColumn struct {
	expr string // the select expression
	// keyParam wraps a key value's placeholder in the WHERE clause so that
	// it compares as the column orders.
	keyParam string
}

// snapshotPlan hands out the snapshot's chunks (units) in delivery order:
// the tables in name order, each in key order. A table with a usable key
// is cut where its rows are: a unit is the snapshot_chunk_rows rows after
// the previous unit's last key, and the key ending it is found by a query
// reading only the key (LIMIT 1 OFFSET chunk-1) in the same read view, so
// the units of a table cover its keys exactly once whatever their values.
// A table without one is a single unit, a full scan.
//
// Chunk readers claim units under mu and queue them on units in the order
// they are claimed, the order the deliverer takes them in. units holds as
// many as there are readers and each unit buffers one batch, so at most
// 2 × readers + 1 batches wait between the readers and the pipeline.
type snapshotPlan struct {
	start    position.Position // where the stream begins (P1)
	tables   []string
	progress position.Snapshot // where the checkpoint resumes
	chunk    int
	units    chan *snapUnit

	mu     sync.Mutex
	next   int        // index in tables of the next table to begin
	cur    *snapTable // the table being cut; nil between tables
	after  []any      // cur's key after which the next unit starts
	closed bool       // the last unit (or an error) is queued
}

// snapTable is a table being read and how its rows are selected.
type snapTable struct {
	t      *Table
	name   string
	cols   []snapColumn
	keyed  bool
	sel    string // SELECT <columns> FROM <table>
	keys   string // (k1, k2)
	order  string // k1, k2
	param  string // (?, ?) as keys compare
	keySel string // SELECT <key columns> FROM <table>
}

// snapUnit is one chunk to read: a table's rows after key after (nil:
// from its first row) up to and including key to (nil: to its last row).
// Its reader sends its batches on out, in order, and closes it; err, set
// before out is closed, is why the unit stopped early. A unit with no
// table ends the plan (err: because planning failed).
type snapUnit struct {
	table     *snapTable
	after, to []any
	out       chan *Batch
	err       error
}

// claim returns the next unit to read, queued for the deliverer, or nil
// when there is none. s.conn plans it: it describes tables and finds
// where the unit ends.
func (s *snapshotReader) claim(ctx context.Context, plan *snapshotPlan) *snapUnit {
	plan.mu.Lock()
	defer plan.mu.Unlock()
	if plan.closed {
		return nil
	}
	u, err := s.plan(ctx, plan)
	if u == nil || err != nil {
		plan.closed = true
		u = &snapUnit{err: err}
	} else {
		u.out = make(chan *Batch, 1)
	}
	select {
	case plan.units <- u:
	case <-ctx.Done():
		plan.closed = true
		return nil
	}
	if u.table == nil {
		return nil
	}
	return u
}

// plan cuts the next unit; nil when every table is planned. plan.mu is
// held.
func (s *snapshotReader) plan(ctx context.Context, plan *snapshotPlan) (*snapUnit, error) {
	for plan.cur == nil {
		if plan.next == len(plan.tables) {
			return nil, nil
		}
		name := plan.tables[plan.next]
		plan.next++
		if slices.Contains(plan.progress.Done, name) {
			continue
		}
		db, table, _ := strings.Cut(name, ".")
		st, err := s.snapTable(ctx, db, table)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		plan.cur, plan.after = st, nil
		if plan.progress.Table == name && plan.progress.Key != nil {
			if plan.after, err = decodeKey(plan.progress.Key); err != nil {
				return nil, fmt.Errorf("snapshot of %s: checkpoint: %w", name, err)
			}
		}
	}
	st := plan.cur
	u := &snapUnit{table: st, after: plan.after}
	if !st.keyed {
		plan.cur = nil
		return u, nil
	}
	q := st.keySel
	if u.after != nil {
		q += " WHERE " + st.keys + " > " + st.param
	}
	q += " ORDER BY " + st.order + " LIMIT 1 OFFSET " + strconv.Itoa(plan.chunk-1)
	r, err := s.conn.Execute(q, u.after...)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: find where the chunk ends: %w", st.name, err)
	}
	defer r.Close()
	if len(r.Values) == 0 {
		plan.cur = nil // the table's last unit
		return u, nil
	}
	u.to = make([]any, len(r.Values[0]))
	for i := range r.Values[0] {
		u.to[i] = keyArg(&r.Values[0][i])
	}
	plan.after = u.to
	return u, nil
}

// snapTable describes db.table and builds its statements.
func (s *snapshotReader) snapTable(ctx context.Context, db, table string) (*snapTable, error) {
	t, cols, err := s.describe(ctx, db, table)
	if err != nil {
		return nil, err
	}
	st := &snapTable{t: t, name: t.FullName(), cols: cols, keyed: t.KeyKind == KeyPrimary && keysetable(t)}
	sel := make([]string, len(cols))
	for i := range cols {
		sel[i] = cols[i].expr
	}
	from := " FROM " + quoteIdent(db) + "." + quoteIdent(table)
	st.sel = "SELECT " + strings.Join(sel, ", ") + from
	if !st.keyed {
		// One scan, not resumable within the table: delivered chunks are
		// read again after a restart.
		s.t.log.Info("snapshot: table has no usable primary key: one full scan", "table", st.name)
		return st, nil
	}
	var keyCols, keySel, params []string
	for _, k := range t.Key {
		keyCols = append(keyCols, quoteIdent(t.Columns[k].Name))
		keySel = append(keySel, cols[k].expr)
		params = append(params, cols[k].keyParam)
	}
	st.order = strings.Join(keyCols, ", ")
	st.keys = "(" + st.order + ")"
	st.param = "(" + strings.Join(params, ", ") + ")"
	st.keySel = "SELECT " + strings.Join(keySel, ", ") + from
	return st, nil
}

// work claims units and reads them until the plan is exhausted, a unit
// fails, or ctx ends.
func (s *snapshotReader) work(ctx context.Context, plan *snapshotPlan) {
	for {
		u := s.claim(ctx, plan)
		if u == nil {
			return
		}
		u.err = s.scan(ctx, plan, u)
		close(u.out)
		if u.err != nil {
			return
		}
	}
}

// deliver hands the units' batches to the pipeline in the order they were
// queued, with the progress they complete, until the unit ending the plan.
func (s *snapshotReader) deliver(ctx context.Context, start position.Position, progress *position.Snapshot, units <-chan *snapUnit) error {
	for {
		var u *snapUnit
		select {
		case u = <-units:
		case <-ctx.Done():
			return ctx.Err()
		}
		if u.table == nil {
			if u.err != nil {
				return fmt.Errorf("task %s: snapshot on %s: %w", s.t.cfg.Name, s.src.Addr, u.err)
			}
			return nil
		}
		name := u.table.name
		rows := 0 // of the transaction being delivered
		for b := range u.out {
			b.Seq = s.t.seq.Add(1)
			rows += len(b.Changes)
			if b.Commit != nil {
				b.Commit.Snapshot.Done = progress.Done
				*progress = *b.Commit.Snapshot
				s.t.snapshotChunk("initial", name, rows, rows, false)
				rows = 0
			}
			if err := s.p.emit(ctx, b); err != nil {
				return err
			}
		}
		if u.err != nil {
			return fmt.Errorf("task %s: snapshot of %s on %s: %w", s.t.cfg.Name, name, s.src.Addr, u.err)
		}
		if u.to == nil {
			// The table's last unit: record the table as read with a
			// batch that only moves the progress.
			p := &position.Snapshot{Done: append(slices.Clip(progress.Done), name)}
			pos := start
			pos.Snapshot = p
			*progress = *p
			s.t.stats.snap.tableDone(name)
			if err := s.p.emit(ctx, &Batch{Seq: s.t.seq.Add(1), Commit: &pos, CommitTime: s.at.Timestamp}); err != nil {
				return err
			}
		}
	}
}

// scan reads unit u and sends its rows on u.out as transactions of at
// most snapshot_chunk_rows rows (a keyed unit is one), each in batches of
// at most batch_rows, as the stream splits a large transaction: only the
// batch closing a transaction carries a Commit, so the checkpoint moves
// to a unit's last key only once all of it is acknowledged. A keyed
// unit's commit carries its last key as progress; a full scan's carry the
// table as started, from no key. The deliverer fills in the tables done
// and the batch's Seq.
func (s *snapshotReader) scan(ctx context.Context, plan *snapshotPlan, u *snapUnit) error {
	st := u.table
	q, args := st.sel, slices.Concat(u.after, u.to)
	if st.keyed {
		var where []string
		if u.after != nil {
			where = append(where, st.keys+" > "+st.param)
		}
		if u.to != nil {
			where = append(where, st.keys+" <= "+st.param)
		}
		if where != nil {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		q += " ORDER BY " + st.order
	}
	stmt, err := s.conn.Prepare(q)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", q, err)
	}
	defer stmt.Close()
	t, name, chunk := st.t, st.name, s.t.cfg.SnapshotChunkRows
	size := min(chunk, max(s.t.cfg.BatchRows, 1))
	// A transaction is named by where it starts: the unit's first key
	// (none for a full scan) and its rank among the unit's transactions.
	from := strings.Join(encodeKey(u.after), ",")
	txs := 1
	ncols := len(t.Columns)
	var (
		conv    snapValues
		last    snapKey
		changes []Change
		vals    []any // the batch's row images, ncols values a row
		tx      *Tx
		rows    int // the transaction's rows so far
	)
	last.init(t)
	// send hands the batch on, closing its transaction when commit. The
	// next batch, and after a commit the next transaction, begin with
	// the next row.
	send := func(commit bool) error {
		b := &Batch{Tx: tx, Begin: rows == len(changes), Changes: changes}
		if commit {
			pos := plan.start
			pos.Snapshot = &position.Snapshot{Table: name}
			if st.keyed {
				pos.Snapshot.Key = encodeKey(last.args())
			}
			b.Commit, b.CommitTime = &pos, s.at.Timestamp
			txs++
			tx, rows = nil, 0
		}
		changes, vals = nil, nil
		select {
		case u.out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var result mysql.Result
	err = stmt.ExecuteSelectStreaming(&result, func(row []mysql.FieldValue) error {
		// A full batch goes once the next row shows the transaction
		// goes on: every batch carries rows, the last one the commit.
		if len(changes) == size {
			if err := send(false); err != nil {
				return err // the statement stops with the callback's error
			}
		}
		if tx == nil {
			tx = s.newTx(name, from, txs)
		}
		if changes == nil {
			changes, vals = make([]Change, 0, size), make([]any, 0, size*ncols)
		}
		img := vals[len(vals) : len(vals)+ncols : len(vals)+ncols]
		vals = vals[:len(vals)+ncols]
		for i := range t.Columns {
			v, err := conv.value(&t.Columns[i], &row[i])
			if err != nil {
				return fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
			}
			img[i] = v
		}
		if st.keyed {
			last.set(row)
		}
		rows++
		changes = append(changes, Change{Op: OpRead, Table: t, After: img, Seq: uint32(rows), Tx: tx,
			Timestamp: s.at.Timestamp, File: s.at.File, Pos: s.at.Pos})
		if rows == chunk {
			return send(true)
		}
		return nil
	}, nil, args...)
	if err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	if rows == 0 {
		return nil
	}
	return send(true)
}

// snapKey holds the key of the last row a scan read, as statement
// arguments, without an allocation a row: numbers as go-mysql decoded
// them, text copied into a buffer of its own per key column.
type snapKey struct {
	cols []int
	vals []mysql.FieldValue
	text [][]byte
}

func (k *snapKey) init(t *Table) {
	k.cols = t.Key
	k.vals = make([]mysql.FieldValue, len(t.Key))
	k.text = make([][]byte, len(t.Key))
}

// set records row's key.
func (k *snapKey) set(row []mysql.FieldValue) {
	for j, c := range k.cols {
		k.vals[j] = row[c]
		if row[c].Type == mysql.FieldValueTypeString {
			k.text[j] = append(k.text[j][:0], row[c].AsString()...)
		}
	}
}

// args returns the recorded key as keyArg would.
func (k *snapKey) args() []any {
	out := make([]any, len(k.vals))
	for j := range k.vals {
		if k.vals[j].Type == mysql.FieldValueTypeString {
			out[j] = slices.Clone(k.text[j])
		} else {
			out[j] = keyArg(&k.vals[j])
		}
	}
	return out
}

// newTx returns the transaction of the n-th batch of table's query
// starting after the encoded key start. Its ID is the batch's idempotency
// key, snapshot:<file>:<pos>:<table>:<digest of start and n>: the read's
// consistent point and where the batch starts in the table. Two reads at
// the same point see the same rows, so an ID and a change's seq name one
// row image however often the batch is read; a resumed snapshot reading
// at another point gives its batches other IDs. A chunk count per read
// would not: a resumed read's first chunk would reuse the ID of the first
// read's first chunk for other rows.
func (s *snapshotReader) newTx(table, start string, n int) *Tx {
	h := sha256.Sum256([]byte(table + "\x00" + start + "\x00" + strconv.Itoa(n)))
	return &Tx{ID: fmt.Sprintf("snapshot:%s:%d:%s:%x", s.at.File, s.at.Pos, table, h[:8]), GTID: s.at.GTIDSet,
		ServerID: s.info.ServerID, File: s.at.File, Pos: s.at.Pos}
}

// keysetable reports whether t's key columns order and compare alike, so
// that "(k) > (last)" continues an "ORDER BY k" scan.
func keysetable(t *Table) bool {
	for _, k := range t.Key {
		switch t.Columns[k].Kind {
		case KindEnum, KindSet, KindGeometry, KindJSON, KindFloat, KindDouble:
			return false
		}
	}
	return true
}

// describe builds db.table's Table as the stream would from a FULL
// TABLE_MAP (through mapColumns, finishColumn, annotate and setKey), with
// the binary-log types and metadata derived from information_schema, and
// how to select each column.
func (s *snapshotReader) describe(ctx context.Context, db, table string) (*Table, []snapColumn, error) {
	cat := &sourceCatalog{src: s.src, flavor: s.info.Flavor, conn: s.conn}
	def, err := cat.read(ctx, db, table)
	if err != nil {
		return nil, nil, fmt.Errorf("read its definition: %w", err)
	}
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	if def == nil {
		return nil, nil, fmt.Errorf("the table is not in information_schema")
	}
	r, err := s.conn.Execute(`SELECT c.IS_NULLABLE, c.CHARACTER_OCTET_LENGTH, c.NUMERIC_PRECISION, c.NUMERIC_SCALE,
			c.DATETIME_PRECISION, c.COLLATION_NAME, IFNULL(l.ID, 63), c.COLUMN_TYPE
		FROM information_schema.COLUMNS c LEFT JOIN information_schema.COLLATIONS l ON l.COLLATION_NAME = c.COLLATION_NAME
		WHERE c.TABLE_SCHEMA = ` + sqlText(db) + ` AND c.TABLE_NAME = ` + sqlText(table) + ` ORDER BY c.ORDINAL_POSITION`)
	if err != nil {
		return nil, nil, fmt.Errorf("read column details: %w", err)
	}
	defer r.Close()
	if r.RowNumber() != len(def.Columns) {
		return nil, nil, fmt.Errorf("the table changed while its definition was read")
	}
	n := len(def.Columns)
	tm := &replication.TableMapEvent{Schema: []byte(db), Table: []byte(table), ColumnCount: uint64(n),
		ColumnType: make([]byte, n), ColumnMeta: make([]uint16, n), NullBitmap: make([]byte, (n+7)/8),
		SignednessBitmap: make([]byte, (n+7)/8)}
	cols := make([]snapColumn, n)
	collation := make([]string, n)
	ids := make([]uint64, n)
	numeric := 0
	for i := range n {
		d := &def.Columns[i]
		nullable, _ := r.GetString(i, 0)
		octets, _ := r.GetUint(i, 1)
		prec, _ := r.GetUint(i, 2)
		scale, _ := r.GetUint(i, 3)
		fsp, _ := r.GetUint(i, 4)
		collation[i] = cellString(r, i, 5)
		ids[i], _ = r.GetUint(i, 6)
		typ, meta, err := snapshotBinlogType(d, octets, prec, scale, fsp)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", d.Name, err)
		}
		tm.ColumnType[i], tm.ColumnMeta[i] = typ, meta
		if nullable == "YES" {
			tm.NullBitmap[i/8] |= 1 << (i % 8)
		}
		tm.ColumnName = append(tm.ColumnName, []byte(d.Name))
		cols[i] = snapColumn{expr: quoteIdent(d.Name), keyParam: "?"}
	}
	for i := range n {
		if tm.IsNumericColumn(i) {
			if def.Columns[i].Unsigned {
				tm.SignednessBitmap[numeric/8] |= 0x80 >> (numeric % 8)
			}
			numeric++
		}
		switch {
		case tm.IsEnumOrSetColumn(i):
			tm.EnumSetColumnCharset = append(tm.EnumSetColumnCharset, ids[i])
		case tm.IsCharacterColumn(i):
			tm.ColumnCharset = append(tm.ColumnCharset, ids[i])
		}
	}
	t := &Table{DB: db, Name: table}
	charset := func(id uint64) string { return charsetName(s.info.Collations, id) }
	t.Columns, _ = mapColumns(tm, charset)
	for i := range n {
		c := &t.Columns[i]
		c.Name = def.Columns[i].Name
		if err := finishColumn(tm, i, c, nil, def.Columns[i].Values); err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		c.Kind = annotate(c, &def.Columns[i])
		switch c.Kind {
		case KindDate, KindTime, KindDateTime, KindTimestamp:
			cols[i].expr = "CAST(" + quoteIdent(c.Name) + " AS CHAR)"
		case KindString, KindEnum, KindSet:
			if collation[i] != "" {
				cols[i].keyParam = "CONVERT(CAST(? AS BINARY) USING " + c.Charset + ") COLLATE " + collation[i]
			}
		}
	}
	for _, k := range def.Key {
		if j := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == k }); j >= 0 {
			tm.PrimaryKey = append(tm.PrimaryKey, uint64(j))
		}
	}
	s.t.log.Debug("snapshot table", "table", t.FullName(), "columns", len(t.Columns))
	sch := newSchemas(schemaConfig{KeyColumns: s.t.cfg.KeyColumns, Flavor: s.info.Flavor}, nil)
	if err := sch.setKey(t, tm, def); err != nil {
		return nil, nil, err
	}
	t.Version = 1
	return t, cols, nil
}

// snapshotBinlogType returns the binary-log type and metadata MariaDB logs for a
// column (with mysql56_temporal_format, its default since 10.1).
func snapshotBinlogType(d *colDef, octets, prec, scale, fsp uint64) (byte, uint16, error) {
	str := func(real byte, n uint64) uint16 {
		return uint16(real^byte((n&0x300)>>4))<<8 | uint16(n&0xff)
	}
	switch d.Type {
	case "tinyint", "bool", "boolean":
		return mysql.MYSQL_TYPE_TINY, 0, nil
	case "smallint":
		return mysql.MYSQL_TYPE_SHORT, 0, nil
	case "mediumint":
		return mysql.MYSQL_TYPE_INT24, 0, nil
	case "int", "integer":
		return mysql.MYSQL_TYPE_LONG, 0, nil
	case "bigint":
		return mysql.MYSQL_TYPE_LONGLONG, 0, nil
	case "float":
		return mysql.MYSQL_TYPE_FLOAT, 4, nil
	case "double", "real":
		return mysql.MYSQL_TYPE_DOUBLE, 8, nil
	case "decimal", "numeric":
		return mysql.MYSQL_TYPE_NEWDECIMAL, uint16(prec<<8 | scale), nil
	case "year":
		return mysql.MYSQL_TYPE_YEAR, 0, nil
	case "date":
		return mysql.MYSQL_TYPE_DATE, 0, nil
	case "time":
		return mysql.MYSQL_TYPE_TIME2, uint16(fsp), nil
	case "datetime":
		return mysql.MYSQL_TYPE_DATETIME2, uint16(fsp), nil
	case "timestamp":
		return mysql.MYSQL_TYPE_TIMESTAMP2, uint16(fsp), nil
	case "bit":
		return mysql.MYSQL_TYPE_BIT, uint16(prec/8)<<8 | uint16(prec%8), nil
	case "char", "binary":
		return mysql.MYSQL_TYPE_STRING, str(mysql.MYSQL_TYPE_STRING, octets), nil
	case "uuid", "inet6":
		return mysql.MYSQL_TYPE_STRING, str(mysql.MYSQL_TYPE_STRING, 16), nil
	case "inet4":
		return mysql.MYSQL_TYPE_STRING, str(mysql.MYSQL_TYPE_STRING, 4), nil
	case "enum":
		return mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | uint16(1+len(d.Values)/256), nil
	case "set":
		n := (len(d.Values) + 7) / 8
		if n > 4 {
			n = 8
		} else if n == 3 {
			n = 4
		}
		return mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_SET)<<8 | uint16(n), nil
	case "varchar", "varbinary":
		return mysql.MYSQL_TYPE_VARCHAR, uint16(octets), nil
	case "tinytext", "tinyblob":
		return mysql.MYSQL_TYPE_BLOB, 1, nil
	case "text", "blob":
		return mysql.MYSQL_TYPE_BLOB, 2, nil
	case "mediumtext", "mediumblob":
		return mysql.MYSQL_TYPE_BLOB, 3, nil
	case "longtext", "longblob", "json":
		return mysql.MYSQL_TYPE_BLOB, 4, nil
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return mysql.MYSQL_TYPE_GEOMETRY, 4, nil
	}
	return 0, 0, fmt.Errorf("%w: %s", ErrUnsupportedType, d.Type)
}

// snapValues converts the binary-protocol values of a snapshot's rows to
// the Change values the binary log's would be converted to, as the row
// decoder does for rows events: text and bytes are copied into one arena
// and numbers boxed in blocks, so a value costs no allocation of its own
// (go-mysql reuses the packet a row's values point into). A snapValues
// belongs to one reader; what it hands out is immutable and lives as long
// as any value of its arena or block.
type snapValues struct {
	text textArena
	box  boxes
}

// value converts v, a value of column c.
func (d *snapValues) value(c *Column, v *mysql.FieldValue) (any, error) {
	if v.Type == mysql.FieldValueTypeNull {
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindYear:
		return d.box.int64(v.AsInt64()), nil
	case KindUint:
		return d.box.uint64(v.AsUint64()), nil
	case KindFloat:
		return d.box.float32(float32(v.AsFloat64())), nil
	case KindDouble:
		return d.box.float64(v.AsFloat64()), nil
	case KindBit:
		return d.box.uint64(readBE(v.AsString())), nil
	case KindDecimal:
		if b := v.AsString(); canonicalDecimal(b, int(c.Meta&0xff)) {
			return d.copy(b), nil
		}
		dec, err := decimal.NewFromString(string(v.AsString()))
		if err != nil {
			return nil, err
		}
		return convert(c, dec)
	case KindString, KindEnum, KindSet:
		b := v.AsString()
		n := len(b)
		if !utf8Charset(c.Charset) {
			n *= 2
		}
		dst, err := appendUTF8(d.text.begin(n), c.Charset, b)
		if err != nil {
			return nil, err
		}
		return d.str(dst), nil
	case KindDate, KindDateTime:
		return d.copy(v.AsString()), nil
	case KindTime:
		// As timeWithFraction: the column's fractional digits, zeros
		// included.
		b := v.AsString()
		dst := append(d.text.begin(len(b)+7), b...)
		if c.SQLType == mysql.MYSQL_TYPE_TIME2 && c.Meta > 0 && c.Meta <= 6 && bytes.IndexByte(b, '.') < 0 {
			dst = append(append(dst, '.'), "000000"[:c.Meta]...)
		}
		return d.str(dst), nil
	case KindTimestamp:
		// As timestampRFC3339.
		b := v.AsString()
		if bytes.HasPrefix(b, []byte("0000-00-00")) || len(b) < 19 {
			return d.copy(b), nil
		}
		dst := append(d.text.begin(len(b)+1), b[:10]...)
		dst = append(append(append(dst, 'T'), b[11:]...), 'Z')
		return d.str(dst), nil
	case KindBytes, KindGeometry:
		// As binaryValue: BINARY(n)'s trailing zero bytes restored.
		b := v.AsString()
		pad := binaryPadLength(c)
		dst := append(d.text.begin(max(len(b), pad)), b...)
		for len(dst) < pad {
			dst = append(dst, 0)
		}
		return d.box.bytes(d.text.bytes(dst)), nil
	case KindJSON:
		// As jsonText, for the text it hands out as it is.
		b := v.AsString()
		switch {
		case c.SQLType == mysql.MYSQL_TYPE_JSON && len(b) > 0,
			c.SQLType != mysql.MYSQL_TYPE_JSON && utf8Charset(c.Charset) && json.Valid(b):
			return d.copy(b), nil
		}
		return convert(c, b)
	case KindUUID:
		u, err := uuid.ParseBytes(v.AsString())
		if err != nil {
			return nil, err
		}
		return u.String(), nil
	case KindInet:
		a, err := netip.ParseAddr(string(v.AsString()))
		if err != nil {
			return nil, err
		}
		if binaryPadLength(c) == 4 {
			b := a.As4()
			return formatInet(b[:])
		}
		b := a.As16()
		return formatInet(b[:])
	}
	return convert(c, v.AsString())
}

// copy hands out b, copied into the arena, as a boxed string.
func (d *snapValues) copy(b []byte) any { return d.str(append(d.text.begin(len(b)), b...)) }

// str hands out dst, built in d.text, as a boxed string.
func (d *snapValues) str(dst []byte) any { return d.box.string(d.text.string(dst)) }

// canonicalDecimal reports whether b, a DECIMAL as the server writes it, is
// already the text convert makes of the binary log's value (StringFixed
// with the column's scale): an optional minus, no leading zero, exactly
// scale fraction digits, and not a negative zero. ZEROFILL text and
// anything unusual take the slow path.
func canonicalDecimal(b []byte, scale int) bool {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	intPart, frac, dot := bytes.Cut(b, []byte{'.'})
	if len(intPart) == 0 || len(intPart) > 1 && intPart[0] == '0' || dot != (scale > 0) || len(frac) != scale {
		return false
	}
	zero := true
	for _, part := range [2][]byte{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
			zero = zero && c == '0'
		}
	}
	return !(neg && zero)
}

// keyArg returns a key value as a statement argument.
func keyArg(v *mysql.FieldValue) any {
	switch v.Type {
	case mysql.FieldValueTypeSigned:
		return v.AsInt64()
	case mysql.FieldValueTypeUnsigned:
		return v.AsUint64()
	case mysql.FieldValueTypeFloat:
		return v.AsFloat64()
	case mysql.FieldValueTypeNull:
		return nil
	}
	return slices.Clone(v.AsString())
}

// encodeKey writes key arguments for the checkpoint (position.Snapshot.Key).
func encodeKey(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case int64:
			out[i] = "i:" + strconv.FormatInt(x, 10)
		case uint64:
			out[i] = "u:" + strconv.FormatUint(x, 10)
		case float64:
			out[i] = "f:" + strconv.FormatFloat(x, 'g', -1, 64)
		case []byte:
			out[i] = "b:" + base64.StdEncoding.EncodeToString(x)
		default:
			out[i] = "n:"
		}
	}
	return out
}

// decodeKey reads what encodeKey wrote.
func decodeKey(key []string) ([]any, error) {
	out := make([]any, len(key))
	for i, k := range key {
		tag, v, _ := strings.Cut(k, ":")
		var err error
		switch tag {
		case "i":
			out[i], err = strconv.ParseInt(v, 10, 64)
		case "u":
			out[i], err = strconv.ParseUint(v, 10, 64)
		case "f":
			out[i], err = strconv.ParseFloat(v, 64)
		case "b":
			out[i], err = base64.StdEncoding.DecodeString(v)
		case "n":
		default:
			err = fmt.Errorf("unknown tag %q", tag)
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot key value %d %q: %w", i, k, err)
		}
	}
	return out, nil
}
