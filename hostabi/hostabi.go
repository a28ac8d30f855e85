// Package hostabi runs Puma's Wasm plugins on wazero: it loads and checks
// modules, keeps their compiled code in a cache on disk, runs each plugin
// in an instance of its own with its memory cap and per-batch timeout,
// gives it the host functions and capabilities its grants allow, and
// adapts it to the engine's Handler and Sender interfaces.
//
// A Host needs no task: New, then Host.NewHandler or Host.NewSender with
// an engine.PluginConfig (a built-in or a module file, its config and its
// grants), or Host.Load and StartHandler/StartSender with a Spec for a
// module held as bytes; the result is called on engine.Batches directly.
// See the example.
//
// The ABI it speaks is described in ABI.md beside this file and encoded by
// hostabi/wire. Design decisions are in RATIONALE.md at the repository
// root.
package hostabi

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// Builtin is a plugin shipped inside the binary.
type Builtin struct {
	Wasm []byte
	// Grants are capabilities the built-in has without asking (stdout for
	// builtin:stdout); the plugin's grants table adds to them.
	Grants Grants
	// Select, when set, names the plugin inside a module holding several
	// (see Spec.Select); Uses then lists the capabilities that plugin
	// uses, which the host requires granted in place of the module's
	// imports.
	Select string
	Uses   []string
	// Native, when set, runs the built-in compiled into the binary, in
	// the host's process, instead of in an instance of Wasm: it returns
	// a fresh instance of the plugin for role, reaching its capabilities
	// through host, or an error saying why the plugin cannot take it.
	// See Native.
	Native func(role wire.Role, host NativeHost) (Native, error)
}

// Native is a plugin compiled into the binary (an sdk.Instance): it takes
// the ABI's messages and gives its replies as the plugin's Wasm module
// would, without the copies into and out of a linear memory or the cost
// of running Go compiled to Wasm. It reaches the capabilities NativeHost
// has, under the same grants. Only the project's own plugins run so: a call cannot be interrupted (the plugin's
// timeout is not enforced) and its memory is the process's (max_memory
// does not bound it), which is sound for code shipped and tested with the
// binary and for nothing else. A panic is a fault, as a trap is: the
// instance is discarded and the batch retried on a fresh one.
type Native interface {
	// Init takes an Init message and returns the reply (empty for ok).
	Init(msg []byte) []byte
	// Handle takes a Batch message and returns the reply, valid until
	// the next call.
	Handle(msg []byte) []byte
	// Send and SendGroup take a sender's Batch and Group messages and
	// return the reply, valid until the next call.
	Send(msg []byte) []byte
	SendGroup(msg []byte) []byte
	// Close runs the plugin's close and returns the reply.
	Close() []byte
}

// NativeHost is the capabilities of a Native instance: the host
// functions of ABI.md on the host's own memory, under the plugin's grants
// (an ungranted secret is refused as secret_hmac_batch refuses it).
type NativeHost interface {
	// HMACBatch is secret_hmac_batch: the MACs of data's values (a
	// little-endian u32 length and the bytes each) keyed with the secret
	// named secret, written back to back into out, which has room for
	// exactly them (see sdk/secrets.MACs.Host).
	HMACBatch(alg uint32, secret string, data, out []byte) error

	// The files capability's functions, each as its import (file_open
	// and the rest), with the same checks: paths inside the granted
	// directories, truncation no lower than the current call found the
	// file. Files still open are closed with the instance.
	FileOpen(path string, flags int) (fd int32, err error)
	FileWrite(fd int32, b []byte) error
	FileSync(fd int32) error
	FileSize(fd int32) (int64, error)
	FileTruncate(fd int32, size int64) error
	FileRotate(fd int32) error
	FileClose(fd int32) error

	// Envelope is envelope: it renders the envelopes of the current
	// batch's changes from index from on that fit whole in free, and
	// returns their count and the bytes written, or 0 and the bytes the
	// first one needs (see sdk/envelope.Encoder.Host).
	Envelope(free []byte, from int, opts uint32) (changes, written int, err error)
	// HTTP is http_request and http_response: the request performed
	// under the http grant, bounded by q's timeout and the plugin's.
	HTTP(q *wire.HTTPRequest) (*wire.HTTPResponse, error)
	// GroupBatch is group_batch: the batch of the group being sent that
	// Envelope renders from. An index outside the group panics (a fault):
	// the SDK never passes one.
	GroupBatch(index int)
	// Log is log: msg in Puma's log at level, tagged with the task and
	// plugin.
	Log(level slog.Level, msg string)
	// ReadColumns declares, during Init, that the instance reads from
	// row images only the columns named (and, with keys, each table's
	// key columns): the host then leaves the others absent from the
	// batches it passes it, and encodes only what is read. A handler
	// declaring it must keep or drop changes, never replace them (a
	// replaced row would lose what it was not given). Without it the
	// instance gets every column. Called outside Init it fails.
	ReadColumns(names []string, keys bool) error
}

