package hostabi

import (
	"context"
	"slices"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/hostabi/wire"
)

// EncodeBatches encodes bs as one fresh instance would receive them
// (tables announced on first use), for fuzz seeds.
func EncodeBatches(bs []*engine.Batch) [][]byte {
	in := testInstance()
	var out [][]byte
	for _, b := range bs {
		out = append(out, slices.Clone(in.encodeBatch(b)))
	}
	return out
}

// ReplyDecoder returns a function applying a reply to bs[i], on an
// instance that has been sent every batch of bs.
func ReplyDecoder(bs []*engine.Batch) func(i int, rep []byte) (*engine.Batch, error) {
	in := testInstance()
	for _, b := range bs {
		in.encodeBatch(b)
	}
	return func(i int, rep []byte) (*engine.Batch, error) { return in.applyReply(bs[i], rep) }
}

func testInstance() *instance {
	return &instance{
		p:     &plugin{spec: Spec{Name: "fuzz", Module: &Module{name: "fuzz", version: wire.Version}}},
		ids:   make(map[*engine.Table]uint32),
		byID:  make(map[uint32]*engine.Table),
		out:   make(map[uint32]*engine.Table),
		kinds: make(map[*engine.Table][]wire.Kind),
	}
}

// RawReply sends b to the handler and returns a copy of its raw reply.
func (hd *Handler) RawReply(ctx context.Context, b *engine.Batch) ([]byte, error) {
	_, rep, err := hd.p.exchange(ctx, b)
	return slices.Clone(rep), err
}

// FileSyncs returns how many times the sender's running instance synced a
// file.
func FileSyncs(s *Sender) int { return s.p.in.caps.syncs }

// FileWrites returns how many times the sender's running instance wrote
// to a file.
func FileWrites(s *Sender) int { return s.p.in.caps.writes }
