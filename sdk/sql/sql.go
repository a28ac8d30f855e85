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
// in one round trip to PostgreSQL.
//
// Outside Wasm (in unit tests) requests go to the function set with
// sdktest.SQL.
package sql

import (
	"errors"
	"math"
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
	q := wire.SQLRequest{Op: op, Target: tx.target}
	if tx.Timeout > 0 {
		q.TimeoutMS = uint32(max(1, min(tx.Timeout, time.Hour)/time.Millisecond))
	}
	msg = append(msg[:0], wire.SQLMessageVersion, byte(op), 0, 0)
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
	}
	return "rollback"
}
