package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/position"
)

// reader assembles binary-log events into batches of whole, ordered
// transactions. It is owned by the task goroutine and lives across
// reconnects: pos is where the next connection resumes.
type reader struct {
	log     *slog.Logger
	schemas *schemas
	// schemaState is the table definitions in use, carried across
	// connections and saved with each commit's checkpoint.
	schemaState *schemaState
	match       func(db, table string) bool
	matchDB     func(db string) bool
	batchRows   int
	nextSeq     func() uint64
	// stopAt returns the stop-at point in force, or nil.
	stopAt func() *position.Start
	// heartbeat is the task's heartbeat table (nil: none); heartbeatAt is
	// the time of its row in the open transaction.
	heartbeat   *heartbeatTable
	heartbeatAt time.Time
	// ddl routes DDL statements by what they change.
	ddl ddlRouter
	// queries is set when row changes carry their statement (include_query);
	// stmt is the statement of the rows events that follow, from the
	// annotate or rows-query event before them.
	queries bool
	stmt    string
	// bounds says where transactions begin and end.
	bounds txBounds

	// Incremental snapshot (see incremental.go). task is the task's
	// name, which signal rows address; signalTable is its signal table
	// (nil: none) and signals the signal rows of the open transaction.
	// progress is the snapshot's progress in stream order, attached to
	// every commit handed on; incr shares it with the chunk reader;
	// window is the chunk between its watermarks. onProgress and counted
	// report progress and delivered chunks (both may be nil).
	task        string
	signalTable *signalTable
	signals     []signalRow
	incr        *incremental
	progress    *checkpoint.Incremental
	window      *window
	onProgress  func(*checkpoint.Incremental)
	counted     func(table string, read, delivered int, last bool)

	// pos is the end of the last transaction handed on: a reconnect resumes
	// there. gset is the GTID set executed at pos (nil when unknown).
	pos  position.Position
	gset mysql.GTIDSet

	// Per-connection state.
	serverID uint32
	file     string

	// The open transaction.
	tx        *Tx
	txGTID    any // *mysql.MariadbGTID or mysqlGTID, added to gset at commit
	txOpen    bool
	txBegun   bool // its first batch was handed on
	txSeq     uint32
	pending   []Change
	txTouched bool // a change of the tx passed the table filter
	// lastBatch is the number of changes in the last batch handed on: the
	// pending slice of the next is sized for as many.
	lastBatch int
	// text and box hold the values the reader converts itself (a
	// decoder's deferred columns), as the decoder's own do.
	text textArena
	box  boxes
}

type mysqlGTID struct {
	sid uuid.UUID
	tag mysql.Tag
	gno int64
}

// resetConnection drops what a dropped connection left half-read.
func (r *reader) resetConnection(serverID uint32) {
	r.serverID = serverID
	r.file = r.pos.File
	r.tx, r.txGTID, r.txOpen, r.txBegun, r.txSeq, r.txTouched = nil, nil, false, false, 0, false
	r.pending = nil
	r.bounds = txBounds{}
	r.signals = r.signals[:0]
}

// handle processes one event; it calls emit for each batch ready to go
// down the pipeline. Transactions begin and end where txBounds says.
func (r *reader) handle(ctx context.Context, ev *replication.BinlogEvent, emit func(context.Context, *Batch) error) error {
	h := ev.Header
	step := r.bounds.step(ev)
	if step.Refused != nil {
		return r.errorAt(h, step.Refused)
	}
	if step.Ended && step.Before {
		if err := r.commit(ctx, h, step.Commit, emit); err != nil {
			return err
		}
	}
	if step.Began {
		if err := r.begin(h, ev.Event); err != nil {
			return err
		}
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		r.file = string(e.NextLogName)
		if !r.txOpen && h.Timestamp != 0 {
			// A real rotate at the end of a file: the next file is where a
			// resume would start. It is handed on as progress, so that the
			// checkpoint of a task whose tables are quiet follows the
			// server's files and never points into one the server purged.
			r.pos.File, r.pos.Pos = r.file, uint32(e.Position)
			pos := r.pos
			pos.ServerID = r.serverID
			return emit(ctx, &Batch{Seq: r.nextSeq(), Commit: &pos, CommitTime: r.pos.Timestamp, schemas: r.schemaState.encoded(), incremental: r.progress})
		}
	case *replication.PreviousGTIDsEvent:
		if r.gset == nil && r.pos.Flavor == mysql.MySQLFlavor && r.pos.Pos <= 4 {
			set, err := mysql.ParseMysqlGTIDSet(e.GTIDSets)
			if err == nil {
				r.gset = set
			}
		}
	case *replication.QueryEvent:
		r.query(h, e)
	case *replication.MariadbAnnotateRowsEvent:
		if r.queries {
			r.stmt = string(e.Query)
		}
	case *replication.RowsQueryEvent:
		if r.queries {
			r.stmt = string(e.Query)
		}
	case *replication.RowsEvent:
		if err := r.rows(ctx, h, e, emit); err != nil {
			return err
		}
	case *replication.TransactionPayloadEvent:
		// A compressed transaction: its rows are inside; the payload
		// event begins and ends it (txBounds).
		for _, inner := range e.Events {
			if rows, ok := inner.Event.(*replication.RowsEvent); ok {
				if err := r.rows(ctx, inner.Header, rows, emit); err != nil {
					// The compressed events carry no positions of their
					// own: an error in one is reported at the payload.
					if pe, ok := err.(*PositionError); ok {
						pe.Pos = h.LogPos - h.EventSize
					}
					return err
				}
			}
		}
	}
	if step.Ended && !step.Before {
		return r.commit(ctx, h, step.Commit, emit)
	}
	return nil
}

