package hostabi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/tetratelabs/wazero/api"

	"github.com/pumacdc/puma/hostabi/wire"
)

// MaxKVKey bounds a kv key.
const MaxKVKey = 1 << 10

// kvStore is one plugin's kv state, kept consistent with the task's
// checkpoint (see RATIONALE.md, "kv state rides in the checkpoint").
//
// Writes during a call are staged and become a delta tagged with the
// batch's Seq only when the call succeeds; a failed call's writes vanish
// with it. head is base with every delta applied: what the plugin reads.
// snapshot(seq) folds the deltas up to seq into base and returns base
// encoded, for the checkpoint covering seq; later deltas stay pending. A
// batch opening a transaction while another is still open means the open
// one was abandoned (a dropped connection; the reader sends it again from
// its start), so its deltas are dropped.
//
// The plugin goroutine calls begin, get, put, del and end; the checkpoint
// goroutine calls snapshot; mu orders them.
type kvStore struct {
	max int

	mu       sync.Mutex
	base     map[string]string
	head     map[string]string
	headSize int
	deltas   []kvDelta
	// txOpen is set between a batch with Begin and the batch with Commit
	// of its transaction; openFrom indexes its first delta.
	txOpen   bool
	openFrom int
	// The call in progress.
	inBatch bool
	seq     uint64
	stage   map[string]kvValue
	size    int // head's size with stage applied
	encoded []byte
}

type kvValue struct {
	v   string
	del bool
}

type kvDelta struct {
	seq uint64
	set map[string]kvValue
}

func newKVStore(max int) *kvStore {
	if max <= 0 {
		max = DefaultKVMaxBytes
	}
	return &kvStore{max: max, base: map[string]string{}, head: map[string]string{}, stage: map[string]kvValue{}}
}

// restore replaces the state with one encoded by snapshot.
func (s *kvStore) restore(state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := map[string]string{}
	size := 0
	if len(state) > 0 {
		if err := wire.DecodeKV(state, func(k string, v []byte) {
			base[k] = string(v)
			size += len(k) + len(v)
		}); err != nil {
			return fmt.Errorf("kv: %w", err)
		}
	}
	s.base, s.head, s.headSize, s.size = base, maps.Clone(base), size, size
	s.deltas, s.txOpen, s.openFrom = nil, false, 0
	s.encoded = slices.Clone(state)
	return nil
}

// begin starts the call handling batch seq.
func (s *kvStore) begin(seq uint64, begin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.deltas)
	// A batch not after the last one recorded is sent again: what came of
	// it and after is void.
	for n > 0 && s.deltas[n-1].seq >= seq {
		n--
	}
	if begin {
		if s.txOpen {
			n = min(n, s.openFrom)
		}
		s.txOpen, s.openFrom = true, n
	}
	if n < len(s.deltas) {
		s.deltas = s.deltas[:n]
		s.rebuild()
	}
	s.inBatch, s.seq = true, seq
	clear(s.stage)
	s.size = s.headSize
}

// end finishes the call: ok keeps its writes as the batch's delta.
func (s *kvStore) end(ok, commit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok && len(s.stage) > 0 {
		d := kvDelta{seq: s.seq, set: maps.Clone(s.stage)}
		s.apply(s.head, d.set)
		s.headSize = s.size
		s.deltas = append(s.deltas, d)
	}
	if ok && commit {
		s.txOpen = false
	}
	s.inBatch = false
	clear(s.stage)
	s.size = s.headSize
}

func (s *kvStore) apply(m map[string]string, set map[string]kvValue) {
	for k, v := range set {
		if v.del {
			delete(m, k)
		} else {
			m[k] = v.v
		}
	}
}

// rebuild recomputes head from base and the deltas.
func (s *kvStore) rebuild() {
	s.head = maps.Clone(s.base)
	for _, d := range s.deltas {
		s.apply(s.head, d.set)
	}
	s.headSize = 0
	for k, v := range s.head {
		s.headSize += len(k) + len(v)
	}
}

func (s *kvStore) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.stage[key]; ok {
		return v.v, !v.del
	}
	v, ok := s.head[key]
	return v, ok
}

