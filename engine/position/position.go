// Package position names a place in a source's binary log and parses the
// start and stop specifications users write in puma.toml and send to the
// admin API.
//
// A Position is a value: it is copied, never shared, and safe to use from any
// goroutine.
package position

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Position is a point in a source's binary log: the end of the last event of
// a committed transaction (or DDL), and the GTID set executed up to and
// including it.
type Position struct {
	// ServerID and ServerUUID identify the server the position was read
	// from. ServerUUID is empty on MariaDB.
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"`
	// Flavor is "mariadb" or "mysql"; it says how to parse GTIDSet.
	Flavor string `json:"flavor"`
	// File and Pos: the binary log file and the offset just after the
	// transaction's last event, where reading resumes.
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTIDSet is the set of transactions executed up to and including this
	// position, in the flavor's text form; empty when the server has none.
	GTIDSet string `json:"gtid_set,omitempty"`
	// Timestamp is the commit time of the transaction ending here, in whole
	// seconds (binary log resolution).
	Timestamp int64 `json:"ts"`
	// Snapshot, when not nil, marks a position reached by an initial
	// snapshot that has not finished: streaming may begin here only once
	// the snapshot's remaining tables are read. It is immutable once set.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// Snapshot is the progress of an initial snapshot: what was read and
// acknowledged so far.
type Snapshot struct {
	// Done lists the tables ("db.table") read completely.
	Done []string `json:"done,omitempty"`
	// Table is the table being read, and Key the key of its last row
	// delivered, in snapshot order ("" and nil: none yet). Each key value
	// is typed: "i:-1", "u:1", "f:0.5", "s:text", "b:<base64>".
	Table string   `json:"table,omitempty"`
	Key   []string `json:"key,omitempty"`
}

// IsZero reports whether p names no place at all.
func (p Position) IsZero() bool { return p.File == "" && p.GTIDSet == "" }

// String renders p for logs: file:pos, then the GTID set when known.
func (p Position) String() string {
	s := fmt.Sprintf("%s:%d", p.File, p.Pos)
	if p.GTIDSet != "" {
		s += " gtid:" + p.GTIDSet
	}
	if p.Snapshot != nil {
		s += fmt.Sprintf(" snapshot:%d tables done", len(p.Snapshot.Done))
		if p.Snapshot.Table != "" {
			s += ", in " + p.Snapshot.Table
		}
	}
	return s
}

// GTIDs parses p.GTIDSet in p.Flavor. It returns nil, nil when p has no GTID
// set.
func (p Position) GTIDs() (mysql.GTIDSet, error) {
	if p.GTIDSet == "" {
		return nil, nil
	}
	return ParseGTIDSet(p.Flavor, p.GTIDSet)
}

// ParseGTIDSet parses a GTID set of either flavor. With an empty flavor it
// guesses from the text: MySQL sets contain a UUID, MariaDB sets are
// domain-server-sequence triples.
func ParseGTIDSet(flavor, s string) (mysql.GTIDSet, error) {
	if flavor == "" {
		flavor = GuessFlavor(s)
	}
	set, err := mysql.ParseGTIDSet(flavor, s)
	if err != nil {
		return nil, fmt.Errorf("parse %s gtid set %q: %w", flavor, s, err)
	}
	return set, nil
}

// GuessFlavor tells a MySQL GTID set (UUID:interval) from a MariaDB one
// (domain-server-seq).
func GuessFlavor(gtidSet string) string {
	if strings.Contains(gtidSet, ":") {
		return mysql.MySQLFlavor
	}
	return mysql.MariaDBFlavor
}

// Mode is how a Start names where to begin.
type Mode int

const (
	// Checkpoint resumes after the task's stored checkpoint.
	Checkpoint Mode = iota + 1
	// Earliest begins at the oldest binary log the server still has.
	Earliest
	// Latest begins at the end of the server's binary log.
	Latest
	// Time begins at the first transaction committing at or after Start.Time.
	Time
	// GTID begins after the transactions of Start.GTIDSet.
	GTID
	// File begins at Start.File, Start.Pos.
	File
)

// Start is a parsed start (or stop) specification.
type Start struct {
	Mode    Mode
	Time    time.Time // Mode == Time
	GTIDSet string    // Mode == GTID, as written
	File    string    // Mode == File
	Pos     uint32    // Mode == File
}

// ErrBadSpec is wrapped by every ParseStart error.
var ErrBadSpec = errors.New("bad position")

// ParseStart parses a start specification: "checkpoint", "earliest",
// "latest", an RFC 3339 timestamp, "gtid:<set>" or "file:<name>:<pos>".
func ParseStart(s string) (Start, error) {
	switch s {
	case "checkpoint":
		return Start{Mode: Checkpoint}, nil
	case "earliest":
		return Start{Mode: Earliest}, nil
	case "latest":
		return Start{Mode: Latest}, nil
	}
	switch {
	case strings.HasPrefix(s, "gtid:"):
		set := strings.TrimPrefix(s, "gtid:")
		if set == "" {
			return Start{}, fmt.Errorf("%w %q: empty gtid set", ErrBadSpec, s)
		}
		if _, err := ParseGTIDSet("", set); err != nil {
			return Start{}, fmt.Errorf("%w %q: %w", ErrBadSpec, s, err)
		}
		return Start{Mode: GTID, GTIDSet: set}, nil
	case strings.HasPrefix(s, "file:"):
		rest := strings.TrimPrefix(s, "file:")
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 {
			return Start{}, fmt.Errorf("%w %q: want file:<name>:<pos>", ErrBadSpec, s)
		}
		pos, err := strconv.ParseUint(rest[i+1:], 10, 32)
		if err != nil || pos < 4 {
			return Start{}, fmt.Errorf("%w %q: pos must be an integer >= 4", ErrBadSpec, s)
		}
		return Start{Mode: File, File: rest[:i], Pos: uint32(pos)}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Start{Mode: Time, Time: t}, nil
	}
	return Start{}, fmt.Errorf("%w %q: want checkpoint, earliest, latest, an RFC 3339 time, gtid:<set> or file:<name>:<pos>", ErrBadSpec, s)
}

// String renders s back in the syntax ParseStart accepts.
func (s Start) String() string {
	switch s.Mode {
	case Checkpoint:
		return "checkpoint"
	case Earliest:
		return "earliest"
	case Latest:
		return "latest"
	case Time:
		return s.Time.UTC().Format(time.RFC3339Nano)
	case GTID:
		return "gtid:" + s.GTIDSet
	case File:
		return fmt.Sprintf("file:%s:%d", s.File, s.Pos)
	}
	return "invalid"
}
