package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"

	"github.com/pumacdc/puma/engine/checkpoint"
)

// Incremental snapshot.
//
// A running task reads tables again while it keeps streaming, with the
// watermark algorithm of DBLog (Netflix, 2019), as Debezium's incremental
// snapshots do. For each chunk of snapshot_chunk_rows rows, in key order,
// a chunk reader on its own connection
//
//  1. writes a low watermark row to the signal table,
//  2. reads the chunk (keyset pagination, no snapshot transaction),
//  3. writes a high watermark row.
//
// The stream reader meets both rows in the binary log. Between them it
// records the keys of the chunk's table that changed; right after the high
// watermark's transaction it delivers the chunk's rows as op "r", minus
// those keys. A row changed between the watermarks may have been read
// before or after the change: its streamed change, delivered before the
// chunk, carries the newer image, so the chunk must not overwrite it. Any
// change after the high watermark was made after the read and is streamed
// after the chunk. So a snapshot row never overwrites a newer change.
//
// Requests (execute-snapshot) and cancellations (stop-snapshot) are rows
// of the signal table too, so that the snapshot's state follows the stream:
// it is attached to every commit the reader hands on and saved with the
// checkpoint (checkpoint.Incremental). A restart resumes streaming at the
// checkpoint and reads the chunk after the last one acknowledged.

// Signal types: the type column of a signal table row.
const (
	signalExecute = "execute-snapshot"
	signalStop    = "stop-snapshot"
	signalOpen    = "snapshot-window-open"
	signalClose   = "snapshot-window-close"
)

// incrementalTxPrefix begins the transaction ID of an incremental
// snapshot's chunk: "incremental:<watermark id>". The watermark id is
// new for every read of a chunk, so an ID and a change's seq name one row
// image.
const incrementalTxPrefix = "incremental:"

// signalTable is the task's signal table (its signal_table).
type signalTable struct{ db, table string }

func newSignalTable(cfg TaskConfig) *signalTable {
	db, table, ok := strings.Cut(cfg.SignalTable, ".")
	if !ok {
		return nil
	}
	return &signalTable{db: db, table: table}
}

func (s *signalTable) is(db, table string) bool {
	return s != nil && db == s.db && table == s.table
}

func (s *signalTable) quoted() string { return quoteIdent(s.db) + "." + quoteIdent(s.table) }

// signalRow is one row of the signal table as the binary log shows it.
type signalRow struct {
	id, typ, data string
}

// signalOf reads the id, type and data columns of a signal table image.
func signalOf(t *Table, img []any) (signalRow, bool) {
	var r signalRow
	for i := range t.Columns {
		v := img[i]
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			continue
		}
		switch strings.ToLower(t.Columns[i].Name) {
		case "id":
			r.id = s
		case "type":
			r.typ = s
		case "data":
			r.data = s
		}
	}
	return r, r.id != "" && r.typ != ""
}

// signalData is the data column of execute-snapshot and stop-snapshot
// rows.
type signalData struct {
	Task   string   `json:"task"`
	Tables []string `json:"tables,omitempty"`
}

// incremental is what the stream reader and the chunk reader share: the
// snapshot's progress as the stream reader last handed it on, and the
// chunk whose watermarks are being written. Its methods are safe for
// concurrent use.
type incremental struct {
	mu       sync.Mutex
	progress *checkpoint.Incremental
	pending  *incrChunk
	changed  chan struct{} // closed and replaced on every change
}

func newIncremental(p *checkpoint.Incremental) *incremental {
	return &incremental{progress: p, changed: make(chan struct{})}
}

func (in *incremental) notifyLocked() {
	close(in.changed)
	in.changed = make(chan struct{})
}

// set records the stream reader's progress and drops the pending chunk
// (it was delivered, or the snapshot was cancelled).
func (in *incremental) set(p *checkpoint.Incremental) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.progress, in.pending = p, nil
	in.notifyLocked()
}

// current returns the chunk whose watermarks are being written, or nil.
func (in *incremental) current() *incrChunk {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pending
}

// closable reports whether ch is the pending chunk and was read: the
// stream reader may deliver it at its high watermark.
func (in *incremental) closable(ch *incrChunk) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pending == ch && ch.ready
}

