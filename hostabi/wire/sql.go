package wire

import (
	"encoding/binary"
	"math"
	"strconv"
)

// Host functions of the sql capability (in ImportModule), which reaches
// the database targets of puma.toml's [targets] whose kind is postgres or
// mysql. hostabi/ABI.md section 6.6 describes them.
const (
	// ImportSQLCall is sql_call(ptr, len u32) -> i64: performs the SQL
	// request encoded at ptr (see SQLRequest: begin, exec, query, commit
	// or rollback on a granted target) and returns the length of its
	// result message, which ImportSQLResult then copies, or an Errno.
	ImportSQLCall = "sql_call"
	// ImportSQLResult is sql_result(ptr, cap u32) -> i32: copies at most
	// cap bytes of the last result message (see SQLResult) and returns
	// its full length.
	ImportSQLResult = "sql_result"
)

// CapSQL is the capability of the sql host functions. It has no grant of
// its own: it is granted with a database target, whose kind names the
// grant (grants = { postgres = ["analytics"] } or { mysql = ["replica"] }).
const CapSQL = "sql"

// Kinds of database target, and the names of their grants.
const (
	CapPostgres = "postgres"
	CapMySQL    = "mysql"
)

// SQLOp is what an SQL request does.
type SQLOp uint8

// SQL request operations.
const (
	// SQLBegin opens a transaction on the target; the instance holds it
	// until SQLCommit or SQLRollback, or until the instance ends (then it
	// is rolled back).
	SQLBegin SQLOp = 1
	// SQLExec runs the request's statements in order, inside the open
	// transaction, or, when none is open, inside one of their own that
	// commits when all succeed.
	SQLExec SQLOp = 2
	// SQLQuery runs the request's one statement and returns its first
	// row.
	SQLQuery SQLOp = 3
	// SQLCommit commits the open transaction.
	SQLCommit SQLOp = 4
	// SQLRollback rolls the open transaction back (none open: no-op).
	SQLRollback SQLOp = 5
	// SQLCopy (PostgreSQL) runs the first statement, a COPY … FROM STDIN,
	// with the request's arguments as its rows, Width at a time: the
	// other statements carry no SQL, only more rows. The rows go in one
	// COPY stream, inside the open transaction or one of their own.
	SQLCopy SQLOp = 6
	// SQLCopyChanges (PostgreSQL) runs the one statement, a COPY … FROM
	// STDIN, with rows the host writes from the changes of the call's
	// batches that the request names (SQLChangeRef): Width columns of
	// each change's image, listed in Columns, after the row's number and
	// mark when Numbered. The plugin does not copy the values. The
	// COPY is the last statement: the ones before it, without
	// arguments, run first, in the same round trip.
	SQLCopyChanges SQLOp = 7
	// SQLExecCommit runs the request's statements in order inside the
	// open transaction, then commits it: to PostgreSQL in one round trip.
	SQLExecCommit SQLOp = 8
)

// SQLChangeRef names the image of a change of the batches being sent:
// the Batch-th of the group (0 outside a group), its Change-th change,
// the after image or the before.
type SQLChangeRef struct {
	Batch  uint32
	Change uint32
	After  bool
	// Mark is the row's mark, an ASCII letter or digit, written after
	// its number when the request is Numbered.
	Mark byte
}

