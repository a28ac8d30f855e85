package instrument

import (
	"errors"
	"fmt"
)

// Sentinels, wrapped by every *Error that Instrument returns.
var (
	// ErrMalformed: the input is not a well-formed WebAssembly binary
	// (truncated, a bad LEB128, a section or body whose size disagrees with
	// its contents, sections out of order).
	ErrMalformed = errors.New("malformed module")
	// ErrUnsupported: the input uses an opcode, type or section this package
	// does not understand (exception handling, typed function references,
	// GC, relaxed SIMD, memory64, ...). Instrument refuses rather than guess;
	// the host falls back to wazero's WithCloseOnContextDone.
	ErrUnsupported = errors.New("unsupported feature")
	// ErrReserved: the input already uses a name instrumentation adds (it
	// exports ExportInterrupt, typically because it was instrumented
	// before).
	ErrReserved = errors.New("reserved name")
	// ErrOptions: an Options field is out of range.
	ErrOptions = errors.New("invalid options")
)

// Error is a refusal with the place in the input it concerns. It unwraps to
// one of the sentinels above.
type Error struct {
	// Offset is the byte offset in the input Instrument was given.
	Offset int
	// Section names the section ("code", "import", "custom \"name\"", ...),
	// empty for the module header.
	Section string
	// Func is the function index (in the input's numbering) whose body is
	// concerned, or -1.
	Func int
	// Err is the sentinel.
	Err error
	// Detail says what was found.
	Detail string
}

func (e *Error) Error() string {
	where := fmt.Sprintf("offset %#x", e.Offset)
	if e.Section != "" {
		where = e.Section + " section, " + where
	}
	if e.Func >= 0 {
		where += fmt.Sprintf(", function %d", e.Func)
	}
	return fmt.Sprintf("instrument: %s: %v: %s", where, e.Err, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }
