package hostabi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/hostabi/instrument"
)

// How a call that passed its deadline is stopped (RATIONALE.md, "Wasm
// plugins" and "Interrupting plugins"). Every module is rewritten at load
// by hostabi/instrument; the watchdog of an instance sets the module's
// interrupt flag and zeroes its countdown, and the guest traps at its next
// check. A module the rewriter refuses runs in runtimes configured with
// wazero's WithCloseOnContextDone instead: the watchdog cancels the call's
// context and wazero closes the module, at a cost on every loop iteration.

// interruptBy is how the calls of a module are interrupted.
type interruptBy uint8

const (
	// byInstrumentation: the module was instrumented; the watchdog sets
	// its exported globals.
	byInstrumentation interruptBy = iota
	// byCloseOnDone: the original module runs under
	// WithCloseOnContextDone; the watchdog cancels the call's context.
	byCloseOnDone
	// byNothing: neither, so a spinning guest cannot be stopped (and
	// stalls the garbage collector). Only benchmarks ask for it, to
	// measure what the other two cost.
	byNothing
)

func (b interruptBy) String() string {
	switch b {
	case byInstrumentation:
		return "instrumentation"
	case byCloseOnDone:
		return "close-on-done"
	}
	return "nothing"
}

// safepoint is the host side of wire.ImportSafepoint. Doing nothing is
// its job: returning to Go is where a garbage collection can stop the
// goroutine running a spinning guest.
func safepoint(context.Context, []uint64) {}

// compiledCode is what loading a module compiled, and how its calls are
// interrupted.
type compiledCode struct {
	by interruptBy
	cm wazero.CompiledModule
	// refusal is why the module is not instrumented, when by is
	// byCloseOnDone.
	refusal error
}

// compile instruments wasm and compiles it in the keeper runtime; a module
// the rewriter refuses, or whose rewrite wazero rejects, is compiled as it
// is for close-on-done. Called with h.mu held.
func (h *Host) compile(ctx context.Context, wasm []byte) (compiledCode, error) {
	c := compiledCode{by: h.interrupt}
	if c.by == byInstrumentation {
		code, refusal := h.instrumented(wasm)
		if refusal == nil {
			cm, err := compileModule(ctx, h.keeper, code)
			if err == nil {
				c.cm = cm
				return c, nil
			}
			// Almost always an invalid original, which the rewriter does
			// not type-check: compiled below, it is refused in its own
			// terms (offsets, function indices).
			refusal = fmt.Errorf("the instrumented module does not compile: %w", err)
		}
		c.by, c.refusal = byCloseOnDone, refusal
	}
	k := h.keeper
	if c.by == byCloseOnDone {
		if h.keeperCOD == nil {
			h.keeperCOD = wazero.NewRuntimeWithConfig(ctx, h.runtimeConfig(true))
		}
		k = h.keeperCOD
	}
	cm, err := compileModule(ctx, k, wasm)
	if err != nil {
		return c, err
	}
	c.cm = cm
	return c, nil
}

// compileModule is rt.CompileModule turning a panic into an error: wazero
// v1.12.0 panics on some malformed modules (hostabi/instrument's fuzz
// corpus, "wazero-panic-type-index"), and plugin modules are untrusted.
func compileModule(ctx context.Context, rt wazero.Runtime, wasm []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			cm, err = nil, fmt.Errorf("wazero panicked compiling it: %v", p)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}

// instrumented returns wasm rewritten by hostabi/instrument, or why the
// rewriter refused it. With a cache directory both outcomes are kept on
// disk under instrument.CacheKey, so a warm start neither rewrites nor
// (wazero's cache keying on the rewritten bytes) compiles.
func (h *Host) instrumented(wasm []byte) ([]byte, error) {
	var opts instrument.Options
	var path string
	if h.opts.CacheDir != "" {
		path = filepath.Join(h.opts.CacheDir, "instrumented", instrument.CacheKey(wasm, opts))
		if b, ok := readCached(path + ".wasm"); ok {
			return b, nil
		}
		if b, ok := readCached(path + ".refused"); ok {
			return nil, errors.New(string(b))
		}
	}
	code, err := instrumentSafely(wasm, opts)
	if path != "" {
		name, data := path+".wasm", code
		if err != nil {
			name, data = path+".refused", []byte(err.Error())
		}
		if werr := writeCached(name, data); werr != nil {
			h.log.Warn("cannot cache the instrumented plugin module; it is rewritten again at the next start", "path", name, "err", werr)
		}
	}
	return code, err
}

// instrumentSafely is instrument.Instrument with a panic (a bug: the
// package is fuzzed not to) turned into a refusal.
func instrumentSafely(wasm []byte, opts instrument.Options) (code []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			code, err = nil, fmt.Errorf("instrument: panic: %v", p)
		}
	}()
	return instrument.Instrument(wasm, opts)
}

// Files of the instrumentation cache are the SHA-256 of their payload
// followed by the payload: a file torn by a crash reads as missing.
func readCached(path string) ([]byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < sha256.Size {
		return nil, false
	}
	sum := sha256.Sum256(b[sha256.Size:])
	if !bytes.Equal(sum[:], b[:sha256.Size]) {
		return nil, false
	}
	return b[sha256.Size:], true
}

