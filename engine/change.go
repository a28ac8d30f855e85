package engine

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pumacdc/puma/engine/checkpoint"
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
	case OpInsert:
		return "c"
	case OpUpdate:
		return "u"
	case OpDelete:
		return "d"
	case OpTruncate:
		return "t"
	case OpRead:
		return "r"
	case OpDDL:
		return "ddl"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Kind is the Go representation a column's values take in a Change.
//
// Every value in Change.Before and Change.After is nil (SQL NULL), Absent
// (the image does not carry the column), or the Go type its column's Kind
// names. NULL is always nil, distinct from an empty string or empty bytes.
//
// Time zones: DATE, TIME and DATETIME carry no time zone in MySQL and
// MariaDB and are delivered exactly as stored, whatever the session or
// server time zone. TIMESTAMP is stored as seconds since the epoch (UTC)
// and is delivered in UTC, RFC 3339 with a "Z", whatever the time zone of
// the session that wrote it or of the server: the same instant always
// gives the same text.
//
// Fractional seconds: TIME, DATETIME and TIMESTAMP values carry as many
// fractional digits as the column declares (TIME(3) gives "10:00:00.500",
// DATETIME(0) none), zeros included.
//
// Zero and partial dates (stored when sql_mode lacks NO_ZERO_DATE or
// NO_ZERO_IN_DATE) are not valid calendar dates and are delivered as MySQL
// writes them: DATE "0000-00-00" or "2024-00-15", DATETIME
// "0000-00-00 00:00:00[.ffffff]", and the zero TIMESTAMP
// "0000-00-00 00:00:00[.ffffff]" (the only TIMESTAMP not in RFC 3339).
//
// Text is converted to UTF-8 from the column's character set as the
// server's CONVERT(... USING utf8mb4) converts it ('?' where the server has
// no Unicode character); a column in a character set Puma cannot convert
// stops the task (ErrUnsupportedCharset), and so do bytes that are no
// character of the column's (IllFormedTextError), rather than deliver
// wrong text. JSON is MySQL's JSON type, or MariaDB's
// (a LONGTEXT whose CHECK is json_valid, which the binary log does not
// show: it is recognised from information_schema, as are MariaDB's UUID,
// INET6 and INET4, logged as BINARY(16) and BINARY(4)). A JSON value that
// is not valid JSON (MariaDB with check_constraint_checks=0) is delivered
// as a JSON string of its text.
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
	KindTime                      // string [-]HH:MM:SS[.ffffff], hours up to 838
	KindDateTime                  // string YYYY-MM-DD HH:MM:SS[.ffffff]
	KindTimestamp                 // string RFC 3339 in UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z), or 0000-00-00 00:00:00[.ffffff]
	KindYear                      // int64, 0 for YEAR 0000
	KindBit                       // uint64
	KindEnum                      // string, "" for the invalid-value member 0
	KindSet                       // string, members joined by ','
	KindJSON                      // string holding valid JSON text
	// KindGeometry is []byte as MySQL stores it: a 4-byte little-endian
	// SRID (0 when none was given) followed by the WKB of the geometry.
	KindGeometry
	KindUUID // string, MariaDB UUID as 8-4-4-4-12 lower-case hex
	KindInet // string, MariaDB INET4 (dotted quad) or INET6 (RFC 5952, IPv4-mapped as ::ffff:a.b.c.d)
)

var kindNames = [...]string{
	KindInt: "int", KindUint: "uint", KindFloat: "float", KindDouble: "double",
	KindDecimal: "decimal", KindString: "string", KindBytes: "bytes",
	KindDate: "date", KindTime: "time", KindDateTime: "datetime",
	KindTimestamp: "timestamp", KindYear: "year", KindBit: "bit",
	KindEnum: "enum", KindSet: "set", KindJSON: "json", KindGeometry: "geometry",
	KindUUID: "uuid", KindInet: "inet",
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
	// server logs none (MySQL with gtid_mode=OFF), "file:pos" of its first
	// event. A GTID is the same however often and from whichever server
	// the transaction is read; a file:pos only on the same server.
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
	Op Op
	// Table is the changed table. A DDL change names the first table its
	// statement changes that the task reads, with no columns (the next row
	// of the table brings its new version), or none: a statement changing
	// a database, or one Puma could not parse.
	Table *Table
	// DB and Statement are set for DDL: DB is Table's database, the
	// database the statement changes, or for a statement Puma could not
	// parse its default database (or a database it qualifies a name with).
	DB        string
	Statement string
	// Query is the statement that made a row change, when the task
	// includes queries (TaskConfig.IncludeQuery) and the server logged it.
	Query string
	// Before and After are row images, one value per Table.Columns entry;
	// nil where the op has no such image.
	Before, After []any
	// Seq numbers the change within its transaction, from 1.
	Seq uint32
	// Part numbers, from 1, the changes a handler made of one input change
	// (emitted several rows); 0 for a change that is the only one of its
	// Seq. (Tx.ID, Seq, Part) is the change's idempotency key.
	Part uint16
	Tx   *Tx
	// Timestamp is when the statement making the change started on the
	// source, in seconds since the epoch (binary-log resolution).
	Timestamp int64
	// File and Pos locate the end of the event carrying the change.
	File string
	Pos  uint32
	// Route is the routing key a handler plugin set ("" for none);
	// senders that partition (by Kafka key, NATS subject) use it.
	Route string
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
	// heartbeat is the time of the task's heartbeat row in the
	// transaction this batch commits (zero: none).
	heartbeat time.Time
	// schemas is the encoded schema state (see schemaState) in use at
	// Commit, saved with the checkpoint; set only when Commit is.
	schemas []byte
	// read is when the pipeline took the batch from the reader; set only
	// when Commit is, for the transaction latency metric.
	read time.Time
	// incremental is the incremental snapshot's progress at Commit (nil:
	// none in progress), saved with the checkpoint; set only when Commit
	// is.
	incremental *checkpoint.Incremental
}

// Empty reports whether b carries nothing a sender writes.
func (b *Batch) Empty() bool { return len(b.Changes) == 0 && !b.Begin }