// next waits until a snapshot is in progress and no chunk is pending, then
// makes ch, built from the progress, the pending chunk; false when ctx
// ended.
func (in *incremental) next(ctx context.Context, build func(*checkpoint.Incremental) *incrChunk) (*incrChunk, bool) {
	for {
		in.mu.Lock()
		if in.progress != nil && in.pending == nil {
			ch := build(in.progress)
			in.pending = ch
			in.mu.Unlock()
			return ch, true
		}
		changed := in.changed
		in.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// drop gives up ch if it is still pending (its read failed).
func (in *incremental) drop(ch *incrChunk) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pending == ch {
		in.pending = nil
		in.notifyLocked()
	}
}

// await waits until ch is no longer pending: the stream reader delivered
// it, or the snapshot was cancelled. every is called each time a minute
// passes without that, for the chunk reader to say why it waits.
func (in *incremental) await(ctx context.Context, ch *incrChunk, every func(time.Duration)) bool {
	start := time.Now()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		in.mu.Lock()
		gone, changed := in.pending != ch, in.changed
		in.mu.Unlock()
		if gone {
			return true
		}
		select {
		case <-changed:
		case <-tick.C:
			every(time.Since(start))
		case <-ctx.Done():
			return false
		}
	}
}

// incrChunk is one chunk of an incremental snapshot: its watermarks' id,
// and what the chunk reader read between them.
type incrChunk struct {
	id    string   // the watermark id
	table string   // db.table
	after []string // the key the chunk starts after (nil: the table's start)

	// Set by the chunk reader before it writes the high watermark, under
	// incremental.mu; ready says they are.
	ready bool
	t     *Table
	rows  []Change
	keys  []string // rowKey of each row
	last  []string // the last row's key, encoded
	full  bool     // as many rows as asked: the table may have more
	// skip says why the table cannot be read (gone, no usable key): the
	// snapshot moves on to the next table.
	skip string
	// keyNames are the key columns, to find them in streamed images.
	keyNames []string
}

// window is the stream reader's view of the chunk between its
// watermarks.
type window struct {
	ch      *incrChunk
	changed map[string]bool // keys changed in the binary log since the low watermark
	// keyIdx caches the key columns' indexes by table version.
	keyIdx map[*Table][]int
	// truncated: the table was truncated in the window; every row read
	// is older than that. redo: its definition changed; the chunk is read
	// again.
	truncated, redo bool
}

