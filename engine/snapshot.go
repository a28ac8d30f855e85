package engine

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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
// transaction-like batch per chunk of snapshot_chunk_rows rows. Then it
// streams from P1: a change committed before P1 is in the rows read, one
// committed after it is streamed.
//
// On MariaDB the point needs no lock: START TRANSACTION WITH CONSISTENT
// SNAPSHOT makes the server report, in the same session, the binary-log
// position its read view matches (binlog_snapshot_file and
// binlog_snapshot_position), and BINLOG_GTID_POS gives the GTID set there.
//
// Every batch commits at P1 with the snapshot's progress attached (see
// position.Snapshot): the checkpoint thus says which tables are done and
// the key of the last acknowledged row of the current one, and a restart
// resumes at the next chunk, at a new consistent point P2. Streaming still
// begins at P1 after such a resumed snapshot: rows read at P2 then see the
// changes between P1 and P2 again, which converges (at least once); starting
// at P2 would lose those changes for the rows read at P1.

// errSnapshotMySQL: the initial snapshot is implemented for MariaDB only.
var errSnapshotMySQL = errors.New("snapshot: the initial snapshot needs MariaDB (MySQL has no lock-free way to learn a read view's binary-log position)")

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
		s.conn.Close()
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

// snapshotReader reads one consistent snapshot over one connection. It
// belongs to the task's reading goroutine.
type snapshotReader struct {
	t    *Task
	p    *pipeline
	src  Source
	conn *client.Conn
	info *serverInfo
	// at is this read's consistent point; its commit time is when the
	// snapshot started.
	at position.Position
}

func openSnapshot(ctx context.Context, t *Task, p *pipeline, src Source) (*snapshotReader, error) {
	conn, err := connect(ctx, src)
	if err != nil {
		return nil, err
	}
	s := &snapshotReader{t: t, p: p, src: src, conn: conn}
	if err := s.begin(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("task %s: snapshot on %s: %w", t.cfg.Name, src.Addr, err)
	}
	return s, nil
}

// begin opens the consistent-snapshot transaction and reads its point.
func (s *snapshotReader) begin() error {
	info, err := inspect(s.conn, s.src)
	if err != nil {
		return err
	}
	s.info = info
	if info.Flavor != mysql.MariaDBFlavor {
		return errSnapshotMySQL
	}
	// Values come as the column stores them (character_set_results =
	// binary) and are converted as the binary log's are; TIMESTAMP is read
	// in UTC. A chunk may wait on a slow sender mid-result: the server must
	// not time the connection out meanwhile.
	for _, q := range []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION character_set_results = binary",
		"SET SESSION net_write_timeout = 86400",
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
	} {
		if _, err := s.conn.Execute(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	r, err := s.conn.Execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return fmt.Errorf("read the snapshot's binary-log position: %w", err)
	}
	var file string
	var pos uint64
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			file = cellString(r, i, 1)
		case "binlog_snapshot_position":
			v, _ := r.GetString(i, 1)
			pos, _ = strconv.ParseUint(v, 10, 32)
		}
	}
	if file == "" || pos == 0 {
		return fmt.Errorf("the server reports no binary-log position for the snapshot (binlog_snapshot_file %q): enable log_bin on the source", file)
	}
	// The GTID set at exactly that position: @@gtid_binlog_pos is not part
	// of the read view and may already count later transactions.
	gtid, err := mariadbGTIDAt(s.conn, file, uint32(pos))
	if err != nil {
		return err
	}
	s.at = position.Position{ServerID: info.ServerID, Flavor: info.Flavor, File: file, Pos: uint32(pos), GTIDSet: gtid, Timestamp: time.Now().Unix()}
	return nil
}

// run reads every table the snapshot has not finished, then leaves
// cp.Position at the stream's start.
func (s *snapshotReader) run(ctx context.Context, cp *checkpoint.Checkpoint) error {
	start, progress := s.at, position.Snapshot{}
	if cp.Position.Snapshot != nil {
		start, progress = cp.Position, *cp.Position.Snapshot
		start.Snapshot = nil
		s.t.log.Info("resuming snapshot", "source", s.src.Addr, "stream_from", start.String(), "read_at", s.at.String(),
			"tables_done", len(progress.Done), "table", progress.Table)
	} else {
		s.t.log.Info("starting snapshot", "source", s.src.Addr, "position", s.at.String())
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
	for _, name := range tables {
		if slices.Contains(progress.Done, name) {
			continue
		}
		var after []string
		if progress.Table == name {
			after = progress.Key
		}
		db, table, _ := strings.Cut(name, ".")
		if err := s.table(ctx, start, &progress, db, table, after); err != nil {
			return fmt.Errorf("task %s: snapshot of %s on %s: %w", s.t.cfg.Name, name, s.src.Addr, err)
		}
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

// table reads db.table in key order, chunk by chunk, after the key after
// (nil: from the start), emitting a batch per chunk.
func (s *snapshotReader) table(ctx context.Context, start position.Position, progress *position.Snapshot, db, table string, after []string) error {
	t, cols, err := s.describe(ctx, db, table)
	if err != nil {
		return err
	}
	name := t.FullName()
	sel := make([]string, len(cols))
	for i := range cols {
		sel[i] = cols[i].expr
	}
	from := " FROM " + quoteIdent(db) + "." + quoteIdent(table)
	keyed := t.KeyKind == KeyPrimary && keysetable(t)
	chunk := s.t.cfg.SnapshotChunkRows
	if !keyed {
		// One scan, not resumable within the table: delivered chunks are
		// read again after a restart.
		s.t.log.Info("snapshot: table has no usable primary key: one full scan", "table", name)
		if _, _, err := s.scan(ctx, start, progress, t, cols, "SELECT "+strings.Join(sel, ", ")+from, nil, false); err != nil {
			return err
		}
		return s.finish(ctx, start, progress, name)
	}
	var keyCols, params []string
	for _, k := range t.Key {
		keyCols = append(keyCols, quoteIdent(t.Columns[k].Name))
		params = append(params, cols[k].keyParam)
	}
	order := " ORDER BY " + strings.Join(keyCols, ", ") + " LIMIT " + strconv.Itoa(chunk)
	first := "SELECT " + strings.Join(sel, ", ") + from + order
	next := "SELECT " + strings.Join(sel, ", ") + from + " WHERE (" + strings.Join(keyCols, ", ") + ") > (" + strings.Join(params, ", ") + ")" + order
	var args []any
	if after != nil {
		if args, err = decodeKey(after); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	for {
		q := first
		if args != nil {
			q = next
		}
		last, n, err := s.scan(ctx, start, progress, t, cols, q, args, true)
		if err != nil {
			return err
		}
		if n < chunk {
			return s.finish(ctx, start, progress, name)
		}
		args = last
	}
}

// scan runs q and emits its rows in batches of snapshot_chunk_rows,
// returning the last row's key (keyed) and the number of rows. A keyset
// chunk's batch carries its last key as progress; a full scan's batches
// carry the table as started, from no key.
func (s *snapshotReader) scan(ctx context.Context, start position.Position, progress *position.Snapshot, t *Table, cols []snapColumn, q string, args []any, keyed bool) ([]any, int, error) {
	stmt, err := s.conn.Prepare(q)
	if err != nil {
		return nil, 0, fmt.Errorf("prepare %s: %w", q, err)
	}
	defer stmt.Close()
	name := t.FullName()
	chunk := s.t.cfg.SnapshotChunkRows
	var changes []Change
	var lastKey []any
	rows := 0
	// A batch is named by where it starts: the query's key (none for a
	// full scan) and its rank among the query's batches.
	from := strings.Join(encodeKey(args), ",")
	batches := 1
	tx := s.newTx(name, from, batches)
	flush := func() error {
		if len(changes) == 0 {
			return nil
		}
		pos := start
		p := &position.Snapshot{Done: progress.Done, Table: name}
		if keyed {
			p.Key = encodeKey(lastKey)
		}
		pos.Snapshot = p
		b := &Batch{Seq: s.t.seq.Add(1), Tx: tx, Begin: true, Changes: changes, Commit: &pos, CommitTime: s.at.Timestamp}
		changes = nil
		batches++
		tx = s.newTx(name, from, batches)
		*progress = *p
		s.t.snapshotChunk("initial", name, len(b.Changes), len(b.Changes), false)
		return s.p.emit(ctx, b)
	}
	var result mysql.Result
	err = stmt.ExecuteSelectStreaming(&result, func(row []mysql.FieldValue) error {
		vals := make([]any, len(t.Columns))
		for i := range t.Columns {
			v, err := snapValue(&t.Columns[i], &row[i])
			if err != nil {
				return fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
			}
			vals[i] = v
		}
		if keyed {
			lastKey = make([]any, 0, len(t.Key))
			for _, k := range t.Key {
				lastKey = append(lastKey, keyArg(&row[k]))
			}
		}
		changes = append(changes, Change{Op: OpRead, Table: t, After: vals, Seq: uint32(len(changes) + 1), Tx: tx,
			Timestamp: s.at.Timestamp, File: s.at.File, Pos: s.at.Pos})
		rows++
		if len(changes) >= chunk {
			// The statement stops with the callback's error.
			return flush()
		}
		return nil
	}, nil, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("read rows: %w", err)
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	return lastKey, rows, nil
}

// finish records a table as read with a batch that only moves the
// progress.
func (s *snapshotReader) finish(ctx context.Context, start position.Position, progress *position.Snapshot, name string) error {
	p := &position.Snapshot{Done: append(slices.Clip(progress.Done), name)}
	pos := start
	pos.Snapshot = p
	*progress = *p
	s.t.stats.snap.tableDone(name)
	return s.p.emit(ctx, &Batch{Seq: s.t.seq.Add(1), Commit: &pos, CommitTime: s.at.Timestamp})
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
		WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? ORDER BY c.ORDINAL_POSITION`, db, table)
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

// snapValue converts a binary-protocol value of column c to the Change
// value the binary log's would be converted to.
func snapValue(c *Column, v *mysql.FieldValue) (any, error) {
	if v.Type == mysql.FieldValueTypeNull {
		return nil, nil
	}
	switch c.Kind {
	case KindInt, KindYear:
		return v.AsInt64(), nil
	case KindUint:
		return v.AsUint64(), nil
	case KindFloat:
		return float32(v.AsFloat64()), nil
	case KindDouble:
		return v.AsFloat64(), nil
	case KindBit:
		var u uint64
		for _, b := range v.AsString() {
			u = u<<8 | uint64(b)
		}
		return convert(c, int64(u))
	case KindDecimal:
		d, err := decimal.NewFromString(string(v.AsString()))
		if err != nil {
			return nil, err
		}
		return convert(c, d)
	case KindEnum, KindSet:
		return toUTF8(c.Charset, v.AsString())
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
	case KindDate, KindTime, KindDateTime, KindTimestamp:
		return convert(c, string(v.AsString()))
	}
	return convert(c, v.AsString())
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
