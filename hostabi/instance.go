package hostabi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

const pageSize = 64 << 10

// instance is one running copy of a plugin: a module instance in the
// runtime it shares with the other instances of its module and memory
// limit (sharedRuntime), and the ABI state the host keeps for it. It is
// used by one goroutine at a time and discarded after any fault.
type instance struct {
	p   *plugin
	rt  *sharedRuntime
	mod api.Module
	mem api.Memory
	// native is the plugin compiled into the binary, when it runs so (mod
	// and mem are then nil).
	native Native

	fnAlloc, fnEntry, fnClose api.Function
	// fnGroup is a sender's puma_send_group, nil when the module has
	// none; group is the Group message being built.
	fnGroup api.Function
	group   []byte
	stack   [2]uint64

	arenaPtr, arenaCap uint32

	caps           *caps
	stdout, stderr *logWriter

	// ictx is the context of every call, which host functions honour;
	// the watchdog cancels it when it interrupts a call.
	ictx   context.Context
	cancel context.CancelFunc
	wd     watchdog

	enc wire.Encoder
	// vals holds the rows and text values of the verdicts decoded.
	vals engine.Values
	// ids are the host table IDs announced to this instance; byID maps
	// them back, out holds the output tables the guest declared.
	ids    map[*engine.Table]uint32
	byID   map[uint32]*engine.Table
	out    map[uint32]*engine.Table
	kinds  map[*engine.Table][]wire.Kind
	nextID uint32
	wtx    wire.Tx
	wcm    wire.Commit

	// release frees the linear memory's mapping, if it has one.
	release func()
}

// start instantiates the plugin and runs _initialize and init.
func (p *plugin) start(ctx context.Context) (*instance, error) {
	h, s := p.h, &p.spec
	t0 := time.Now()
	pages := uint32(min(s.MaxMemory/pageSize, 65536))
	in := &instance{
		p:     p,
		caps:  &caps{remote: &p.remote, h: h, log: p.log, grants: s.Grants, http: p.http, kv: p.kv, targets: p.targets, task: s.Task, plugin: s.Name, secrets: p.secrets, enc: engine.Envelopes{Name: s.Task}},
		ids:   make(map[*engine.Table]uint32),
		byID:  make(map[uint32]*engine.Table),
		out:   make(map[uint32]*engine.Table),
		kinds: make(map[*engine.Table][]wire.Kind),
	}
	in.stdout = &logWriter{log: p.log.With("stream", "stdout"), level: slog.LevelInfo}
	in.stderr = &logWriter{log: p.log.With("stream", "stderr"), level: slog.LevelWarn}
	in.ictx, in.cancel = context.WithCancel(context.WithoutCancel(ctx))
	in.ictx = withCaps(in.ictx, in.caps)
	in.wd.init(in.cancel)
	fail := func(err error) (*instance, error) {
		in.close()
		return nil, err
	}
	version, initCfg := s.Module.version, s.Config
	if s.Native != nil {
		nat, err := s.Native(s.Role, nativeHost{in.caps})
		if err != nil {
			return fail(p.loadErr("init failed: %v", err))
		}
		in.native, version = nat, wire.Version
	} else {
		if err := in.instantiate(ctx, pages); err != nil {
			return fail(err)
		}
		if s.Select != "" {
			sel, err := json.Marshal(s.Select)
			if err != nil {
				return fail(p.loadErr("select %q: %v", s.Select, err))
			}
			initCfg = slices.Concat([]byte(`{"builtin":`), sel, []byte(`,"config":`), s.Config, []byte(`}`))
		}
	}
	in.enc.StartInit(version, s.Role, s.Task, s.Name, initCfg)
	if s.Role == wire.RoleSender {
		in.caps.applied = &p.applied
		in.caps.ahead = p.ahead
	}
	in.caps.initing = true
	rep, err := in.roundTrip(ctx, wire.ExportInit, in.enc.Message())
	in.caps.initing = false
	if err != nil {
		return fail(p.fault(in, wire.ExportInit, err))
	}
	r, err := wire.ParseReply(rep)
	if err != nil {
		return fail(p.malformed("reply", err))
	}
	if r.Status != wire.StatusOK {
		return fail(p.loadErr("init failed: %s", r.Message))
	}
	p.log.Debug("plugin instance started", "took", time.Since(t0), "native", in.native != nil)
	return in, nil
}

