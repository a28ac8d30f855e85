// Package wire is the Puma plugin ABI (v2, and v1, which it extends) in code: the names of the exports a
// plugin provides and of the host functions it may import, the status and
// error codes, and the flat little-endian encoding of batches, table
// schemas and replies (verdicts).
//
// It imports only the standard library, so the host (hostabi) and the guest
// SDK (sdk) share it and cannot drift apart. hostabi/ABI.md is the normative
// description; this package implements it. Decoders never panic on
// malformed input: they return an error carrying the byte offset.
package wire

import "strconv"

// Version is the newest ABI version this package speaks, the one the SDK
// builds modules for. A module declares the version it was built for by
// exporting a function named ExportABIPrefix followed by the decimal
// version ("puma_abi_v2"); the host speaks every version from MinVersion
// to Version, and tells the module which in the Init message.
const Version = 2

// MinVersion is the oldest ABI version the host still speaks. v2 is v1
// plus the patch verdict (VerdictPatch); a v1 module is called exactly as
// before.
const MinVersion = 1

// Names of the functions a plugin module exports.
const (
	// ExportInitialize is the WASI reactor initialiser, called first when
	// present.
	ExportInitialize = "_initialize"
	// ExportABIPrefix + version is the marker export declaring the ABI
	// version; the host never calls it.
	ExportABIPrefix = "puma_abi_v"
	// ExportABI is the marker of Version.
	ExportABI = "puma_abi_v2"
	// ExportABIV1 is the marker of ABI v1.
	ExportABIV1 = "puma_abi_v1"
	// ExportAlloc is alloc(size u32) -> ptr u32: a guest-owned buffer of at
	// least size bytes that the host writes its next message into. It stays
	// valid until the next call to ExportAlloc.
	ExportAlloc = "puma_alloc"
	// ExportInit is init(ptr, len u32) -> reply u64, called once per
	// instance with an Init message.
	ExportInit = "puma_init"
	// ExportHandle is handle(ptr, len u32) -> reply u64: a handler's entry
	// point, given a Batch message.
	ExportHandle = "puma_handle"
	// ExportSend is send(ptr, len u32) -> reply u64: a sender's entry point,
	// given a Batch message.
	ExportSend = "puma_send"
	// ExportSendGroup is send_group(ptr, len u32) -> reply u64, optional:
	// a sender's entry point for a Group message, several consecutive
	// batches in one call (group commit). A sender without it gets one
	// ExportSend call per batch.
	ExportSendGroup = "puma_send_group"
	// ExportClose is close() -> reply u64, optional, called before a
	// graceful shutdown of the instance.
	ExportClose = "puma_close"
)

// ImportModule is the one import module holding Puma's host functions.
const ImportModule = "puma"

