// Package sqlapply is the builtin:sqlapply sender: it applies each change
// to a table of a PostgreSQL or MySQL/MariaDB target, exactly once.
//
//	[targets.analytics]
//	kind = "postgres"
//	host = "10.0.0.5"
//	user = "puma"
//	password_secret = "pg_password"
//	database = "analytics"
//
//	[[task.sender]]
//	plugin = "builtin:sqlapply"
//	config = { target = "analytics", dialect = "postgres", table = "{db}_{table}", create_tables = true }
//
// An insert is an upsert (ON CONFLICT (key) DO UPDATE, ON DUPLICATE KEY
// UPDATE), an update replaces the row found by its old key (so a key
// change moves it), a delete removes the row by key, a TRUNCATE empties
// the table. A table without a key is refused unless keyless = "append":
// its inserts and updates are then appended as new rows, and its deletes
// not applied.
//
// Each call (a group of whole source transactions) is one target
// transaction, which also stores the position of its last commit in
// puma_positions(task, sender, position, updated_at); Init reads it back
// and reports it, so after a crash the host skips what the target holds.
// With bulk = "copy" (PostgreSQL's default) the call's rows of each
// table go in one COPY into a staging table, numbered and marked with
// their operation, and two statements merge them: each key's last row
// decides, so the table ends as the source's did (when no key recurs,
// every row does: the merge reads the staging table unsorted; inserts
// alone are copied straight into the table, tentatively, and merged
// only when one of their keys was there already). The host
// writes the COPY's rows from the changes it holds (sql.Tx.CopyChanges):
// the sender names them and never encodes a value. The staging table's
// creation goes with its COPY, the commit with the merge. With bulk = "insert" (MySQL's)
// consecutive rows of one table and operation go in one multi-row
// statement, and every statement of a call to PostgreSQL in one round
// trip.
//
// Config: target and dialect (required: the target's name and kind),
// table (the target table's name, "{table}" by default; {db} and {table}
// are the source's), keyless ("refuse" or "append"), create_tables
// (create a missing table with the README's type mapping), ddl ("fail",
// the default: a DDL statement stops the task, naming it; "ignore";
// "apply_add_column": ALTER TABLE … ADD COLUMN adds the column, anything
// else fails), positions_table (default puma_positions), bulk ("copy" or
// "insert", above) and batch_rows (rows per multi-row statement, default
// 500).
package sqlapply

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sql"
)

type config struct {
	Target         string `json:"target"`
	Dialect        string `json:"dialect"`
	Table          string `json:"table"`
	Keyless        string `json:"keyless"`
	CreateTables   bool   `json:"create_tables"`
	DDL            string `json:"ddl"`
	PositionsTable string `json:"positions_table"`
	BatchRows      int    `json:"batch_rows"`
	Bulk           string `json:"bulk"`
}

// maxStatementBytes bounds the arguments buffered before they are sent
// within the call's transaction, well below the host's request limit.
const maxStatementBytes = 8 << 20

type sender struct {
	cfg config
	d   dialect
	pos string // quoted positions table

	// The call's state: the open transaction (begun on first need),
	// statements not yet sent, the group being built, and the last
	// commit's position.
	tx    *sql.Tx
	stmts []sql.Statement
	// copies holds the copies among stmts, by index: the rows of a
	// statement found here are changes for the host to write.
	copies  map[int]copyRows
	bytes   int
	g       group
	token   string
	hasTok  bool
	tables  map[*sdk.Table]*target
	byName  map[string]*target
	applied int // rows applied by this instance, for its log

	// text holds the texts of the arguments not yet sent, which view it
	// (sql.AppendValue), so that a value costs no allocation of its own.
	text []byte
	// keys are the keys of the group's rows, viewing keyText; key and
	// oldKey are a change's, being checked.
	keys        map[string]bool
	keyText     []byte
	key, oldKey []byte
	// stageKey is the key of a row being staged.
	stageKey []byte

	// With bulk = "copy", the call's rows of each target table gather in
	// a stage, in order of their tables' first rows, and go to the
	// target in one COPY each (see flushStages); nstage numbers the
	// call's staging tables.
	stages []*stage
	nstage int
	// batch is the index in the call's group of the batch being sent.
	batch int
}

