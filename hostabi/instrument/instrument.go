// Package instrument rewrites a plugin's WebAssembly module at load time so
// that the host can stop it when it runs too long, without wazero's
// WithCloseOnContextDone and its 20-100× cost on every loop iteration.
//
// It is epoch-style interruption, as Wasmtime does it, done in the module
// rather than in the compiler. Instrument adds to the module two mutable
// i32 globals, both exported, and a function import:
//
//   - the interrupt flag, exported as ExportInterrupt ("puma.interrupt"),
//     zero at instantiation;
//   - a countdown, exported as ExportCountdown ("puma.countdown"), starting
//     at Options.SafepointInterval;
//   - the import ImportModule.ImportSafepoint ("puma"."safepoint", type
//     [] -> []), which the host implements as a Go function that does
//     nothing. Returning to Go is the point: it is where the Go runtime can
//     stop the goroutine for a garbage collection. Without it a spinning
//     guest blocks every stop-the-world, the collector waits forever, and
//     so does every other goroutine, the watchdog included.
//
// At the head of every `loop`, and at the entry of every function that can
// call before passing a loop head, the module decrements the countdown.
// When it reaches zero the guest traps (`unreachable`) if the flag is set,
// and otherwise resets the countdown and calls the safepoint. Every cycle
// of execution, whether a loop or a recursion, passes such a check; a
// function that cannot call runs in bounded time between loop heads.
//
// To interrupt an instance, from any goroutine while a call runs, the host
// sets the flag to a non-zero value and then the countdown to zero,
// through wazero's api.MutableGlobal:
//
//	mod.ExportedGlobal(instrument.ExportInterrupt).(api.MutableGlobal).Set(1)
//	mod.ExportedGlobal(instrument.ExportCountdown).(api.MutableGlobal).Set(0)
//
// The guest traps at its next check. wazero's Set is a plain store racing
// with the guest's own decrement of the countdown: if the guest's store
// wins, the trap comes when the countdown next runs out, at most
// SafepointInterval checks later (the flag is never lost: only the host
// writes it). The host tells an interruption from a guest's own
// `unreachable` by its own record of having set the flag, and discards the
// instance after any trap.
//
// Adding a function import shifts the index of every function the module
// defines by one; Instrument rewrites every reference (call, return_call,
// ref.func in code and constant expressions, element segments, exports,
// the start function, and the function, local and label maps of the "name"
// section). Globals are appended, so no global index moves. Types: the
// module's first [] -> [] function type is reused, or one is appended.
//
// The data section is rewritten with as few segments as give the same
// initial memory, when that cannot be observed (coalesceData): Go's
// linker writes tens of thousands, and wazero keeps each in the Go heap
// of every runtime and instance.
//
// Custom sections are kept in place, except the DWARF sections (".debug_*",
// "external_debug_info") and "sourceMappingURL", which describe code
// offsets that instrumentation moves: they are dropped rather than left to
// give wrong source lines in stack traces. A "name" section that does not
// decode is dropped too (it is debugging information).
//
// Instrument refuses (an *Error wrapping ErrUnsupported, naming the opcode
// and its offset) what it does not understand rather than guessing:
// exception handling, typed function references, GC, relaxed SIMD,
// memory64 and table64, prefixed opcodes it does not know. It accepts
// WebAssembly 2.0 (MVP, sign extension, saturating conversions, bulk
// memory, reference types, multi-value, fixed-width SIMD), plus tail calls,
// threads (atomics), multi-memory encodings and extended constant
// expressions. It checks the binary's structure, not its types: a module
// that decodes but is invalid stays invalid, and wazero rejects it at
// compile time as it would have rejected the original.
//
// Output is deterministic: the same input and options give the same bytes,
// so a compile cache may key on the input's hash, Options and Version (see
// CacheKey).
package instrument

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Version identifies the rewrite. It changes whenever Instrument's output
// for some input changes, so that compiled modules cached under an older
// version are not reused.
const Version = "2"

// Names the instrumented module uses to meet the host.
const (
	// ImportModule and ImportSafepoint name the no-op host function the
	// instrumented module imports, of type [] -> []. ImportModule is the
	// ABI's one host module (wire.ImportModule).
	ImportModule    = "puma"
	ImportSafepoint = "safepoint"
	// ExportInterrupt is the name under which the instrumented module
	// exports its interrupt flag, a mutable i32 global.
	ExportInterrupt = "puma.interrupt"
	// ExportCountdown is the name under which it exports its countdown to
	// the next safepoint, a mutable i32 global that the host sets to zero
	// after setting the flag, so that the next check reads the flag.
	ExportCountdown = "puma.countdown"
)

// DefaultSafepointInterval is the number of checks (loop iterations and
// function entries) between two calls of the safepoint import when
// Options.SafepointInterval is zero. See RATIONALE.md, "Interrupting
// plugins", for the measurements behind it.
const DefaultSafepointInterval = 1 << 14

// MaxSafepointInterval is the largest Options.SafepointInterval.
const MaxSafepointInterval = 1<<31 - 1

// Options tune the rewrite. The zero value is ready to use.
type Options struct {
	// SafepointInterval is how many checks run between two calls of the
	// safepoint import: the longest a spinning guest keeps the Go garbage
	// collector waiting, in loop iterations, and the longest an interrupt
	// can be delayed when the host's store to the countdown loses a race.
	// 0 means DefaultSafepointInterval.
	SafepointInterval uint32
}

func (o Options) interval() (uint32, error) {
	switch {
	case o.SafepointInterval == 0:
		return DefaultSafepointInterval, nil
	case o.SafepointInterval > MaxSafepointInterval:
		return 0, &Error{Func: -1, Err: ErrOptions, Detail: fmt.Sprintf("SafepointInterval %d is above %d", o.SafepointInterval, MaxSafepointInterval)}
	}
	return o.SafepointInterval, nil
}

// CacheKey returns the key under which to cache what is compiled from
// Instrument(original, opts): it covers Version, the options and the
// SHA-256 of the original module.
func CacheKey(original []byte, opts Options) string {
	n, err := opts.interval()
	if err != nil {
		n = opts.SafepointInterval // Instrument refuses these; keep keys distinct anyway
	}
	sum := sha256.Sum256(original)
	return "instrument-v" + Version + "-sp" + strconv.FormatUint(uint64(n), 10) + "-" + hex.EncodeToString(sum[:])
}

// Instrument returns a copy of the WebAssembly module wasm with interruption
// checks and GC safepoints added, as the package comment describes. It
// never modifies wasm. Errors are *Error values wrapping ErrMalformed,
// ErrUnsupported, ErrReserved or ErrOptions; on any of them the host runs
// the original module under WithCloseOnContextDone instead.
//
// Instrument is safe for concurrent use.
func Instrument(wasm []byte, opts Options) ([]byte, error) {
	n, err := opts.interval()
	if err != nil {
		return nil, err
	}
	m, err := parse(wasm)
	if err != nil {
		return nil, err
	}
	return m.rewrite(n)
}
