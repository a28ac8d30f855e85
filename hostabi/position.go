package hostabi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/wire"
)

// A sender that keeps its applied position at its destination reports it
// in puma_init with applied_position, and learns the token to store with
// each commit from commit_position (ABI.md, "Applied positions"). The
// token is the engine's position of the commit as JSON: the host reads
// back only what it wrote, and compares positions itself
// (engine.Applied), so no guest has to understand GTID sets.

func init() {
	registerHostFuncs(
		hostFunc{wire.ImportAppliedPosition, (*caps).appliedPosition, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		hostFunc{wire.ImportCommitPosition, (*caps).commitPosition, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	)
}

// appliedState is what a positioned sender reported, shared by its
// instances: each instance's init reports it again, so after a fault the
// host knows what the failed call left applied.
type appliedState struct {
	positioned bool
	pos        position.Position
}

// MaxPositionToken bounds a position token a guest reports.
const MaxPositionToken = 64 << 10

func (c *caps) appliedPosition(_ context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doAppliedPosition(m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doAppliedPosition(m api.Module, ptr, n uint32) int64 {
	if !c.initing || c.applied == nil {
		return c.fail(wire.ErrnoDenied, "applied_position: only a sender's puma_init reports an applied position")
	}
	if n > MaxPositionToken {
		return c.fail(wire.ErrnoLimit, "applied_position: a token of %d bytes (at most %d)", n, MaxPositionToken)
	}
	tok, ok := m.Memory().Read(ptr, n)
	if !ok {
		return c.fail(wire.ErrnoInvalid, "applied_position: token out of bounds")
	}
	pos, err := ParsePositionToken(tok)
	if err != nil {
		return c.fail(wire.ErrnoInvalid, "applied_position: %v", err)
	}
	c.applied.positioned, c.applied.pos = true, pos
	return 0
}

func (c *caps) commitPosition(_ context.Context, m api.Module, stack []uint64) {
	ret32(stack, c.doCommitPosition(m, uint32(stack[0]), uint32(stack[1])))
}

func (c *caps) doCommitPosition(m api.Module, ptr, capacity uint32) int64 {
	b := c.batch
	if b == nil {
		return c.fail(wire.ErrnoInvalid, "commit_position: no batch is being sent")
	}
	if b.Commit == nil {
		return c.fail(wire.ErrnoNotFound, "commit_position: batch %d does not close its transaction", b.Seq)
	}
	if c.posBatch != b {
		tok, err := PositionToken(*b.Commit)
		if err != nil {
			return c.fail(wire.ErrnoInvalid, "commit_position: %v", err)
		}
		c.posBatch, c.posToken = b, tok
	}
	out := c.posToken[:min(len(c.posToken), int(capacity))]
	if !m.Memory().Write(ptr, out) {
		return c.fail(wire.ErrnoInvalid, "commit_position: buffer out of bounds")
	}
	return int64(len(c.posToken))
}

// PositionToken is the token commit_position gives a sender for the
// commit at p: p as JSON.
func PositionToken(p position.Position) ([]byte, error) { return json.Marshal(p) }

// ParsePositionToken reads a token back; empty is the zero position
// (nothing applied yet). It refuses what the host could not have written.
func ParsePositionToken(tok []byte) (position.Position, error) {
	var p position.Position
	if len(tok) == 0 {
		return p, nil
	}
	d := json.NewDecoder(bytes.NewReader(tok))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return p, fmt.Errorf("not a position token: %v", err)
	}
	if d.More() {
		return p, fmt.Errorf("not a position token: data after the position")
	}
	switch {
	case p.IsZero():
		return p, fmt.Errorf("not a position token: no file and no GTID set")
	case p.Flavor != "" && p.Flavor != "mariadb" && p.Flavor != "mysql":
		return p, fmt.Errorf("not a position token: flavor %q", p.Flavor)
	}
	if _, err := p.GTIDs(); err != nil {
		return p, fmt.Errorf("not a position token: %v", err)
	}
	return p, nil
}

// Positioned reports whether the sender keeps its own applied position
// (it called applied_position in its init).
func (sd *Sender) Positioned() bool { return sd.p.applied.positioned }

var _ engine.PositionedSender = (*Sender)(nil)

// unapplied returns the batches of g the sender's destination has not
// applied yet (all of them for a sender keeping no position), logging
// those it skips.
func (p *plugin) unapplied(g []*engine.Batch) []*engine.Batch {
	if !p.applied.positioned || p.applied.pos.IsZero() {
		return g
	}
	out := g[:0:0]
	skipped := 0
	for _, b := range g {
		if engine.Applied(p.applied.pos, b) {
			skipped++
			continue
		}
		out = append(out, b)
	}
	if skipped > 0 {
		p.log.Info("skipped batches the destination already applied", "batches", skipped, "applied", p.applied.pos.String())
	}
	return out
}
