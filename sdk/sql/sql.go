// Package sql is the sql capability: statements on the database targets
// the plugin's grants name (grants = { postgres = ["analytics"] } or
// { mysql = ["replica"] }), run by the host. Importing it makes the module
// need such a grant.
//
// The host owns the connections and the password: the plugin names a
// target and sends statements with typed arguments ($1, $2… for
// PostgreSQL, ? for MySQL and MariaDB). Each argument goes to the server
// as its type: integers as integers, a DECIMAL as its exact digits, a
// TIMESTAMP as a time, bytes as bytes, JSON as JSON, NULL as NULL.
//
// A transaction begun with Begin belongs to the plugin instance: the host
// rolls it back when the instance ends without committing it (a crash, a
// timeout, a failed call). Exec sends all its statements in one request,
// in one round trip to PostgreSQL, and ExecCommit commits in it too; the
// transaction's BEGIN goes with its first request. Copy loads rows into PostgreSQL with
// COPY, and CopyChanges loads the changes the sender was given, written
// by the host from its own copy of them.
//
// Outside Wasm (in unit tests) requests go to the function set with
// sdktest.SQL.
package sql

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
)

// Errors a call may wrap (test with errors.Is).
var (
	// ErrDenied: the target is not granted. Retrying will not help.
	ErrDenied error = wire.ErrnoDenied
	// ErrInvalid: the server refused a statement (syntax, a constraint,
	// a type), or the request was malformed.
	ErrInvalid error = wire.ErrnoInvalid
	// ErrRemote: the connection failed, timed out, or the server gave
	// up the transaction (deadlock, serialisation failure, shutdown).
	// Retrying later may help.
	ErrRemote error = wire.ErrnoRemote
	// ErrLimit: too many statements, too many argument bytes, or a
	// result row too large.
	ErrLimit error = wire.ErrnoLimit
)

// Limits of one request.
const (
	MaxStatements   = wire.MaxSQLStatements
	MaxArgs         = wire.MaxSQLArgs
	MaxRequestBytes = wire.MaxSQLMessage
)

// Arg is a statement argument of a type.
type Arg struct{ a wire.SQLArg }

// Null returns the NULL argument.
func Null() Arg { return Arg{} }

// Int returns an integer argument.
func Int(v int64) Arg { return Arg{wire.SQLArg{Kind: wire.KindInt, Num: uint64(v)}} }

// Uint returns an unsigned integer argument (to PostgreSQL, beyond
// 2^63-1, as its digits for a numeric column).
func Uint(v uint64) Arg { return Arg{wire.SQLArg{Kind: wire.KindUint, Num: v}} }

// Float returns a floating-point argument.
func Float(v float64) Arg { return Arg{wire.SQLArg{Kind: wire.KindDouble, Num: math.Float64bits(v)}} }

// Text returns a text argument.
func Text(s string) Arg { return Arg{wire.SQLArg{Kind: wire.KindString, Text: s}} }

// Bytes returns a binary argument (bytea, BLOB).
func Bytes(b []byte) Arg { return Arg{wire.SQLArg{Kind: wire.KindBytes, Text: string(b)}} }

// Decimal returns an exact decimal argument, [-]digits[.digits].
func Decimal(s string) Arg { return Arg{wire.SQLArg{Kind: wire.KindDecimal, Text: s}} }

// JSON returns a JSON argument (json, jsonb, JSON).
func JSON(s string) Arg { return Arg{wire.SQLArg{Kind: wire.KindJSON, Text: s}} }

// Timestamp returns a point in time (timestamptz, TIMESTAMP), to the
// microsecond.
func Timestamp(t time.Time) Arg {
	return Arg{wire.SQLArg{Kind: wire.KindTimestamp, Text: t.UTC().Format("2006-01-02T15:04:05.999999Z")}}
}

// DateTime returns a wall-clock date and time without a zone (timestamp,
// DATETIME), YYYY-MM-DD HH:MM:SS[.ffffff].
func DateTime(s string) Arg { return Arg{wire.SQLArg{Kind: wire.KindDateTime, Text: s}} }

// Value returns a copy of the argument of a change's value, of its column's kind:
// a DECIMAL's exact digits, a TIMESTAMP as a time, a DATETIME as a wall
// clock, JSON as JSON, bytes as bytes. NULL and absent values are NULL.
func Value(v sdk.Value) Arg {
	if !v.Valid() {
		return Arg{}
	}
	k := wire.Kind(v.Kind())
	switch {
	case k == wire.KindFloat || k == wire.KindDouble:
		return Arg{wire.SQLArg{Kind: k, Num: math.Float64bits(v.Float())}}
	case k == wire.KindUint || k == wire.KindBit:
		return Arg{wire.SQLArg{Kind: k, Num: v.Uint()}}
	case k.Fixed():
		return Arg{wire.SQLArg{Kind: k, Num: uint64(v.Int())}}
	}
	// A copy: the value views the batch, and an argument may be kept
	// for a request made after the sender returns (in Flush).
	return Arg{wire.SQLArg{Kind: k, Text: strings.Clone(v.Text())}}
}