// IsMark reports whether b may be a change row's mark.
func IsMark(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// Limits of SQL requests.
const (
	// MaxSQLStatements bounds the statements of one request.
	MaxSQLStatements = 10000
	// MaxSQLArgs bounds the arguments of one statement (PostgreSQL's
	// and MySQL's own limit of placeholders).
	MaxSQLArgs = 65535
	// MaxSQLMessage bounds a request message: statements and arguments.
	MaxSQLMessage = 32 << 20
	// MaxSQLResult bounds a query's result row.
	MaxSQLResult = 1 << 20
)

// SQLArg is one statement argument, typed by Kind: 0 is NULL; the fixed
// kinds (int, uint, float, double, year, bit) carry Num (int64, uint64 or
// float64 bits); the others Text, in the form section 3.6 of ABI.md gives
// each kind (a DECIMAL's exact digits, a TIMESTAMP in RFC 3339 UTC, JSON
// text, raw bytes).
type SQLArg struct {
	Kind Kind
	Num  uint64
	Text string
}

// SQLNull is the NULL argument.
const SQLNull Kind = 0

// SQLStatement is a statement and its arguments ($1… for PostgreSQL, ?
// for MySQL).
type SQLStatement struct {
	SQL  string
	Args []SQLArg
}

// SQLRequest is the message a plugin passes to ImportSQLCall.
//
//	u8  version = 1
//	u8  op (SQLOp)
//	u16 width (copy, copy_changes: the columns of a row, at least 1;
//	    the others: 0)
//	str target          a target named in the plugin's postgres or mysql grant
//	u32 timeout in milliseconds (0: the host's default)
//	u32 statement count (exec, exec_commit: 1 to MaxSQLStatements;
//	    query: 1; copy_changes: at least 1, the COPY last; else 0)
//	  str sql
//	  u16 argument count
//	    u8  kind (0: NULL)
//	    u64 value           for the fixed kinds
//	    str value           for the others
//	-- copy_changes only (statements without arguments):
//	u16 columns[width]    indexes into each change's columns
//	u8  flags             1: numbered (each row starts with its number
//	                      in the copy, from 0, and its mark); 2:
//	                      tentative (after a savepoint, a unique
//	                      violation undone, count -1)
//	u32 row count
//	  u32 batch           index in the group (0 outside a group)
//	  u32 change          index in the batch
//	  u8  image           0 before, 1 after
//	  u8  mark            an ASCII letter or digit (0 when not numbered)
type SQLRequest struct {
	Op SQLOp
	// Width is the arguments of one row of a copy.
	Width      uint16
	Target     string
	TimeoutMS  uint32
	Statements []SQLStatement
	// Columns, Numbered, Tentative and Changes are a copy_changes
	// request's.
	Columns   []uint16
	Numbered  bool
	Tentative bool
	Changes   []SQLChangeRef
}

// Flags of a copy_changes request.
const (
	// SQLCopyNumbered: each row starts with its number and mark.
	SQLCopyNumbered = 1
	// SQLCopyTentative: the statements and the COPY run after a
	// savepoint; a unique violation rolls back to it, leaving the
	// transaction open, and the count is -1.
	SQLCopyTentative = 2
)

// SQLMessageVersion is the version byte of SQL request messages.
const SQLMessageVersion = 1

// AppendSQLRequest appends the encoding of q to dst.
func AppendSQLRequest(dst []byte, q *SQLRequest) []byte {
	dst = append(dst, SQLMessageVersion, byte(q.Op))
	dst = binary.LittleEndian.AppendUint16(dst, q.Width)
	dst = appendStr(dst, q.Target)
	dst = binary.LittleEndian.AppendUint32(dst, q.TimeoutMS)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(q.Statements)))
	for i := range q.Statements {
		dst = AppendSQLStatement(dst, &q.Statements[i])
	}
	if q.Op == SQLCopyChanges {
		var flags byte
		if q.Numbered {
			flags |= SQLCopyNumbered
		}
		if q.Tentative {
			flags |= SQLCopyTentative
		}
		dst = AppendSQLChangeRefs(dst, q.Columns, flags, q.Changes)
	}
	return dst
}

// AppendSQLChangeRefs appends the tail of a copy_changes request: its
// columns, flags (SQLCopyNumbered, SQLCopyTentative) and change
// references.
func AppendSQLChangeRefs(dst []byte, cols []uint16, flags byte, refs []SQLChangeRef) []byte {
	for _, c := range cols {
		dst = binary.LittleEndian.AppendUint16(dst, c)
	}
	dst = append(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(refs)))
	for _, r := range refs {
		dst = binary.LittleEndian.AppendUint32(dst, r.Batch)
		dst = binary.LittleEndian.AppendUint32(dst, r.Change)
		var img byte
		if r.After {
			img = 1
		}
		dst = append(dst, img, r.Mark)
	}
	return dst
}