// Options configure a Host.
type Options struct {
	// CacheDir holds compiled modules across runs, and under
	// "instrumented" the modules as rewritten for interruption (it is
	// created with mode 0700: it holds native code Puma will run). Empty
	// keeps them in memory only.
	CacheDir string
	// ConfigDir is the directory of puma.toml: file grants and the paths
	// plugins open are relative to it.
	ConfigDir string
	// Log receives plugin logs and output; nil discards them.
	Log *slog.Logger
	// Stdout is what the stdout capability writes to; nil means
	// os.Stdout.
	Stdout io.Writer
	// Builtin returns the built-in plugin called name ("jsonl" for
	// "builtin:jsonl"), given its config table.
	Builtin func(name string, config map[string]any) (Builtin, bool)
	// Secrets are the [secrets] of the configuration: the host uses those
	// a plugin was granted on its behalf (HTTP headers, HMAC keys). See
	// Host.SetSecrets for a reloaded configuration.
	Secrets map[string]engine.Secret
	// Targets are the [targets] of the configuration: the brokers and
	// databases plugins reach through the capabilities their grants name
	// (see SetTargets for a reloaded configuration).
	Targets map[string]engine.Target
	// Resolver looks up the names plugins send HTTP requests to; nil is
	// net.DefaultResolver. Tests set it so no name reaches the real DNS.
	Resolver Resolver
	// HTTPRootCAs verifies the servers plugins reach over https; nil is
	// the system's pool.
	HTTPRootCAs *x509.CertPool
	// Now is the clock of the envelopes' processing time (ts_ms); nil is
	// time.Now. Tests fix it to compare envelopes byte for byte.
	Now func() time.Time
}

// Host loads and runs plugins. It is safe for concurrent use; Close it
// after every plugin it made is closed.
type Host struct {
	opts      Options
	log       *slog.Logger
	configDir string
	stdout    io.Writer
	stdoutMu  sync.Mutex

	cache wazero.CompilationCache
	// keeper is a runtime that holds every loaded module compiled, so the
	// per-instance runtimes sharing cache find it in memory; keeperCOD
	// does the same for modules run under close-on-done (made on the
	// first, under mu).
	keeper, keeperCOD wazero.Runtime
	// interrupt is how Load makes modules interruptible:
	// byInstrumentation but in benchmarks.
	interrupt interruptBy

	mu       sync.Mutex
	modules  map[[32]byte]*Module
	runtimes map[runtimeKey]*sharedRuntime

	secretsMu sync.RWMutex
	secrets   map[string]engine.Secret
	targets   map[string]engine.Target
}

// SetSecrets replaces the secrets plugins started from now on may be
// granted (after a configuration reload); running plugins keep theirs.
func (h *Host) SetSecrets(secrets map[string]engine.Secret) {
	h.secretsMu.Lock()
	h.secrets = secrets
	h.secretsMu.Unlock()
}

