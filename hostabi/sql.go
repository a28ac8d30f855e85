package hostabi

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// The sql capability reaches the database targets of kind postgres (with
// pgx) and mysql (MySQL and MariaDB, with go-sql-driver/mysql). The host
// holds the connection pool and the password; the plugin names a granted
// target and sends statements with typed arguments. A transaction the
// plugin begins belongs to its instance: it is rolled back when the
// instance ends without committing it (a crash, a timeout, a failed call).

// Limits of the sql capability.
const (
	// DefaultSQLTimeout bounds a request whose message asks for none;
	// MaxSQLTimeout bounds any. The plugin's own timeout bounds the call
	// making the request, whichever ends first.
	DefaultSQLTimeout = 30 * time.Second
	MaxSQLTimeout     = 5 * time.Minute
)

// sqlTarget is a [targets.NAME] table of kind postgres or mysql.
type sqlTarget struct {
	kind           string
	host           string
	port           int64
	user           string
	password       engine.Secret
	database       string
	sslmode        string
	poolSize       int64
	connectTimeout time.Duration
}

// sslmodes are the sslmode settings, as PostgreSQL names them.
var sslmodes = []string{"disable", "prefer", "require", "verify-full"}

func parseSQLTarget(kind string, s *Settings) any {
	t := sqlTarget{kind: kind}
	t.host = s.String("host", "127.0.0.1")
	def := int64(5432)
	if kind == wire.CapMySQL {
		def = 3306
	}
	t.port = s.Int("port", def, 1, 65535)
	t.user = s.Required("user", "the user to connect as")
	t.password = s.Secret("password_secret")
	t.database = s.Required("database", "the database to write in")
	t.sslmode = s.OneOf("sslmode", "prefer", sslmodes...)
	t.poolSize = s.Int("pool_size", 4, 1, 100)
	t.connectTimeout = s.Duration("connect_timeout", 10*time.Second)
	return t
}

