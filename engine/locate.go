package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/pumacdc/puma/engine/position"
)

// ErrUnservable is wrapped by every UnservableError.
var ErrUnservable = errors.New("the source cannot serve the position")

// UnservableError reports a position the source cannot serve: its binary
// logs no longer hold it (purged), do not hold it yet (the position is ahead
// of the server: a lagging replica, a reset binary log, the wrong server) or
// never held it. Starting anywhere else would skip or repeat changes
// silently, so it stops the task.
type UnservableError struct {
	// Source is the server's address.
	Source string
	// Asked is what Puma asked for: file:<name>:<pos> or gtid:<set>.
	Asked string
	// Problem says what is wrong with Asked, Have what the server has
	// (its binary logs or its GTID state), Fix what to do.
	Problem, Have, Fix string
	// Err is the server's own refusal (error 1236), when it refused the
	// dump.
	Err error
}

func (e *UnservableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s cannot serve %s: %s", e.Source, e.Asked, e.Problem)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Have != "" {
		fmt.Fprintf(&b, "; the server has %s", e.Have)
	}
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

// Unwrap returns ErrUnservable and the server's error, if any.
func (e *UnservableError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrUnservable, e.Err}
	}
	return []error{ErrUnservable}
}

// Fixes offered by UnservableError.
const (
	fixPurged = `start from "earliest" (or a later position) to continue with what is left, and recover the purged changes elsewhere; keep binary logs longer (binlog_expire_logs_seconds) than a task may be stopped`
	fixAhead  = "the server lacks transactions the position includes: wait for a lagging replica to catch up, or point the task at a server that has them"
)

// errNoPlace marks a start specification that names no place on the
// source; like UnservableError it is not cured by reconnecting.
var errNoPlace = errors.New("no such place in the binary log")

// locateFatal reports whether a locate or check error is final rather than
// a failure to talk to the server.
func locateFatal(err error) bool {
	return errors.Is(err, ErrUnservable) || errors.Is(err, errNoPlace) || errors.Is(err, position.ErrBadSpec)
}

// locator finds and verifies positions in one source's binary log. It
// borrows conn for its queries and opens binary-log dumps of its own, under
// throw-away server ids so as not to disturb running replicas, to read
// event timestamps. One goroutine uses it at a time.
type locator struct {
	conn *client.Conn
	info *serverInfo
	// dump configures the locator's dumps; ServerID, DumpCommandFlag,
	// RowsEventDecodeFunc and Logger are set per dump.
	dump replication.BinlogSyncerConfig
}

// locate turns a start specification into a position on the connected
// server, verifying that the server can serve it.
func (l *locator) locate(ctx context.Context, start position.Start) (position.Position, error) {
	p := position.Position{ServerID: l.info.ServerID, ServerUUID: l.info.ServerUUID, Flavor: l.info.Flavor}
	var err error
	switch start.Mode {
	case position.Latest:
		if p.File, p.Pos, p.GTIDSet, err = masterStatus(l.conn); err != nil {
			return p, err
		}
	case position.Earliest:
		logs, err := listBinaryLogs(l.conn)
		if err != nil {
			return p, err
		}
		if len(logs) == 0 {
			return p, fmt.Errorf("%w: the server has no binary logs", errNoPlace)
		}
		p.File, p.Pos = logs[0].name, 4
	case position.File:
		p.File, p.Pos = start.File, start.Pos
		if err := l.checkFile(p.File, p.Pos); err != nil {
			return p, err
		}
	case position.GTID:
		set, err := position.ParseGTIDSet(l.info.Flavor, start.GTIDSet)
		if err != nil {
			return p, fmt.Errorf("%w: %s server: %w", position.ErrBadSpec, l.info.Flavor, err)
		}
		if err := l.checkGTID(set); err != nil {
			return p, err
		}
		// No file: the dump starts from the GTID set, on any server.
		p.ServerID, p.GTIDSet = 0, set.String()
		return p, nil
	case position.Time:
		return l.atTime(ctx, start.Time)
	default:
		return p, fmt.Errorf("%w: %q is not a place to start", errNoPlace, start)
	}
	if l.info.Flavor == mysql.MariaDBFlavor {
		if p.GTIDSet, err = mariadbGTIDAt(l.conn, p.File, p.Pos); err != nil {
			return p, err
		}
	}
	return p, nil
}

