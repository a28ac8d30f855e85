// Package sdk is what a Puma plugin author imports: register a handler (to
// filter, reshape or route changes) or a sender (to deliver them) in an
// init function, and build the package as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o myplugin.wasm .
//
// A c-shared wasip1 module never runs main, so registration must happen in
// init:
//
//	func init() {
//		sdk.Handler(func(r *sdk.Row) sdk.Verdict {
//			if r.After().String("status") == "test" {
//				return sdk.Drop()
//			}
//			return sdk.Keep()
//		})
//	}
//	func main() {}
//
// The SDK owns the module's exports (the Puma ABI v2, see hostabi/ABI.md):
// it decodes each batch in place, calls the registered function for each
// change, and encodes the verdicts. Reading values allocates nothing;
// strings and byte slices a Row returns view the batch and are valid only
// until the function returns (copy them to keep them).
//
// Everything but the export glue is plain Go and builds for the host too,
// so a plugin's logic can be unit-tested with go test (see sdk/sdktest);
// the package imports only the standard library.
//
// What a plugin may reach beyond its batches is a capability, one package
// each, granted in its `grants` table (importing the package is what makes
// the module need the grant): sdk/files (append-only files), sdk/stdout,
// sdk/http (requests the host makes for it), sdk/secrets (HMAC with a
// secret it never sees), sdk/kv (state kept consistent with the
// checkpoint), sdk/amqp (publishing to RabbitMQ with confirms). sdk/envelope writes the JSON envelope the built-in senders
// write.
package sdk

import (
	"errors"

	"github.com/pumacdc/puma/hostabi/wire"
)

// Kind is a column's value type: how its values are carried and read
// (see Value and hostabi/ABI.md, section 3.6). The numbers are the ABI's.
type Kind uint8

// Kinds. Int, Uint, Float, Double, Year and Bit values are numbers; the
// others are text, except Bytes and Geometry.
const (
	KindInt       Kind = Kind(wire.KindInt)       // signed integers; int64
	KindUint      Kind = Kind(wire.KindUint)      // unsigned integers; uint64
	KindFloat     Kind = Kind(wire.KindFloat)     // FLOAT; a float32, widened exactly
	KindDouble    Kind = Kind(wire.KindDouble)    // DOUBLE; float64
	KindDecimal   Kind = Kind(wire.KindDecimal)   // DECIMAL; exact text [-]digits[.digits]
	KindString    Kind = Kind(wire.KindString)    // text columns, as UTF-8
	KindBytes     Kind = Kind(wire.KindBytes)     // BINARY, VARBINARY, BLOB
	KindDate      Kind = Kind(wire.KindDate)      // YYYY-MM-DD
	KindTime      Kind = Kind(wire.KindTime)      // [-]HH:MM:SS[.ffffff]
	KindDateTime  Kind = Kind(wire.KindDateTime)  // YYYY-MM-DD HH:MM:SS[.ffffff]
	KindTimestamp Kind = Kind(wire.KindTimestamp) // YYYY-MM-DDTHH:MM:SS[.ffffff]Z, or 0000-00-00 00:00:00
	KindYear      Kind = Kind(wire.KindYear)      // YEAR; int64
	KindBit       Kind = Kind(wire.KindBit)       // BIT(n); uint64
	KindEnum      Kind = Kind(wire.KindEnum)      // the member's text
	KindSet       Kind = Kind(wire.KindSet)       // members joined by ','
	KindJSON      Kind = Kind(wire.KindJSON)      // JSON text
	KindGeometry  Kind = Kind(wire.KindGeometry)  // SRID (4 bytes, little-endian) + WKB
	KindUUID      Kind = Kind(wire.KindUUID)      // MariaDB UUID, 8-4-4-4-12 lower-case hex
	KindInet      Kind = Kind(wire.KindInet)      // MariaDB INET4 or INET6 text
)

// String names the kind as errors and logs do: "int", "decimal",
// "timestamp", …; "kind(N)" for a number no kind has.
func (k Kind) String() string { return wire.Kind(k).String() }

// Valid reports whether k is a kind of the ABI the SDK speaks.
func (k Kind) Valid() bool { return wire.Kind(k).Valid() }

// Numeric reports whether values of k are numbers (Int, Uint, Float,
// Double, Year, Bit), read with Value.Int, Uint or Float.
func (k Kind) Numeric() bool { return wire.Kind(k).Fixed() }

// Op is what a change did.
type Op byte