// begin opens the transaction ev begins: with its GTID, or on a server
// that logs none, anonymous.
func (r *reader) begin(h *replication.EventHeader, ev replication.Event) error {
	switch e := ev.(type) {
	case *replication.MariadbGTIDEvent:
		g := e.GTID
		r.open(h, mariadbGTIDString(&g), &g)
	case *replication.GtidTaggedLogEvent:
		return r.beginMySQL(h, &e.GTIDEvent)
	case *replication.GTIDEvent:
		return r.beginMySQL(h, e)
	default:
		r.openAnonymous(h)
	}
	return nil
}

// mariadbGTIDString is g.String() in one allocation instead of
// fmt.Sprintf's: it runs for every transaction.
func mariadbGTIDString(g *mysql.MariadbGTID) string {
	if g.DomainID == 0 && g.ServerID == 0 && g.SequenceNumber == 0 {
		return ""
	}
	var buf [64]byte
	b := strconv.AppendUint(buf[:0], uint64(g.DomainID), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(g.ServerID), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, g.SequenceNumber, 10)
	return string(b)
}

// gtidSetString is s.String(), with the set of a single MariaDB domain
// (the usual one) formatted by mariadbGTIDString: it runs for every
// commit.
func gtidSetString(s mysql.GTIDSet) string {
	if m, ok := s.(*mysql.MariadbGTIDSet); ok && len(m.Sets) == 1 {
		for _, g := range m.Sets {
			return mariadbGTIDString(g)
		}
	}
	return s.String()
}

// beginMySQL opens the transaction a MySQL GTID event announces, tagged
// (uuid:tag:gno) or not. With gtid_mode=OFF the event is an
// ANONYMOUS_GTID_LOG_EVENT, which names no transaction: the transaction is
// then identified by where it starts, as on a server that logs no GTID
// events at all.
func (r *reader) beginMySQL(h *replication.EventHeader, e *replication.GTIDEvent) error {
	if h.EventType == replication.ANONYMOUS_GTID_EVENT {
		r.openAnonymous(h)
		return nil
	}
	sid, err := uuid.FromBytes(e.SID)
	if err != nil {
		return r.errorAt(h, fmt.Errorf("decode GTID event: %w", err))
	}
	id := sid.String() + ":" + strconv.FormatInt(e.GNO, 10)
	if e.Tag.String() != "" {
		id = sid.String() + ":" + e.Tag.String() + ":" + strconv.FormatInt(e.GNO, 10)
	}
	r.open(h, id, mysqlGTID{sid: sid, tag: e.Tag, gno: e.GNO})
	return nil
}

func (r *reader) open(h *replication.EventHeader, gtid string, g any) {
	r.tx = &Tx{ID: gtid, GTID: gtid, ServerID: h.ServerID, File: r.file, Pos: h.LogPos - h.EventSize}
	r.txGTID = g
	r.txOpen = true
	r.txBegun = false
	r.txSeq = 0
	r.txTouched = false
	r.pending = r.pending[:0]
	r.stmt = ""
	r.signals = r.signals[:0]
}

// openAnonymous opens a transaction on a server that logs no GTIDs: its
// identity is where it starts.
func (r *reader) openAnonymous(h *replication.EventHeader) {
	start := h.LogPos - h.EventSize
	r.open(h, "", nil)
	r.tx.ID = r.file + ":" + strconv.FormatUint(uint64(start), 10)
}

