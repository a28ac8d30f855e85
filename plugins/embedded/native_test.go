package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
)

var (
	orders = &engine.Table{
		DB: "shop", Name: "orders", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
		Columns: []engine.Column{
			{Name: "id", Kind: engine.KindInt},
			{Name: "customer", Kind: engine.KindString, Nullable: true},
			{Name: "status", Kind: engine.KindEnum, Values: []string{"live", "test"}},
			{Name: "amount", Kind: engine.KindDecimal, Nullable: true},
			{Name: "placed", Kind: engine.KindDateTime},
			{Name: "weight", Kind: engine.KindDouble, Nullable: true},
		},
	}
	audit = &engine.Table{
		DB: "shop", Name: "audit_log", KeyKind: engine.KeyRow, Key: []int{0, 1}, Version: 2,
		Columns: []engine.Column{
			{Name: "seq", Kind: engine.KindUint},
			{Name: "note", Kind: engine.KindString},
		},
	}
)

// chains are the native built-ins in chains as a task configures them.
var chains = map[string][]engine.PluginConfig{
	"filter": {
		handler("filter", map[string]any{"include": []any{"shop.*"}, "exclude": []any{"shop.audit_*"}, "ops": []any{"c", "u", "d", "ddl"},
			"where": "status != 'test' AND (amount >= 10.5 OR customer IN ('ann', 'bob')) AND weight IS NOT NULL"}),
	},
	"mask": {
		handler("mask", map[string]any{"salt_secret": "salt", "hash": []any{"shop.orders.customer", "shop.*.note"}, "redact": []any{"shop.orders.weight"}}),
	},
	"filter, mask, rename, route": {
		handler("filter", map[string]any{"where": "amount < 900 OR amount IS NULL"}),
		handler("mask", map[string]any{"salt_secret": "salt", "hash": []any{"shop.orders.customer"}, "truncate": map[string]any{"shop.audit_log.note": 0}}),
		handler("rename", map[string]any{"tables": map[string]any{"shop.orders": "crm.sales"}, "columns": map[string]any{"shop.orders.amount": "total", "shop.*.note": "text"}}),
		handler("route", map[string]any{"key": "{db}/{table}/{id}", "tables": map[string]any{"shop.audit_log": "audit/{seq}"}}),
	},
}

func handler(name string, cfg map[string]any) engine.PluginConfig {
	return engine.PluginConfig{Plugin: "builtin:" + name, Name: name, Config: cfg, Timeout: 5 * time.Second, MaxMemory: 64 << 20}
}

// batches makes n batches of random changes to orders and audit (with
// NULLs, updates, deletes and a DDL change), reproducibly from seed.
func batches(seed uint64, n int) []*engine.Batch {
	r := rand.New(rand.NewPCG(seed, 1))
	pick := func(vs ...any) any { return vs[r.IntN(len(vs))] }
	row := func() []any {
		return []any{
			r.Int64N(1000), pick(nil, "ann", "bob", "cy", "Ann"), pick("live", "test", ""),
			pick(nil, "10.5", "10.49", "-3", "999.99", "0", "12"), fmt.Sprintf("2026-12-%02d 10:00:00.%06d", 1+r.IntN(28), r.IntN(1e6)),
			pick(nil, 1.5, -0.0, 3e100),
		}
	}
	var out []*engine.Batch
	seq := uint32(0)
	for i := range n {
		tx := &engine.Tx{ID: fmt.Sprintf("0-1-%d", i+1), GTID: fmt.Sprintf("0-1-%d", i+1), ServerID: 1, File: "bin.000001", Pos: uint32(100 * i)}
		b := &engine.Batch{Seq: uint64(i + 1), Tx: tx, Begin: true, Commit: &position.Position{ServerID: 1, Flavor: "mariadb", File: "bin.000001", Pos: uint32(100*i + 90)}}
		for range 1 + r.IntN(40) {
			seq++
			c := engine.Change{Seq: seq, Tx: tx, File: "bin.000001", Pos: uint32(100*i + 10)}
			switch k := r.IntN(20); {
			case k == 0:
				c.Op, c.Table = engine.OpInsert, audit
				c.After = []any{r.Uint64(), pick("x", "y")}
			case k == 1:
				c.Op, c.DB, c.Statement = engine.OpDDL, pick("shop", "other").(string), "ALTER TABLE t ADD c INT"
			case k < 8:
				c.Op, c.Table, c.Before, c.After = engine.OpUpdate, orders, row(), row()
			case k < 11:
				c.Op, c.Table, c.Before = engine.OpDelete, orders, row()
			default:
				c.Op, c.Table, c.After = engine.OpInsert, orders, row()
			}
			b.Changes = append(b.Changes, c)
		}
		out = append(out, b)
	}
	return out
}