func init() {
	registerTargetKind(wire.CapPostgres, func(s *Settings) any { return parseSQLTarget(wire.CapPostgres, s) })
	registerTargetKind(wire.CapMySQL, func(s *Settings) any { return parseSQLTarget(wire.CapMySQL, s) })
	registerHostFuncs(
		hostFunc{wire.ImportSQLCall, (*caps).sqlCall, []api.ValueType{i32, i32}, []api.ValueType{i64}},
		hostFunc{wire.ImportSQLResult, (*caps).sqlResult, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
}

// sqlDB is a plugin's pool of connections to one database target.
type sqlDB interface {
	io.Closer
	begin(ctx context.Context) (sqlTx, error)
	// query runs st outside any transaction and returns its first row.
	query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error)
}

// sqlTx is an open transaction, on one connection of its pool.
type sqlTx interface {
	// exec runs the statements in order and returns the rows each
	// affected; it stops at the first that fails, naming it. With
	// commit it then commits the transaction.
	exec(ctx context.Context, stmts []wire.SQLStatement, commit bool) ([]int64, error)
	// copy runs the statements of before (without arguments), then a
	// COPY … FROM STDIN with data, rows in COPY's text format, and
	// returns the rows copied. When tentative it runs them after a
	// savepoint, and a unique violation rolls back to it and returns -1.
	copy(ctx context.Context, before []string, stmt string, data []byte, tentative bool) (int64, error)
	query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error)
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

func dialSQL(settings any) (io.Closer, error) {
	t := settings.(sqlTarget)
	if t.kind == wire.CapPostgres {
		return dialPostgres(t)
	}
	return dialMySQL(t)
}

// sqlTargetKind returns the kind of the granted database target name.
func (c *caps) sqlTargetKind(name string) (string, bool) {
	for _, kind := range []string{wire.CapPostgres, wire.CapMySQL} {
		if slices.Contains(c.grants.Targets[kind], name) {
			return kind, true
		}
	}
	return "", false
}

func (c *caps) sqlCall(ctx context.Context, m api.Module, stack []uint64) {
	stack[0] = uint64(c.doSQLCall(ctx, m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doSQLCall(ctx context.Context, m api.Module, ptr, n uint32) int64 {
	c.sqlRes = c.sqlRes[:0]
	if n > wire.MaxSQLMessage {
		return c.fail(wire.ErrnoLimit, "sql: request message of %d bytes exceeds %d", n, wire.MaxSQLMessage)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "sql: request out of bounds")
	}
	q, err := wire.ParseSQLRequest(b)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "sql: malformed request message %v", err)
	}
	kind, ok := c.sqlTargetKind(q.Target)
	if !ok || c.targets == nil {
		return c.fail(wire.ErrnoDenied, "sql: target %q is not granted: add %s", q.Target, grantHint(wire.CapSQL))
	}
	where := kind + " target " + strconv.Quote(q.Target)
	want := map[wire.SQLOp]int{wire.SQLBegin: 0, wire.SQLQuery: 1, wire.SQLCommit: 0, wire.SQLRollback: 0}
	if w, ok := want[q.Op]; ok && len(q.Statements) != w {
		return c.fail(wire.ErrnoInvalid, "sql: %s: op %d takes %d statements, got %d", where, q.Op, w, len(q.Statements))
	}
	opName := map[wire.SQLOp]string{wire.SQLExec: "exec", wire.SQLExecCommit: "exec_commit", wire.SQLCopy: "copy", wire.SQLCopyChanges: "copy_changes"}[q.Op]
	if opName != "" && len(q.Statements) == 0 {
		return c.fail(wire.ErrnoInvalid, "sql: %s: %s with no statement", where, opName)
	}

	timeout := DefaultSQLTimeout
	if q.TimeoutMS > 0 {
		timeout = min(time.Duration(q.TimeoutMS)*time.Millisecond, MaxSQLTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.targets.conn(kind, q.Target, dialSQL)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "sql: %v", err)
	}
	db := conn.(sqlDB)
	tx := c.sqlTxs[q.Target]
	// failed ends the open transaction after a failure inside it: the
	// server has aborted it (PostgreSQL) or it is in an unknown state.
	failed := func(op string, err error) int64 {
		if tx != nil {
			c.endSQLTx(q.Target)
			op += " (the transaction was rolled back)"
		}
		errno, msg := sqlErrno(ctx, err, timeout)
		return c.fail(errno, "sql: %s: %s: %s", where, op, msg)
	}
	switch q.Op {
	case wire.SQLBegin:
		if tx != nil {
			return c.fail(wire.ErrnoInvalid, "sql: %s: begin: a transaction is already open", where)
		}
		t, err := db.begin(ctx)
		if err != nil {
			return failed("begin", err)
		}
		if c.sqlTxs == nil {
			c.sqlTxs = map[string]sqlTx{}
		}
		c.sqlTxs[q.Target] = t
		return 0
	case wire.SQLCommit, wire.SQLRollback:
		if tx == nil {
			if q.Op == wire.SQLRollback {
				return 0
			}
			return c.fail(wire.ErrnoInvalid, "sql: %s: commit: no transaction is open", where)
		}
		delete(c.sqlTxs, q.Target)
		if q.Op == wire.SQLRollback {
			err = tx.rollback(ctx)
		} else {
			err = tx.commit(ctx)
		}
		if err != nil {
			tx = nil
			if q.Op == wire.SQLCommit {
				return failed("commit", err)
			}
			return failed("rollback", err)
		}
		return 0
	case wire.SQLQuery:
		var found bool
		var cols []wire.SQLColumn
		if tx != nil {
			found, cols, err = tx.query(ctx, &q.Statements[0])
		} else {
			found, cols, err = db.query(ctx, &q.Statements[0])
		}
		if err != nil {
			return failed("query", err)
		}
		c.sqlRes = wire.AppendSQLQueryResult(c.sqlRes, found, cols)
		if n := len(c.sqlRes); n > wire.MaxSQLResult {
			c.sqlRes = c.sqlRes[:0]
			return c.fail(wire.ErrnoLimit, "sql: %s: query: the row's %d bytes exceed %d", where, n, wire.MaxSQLResult)
		}
		return int64(len(c.sqlRes))
	}
	if q.Op == wire.SQLExecCommit && tx == nil {
		return c.fail(wire.ErrnoInvalid, "sql: %s: exec_commit: no transaction is open", where)
	}
	if q.Tentative && tx == nil {
		return c.fail(wire.ErrnoInvalid, "sql: %s: copy_changes: a tentative copy needs a transaction begun", where)
	}
	var data []byte
	copySQL := q.Statements[0].SQL
	var before []string
	if q.Op == wire.SQLCopyChanges {
		// The COPY is the last statement; the others run before it.
		last := len(q.Statements) - 1
		copySQL = q.Statements[last].SQL
		for _, st := range q.Statements[:last] {
			before = append(before, st.SQL)
		}
	}
	if q.Op == wire.SQLCopy || q.Op == wire.SQLCopyChanges {
		// Refused like a failed statement: the transaction ends.
		var msg string
		switch {
		case kind != wire.CapPostgres:
			msg = "only postgres targets take COPY; send multi-row INSERTs with exec"
		case !isCopyFromStdin(copySQL):
			msg = fmt.Sprintf("the statement must be COPY … FROM STDIN, not %.60q", copySQL)
		case slices.ContainsFunc(before, isCopy):
			msg = "only the last statement may be a COPY"
		case q.Op == wire.SQLCopy:
			data = copyArgsData(c.copyBuf[:0], &q)
		default:
			data, err = c.copyChangesData(c.copyBuf[:0], &q)
			if err != nil {
				msg = err.Error()
			}
		}
		if msg != "" {
			if tx != nil {
				c.endSQLTx(q.Target)
				msg += " (the transaction was rolled back)"
			}
			return c.fail(wire.ErrnoInvalid, "sql: %s: %s: %s", where, opName, msg)
		}
		if cap(data) <= 16<<20 {
			c.copyBuf = data[:0] // kept for the next copy, unless huge
		}
	}
	// exec and copy: inside the open transaction, or in one of their own.
	own := tx == nil
	if own {
		if tx, err = db.begin(ctx); err != nil {
			return failed("begin", err)
		}
	}
	var affected []int64
	exec := q.Op == wire.SQLExec || q.Op == wire.SQLExecCommit
	if exec {
		// An exec in a transaction of its own commits in its round
		// trip, as exec_commit does.
		affected, err = tx.exec(ctx, q.Statements, own || q.Op == wire.SQLExecCommit)
		if err == nil && q.Op == wire.SQLExecCommit {
			delete(c.sqlTxs, q.Target) // committed
		}
	} else {
		var n int64
		if n, err = tx.copy(ctx, before, copySQL, data, q.Tentative); err == nil {
			affected = []int64{n}
		}
	}
	if err != nil {
		if own {
			tx.rollback(context.WithoutCancel(ctx))
			tx = nil
		}
		return failed(opName, err)
	}
	if own && !exec {
		if err := tx.commit(ctx); err != nil {
			tx = nil
			return failed("commit", err)
		}
	}
	c.sqlRes = wire.AppendSQLExecResult(c.sqlRes, affected)
	return int64(len(c.sqlRes))
}

// endSQLTx rolls back and forgets the instance's transaction on target.
func (c *caps) endSQLTx(target string) {
	tx := c.sqlTxs[target]
	if tx == nil {
		return
	}
	delete(c.sqlTxs, target)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx.rollback(ctx)
}

// closeSQL rolls back every transaction the instance left open.
func (c *caps) closeSQL() {
	for target := range c.sqlTxs {
		c.endSQLTx(target)
	}
}

func (c *caps) sqlResult(_ context.Context, m api.Module, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	out := c.sqlRes
	if len(out) > int(n) {
		out = out[:n]
	}
	if !m.Memory().Write(ptr, out) {
		ret32(stack, c.fail(wire.ErrnoInvalid, "sql: result buffer out of bounds"))
		return
	}
	ret32(stack, int64(len(c.sqlRes)))
}

// sqlErrno says whether retrying err may help: connection failures,
// timeouts, deadlocks and serialisation failures are ErrnoRemote; a
// statement the server refused (syntax, a constraint, a type) is
// ErrnoInvalid.
func sqlErrno(ctx context.Context, err error, timeout time.Duration) (wire.Errno, string) {
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return wire.ErrnoRemote, fmt.Sprintf("timeout after %s: %v", timeout, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "40", "53", "57", "58": // connection, rollback, resources, operator, system
			return wire.ErrnoRemote, err.Error()
		}
		return wire.ErrnoInvalid, err.Error()
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1205, 1213, 1927, 2006, 2013: // too many connections, shutdown, lock wait, deadlock, killed, gone
			return wire.ErrnoRemote, err.Error()
		}
		return wire.ErrnoInvalid, err.Error()
	}
	return wire.ErrnoRemote, err.Error()
}