// put sets (or, with del, removes) key within the call.
func (s *kvStore) put(key string, value []byte, del bool) (wire.Errno, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inBatch {
		return wire.ErrnoDenied, fmt.Errorf("kv: writes happen while handling a batch (not in puma_init or puma_close): the state must match the checkpoint")
	}
	old, had := s.stage[key]
	if !had {
		v, ok := s.head[key]
		old = kvValue{v: v, del: !ok}
	}
	size := s.size
	if !old.del {
		size -= len(key) + len(old.v)
	}
	if !del {
		size += len(key) + len(value)
	}
	if size > s.max {
		return wire.ErrnoLimit, fmt.Errorf("kv: the state would grow to %d bytes, over its limit of %d (grants.kv.max_bytes)", size, s.max)
	}
	s.size = size
	s.stage[key] = kvValue{v: string(value), del: del}
	return 0, nil
}

// snapshot folds the deltas up to seq into base and returns it encoded;
// nil when the state is empty and always was.
func (s *kvStore) snapshot(seq uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.deltas) && s.deltas[n].seq <= seq {
		s.apply(s.base, s.deltas[n].set)
		n++
	}
	if n > 0 || s.encoded == nil {
		s.deltas = slices.Delete(s.deltas, 0, n)
		s.openFrom = max(0, s.openFrom-n)
		if len(s.base) == 0 && s.encoded == nil {
			return nil
		}
		keys := slices.Sorted(maps.Keys(s.base))
		s.encoded = wire.EncodeKV(keys, func(k string) []byte { return []byte(s.base[k]) })
	}
	return s.encoded
}

func (c *caps) kvKey(m api.Module, ptr, n uint32) (string, int64) {
	if c.kv == nil {
		return "", c.fail(wire.ErrnoDenied, "kv is not granted: add %s", grantHint(wire.CapKV))
	}
	if n == 0 || n > MaxKVKey {
		return "", c.fail(wire.ErrnoInvalid, "kv: a key has 1 to %d bytes, not %d", MaxKVKey, n)
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return "", c.fail(wire.ErrnoInvalid, "kv: key out of bounds")
	}
	return string(b), 0
}

func (c *caps) kvGet(_ context.Context, m api.Module, stack []uint64) {
	key, rc := c.kvKey(m, uint32(stack[0]), uint32(stack[1]))
	if rc < 0 {
		stack[0] = uint64(rc)
		return
	}
	v, ok := c.kv.get(key)
	if !ok {
		stack[0] = uint64(c.fail(wire.ErrnoNotFound, "kv: no key %q", key))
		return
	}
	out := v
	if capacity := uint32(stack[3]); len(out) > int(capacity) {
		out = out[:capacity]
	}
	if !m.Memory().WriteString(uint32(stack[2]), out) {
		stack[0] = uint64(c.fail(wire.ErrnoInvalid, "kv: value buffer out of bounds"))
		return
	}
	stack[0] = uint64(len(v))
}

func (c *caps) kvPut(_ context.Context, m api.Module, stack []uint64) {
	key, rc := c.kvKey(m, uint32(stack[0]), uint32(stack[1]))
	if rc < 0 {
		ret32(stack, rc)
		return
	}
	v, ok := m.Memory().Read(uint32(stack[2]), uint32(stack[3]))
	if !ok {
		ret32(stack, c.fail(wire.ErrnoInvalid, "kv: value out of bounds"))
		return
	}
	if errno, err := c.kv.put(key, v, false); err != nil {
		ret32(stack, c.fail(errno, "%v", err))
		return
	}
	ret32(stack, 0)
}

func (c *caps) kvDelete(_ context.Context, m api.Module, stack []uint64) {
	key, rc := c.kvKey(m, uint32(stack[0]), uint32(stack[1]))
	if rc < 0 {
		ret32(stack, rc)
		return
	}
	if errno, err := c.kv.put(key, nil, true); err != nil {
		ret32(stack, c.fail(errno, "%v", err))
		return
	}
	ret32(stack, 0)
}