// copyRows is the rows of a COPY the host writes from the call's
// changes: columns of each named image; before are the statements that
// go with the COPY, ahead of it. A tentative copy is undone when a row
// repeats a key of the table; the fallback statements (copies too)
// following it are sent only then.
type copyRows struct {
	before    []string
	cols      []int
	numbered  bool
	rows      []sql.Change
	tentative bool
	fallback  int
}

// stage is the rows of one target table gathered in a call, to COPY.
// A keyed table's rows are staged with their operation ('u' upsert, 'd'
// delete: the key, NULL elsewhere) and, when a key recurs, their number
// in the call; a keyless table's are appended to it as they are.
type stage struct {
	t       *target
	deletes bool
	// updates: a row is an update's (its key may be in the table).
	updates bool
	rows    []sql.Change
	// dups tells whether a key occurs in two of rows; until it does,
	// seen holds their keys, viewing keyText.
	dups    bool
	seen    map[string]struct{}
	keyText []byte
}

// note records a key of a row of the stage and reports whether an
// earlier row had it.
func (st *stage) note(key []byte) bool {
	if _, ok := st.seen[string(key)]; ok {
		return true
	}
	// The map's keys view keyText, which only grows until the stage is
	// reset, and then the map is empty.
	start := len(st.keyText)
	st.keyText = append(st.keyText, key...)
	st.seen[unsafe.String(unsafe.SliceData(st.keyText[start:]), len(key))] = struct{}{}
	return false
}

// target is what the sender knows of one target table.
type target struct {
	name    string // quoted
	cols    []string
	keys    []string
	keyIdx  []int
	isKey   []bool // by column
	keyless bool
	// created: create_tables made sure it exists.
	created bool
	// sql holds statement texts by operation and row count.
	sql map[int]string
	// stage gathers the table's rows in the call, with bulk = "copy";
	// spare is the last one, whose key set the next reuses.
	stage, spare *stage
}

func (t *target) isCreated() bool { return t != nil && t.created }

// group is a multi-row statement being built: rows of one table and
// operation.
type group struct {
	t    *target
	op   byte // 'u' upsert, 'a' append, 'd' delete
	rows int
	args []sql.Arg
}

var s sender

// Plugin returns the plugin's functions, for sdk.Register.
func Plugin() sdk.Plugin {
	return sdk.Plugin{Init: s.init, Sender: s.send, Flush: s.flush, Close: s.close}
}