// stmtError names the statement of a batch that failed: statement i, or
// one of i to last when they went in one request.
type stmtError struct {
	i, last int
	err     error
}

func (e *stmtError) Error() string {
	if e.last > e.i {
		return fmt.Sprintf("one of statements %d to %d (sent in one request): %v", e.i, e.last, e.err)
	}
	return fmt.Sprintf("statement %d: %v", e.i, e.err)
}
func (e *stmtError) Unwrap() error { return e.err }

// parseDateTime reads a DATETIME's text as a wall-clock time in UTC;
// ok is false for what time.Time cannot hold (zero dates), which then
// goes as text.
func parseDateTime(s string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	return t, err == nil
}

// sqlArgs converts a statement's arguments for the driver of kind: each
// goes as the type the target has for it, never through float or text
// where there is a binary form (a DECIMAL is the exception: its exact
// text is the form both servers take without rounding).
func sqlArgs(kind string, args []wire.SQLArg) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch a.Kind {
		case wire.SQLNull:
			out[i] = nil
		case wire.KindInt, wire.KindYear:
			out[i] = int64(a.Num)
		case wire.KindUint, wire.KindBit:
			if kind == wire.CapPostgres && a.Num > math.MaxInt64 {
				// numeric(20) holds it; pgx has no unsigned type.
				out[i] = strconv.FormatUint(a.Num, 10)
			} else if kind == wire.CapPostgres {
				out[i] = int64(a.Num)
			} else {
				out[i] = a.Num
			}
		case wire.KindFloat, wire.KindDouble:
			out[i] = math.Float64frombits(a.Num)
		case wire.KindBytes, wire.KindGeometry:
			out[i] = []byte(a.Text)
		case wire.KindDateTime:
			if t, ok := parseDateTime(a.Text); ok {
				out[i] = t
			} else {
				out[i] = a.Text
			}
		case wire.KindTimestamp:
			if t, err := time.Parse(time.RFC3339Nano, a.Text); err == nil {
				out[i] = t.UTC()
			} else {
				out[i] = a.Text
			}
		case wire.KindJSON:
			if a.Text == "" {
				out[i] = "null" // the binary log's empty JSON, which the envelope writes as null
			} else {
				out[i] = a.Text
			}
		default: // decimal, string, date, time, enum, set, uuid, inet: text the server parses exactly
			out[i] = a.Text
		}
	}
	return out
}

