package sdk

import (
	"bytes"
	"errors"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
)

// testBatch is a batch of 256 rows; with announce it first announces
// their table, as the host does once per instance.
func testBatch(t testing.TB, announce bool) (msg []byte) {
	var e wire.Encoder
	e.StartBatch(1, true, &wire.Tx{ID: "x", ServerID: 1}, nil)
	if announce {
		e.Table(&wire.Table{ID: 1, DB: "shop", Name: "c", KeyKind: wire.KeyPrimary, Key: []uint16{0}, Columns: []wire.Column{
			{Name: "id", Kind: wire.KindInt}, {Name: "email", Kind: wire.KindString}, {Name: "n", Kind: wire.KindDouble},
		}})
	}
	for i := range 256 {
		e.StartChange(&wire.ChangeHeader{Op: wire.OpInsert, TableID: 1, Seq: uint32(i + 1)}, false, true)
		e.StartImage(3)
		e.Int(0, int64(i))
		e.String(1, "someone@example.com")
		e.Float(2, 1.5)
		e.EndImage()
		e.EndChange()
	}
	return append([]byte(nil), e.Finish()...)
}

func initHandler(t testing.TB, f func(r *Row) Verdict) {
	t.Helper()
	state.fn.Handler, state.fn.OutputSchema = f, nil
	var e wire.Encoder
	e.StartInit(wire.Version, wire.RoleHandler, "t", "p", []byte("{}"))
	if rep := NativeInit(e.Message()); len(rep) != 0 {
		t.Fatalf("init: %q", rep)
	}
}