// Host functions in ImportModule. Each belongs to a capability (see
// Capability); a module importing a function whose capability the plugin
// was not granted is refused at load.
const (
	// ImportLog is log(level i32, ptr, len u32): a log line. Always allowed.
	ImportLog = "log"
	// ImportLastError is last_error(ptr, cap u32) -> len i32: copies the
	// message of the last failed host call (at most cap bytes) and returns
	// its full length. Always allowed.
	ImportLastError = "last_error"
	// ImportSafepoint is safepoint() -> (): does nothing. The host's
	// load-time instrumentation (hostabi/instrument) makes every module
	// import it and call it periodically from loops, so that a spinning
	// guest returns to Go where the garbage collector can stop it. Always
	// allowed; a plugin has no reason to import it itself.
	ImportSafepoint = "safepoint"
	// ImportEnvelope is envelope(ptr, cap, from, opts u32) -> i64: writes
	// the JSON envelopes (as the built-in senders write them) of the
	// changes of the batch being handled, from index from on, each
	// followed by the byte in opts' low 8 bits, into the cap bytes at ptr:
	// as many whole ones as fit. opts' higher bits are the sender's
	// EnvelopeFlags (0: the defaults); the host counts the transaction's
	// events (total_order, data_collection_order) from the batch opening
	// it, as sdk/envelope does. It
	// returns count<<32 | bytes written; when not even the first fits,
	// count is 0 and bytes is the size that one needs. Or an Errno (no
	// batch is being handled, from beyond its end). Always allowed: it
	// renders what the plugin was given, in the host, which is several
	// times faster than doing so inside Wasm.
	ImportEnvelope = "envelope"
	// ImportGroupBatch is group_batch(index u32) -> i32: during
	// ExportSendGroup, makes batch index of the group (from 0) the batch
	// ImportEnvelope renders; it is batch 0 when the call starts. Returns
	// 0, or an Errno (no group is being sent, index beyond its end).
	// Always allowed.
	ImportGroupBatch = "group_batch"
	// ImportAppliedPosition is applied_position(ptr, len u32) -> i32:
	// during a sender's ExportInit only, declares that the sender keeps,
	// at its destination, the position it has durably applied, and reports
	// it: the len bytes at ptr are a position token ImportCommitPosition
	// gave an earlier instance, or empty for none yet. The host then hands
	// the sender whole transactions only and never one the position
	// includes. Returns 0, or an Errno (not in a sender's init, a token
	// the host cannot read). Always allowed.
	ImportAppliedPosition = "applied_position"
	// ImportCommitPosition is commit_position(ptr, cap u32) -> i32: copies
	// at most cap bytes of the position token of the current batch's
	// commit (the batch ImportGroupBatch selected during ExportSendGroup)
	// and returns its full length; ErrnoNotFound when the batch does not
	// close its transaction. Always allowed.
	ImportCommitPosition = "commit_position"

	// ImportFileOpen is file_open(path_ptr, path_len u32, flags u32) -> i64:
	// opens a file for appending, returning a handle >= 0 or an Errno.
	ImportFileOpen = "file_open"
	// ImportFileWrite is file_write(h i32, ptr, len u32) -> i32: appends
	// all of the bytes or fails (Errno).
	ImportFileWrite = "file_write"
	// ImportFileSync is file_sync(h i32) -> i32: fsync.
	ImportFileSync = "file_sync"
	// ImportFileSize is file_size(h i32) -> i64: the file's size.
	ImportFileSize = "file_size"
	// ImportFileTruncate is file_truncate(h i32, size i64) -> i32: cuts the
	// file to size (to undo a partial write).
	ImportFileTruncate = "file_truncate"
	// ImportFileRotate is file_rotate(h i32) -> i32: renames the file to
	// "<name>.<unix-nanos>", syncs its directory and reopens an empty file
	// under the original name with the same handle.
	ImportFileRotate = "file_rotate"
	// ImportFileClose is file_close(h i32) -> i32.
	ImportFileClose = "file_close"

	// ImportStdoutWrite is stdout_write(ptr, len u32) -> i32: writes to the
	// process's standard output, whole, serialised with every other writer.
	ImportStdoutWrite = "stdout_write"
)

// Capabilities: the names of grants in a plugin's `grants` table.
const (
	CapFiles  = "files"
	CapStdout = "stdout"
)

// Capability returns the grant a host function in ImportModule needs: ""
// for the functions every plugin may import, ok false for an unknown name.
func Capability(importName string) (grant string, ok bool) {
	grant, ok = capabilities[importName]
	return grant, ok
}

// File open flags for ImportFileOpen.
const (
	// OpenTrimToNewline cuts the file after its last '\n' when opening it:
	// a line torn by a crash was never acknowledged and is written again.
	OpenTrimToNewline = 1
)

// Errno is a host function's failure, returned as a negative number; the
// message is available from ImportLastError.
type Errno int32

// Host function error codes.
const (
	ErrnoDenied    Errno = -1 // the path or operation is outside the grant
	ErrnoInvalid   Errno = -2 // a bad argument (path, flag, out-of-bounds pointer)
	ErrnoBadHandle Errno = -3 // no such open handle
	ErrnoIO        Errno = -4 // the operating system failed the operation
)