// pgDB is a pgx pool.
type pgDB struct{ pool *pgxpool.Pool }

func dialPostgres(t sqlTarget) (*pgDB, error) {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(t.host, strconv.Itoa(int(t.port))), Path: "/" + t.database}
	if p := t.password.Reveal(); p != "" {
		u.User = url.UserPassword(t.user, p)
	} else {
		u.User = url.User(t.user)
	}
	q := url.Values{"sslmode": {t.sslmode}, "connect_timeout": {strconv.Itoa(max(1, int(t.connectTimeout/time.Second)))}}
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		// The error may quote the URL, and so the password.
		return nil, fmt.Errorf("postgres target %s:%d: bad settings", t.host, t.port)
	}
	cfg.MaxConns = int32(t.poolSize)
	// Text results (the applied position, timestamptz) read the same
	// whatever the server's time zone.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "puma"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres target %s:%d: %v", t.host, t.port, err)
	}
	return &pgDB{pool: pool}, nil
}

func (d *pgDB) Close() error { d.pool.Close(); return nil }

// begin takes a connection for the transaction; its BEGIN goes to the
// server with the transaction's first statements, in their round trip.
func (d *pgDB) begin(ctx context.Context) (sqlTx, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn}, nil
}

func (d *pgDB) query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error) {
	rows, err := d.pool.Query(ctx, st.SQL, pgQueryArgs(st)...)
	if err != nil {
		return false, nil, err
	}
	return pgRow(rows)
}

