package position

import (
	"slices"
	"strconv"
	"strings"
)

// Includes reports whether the transaction q commits is at or before p: a
// destination that durably applied everything up to p has q's transaction
// too. Both are positions reached by streaming or by an initial snapshot.
//
// With GTID sets on both, p includes q when p's set contains q's (by
// domain and sequence on MariaDB, so it holds across servers and
// failovers). Without, the positions must name the same server's log, and
// q's file and offset may not lie beyond p's. A snapshot position (one
// with Snapshot set) is included by a streaming position past its
// consistent point (the snapshot finished), and by a snapshot position at
// the same point that read q's table to at least q's key: a table in
// Done, or the same table at a key not after q's (keys compared as
// numbers when every part is an integer, otherwise only when equal, as
// text keys order by the table's collation). When in doubt, not included:
// a doubt costs a duplicate, never a loss.
func (p Position) Includes(q Position) bool {
	if p.IsZero() || q.IsZero() {
		return false
	}
	switch {
	case q.Snapshot == nil && p.Snapshot != nil:
		// Streaming begins once the snapshot is done.
		return false
	case q.Snapshot != nil && p.Snapshot != nil:
		if p.File != q.File || p.Pos != q.Pos || p.GTIDSet != q.GTIDSet {
			return false // another snapshot
		}
		return p.Snapshot.includes(q.Snapshot)
	}
	// q's transaction, or q's snapshot point, at or before p: a sender
	// is handed streamed transactions only once the snapshot finished.
	return p.atOrAfter(q)
}

// IncludesGTID reports whether p's GTID set holds the transaction gtid
// (one GTID, "0-1-42" or "uuid:42"); false when p has no set or gtid does
// not parse.
func (p Position) IncludesGTID(gtid string) bool {
	if p.GTIDSet == "" || gtid == "" {
		return false
	}
	set, err := p.GTIDs()
	if err != nil {
		return false
	}
	one, err := ParseGTIDSet(p.Flavor, gtid)
	if err != nil {
		return false
	}
	return set.Contain(one)
}

// IncludesEvent reports whether an event at file:pos of the log p names
// lies before p, so that the transaction it begins committed at or before
// p (p is always at a commit). Without GTIDs a task reads one server's
// log, so file names compare.
func (p Position) IncludesEvent(file string, pos uint32) bool {
	if p.IsZero() || p.Snapshot != nil || p.File == "" {
		return false
	}
	c, ok := compareFiles(file, p.File)
	if !ok {
		return false
	}
	return c < 0 || c == 0 && pos < p.Pos
}

// atOrAfter reports whether p is at or after q by GTID set, or by file
// and offset on the same server when either has no set.
func (p Position) atOrAfter(q Position) bool {
	if p.GTIDSet != "" && q.GTIDSet != "" {
		ps, err1 := p.GTIDs()
		qs, err2 := q.GTIDs()
		if err1 != nil || err2 != nil {
			return false
		}
		return ps.Contain(qs)
	}
	if p.ServerID != q.ServerID || p.ServerUUID != q.ServerUUID {
		return false
	}
	c, ok := compareFiles(q.File, p.File)
	if !ok {
		return false
	}
	return c < 0 || c == 0 && q.Pos <= p.Pos
}

// compareFiles orders two binary log file names of one server, base.N:
// by N when the bases agree; ok false when they do not.
func compareFiles(a, b string) (c int, ok bool) {
	ab, an, aok := splitLogName(a)
	bb, bn, bok := splitLogName(b)
	if !aok || !bok || ab != bb {
		return 0, a == b
	}
	switch {
	case an < bn:
		return -1, true
	case an > bn:
		return 1, true
	}
	return 0, true
}

func splitLogName(name string) (base string, n uint64, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return name[:i], n, err == nil
}

// includes reports whether snapshot progress s covers the chunk of q.
func (s *Snapshot) includes(q *Snapshot) bool {
	if q.Table == "" {
		// A batch that only records a table done.
		for _, t := range q.Done {
			if !slices.Contains(s.Done, t) {
				return false
			}
		}
		return true
	}
	if slices.Contains(s.Done, q.Table) {
		return true
	}
	if s.Table != q.Table {
		return false
	}
	if slices.Equal(s.Key, q.Key) {
		return true
	}
	c, ok := compareIntKeys(q.Key, s.Key)
	return ok && c <= 0
}

// compareIntKeys compares two snapshot keys whose parts are all integers
// ("i:-1", "u:7"); ok false for any other key.
func compareIntKeys(a, b []string) (int, bool) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, false
	}
	for i := range a {
		ka, va, ok1 := strings.Cut(a[i], ":")
		kb, vb, ok2 := strings.Cut(b[i], ":")
		if !ok1 || !ok2 || ka != kb {
			return 0, false
		}
		var c int
		switch ka {
		case "i":
			x, e1 := strconv.ParseInt(va, 10, 64)
			y, e2 := strconv.ParseInt(vb, 10, 64)
			if e1 != nil || e2 != nil {
				return 0, false
			}
			c = cmpInt(x < y, x > y)
		case "u":
			x, e1 := strconv.ParseUint(va, 10, 64)
			y, e2 := strconv.ParseUint(vb, 10, 64)
			if e1 != nil || e2 != nil {
				return 0, false
			}
			c = cmpInt(x < y, x > y)
		default:
			return 0, false
		}
		if c != 0 {
			return c, true
		}
	}
	return 0, true
}

func cmpInt(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}
