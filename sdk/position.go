package sdk

import "github.com/pumacdc/puma/hostabi/wire"

// A sender that stores, at its destination and atomically with the data,
// the position it has applied delivers exactly once: after any crash or
// failover it reports that position from Init with ReportApplied, and the
// host skips every batch the position includes. Such a sender is handed
// whole transactions, in groups (register Flush and commit there: one
// destination transaction per call, holding the data of every batch and
// the token of the last commit, Batch.Position). After a failed call the
// host starts a new instance, whose Init reads the position again.
//
// Position tokens are opaque text (JSON today); store and return them
// unchanged.

// ReportApplied tells the host the position token the sender's
// destination has durably applied ("" when it holds none yet), and makes
// the sender one that keeps its own position. Call it from Init; it fails
// anywhere else, and with a token the host did not give.
func ReportApplied(token string) error { return reportApplied(token) }

// Position returns the token of the position just after the batch's
// commit, to store with the batch's data; ok is false when the batch does
// not close its transaction. The token is a copy the sender may keep.
func (b *Batch) Position() (token string, ok bool) {
	if b.hdr.Flags&wire.BatchCommit == 0 {
		return "", false
	}
	return commitPosition(b)
}
