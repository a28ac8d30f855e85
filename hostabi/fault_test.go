package hostabi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
)

var poisonTable = &engine.Table{
	DB: "shop", Name: "orders", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{{Name: "id", Kind: engine.KindInt}, {Name: "poison", Kind: engine.KindInt}},
}

// poisonBatch returns a batch of n rows; the rows listed are poisoned.
func poisonBatch(seq uint64, n int, poisoned ...int) *engine.Batch {
	tx := &engine.Tx{ID: fmt.Sprintf("0-1-%d", seq), GTID: fmt.Sprintf("0-1-%d", seq), ServerID: 1, File: "bin.000001", Pos: uint32(seq * 1000)}
	b := &engine.Batch{Seq: seq, Tx: tx, Begin: true}
	for i := range n {
		p := int64(0)
		for _, j := range poisoned {
			if j == i {
				p = 1
			}
		}
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: poisonTable, After: []any{int64(i), p}, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: tx.Pos + uint32(i)})
	}
	return b
}

// watModule is a reactor handler in WAT: imports, then the handle body, then
// extra definitions. abi is the version marker export's name.
func watModule(imports, abi, handle, extra string) string {
	return fmt.Sprintf(`(module
  %s
  (memory (export "memory") 4)
  (func (export %q))
  (func (export "puma_alloc") (param i32) (result i32) (i32.const 65536))
  (func (export "puma_init") (param i32 i32) (result i64) (i64.const 0))
  (func (export "puma_handle") (param i32 i32) (result i64) %s)
  %s
)`, imports, abi, handle, extra)
}

// reply packs a reply at offset 0 of length n.
func packed(n int) string { return fmt.Sprintf("(i64.const %d)", n) }

func TestFaultsWAT(t *testing.T) {
	// A reply whose one record claims more bytes than there are.
	overrun := `(data (i32.const 0) "\03\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\03\00\00\00\ff\ff\00\00")`
	// A keep verdict for change 7 of a batch of 2.
	badIndex := `(data (i32.const 0) "\03\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\03\00\00\00\08\00\00\00\07\00\00\00\00\00\00\00")`
	tests := []struct {
		name      string
		wat       string
		maxMemory uint64
		load      bool // fails at load
		fault     error
		msg       string
	}{
		{name: "trap", wat: watModule("", wire.ExportABI, "unreachable", ""), fault: hostabi.ErrTrap, msg: "trap in puma_handle: wasm error: unreachable"},
		{name: "loop", wat: watModule("", wire.ExportABI, "(loop $l (br $l)) (i64.const 0)", ""), fault: hostabi.ErrTimeout, msg: "timeout after 300ms in puma_handle (instance discarded)"},
		{name: "grow", maxMemory: 1 << 20, wat: watModule("", wire.ExportABI, "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable", ""), fault: hostabi.ErrOutOfMemory, msg: "out of memory (max_memory 1MiB)"},
		{name: "overrun", wat: watModule("", wire.ExportABI, packed(24), overrun), fault: hostabi.ErrMalformed, msg: "malformed reply at offset 16: record length 65535 overruns the message"},
		{name: "bad index", wat: watModule("", wire.ExportABI, packed(32), badIndex), fault: hostabi.ErrMalformed, msg: "malformed verdict at offset 24: index 7 out of order or range (next 0, batch of 2)"},
		{name: "reply outside memory", wat: watModule("", wire.ExportABI, "(i64.const 0x7fff000000001000)", ""), fault: hostabi.ErrMalformed, msg: "malformed reply: reply at 0x7fff0000 of 4096 bytes lies outside memory"},
		{name: "abi v3", wat: watModule("", "puma_abi_v3", "(i64.const 0)", ""), load: true, fault: hostabi.ErrLoad, msg: "the module is built for plugin ABI v3; this Puma speaks ABI v1 to v2"},
		{name: "no abi", wat: watModule("", "hello", "(i64.const 0)", ""), load: true, fault: hostabi.ErrLoad, msg: "not a Puma plugin: it exports no puma_abi_v<N> function"},
		{name: "missing export", wat: strings.Replace(watModule("", wire.ExportABI, "(i64.const 0)", ""), `(export "puma_alloc")`, "", 1), load: true, fault: hostabi.ErrLoad, msg: "missing export puma_alloc"},
		{name: "not granted", wat: watModule(`(import "puma" "file_open" (func (param i32 i32 i32) (result i64)))`, wire.ExportABI, "(i64.const 0)", ""), load: true, fault: hostabi.ErrLoad, msg: `the module imports puma.file_open, which needs the "files" grant: add grants = { files = ["<dir>"] }`},
		{name: "unknown host function", wat: watModule(`(import "puma" "socket" (func))`, wire.ExportABI, "(i64.const 0)", ""), load: true, fault: hostabi.ErrLoad, msg: "imports puma.socket, which plugin ABI v2 does not have"},
		{name: "foreign import", wat: watModule(`(import "env" "f" (func))`, wire.ExportABI, "(i64.const 0)", ""), load: true, fault: hostabi.ErrLoad, msg: "imports env.f: plugins may import only from puma and wasi_snapshot_preview1"},
	}
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wasm := hostabitest.WAT(t, tc.wat)
			s := hostabi.Spec{Task: "t", Name: "fault", Timeout: 300 * time.Millisecond, MaxMemory: 64 << 20, Config: []byte("{}")}
			if tc.maxMemory != 0 {
				s.MaxMemory = tc.maxMemory
			}
			m, err := h.Load(ctx, "fault.wasm", wasm)
			var hd *hostabi.Handler
			if err == nil {
				s.Module = m
				hd, err = h.StartHandler(ctx, s)
			}
			if tc.load {
				checkErr(t, err, tc.fault, tc.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer hd.Close()
			// Twice: the second call runs on a fresh instance and fails the
			// same way.
			for range 2 {
				_, err = hd.Handle(ctx, poisonBatch(1, 2))
				checkErr(t, err, tc.fault, tc.msg)
			}
		})
	}
}