func (s *sender) init(raw []byte) error {
	*s = sender{}
	c := &s.cfg
	if err := sdk.DecodeConfig(raw, c); err != nil {
		return err
	}
	var errs []error
	if c.Target == "" {
		errs = append(errs, errors.New("config: target is required: the name of a [targets] table of kind postgres or mysql"))
	}
	switch c.Dialect {
	case "postgres":
		s.d = postgres{}
	case "mysql":
		s.d = mysql{}
	default:
		errs = append(errs, fmt.Errorf("config: dialect %q: want postgres or mysql (the kind of target %q)", c.Dialect, c.Target))
	}
	if c.Table == "" {
		c.Table = "{table}"
	}
	switch c.Keyless {
	case "":
		c.Keyless = "refuse"
	case "refuse", "append":
	default:
		errs = append(errs, fmt.Errorf("config: keyless %q: want refuse or append", c.Keyless))
	}
	switch c.DDL {
	case "":
		c.DDL = "fail"
	case "fail", "ignore", "apply_add_column":
	default:
		errs = append(errs, fmt.Errorf("config: ddl %q: want fail, ignore or apply_add_column", c.DDL))
	}
	if c.PositionsTable == "" {
		c.PositionsTable = "puma_positions"
	}
	if c.BatchRows == 0 {
		c.BatchRows = 500
	}
	if c.BatchRows < 1 || c.BatchRows > 10000 {
		errs = append(errs, fmt.Errorf("config: batch_rows %d: want 1 to 10000", c.BatchRows))
	}
	switch {
	case c.Bulk == "" && c.Dialect == "postgres":
		c.Bulk = "copy"
	case c.Bulk == "":
		c.Bulk = "insert"
	case c.Bulk == "copy" && c.Dialect != "postgres":
		errs = append(errs, fmt.Errorf("config: bulk \"copy\" needs dialect postgres, not %q: use bulk = \"insert\"", c.Dialect))
	case c.Bulk != "copy" && c.Bulk != "insert":
		errs = append(errs, fmt.Errorf("config: bulk %q: want copy or insert", c.Bulk))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.pos = s.d.quote(c.PositionsTable)
	s.tables, s.byName = map[*sdk.Table]*target{}, map[string]*target{}
	s.keys = map[string]bool{}
	if _, err := sql.Exec(c.Target, sql.Statement{SQL: s.d.positionsDDL(s.pos)}); err != nil {
		return fmt.Errorf("sqlapply: create %s on %s: %w", c.PositionsTable, c.Target, err)
	}
	row, err := sql.Query(c.Target, s.d.positionQuery(s.pos), sql.Text(sdk.Task()), sql.Text(sdk.Name()))
	if err != nil {
		return fmt.Errorf("sqlapply: read the applied position from %s: %w", c.Target, err)
	}
	applied, _ := row.Get("position")
	return sdk.ReportApplied(applied)
}

func (s *sender) send(b *sdk.Batch) error {
	s.batch = b.GroupIndex()
	for i := 0; i < b.Len(); i++ {
		if err := s.apply(b.Row(i)); err != nil {
			s.abort()
			return err
		}
	}
	if tok, ok := b.Position(); ok {
		s.token, s.hasTok = tok, true
	}
	if s.bytes > maxStatementBytes {
		// Bounded memory in a large call: what is built goes to the
		// target now, in the call's transaction still.
		if err := s.sendPending(false); err != nil {
			s.abort()
			return err
		}
	}
	return nil
}

func (s *sender) apply(r *sdk.Row) error {
	switch r.Op() {
	case sdk.OpDDL:
		return s.ddl(r)
	case sdk.OpTruncate:
		t, err := s.target(r.Table())
		if err != nil {
			return err
		}
		s.end()
		s.flushStages()
		// MySQL's TRUNCATE commits the transaction it runs in: DELETE
		// keeps it inside the call's.
		stmt := "TRUNCATE TABLE " + t.name
		if s.cfg.Dialect == "mysql" {
			stmt = "DELETE FROM " + t.name
		}
		s.add(sql.Statement{SQL: stmt}, 0)
		return nil
	case sdk.OpInsert, sdk.OpUpdate, sdk.OpDelete:
	default:
		return nil
	}
	t, err := s.target(r.Table())
	if err != nil {
		return err
	}
	before, after := r.Before(), r.After()
	if s.cfg.Bulk == "copy" {
		return s.stageChange(t, r, before, after)
	}
	if t.keyless {
		if r.Op() == sdk.OpDelete {
			return nil
		}
		return s.row(t, 'a', after, nil)
	}
	switch r.Op() {
	case sdk.OpInsert:
		s.key = appendKey(s.key[:0], t, after)
		return s.row(t, 'u', after, s.key)
	case sdk.OpDelete:
		s.key = appendKey(s.key[:0], t, before)
		return s.row(t, 'd', before, s.key)
	}
	s.oldKey, s.key = appendKey(s.oldKey[:0], t, before), appendKey(s.key[:0], t, after)
	if !bytes.Equal(s.oldKey, s.key) {
		if err := s.row(t, 'd', before, s.oldKey); err != nil {
			return err
		}
	}
	return s.row(t, 'u', after, s.key)
}

// appendKey appends an image's key, which tells rows of one statement
// apart.
func appendKey(b []byte, t *target, im sdk.Image) []byte {
	for _, i := range t.keyIdx {
		v := im.At(i)
		if v.IsNull() {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = v.AppendText(b)
		}
		b = append(b, 0xff)
	}
	return b
}

// row adds an image to the current group, starting a new one when the
// table or operation changes, the group is full, or it holds the key
// already (one statement may not touch a row twice).
func (s *sender) row(t *target, op byte, im sdk.Image, key []byte) error {
	if !im.Present() {
		return fmt.Errorf("sqlapply: %s: a change without its row image", t.name)
	}
	g := &s.g
	if g.t != t || g.op != op || g.rows >= s.cfg.BatchRows || (len(key) > 0 && s.keys[string(key)]) {
		s.end()
		width := len(t.cols)
		if op == 'd' {
			width = len(t.keyIdx)
		}
		*g = group{t: t, op: op, args: make([]sql.Arg, 0, s.cfg.BatchRows*width)}
		clear(s.keys)
		s.keyText = s.keyText[:0]
	}
	if len(key) > 0 {
		// The map's keys view keyText, which the group's keys only
		// append to.
		start := len(s.keyText)
		s.keyText = append(s.keyText, key...)
		s.keys[unsafe.String(unsafe.SliceData(s.keyText[start:]), len(key))] = true
	}
	var a sql.Arg
	if op == 'd' {
		for _, i := range t.keyIdx {
			s.text, a = sql.AppendValue(s.text, im.At(i))
			g.args = append(g.args, a)
		}
	} else {
		for i := range t.cols {
			v := im.At(i)
			if v.IsAbsent() {
				return fmt.Errorf("sqlapply: %s: column %s is absent from the row image: sqlapply needs full images (binlog_row_image = FULL)", t.name, t.cols[i])
			}
			s.text, a = sql.AppendValue(s.text, v)
			g.args = append(g.args, a)
		}
	}
	g.rows++
	return nil
}

// end turns the current group into a statement.
func (s *sender) end() {
	g := &s.g
	if g.rows == 0 {
		*g = group{}
		return
	}
	s.add(sql.Statement{SQL: s.statementSQL(g.t, g.op, g.rows), Args: g.args}, g.rows)
	*g = group{}
}

// statementSQL returns the text of a statement applying rows rows of
// operation op to t. Most groups are full, so the text of each size is
// kept per table: building a statement of thousands of placeholders for
// every group would cost more than the rows it carries, and PostgreSQL
// then finds the statement prepared.
func (s *sender) statementSQL(t *target, op byte, rows int) string {
	key := int(op)<<32 | rows
	if q, ok := t.sql[key]; ok {
		return q
	}
	b := make([]byte, 0, 256)
	n := 0
	tuple := func(width int) {
		b = append(b, '(')
		for j := 0; j < width; j++ {
			if j > 0 {
				b = append(b, ", "...)
			}
			n++
			b = s.d.appendPlaceholder(b, n)
		}
		b = append(b, ')')
	}
	switch op {
	case 'd':
		b = append(b, "DELETE FROM "+t.name+" WHERE "...)
		if len(t.keys) == 1 {
			b = append(b, t.keys[0]+" IN ("...)
			for i := 0; i < rows; i++ {
				if i > 0 {
					b = append(b, ", "...)
				}
				n++
				b = s.d.appendPlaceholder(b, n)
			}
			b = append(b, ')')
		} else {
			b = append(b, "("+strings.Join(t.keys, ", ")+") IN ("...)
			for i := 0; i < rows; i++ {
				if i > 0 {
					b = append(b, ", "...)
				}
				tuple(len(t.keys))
			}
			b = append(b, ')')
		}
	default:
		b = append(b, "INSERT INTO "+t.name+" ("+strings.Join(t.cols, ", ")+") VALUES "...)
		for i := 0; i < rows; i++ {
			if i > 0 {
				b = append(b, ", "...)
			}
			tuple(len(t.cols))
		}
		if op == 'u' {
			b = append(b, s.d.upsertTail(t.keys, t.others())...)
		}
	}
	q := string(b)
	if t.sql == nil || len(t.sql) >= 8 {
		// Few sizes recur: full groups, and the last of a call.
		t.sql = map[int]string{}
	}
	t.sql[key] = q
	return q
}

// others returns the quoted names of t's columns outside its key.
func (t *target) others() []string {
	var others []string
	for i, c := range t.cols {
		if !t.isKey[i] {
			others = append(others, c)
		}
	}
	return others
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (s *sender) add(st sql.Statement, rows int) {
	s.stmts = append(s.stmts, st)
	s.bytes += st.Size()
	s.applied += rows
}

// stageChange adds a change to its table's stage: an update that changes
// the key as a delete of the old key and an upsert of the new.
// The values of the staged rows are not read here: the host writes them
// from the changes it holds (sql.Tx.CopyChanges), which spares encoding
// every value in the plugin and decoding it in the host again.
func (s *sender) stageChange(t *target, r *sdk.Row, before, after sdk.Image) error {
	if t.keyless {
		if r.Op() == sdk.OpDelete {
			return nil
		}
		return s.stageRow(t, r, 'a', after)
	}
	switch r.Op() {
	case sdk.OpInsert:
		return s.stageRow(t, r, 'u', after)
	case sdk.OpDelete:
		return s.stageRow(t, r, 'd', before)
	}
	s.oldKey, s.key = appendKey(s.oldKey[:0], t, before), appendKey(s.key[:0], t, after)
	if !bytes.Equal(s.oldKey, s.key) {
		if err := s.stageRow(t, r, 'd', before); err != nil {
			return err
		}
	}
	return s.stageRow(t, r, 'u', after)
}

// stageRow stages an image of r: the after image of an upsert or an
// append ('u', 'a'), the before image of a delete ('d').
func (s *sender) stageRow(t *target, r *sdk.Row, op byte, im sdk.Image) error {
	if !im.Present() {
		return fmt.Errorf("sqlapply: %s: a change without its row image", t.name)
	}
	st := t.stage
	if st == nil {
		st = t.spare
		if st == nil {
			st = &stage{t: t, seen: map[string]struct{}{}}
			t.spare = st
		}
		// The rows went to a copy, which may not be sent yet: the
		// stage starts a slice of its own.
		st.rows, st.deletes, st.updates, st.dups, st.keyText = nil, false, false, false, st.keyText[:0]
		clear(st.seen)
		t.stage = st
		s.stages = append(s.stages, st)
	}
	c := sql.Change{Batch: s.batch, Index: r.Index(), After: op != 'd'}
	st.updates = st.updates || r.Op() == sdk.OpUpdate
	if op != 'a' {
		c.Mark = op
		st.deletes = st.deletes || op == 'd'
		if !st.dups {
			s.stageKey = appendKey(s.stageKey[:0], t, im)
			st.dups = st.note(s.stageKey)
		}
	}
	st.rows = append(st.rows, c)
	s.applied++
	return nil
}

// flushStages turns the call's stages into statements, in the order of
// their tables' first rows: for a keyed table, a staging table (dropped
// at commit) created with the COPY of its rows, and the merge: of each
// key's rows the last decides, so that the table ends as the source's
// did however often the call changed a row (a delete removes it, an
// upsert leaves that row's image); for a keyless table, the COPY into
// it. When no key recurs in the stage, every row is its key's last:
// the merge reads the staging table as it is, without sorting it, and
// without deletes the rows need neither number nor operation. When they
// are all inserts, they likely are new to the table: they are copied
// into it first, tentatively, and staged and merged only when a key was
// there already (the copy is then undone).
func (s *sender) flushStages() {
	for _, st := range s.stages {
		t := st.t
		t.stage = nil
		cols := strings.Join(t.cols, ", ")
		all := make([]int, len(t.cols))
		for i := range all {
			all[i] = i
		}
		if t.keyless {
			s.addCopy("COPY "+t.name+" ("+cols+") FROM STDIN", copyRows{cols: all, rows: st.rows})
			continue
		}
		name := s.d.quote("puma_stage_" + strconv.Itoa(s.nstage))
		s.nstage++
		upsert := s.d.upsertTail(t.keys, t.others())
		if !st.dups && !st.deletes {
			for i := range st.rows {
				st.rows[i].Mark = 0
			}
			if !st.updates {
				// The staging and the merge below are the fallback.
				s.addCopy("COPY "+t.name+" ("+cols+") FROM STDIN", copyRows{cols: all, rows: st.rows, tentative: true, fallback: 2})
			}
			s.addCopy("COPY "+name+" ("+cols+") FROM STDIN", copyRows{
				before: []string{"CREATE TEMPORARY TABLE " + name + " ON COMMIT DROP AS SELECT " + cols + " FROM " + t.name + " WITH NO DATA"},
				cols:   all, rows: st.rows})
			s.add(sql.Statement{SQL: "INSERT INTO " + t.name + " (" + cols + ") SELECT " + cols + " FROM " + name + upsert}, 0)
			continue
		}
		s.addCopy("COPY "+name+" (puma_seq, puma_op, "+cols+") FROM STDIN", copyRows{
			before: []string{"CREATE TEMPORARY TABLE " + name + " ON COMMIT DROP AS SELECT NULL::bigint AS puma_seq, NULL::text AS puma_op, " +
				cols + " FROM " + t.name + " WITH NO DATA"},
			cols: all, numbered: true, rows: st.rows})
		last := name + " AS l"
		if st.dups {
			keys := strings.Join(t.keys, ", ")
			last = "(SELECT DISTINCT ON (" + keys + ") * FROM " + name + " ORDER BY " + keys + ", puma_seq DESC) AS l"
		}
		if st.deletes {
			var on []string
			for _, k := range t.keys {
				on = append(on, t.name+"."+k+" = l."+k)
			}
			s.add(sql.Statement{SQL: "DELETE FROM " + t.name + " USING " + last + " WHERE l.puma_op = 'd' AND " + strings.Join(on, " AND ")}, 0)
		}
		s.add(sql.Statement{SQL: "INSERT INTO " + t.name + " (" + cols + ") SELECT " + cols + " FROM " + last +
			" WHERE l.puma_op = 'u'" + upsert}, 0)
	}
	clear(s.stages)
	s.stages = s.stages[:0]
}

func (s *sender) addCopy(copySQL string, rows copyRows) {
	if s.copies == nil {
		s.copies = map[int]copyRows{}
	}
	s.copies[len(s.stmts)] = rows
	s.stmts = append(s.stmts, sql.Statement{SQL: copySQL})
}

// target returns what the sender knows of t's target table, creating
// the table with create_tables.
func (s *sender) target(t *sdk.Table) (*target, error) {
	if tg, ok := s.tables[t]; ok {
		return tg, nil
	}
	if t == nil {
		return nil, errors.New("sqlapply: a change without a table")
	}
	name := strings.NewReplacer("{db}", t.DB, "{table}", t.Name).Replace(s.cfg.Table)
	tg := &target{name: s.d.quote(name)}
	for _, c := range t.Columns {
		tg.cols = append(tg.cols, s.d.quote(c.Name))
	}
	switch {
	case t.KeyKind == sdk.KeyPrimary || t.KeyKind == sdk.KeyConfig:
		for _, k := range t.Key {
			tg.keys = append(tg.keys, tg.cols[k])
		}
		tg.keyIdx = t.Key
		tg.isKey = make([]bool, len(tg.cols))
		for _, k := range t.Key {
			tg.isKey[k] = true
		}
	case s.cfg.Keyless == "append":
		tg.keyless = true
	default:
		return nil, sdk.Fatal(fmt.Errorf("sqlapply: table %s has no key: give it a primary key, name key_columns for it in the task, or set keyless = \"append\" to append its rows", t.FullName()))
	}
	if s.cfg.CreateTables && !s.byName[name].isCreated() {
		if err := s.create(t, tg); err != nil {
			return nil, err
		}
	}
	if s.cfg.DDL == "apply_add_column" {
		if err := s.addColumns(t, tg, name); err != nil {
			return nil, err
		}
	}
	s.tables[t], s.byName[name] = tg, tg
	return tg, nil
}

func (s *sender) create(t *sdk.Table, tg *target) error {
	var defs []string
	var keyTypes []string
	if !tg.keyless {
		keyTypes = s.d.keyTypes(t, tg.keyIdx)
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		typ := s.d.columnType(c)
		if k := slices.Index(tg.keyIdx, i); k >= 0 && !tg.keyless {
			typ = keyTypes[k]
		}
		if typ == "" {
			return sdk.Fatal(fmt.Errorf("sqlapply: %s.%s: no %s type for a column of kind %v", t.FullName(), c.Name, s.cfg.Dialect, c.Kind))
		}
		def := tg.cols[i] + " " + typ
		if !c.Nullable && contains(tg.keyIdx, i) {
			def += " NOT NULL"
		}
		defs = append(defs, def)
	}
	if !tg.keyless {
		defs = append(defs, "PRIMARY KEY ("+strings.Join(tg.keys, ", ")+")")
	}
	// Schema changes run at once in a transaction of their own (MySQL
	// would commit the call's transaction with them); they are
	// idempotent, so a call replayed after a crash makes them again.
	if _, err := sql.Exec(s.cfg.Target, sql.Statement{SQL: "CREATE TABLE IF NOT EXISTS " + tg.name + " (" + strings.Join(defs, ", ") + ")"}); err != nil {
		return fmt.Errorf("sqlapply: create table %s: %w", tg.name, err)
	}
	tg.created = true
	return nil
}

// addColumns adds to the target table the columns of t it lacks.
func (s *sender) addColumns(t *sdk.Table, tg *target, name string) error {
	row, err := sql.Query(s.cfg.Target, s.d.columnsQuery(), sql.Text(name))
	if err != nil {
		return fmt.Errorf("sqlapply: read the columns of %s: %w", tg.name, err)
	}
	list, _ := row.Get("cols")
	if list == "" {
		return nil // no such table: the first statement says so
	}
	have := map[string]bool{}
	for _, c := range strings.Split(list, ",") {
		have[strings.ToLower(c)] = true
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		if have[strings.ToLower(c.Name)] {
			continue
		}
		typ := s.d.columnType(c)
		if typ == "" {
			return sdk.Fatal(fmt.Errorf("sqlapply: %s.%s: no %s type for a column of kind %v", t.FullName(), c.Name, s.cfg.Dialect, c.Kind))
		}
		if _, err := sql.Exec(s.cfg.Target, sql.Statement{SQL: "ALTER TABLE " + tg.name + " ADD COLUMN " + tg.cols[i] + " " + typ}); err != nil {
			return fmt.Errorf("sqlapply: add column %s to %s: %w", c.Name, tg.name, err)
		}
		sdk.Log(sdk.LevelInfo, "sqlapply: added column "+tg.cols[i]+" "+typ+" to "+tg.name)
	}
	return nil
}

// ddl applies the ddl policy to a schema change.
func (s *sender) ddl(r *sdk.Row) error {
	stmt := r.Statement()
	switch s.cfg.DDL {
	case "ignore":
		return nil
	case "apply_add_column":
		if addsColumns(stmt) || isCreate(stmt) {
			// The next change of the table carries its new shape:
			// target() then adds what the target table lacks.
			for t := range s.tables {
				if t.DB == r.DB() && t.Name == r.TableName() {
					delete(s.tables, t)
				}
			}
			return nil
		}
	}
	return sdk.Fatal(fmt.Errorf("sqlapply: ddl = %q stops at this schema change in %s, which the target does not follow: %s (apply it to the target by hand, then restart with ddl = \"ignore\" past it)", s.cfg.DDL, r.DB(), stmt))
}

// addsColumns reports whether stmt is ALTER TABLE … ADD [COLUMN] …, with
// nothing but added columns that existing rows hold NULL in. A column
// with a DEFAULT, NOT NULL (an implicit default), AUTO_INCREMENT or
// generated values fills the rows already there, and the binary log
// carries none of it: the target's copies of those rows would hold NULL.
func addsColumns(stmt string) bool {
	f := strings.Fields(strings.ToUpper(stmt))
	if len(f) < 5 || f[0] != "ALTER" || f[1] != "TABLE" || f[3] != "ADD" {
		return false
	}
	if f[4] == "INDEX" || f[4] == "KEY" || f[4] == "PRIMARY" || f[4] == "UNIQUE" || f[4] == "CONSTRAINT" || f[4] == "FOREIGN" || f[4] == "PARTITION" {
		return false
	}
	for i, w := range f[4:] {
		next := ""
		if i+5 < len(f) {
			next = strings.TrimRight(f[i+5], ",;")
		}
		switch strings.TrimRight(w, ",;") {
		case "DROP", "CHANGE", "MODIFY", "RENAME", "ALTER", "ENGINE", "CONVERT",
			"AUTO_INCREMENT", "GENERATED", "AS":
			return false
		case "DEFAULT":
			if next != "NULL" {
				return false
			}
		case "NOT":
			if next == "NULL" {
				return false
			}
		}
	}
	return true
}

func isCreate(stmt string) bool {
	f := strings.Fields(strings.ToUpper(stmt))
	return len(f) >= 2 && f[0] == "CREATE" && (f[1] == "TABLE" || f[1] == "DATABASE" || f[1] == "INDEX" || f[1] == "UNIQUE")
}

// sendPending opens the call's transaction if needed and sends the
// statements buffered so far: the statements between copies in as few
// execs as the limits allow. With commit it then commits the
// transaction, with the last exec when the statements end with one.
func (s *sender) sendPending(commit bool) error {
	s.end()
	s.flushStages()
	if s.tx == nil {
		tx, err := sql.Begin(s.cfg.Target)
		if err != nil {
			return err
		}
		s.tx = tx
	}
	for i := 0; i < len(s.stmts); {
		if c, ok := s.copies[i]; ok && c.tentative {
			_, copied, err := s.tx.TryCopyChanges(c.before, s.stmts[i].SQL, c.cols, c.numbered, c.rows)
			if err != nil {
				return err
			}
			i++
			if copied {
				i += c.fallback
			}
			continue
		}
		if c, ok := s.copies[i]; ok {
			if _, err := s.tx.CopyChangesAfter(c.before, s.stmts[i].SQL, c.cols, c.numbered, c.rows); err != nil {
				return err
			}
			i++
			continue
		}
		n, size := 0, 0
		for i+n < len(s.stmts) && n < 1000 && (n == 0 || size+s.stmts[i+n].Size() <= maxStatementBytes) {
			if _, ok := s.copies[i+n]; ok {
				break
			}
			size += s.stmts[i+n].Size()
			n++
		}
		var err error
		if commit && i+n == len(s.stmts) {
			_, err = s.tx.ExecCommit(s.stmts[i : i+n]...)
			commit = false
		} else {
			_, err = s.tx.Exec(s.stmts[i : i+n]...)
		}
		if err != nil {
			return err
		}
		i += n
	}
	s.stmts, s.bytes, s.text = s.stmts[:0], 0, s.text[:0]
	clear(s.copies)
	if commit {
		return s.tx.Commit()
	}
	return nil
}

// flush commits the call: its rows and the position of its last commit,
// in one target transaction.
func (s *sender) flush() error {
	s.end()
	s.flushStages()
	if len(s.stmts) == 0 && !s.hasTok && s.tx == nil {
		return nil
	}
	if s.hasTok {
		s.add(sql.Statement{SQL: s.d.positionUpsert(s.pos), Args: []sql.Arg{sql.Text(sdk.Task()), sql.Text(sdk.Name()), sql.Text(s.token)}}, 0)
	}
	if err := s.sendPending(true); err != nil {
		s.abort()
		return err
	}
	s.tx, s.hasTok, s.nstage = nil, false, 0
	return nil
}

// abort forgets the call: the host rolls back the open transaction with
// the instance it restarts.
func (s *sender) abort() {
	if s.tx != nil {
		s.tx.Rollback()
	}
	s.tx, s.stmts, s.bytes, s.g, s.hasTok = nil, s.stmts[:0], 0, group{}, false
	clear(s.copies)
	s.text, s.nstage = s.text[:0], 0
	for _, st := range s.stages {
		st.t.stage = nil
	}
	clear(s.stages)
	s.stages = s.stages[:0]
}

func (s *sender) close() error {
	if s.tx != nil {
		s.tx.Rollback()
	}
	if s.applied > 0 {
		sdk.Log(sdk.LevelDebug, "sqlapply: applied "+strconv.Itoa(s.applied)+" rows")
	}
	return nil
}
