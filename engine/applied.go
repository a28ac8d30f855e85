package engine

import "github.com/pumacdc/puma/engine/position"

// PositionedSender is an optional interface of a GroupSender that keeps,
// at its destination and beside the data, the position it has durably
// applied (a database table written in the same transaction as the rows,
// the offsets of a Kafka transaction): it delivers exactly once. On
// opening, and after any restart, it reads that position, and it skips
// every batch the position includes (see Applied) rather than applying it
// twice: a batch the engine sends again after a crash, a failover or a
// lost reply.
//
// To apply each call atomically with its position, such a sender is
// handed whole transactions: a group ends only at a commit, whatever
// group_rows and group_bytes say (a transaction larger than them is held
// in memory until its commit), and a transaction the reader restarts from
// its first batch (after a dropped connection) replaces its partial
// batches in the group being collected. With group_rows = 0 it still gets
// groups, of one transaction each.
type PositionedSender interface {
	GroupSender
	// Positioned reports whether the sender keeps its own position. The
	// pipeline asks once, when the task starts.
	Positioned() bool
}

// Applied reports whether a destination that durably applied everything
// up to pos already has every change of b: b's commit is included in pos
// (position.Position.Includes), or, for a batch in the middle of a
// transaction, its transaction is (by GTID, or by where it begins in the
// log). A batch without a transaction carries nothing and is not applied;
// a zero pos includes nothing.
func Applied(pos position.Position, b *Batch) bool {
	switch {
	case pos.IsZero() || b.Tx == nil:
		return false
	case b.Commit != nil:
		return pos.Includes(*b.Commit)
	case pos.GTIDSet != "" && b.Tx.GTID != "":
		return pos.IncludesGTID(b.Tx.GTID)
	case pos.GTIDSet == "" && b.Tx.GTID == "":
		return pos.IncludesEvent(b.Tx.File, b.Tx.Pos)
	}
	return false
}
