package hostabi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// memModule is the part of a module the envelope host function touches.
type memModule struct {
	api.Module
	mem *memory
}

func (m memModule) Memory() api.Memory { return m.mem }

type memory struct {
	api.Memory
	b []byte
}

func (m *memory) Write(off uint32, v []byte) bool {
	if uint64(off)+uint64(len(v)) > uint64(len(m.b)) {
		return false
	}
	copy(m.b[off:], v)
	return true
}

func TestEnvelopeHostFunction(t *testing.T) {
	cust := &engine.Table{DB: "shop", Name: "customers", Version: 1, KeyKind: engine.KeyPrimary, Key: []int{0}, Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt}, {Name: "email", Kind: engine.KindString, Charset: "utf8mb4"}}}
	tx := &engine.Tx{ID: "0-1-7", GTID: "0-1-7", ServerID: 1, File: "bin.000001", Pos: 4}
	b := &engine.Batch{Seq: 1, Tx: tx, Begin: true}
	for i := range 3 {
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: cust, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i),
			After: []any{int64(i), "user\"" + string(rune('a'+i)) + "@example.com"}})
	}
	now := time.Unix(1764065100, 5)
	// want renders them as a sender of task "shop" would, in order: the
	// host must number total_order the same whichever change it starts at.
	want := func(sep byte, flags wire.EnvelopeFlags) [][]byte {
		e := engine.Envelopes{Name: "shop", Flags: flags}
		e.StartBatch(b, now)
		var out [][]byte
		for i := range b.Changes {
			out = append(out, e.AppendChange(nil, &b.Changes[i], sep))
		}
		return out
	}
	wantNL := want('\n', 0)
	m := memModule{mem: &memory{b: make([]byte, 1<<16)}}
	c := &caps{h: &Host{opts: Options{Now: func() time.Time { return now }}}, enc: engine.Envelopes{Name: "shop"}}

	if rc := c.doEnvelope(m, 0, 4096, 0, '\n'); rc != int64(wire.ErrnoInvalid) || c.lastErr != "envelope: no batch is being handled" {
		t.Fatalf("outside a call: %d %q", rc, c.lastErr)
	}
	c.batch = b
	if rc := c.doEnvelope(m, 0, 4096, 4, '\n'); rc != int64(wire.ErrnoInvalid) {
		t.Fatalf("from beyond the end: %d %q", rc, c.lastErr)
	}
	if rc := c.doEnvelope(m, 1<<16-8, 4096, 0, '\n'); rc != int64(wire.ErrnoInvalid) {
		t.Fatalf("buffer out of bounds: %d %q", rc, c.lastErr)
	}
	// Too small for the first: nothing written, the size it needs.
	if rc := c.doEnvelope(m, 0, uint32(len(wantNL[0])-1), 0, '\n'); rc != int64(len(wantNL[0])) {
		t.Fatalf("too small: got %d, want 0<<32|%d", rc, len(wantNL[0]))
	}
	// Room for two: two whole ones.
	two := len(wantNL[1]) + len(wantNL[2])
	rc := c.doEnvelope(m, 100, uint32(two+len(wantNL[2])/2), 1, '\n')
	if n, w := rc>>32, int(uint32(rc)); n != 2 || w != two {
		t.Fatalf("two of them: count %d bytes %d, want 2 and %d", n, w, two)
	}
	if got := m.mem.b[100 : 100+two]; !bytes.Equal(got, append(append([]byte(nil), wantNL[1]...), wantNL[2]...)) {
		t.Fatalf("wrote\n%s\nwant\n%s%s", got, wantNL[1], wantNL[2])
	}
	// The separator is the caller's.
	rc = c.doEnvelope(m, 0, 4096, 2, ',')
	if got := m.mem.b[:uint32(rc)]; rc>>32 != 1 || !bytes.Equal(got, append(wantNL[2][:len(wantNL[2])-1:len(wantNL[2])-1], ',')) {
		t.Fatalf("separator: %d %s", rc>>32, got)
	}
	// The options ride above the separator, and the host renders with them.
	withSchema := want('\n', wire.EnvWithSchema)
	rc = c.doEnvelope(m, 0, 1<<15, 1, '\n'|uint32(wire.EnvWithSchema)<<8)
	if got, w := m.mem.b[:uint32(rc)], bytes.Join(withSchema[1:], nil); rc>>32 != 2 || !bytes.Equal(got, w) {
		t.Fatalf("with_schema: %d\n got %s\nwant %s", rc>>32, got, w)
	}
	if rc := c.doEnvelope(m, 0, 4096, 0, '\n'|1<<31); rc != int64(wire.ErrnoInvalid) || !strings.Contains(c.lastErr, "unknown options") {
		t.Fatalf("unknown option bits: %d %q", rc, c.lastErr)
	}
}