// rowKey renders the key columns idx of img as one comparable string.
// Streamed and snapshot images hold the same Go values (see
// TestSnapshotMatchesStream), so a key renders the same from either.
func rowKey(img []any, idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		switch v := img[i].(type) {
		case []byte:
			fmt.Fprintf(&b, "b:%q", v)
		case string:
			fmt.Fprintf(&b, "s:%q", v)
		default:
			fmt.Fprintf(&b, "%T:%v", v, v)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// observe records a change the reader hands on: a row of the window's
// table changed, or the table was truncated or altered.
func (w *window) observe(c *Change) {
	if c.Table == nil || c.Table.FullName() != w.ch.table {
		return
	}
	switch c.Op {
	case OpTruncate:
		w.truncated = true
		return
	case OpDDL:
		w.redo = true
		return
	}
	idx, ok := w.keyIdx[c.Table]
	if !ok {
		for _, name := range w.ch.keyNames {
			j := slices.IndexFunc(c.Table.Columns, func(col Column) bool { return col.Name == name })
			if j < 0 {
				idx = nil
				break
			}
			idx = append(idx, j)
		}
		w.keyIdx[c.Table] = idx
	}
	if idx == nil {
		// The key columns are not in this version of the table: read
		// the chunk again rather than guess.
		w.redo = true
		return
	}
	for _, img := range [2][]any{c.Before, c.After} {
		if img != nil {
			w.changed[rowKey(img, idx)] = true
		}
	}
}

// signal handles a signal table row of the open transaction; the
// snapshot's state changes at the transaction's commit (see
// reader.applySignals).
func (r *reader) signal(t *Table, img []any) {
	s, ok := signalOf(t, img)
	if !ok {
		return
	}
	r.signals = append(r.signals, s)
}

// applySignals applies the signal rows of the transaction being
// committed, before its commit is handed on, so that the progress that
// commit carries includes them. It returns the chunk whose high watermark
// the transaction holds, to deliver after the commit.
func (r *reader) applySignals() *incrChunk {
	var closing *incrChunk
	for _, s := range r.signals {
		switch s.typ {
		case signalExecute, signalStop:
			var d signalData
			if err := json.Unmarshal([]byte(s.data), &d); err != nil {
				r.log.Warn("signal row ignored: its data is not JSON", "id", s.id, "type", s.typ, "err", err)
				continue
			}
			if d.Task != r.task {
				continue
			}
			if s.typ == signalStop {
				if r.progress != nil {
					r.log.Info("incremental snapshot cancelled", "id", r.progress.ID, "tables_left", r.progress.Tables, "chunks", r.progress.Chunks, "rows", r.progress.Rows)
				}
				r.setProgress(nil)
				r.window = nil
				continue
			}
			r.execute(s.id, d.Tables)
		case signalOpen:
			if ch := r.incr.current(); ch != nil && s.id == ch.id+"-open" {
				r.window = &window{ch: ch, changed: make(map[string]bool), keyIdx: make(map[*Table][]int)}
			}
		case signalClose:
			if r.window != nil && s.id == r.window.ch.id+"-close" && r.incr.closable(r.window.ch) {
				closing = r.window.ch
			}
		}
	}
	r.signals = r.signals[:0]
	return closing
}

// execute starts an incremental snapshot of tables, or adds them to the
// one in progress.
func (r *reader) execute(id string, tables []string) {
	var add []string
	for _, name := range tables {
		db, table, ok := strings.Cut(name, ".")
		switch {
		case !ok || !r.match(db, table) || r.heartbeat.is(db, table) || r.signalTable.is(db, table):
			r.log.Warn("incremental snapshot: table left out: not a table the task reads", "id", id, "table", name)
		case slices.Contains(add, name) || r.progress != nil && slices.Contains(r.progress.Tables, name):
		default:
			add = append(add, name)
		}
	}
	if len(add) == 0 {
		return
	}
	switch {
	case r.progress == nil:
		r.log.Info("incremental snapshot started", "id", id, "tables", add)
		r.setProgress(&checkpoint.Incremental{ID: id, Tables: add})
	case r.progress.ID == id:
		// The same request read again (a transaction replayed).
	default:
		p := *r.progress
		p.Tables = append(slices.Clip(p.Tables), add...)
		r.log.Info("incremental snapshot: tables added", "id", r.progress.ID, "by", id, "tables", add)
		r.setProgress(&p)
	}
}

// setProgress changes the stream's snapshot progress and tells the chunk
// reader.
func (r *reader) setProgress(p *checkpoint.Incremental) {
	r.progress = p
	if r.onProgress != nil {
		r.onProgress(p)
	}
	if r.incr != nil {
		r.incr.set(p)
	}
}

// deliverChunk hands on the rows of ch, whose high watermark's transaction
// committed at commit, minus the keys changed in its window, as one
// transaction committing at the same position; then moves the progress
// past the chunk.
func (r *reader) deliverChunk(ctx context.Context, ch *incrChunk, commit txCommit, emit func(context.Context, *Batch) error) error {
	w := r.window
	r.window = nil
	if r.progress == nil || len(r.progress.Tables) == 0 || r.progress.Tables[0] != ch.table {
		r.incr.set(r.progress) // cancelled meanwhile
		return nil
	}
	if w.redo && ch.skip == "" {
		r.log.Info("incremental snapshot: the table changed its definition while a chunk was read: reading it again", "table", ch.table)
		r.incr.set(r.progress) // the chunk reader reads it again
		return nil
	}
	p := *r.progress
	p.Chunks++
	var keep []Change
	if ch.skip == "" && !w.truncated {
		keep = make([]Change, 0, len(ch.rows))
		tx := &Tx{ID: incrementalTxPrefix + ch.id, ServerID: r.serverID, File: r.file, Pos: commit.End}
		for i := range ch.rows {
			if w.changed[ch.keys[i]] {
				continue
			}
			c := ch.rows[i]
			c.Tx, c.Seq = tx, uint32(len(keep)+1)
			c.Timestamp, c.File, c.Pos = int64(commit.TS), r.file, commit.End
			keep = append(keep, c)
		}
		p.Rows += int64(len(keep))
	}
	done := ch.skip != "" || !ch.full
	if done {
		p.Tables, p.Key = slices.Clone(p.Tables[1:]), nil
	} else {
		p.Key = ch.last
	}
	if ch.skip != "" {
		r.log.Error("incremental snapshot: table skipped", "table", ch.table, "reason", ch.skip)
	}
	next := &p
	if len(p.Tables) == 0 {
		r.log.Info("incremental snapshot done", "id", p.ID, "chunks", p.Chunks, "rows", p.Rows)
		next = nil
	}
	pos := r.pos
	b := &Batch{Seq: r.nextSeq(), Commit: &pos, CommitTime: int64(commit.TS), schemas: r.schemaState.encoded(), incremental: next}
	if len(keep) > 0 {
		b.Tx, b.Begin, b.Changes = keep[0].Tx, true, keep
	}
	if r.counted != nil {
		r.counted(ch.table, len(ch.rows), len(keep), done)
	}
	r.setProgress(next)
	return emit(ctx, b)
}

// chunkReader reads the chunks of the incremental snapshot in progress,
// writing their watermarks, on a connection of its own to the source the
// task streams from. It runs until ctx ends.
func (t *Task) chunkReader(ctx context.Context, in *incremental) {
	sig := newSignalTable(t.cfg)
	var cr *snapshotReader
	defer func() {
		if cr != nil {
			cr.conn.Close()
		}
	}()
	backoff := t.cfg.BackoffMin
	for {
		ch, ok := in.next(ctx, func(p *checkpoint.Incremental) *incrChunk {
			return &incrChunk{id: uuid.NewString(), table: p.Tables[0], after: slices.Clone(p.Key)}
		})
		if !ok {
			return
		}
		src := t.current.Load()
		if src == nil {
			// Not streaming yet: the chunk waits for the stream.
			in.drop(ch)
			select {
			case <-time.After(t.cfg.BackoffMin):
				continue
			case <-ctx.Done():
				return
			}
		}
		if cr != nil && cr.src.Addr != src.Addr {
			cr.conn.Close()
			cr = nil
		}
		err := func() error {
			if cr == nil {
				c, err := openChunkReader(ctx, t, *src)
				if err != nil {
					return err
				}
				cr = c
			}
			return cr.chunk(ctx, in, sig, ch)
		}()
		if err != nil {
			in.drop(ch)
			if ctx.Err() != nil {
				return
			}
			if cr != nil {
				cr.conn.Close()
				cr = nil
			}
			t.log.Warn("incremental snapshot: chunk read failed, retrying", "table", ch.table, "backoff", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, t.cfg.BackoffMax)
			continue
		}
		backoff = t.cfg.BackoffMin
		t.snapshotEstimate(cr.conn)
		if !in.await(ctx, ch, func(d time.Duration) {
			t.log.Warn("incremental snapshot: the chunk's high watermark has not come through the binary log yet; is the signal table logged (binlog_do_db, binlog_ignore_db)?",
				"table", ch.table, "signal_table", t.cfg.SignalTable, "waiting", d.Round(time.Second))
		}) {
			return
		}
	}
}

// openChunkReader connects to src for reading chunks: values as the
// column stores them, TIMESTAMP in UTC, as the initial snapshot reads
// them.
func openChunkReader(ctx context.Context, t *Task, src Source) (*snapshotReader, error) {
	conn, err := connect(ctx, src)
	if err != nil {
		return nil, err
	}
	info, err := inspect(conn, src)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for _, q := range []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION character_set_results = binary",
		"SET SESSION net_write_timeout = 86400",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
		"SET SESSION autocommit = 1",
	} {
		if _, err := conn.Execute(q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return &snapshotReader{t: t, src: src, conn: conn, info: info}, nil
}

// chunk describes ch's table, writes ch's low watermark, reads its rows,
// hands them to the stream reader through ch and writes its high
// watermark. The key columns are set before the low watermark is written:
// the stream reader needs them from there on.
func (s *snapshotReader) chunk(ctx context.Context, in *incremental, sig *signalTable, ch *incrChunk) error {
	db, table, _ := strings.Cut(ch.table, ".")
	t, cols, err := s.describe(ctx, db, table)
	var skip string
	switch {
	case err == nil:
		skip = chunkable(t)
	case isMyError(err) || strings.Contains(err.Error(), "not in information_schema") || errors.Is(err, ErrUnsupportedType):
		skip = err.Error() // the server's answer: the table is gone or unreadable
	default:
		return fmt.Errorf("table %s: %w", ch.table, err)
	}
	var keyNames []string
	if skip == "" {
		for _, k := range t.Key {
			keyNames = append(keyNames, t.Columns[k].Name)
		}
	}
	in.mu.Lock()
	ch.t, ch.keyNames, ch.skip = t, keyNames, skip
	in.mu.Unlock()
	if err := s.watermark(sig, ch.id+"-open", signalOpen); err != nil {
		return err
	}
	var rows []Change
	var keys, last []string
	var full bool
	if skip == "" {
		if rows, keys, last, full, err = s.readChunk(t, cols, db, table, ch.after); err != nil {
			return fmt.Errorf("table %s: %w", ch.table, err)
		}
	}
	in.mu.Lock()
	ch.rows, ch.keys, ch.last, ch.full, ch.ready = rows, keys, last, full, true
	in.mu.Unlock()
	return s.watermark(sig, ch.id+"-close", signalClose)
}

func isMyError(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me)
}

// watermark writes a watermark row, in its own transaction.
func (s *snapshotReader) watermark(sig *signalTable, id, typ string) error {
	data, _ := json.Marshal(signalData{Task: s.t.cfg.Name})
	if _, err := s.conn.Execute("INSERT INTO "+sig.quoted()+" (id, type, data) VALUES (?, ?, ?)", id, typ, string(data)); err != nil {
		return fmt.Errorf("write a watermark to signal_table %s: %w", sig.db+"."+sig.table, err)
	}
	return nil
}

// readChunk reads the snapshot_chunk_rows rows of db.table (t, selected as
// cols say) after the key after, in key order, with each row's key
// (rowKey), the last row's key encoded, and whether the chunk is full.
func (s *snapshotReader) readChunk(t *Table, cols []snapColumn, db, table string, after []string) (rows []Change, keys []string, last []string, full bool, err error) {
	sel := make([]string, len(cols))
	for i := range cols {
		sel[i] = cols[i].expr
	}
	var keyCols, params []string
	for _, k := range t.Key {
		keyCols = append(keyCols, quoteIdent(t.Columns[k].Name))
		params = append(params, cols[k].keyParam)
	}
	n := s.t.cfg.SnapshotChunkRows
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(db) + "." + quoteIdent(table)
	var args []any
	if after != nil {
		if args, err = decodeKey(after); err != nil {
			return nil, nil, nil, false, fmt.Errorf("checkpoint: %w", err)
		}
		q += " WHERE (" + strings.Join(keyCols, ", ") + ") > (" + strings.Join(params, ", ") + ")"
	}
	q += " ORDER BY " + strings.Join(keyCols, ", ") + " LIMIT " + strconv.Itoa(n)
	stmt, err := s.conn.Prepare(q)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("prepare %s: %w", q, err)
	}
	defer stmt.Close()
	var lastKey []any
	var conv snapValues
	var result mysql.Result
	err = stmt.ExecuteSelectStreaming(&result, func(row []mysql.FieldValue) error {
		vals := make([]any, len(t.Columns))
		for i := range t.Columns {
			v, err := conv.value(&t.Columns[i], &row[i])
			if err != nil {
				return fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
			}
			vals[i] = v
		}
		lastKey = lastKey[:0]
		for _, k := range t.Key {
			lastKey = append(lastKey, keyArg(&row[k]))
		}
		rows = append(rows, Change{Op: OpRead, Table: t, After: vals})
		keys = append(keys, rowKey(vals, t.Key))
		return nil
	}, nil, args...)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("read rows: %w", err)
	}
	if len(rows) > 0 {
		last = encodeKey(lastKey)
	}
	return rows, keys, last, len(rows) >= n, nil
}