// check verifies, before a dump starts, that the server can serve p: by
// file and offset when byFile, else by the GTID set gset. It returns an
// *UnservableError when the server cannot, another error when the check
// itself failed.
func (l *locator) check(p position.Position, byFile bool, gset mysql.GTIDSet) error {
	if byFile {
		return l.checkFile(p.File, p.Pos)
	}
	if gset == nil {
		return nil
	}
	return l.checkGTID(gset)
}

// binlogFile is one line of SHOW BINARY LOGS.
type binlogFile struct {
	name string
	size uint64
}

// listBinaryLogs lists the server's binary logs with their sizes, oldest
// first. The size of the one being written is where it ends now.
func listBinaryLogs(conn *client.Conn) ([]binlogFile, error) {
	r, err := conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	logs := make([]binlogFile, 0, r.RowNumber())
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		size, _ := r.GetUint(i, 1)
		logs = append(logs, binlogFile{name: strings.Clone(name), size: size})
	}
	return logs, nil
}

// describeLogs says which binary logs a server has, for error messages.
func describeLogs(logs []binlogFile) string {
	if len(logs) == 0 {
		return "no binary logs"
	}
	last := logs[len(logs)-1]
	if len(logs) == 1 {
		return fmt.Sprintf("one binary log, %s, ending at %d", last.name, last.size)
	}
	return fmt.Sprintf("binary logs %s (oldest) to %s (ending at %d)", logs[0].name, last.name, last.size)
}

// compareLogNames orders binary log names by their numeric extension; ok is
// false when they do not share a base name.
func compareLogNames(a, b string) (c int, ok bool) {
	ab, an, aok := splitLogName(a)
	bb, bn, bok := splitLogName(b)
	if !aok || !bok || ab != bb {
		return 0, false
	}
	return cmp.Compare(an, bn), true
}

func splitLogName(name string) (base string, n uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return name[:i], n, err == nil
}

// checkFile verifies that the server's binary logs hold file at pos.
func (l *locator) checkFile(file string, pos uint32) error {
	logs, err := listBinaryLogs(l.conn)
	if err != nil {
		return err
	}
	e := &UnservableError{Source: l.info.Addr, Asked: fmt.Sprintf("file:%s:%d", file, pos), Have: describeLogs(logs)}
	if len(logs) == 0 {
		e.Problem = "binary logging has no files"
		return e
	}
	for i, lg := range logs {
		if lg.name != file {
			continue
		}
		if uint64(pos) <= lg.size {
			return nil
		}
		if i == len(logs)-1 {
			e.Problem = fmt.Sprintf("the position is ahead of the server: %s ends at %d", file, lg.size)
			e.Fix = fixAhead
		} else {
			e.Problem = fmt.Sprintf("%s ends at %d", file, lg.size)
		}
		return e
	}
	oldest, newest := logs[0].name, logs[len(logs)-1].name
	if c, ok := compareLogNames(file, oldest); ok && c < 0 {
		e.Problem = fmt.Sprintf("%s was purged: the oldest binary log the server has is %s", file, oldest)
		e.Fix = fixPurged
		return e
	}
	if c, ok := compareLogNames(file, newest); ok && c > 0 {
		e.Problem = fmt.Sprintf("the position is ahead of the server: %s is newer than its current binary log %s", file, newest)
		e.Fix = fixAhead
		return e
	}
	e.Problem = fmt.Sprintf("%s is not one of the server's binary logs", file)
	return e
}

// checkGTID verifies that the server's binary logs hold everything after
// the GTID set: the set is not ahead of the server, not outside its
// history, and not older than its oldest binary log.
func (l *locator) checkGTID(set mysql.GTIDSet) error {
	switch s := set.(type) {
	case *mysql.MariadbGTIDSet:
		return l.checkMariaDBGTID(s)
	case *mysql.MysqlGTIDSet:
		return l.checkMySQLGTID(s)
	}
	return nil
}