// pgQueryArgs asks for the result in text format: a query's row is
// returned as the server writes each value.
func pgQueryArgs(st *wire.SQLStatement) []any {
	return append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, sqlArgs(wire.CapPostgres, st.Args)...)
}

func pgRow(rows pgx.Rows) (bool, []wire.SQLColumn, error) {
	defer rows.Close()
	var cols []wire.SQLColumn
	found := rows.Next()
	if found {
		fields := rows.FieldDescriptions()
		for i, v := range rows.RawValues() {
			cols = append(cols, wire.SQLColumn{Name: fields[i].Name, Null: v == nil, Value: append([]byte(nil), v...)})
		}
	}
	rows.Close()
	return found, cols, rows.Err()
}

// pgTx is a transaction on a connection of the pool, which it holds
// until it ends. Its BEGIN is sent with its first statements (begun
// then), and an exec may end with its COMMIT: a transaction of one copy
// and one exec costs two round trips.
type pgTx struct {
	conn  *pgxpool.Conn
	begun bool
}

// errCommitRolledBack is a COMMIT the server answered with ROLLBACK: the
// transaction had failed.
var errCommitRolledBack = errors.New("commit: the server rolled the transaction back")

// exec sends the statements in one batch, after the BEGIN when not yet
// sent and before the COMMIT with commit: one round trip for all of
// them.
func (t *pgTx) exec(ctx context.Context, stmts []wire.SQLStatement, commit bool) ([]int64, error) {
	b := &pgx.Batch{}
	begin := !t.begun
	if begin {
		b.Queue("begin")
		t.begun = true
	}
	for i := range stmts {
		b.Queue(stmts[i].SQL, sqlArgs(wire.CapPostgres, stmts[i].Args)...)
	}
	if commit {
		b.Queue("commit")
	}
	br := t.conn.SendBatch(ctx, b)
	defer br.Close()
	if begin {
		// pgx prepares the batch's new statements first: their errors
		// come here, as the first statement's.
		if _, err := br.Exec(); err != nil {
			return nil, &stmtError{i: 0, err: err}
		}
	}
	out := make([]int64, len(stmts))
	for i := range stmts {
		ct, err := br.Exec()
		if err != nil {
			return nil, &stmtError{i: i, err: err}
		}
		out[i] = ct.RowsAffected()
	}
	if commit {
		ct, err := br.Exec()
		if err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		if ct.String() != "COMMIT" {
			return nil, errCommitRolledBack
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	if commit {
		t.release()
	}
	return out, nil
}

// pgTentative is the savepoint of a tentative copy.
const pgTentative = "puma_tentative"

// copy sends the statements of before and the COPY in one query, after
// the BEGIN when not yet sent (and the savepoint of a tentative copy),
// and the rows in one COPY stream without waiting for the server to ask
// for them: one round trip. (When a statement fails, the server discards
// the rows that follow.)
func (t *pgTx) copy(ctx context.Context, before []string, stmt string, data []byte, tentative bool) (int64, error) {
	if !t.begun || len(before) > 0 || tentative {
		var q strings.Builder
		if !t.begun {
			q.WriteString("BEGIN;\n")
			t.begun = true
		}
		if tentative {
			q.WriteString("SAVEPOINT " + pgTentative + ";\n")
		}
		for _, b := range before {
			q.WriteString(b)
			q.WriteString(";\n")
		}
		q.WriteString(stmt)
		stmt = q.String()
	}
	ct, err := t.conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), stmt)
	var pe *pgconn.PgError
	if tentative && errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		if _, err := t.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+pgTentative); err != nil {
			return 0, err
		}
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	return ct.RowsAffected(), nil
}