// writeCached writes path atomically (other processes may share the
// directory).
func writeCached(path string, payload []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	_, err = f.Write(sum[:])
	if err == nil {
		_, err = f.Write(payload)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Watchdog states: no call, a call running, or why the last call was
// stopped.
const (
	callIdle int32 = iota
	callRunning
	stopDeadline
	stopCancelled
)

// epoch is the origin of watchdog deadlines, read on the monotonic clock.
var epoch = time.Now()

// watchdog stops the call running in an instance when it passes the
// plugin's timeout or its caller's context ends. An instance has one; its
// timer is reused by every call and the caller's context is hooked once
// while it stays the same, so a call starts no goroutine: one runs only
// when the timer fires or the context ends.
//
// arm and disarm are called by the goroutine calling into the instance;
// interrupt by the timer's and the context's. After an interruption the
// instance is discarded, never called again.
type watchdog struct {
	// state is callIdle, callRunning or the stop reason; only the host
	// writes it, so a trap with a stop reason set is the host's doing and
	// any other trap is the guest's own.
	state atomic.Int32
	// deadline is the running call's, in nanoseconds since epoch: a timer
	// that fired for an earlier call, just as it returned, must not stop
	// the next one.
	deadline atomic.Int64
	// mu is held by interrupt while it acts on the instance, and guards
	// parent against the context hook.
	mu sync.Mutex
	// flag and countdown are the instrumented module's interrupt globals;
	// nil under close-on-done.
	flag, countdown api.MutableGlobal
	// cancel ends the context the calls run under: host functions honour
	// it, and under close-on-done wazero then closes the module.
	cancel context.CancelFunc
	timer  *time.Timer
	parent context.Context
	unhook func() bool
}

func (w *watchdog) init(cancel context.CancelFunc) {
	w.cancel = cancel
	w.timer = time.AfterFunc(time.Hour, func() { w.interrupt(stopDeadline, nil) })
	w.timer.Stop()
}

// arm watches a call made under ctx, which must be given timeout.
func (w *watchdog) arm(ctx context.Context, timeout time.Duration) {
	if ctx != w.parent {
		w.mu.Lock()
		if w.unhook != nil {
			w.unhook()
		}
		w.parent, w.unhook = ctx, context.AfterFunc(ctx, func() { w.interrupt(stopCancelled, ctx) })
		w.mu.Unlock()
	}
	w.deadline.Store(int64(time.Since(epoch) + timeout))
	w.state.Store(callRunning)
	w.timer.Reset(timeout)
}

// disarm ends watching the call; it returns callIdle when the call was
// not interrupted, else the reason it was. When it returns, the watchdog
// no longer touches the instance.
func (w *watchdog) disarm() int32 {
	w.timer.Stop()
	if w.state.CompareAndSwap(callRunning, callIdle) {
		return callIdle
	}
	w.mu.Lock() // interrupt may still be setting the globals
	w.mu.Unlock()
	return w.state.Load()
}

// errInterrupted is the error of a call that returned on its own just as
// the watchdog stopped it: too late, and the instance is interrupted.
var errInterrupted = errors.New("interrupted")

// stopped returns why the last call was interrupted, or callIdle.
func (w *watchdog) stopped() int32 {
	if s := w.state.Load(); s != callRunning {
		return s
	}
	return callIdle
}

// interrupt stops the running call, if any, for why; ctx is the caller's
// context that ended (nil for the deadline).
func (w *watchdog) interrupt(why int32, ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx != nil && ctx != w.parent {
		return // the hook of a context no longer in use
	}
	if w.state.Load() != callRunning {
		return
	}
	if why == stopDeadline {
		if left := time.Duration(w.deadline.Load()) - time.Since(epoch); left > 0 {
			// Fired for an earlier call as it returned: this call has its
			// own deadline (the timer is armed for it already; Reset again
			// in case it fired early).
			w.timer.Reset(left)
			return
		}
	}
	if !w.state.CompareAndSwap(callRunning, why) {
		return
	}
	if w.flag != nil {
		// The flag first: the guest reads it when the countdown runs out.
		w.flag.Set(1)
		w.countdown.Set(0)
	}
	w.cancel()
}

// close stops the timer and unhooks the caller's context.
func (w *watchdog) close() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Lock()
	if w.unhook != nil {
		w.unhook()
		w.unhook = nil
	}
	w.mu.Unlock()
}

// globals finds the interrupt globals of an instrumented module.
func (w *watchdog) globals(mod api.Module) error {
	var ok1, ok2 bool
	w.flag, ok1 = mod.ExportedGlobal(instrument.ExportInterrupt).(api.MutableGlobal)
	w.countdown, ok2 = mod.ExportedGlobal(instrument.ExportCountdown).(api.MutableGlobal)
	if !ok1 || !ok2 {
		w.flag, w.countdown = nil, nil
		return fmt.Errorf("the instrumented module exports no mutable globals %s and %s", instrument.ExportInterrupt, instrument.ExportCountdown)
	}
	return nil
}