// instantiate makes the module instance and runs its _initialize.
func (in *instance) instantiate(ctx context.Context, pages uint32) error {
	p := in.p
	h, s := p.h, &p.spec
	sr, err := h.acquireRuntime(ctx, runtimeKey{s.Module, pages})
	if err != nil {
		return p.loadErr("%v", err)
	}
	in.rt = sr
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s/%s#%d", s.Task, s.Name, sr.seq.Add(1))).
		WithStartFunctions(). // a reactor: _initialize is called below, under the timeout
		WithStdout(in.stdout).
		WithStderr(in.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	mod, err := sr.rt.InstantiateModule(withLinearMemory(in.ictx, in), sr.cm, cfg)
	if err != nil {
		return p.loadErr("instantiate: %v", err)
	}
	in.mod, in.mem = mod, mod.Memory()
	if s.Module.interrupt == byInstrumentation {
		if err := in.wd.globals(mod); err != nil {
			return p.loadErr("%v", err)
		}
	}
	in.fnAlloc = mod.ExportedFunction(wire.ExportAlloc)
	in.fnClose = mod.ExportedFunction(wire.ExportClose)
	entry := wire.ExportHandle
	if s.Role == wire.RoleSender {
		entry = wire.ExportSend
	}
	in.fnEntry = mod.ExportedFunction(entry)
	if s.Role == wire.RoleSender {
		in.fnGroup = mod.ExportedFunction(wire.ExportSendGroup)
	}
	if init := mod.ExportedFunction(wire.ExportInitialize); init != nil {
		if err := in.call(ctx, init); err != nil {
			return p.fault(in, "_initialize", err)
		}
	}
	return nil
}

// call calls fn with in.stack as its parameters and results, under the
// plugin's timeout and ctx. After an error the instance must be
// discarded.
func (in *instance) call(ctx context.Context, fn api.Function) error {
	in.caps.call++
	in.stderr.takeCrash() // a report printed before this call is not this call's
	in.wd.arm(ctx, in.p.spec.Timeout)
	if err := ctx.Err(); err != nil {
		in.wd.disarm()
		return err
	}
	err := fn.CallWithStack(in.ictx, in.stack[:])
	if in.wd.disarm() != callIdle && err == nil {
		err = errInterrupted
	}
	return err
}

// roundTrip passes msg to the instance's export (wire.ExportInit,
// ExportHandle, ExportSend or ExportSendGroup) and returns a view of the
// reply, valid until the next call into the instance: for a module, it
// writes msg into the guest's arena, calls the export with (ptr, len) and
// reads the reply out of its memory.
func (in *instance) roundTrip(ctx context.Context, export string, msg []byte) ([]byte, error) {
	n := uint32(len(msg))
	if len(msg) > wire.MaxMessage {
		return nil, fmt.Errorf("message of %d bytes exceeds the ABI limit of %d", len(msg), wire.MaxMessage)
	}
	if in.native != nil {
		return in.nativeCall(ctx, export, msg)
	}
	var fn api.Function
	switch export {
	case wire.ExportInit:
		fn = in.mod.ExportedFunction(wire.ExportInit)
	case wire.ExportSendGroup:
		fn = in.fnGroup
	default:
		fn = in.fnEntry
	}
	if n > in.arenaCap {
		want := max(n, 64<<10)
		in.stack[0] = uint64(want)
		if err := in.call(ctx, in.fnAlloc); err != nil {
			return nil, err
		}
		in.arenaPtr, in.arenaCap = uint32(in.stack[0]), want
	}
	// Memory views are never kept: growth moves them.
	if !in.mem.Write(in.arenaPtr, msg) {
		return nil, &wire.Error{Msg: fmt.Sprintf("%s returned %#x, which with %d bytes lies outside memory (%d bytes)", wire.ExportAlloc, in.arenaPtr, n, in.mem.Size())}
	}
	in.stack[0], in.stack[1] = uint64(in.arenaPtr), uint64(n)
	if err := in.call(ctx, fn); err != nil {
		return nil, err
	}
	ptr, rn := wire.UnpackReply(in.stack[0])
	if rn == 0 {
		return nil, nil
	}
	rep, ok := in.mem.Read(ptr, rn)
	if !ok || rn > wire.MaxMessage {
		return nil, &wire.Error{Msg: fmt.Sprintf("reply at %#x of %d bytes lies outside memory (%d bytes)", ptr, rn, in.mem.Size())}
	}
	return rep, nil
}

// nativeCall passes msg to the export of a native instance. A panic is
// returned as a *nativePanic: the instance's state is then unknown, and
// the caller discards it as it would a trapped one.
func (in *instance) nativeCall(ctx context.Context, export string, msg []byte) (rep []byte, err error) {
	in.caps.call++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The call cannot be interrupted; one running past the plugin's
	// timeout is said in the log, so that a stuck built-in is seen. What
	// it waits on that can be (an HTTP request) ends at that timeout.
	t := in.p.spec.Timeout
	cctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	stop := context.AfterFunc(cctx, func() {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) {
			in.p.log.Warn("plugin call running past its timeout; a native built-in is not interrupted", "in", export, "timeout", t)
		}
	})
	defer stop()
	in.caps.nativeCtx = cctx
	defer func() { in.caps.nativeCtx = nil }()
	defer func() {
		if v := recover(); v != nil {
			rep, err = nil, &nativePanic{value: v, stack: debug.Stack()}
		}
	}()
	switch export {
	case wire.ExportInit:
		rep = in.native.Init(msg)
	case wire.ExportHandle:
		rep = in.native.Handle(msg)
	case wire.ExportSend:
		rep = in.native.Send(msg)
	case wire.ExportSendGroup:
		rep = in.native.SendGroup(msg)
	case wire.ExportClose:
		rep = in.native.Close()
	default:
		return nil, &wire.Error{Msg: "a native plugin has no " + export}
	}
	if len(rep) > wire.MaxMessage {
		return nil, &wire.Error{Msg: fmt.Sprintf("reply of %d bytes exceeds the ABI limit of %d", len(rep), wire.MaxMessage)}
	}
	return rep, nil
}