// chunkable says why t cannot be read in chunks by key ("" when it can):
// an incremental snapshot needs a primary key whose columns order and
// compare alike, to page through the table and to tell which rows the
// stream changed.
func chunkable(t *Table) string {
	switch {
	case t.KeyKind != KeyPrimary:
		return "the table has no primary key: an incremental snapshot reads a table in primary-key chunks"
	case !keysetable(t):
		return "the table's primary key has a column of a type that does not order as it compares (float, double, enum, set, json, geometry): an incremental snapshot reads a table in primary-key chunks"
	}
	return ""
}

// SnapshotTables asks the task to read tables ("db.table") again while it keeps
// streaming: an incremental snapshot, started by an execute-snapshot row
// written to the task's signal table, which the task acts on when it
// streams past it. Tables must be tables the task reads, with a usable
// primary key; a request while a snapshot runs adds its tables to it.
func (t *Task) SnapshotTables(ctx context.Context, tables []string) error {
	if t.cfg.SignalTable == "" {
		return fmt.Errorf("task %s has no signal_table: incremental snapshots need one (see the README, Snapshots): %w", t.cfg.Name, ErrState)
	}
	if len(tables) == 0 {
		return fmt.Errorf("task %s: snapshot: name at least one table (db.table): %w", t.cfg.Name, ErrSnapshotRefused)
	}
	sig := newSignalTable(t.cfg)
	for _, name := range tables {
		db, table, ok := strings.Cut(name, ".")
		switch {
		case !ok || db == "" || table == "" || strings.Contains(table, "."):
			return fmt.Errorf("task %s: snapshot %q: want db.table: %w", t.cfg.Name, name, ErrSnapshotRefused)
		case sig.is(db, table) || newHeartbeatTable(t.cfg).is(db, table):
			return fmt.Errorf("task %s: snapshot %s: the task's own signal or heartbeat table is never delivered: %w", t.cfg.Name, name, ErrSnapshotRefused)
		case !t.cfg.Match(db, table):
			return fmt.Errorf("task %s: snapshot %s: not a table the task reads (tables %q, exclude %q): %w", t.cfg.Name, name, t.cfg.Tables, t.cfg.Exclude, ErrSnapshotRefused)
		}
	}
	return t.signalSource(ctx, func(s *snapshotReader) error {
		for _, name := range tables {
			db, table, _ := strings.Cut(name, ".")
			tb, _, err := s.describe(ctx, db, table)
			if err != nil {
				return fmt.Errorf("task %s: snapshot %s: %w: %w", t.cfg.Name, name, ErrSnapshotRefused, err)
			}
			if why := chunkable(tb); why != "" {
				return fmt.Errorf("task %s: snapshot %s: %s: %w", t.cfg.Name, name, why, ErrSnapshotRefused)
			}
		}
		data, _ := json.Marshal(signalData{Task: t.cfg.Name, Tables: tables})
		return s.signal(sig, signalExecute, data)
	})
}

