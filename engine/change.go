package engine

import (
	"strconv"
	"sync/atomic"

	"github.com/pumacdc/puma/engine/position"
)

// Op is what a change did.
type Op byte

// The ops of a change. Their byte values are the envelope's `op` letters.
const (
	OpInsert   Op = 'c'
	OpUpdate   Op = 'u'
	OpDelete   Op = 'd'
	OpTruncate Op = 't'
	OpRead     Op = 'r' // snapshot read, reserved
	OpDDL      Op = 'D'
)

// String returns the envelope's name of the op.
func (o Op) String() string {
	switch o {
	case OpInsert, OpUpdate, OpDelete, OpTruncate, OpRead:
		return string(rune(o))
	case OpDDL:
		return "ddl"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Kind is the Go representation a column's values take in a Change.
//
// Every value in Change.Before and Change.After is nil (SQL NULL) or the Go
// type its column's Kind names.
type Kind uint8

// Kinds and the Go type of their values.
const (
	KindInt       Kind = iota + 1 // int64
	KindUint                      // uint64
	KindFloat                     // float32
	KindDouble                    // float64
	KindDecimal                   // string, exact decimal text
	KindString                    // string, UTF-8
	KindBytes                     // []byte
	KindDate                      // string YYYY-MM-DD (0000-00-00 kept)
	KindTime                      // string [-]HH:MM:SS[.ffffff]
	KindDateTime                  // string YYYY-MM-DD HH:MM:SS[.ffffff]
	KindTimestamp                 // string RFC 3339 in UTC, or 0000-00-00 00:00:00
	KindYear                      // int64
	KindBit                       // uint64
	KindEnum                      // string
	KindSet                       // string, members joined by ','
	KindJSON                      // string holding JSON text
	KindGeometry                  // []byte, SRID (4 bytes LE) + WKB as MySQL stores it
)

var kindNames = [...]string{
	KindInt: "int", KindUint: "uint", KindFloat: "float", KindDouble: "double",
	KindDecimal: "decimal", KindString: "string", KindBytes: "bytes",
	KindDate: "date", KindTime: "time", KindDateTime: "datetime",
	KindTimestamp: "timestamp", KindYear: "year", KindBit: "bit",
	KindEnum: "enum", KindSet: "set", KindJSON: "json", KindGeometry: "geometry",
}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Column describes one column of a table version.
type Column struct {
	Name     string
	Kind     Kind
	SQLType  byte   // MySQL binary-log type code (real type)
	Meta     uint16 // binary-log type metadata
	Unsigned bool
	Nullable bool
	// Charset is the column's character set ("utf8mb4", "latin1", "binary"),
	// empty for non-character columns.
	Charset string
	// Values are the members of an ENUM or SET column.
	Values []string
}

// KeyKind says where a table's key columns come from.
type KeyKind uint8

// Key kinds.
const (
	KeyPrimary KeyKind = iota + 1 // the table's primary key
	KeyConfig                     // key_columns from the task's config
	KeyRow                        // no key: the whole row image is the key
)

// String names the key kind as the envelope does.
func (k KeyKind) String() string {
	switch k {
	case KeyPrimary:
		return "primary"
	case KeyConfig:
		return "config"
	case KeyRow:
		return "row"
	}
	return "none"
}

// Table is one version of a table's schema, as the binary log described it.
// It is immutable once built and shared by every change made while that
// version was in force.
type Table struct {
	DB, Name string
	Columns  []Column
	// Key lists the indexes of the key columns; with KeyRow it lists every
	// column.
	Key     []int
	KeyKind KeyKind
	// Version increases each time the table's shape changes within a task.
	Version uint64
}

// FullName returns "db.table".
func (t *Table) FullName() string { return t.DB + "." + t.Name }

// Tx describes the transaction a change belongs to. It is shared by all the
// changes of the transaction and immutable once its first batch is emitted.
type Tx struct {
	// ID is the transaction's idempotency identity: its GTID, or when the
	// server logs none, "file:pos" of its first event. It is the same
	// however often and from whichever server the transaction is read.
	ID string
	// GTID is the transaction's GTID, empty when it has none.
	GTID string
	// ServerID is the server that originated the transaction (from the
	// event header).
	ServerID uint32
	// File and Pos locate the transaction's first event.
	File string
	Pos  uint32
}

// Change is one row change, TRUNCATE or DDL statement.
type Change struct {
	Op    Op
	Table *Table // nil for DDL
	// DB and Statement are set for DDL; DB is the statement's default
	// database.
	DB        string
	Statement string
	// Before and After are row images, one value per Table.Columns entry;
	// nil where the op has no such image.
	Before, After []any
	// Seq numbers the change within its transaction, from 1.
	Seq uint32
	Tx  *Tx
	// Timestamp is when the statement making the change started on the
	// source, in seconds since the epoch (binary-log resolution).
	Timestamp int64
	// File and Pos locate the end of the event carrying the change.
	File string
	Pos  uint32
}

// Batch is the unit handed down the pipeline: an ordered slice of one
// transaction's changes, optionally opening it (Begin) and/or closing it
// (Commit). A batch with neither changes nor Begin only advances the
// position (a transaction whose changes were all filtered out, or a
// heartbeat).
//
// The pipeline owns a batch and everything it references; consumers must
// not modify it and must not retain it after acknowledging it.
type Batch struct {
	// Seq numbers batches within a task run, from 1, in order.
	Seq uint64
	// Tx is the transaction the batch belongs to; nil only for a
	// position-only batch.
	Tx *Tx
	// Begin is true when the batch opens its transaction.
	Begin   bool
	Changes []Change
	// Commit is non-nil when the batch closes its transaction: the position
	// just after the commit, where a resume would start.
	Commit *position.Position
	// CommitTime is the commit event's timestamp (seconds), when Commit is
	// set.
	CommitTime int64

	// acks counts the senders that have yet to acknowledge the batch.
	acks atomic.Int32
}

// Empty reports whether b carries nothing a sender writes.
func (b *Batch) Empty() bool { return len(b.Changes) == 0 && !b.Begin }