func checkErr(t *testing.T, err, fault error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", fault)
	}
	if !errors.Is(err, fault) {
		t.Errorf("error %q is not %v", err, fault)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q\n does not say %q", err, msg)
	}
	if !strings.Contains(err.Error(), "plugin fault") {
		t.Errorf("error %q does not name the plugin", err)
	}
}

func TestFaultsGo(t *testing.T) {
	tests := []struct {
		mode      string
		fault     error
		msg       string
		discarded bool
	}{
		{mode: "trap", fault: hostabi.ErrTrap, msg: "out of bounds memory access", discarded: true},
		{mode: "exit", fault: hostabi.ErrTrap, msg: "exited with code 3 in puma_handle", discarded: true},
		{mode: "loop", fault: hostabi.ErrTimeout, msg: "timeout after 500ms", discarded: true},
		{mode: "alloc", fault: hostabi.ErrOutOfMemory, msg: "out of memory (max_memory 32MiB)", discarded: true},
		{mode: "panic", fault: hostabi.ErrTrap, msg: "panic in puma_handle at github.com/pumacdc/puma/hostabi/testdata/faulty/main.go:36: poisoned row (instance discarded; the stack is in the log)", discarded: true},
		{mode: "deadlock", fault: hostabi.ErrTrap, msg: "fatal error in puma_handle at github.com/pumacdc/puma/hostabi/testdata/faulty/main.go:40: all goroutines are asleep - deadlock! (instance discarded", discarded: true},
		{mode: "nilmap", fault: hostabi.ErrTrap, msg: "panic in puma_handle at github.com/pumacdc/puma/hostabi/testdata/faulty/main.go:38: assignment to entry in nil map (instance discarded", discarded: true},
		{mode: "fail", fault: hostabi.ErrPlugin, msg: "change 1 (shop.orders bin.000001:1001 tx 0-1-1 seq 2): error 42: poisoned row"},
	}
	h := newHost(t, t.TempDir())
	ctx := context.Background()
	wasm := hostabitest.BuildGo(t, "./hostabi/testdata/faulty")
	m, err := h.Load(ctx, "faulty.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			hd, err := h.StartHandler(ctx, hostabi.Spec{Task: "t", Name: "fault", Module: m,
				Timeout: 500 * time.Millisecond, MaxMemory: 32 << 20, Config: []byte(`{"mode":"` + tc.mode + `"}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer hd.Close()
			if _, err := hd.Handle(ctx, poisonBatch(1, 3)); err != nil {
				t.Fatalf("clean batch: %v", err)
			}
			_, err = hd.Handle(ctx, poisonBatch(1, 3, 1))
			checkErr(t, err, tc.fault, tc.msg)
			var e *hostabi.Error
			if errors.As(err, &e) && e.Plugin != "fault" {
				t.Errorf("Error.Plugin = %q", e.Plugin)
			}
			// The plugin goes on (on a fresh instance after a trap).
			out, err := hd.Handle(ctx, poisonBatch(2, 3))
			if err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			if len(out.Changes) != 3 {
				t.Fatalf("after the fault: %d changes, want 3", len(out.Changes))
			}
		})
	}
}

func TestInitFailure(t *testing.T) {
	h := newHost(t, t.TempDir())
	_, err := h.NewHandler(context.Background(), "t", plugin("filter", "builtin:filter", map[string]any{"where": "a = ", "bogus": 1}, nil))
	checkErrNamed(t, err, hostabi.ErrLoad, `init failed: config: json: unknown field "bogus"`, "filter")
	_, err = h.NewHandler(context.Background(), "t", plugin("filter", "builtin:filter", map[string]any{"where": "a = "}, nil))
	checkErrNamed(t, err, hostabi.ErrLoad, `init failed: config: where: at character 5: want a 'string', a number or NULL, got end of input`, "filter")
	_, err = h.NewSender(context.Background(), "t", plugin("filter", "builtin:filter", nil, nil))
	checkErrNamed(t, err, hostabi.ErrLoad, "configured as a sender", "filter")
	_, err = h.NewSender(context.Background(), "t", plugin("jsonl", "builtin:jsonl", map[string]any{"path": "x.jsonl"}, nil))
	checkErrNamed(t, err, hostabi.ErrLoad, `builtin:jsonl needs the "files" grant: add grants = { files = ["<dir>"] }`, "jsonl")
}

func checkErrNamed(t *testing.T, err, fault error, msg, name string) {
	t.Helper()
	if err == nil || !errors.Is(err, fault) || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "plugin "+name) {
		t.Errorf("error %v\nwant %v saying %q", err, fault, msg)
	}
}