// CancelSnapshot stops the task's incremental snapshot, by a stop-snapshot
// row in its signal table: the chunks delivered stay delivered, no more
// are read.
func (t *Task) CancelSnapshot(ctx context.Context) error {
	if t.cfg.SignalTable == "" {
		return fmt.Errorf("task %s has no signal_table: it runs no incremental snapshot: %w", t.cfg.Name, ErrState)
	}
	return t.signalSource(ctx, func(s *snapshotReader) error {
		data, _ := json.Marshal(signalData{Task: t.cfg.Name})
		return s.signal(newSignalTable(t.cfg), signalStop, data)
	})
}

// signalSource runs f on a connection to the source the task reads (its
// first while it reads none).
func (t *Task) signalSource(ctx context.Context, f func(s *snapshotReader) error) error {
	src := t.cfg.Sources[0]
	if cur := t.current.Load(); cur != nil {
		src = *cur
	}
	s, err := openChunkReader(ctx, t, src)
	if err != nil {
		return fmt.Errorf("task %s: source %s: %w", t.cfg.Name, src.Addr, err)
	}
	defer s.conn.Close()
	return f(s)
}

// signal writes a signal row with a new id.
func (s *snapshotReader) signal(sig *signalTable, typ string, data []byte) error {
	id := uuid.NewString()
	if _, err := s.conn.Execute("INSERT INTO "+sig.quoted()+" (id, type, data) VALUES (?, ?, ?)", id, typ, string(data)); err != nil {
		return fmt.Errorf("task %s: write a %s signal to signal_table %s.%s on %s (create it as the README shows, and grant INSERT on it): %w",
			s.t.cfg.Name, typ, sig.db, sig.table, s.src.Addr, err)
	}
	s.t.log.Info("signal written", "type", typ, "id", id, "signal_table", s.t.cfg.SignalTable)
	return nil
}