func (r *reader) errorAt(h *replication.EventHeader, err error) error {
	return &PositionError{File: r.file, Pos: h.LogPos - h.EventSize, Err: err}
}

// query delivers what a query event carries: a DDL or TRUNCATE change.
// Where it begins or ends a transaction is txBounds'.
func (r *reader) query(h *replication.EventHeader, e *replication.QueryEvent) {
	stmt := strings.TrimSpace(string(e.Query))
	word := strings.ToUpper(firstWord(stmt))
	switch word {
	case "BEGIN", "COMMIT", "SAVEPOINT":
		return
	case "ROLLBACK":
		if !strings.Contains(strings.ToUpper(stmt), " TO ") {
			// Logged only when non-transactional changes, which stay
			// applied, were part of the group.
			r.log.Warn("transaction ended by ROLLBACK; its non-transactional changes are delivered", "file", r.file, "pos", h.LogPos)
		}
		return
	}
	// DDL, TRUNCATE and other statements: one change, committed on its own.
	db := string(e.Schema)
	if word == "TRUNCATE" {
		tdb, table := truncateTarget(stmt, db)
		if ts, ok, _ := r.ddl.targets(stmt, db); ok && ts[0].Table != "" {
			tdb, table = ts[0].DB, ts[0].Table
		}
		if r.match(tdb, table) {
			r.txTouched = true
			r.add(Change{Op: OpTruncate, Table: r.schemas.truncateTable(tdb, table), Timestamp: int64(h.Timestamp), File: r.file, Pos: h.LogPos})
		}
		return
	}
	// Whatever the filter, a DDL may change a table the task reads.
	r.schemas.ddl(db, stmt)
	if c, ok := r.ddlRoute(db, stmt); ok {
		c.Statement, c.Timestamp, c.File, c.Pos = stmt, int64(h.Timestamp), r.file, h.LogPos
		r.txTouched = true
		r.add(c)
	}
}

func (r *reader) add(c Change) {
	if r.window != nil {
		r.window.observe(&c)
	}
	r.txSeq++
	c.Seq = r.txSeq
	c.Tx = r.tx
	r.pending = append(r.pending, c)
}

func (r *reader) rows(ctx context.Context, h *replication.EventHeader, e *replication.RowsEvent, emit func(context.Context, *Batch) error) error {
	db, name := string(e.Table.Schema), string(e.Table.Table)
	deliver, heartbeat, signal := r.match(db, name), r.heartbeat.is(db, name), r.signalTable.is(db, name)
	if signal {
		deliver = false // the task's own bookkeeping
	}
	if !deliver && !heartbeat && !signal {
		return nil
	}
	m, err := r.schemas.mapping(ctx, e.Table)
	if err != nil {
		return r.errorAt(h, err)
	}
	t := m.table
	for _, skipped := range e.SkippedColumns {
		if len(skipped) > 0 {
			return r.errorAt(h, fmt.Errorf("table %s: partial row image (binlog_row_image is not FULL); run SET GLOBAL binlog_row_image=FULL on the source", t.FullName()))
		}
	}
	var op Op
	step := 1
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		op = OpInsert
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		op, step = OpUpdate, 2
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		op = OpDelete
	default:
		return r.errorAt(h, fmt.Errorf("unknown rows event type %s", h.EventType))
	}
	rows, res := decodedRows(e)
	if len(rows)%step != 0 {
		return r.errorAt(h, fmt.Errorf("table %s: update event with %d row images", t.FullName(), len(rows)))
	}
	// With a rowDecoder's result the images hold Change values already,
	// but for the columns in fix; without, every value is converted.
	var fix []int
	if res != nil {
		if res.plan.skip {
			return r.errorAt(h, fmt.Errorf("table %s: rows not decoded: the decoder's table filter differs from the reader's (internal error: report it)", t.FullName()))
		}
		if res.err != nil {
			col := strconv.Itoa(res.col + 1)
			if res.col < len(t.Columns) {
				col = t.Columns[res.col].Name
			}
			return r.errorAt(h, fmt.Errorf("table %s column %s: %w", t.FullName(), col, res.err))
		}
		if fix, err = r.schemas.fixups(m, res.plan); err != nil {
			return r.errorAt(h, err)
		}
	}
	if deliver {
		r.txTouched = true
	}
	// Room for the event's changes, or as many as the last batch had, up
	// to the batch size: without it the pending slice regrows by doubling
	// for every batch.
	r.pending = slices.Grow(r.pending, min(max(len(rows)/step, r.lastBatch-len(r.pending)), r.batchRows-len(r.pending)))
	for i := 0; i < len(rows); i += step {
		c := Change{Op: op, Table: t, Timestamp: int64(h.Timestamp), File: r.file, Pos: h.LogPos, Query: r.stmt}
		img, err := r.image(t, rows[i], res != nil, fix)
		if err != nil {
			return r.errorAt(h, err)
		}
		switch op {
		case OpInsert:
			c.After = img
		case OpDelete:
			c.Before = img
		case OpUpdate:
			c.Before = img
			if c.After, err = r.image(t, rows[i+1], res != nil, fix); err != nil {
				return r.errorAt(h, err)
			}
		}
		if heartbeat && c.After != nil {
			if at, ok := r.heartbeat.observe(t, c.After); ok {
				r.heartbeatAt = at
			}
		}
		if signal && c.After != nil {
			r.signal(t, c.After)
		}
		if !deliver {
			continue
		}
		r.add(c)
		if len(r.pending) >= r.batchRows {
			if err := r.flush(ctx, emit, nil, 0); err != nil {
				return err
			}
			r.pending = slices.Grow(r.pending, min((len(rows)-i-step)/step, r.batchRows))
		}
	}
	return nil
}

