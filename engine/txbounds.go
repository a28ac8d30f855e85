package engine

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"
)

// txBounds is the one rule of where transactions begin and end in a
// binary-log dump. The reader assembles transactions by it and the locator
// (start and stop at a time) finds them by it, so that both agree on every
// boundary.
//
// A transaction begins at a GTID event, at a BEGIN, or, without either, at
// its first event (rows, table maps, annotations, a statement). It ends at
// an XID event, a COMMIT, a ROLLBACK (not ROLLBACK TO), with a statement
// logged on its own (DDL, TRUNCATE), with a compressed transaction's
// payload event (MySQL), or, for a MariaDB group of non-transactional
// changes, which has no commit event, where the next GTID event begins.
// Rotates, format descriptions, GTID lists, checkpoints, heartbeats and
// stop and incident events are outside transactions.
//
// XA transactions and DML logged as SQL text (binlog_format STATEMENT or
// MIXED) are bounded by the same rule; step reports them as refused, which
// the reader turns into an error and the locator passes over.
//
// A txBounds follows one dump; one goroutine uses it.
type txBounds struct {
	file string
	// end is where the last transaction ended (or the file's start),
	// endTS its commit timestamp.
	end, endTS uint32
	// The open transaction: where it began and its latest timestamp.
	open   bool
	start  uint32
	lastTS uint32
	// lastPos is the end of the last event seen.
	lastPos uint32
}

// txCommit is a transaction that ended.
type txCommit struct {
	// File and Start are where the transaction begins: the end of the one
	// before it, or the start of the file. A dump started there delivers
	// it first.
	File  string
	Start uint32
	// End is where it ends: the end of its commit event, or the start of
	// the GTID event after a MariaDB non-transactional group.
	End uint32
	// TS is its commit time: the commit event's timestamp, or for a
	// non-transactional group its last event's. PrevTS is that of the
	// transaction before it in the dump (0 when unknown).
	TS, PrevTS uint32
}

// txStep is what one event did to the transactions.
type txStep struct {
	// Ended: a transaction ended, described by Commit: before the event
	// when Before (the event is the next transaction's GTID), else with
	// the event.
	Ended  bool
	Before bool
	Commit txCommit
	// Began: the event begins a transaction (after the one that ended
	// Before).
	Began bool
	// Refused is why the reader cannot deliver the event's transaction
	// (ErrXA, ErrStatementFormat), nil when it can.
	Refused error
}

// MariaDB GTID event flags go-mysql does not name.
const (
	mariadbFlagPreparedXA  = 64
	mariadbFlagCompletedXA = 128
)

// step feeds the next event of the dump.
func (b *txBounds) step(ev *replication.BinlogEvent) txStep {
	h := ev.Header
	if h.LogPos != 0 {
		b.lastPos = h.LogPos
	}
	var s txStep
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		// The dump's first, artificial rotate names the file and the
		// requested offset; a real one ends a file and names the next.
		b.file = string(e.NextLogName)
		b.open = false
		b.end, b.endTS = uint32(e.Position), 0
	case *replication.FormatDescriptionEvent, *replication.PreviousGTIDsEvent,
		*replication.MariadbGTIDListEvent, *replication.MariadbBinlogCheckPointEvent,
		*replication.HeartbeatEvent:
	case *replication.MariadbGTIDEvent:
		if e.Flags&(mariadbFlagPreparedXA|mariadbFlagCompletedXA) != 0 {
			s.Refused = fmt.Errorf("%w: GTID %s", ErrXA, e.GTID.String())
		}
		b.gtid(&s, h)
	case *replication.GTIDEvent, *replication.GtidTaggedLogEvent:
		b.gtid(&s, h)
	case *replication.XIDEvent:
		b.commit(&s, h, h.Timestamp)
	case *replication.QueryEvent:
		stmt := strings.TrimSpace(string(e.Query))
		switch word := strings.ToUpper(firstWord(stmt)); word {
		case "BEGIN", "SAVEPOINT":
			b.begin(&s, h)
		case "COMMIT":
			b.commit(&s, h, h.Timestamp)
		case "ROLLBACK":
			if strings.Contains(strings.ToUpper(stmt), " TO ") {
				b.begin(&s, h) // ROLLBACK TO SAVEPOINT
			} else {
				b.commit(&s, h, h.Timestamp)
			}
		case "XA":
			s.Refused = fmt.Errorf("%w: %s", ErrXA, truncate(stmt, 80))
			b.begin(&s, h)
		case "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD", "CALL":
			s.Refused = fmt.Errorf("%w: %q: the source logs this change as SQL text (binlog_format STATEMENT or MIXED); run SET GLOBAL binlog_format=ROW on the source and restart its writers", ErrStatementFormat, truncate(stmt, 120))
			b.begin(&s, h)
		default:
			// DDL and other statements: a transaction of their own, or
			// the end of the open one (DDL commits implicitly).
			b.begin(&s, h)
			b.commit(&s, h, h.Timestamp)
		}
	case *replication.TransactionPayloadEvent:
		// A compressed transaction (MySQL): its commit event is inside,
		// where positions mean nothing; the payload event ends it.
		b.begin(&s, h)
		ts := h.Timestamp
		for _, in := range e.Events {
			if _, ok := in.Event.(*replication.XIDEvent); ok {
				ts = in.Header.Timestamp
			}
		}
		b.commit(&s, h, ts)
	case *replication.GenericEvent:
		switch h.EventType {
		case replication.STOP_EVENT, replication.INCIDENT_EVENT, replication.IGNORABLE_EVENT,
			replication.MARIADB_START_ENCRYPTION_EVENT:
		default:
			b.begin(&s, h) // an XA PREPARE, a RAND: part of the transaction
		}
	default:
		// Table maps, rows, annotations, variables: part of the open
		// transaction, or of one without GTID that begins here.
		b.begin(&s, h)
	}
	return s
}

// gtid ends a transaction still open (a MariaDB group of
// non-transactional changes) where the GTID event h begins, and begins
// the next.
func (b *txBounds) gtid(s *txStep, h *replication.EventHeader) {
	if b.open {
		s.Ended, s.Before = true, true
		s.Commit = b.finish(h.LogPos-h.EventSize, b.lastTS)
	}
	b.begin(s, h)
}

// begin begins a transaction at the end of the last, unless one is open,
// and notes h's time.
func (b *txBounds) begin(s *txStep, h *replication.EventHeader) {
	if !b.open {
		b.open, b.start, b.lastTS = true, b.end, 0
		s.Began = true
	}
	if h.Timestamp != 0 {
		b.lastTS = h.Timestamp
	}
}

// commit ends the open transaction with h, its last event, committed at
// ts.
func (b *txBounds) commit(s *txStep, h *replication.EventHeader, ts uint32) {
	if !b.open {
		return
	}
	s.Ended = true
	s.Commit = b.finish(h.LogPos, ts)
}

func (b *txBounds) finish(end, ts uint32) txCommit {
	c := txCommit{File: b.file, Start: b.start, End: end, TS: ts, PrevTS: b.endTS}
	b.open = false
	b.end, b.endTS = end, ts
	return c
}