// AppendValue is Value without a copy of its own: it appends v's text
// (the text of a string, bytes, decimal, time and like value; nothing for
// a number or NULL) to dst and returns the argument viewing those bytes,
// which must then stay unchanged until the argument is sent (appending
// to dst does not change them). A sender that keeps one buffer for a
// call's arguments makes them without an allocation each.
func AppendValue(dst []byte, v sdk.Value) ([]byte, Arg) {
	k := wire.Kind(v.Kind())
	if !v.Valid() || k.Fixed() {
		return dst, Value(v)
	}
	start := len(dst)
	dst = append(dst, v.Text()...)
	return dst, Arg{wire.SQLArg{Kind: k, Text: unsafe.String(unsafe.SliceData(dst[start:]), len(dst)-start)}}
}

// Size returns the bytes the argument takes in a request message, to
// keep requests below MaxRequestBytes.
func (a Arg) Size() int {
	if a.a.Kind == wire.SQLNull {
		return 1
	}
	if a.a.Kind.Fixed() {
		return 9
	}
	return 5 + len(a.a.Text)
}

// Size returns the bytes the statement takes in a request message.
func (s *Statement) Size() int {
	n := 6 + len(s.SQL)
	for _, a := range s.Args {
		n += a.Size()
	}
	return n
}

// Statement is a statement and its arguments.
type Statement struct {
	SQL  string
	Args []Arg
}

// Row is a query's first row: Found is false when there was none. The
// values are the columns' text as the server sends it; they are copies.
type Row struct {
	Found   bool
	Columns []Column
}

// Column is one value of a Row.
type Column struct {
	Name  string
	Null  bool
	Value string
}

// Get returns the named column's value, and false when it is NULL or
// missing.
func (r Row) Get(name string) (string, bool) {
	for _, c := range r.Columns {
		if c.Name == name {
			return c.Value, !c.Null
		}
	}
	return "", false
}

// Tx is a transaction on a target. Timeout, when set, bounds each of
// its requests (default 30 s, at most 5 min); the plugin's timeout bounds
// the call too.
type Tx struct {
	target  string
	Timeout time.Duration
	done    bool
}

// Begin opens a transaction on target.
func Begin(target string) (*Tx, error) {
	tx := &Tx{target: target}
	if _, err := tx.call(wire.SQLBegin, nil); err != nil {
		return nil, err
	}
	return tx, nil
}

// ErrDone is returned by calls on a transaction already committed or
// rolled back, or ended by a failed call (the host rolls it back).
var ErrDone = errors.New("sql: the transaction has ended")

// Exec runs stmts in order in the transaction and returns the rows each
// affected (-1 when the server does not say). When one fails the host
// rolls the transaction back: the error names the statement.
func (tx *Tx) Exec(stmts ...Statement) ([]int64, error) {
	if tx.done {
		return nil, ErrDone
	}
	res, err := tx.call(wire.SQLExec, stmts)
	if err != nil {
		tx.done = true
		return nil, err
	}
	return wire.ParseSQLExecResult(res)
}

// Copy (PostgreSQL targets) runs copySQL, a COPY … FROM STDIN, in the
// transaction with rows as its data: width arguments a row, each written
// as the text the server parses exactly for its kind (section 6 of
// hostabi/ABI.md). It returns the rows copied. The rows go in one request
// and one COPY stream, so a bulk load costs two round trips however many
// rows it has. When it fails the host rolls the transaction back.
func (tx *Tx) Copy(copySQL string, width int, rows []Arg) (int64, error) {
	if tx.done {
		return 0, ErrDone
	}
	if width < 1 || width > wire.MaxSQLArgs || len(rows)%width != 0 {
		return 0, errors.New("sql: copy of " + strconv.Itoa(len(rows)) + " arguments in rows of " + strconv.Itoa(width) + ": want whole rows of 1 to 65535")
	}
	// A statement holds at most MaxSQLArgs arguments: the rows continue
	// in statements without SQL.
	per := wire.MaxSQLArgs / width * width
	stmts := copyStmts[:0]
	for i := 0; i == 0 || i < len(rows); i += per {
		st := Statement{Args: rows[i:min(i+per, len(rows))]}
		if i == 0 {
			st.SQL = copySQL
		}
		stmts = append(stmts, st)
	}
	copyStmts = stmts
	return tx.copied(tx.callWidth(wire.SQLCopy, uint16(width), stmts))
}