// nativeHost is a native instance's NativeHost: its caps, called with
// slices of the host's memory instead of guest pointers.
type nativeHost struct{ c *caps }

func (h nativeHost) ReadColumns(names []string, keys bool) error {
	if !h.c.initing {
		return h.errOf(h.c.fail(wire.ErrnoDenied, "read_columns: only Init declares the columns read"))
	}
	h.c.proj = newProjection(names, keys)
	return nil
}

func (h nativeHost) HMACBatch(alg uint32, secret string, data, out []byte) error {
	rc := h.c.macBatch(alg, []byte(secret), data, func(n int, need uint32) ([]byte, int64) {
		if int(need) != len(out) {
			return nil, h.c.fail(wire.ErrnoInvalid, "%s: %d MACs take %d bytes, the buffer %d", wire.ImportSecretHMACBatch, n, need, len(out))
		}
		return out, 0
	})
	return h.errOf(rc)
}

// errOf turns a capability's return code into a native call's error.
func (h nativeHost) errOf(rc int64) error {
	if rc >= 0 {
		return nil
	}
	return &capError{Errno: wire.Errno(rc), Msg: h.c.lastErr}
}

func (h nativeHost) FileOpen(path string, flags int) (int32, error) {
	if flags < 0 || int64(flags) > math.MaxUint32 {
		return 0, h.errOf(h.c.fail(wire.ErrnoInvalid, "open %s: unknown flags %#x", path, flags))
	}
	rc := h.c.openFile(path, uint32(flags))
	return int32(rc), h.errOf(rc)
}

func (h nativeHost) FileWrite(fd int32, b []byte) error { return h.errOf(h.c.writeFile(fd, b)) }

func (h nativeHost) FileSync(fd int32) error { return h.errOf(h.c.syncFile(fd)) }

func (h nativeHost) FileSize(fd int32) (int64, error) {
	rc := h.c.sizeFile(fd)
	return rc, h.errOf(rc)
}

func (h nativeHost) FileTruncate(fd int32, size int64) error {
	return h.errOf(h.c.truncateFile(fd, size))
}

func (h nativeHost) FileRotate(fd int32) error { return h.errOf(h.c.rotateFile(fd)) }

func (h nativeHost) FileClose(fd int32) error { return h.errOf(h.c.closeFile(fd)) }

func (h nativeHost) Envelope(free []byte, from int, opts uint32) (int, int, error) {
	if from < 0 || int64(from) > math.MaxUint32 {
		return 0, 0, h.errOf(h.c.fail(wire.ErrnoInvalid, "envelope: change %d", from))
	}
	_, rc := h.c.renderEnvelopes(free[:0], uint32(len(free)), uint32(from), opts)
	if rc < 0 {
		return 0, 0, h.errOf(rc)
	}
	return int(rc >> 32), int(uint32(rc)), nil
}

func (h nativeHost) HTTP(q *wire.HTTPRequest) (*wire.HTTPResponse, error) {
	ctx := h.c.nativeCtx
	if ctx == nil {
		ctx = context.Background()
	}
	r, rc := h.c.httpDo(ctx, q)
	if r == nil {
		return nil, h.errOf(rc)
	}
	return r, nil
}

func (h nativeHost) GroupBatch(index int) {
	if index < 0 || int64(index) > math.MaxUint32 {
		panic(fmt.Sprintf("group_batch: batch %d", index))
	}
	if h.c.doGroupBatch(uint32(index)) < 0 {
		panic(h.c.lastErr)
	}
}

func (h nativeHost) Log(level slog.Level, msg string) {
	h.c.log.Log(context.Background(), level, msg)
}