// now is the time envelopes are rendered at.
func (h *Host) now() time.Time {
	if h.opts.Now != nil {
		return h.opts.Now()
	}
	return time.Now()
}

func (h *Host) secretsNow() map[string]engine.Secret {
	h.secretsMu.RLock()
	defer h.secretsMu.RUnlock()
	return h.secrets
}

// runtimeConfig is the configuration of every runtime, with
// close-on-done only for modules the instrumentation refused: compiled
// modules are shared only between runtimes agreeing on it.
func (h *Host) runtimeConfig(closeOnDone bool) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(h.cache).
		WithCloseOnContextDone(closeOnDone)
}

// New returns a Host.
func New(ctx context.Context, opts Options) (*Host, error) {
	h := &Host{opts: opts, log: opts.Log, stdout: opts.Stdout, modules: make(map[[32]byte]*Module), secrets: opts.Secrets, targets: opts.Targets}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.stdout == nil {
		h.stdout = os.Stdout
	}
	dir, err := filepath.Abs(opts.ConfigDir)
	if err != nil {
		return nil, fmt.Errorf("hostabi: config dir: %w", err)
	}
	h.configDir = dir
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("hostabi: module cache: %w", err)
		}
		if err := os.Chmod(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("hostabi: module cache: %w", err)
		}
		if h.cache, err = wazero.NewCompilationCacheWithDir(opts.CacheDir); err != nil {
			return nil, fmt.Errorf("hostabi: module cache %s: %w", opts.CacheDir, err)
		}
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	h.keeper = wazero.NewRuntimeWithConfig(ctx, h.runtimeConfig(false))
	return h, nil
}

// Close releases the compiled modules.
func (h *Host) Close() error {
	ctx := context.Background()
	h.mu.Lock()
	for key, sr := range h.runtimes {
		sr.rt.Close(ctx)
		delete(h.runtimes, key)
	}
	h.mu.Unlock()
	err := h.keeper.Close(ctx)
	if h.keeperCOD != nil {
		if cerr := h.keeperCOD.Close(ctx); err == nil {
			err = cerr
		}
	}
	if cerr := h.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Module is a checked, compiled plugin module, shared by every plugin
// using the same bytes.
type Module struct {
	name string
	// source is the module as given to Load. The code instances run is
	// source itself when interrupt is not byInstrumentation, and
	// otherwise source as instrumented, which a runtime compiling it gets
	// from the cache again (code): the built-ins' module is read-only
	// data of the binary, its instrumented copy 5 MB of heap.
	source    []byte
	interrupt interruptBy
	compiled  wazero.CompiledModule
	// caps are the capabilities its imports need, with the first import
	// needing each, for messages.
	caps map[string]string
	// exports are the ABI entry points it has.
	exports map[string]bool
	// version is the ABI version its marker export declares, one the host
	// speaks (wire.MinVersion to wire.Version).
	version uint32
}

// Load checks and compiles a module; name ("builtin:jsonl" or a path)
// labels errors. Loading the same bytes again returns the same Module.
func (h *Host) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.modules[sum]; m != nil {
		return m, nil
	}
	fail := func(format string, args ...any) (*Module, error) {
		return nil, &Error{Plugin: name, Fault: ErrLoad, Msg: fmt.Sprintf(format, args...)}
	}
	c, err := h.compile(ctx, wasm)
	if err != nil {
		return fail("not a valid Wasm module: %v", err)
	}
	m := &Module{name: name, source: wasm, interrupt: c.by, compiled: c.cm, caps: make(map[string]string), exports: make(map[string]bool)}
	if err := m.check(); err != nil {
		c.cm.Close(ctx)
		return fail("%s", err)
	}
	if c.refusal != nil {
		h.log.Warn("plugin module not instrumented: its calls run under wazero's close-on-context-done, several times slower, and a recursion without loops cannot be interrupted",
			"module", name, "err", c.refusal)
	}
	h.modules[sum] = m
	if len(wasm) >= releaseAfterLoad {
		// Compiling (or decoding from the cache) a module of megabytes
		// leaves several times its size of garbage: without this the
		// heap it grew to stays the process's for good, and the next
		// collections are paced against it.
		debug.FreeOSMemory()
	}
	return m, nil
}