// checkMariaDBGTID compares a MariaDB GTID position, domain by domain, with
// @@gtid_binlog_pos (the last transaction of each domain), @@gtid_binlog_state
// (the last of each domain and server) and the GTID state at the start of
// the oldest binary log. Without gtid_strict_mode MariaDB itself would
// start a dump from a position it has not got at the next transaction it
// has, skipping silently.
func (l *locator) checkMariaDBGTID(req *mysql.MariadbGTIDSet) error {
	r, err := l.conn.Execute("SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_binlog_state")
	if err != nil {
		return fmt.Errorf("read gtid_binlog_pos: %w", err)
	}
	binlogPos, _ := r.GetString(0, 0)
	binlogState, _ := r.GetString(0, 1)
	binlogPos, binlogState = strings.Clone(binlogPos), strings.Clone(binlogState)
	lastOf, err := parseMariaDBGTIDs(binlogPos)
	if err != nil {
		return fmt.Errorf("gtid_binlog_pos %q: %w", binlogPos, err)
	}
	state, err := parseMariaDBGTIDs(binlogState)
	if err != nil {
		return fmt.Errorf("gtid_binlog_state %q: %w", binlogState, err)
	}
	logs, err := listBinaryLogs(l.conn)
	if err != nil {
		return err
	}
	var oldest string
	var before []mysql.MariadbGTID // the state at the start of the oldest binary log
	if len(logs) > 0 {
		oldest = logs[0].name
		s, err := mariadbGTIDAt(l.conn, oldest, 4)
		if err != nil {
			return err
		}
		if before, err = parseMariaDBGTIDs(s); err != nil {
			return fmt.Errorf("gtid position at %s:4 %q: %w", oldest, s, err)
		}
	}
	e := &UnservableError{
		Source: l.info.Addr,
		Asked:  "gtid:" + req.String(),
		Have:   fmt.Sprintf("gtid_binlog_pos %q, gtid_binlog_state %q and %s", binlogPos, binlogState, describeLogs(logs)),
	}
	find := func(set []mysql.MariadbGTID, domain uint32, server uint32, anyServer bool) (mysql.MariadbGTID, bool) {
		for _, g := range set {
			if g.DomainID == domain && (anyServer || g.ServerID == server) {
				return g, true
			}
		}
		return mysql.MariadbGTID{}, false
	}
	domains := make([]uint32, 0, len(req.Sets))
	for d := range req.Sets {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	for _, d := range domains {
		g := req.Sets[d]
		last, ok := find(lastOf, d, 0, true)
		switch {
		case !ok:
			e.Problem = fmt.Sprintf("gtid %s: the server has no transaction in domain %d", g, d)
			e.Fix = fixAhead
			return e
		case g.SequenceNumber > last.SequenceNumber:
			e.Problem = fmt.Sprintf("gtid %s is ahead of the server: its last transaction in domain %d is %s", g, d, last.String())
			e.Fix = fixAhead
			return e
		}
		if own, ok := find(state, d, g.ServerID, false); !ok || own.SequenceNumber < g.SequenceNumber {
			e.Problem = fmt.Sprintf("gtid %s is not in the server's history: it has no transaction from server %d in domain %d", g, g.ServerID, d)
			if ok {
				e.Problem += fmt.Sprintf(" after %s", own.String())
			}
			e.Fix = "the server's history diverged from the one the position was read from; point the task at a server that has the transaction, or start it anew"
			return e
		}
		if first, ok := find(before, d, 0, true); ok && g.SequenceNumber < first.SequenceNumber {
			e.Problem = fmt.Sprintf("the transactions after gtid %s were purged: the oldest binary log the server has, %s, starts after %s", g, oldest, first.String())
			e.Fix = fixPurged
			return e
		}
	}
	for _, first := range before {
		if _, ok := req.Sets[first.DomainID]; !ok && first.SequenceNumber > 0 {
			e.Problem = fmt.Sprintf("the set has no position in domain %d, so the dump would begin at that domain's first transaction, but the oldest binary log the server has, %s, starts after %s (purged)", first.DomainID, oldest, first.String())
			e.Fix = fixPurged
			return e
		}
	}
	return nil
}

// parseMariaDBGTIDs parses a comma-separated list of MariaDB GTIDs keeping
// every entry (go-mysql's set keeps one per domain).
func parseMariaDBGTIDs(s string) ([]mysql.MariadbGTID, error) {
	var out []mysql.MariadbGTID
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		g, err := mysql.ParseMariadbGTID(part)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, nil
}

// checkMySQLGTID requires the set to be within @@gtid_executed and to
// include @@gtid_purged.
func (l *locator) checkMySQLGTID(req *mysql.MysqlGTIDSet) error {
	r, err := l.conn.Execute("SELECT @@GLOBAL.gtid_executed, @@GLOBAL.gtid_purged")
	if err != nil {
		return fmt.Errorf("read gtid_executed: %w", err)
	}
	executedText, _ := r.GetString(0, 0)
	purgedText, _ := r.GetString(0, 1)
	return checkMySQLGTIDSets(l.info.Addr, req, strings.Clone(executedText), strings.Clone(purgedText))
}

// checkMySQLGTIDSets is checkMySQLGTID on the values of @@gtid_executed
// and @@gtid_purged as the source returned them (MySQL breaks long sets
// into lines).
func checkMySQLGTIDSets(source string, req *mysql.MysqlGTIDSet, executedText, purgedText string) error {
	executedText = strings.ReplaceAll(executedText, "\n", "")
	purgedText = strings.ReplaceAll(purgedText, "\n", "")
	executed, err := mysql.ParseMysqlGTIDSet(executedText)
	if err != nil {
		return fmt.Errorf("gtid_executed %q: %w", executedText, err)
	}
	purged, err := mysql.ParseMysqlGTIDSet(purgedText)
	if err != nil {
		return fmt.Errorf("gtid_purged %q: %w", purgedText, err)
	}
	e := &UnservableError{
		Source: source,
		Asked:  "gtid:" + req.String(),
		Have:   fmt.Sprintf("gtid_executed %q and gtid_purged %q", executedText, purgedText),
	}
	if !executed.Contain(req) {
		e.Problem = "the set has transactions the server has not executed (it is ahead of the server, or from another history)"
		e.Fix = fixAhead
		return e
	}
	if !req.Contain(purged) {
		e.Problem = "the server purged transactions the set lacks"
		e.Fix = fixPurged
		return e
	}
	return nil
}

// refusal turns the server's refusal of a dump (error 1236,
// ER_MASTER_FATAL_ERROR_READING_BINLOG: position purged, GTID not in the
// binary log, corrupt log) into an *UnservableError naming what was asked.
// Other errors, and the refusal MySQL sends when another replica uses the
// same server id (which a restart cures), come back unchanged.
func refusal(err error, source, asked string) error {
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		return err
	}
	if strings.Contains(me.Message, "same server_uuid/server_id") {
		return err
	}
	return &UnservableError{Source: source, Asked: asked, Problem: "the server refused the dump", Err: err}
}

// asked renders the place a dump was asked to start, for errors.
func asked(p position.Position, byFile bool, gset mysql.GTIDSet) string {
	if byFile {
		return fmt.Sprintf("file:%s:%d", p.File, p.Pos)
	}
	if gset != nil {
		return "gtid:" + gset.String()
	}
	return p.String()
}

// commitsAtOrAfter is the time rule of start and stop-at: a transaction
// whose commit event is timestamped ts (whole seconds) is at or after t
// when ts is at or after t's second. A time with a fraction thus includes
// every transaction committing in its second: the binary log cannot tell
// them apart.
func commitsAtOrAfter(ts uint32, t time.Time) bool {
	return int64(ts) >= t.Unix()
}

// atTime finds where to start so that the task delivers every transaction
// that commits at or after t, and as little before it as the binary log
// allows. The rule:
//
//   - A transaction's time is the timestamp of its commit event: the XID
//     event, the COMMIT query, or for DDL and other statements logged on
//     their own the statement's query event. Event timestamps are the start
//     times of the statements that wrote them, in whole seconds (0 on
//     heartbeats and on the rotate and format events a dump begins with),
//     so t is compared at whole seconds: a transaction committing within
//     t's second counts as at or after t. A transaction that began before
//     t and committed at or after it is included, whole.
//   - The search begins in the newest binary log whose first event (its
//     format description, stamped when the file was opened) is before t's
//     second; when there is none, in the oldest. Every event of the files
//     before it was written before that moment, and so stamped no later:
//     none of them commits at or after t.
//   - From there it reads forward to the first transaction whose commit
//     event is at or after t. The position is where that transaction
//     begins: the end of the transaction before it, or the start of its
//     file, with the GTID set executed at that point (MariaDB:
//     BINLOG_GTID_POS). Timestamps are not monotonic within a file
//     (concurrent sessions, SET TIMESTAMP, replicated events), so a later
//     transaction that committed before t is delivered too; none that
//     commits at or after t is skipped.
//   - When no transaction commits at or after t, the position is the end of
//     the binary log when the search began, as with "latest".
//   - Stop-at shares the rule (commitsAtOrAfter, txBounds): stopping
//     at t stops right before the transaction a start at t begins with, so
//     the two split the log without gap or overlap.
//
// The argument for the file choice assumes statement timestamps come from
// this server's clock; events replicated from a source whose clock runs
// ahead, or written under SET TIMESTAMP, can be stamped later than the
// file after them was opened.
//
// The search reads events up to the end of the binary log as it was when
// it began, and stops when ctx is done.
func (l *locator) atTime(ctx context.Context, t time.Time) (position.Position, error) {
	p := position.Position{ServerID: l.info.ServerID, ServerUUID: l.info.ServerUUID, Flavor: l.info.Flavor}
	logs, err := listBinaryLogs(l.conn)
	if err != nil {
		return p, err
	}
	if len(logs) == 0 {
		return p, fmt.Errorf("%w: the server has no binary logs", errNoPlace)
	}
	// The end is read after the list, so every listed file precedes it.
	endFile, endPos, endGTID, err := masterStatus(l.conn)
	if err != nil {
		return p, err
	}

	// The newest file opened before t's second; opening times increase
	// with the file sequence, so a binary search finds it.
	from, lo, hi := 0, 0, len(logs)-1
	for lo <= hi {
		mid := lo + (hi-lo)/2
		opened, err := l.firstEventTime(ctx, logs[mid].name)
		if err != nil {
			return p, err
		}
		if !commitsAtOrAfter(opened, t) {
			from, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}

	d, err := l.openDump(logs[from].name, 4)
	if err != nil {
		return p, err
	}
	defer d.close()
	tr := txTracker{flavor: l.info.Flavor}
	for {
		ev, err := d.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			return p, fmt.Errorf("scan %s from %s:4 for the first transaction committing at or after %s: the dump ended at %s:%d, before the end of the binary log at %s:%d: %w",
				l.info.Addr, logs[from].name, t.UTC().Format(time.RFC3339), tr.file, tr.lastPos, endFile, endPos, refusal(err, l.info.Addr, "file:"+logs[from].name+":4"))
		}
		if c, ok := tr.step(ev); ok && commitsAtOrAfter(c.TS, t) {
			p.File, p.Pos, p.Timestamp = c.File, c.Start, int64(c.PrevTS)
			switch {
			case l.info.Flavor == mysql.MariaDBFlavor:
				if p.GTIDSet, err = mariadbGTIDAt(l.conn, p.File, p.Pos); err != nil {
					return p, err
				}
			case tr.gtids != nil:
				p.GTIDSet = tr.gtids.String()
			}
			return p, nil
		}
		// A rotate's offset is in the file it ends, not the one it names.
		if _, rotate := ev.Event.(*replication.RotateEvent); !rotate && reached(tr.file, ev.Header.LogPos, endFile, endPos) {
			p.File, p.Pos, p.GTIDSet = endFile, endPos, endGTID
			if l.info.Flavor == mysql.MariaDBFlavor {
				if p.GTIDSet, err = mariadbGTIDAt(l.conn, p.File, p.Pos); err != nil {
					return p, err
				}
			}
			return p, nil
		}
	}
}