func (e Errno) Error() string {
	switch e {
	case ErrnoDenied:
		return "denied"
	case ErrnoInvalid:
		return "invalid argument"
	case ErrnoBadHandle:
		return "bad handle"
	case ErrnoIO:
		return "i/o error"
	case ErrnoNotFound:
		return "not found"
	case ErrnoLimit:
		return "limit exceeded"
	case ErrnoRemote:
		return "remote error"
	}
	return "errno " + strconv.Itoa(int(e))
}

// Log levels for ImportLog; they are log/slog's.
const (
	LogDebug int32 = -4
	LogInfo  int32 = 0
	LogWarn  int32 = 4
	LogError int32 = 8
)

// Role says what a plugin instance is configured as; it is in the Init
// message.
type Role uint8

// Roles.
const (
	RoleHandler Role = 1
	RoleSender  Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleHandler:
		return "handler"
	case RoleSender:
		return "sender"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// Status heads every reply.
type Status uint8

// Statuses.
const (
	StatusOK    Status = 0 // the call succeeded (per-row verdicts may still be errors)
	StatusRetry Status = 1 // the call failed; retrying later may succeed
	StatusFatal Status = 2 // the call failed; retrying will not help
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusRetry:
		return "retryable error"
	case StatusFatal:
		return "fatal error"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Message types: the first byte of every message.
const (
	MsgInit  = 1
	MsgBatch = 2
	MsgReply = 3
	MsgGroup = 4
)

// Record tags: the first byte of each record in a Batch or Reply.
const (
	RecTable   = 1 // a table schema (Table)
	RecChange  = 2 // a change (in a Batch)
	RecVerdict = 3 // a verdict (in a Reply)
)

// Batch flags.
const (
	BatchBegin  = 1 // the batch opens its transaction
	BatchCommit = 2 // the batch closes its transaction; a Commit block follows the Tx block
	BatchTx     = 4 // a Tx block follows the header
)

// Change flags.
const (
	ChangeBefore = 1 // a before image is present
	ChangeAfter  = 2 // an after image is present
	ChangeRoute  = 4 // a routing key is present
)

// Op is what a change did; the byte values are the envelope's op letters
// (DDL is 'D', written "ddl" in the envelope).
type Op byte

// Ops.
const (
	OpInsert   Op = 'c'
	OpUpdate   Op = 'u'
	OpDelete   Op = 'd'
	OpTruncate Op = 't'
	OpRead     Op = 'r' // snapshot read, reserved
	OpDDL      Op = 'D'
)

// Valid reports whether o is one of the ops.
func (o Op) Valid() bool {
	switch o {
	case OpInsert, OpUpdate, OpDelete, OpTruncate, OpRead, OpDDL:
		return true
	}
	return false
}

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

// Kind is a column's value type; the numbers are engine.Kind's.
type Kind uint8

// Kinds. Fixed kinds take 8 bytes; the others a u32 length and bytes.
const (
	KindInt       Kind = 1  // int64 (fixed)
	KindUint      Kind = 2  // uint64 (fixed)
	KindFloat     Kind = 3  // float32 widened to float64 bits (fixed)
	KindDouble    Kind = 4  // float64 bits (fixed)
	KindDecimal   Kind = 5  // exact decimal text
	KindString    Kind = 6  // UTF-8 text
	KindBytes     Kind = 7  // bytes
	KindDate      Kind = 8  // YYYY-MM-DD
	KindTime      Kind = 9  // [-]HH:MM:SS[.ffffff]
	KindDateTime  Kind = 10 // YYYY-MM-DD HH:MM:SS[.ffffff]
	KindTimestamp Kind = 11 // RFC 3339 UTC, or 0000-00-00 00:00:00
	KindYear      Kind = 12 // int64 (fixed)
	KindBit       Kind = 13 // uint64 (fixed)
	KindEnum      Kind = 14 // text
	KindSet       Kind = 15 // text, members joined by ','
	KindJSON      Kind = 16 // JSON text
	KindGeometry  Kind = 17 // bytes: SRID (4 bytes LE) + WKB
	KindUUID      Kind = 18 // text: MariaDB UUID, 8-4-4-4-12 lower-case hex
	KindInet      Kind = 19 // text: MariaDB INET4 dotted quad or INET6 (RFC 5952)
)

// MaxKind is the highest Kind of ABI v1.
const MaxKind = KindInet

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

// Valid reports whether k is a kind of this ABI version.
func (k Kind) Valid() bool { return k >= KindInt && k <= MaxKind }

// Fixed reports whether values of k take 8 bytes (numbers) rather than a
// length and bytes.
func (k Kind) Fixed() bool {
	switch k {
	case KindInt, KindUint, KindFloat, KindDouble, KindYear, KindBit:
		return true
	}
	return false
}

// Key kinds of a Table.
const (
	KeyNone    = 0
	KeyPrimary = 1 // the table's primary key
	KeyConfig  = 2 // key_columns from the task's config
	KeyRow     = 3 // no key: the whole row is the key
)

// Column flags.
const (
	ColUnsigned = 1
	ColNullable = 2
)

// States of a column in a patch verdict.
const (
	PatchNull  = 1 // the column becomes NULL
	PatchValue = 2 // a value of the column's kind follows
)

// Image slots: 0 and 1 are states, any other value is an offset.
const (
	SlotAbsent = 0 // the image does not carry the column
	SlotNull   = 1 // SQL NULL
)

// OutputTable is set in the IDs of tables a handler declares in its
// replies; the host's IDs never have it.
const OutputTable = 1 << 31

// Limits.
const (
	// MaxMessage is the largest message either side writes or accepts.
	MaxMessage = 1 << 30
	// MaxColumns is the most columns a table may have.
	MaxColumns = 1<<16 - 1
)

// PackReply packs a reply's location as the u64 the entry points return:
// ptr in the high 32 bits, len in the low 32.
func PackReply(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// UnpackReply is PackReply's inverse.
func UnpackReply(v uint64) (ptr, n uint32) { return uint32(v >> 32), uint32(v) }

// Verdict is a handler's answer for one input change.
type Verdict uint8

// Verdicts. An input change without a verdict record is kept.
const (
	VerdictKeep    Verdict = 0 // pass the change on unchanged
	VerdictDrop    Verdict = 1 // drop the change
	VerdictReplace Verdict = 2 // pass on the one change carried instead
	VerdictEmit    Verdict = 3 // pass on the n changes carried instead (0 = drop)
	VerdictError   Verdict = 4 // the change failed: a code and a message
	VerdictRoute   Verdict = 5 // keep the change, setting its routing key
	// VerdictPatch (ABI v2) keeps the change with some values of its
	// after image replaced: a list of (column, value) in the input table's
	// shape, and optionally a routing key. See Patch.
	VerdictPatch Verdict = 6
)

// Error codes of error verdicts (verdict 4) that Puma defines; a
// plugin's own codes start at 100. The host does not act on a code: it is
// part of the change's error, for people. sdk.CodeConfig and the others
// document each.
const (
	CodeUnspecified uint32 = 0
	CodeConfig      uint32 = 1 // the plugin's configuration cannot handle the change
	CodeHost        uint32 = 2 // a capability the plugin called failed
	CodeValue       uint32 = 3 // a value set does not fit its column's kind
	CodeData        uint32 = 4 // the change's own data cannot be handled
)

func (v Verdict) String() string {
	switch v {
	case VerdictKeep:
		return "keep"
	case VerdictDrop:
		return "drop"
	case VerdictReplace:
		return "replace"
	case VerdictEmit:
		return "emit"
	case VerdictError:
		return "error"
	case VerdictRoute:
		return "route"
	case VerdictPatch:
		return "patch"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}