// releaseAfterLoad is the size of module from which Load returns the
// memory its compilation freed to the system: a Go plugin's (the
// built-ins' is 5 MB), not the small modules of C or WAT.
const releaseAfterLoad = 1 << 20

var (
	exportSigs = map[string][2][]api.ValueType{
		wire.ExportInitialize: {nil, nil},
		wire.ExportAlloc:      {{i32}, {i32}},
		wire.ExportInit:       {{i32, i32}, {i64}},
		wire.ExportHandle:     {{i32, i32}, {i64}},
		wire.ExportSend:       {{i32, i32}, {i64}},
		wire.ExportSendGroup:  {{i32, i32}, {i64}},
		wire.ExportClose:      {nil, {i64}},
	}
	wasiModule = "wasi_snapshot_preview1"
)

func sameTypes(a, b []api.ValueType) bool {
	return string(a) == string(b)
}

func sig(t [2][]api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, v := range ts {
			s[i] = api.ValueTypeName(v)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(t[0]) + " -> " + names(t[1])
}

// check verifies the module's ABI version, exports and imports.
func (m *Module) check() error {
	exports := m.compiled.ExportedFunctions()
	var versions []string
	for name := range exports {
		if v, ok := strings.CutPrefix(name, wire.ExportABIPrefix); ok {
			versions = append(versions, v)
		}
	}
	// The newest version the module declares that the host speaks.
	for v := uint32(wire.Version); v >= wire.MinVersion && m.version == 0; v-- {
		if _, ok := exports[wire.ExportABIPrefix+strconv.FormatUint(uint64(v), 10)]; ok {
			m.version = v
		}
	}
	if m.version == 0 {
		if len(versions) == 0 {
			return fmt.Errorf("not a Puma plugin: it exports no %s<N> function declaring its ABI version (build it with the Puma SDK, or see hostabi/ABI.md)", wire.ExportABIPrefix)
		}
		slices.Sort(versions)
		return fmt.Errorf("the module is built for plugin ABI v%s; this Puma speaks ABI v%d to v%d: rebuild the plugin against an SDK for ABI v%d, or run a Puma that speaks v%s", strings.Join(versions, ", v"), wire.MinVersion, wire.Version, wire.Version, versions[0])
	}
	for name, want := range exportSigs {
		d, ok := exports[name]
		if !ok {
			continue
		}
		if !sameTypes(d.ParamTypes(), want[0]) || !sameTypes(d.ResultTypes(), want[1]) {
			return fmt.Errorf("export %s has type %s, ABI v%d wants %s", name, sig([2][]api.ValueType{d.ParamTypes(), d.ResultTypes()}), m.version, sig(want))
		}
		m.exports[name] = true
	}
	for _, need := range []string{wire.ExportAlloc, wire.ExportInit} {
		if !m.exports[need] {
			return fmt.Errorf("missing export %s (ABI v%d requires it)", need, m.version)
		}
	}
	if !m.exports[wire.ExportHandle] && !m.exports[wire.ExportSend] {
		return fmt.Errorf("missing export: a plugin exports %s (a handler) or %s (a sender)", wire.ExportHandle, wire.ExportSend)
	}
	if _, ok := m.compiled.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("missing export: memory (the module must export its linear memory as \"memory\")")
	}
	if len(m.compiled.ImportedMemories()) > 0 {
		return fmt.Errorf("the module imports a memory; it must define its own")
	}
	for _, d := range m.compiled.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch mod {
		case wasiModule:
		case wire.ImportModule:
			c, ok := wire.Capability(name)
			if !ok {
				return fmt.Errorf("imports %s.%s, which plugin ABI v%d does not have", mod, name, m.version)
			}
			want, ok := signature(name)
			if !ok {
				return fmt.Errorf("imports %s.%s, which this host does not have", mod, name)
			}
			if !sameTypes(d.ParamTypes(), want[0]) || !sameTypes(d.ResultTypes(), want[1]) {
				return fmt.Errorf("imports %s.%s with type %s, ABI v%d has %s", mod, name, sig([2][]api.ValueType{d.ParamTypes(), d.ResultTypes()}), m.version, sig(want))
			}
			if _, seen := m.caps[c]; c != "" && !seen {
				m.caps[c] = mod + "." + name
			}
		default:
			return fmt.Errorf("imports %s.%s: plugins may import only from %s and %s", mod, name, wire.ImportModule, wasiModule)
		}
	}
	return nil
}