// copyArgsData appends a copy request's rows in COPY's text format, each
// value as the text the server parses exactly as it does a text
// argument.
func copyArgsData(buf []byte, q *wire.SQLRequest) []byte {
	width := int(q.Width)
	for i := range q.Statements {
		for j, a := range q.Statements[i].Args {
			if j%width != 0 {
				buf = append(buf, '\t')
			}
			buf = appendCopyText(buf, a)
			if j%width == width-1 {
				buf = append(buf, '\n')
			}
		}
	}
	return buf
}

// copyChangesData appends the rows of a copy_changes request in COPY's
// text format, each value written from the change the host holds as
// copyArgsData writes the argument a plugin would make of it.
func (c *caps) copyChangesData(buf []byte, q *wire.SQLRequest) ([]byte, error) {
	for i, ref := range q.Changes {
		var b *engine.Batch
		switch {
		case c.group != nil && uint64(ref.Batch) < uint64(len(c.group)):
			b = c.group[ref.Batch]
		case c.group == nil && ref.Batch == 0:
			b = c.batch
		}
		if b == nil {
			return nil, fmt.Errorf("row %d: batch %d is not one of the call's", i, ref.Batch)
		}
		if uint64(ref.Change) >= uint64(len(b.Changes)) {
			return nil, fmt.Errorf("row %d: change %d of a batch of %d", i, ref.Change, len(b.Changes))
		}
		ch := &b.Changes[ref.Change]
		im, which := ch.Before, "before"
		if ref.After {
			im, which = ch.After, "after"
		}
		if im == nil || ch.Table == nil {
			return nil, fmt.Errorf("row %d: change %d of batch %d has no %s image", i, ref.Change, ref.Batch, which)
		}
		if q.Numbered {
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, '\t', ref.Mark, '\t')
		}
		for j, col := range q.Columns {
			if int(col) >= len(im) || int(col) >= len(ch.Table.Columns) {
				return nil, fmt.Errorf("row %d: column %d of %s, which has %d", i, col, ch.Table.FullName(), len(ch.Table.Columns))
			}
			if j > 0 {
				buf = append(buf, '\t')
			}
			v := im[col]
			a := wire.SQLArg{Kind: wire.Kind(ch.Table.Columns[col].Kind)}
			switch v := v.(type) {
			case nil:
				a.Kind = wire.SQLNull
			case int64:
				a.Num = uint64(v)
			case uint64:
				a.Num = v
			case float32:
				a.Kind, a.Num = wire.KindDouble, math.Float64bits(float64(v))
			case float64:
				a.Kind, a.Num = wire.KindDouble, math.Float64bits(v)
			case string:
				a.Text = v
			case []byte:
				if a.Kind == wire.KindBytes || a.Kind == wire.KindGeometry {
					buf = append(buf, '\\', '\\', 'x')
					buf = hex.AppendEncode(buf, v)
					continue
				}
				a.Text = string(v)
			default:
				return nil, fmt.Errorf("row %d: column %s of %s is absent from the %s image: COPY needs full images (binlog_row_image = FULL)",
					i, ch.Table.Columns[col].Name, ch.Table.FullName(), which)
			}
			buf = appendCopyText(buf, a)
		}
		buf = append(buf, '\n')
	}
	return buf, nil
}

// isCopy reports whether stmt is a COPY.
func isCopy(stmt string) bool {
	f := strings.Fields(stmt)
	return len(f) > 0 && strings.EqualFold(f[0], "COPY")
}

// isCopyFromStdin reports whether stmt is a COPY … FROM STDIN: a copy
// request may run nothing else.
func isCopyFromStdin(stmt string) bool {
	f := strings.Fields(strings.ToUpper(stmt))
	if len(f) < 4 || f[0] != "COPY" {
		return false
	}
	for i := 1; i+1 < len(f); i++ {
		if f[i] == "FROM" && f[i+1] == "STDIN" {
			return true
		}
	}
	return false
}

