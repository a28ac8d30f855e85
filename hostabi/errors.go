package hostabi

import (
	"errors"
	"fmt"
	"strings"
)

// Faults: what went wrong in a plugin. Every error a plugin call returns
// is an *Error wrapping one of them, so callers can test with errors.Is.
var (
	// ErrTrap: the module trapped (unreachable, out-of-bounds access,
	// stack overflow, …), exited, or, for a Go guest, panicked. The
	// instance is discarded.
	ErrTrap = errors.New("trap")
	// ErrTimeout: a call ran past the plugin's timeout. The instance is
	// discarded.
	ErrTimeout = errors.New("timeout")
	// ErrOutOfMemory: the module needed more than max_memory. The instance
	// is discarded.
	ErrOutOfMemory = errors.New("out of memory")
	// ErrMalformed: the module's reply broke the ABI. The instance is
	// discarded.
	ErrMalformed = errors.New("malformed reply")
	// ErrPlugin: the plugin reported an error (retryable or fatal, or a
	// row's error verdict). The instance is kept.
	ErrPlugin = errors.New("plugin error")
	// ErrLoad: the module cannot be used: not a Puma plugin, a different
	// ABI version, a missing export, an import that is unknown or not
	// granted, or an init that failed.
	ErrLoad = errors.New("cannot load plugin")
)

// Error is a failed plugin load or call.
type Error struct {
	// Plugin is the plugin's name in its task; Module names its code
	// ("builtin:jsonl" or a path).
	Plugin, Module string
	// Fault is one of the Err values above.
	Fault error
	// Fatal is set when the plugin said retrying will not help.
	Fatal bool
	// Msg says what happened, for people.
	Msg string
	// Err is the underlying error, if any.
	Err error
	// Remote is set when a capability could not reach its remote end
	// (a broker or database down, a timeout) during the failed
	// operation: retrying later may succeed however often it failed.
	Remote bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("plugin ")
	b.WriteString(e.Plugin)
	if e.Module != "" && e.Module != "builtin:"+e.Plugin {
		fmt.Fprintf(&b, " (%s)", e.Module)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the fault and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Fault, e.Err}
	}
	return []error{e.Fault}
}

// oneLine flattens a multi-line message (wazero's stack traces).
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\n\t", " ← ")
	s = strings.ReplaceAll(s, "wasm stack trace: ← ", "at ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// Unavailable reports whether the plugin's destination could not be
// reached (Remote; see engine.Unavailable): the engine retries such
// failures without counting them towards max_failures.
func (e *Error) Unavailable() bool { return e.Remote }

// Permanent reports whether the plugin said retrying will not help; the
// engine then applies on_error at once instead of retrying.
func (e *Error) Permanent() bool { return e.Fatal }