// image returns the Change image of row. A row a rowDecoder decoded
// (decoded) is the image itself once the columns in fix are converted;
// any other is go-mysql's, every value of which is converted into a new
// image.
func (r *reader) image(t *Table, row []any, decoded bool, fix []int) ([]any, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("table %s: row has %d values, table map %d columns", t.FullName(), len(row), len(t.Columns))
	}
	img := row
	if !decoded {
		img = make([]any, len(row))
		fix = nil
		for i, v := range row {
			x, err := convert(&t.Columns[i], v)
			if err != nil {
				return nil, fmt.Errorf("table %s column %s: %w", t.FullName(), t.Columns[i].Name, err)
			}
			img[i] = x
		}
	}
	for _, i := range fix {
		x, err := r.fixValue(&t.Columns[i], row[i])
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.FullName(), t.Columns[i].Name, err)
		}
		img[i] = x
	}
	return img, nil
}

// fixValue is convert for a column a rowDecoder deferred. MariaDB's JSON
// columns, logged as LONGTEXT and so deferred in every row, have their
// text copied into the reader's arena and boxed in its slots: no string
// and no interface allocated per value. Everything else is convert's.
func (r *reader) fixValue(c *Column, v any) (any, error) {
	if b, ok := v.([]byte); ok && c.Kind == KindJSON && c.SQLType != mysql.MYSQL_TYPE_JSON && utf8Charset(c.Charset) && json.Valid(b) {
		return r.box.string(r.text.string(append(r.text.begin(len(b)), b...))), nil
	}
	return convert(c, v)
}

// flush hands on the pending changes as one batch, closing the
// transaction at commit when commit is non-nil.
func (r *reader) flush(ctx context.Context, emit func(context.Context, *Batch) error, commit *position.Position, commitTime int64) error {
	b := &Batch{Seq: r.nextSeq(), Commit: commit, CommitTime: commitTime}
	if commit != nil {
		b.schemas = r.schemaState.encoded()
		b.incremental = r.progress
		b.heartbeat, r.heartbeatAt = r.heartbeatAt, time.Time{}
	}
	if r.txTouched {
		b.Tx = r.tx
		b.Begin = !r.txBegun
		b.Changes = r.pending
		r.txBegun = true
	} else if commit != nil {
		b.Tx = nil // nothing of the transaction passed the filter: position only
	}
	r.lastBatch = len(r.pending)
	r.pending = nil
	return emit(ctx, b)
}