// reached reports whether an event ending at file:logPos is at or past the
// end file:pos.
func reached(file string, logPos uint32, endFile string, endPos uint32) bool {
	if file == endFile {
		return logPos != 0 && logPos >= endPos
	}
	c, ok := compareLogNames(file, endFile)
	return ok && c > 0
}

// firstEventTime returns the timestamp of the first event of file that
// has one: its format description, stamped when the file was opened.
func (l *locator) firstEventTime(ctx context.Context, file string) (uint32, error) {
	d, err := l.openDump(file, 4)
	if err != nil {
		return 0, err
	}
	defer d.close()
	for {
		ev, err := d.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("read the first event of %s on %s: %w", file, l.info.Addr, refusal(err, l.info.Addr, "file:"+file+":4"))
		}
		if ev.Header.Timestamp != 0 && !isHeartbeat(ev.Header) {
			return ev.Header.Timestamp, nil
		}
	}
}

// dump is one of the locator's binary-log dumps. It asks the server for
// BINLOG_DUMP_NON_BLOCK, so the server ends the dump at the end of its
// binary log instead of waiting for more.
type dump struct {
	syncer  *replication.BinlogSyncer
	st      *replication.BinlogStreamer
	pending []*replication.BinlogEvent
	err     error
}

// openDump starts a dump at file:pos under a throw-away server id. Rows
// events are not decoded: the locator needs only headers and boundaries.
func (l *locator) openDump(file string, pos uint32) (*dump, error) {
	cfg := l.dump
	cfg.ServerID = scratchServerID(l.info.ServerID, l.dump.ServerID)
	cfg.DumpCommandFlag = replication.BINLOG_DUMP_NON_BLOCK
	cfg.RowsEventDecodeFunc = func(*replication.RowsEvent, []byte) error { return nil }
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := replication.NewBinlogSyncer(cfg)
	st, err := s.StartSync(mysql.Position{Name: file, Pos: pos})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("dump %s:%d from %s: %w", file, pos, l.info.Addr, err)
	}
	return &dump{syncer: s, st: st}, nil
}