// capError is a capability's refusal of a native instance's call: its
// errno and the message a module would read with last_error.
type capError struct {
	Errno wire.Errno
	Msg   string
}

func (e *capError) Error() string { return e.Msg }

func (e *capError) Unwrap() error { return e.Errno }

// nativePanic is the panic of a native instance, with its stack.
type nativePanic struct {
	value any
	stack []byte
}

func (e *nativePanic) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// close tears the instance down: files it opened are closed by the host.
func (in *instance) close() {
	in.wd.close()
	in.cancel()
	if in.mod != nil {
		in.mod.Close(context.Background())
	}
	if in.rt != nil {
		in.p.h.releaseRuntime(in.rt)
		in.rt = nil
	}
	if in.release != nil {
		in.release()
		in.release = nil
	}
	in.caps.closeAll()
	in.stdout.takeTail()
	in.stderr.takeTail()
	in.stderr.takeCrash()
}

// fault turns a failed call into an *Error, saying what happened.
func (p *plugin) fault(in *instance, what string, err error) error {
	var we *wire.Error
	if errors.As(err, &we) {
		return p.malformed("reply", err)
	}
	e := &Error{Plugin: p.spec.Name, Module: p.moduleName(), Err: err}
	var np *nativePanic
	if errors.As(err, &np) {
		p.log.Error("plugin panicked", "in", what, "panic", fmt.Sprint(np.value), "stack", string(np.stack))
		e.Fault, e.Msg, e.Err = ErrTrap, fmt.Sprintf("panic in %s: %v (instance discarded; the stack is in the log)", what, np.value), nil
		return e
	}
	tail, crash := in.stderr.takeTail(), in.stderr.takeCrash()
	stderr := ""
	if len(tail) > 0 {
		stderr = " (stderr: " + strings.Join(tail, " | ") + ")"
	}
	var exit *sys.ExitError
	crashed, crashMsg, crashAt := goCrash(crash)
	oom := strings.Contains(stderr, "out of memory") || crashed == "fatal error" && strings.HasPrefix(crashMsg, "out of memory")
	why := in.wd.stopped()
	switch {
	case why == stopDeadline:
		e.Fault, e.Msg = ErrTimeout, fmt.Sprintf("timeout after %s in %s (instance discarded)", p.spec.Timeout, what)
		e.Err = nil
	case why == stopCancelled || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The caller's context ended: not the plugin's fault.
		if why == stopCancelled {
			err = context.Cause(in.wd.parent)
		}
		return fmt.Errorf("plugin %s: %s interrupted: %w", p.spec.Name, what, err)
	case oom || in.nearLimit():
		e.Fault, e.Msg = ErrOutOfMemory, fmt.Sprintf("out of memory (max_memory %s) in %s (instance discarded)%s", formatSize(p.spec.MaxMemory), what, stderr)
	case crashed != "":
		// A Go guest's panic or runtime fatal error: the runtime printed
		// it and its stack (logged) and aborted. Its state is gone.
		where := ""
		if crashAt != "" {
			where = " at " + crashAt
		}
		e.Fault, e.Msg = ErrTrap, fmt.Sprintf("%s in %s%s: %s (instance discarded; the stack is in the log)", crashed, what, where, crashMsg)
	case errors.As(err, &exit):
		e.Fault, e.Msg = ErrTrap, fmt.Sprintf("exited with code %d in %s (instance discarded)%s", exit.ExitCode(), what, stderr)
	default:
		e.Fault, e.Msg = ErrTrap, fmt.Sprintf("trap in %s: %s (instance discarded)%s", what, oneLine(err.Error()), stderr)
	}
	return e
}

// nearLimit reports whether the memory grew to within 1 MiB of its limit:
// a trap then is most likely a refused memory.grow.
func (in *instance) nearLimit() bool {
	if in.mem == nil {
		return false
	}
	return uint64(in.mem.Size())+1<<20 > in.p.spec.MaxMemory
}

func (p *plugin) malformed(what string, err error) error {
	var we *wire.Error
	msg := err.Error()
	if errors.As(err, &we) {
		if we.Offset > 0 || strings.HasPrefix(we.Msg, "truncated") {
			msg = fmt.Sprintf("malformed %s at offset %d: %s", what, we.Offset, we.Msg)
		} else {
			msg = fmt.Sprintf("malformed %s: %s", what, we.Msg)
		}
	}
	return &Error{Plugin: p.spec.Name, Module: p.moduleName(), Fault: ErrMalformed, Msg: msg + " (instance discarded)", Err: err}
}

func (p *plugin) loadErr(format string, args ...any) error {
	return &Error{Plugin: p.spec.Name, Module: p.moduleName(), Fault: ErrLoad, Msg: fmt.Sprintf(format, args...)}
}

func formatSize(n uint64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
