package hostabi

import (
	"bytes"
	"testing"

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
	var want [][]byte
	for i := range 3 {
		b.Changes = append(b.Changes, engine.Change{Op: engine.OpInsert, Table: cust, Seq: uint32(i + 1), Tx: tx, File: tx.File, Pos: uint32(100 + i),
			After: []any{int64(i), "user\"" + string(rune('a'+i)) + "@example.com"}})
		want = append(want, append(engine.AppendEnvelope(nil, &b.Changes[i]), '\n'))
	}
	m := memModule{mem: &memory{b: make([]byte, 1<<16)}}
	c := &caps{}

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
	if rc := c.doEnvelope(m, 0, uint32(len(want[0])-1), 0, '\n'); rc != int64(len(want[0])) {
		t.Fatalf("too small: got %d, want 0<<32|%d", rc, len(want[0]))
	}
	// Room for two: two whole ones.
	two := len(want[1]) + len(want[2])
	rc := c.doEnvelope(m, 100, uint32(two+len(want[2])/2), 1, '\n')
	if n, w := rc>>32, int(uint32(rc)); n != 2 || w != two {
		t.Fatalf("two of them: count %d bytes %d, want 2 and %d", n, w, two)
	}
	if got := m.mem.b[100 : 100+two]; !bytes.Equal(got, append(append([]byte(nil), want[1]...), want[2]...)) {
		t.Fatalf("wrote\n%s\nwant\n%s%s", got, want[1], want[2])
	}
	// The separator is the caller's.
	rc = c.doEnvelope(m, 0, 4096, 2, ',')
	if got := m.mem.b[:uint32(rc)]; rc>>32 != 1 || !bytes.Equal(got, append(want[2][:len(want[2])-1:len(want[2])-1], ',')) {
		t.Fatalf("separator: %d %s", rc>>32, got)
	}
}