// copied returns the rows a copy's result counts.
func (tx *Tx) copied(res []byte, err error) (int64, error) {
	if err != nil {
		tx.done = true
		return 0, err
	}
	n, err := wire.ParseSQLExecResult(res)
	if err != nil || len(n) != 1 {
		return 0, errors.New("sql: malformed copy result")
	}
	return n[0], nil
}

var copyStmts []Statement

// Change names the image of a change the sender was given in the call
// (its batch's sdk.Batch.GroupIndex and its sdk.Row.Index), for
// CopyChanges. Mark, when the
// copy is numbered, is an ASCII letter or digit the host writes after
// the row's number.
type Change struct {
	Batch, Index int
	After        bool
	Mark         byte
}

// CopyChanges (PostgreSQL targets) runs copySQL, a COPY … FROM STDIN,
// in the transaction with one row for each of rows, which the host
// writes from the change it holds: the columns (indexes into the
// change's table) of the image, each as Copy would write its Value, after
// the row's number in the copy (from 0) and its mark when numbered. The
// values never pass through the plugin, which makes it the cheapest way
// to load many changes. Rows name changes of the current call only
// (Sender, and Flush after a group's batches). It returns the rows
// copied; when it fails the host rolls the transaction back.
func (tx *Tx) CopyChanges(copySQL string, columns []int, numbered bool, rows []Change) (int64, error) {
	return tx.CopyChangesAfter(nil, copySQL, columns, numbered, rows)
}

// CopyChangesAfter is CopyChanges after the statements of before, which
// take no arguments (a CREATE TEMPORARY TABLE the COPY fills, say): they
// go to the server with the COPY, in its round trip.
func (tx *Tx) CopyChangesAfter(before []string, copySQL string, columns []int, numbered bool, rows []Change) (int64, error) {
	var flags byte
	if numbered {
		flags = wire.SQLCopyNumbered
	}
	return tx.copyChanges(before, copySQL, columns, flags, rows)
}

// TryCopyChanges is CopyChangesAfter undone when a row would repeat a
// key of the table (a unique violation): the host runs it after a
// savepoint and rolls back to it then, so the transaction goes on
// without the copy and ok is false. Another failure ends the
// transaction, as CopyChanges' do. It needs a transaction begun.
func (tx *Tx) TryCopyChanges(before []string, copySQL string, columns []int, numbered bool, rows []Change) (n int64, ok bool, err error) {
	flags := byte(wire.SQLCopyTentative)
	if numbered {
		flags |= wire.SQLCopyNumbered
	}
	n, err = tx.copyChanges(before, copySQL, columns, flags, rows)
	return n, err == nil && n >= 0, err
}

func (tx *Tx) copyChanges(before []string, copySQL string, columns []int, flags byte, rows []Change) (int64, error) {
	numbered := flags&wire.SQLCopyNumbered != 0
	if tx.done {
		return 0, ErrDone
	}
	if len(columns) < 1 || len(columns) > wire.MaxSQLArgs {
		return 0, errors.New("sql: copy of " + strconv.Itoa(len(columns)) + " columns: want 1 to 65535")
	}
	cols := make([]uint16, len(columns))
	for i, c := range columns {
		if c < 0 || c > 65535 {
			return 0, errors.New("sql: copy of column " + strconv.Itoa(c))
		}
		cols[i] = uint16(c)
	}
	refs := make([]wire.SQLChangeRef, len(rows))
	for i, r := range rows {
		if r.Batch < 0 || r.Index < 0 || numbered && !wire.IsMark(r.Mark) || !numbered && r.Mark != 0 {
			return 0, errors.New("sql: copy row " + strconv.Itoa(i) + ": a change of batch " + strconv.Itoa(r.Batch) + " index " + strconv.Itoa(r.Index) + " mark " + strconv.Itoa(int(r.Mark)))
		}
		refs[i] = wire.SQLChangeRef{Batch: uint32(r.Batch), Change: uint32(r.Index), After: r.After, Mark: r.Mark}
	}
	stmts := make([]Statement, 0, len(before)+1)
	for _, b := range before {
		stmts = append(stmts, Statement{SQL: b})
	}
	stmts = append(stmts, Statement{SQL: copySQL})
	return tx.copied(tx.request(wire.SQLCopyChanges, uint16(len(cols)), stmts, func(dst []byte) []byte {
		return wire.AppendSQLChangeRefs(dst, cols, flags, refs)
	}))
}