// next returns the dump's next event. When the dump ended, go-mysql may
// report the end before handing over the events it had buffered: those
// come first.
func (d *dump) next(ctx context.Context) (*replication.BinlogEvent, error) {
	for {
		if len(d.pending) > 0 {
			ev := d.pending[0]
			d.pending = d.pending[1:]
			return ev, nil
		}
		if d.err != nil {
			return nil, d.err
		}
		ev, err := d.st.GetEvent(ctx)
		if err == nil {
			return ev, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		d.err = err
		d.pending = d.st.DumpEvents()
	}
}

func (d *dump) close() { d.syncer.Close() }

// scratchServerID picks a random replica server id with the top bit set,
// different from the ids given.
func scratchServerID(avoid ...uint32) uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id := binary.LittleEndian.Uint32(b[:]) | 1<<31
		if !slices.Contains(avoid, id) {
			return id
		}
	}
}

func isHeartbeat(h *replication.EventHeader) bool {
	return h.EventType == replication.HEARTBEAT_EVENT || h.EventType == replication.HEARTBEAT_LOG_EVENT_V2
}

// txTracker follows transaction boundaries through one of the locator's
// dumps by txBounds, the reader's rule, needing no decoded rows. Stop-at
// uses the same rule with commitsAtOrAfter.
//
// For MySQL it also keeps the executed GTID set, from the file's
// PREVIOUS_GTIDS event on: gtids is the set before the transaction step
// last reported, valid until the next step. It is nil for MariaDB and
// when the dump began mid-file.
type txTracker struct {
	txBounds
	flavor  string
	gtids   mysql.GTIDSet
	txGTID  *mysqlGTID
	applied *mysqlGTID // committed, not yet added to gtids
}

// step feeds the next event of the dump. It reports a transaction when one
// ended with ev or right before it.
func (t *txTracker) step(ev *replication.BinlogEvent) (txCommit, bool) {
	if t.applied != nil {
		if s, ok := t.gtids.(*mysql.MysqlGTIDSet); ok {
			s.AddGTIDWithTag(t.applied.sid, t.applied.tag, t.applied.gno)
		}
		t.applied = nil
	}
	s := t.txBounds.step(ev)
	if s.Ended {
		if t.txGTID != nil && t.gtids != nil {
			t.applied = t.txGTID
		}
		t.txGTID = nil
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		t.txGTID = nil
	case *replication.PreviousGTIDsEvent:
		if t.flavor == mysql.MySQLFlavor && t.end <= 4 {
			if set, err := mysql.ParseMysqlGTIDSet(e.GTIDSets); err == nil {
				t.gtids = set
			}
		}
	case *replication.GTIDEvent:
		t.mysqlGTID(e)
	case *replication.GtidTaggedLogEvent:
		t.mysqlGTID(&e.GTIDEvent)
	}
	return s.Commit, s.Ended
}

func (t *txTracker) mysqlGTID(e *replication.GTIDEvent) {
	if sid, err := uuid.FromBytes(e.SID); err == nil && e.GNO > 0 {
		t.txGTID = &mysqlGTID{sid: sid, tag: e.Tag, gno: e.GNO}
	}
}