// AppendSQLStatement appends one statement of a request to dst.
func AppendSQLStatement(dst []byte, s *SQLStatement) []byte {
	dst = appendStr(dst, s.SQL)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s.Args)))
	for _, a := range s.Args {
		dst = append(dst, byte(a.Kind))
		switch {
		case a.Kind == SQLNull:
		case a.Kind.Fixed():
			dst = binary.LittleEndian.AppendUint64(dst, a.Num)
		default:
			dst = appendStr(dst, a.Text)
		}
	}
	return dst
}

// ParseSQLRequest decodes a request message; its strings are copies.
func ParseSQLRequest(b []byte) (SQLRequest, error) {
	r := reader{b: b}
	var q SQLRequest
	if v := r.u8("version"); r.err == nil && v != SQLMessageVersion {
		r.off--
		r.fail("unknown request version " + strconv.Itoa(int(v)))
	}
	q.Op = SQLOp(r.u8("op"))
	if r.err == nil && (q.Op < SQLBegin || q.Op > SQLExecCommit) {
		r.off--
		r.fail("unknown op " + strconv.Itoa(int(q.Op)))
	}
	q.Width = r.u16("width")
	copies := q.Op == SQLCopy || q.Op == SQLCopyChanges
	if r.err == nil && (q.Width == 0) == copies {
		r.off -= 2
		if copies {
			r.fail("copy with width 0: want the columns of a row")
		} else {
			r.fail("width " + strconv.Itoa(int(q.Width)) + " outside a copy: want 0")
		}
	}
	q.Target = string(r.bytes("target"))
	q.TimeoutMS = r.u32("timeout")
	n := r.u32("statement count")
	if r.err == nil && n > MaxSQLStatements {
		r.off -= 4
		r.fail("statement count " + strconv.Itoa(int(n)) + " exceeds " + strconv.Itoa(MaxSQLStatements))
	}
	if r.err == nil && n > 0 {
		q.Statements = make([]SQLStatement, 0, min(n, 1024))
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		s := SQLStatement{SQL: string(r.bytes("sql"))}
		if r.err == nil && q.Op == SQLCopyChanges && s.SQL == "" {
			r.fail("copy_changes statement " + strconv.Itoa(int(i)) + " without SQL")
		}
		if r.err == nil && q.Op == SQLCopy && (s.SQL == "") == (i == 0) {
			if i == 0 {
				r.fail("copy without its COPY statement")
			} else {
				r.fail("copy statement " + strconv.Itoa(int(i)) + " has SQL: only the first has, the others carry rows")
			}
		}
		na := r.u16("argument count")
		if r.err == nil && q.Op == SQLCopy && na%q.Width != 0 {
			r.off -= 2
			r.fail("copy statement " + strconv.Itoa(int(i)) + ": " + strconv.Itoa(int(na)) + " arguments are not rows of " + strconv.Itoa(int(q.Width)))
		}
		if r.err == nil && na > 0 {
			s.Args = make([]SQLArg, na)
		}
		for j := range s.Args {
			if r.err != nil {
				break
			}
			a := &s.Args[j]
			a.Kind = Kind(r.u8("argument kind"))
			switch {
			case r.err != nil:
			case a.Kind == SQLNull:
			case a.Kind > MaxKind:
				r.off--
				r.fail("unknown argument kind " + strconv.Itoa(int(a.Kind)))
			case a.Kind.Fixed():
				a.Num = r.u64("argument value")
			default:
				a.Text = string(r.bytes("argument value"))
			}
		}
		q.Statements = append(q.Statements, s)
	}
	if r.err == nil && q.Op == SQLCopyChanges {
		for i := range q.Statements {
			if len(q.Statements[i].Args) > 0 {
				r.fail("copy_changes statement " + strconv.Itoa(i) + " has arguments: its statements take none")
				break
			}
		}
		if r.err == nil && n == 0 {
			r.fail("copy_changes without its COPY statement")
		}
		q.Columns = make([]uint16, q.Width)
		for i := range q.Columns {
			q.Columns[i] = r.u16("column")
		}
		flags := r.u8("flags")
		if r.err == nil && flags&^(SQLCopyNumbered|SQLCopyTentative) != 0 {
			r.off--
			r.fail("unknown copy flags " + strconv.Itoa(int(flags)))
		}
		q.Numbered, q.Tentative = flags&SQLCopyNumbered != 0, flags&SQLCopyTentative != 0
		nr := r.u32("row count")
		if r.err == nil && int64(nr)*10 > int64(len(b)-r.off) {
			r.off -= 4
			r.fail("row count " + strconv.Itoa(int(nr)) + " exceeds the message")
		}
		if r.err == nil {
			q.Changes = make([]SQLChangeRef, nr)
		}
		for i := range q.Changes {
			c := &q.Changes[i]
			c.Batch, c.Change = r.u32("batch"), r.u32("change")
			img := r.u8("image")
			c.Mark = r.u8("mark")
			switch {
			case r.err != nil:
				return q, r.error()
			case img > 1:
				r.off -= 2
				r.fail("row " + strconv.Itoa(i) + ": image " + strconv.Itoa(int(img)) + ": want 0 (before) or 1 (after)")
			case q.Numbered && !IsMark(c.Mark) || !q.Numbered && c.Mark != 0:
				r.off--
				r.fail("row " + strconv.Itoa(i) + ": mark " + strconv.Itoa(int(c.Mark)) + ": want an ASCII letter or digit when numbered, else 0")
			}
			c.After = img == 1
		}
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the statements")
	}
	return q, r.error()
}