// ExecCommit runs stmts in order in the transaction, as Exec does, then
// commits it: to PostgreSQL in the same round trip. The transaction has
// ended either way.
func (tx *Tx) ExecCommit(stmts ...Statement) ([]int64, error) {
	if tx.done {
		return nil, ErrDone
	}
	tx.done = true
	res, err := tx.call(wire.SQLExecCommit, stmts)
	if err != nil {
		return nil, err
	}
	return wire.ParseSQLExecResult(res)
}

// Query runs one statement in the transaction and returns its first row.
func (tx *Tx) Query(sql string, args ...Arg) (Row, error) {
	if tx.done {
		return Row{}, ErrDone
	}
	res, err := tx.call(wire.SQLQuery, []Statement{{SQL: sql, Args: args}})
	if err != nil {
		tx.done = true
		return Row{}, err
	}
	return parseRow(res)
}

// Commit commits the transaction.
func (tx *Tx) Commit() error {
	if tx.done {
		return ErrDone
	}
	tx.done = true
	_, err := tx.call(wire.SQLCommit, nil)
	return err
}

// Rollback rolls the transaction back; after it ended, it does nothing.
func (tx *Tx) Rollback() error {
	if tx.done {
		return nil
	}
	tx.done = true
	_, err := tx.call(wire.SQLRollback, nil)
	return err
}

// Exec runs stmts on target in a transaction of their own, committed
// when all succeed.
func Exec(target string, stmts ...Statement) ([]int64, error) {
	res, err := (&Tx{target: target}).call(wire.SQLExec, stmts)
	if err != nil {
		return nil, err
	}
	return wire.ParseSQLExecResult(res)
}

// Query runs one statement on target, outside any transaction, and
// returns its first row.
func Query(target, sql string, args ...Arg) (Row, error) {
	res, err := (&Tx{target: target}).call(wire.SQLQuery, []Statement{{SQL: sql, Args: args}})
	if err != nil {
		return Row{}, err
	}
	return parseRow(res)
}

func parseRow(res []byte) (Row, error) {
	found, cols, err := wire.ParseSQLQueryResult(res)
	if err != nil {
		return Row{}, errors.New("sql: malformed result message " + err.Error())
	}
	r := Row{Found: found, Columns: make([]Column, len(cols))}
	for i, c := range cols {
		r.Columns[i] = Column{Name: c.Name, Null: c.Null, Value: string(c.Value)}
	}
	return r, nil
}

var msg []byte

// call encodes and performs one request; the result views a buffer
// valid until the next call.
func (tx *Tx) call(op wire.SQLOp, stmts []Statement) ([]byte, error) {
	return tx.callWidth(op, 0, stmts)
}

func (tx *Tx) callWidth(op wire.SQLOp, width uint16, stmts []Statement) ([]byte, error) {
	return tx.request(op, width, stmts, nil)
}

// request encodes and performs one request; tail, when set, appends
// what follows the statements.
func (tx *Tx) request(op wire.SQLOp, width uint16, stmts []Statement, tail func([]byte) []byte) ([]byte, error) {
	q := wire.SQLRequest{Op: op, Target: tx.target}
	if tx.Timeout > 0 {
		q.TimeoutMS = uint32(max(1, min(tx.Timeout, time.Hour)/time.Millisecond))
	}
	msg = append(msg[:0], wire.SQLMessageVersion, byte(op), byte(width), byte(width>>8))
	msg = appendStr(msg, tx.target)
	msg = appendU32(msg, q.TimeoutMS)
	msg = appendU32(msg, uint32(len(stmts)))
	var ws wire.SQLStatement
	for _, s := range stmts {
		ws.SQL = s.SQL
		ws.Args = ws.Args[:0]
		for _, a := range s.Args {
			ws.Args = append(ws.Args, a.a)
		}
		msg = wire.AppendSQLStatement(msg, &ws)
	}
	if tail != nil {
		msg = tail(msg)
	}
	return do(op, tx.target, msg)
}

func appendStr(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func opName(op wire.SQLOp) string {
	switch op {
	case wire.SQLBegin:
		return "begin"
	case wire.SQLExec:
		return "exec"
	case wire.SQLQuery:
		return "query"
	case wire.SQLCommit:
		return "commit"
	case wire.SQLCopy:
		return "copy"
	case wire.SQLCopyChanges:
		return "copy_changes"
	case wire.SQLExecCommit:
		return "exec_commit"
	}
	return "rollback"
}
