package instrument

import (
	"cmp"
	"slices"
)

// maxDataGap is the longest run of zeros coalesceData writes between two
// data segments to make them one.
const maxDataGap = 256

// dataSegment is an active segment of memory 0 at a constant offset.
type dataSegment struct {
	off  uint32
	init []byte
}

// coalesceData rewrites the data section into as few segments as the same
// initial memory allows: segments that are active in memory 0 at
// constant offsets and do not overlap are sorted by offset, and
// neighbours at most maxDataGap bytes apart become one, the gap written
// as the zeros it held.
//
// Go's linker writes a segment for every run of data between zeros: the
// built-in plugins' module has ~51 000, and wazero keeps a decoded
// segment (~100 bytes of Go heap) for each in every runtime that
// compiles the module, and a slice header for each in every instance.
// Coalesced, they are a handful.
//
// The section is left as it is unless every segment qualifies and the
// module has no data count section: without it no instruction can name a
// segment (memory.init and data.drop require it), so their number and
// order are not observable. Disjoint segments write disjoint bytes, so
// the order in which they are applied does not matter either, and a gap
// between two sorted neighbours is written by no other segment. A
// segment that does not fit in memory still fails instantiation: the
// coalesced one ends where the last of its run did. A section that does
// not decode is left for wazero to refuse in its own terms.
func (m *module) coalesceData() {
	s := m.byID[secData]
	if s == nil || m.byID[secDataCount] != nil {
		return
	}
	segs, ok := m.dataSegments(s)
	if !ok || len(segs) < 2 {
		return
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].off)+uint64(len(segs[i-1].init)) > uint64(segs[i].off) {
			return // overlapping: their order decides the bytes
		}
	}
	var runs [][2]int // [first, last] of each coalesced segment
	for i := range segs {
		if i > 0 {
			prevEnd := uint64(segs[i-1].off) + uint64(len(segs[i-1].init))
			if uint64(segs[i].off)-prevEnd <= maxDataGap {
				runs[len(runs)-1][1] = i
				continue
			}
		}
		runs = append(runs, [2]int{i, i})
	}
	if len(runs) == len(segs) {
		return
	}
	size := 0
	for _, r := range runs {
		size += int(segs[r[1]].off-segs[r[0]].off) + len(segs[r[1]].init) + 16
	}
	if size > 2*len(s.payload)+64<<10 {
		return // mostly gaps: a module made to be blown up by this
	}
	out := appendU32(make([]byte, 0, size+5), uint32(len(runs)))
	for _, r := range runs {
		first, last := segs[r[0]], segs[r[1]]
		n := int(last.off-first.off) + len(last.init)
		out = append(out, 0x00, 0x41) // active, memory 0; i32.const
		out = appendS32(out, int32(first.off))
		out = append(out, 0x0b)
		out = appendU32(out, uint32(n))
		start := len(out)
		out = append(out, make([]byte, n)...)
		for _, sg := range segs[r[0] : r[1]+1] {
			copy(out[start+int(sg.off-first.off):], sg.init)
		}
	}
	s.out = out
}

// dataSegments decodes s, a data section, when every segment in it is
// active in memory 0 at an `i32.const` offset.
func (m *module) dataSegments(s *section) ([]dataSegment, bool) {
	r := m.reader(s)
	n, err := r.count(4)
	if err != nil {
		return nil, false
	}
	segs := make([]dataSegment, 0, n)
	for range n {
		flags, err := r.u32()
		if err != nil || flags != 0 {
			return nil, false // passive, or an explicit memory index
		}
		if op, err := r.byte(); err != nil || op != 0x41 {
			return nil, false
		}
		off, err := r.signed(32)
		if err != nil {
			return nil, false
		}
		if end, err := r.byte(); err != nil || end != 0x0b {
			return nil, false
		}
		size, err := r.u32()
		if err != nil {
			return nil, false
		}
		init, err := r.bytes(int(size))
		if err != nil {
			return nil, false
		}
		segs = append(segs, dataSegment{off: uint32(int32(off)), init: init})
	}
	if !r.done() {
		return nil, false
	}
	return segs, true
}
