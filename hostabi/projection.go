package hostabi

import (
	"strings"

	"github.com/pumacdc/puma/engine"
)

// projection is the columns a native instance declared it reads from row
// images (NativeHost.ReadColumns): the host encodes only those, and
// leaves the rest absent. A filter reading one column of twelve, or a
// sender whose envelopes the host renders from its own copy, then costs
// the encoding of what it reads, not of the whole row.
type projection struct {
	names map[string]bool // lower case: MySQL's column names ignore case
	keys  bool
	// read caches, per table version, the indexes of its columns read.
	read map[*engine.Table][]int
}

func newProjection(names []string, keys bool) *projection {
	p := &projection{names: make(map[string]bool, len(names)), keys: keys, read: map[*engine.Table][]int{}}
	for _, n := range names {
		p.names[strings.ToLower(n)] = true
	}
	return p
}

// of returns the indexes of t's columns read, in increasing order.
func (p *projection) of(t *engine.Table) []int {
	if r, ok := p.read[t]; ok {
		return r
	}
	r := []int{}
	for i, c := range t.Columns {
		if p.names[strings.ToLower(c.Name)] || p.keys && isKey(t, i) {
			r = append(r, i)
		}
	}
	p.read[t] = r
	return r
}

func isKey(t *engine.Table, col int) bool {
	for _, k := range t.Key {
		if k == col {
			return true
		}
	}
	return false
}