// run passes bs through a chain of handlers made on h from cfgs, and
// returns what comes out rendered as envelopes, with each change's route
// (nil after an error, reported to t).
func run(t *testing.T, h *hostabi.Host, cfgs []engine.PluginConfig, bs []*engine.Batch) []string {
	t.Helper()
	ctx := context.Background()
	var chain []*hostabi.Handler
	for _, pc := range cfgs {
		hd, err := h.NewHandler(ctx, "shop", pc)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer hd.Close()
		chain = append(chain, hd)
	}
	var out []string
	for _, in := range bs {
		b := in
		for _, hd := range chain {
			var err error
			if b, err = hd.Handle(ctx, b); err != nil {
				t.Errorf("batch %d: %v", in.Seq, err)
				return nil
			}
		}
		e := engine.Envelopes{Name: "shop"}
		e.StartBatch(b, time.Unix(0, 0))
		for i := range b.Changes {
			out = append(out, b.Changes[i].Route+" "+string(e.AppendOne(nil, &b.Changes[i])))
		}
	}
	return out
}

// newHost serves the embedded built-ins, natively where they can run so
// or (wasm) all of them in the embedded module.
func newHost(t *testing.T, wasm bool) *hostabi.Host { return hostIn(t, t.TempDir(), wasm) }

// hostIn is newHost with dir as puma.toml's directory.
func hostIn(t *testing.T, dir string, wasm bool) *hostabi.Host {
	return hostabitest.NewHost(t, dir, hostabi.Options{
		Secrets: map[string]engine.Secret{"salt": "pepper", "hmac_key": "k3y", "token": "s3cret"},
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			b, ok := Builtin(name, config, dir)
			if wasm {
				b.Native = nil
			}
			return b, ok
		}})
}

// TestNativeMatchesWasm: the built-ins Puma runs natively give, change for
// change, what the same plugins give in the embedded Wasm module.
func TestNativeMatchesWasm(t *testing.T) {
	for _, name := range []string{"filter", "mask", "rename", "route"} {
		if b, _ := Builtin(name, nil, ""); b.Native == nil {
			t.Errorf("builtin:%s does not run natively", name)
		}
	}
	bs := batches(7, 60)
	for name, cfgs := range chains {
		t.Run(name, func(t *testing.T) {
			native, wasm := run(t, newHost(t, false), cfgs, bs), run(t, newHost(t, true), cfgs, bs)
			if len(native) != len(wasm) {
				t.Fatalf("natively %d changes came out, in Wasm %d", len(native), len(wasm))
			}
			in := 0
			for _, b := range bs {
				in += len(b.Changes)
			}
			if len(native) == 0 || len(native) == in && cfgs[0].Name == "filter" {
				t.Fatalf("%d of %d changes came out: the filter tests nothing", len(native), in)
			}
			for i := range native {
				if native[i] != wasm[i] {
					t.Fatalf("change %d natively:\n%s\nin Wasm:\n%s", i, native[i], wasm[i])
				}
			}
		})
	}
}

// Native instances keep their own state: handlers of different configs
// run at once, each on its own goroutine, and each gives what it gives
// alone.
func TestNativeInstancesConcurrent(t *testing.T) {
	bs := batches(11, 30)
	h := newHost(t, false)
	cfgs := []engine.PluginConfig{
		handler("filter", map[string]any{"where": "amount >= 10.5"}),
		handler("filter", map[string]any{"where": "amount < 10.5"}),
		handler("filter", map[string]any{"ops": []any{"d"}}),
		handler("route", map[string]any{"key": "{table}-{op}"}),
	}
	alone := make([][]string, len(cfgs))
	for i, pc := range cfgs {
		alone[i] = run(t, h, []engine.PluginConfig{pc}, bs)
	}
	var wg sync.WaitGroup
	together := make([][]string, len(cfgs))
	for i, pc := range cfgs {
		wg.Go(func() {
			for range 5 {
				together[i] = run(t, h, []engine.PluginConfig{pc}, bs)
			}
		})
	}
	wg.Wait()
	for i := range cfgs {
		if strings.Join(together[i], "\n") != strings.Join(alone[i], "\n") {
			t.Errorf("handler %d (%v) gave other changes running beside the others", i, cfgs[i].Config)
		}
	}
	if len(alone[0])+len(alone[1]) == 0 || len(alone[0]) == len(alone[1]) {
		t.Errorf("the two filters kept %d and %d changes: the test cannot tell them apart", len(alone[0]), len(alone[1]))
	}
}

// A native built-in is refused as a sender with the error its module
// gives, and a bad config fails the task's start.
func TestNativeErrors(t *testing.T) {
	h := newHost(t, false)
	ctx := context.Background()
	_, err := h.NewSender(ctx, "shop", handler("filter", nil))
	if err == nil || !strings.Contains(err.Error(), "builtin:filter is a handler; it cannot be configured as a sender") {
		t.Errorf("filter as a sender: %v", err)
	}
	_, err = h.NewHandler(ctx, "shop", handler("filter", map[string]any{"where": "amount >>= 1"}))
	var e *hostabi.Error
	if !errors.As(err, &e) || !errors.Is(e.Fault, hostabi.ErrLoad) || !strings.Contains(err.Error(), "config: where") {
		t.Errorf("bad where: %v", err)
	}
}