// SQLResult is the message ImportSQLResult copies out. For exec:
//
//	u32 statement count
//	  i64 rows affected  (-1 when the server does not say)
//
// For query:
//
//	u8  found (0: the statement returned no row)
//	u16 column count
//	  str name
//	  u8  null (1: NULL, and an empty value follows)
//	  str value       the column's text as the server sends it (bytea and
//	                  binary columns: the raw bytes)
//
// Begin, commit and rollback have no result message (sql_call returns 0).
type SQLResult struct {
	Affected []int64
	Found    bool
	Columns  []SQLColumn
}

// SQLColumn is one column of a query's row.
type SQLColumn struct {
	Name  string
	Null  bool
	Value []byte
}

// AppendSQLExecResult appends the result of an exec to dst.
func AppendSQLExecResult(dst []byte, affected []int64) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(affected)))
	for _, n := range affected {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

// ParseSQLExecResult decodes an exec's result message.
func ParseSQLExecResult(b []byte) ([]int64, error) {
	r := reader{b: b}
	n := r.u32("statement count")
	if r.err == nil && int(n) > (len(b)-4)/8 {
		r.fail("statement count " + strconv.Itoa(int(n)) + " exceeds the message")
	}
	var out []int64
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, int64(r.u64("rows affected")))
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the counts")
	}
	return out, r.error()
}

// AppendSQLQueryResult appends the result of a query to dst.
func AppendSQLQueryResult(dst []byte, found bool, cols []SQLColumn) []byte {
	var f byte
	if found {
		f = 1
	}
	dst = append(dst, f)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(cols)))
	for _, c := range cols {
		dst = appendStr(dst, c.Name)
		var null byte
		if c.Null {
			null = 1
		}
		dst = append(dst, null)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(c.Value)))
		dst = append(dst, c.Value...)
	}
	return dst
}

// ParseSQLQueryResult decodes a query's result message; the values view
// b.
func ParseSQLQueryResult(b []byte) (found bool, cols []SQLColumn, err error) {
	r := reader{b: b}
	found = r.u8("found") != 0
	n := r.u16("column count")
	for i := 0; i < int(n) && r.err == nil; i++ {
		c := SQLColumn{Name: string(r.bytes("column name"))}
		c.Null = r.u8("null") != 0
		c.Value = r.bytes("column value")
		cols = append(cols, c)
	}
	if r.err == nil && r.off != len(b) {
		r.fail("trailing bytes after the columns")
	}
	return found, cols, r.error()
}

// SQLFloat returns the argument of a float64.
func SQLFloat(v float64) SQLArg { return SQLArg{Kind: KindDouble, Num: math.Float64bits(v)} }