// appendCopyText appends a's value in COPY's text format: \N for NULL,
// the text of the value with backslash, tab, newline and carriage return
// escaped. Each value is the text the server would parse for a text
// argument of its kind: exact decimal digits, shortest round-trip floats,
// bytea as \x hex, a timestamp in RFC 3339 UTC.
func appendCopyText(dst []byte, a wire.SQLArg) []byte {
	switch a.Kind {
	case wire.SQLNull:
		return append(dst, '\\', 'N')
	case wire.KindInt, wire.KindYear:
		return strconv.AppendInt(dst, int64(a.Num), 10)
	case wire.KindUint, wire.KindBit:
		return strconv.AppendUint(dst, a.Num, 10)
	case wire.KindFloat, wire.KindDouble:
		f := math.Float64frombits(a.Num)
		switch {
		case math.IsNaN(f):
			return append(dst, "NaN"...)
		case math.IsInf(f, 1):
			return append(dst, "Infinity"...)
		case math.IsInf(f, -1):
			return append(dst, "-Infinity"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case wire.KindBytes, wire.KindGeometry:
		// \x and hex digits need no escaping but the backslash.
		dst = append(dst, '\\', '\\', 'x')
		return hex.AppendEncode(dst, []byte(a.Text))
	case wire.KindJSON:
		if a.Text == "" {
			return append(dst, "null"...)
		}
	}
	return appendCopyEscaped(dst, a.Text)
}

func appendCopyEscaped(dst []byte, s string) []byte {
	for len(s) > 0 {
		i := strings.IndexAny(s, "\\\t\n\r")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		switch s[i] {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		}
		s = s[i+1:]
	}
	return dst
}

func (t *pgTx) query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error) {
	if !t.begun {
		if _, err := t.conn.Exec(ctx, "begin"); err != nil {
			return false, nil, fmt.Errorf("begin: %w", err)
		}
		t.begun = true
	}
	rows, err := t.conn.Query(ctx, st.SQL, pgQueryArgs(st)...)
	if err != nil {
		return false, nil, err
	}
	return pgRow(rows)
}

// commit commits, when anything was sent; the connection goes back to
// the pool either way.
func (t *pgTx) commit(ctx context.Context) error { return t.end(ctx, "commit") }

func (t *pgTx) rollback(ctx context.Context) error { return t.end(ctx, "rollback") }

// end ends the transaction with stmt, commit or rollback, when its BEGIN
// was sent, and releases the connection.
func (t *pgTx) end(ctx context.Context, stmt string) error {
	if t.conn == nil {
		return nil
	}
	defer t.release()
	if !t.begun {
		return nil
	}
	ct, err := t.conn.Exec(ctx, stmt)
	if err == nil && stmt == "commit" && ct.String() != "COMMIT" {
		err = errCommitRolledBack
	}
	return err
}

// release gives the connection back to the pool, which closes it when
// it is still inside a transaction (after a failure).
func (t *pgTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// myDB is a database/sql pool of go-sql-driver/mysql connections.
type myDB struct{ db *sql.DB }

func dialMySQL(t sqlTarget) (*myDB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = t.user, t.password.Reveal()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", net.JoinHostPort(t.host, strconv.Itoa(int(t.port))), t.database
	cfg.Timeout = t.connectTimeout
	cfg.Loc = time.UTC
	// Arguments are written into the statement by the driver, exactly
	// (integers, shortest round-trip floats, _binary'…' bytes), saving
	// the prepare round trip per statement; the statements of an exec
	// then go in one request (myTx.exec).
	cfg.InterpolateParams = true
	cfg.MultiStatements = true
	// A TIMESTAMP argument is a UTC time: the session reads it so.
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	switch t.sslmode {
	case "disable":
		cfg.TLSConfig = "false"
	case "prefer":
		cfg.TLSConfig = "preferred"
	case "require":
		cfg.TLSConfig = "skip-verify"
	case "verify-full":
		cfg.TLSConfig = "true"
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql target %s: %v", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(int(t.poolSize))
	db.SetMaxIdleConns(int(t.poolSize))
	return &myDB{db: db}, nil
}

func (d *myDB) Close() error { return d.db.Close() }

func (d *myDB) begin(ctx context.Context) (sqlTx, error) {
	// database/sql rolls a transaction back when the context it began
	// with ends: that is the request's, and the transaction outlives it.
	// The instance's end rolls it back instead; the dial is bounded by
	// connect_timeout.
	conn, err := d.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return myTx{conn: conn, tx: tx}, nil
}

func (d *myDB) query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error) {
	rows, err := d.db.QueryContext(ctx, st.SQL, sqlArgs(wire.CapMySQL, st.Args)...)
	if err != nil {
		return false, nil, err
	}
	return myRow(rows)
}

func myRow(rows *sql.Rows) (bool, []wire.SQLColumn, error) {
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return false, nil, err
	}
	if !rows.Next() {
		return false, nil, rows.Err()
	}
	raw := make([]sql.RawBytes, len(names))
	dst := make([]any, len(names))
	for i := range raw {
		dst[i] = &raw[i]
	}
	if err := rows.Scan(dst...); err != nil {
		return false, nil, err
	}
	cols := make([]wire.SQLColumn, len(names))
	for i, n := range names {
		cols[i] = wire.SQLColumn{Name: n, Null: raw[i] == nil, Value: append([]byte(nil), raw[i]...)}
	}
	return true, cols, rows.Close()
}

// myTx is a transaction on a connection of its own, which exec reaches
// directly for the rows each statement of a request affected.
type myTx struct {
	conn *sql.Conn
	tx   *sql.Tx
}

// myRequestBytes bounds the statements and arguments joined in one
// request, well below the servers' max_allowed_packet (16 MiB by
// default on MariaDB) even when interpolation doubles bytes.
const myRequestBytes = 4 << 20

// myStmtBytes bounds the bytes st takes in a request once interpolated:
// an argument's text escaped, or a number's digits.
func myStmtBytes(st *wire.SQLStatement) int {
	n := len(st.SQL) + 2
	for _, a := range st.Args {
		n += 2*len(a.Text) + 24
	}
	return n
}

// exec sends the statements joined by ";" in as few requests as
// myRequestBytes allows (multiStatements): one round trip for a batch
// of them, as a pgx batch is to PostgreSQL.
func (t myTx) exec(ctx context.Context, stmts []wire.SQLStatement, commit bool) ([]int64, error) {
	out := make([]int64, 0, len(stmts))
	var q strings.Builder
	var args []driver.NamedValue
	for i := 0; i < len(stmts); {
		q.Reset()
		args = args[:0]
		n, size := 0, 0
		for i+n < len(stmts) && (n == 0 || size+myStmtBytes(&stmts[i+n]) <= myRequestBytes) {
			st := &stmts[i+n]
			if n > 0 {
				q.WriteString(";\n")
			}
			q.WriteString(strings.TrimRight(st.SQL, "; \t\r\n"))
			for _, v := range sqlArgs(wire.CapMySQL, st.Args) {
				args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
			}
			size += myStmtBytes(st)
			n++
		}
		err := t.conn.Raw(func(dc any) error {
			r, err := dc.(driver.ExecerContext).ExecContext(ctx, q.String(), args)
			if err != nil {
				return err
			}
			out = append(out, r.(mysql.Result).AllRowsAffected()...)
			return nil
		})
		if err != nil {
			return nil, &stmtError{i: i, last: i + n - 1, err: err}
		}
		i += n
	}
	if commit {
		if err := t.commit(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t myTx) copy(context.Context, []string, string, []byte, bool) (int64, error) {
	return 0, errors.New("copy: only postgres targets take COPY")
}

func (t myTx) query(ctx context.Context, st *wire.SQLStatement) (bool, []wire.SQLColumn, error) {
	rows, err := t.tx.QueryContext(ctx, st.SQL, sqlArgs(wire.CapMySQL, st.Args)...)
	if err != nil {
		return false, nil, err
	}
	return myRow(rows)
}

func (t myTx) commit(context.Context) error {
	defer t.conn.Close()
	return t.tx.Commit()
}

func (t myTx) rollback(context.Context) error {
	defer t.conn.Close()
	return t.tx.Rollback()
}