// commit closes the open transaction as c, which ended with or right
// before the event h.
func (r *reader) commit(ctx context.Context, h *replication.EventHeader, c txCommit, emit func(context.Context, *Batch) error) error {
	if !r.txOpen {
		return nil
	}
	var stop *position.Start
	if r.stopAt != nil {
		stop = r.stopAt()
	}
	// A stop point is never inside a transaction: one already streaming is
	// finished.
	if stop != nil && !r.txBegun && stopBefore(stop, position.Position{File: r.file, Pos: c.End}, c.TS) {
		r.txOpen, r.tx, r.txGTID, r.pending = false, nil, nil, nil
		return errStopAt
	}
	if err := r.addGTID(); err != nil {
		return r.errorAt(h, err)
	}
	var closing *incrChunk
	if len(r.signals) > 0 {
		closing = r.applySignals()
	}
	p := position.Position{
		ServerID:   r.serverID,
		ServerUUID: r.pos.ServerUUID,
		Flavor:     r.pos.Flavor,
		File:       r.file,
		Pos:        c.End,
		Timestamp:  int64(c.TS),
	}
	if r.gset != nil {
		p.GTIDSet = gtidSetString(r.gset)
	}
	if err := r.flush(ctx, emit, &p, int64(c.TS)); err != nil {
		return err
	}
	r.pos = p
	r.txOpen, r.tx, r.txGTID = false, nil, nil
	if closing != nil {
		if err := r.deliverChunk(ctx, closing, c, emit); err != nil {
			return err
		}
	}
	if stop != nil && stopAfter(stop, r.gset) {
		return errStopAt
	}
	return nil
}

func (r *reader) addGTID() error {
	switch g := r.txGTID.(type) {
	case *mysql.MariadbGTID:
		if r.gset == nil {
			set, _ := mysql.ParseMariadbGTIDSet("")
			r.gset = set
		}
		set, ok := r.gset.(*mysql.MariadbGTIDSet)
		if !ok {
			return fmt.Errorf("MariaDB GTID %s in a %T position", g, r.gset)
		}
		return set.AddSet(g)
	case mysqlGTID:
		if r.gset == nil {
			return nil // set unknown (started by file:pos mid-file): stay file-only
		}
		set, ok := r.gset.(*mysql.MysqlGTIDSet)
		if !ok {
			return fmt.Errorf("MySQL GTID in a %T position", r.gset)
		}
		set.AddGTIDWithTag(g.sid, g.tag, g.gno)
	}
	return nil
}

func firstWord(s string) string {
	s = skipComments(s)
	end := strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' || r == ';'
	})
	if end < 0 {
		return s
	}
	return s[:end]
}

// skipComments drops leading /* */ and -- / # comments.
func skipComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				return ""
			}
			s = s[end+4:]
		case strings.HasPrefix(s, "--"), strings.HasPrefix(s, "#"):
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				return ""
			}
			s = s[end+1:]
		default:
			return s
		}
	}
}

// truncateTarget finds the table of "TRUNCATE [TABLE] [db.]table".
func truncateTarget(stmt, defaultDB string) (db, table string) {
	f := strings.Fields(skipComments(stmt))
	if len(f) < 2 {
		return defaultDB, ""
	}
	name := f[1]
	if strings.EqualFold(name, "TABLE") && len(f) > 2 {
		name = f[2]
	}
	name = strings.TrimRight(name, ";")
	db = defaultDB
	if i := indexUnquoted(name, '.'); i >= 0 {
		db, name = unquoteIdent(name[:i]), name[i+1:]
	}
	return db, unquoteIdent(name)
}

// qualifiers returns the database names a statement qualifies
// identifiers with ("db" of db.table), so that a DDL run without a default
// database still reaches the tasks reading that database.
func qualifiers(stmt string) []string {
	var dbs []string
	prev, prevEnd := "", -1
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(stmt) && stmt[j] != '\'' {
				if stmt[j] == '\\' {
					j++
				}
				j++
			}
			i, prev = j+1, ""
		case c == '`':
			var w strings.Builder
			j := i + 1
			for j < len(stmt) {
				if stmt[j] == '`' {
					if j+1 < len(stmt) && stmt[j+1] == '`' {
						w.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				w.WriteByte(stmt[j])
				j++
			}
			prev, prevEnd = w.String(), j+1
			i = j + 1
		case isIdentByte(c):
			j := i
			for j < len(stmt) && isIdentByte(stmt[j]) {
				j++
			}
			prev, prevEnd = stmt[i:j], j
			i = j
		case c == '.' && prev != "" && prevEnd == i:
			dbs = append(dbs, prev)
			prev = ""
			i++
		default:
			prev = ""
			i++
		}
	}
	return dbs
}

func indexUnquoted(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '`':
			quoted = !quoted
		case c:
			if !quoted {
				return i
			}
		}
	}
	return -1
}

func unquoteIdent(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var errStopped = errors.New("stopped")

// matchDBPattern reports whether the database part of a db.table pattern
// matches db.
func matchDBPattern(pattern, db string) bool {
	pdb, _, _ := strings.Cut(pattern, ".")
	ok, _ := path.Match(pdb, db)
	return ok
}