// Ops. The byte values are the envelope's op letters.
const (
	OpInsert   Op = Op(wire.OpInsert)   // "c"
	OpUpdate   Op = Op(wire.OpUpdate)   // "u"
	OpDelete   Op = Op(wire.OpDelete)   // "d"
	OpTruncate Op = Op(wire.OpTruncate) // "t": TRUNCATE TABLE; no images
	OpRead     Op = Op(wire.OpRead)     // "r": snapshot read, reserved
	OpDDL      Op = Op(wire.OpDDL)      // "ddl": a schema change; Row.Statement holds it
)

// String returns the op as the envelope writes it: "c", "u", "d", "t",
// "r" or "ddl"; "op(N)" for a byte no op has.
func (o Op) String() string { return wire.Op(o).String() }

// Valid reports whether o is one of the ops.
func (o Op) Valid() bool { return wire.Op(o).Valid() }

// Init registers f to receive the plugin's config table (from puma.toml)
// as JSON object text when an instance starts ("{}" when there is none).
// An error refuses the plugin: the task does not start. See DecodeConfig.
func Init(f func(config []byte) error) { state.fn.Init = f }

// Handler registers the function called for each change of each batch. It
// returns the change's verdict: Keep, Drop or Fail; values Set on the row
// replace it (as a patch naming only them when they are all in its after
// image and nothing else changed), and rows Emitted replace it with
// several. f must not retain
// r or anything read from it.
func Handler(f func(r *Row) Verdict) { state.fn.Handler = f }

// Prepare registers a function a handler runs on each batch whole, before
// the Handler sees its rows one by one: b.Len and b.Row read the batch as
// a sender reads it, and the Handler then gets the same rows. A handler
// that would make a host call per row makes one per batch here: builtin:
// mask has the MACs of all the batch's values computed at once
// (secrets.MACs). An error fails the batch, as a sender's does; f must
// not retain b or anything read from it beyond the batch.
func Prepare(f func(b *Batch) error) { state.fn.Prepare = f }

// OutputSchema registers the function deciding a handler's output schema:
// it is called once for each version of each input table with out a copy
// of in, which it may change (rename the table, add, drop or rename
// columns). Rows of in are then passed on in out's shape: columns kept or
// renamed carry their input values, added columns are absent until Set.
// When f leaves out unchanged, rows keep in's shape.
func OutputSchema(f func(in *Table, out *Schema)) { state.fn.OutputSchema = f }

// Sender registers the function delivering each batch. It must return nil
// only once the whole batch is durable at its destination; any error means
// nothing of the batch counts as delivered, and the batch is sent again
// later. Wrap errors that retrying cannot cure with Fatal. A batch that does
// not close its transaction (no Commit) may return before it is durable if
// the batch closing the transaction returns only once all of it is: the
// checkpoint moves only to commits. The host may hand the sender several
// batches, of several transactions, in one call (a group); Sender is then
// called for each in order, and Flush (if registered) once after them:
// a sender syncing there (as builtin:jsonl does) syncs once per group.
func Sender(f func(b *Batch) error) { state.fn.Sender = f }

// Flush registers f to run after the Sender accepted every batch of a
// call, before the call returns: once per batch sent alone, once per
// group (group commit: the host hands a sender the batches of several
// consecutive transactions in one call). A sender that makes its writes
// durable in f (an fsync, a flush of a producer) rather than in Sender
// does so once per group. Sender may then return before its batch is
// durable, provided f returns nil only once every batch of the call is;
// an error from f fails the whole call, and the host sends all of its
// batches again.
func Flush(f func() error) { state.fn.Flush = f }

// Close registers f to run when the instance is shut down gracefully.
func Close(f func() error) { state.fn.Close = f }

// Plugin is all of a plugin's functions, for Register.
type Plugin struct {
	Init         func(config []byte) error
	Handler      func(r *Row) Verdict
	Prepare      func(b *Batch) error
	OutputSchema func(in *Table, out *Schema)
	Sender       func(b *Batch) error
	Flush        func() error
	Close        func() error
}

// Register registers every function of p at once, replacing whatever was
// registered before (a nil function unregisters). A module bundling
// several plugins registers a dispatching Init, Handler and Sender in
// init, and its Init then registers the plugin its config selects (and
// calls that plugin's Init itself): from then on the instance is that
// plugin.
func Register(p Plugin) { state.fn = p }

// Role returns how the task runs this instance, "handler" or "sender";
// known from Init on.
func Role() string { return state.role.String() }

// Task returns the name of the task running the plugin, known from Init on.
func Task() string { return state.task }

// Name returns the plugin's name in its task, known from Init on.
func Name() string { return state.name }

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Fatal marks err as one retrying will not cure (a bad configuration, a
// destination refusing the data for good).
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

// IsFatal reports whether err was marked with Fatal.
func IsFatal(err error) bool {
	var f *fatalError
	return errors.As(err, &f)
}