// Reading values by name and keeping rows allocates nothing.
func TestHandleAllocs(t *testing.T) {
	first, msg := testBatch(t, true), testBatch(t, false)
	var n int
	initHandler(t, func(r *Row) Verdict {
		a := r.After()
		if a.String("email") != "" && a.Int("id") >= 0 && a.Float("n") == 1.5 && r.Table().FullName() == "shop.c" {
			n++
		}
		return Keep()
	})
	state.handle(first)
	allocs := testing.AllocsPerRun(50, func() {
		if rep := state.handle(msg); len(rep) != 0 {
			t.Fatalf("reply %q", rep)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("handler saw nothing")
	}
}

func BenchmarkHandleKeep(b *testing.B) {
	first, msg := testBatch(b, true), testBatch(b, false)
	initHandler(b, func(r *Row) Verdict {
		if r.After().String("email") == "" {
			return Drop()
		}
		return Keep()
	})
	state.handle(first)
	b.ReportAllocs()
	for b.Loop() {
		state.handle(msg)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/row")
}

// FuzzBatch feeds the guest's batch decoder arbitrary messages: decoding
// and reading every value must never panic. Seeds are real batches as the
// host encodes them (testdata/fuzz, written by hostabi's TestFuzzSeeds).
func FuzzBatch(f *testing.F) {
	f.Add(testBatch(f, true))
	f.Fuzz(func(t *testing.T, msg []byte) {
		p := &plugin{fn: state.fn, tables: make(map[uint32]*Table), inited: true, role: wire.RoleSender}
		p.readBatch(msg, false)
		defer func() {
			// A sender's change is decoded when read: a malformed one
			// fails the batch, and nothing else may panic.
			if v := recover(); v != nil {
				if _, ok := v.(malformed); !ok {
					panic(v)
				}
			}
		}()
		for i := range p.batch.Len() {
			r := p.batch.Row(i)
			tb := r.Table()
			_ = r.DB() + r.TableName() + r.Statement() + r.File()
			r.Route()
			if tb == nil {
				continue
			}
			for _, im := range []Image{r.Before(), r.After()} {
				for j := range len(tb.Columns) + 1 {
					v := im.At(j)
					_, _, _, _ = v.Int(), v.Uint(), v.Float(), v.Text()
					_ = v.Bytes()
				}
			}
		}
		b := &p.batch
		b.Tx()
		b.Commit()
	})
}

// TestStdlibOnly enforces that the SDK and the wire package import only
// the standard library (and each other): a plugin build pulls no
// third-party code.
func TestStdlibOnly(t *testing.T) {
	const mod = "github.com/pumacdc/puma/"
	allowed := func(path string) bool {
		return strings.HasPrefix(path, mod+"sdk") || path == mod+"hostabi/wire"
	}
	for _, dir := range []string{".", "../hostabi/wire", "files", "stdout", "http", "kv", "secrets", "envelope", "sdktest", "internal/host", "decimal"} {
		for _, goos := range []string{"linux", "wasip1"} {
			ctx := build.Default
			ctx.GOOS = goos
			if goos == "wasip1" {
				ctx.GOARCH = "wasm"
			}
			abs, _ := filepath.Abs(dir)
			pkg, err := ctx.ImportDir(abs, 0)
			if err != nil {
				if _, ok := err.(*build.NoGoError); ok {
					continue
				}
				t.Fatal(err)
			}
			for _, imp := range pkg.Imports {
				std := !strings.Contains(strings.Split(imp, "/")[0], ".")
				if !std && !allowed(imp) {
					t.Errorf("%s (%s) imports %s: the SDK and hostabi/wire may import only the standard library", dir, goos, imp)
				}
			}
		}
	}
	if _, err := os.Stat("../hostabi/wire/wire.go"); err != nil {
		t.Fatal(err)
	}
}

// TestSenderMalformedChange: a sender's changes are decoded when it reads
// them; one that cannot be decoded fails the batch as fatal, saying why,
// and a sender that never reads the rows does not decode them at all.
func TestSenderMalformedChange(t *testing.T) {
	defer Register(Plugin{})
	var e wire.Encoder
	e.StartInit(wire.Version, wire.RoleSender, "t", "p", []byte("{}"))
	read := true
	Register(Plugin{Sender: func(b *Batch) error {
		if read {
			for i := range b.Len() {
				b.Row(i)
			}
		}
		return nil
	}})
	if rep := NativeInit(e.Message()); len(rep) != 0 {
		t.Fatalf("init: %q", rep)
	}
	if rep := NativeSend(testBatch(t, true)); len(rep) != 0 {
		t.Fatalf("a good batch: %q", rep)
	}
	msg := testBatch(t, true)
	// Corrupt the op of the last change.
	hdr, err := wire.ParseBatch(msg)
	if err != nil {
		t.Fatal(err)
	}
	var last int
	for {
		tag, _, at, ok := hdr.Records.Next()
		if !ok {
			break
		}
		if tag == wire.RecChange {
			last = at
		}
	}
	msg[last] = 200 // no such op
	r, err := wire.ParseReply(NativeSend(msg))
	if err != nil || r.Status != wire.StatusFatal || !strings.Contains(string(r.Message), "sdk: malformed change at offset") || !strings.Contains(string(r.Message), "unknown op 200") {
		t.Fatalf("reply %+v %q, %v", r, r.Message, err)
	}
	read = false
	if rep := NativeSend(msg); len(rep) != 0 {
		t.Fatalf("rows never read: %q", rep)
	}
}

// TestSetAt: SetAt and SetBeforeAt set the same column Set and SetBefore
// do by name, and refuse an index the Out table lacks.
func TestSetAt(t *testing.T) {
	defer Register(Plugin{})
	replies := map[string][]byte{}
	for _, by := range []string{"name", "index"} {
		initHandler(t, func(r *Row) Verdict {
			var err error
			if by == "name" {
				err = r.Set("email", String("x@example.com"))
				if err := r.Set("nope", Null()); !errors.Is(err, ErrNoColumn) || err.Error() != "sdk: set shop.c.nope: no such column" {
					t.Errorf("Set of a column the table lacks: %v", err)
				}
			} else {
				err = r.SetAt(1, String("x@example.com"))
				if !errors.Is(r.SetAt(3, String("no such column")), ErrNoColumn) || !errors.Is(r.SetAt(-1, Null()), ErrNoColumn) {
					t.Error("SetAt accepted a column index out of range")
				}
				if err := r.SetBeforeAt(1, Null()); !errors.Is(err, ErrNoImage) || err.Error() != "sdk: set shop.c.email: a c change has no such image" {
					t.Errorf("SetBeforeAt of an insert: %v", err)
				}
			}
			if err != nil {
				t.Errorf("set by %s: %v", by, err)
			}
			return Keep()
		})
		replies[by] = append([]byte(nil), NativeHandle(testBatch(t, true))...)
	}
	if len(replies["name"]) == 0 || !bytes.Equal(replies["name"], replies["index"]) {
		t.Fatalf("replies differ: by name %d bytes, by index %d bytes", len(replies["name"]), len(replies["index"]))
	}
}

// FuzzGroup: a Group message, however malformed, gets a reply; nothing
// panics.
func FuzzGroup(f *testing.F) {
	b := testBatch(f, true)
	g := wire.AppendGroupBatch(wire.AppendGroup(nil, 2), b)
	g = wire.AppendGroupBatch(g, testBatch(f, false))
	f.Add(g)
	f.Add(g[:len(g)/2])
	f.Add(wire.AppendGroup(nil, 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		state.fn.Sender, state.fn.Flush = func(b *Batch) error {
			for i := range b.Len() {
				b.Row(i).After().At(0).Int()
			}
			return nil
		}, nil
		p := &plugin{fn: state.fn, tables: make(map[uint32]*Table), inited: true, role: wire.RoleSender}
		if rep := p.sendGroup(msg); len(rep) > 0 {
			if _, err := wire.ParseReply(rep); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
	})
}