// panicky is a native plugin whose handler panics on a change whose id
// is 13, as a bug would.
func panicky(wire.Role, hostabi.NativeHost) (hostabi.Native, error) {
	p := sdk.Plugin{Handler: func(r *sdk.Row) sdk.Verdict {
		if r.After().Int("id") == 13 {
			var m map[string]int
			m["boom"]++
		}
		return sdk.Keep()
	}}
	return sdk.NewInstance(p), nil
}

// nativeHandler starts builtin:filter's handler with mk making its native
// instances in place of the filter's.
func nativeHandler(t *testing.T, mk func(wire.Role, hostabi.NativeHost) (hostabi.Native, error)) *hostabi.Handler {
	t.Helper()
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
		b, ok := Builtin("filter", config, "")
		b.Native = mk
		return b, ok
	}})
	hd, err := h.NewHandler(context.Background(), "shop", handler("filter", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hd.Close() })
	return hd
}

// A native plugin's panic is a fault: the batch fails as on a trap, the
// instance is discarded, and the next batch runs on a fresh one.
func TestNativePanic(t *testing.T) {
	hd := nativeHandler(t, panicky)
	ctx := context.Background()
	mk := func(id int64) *engine.Batch {
		tx := &engine.Tx{ID: "0-1-1", ServerID: 1}
		return &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
			{Op: engine.OpInsert, Table: orders, Tx: tx, Seq: 1, After: []any{id, nil, "live", nil, "2026-12-01 00:00:00", nil}},
		}}
	}
	_, err := hd.Handle(ctx, mk(13))
	var e *hostabi.Error
	if !errors.As(err, &e) || !errors.Is(e.Fault, hostabi.ErrTrap) || !strings.Contains(err.Error(), "panic in puma_handle: assignment to entry in nil map") {
		t.Fatalf("a panicking handler: %v", err)
	}
	out, err := hd.Handle(ctx, mk(14))
	if err != nil || len(out.Changes) != 1 {
		t.Fatalf("the next batch, on a fresh instance: %v", err)
	}
}

// A native call running past the plugin's timeout is not interrupted,
// but it is said in the log.
func TestNativeTimeoutLogged(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	h := hostabitest.NewHost(t, t.TempDir(), hostabi.Options{
		Log: slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil)),
		Builtin: func(name string, config map[string]any) (hostabi.Builtin, bool) {
			b, ok := Builtin("filter", config, "")
			b.Native = func(wire.Role, hostabi.NativeHost) (hostabi.Native, error) {
				return sdk.NewInstance(sdk.Plugin{Handler: func(*sdk.Row) sdk.Verdict {
					time.Sleep(300 * time.Millisecond)
					return sdk.Keep()
				}}), nil
			}
			return b, ok
		}})
	pc := handler("filter", nil)
	pc.Timeout = 50 * time.Millisecond
	hd, err := h.NewHandler(context.Background(), "shop", pc)
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	tx := &engine.Tx{ID: "0-1-1", ServerID: 1}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: orders, Tx: tx, Seq: 1, After: []any{int64(1), nil, "live", nil, "2026-12-01 00:00:00", nil}},
	}}
	if out, err := hd.Handle(context.Background(), b); err != nil || len(out.Changes) != 1 {
		t.Fatalf("a slow native call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "plugin call running past its timeout") || !strings.Contains(log.String(), "in=puma_handle") {
		t.Errorf("log:\n%s", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A native instance declares the columns it reads in Init only: later,
// ReadColumns fails and the instance goes on getting what it declared.
func TestNativeReadColumnsInInit(t *testing.T) {
	var late error
	var seen []string
	mk := func(_ wire.Role, nh hostabi.NativeHost) (hostabi.Native, error) {
		p := sdk.Plugin{
			Init: func([]byte) error { return nh.ReadColumns([]string{"ID"}, false) },
			Handler: func(r *sdk.Row) sdk.Verdict {
				late = nh.ReadColumns(nil, false)
				a := r.After()
				seen = append(seen, fmt.Sprint(a.Has("id"), a.Has("status")))
				return sdk.Keep()
			}}
		return sdk.NewInstance(p), nil
	}
	hd := nativeHandler(t, mk)
	ctx := context.Background()
	tx := &engine.Tx{ID: "0-1-1", ServerID: 1}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true, Changes: []engine.Change{
		{Op: engine.OpInsert, Table: orders, Tx: tx, Seq: 1, After: []any{int64(7), nil, "live", nil, "2026-12-01 00:00:00", nil}},
	}}
	out, err := hd.Handle(ctx, b)
	if err != nil || len(out.Changes) != 1 || out.Changes[0].After[2] != "live" {
		t.Fatalf("handled: %v, %+v", err, out)
	}
	if late == nil || !strings.Contains(late.Error(), "only Init declares the columns read") {
		t.Errorf("ReadColumns outside Init: %v", late)
	}
	if want := []string{"true false"}; !slices.Equal(seen, want) {
		t.Errorf("the handler saw id, status present: %v, want %v", seen, want)
	}
}