// Spec is a plugin to run: a loaded module and how the task configures it.
type Spec struct {
	// Task and Name identify the plugin in logs and errors.
	Task, Name string
	Module     *Module
	Role       wire.Role
	// Config is the plugin's config table as JSON object text.
	Config []byte
	Grants Grants
	// Timeout bounds each call into the plugin; MaxMemory its linear
	// memory, in bytes (rounded down to 64 KiB pages).
	Timeout   time.Duration
	MaxMemory uint64
	// Select names the plugin to run when the module holds several: its
	// init config is then {"builtin": Select, "config": Config}. Uses
	// lists the capabilities that plugin needs granted (the module itself
	// imports those of all of them).
	Select string
	Uses   []string
	// Native, when set, runs the plugin in the host's process (see
	// Builtin.Native) rather than in an instance of Module, which then
	// only describes it.
	Native func(role wire.Role, host NativeHost) (Native, error)
}

// specFor resolves a configured plugin: its module (built-in or file),
// config and grants. Zero Timeout, MaxMemory and Name take their
// defaults (see engine.PluginConfig).
func (h *Host) specFor(ctx context.Context, task string, p engine.PluginConfig, role wire.Role) (Spec, error) {
	p = p.WithDefaults()
	s := Spec{Task: task, Name: p.Name, Role: role, Timeout: p.Timeout, MaxMemory: p.MaxMemory}
	fail := func(fault error, format string, args ...any) (Spec, error) {
		return s, &Error{Plugin: p.Name, Module: p.Plugin, Fault: fault, Msg: fmt.Sprintf(format, args...)}
	}
	var wasm []byte
	var base Grants
	if name, ok := p.Builtin(); ok {
		var b Builtin
		if h.opts.Builtin != nil {
			b, ok = h.opts.Builtin(name, p.Config)
		}
		if !ok {
			return fail(ErrLoad, "no built-in plugin %q", name)
		}
		wasm, base = b.Wasm, b.Grants
		s.Select, s.Uses, s.Native = b.Select, b.Uses, b.Native
	} else {
		var err error
		if wasm, err = os.ReadFile(p.Plugin); err != nil {
			return fail(ErrLoad, "read module: %v", err)
		}
	}
	g, err := ParseGrants(p.Grants, h.configDir)
	if err != nil {
		return fail(ErrLoad, "%v", err)
	}
	g.Add(base)
	if err := g.check(); err != nil {
		return fail(ErrLoad, "%v", err)
	}
	if err := checkTargetGrants(&g, h.targetsNow()); err != nil {
		return fail(ErrLoad, "%v", err)
	}
	for _, name := range g.Secrets {
		if _, ok := h.secretsNow()[name]; !ok {
			return fail(ErrLoad, "grants.secrets: no secret %q in [secrets] (define %s_env or %s_file there)", name, name, name)
		}
	}
	s.Grants = g
	if s.Config, err = json.Marshal(p.Config); err != nil {
		return fail(ErrLoad, "config: %v", err)
	}
	if p.Config == nil {
		s.Config = []byte("{}")
	}
	m, err := h.Load(ctx, p.Plugin, wasm)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Plugin, e.Module = p.Name, p.Plugin
		}
		return s, err
	}
	s.Module = m
	return s, nil
}
