package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine/position"
)

// txEv is one event of a test dump, before positions are assigned.
type txEv struct {
	typ replication.EventType
	ev  replication.Event
	ts  uint32
}

func txQuery(ts uint32, sql string) txEv {
	return txEv{replication.QUERY_EVENT, &replication.QueryEvent{Schema: []byte("shop"), Query: []byte(sql)}, ts}
}

func txRows(ts uint32) []txEv {
	tm := &replication.TableMapEvent{TableID: 1, Schema: []byte("shop"), Table: []byte("t")}
	return []txEv{
		{replication.TABLE_MAP_EVENT, tm, ts},
		{replication.WRITE_ROWS_EVENTv2, &replication.RowsEvent{Table: tm}, ts},
	}
}

func txXID(ts uint32) txEv { return txEv{replication.XID_EVENT, &replication.XIDEvent{}, ts} }

func txMariaGTID(ts uint32, seq uint64, flags byte) txEv {
	return txEv{replication.MARIADB_GTID_EVENT, &replication.MariadbGTIDEvent{GTID: mysql.MariadbGTID{DomainID: 0, ServerID: 1, SequenceNumber: seq}, Flags: flags}, ts}
}

func txMySQLGTID(ts uint32, gno int64) txEv {
	sid := []byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	return txEv{replication.GTID_EVENT, &replication.GTIDEvent{SID: sid, GNO: gno}, ts}
}

func cat(parts ...any) []txEv {
	var out []txEv
	for _, p := range parts {
		switch p := p.(type) {
		case txEv:
			out = append(out, p)
		case []txEv:
			out = append(out, p...)
		}
	}
	return out
}

// dumpOf lays events out in bin.000001 from offset 4, 100 bytes each,
// after the dump's artificial rotate and the file's format description;
// it returns the events and the offset each begins at.
func dumpOf(evs []txEv) ([]*replication.BinlogEvent, []uint32) {
	out := []*replication.BinlogEvent{
		{Header: &replication.EventHeader{EventType: replication.ROTATE_EVENT}, Event: &replication.RotateEvent{Position: 4, NextLogName: []byte("bin.000001")}},
	}
	starts := []uint32{0}
	pos := uint32(4)
	evs = append([]txEv{{replication.FORMAT_DESCRIPTION_EVENT, &replication.FormatDescriptionEvent{}, 1000}}, evs...)
	for _, e := range evs {
		const size = 100
		if p, ok := e.ev.(*replication.TransactionPayloadEvent); ok {
			// The events inside a payload carry no position of their own.
			for _, in := range p.Events {
				in.Header.LogPos = 0
			}
		}
		out = append(out, &replication.BinlogEvent{
			Header: &replication.EventHeader{Timestamp: e.ts, EventType: e.typ, ServerID: 1, EventSize: size, LogPos: pos + size},
			Event:  e.ev,
		})
		starts = append(starts, pos)
		pos += size
	}
	return out, starts
}

// txEnd is a transaction's end as the reader and the locator see it.
type txEnd struct {
	End, TS uint32
}

func TestTxReaderAndLocatorAgree(t *testing.T) {
	payload := func(ts uint32) txEv {
		var inner []*replication.BinlogEvent
		for _, e := range cat(txQuery(ts, "BEGIN"), txRows(ts), txXID(ts+1)) {
			inner = append(inner, &replication.BinlogEvent{Header: &replication.EventHeader{Timestamp: e.ts, EventType: e.typ, EventSize: 50}, Event: e.ev})
		}
		return txEv{replication.TRANSACTION_PAYLOAD_EVENT, &replication.TransactionPayloadEvent{Events: inner}, ts + 1}
	}
	heartbeat := txEv{replication.HEARTBEAT_LOG_EVENT_V2, &replication.HeartbeatEvent{}, 0}
	tests := []struct {
		name   string
		flavor string
		evs    []txEv
		// refused is the error the reader stops with, nil when none.
		refused error
	}{
		{"mariadb transactions and DDL", mysql.MariaDBFlavor, cat(
			txMariaGTID(10, 1, 0), txQuery(10, "BEGIN"), txRows(10), txXID(11),
			txMariaGTID(12, 2, 0), txQuery(12, "ALTER TABLE t ADD x INT"),
			heartbeat,
			txMariaGTID(13, 3, 0), txQuery(13, "BEGIN"), txRows(13), txQuery(14, "COMMIT"),
		), nil},
		{"mariadb non-transactional group ended by the next GTID", mysql.MariaDBFlavor, cat(
			txMariaGTID(20, 1, 0), txRows(20), txRows(21),
			txMariaGTID(25, 2, 0), txQuery(25, "BEGIN"), txRows(25), txXID(26),
			txMariaGTID(27, 3, 0), txRows(27),
			txMariaGTID(28, 4, 0), txQuery(28, "TRUNCATE t"),
		), nil},
		{"rollback and savepoints", mysql.MariaDBFlavor, cat(
			txMariaGTID(30, 1, 0), txQuery(30, "BEGIN"), txRows(30), txQuery(31, "SAVEPOINT `s`"), txRows(31),
			txQuery(31, "ROLLBACK TO `s`"), txXID(32),
			txMariaGTID(33, 2, 0), txQuery(33, "BEGIN"), txRows(33), txQuery(34, "ROLLBACK"),
		), nil},
		{"no GTIDs", mysql.MySQLFlavor, cat(
			txQuery(40, "BEGIN"), txRows(40), txXID(41),
			txQuery(42, "/* c */ CREATE TABLE t2 (a INT)"),
			txQuery(43, "BEGIN"), txRows(43), txXID(44),
		), nil},
		{"mysql GTIDs and a compressed transaction", mysql.MySQLFlavor, cat(
			txEv{replication.PREVIOUS_GTIDS_EVENT, &replication.PreviousGTIDsEvent{}, 50},
			txMySQLGTID(50, 1), txQuery(50, "BEGIN"), txRows(50), txXID(51),
			txMySQLGTID(52, 2), payload(52),
			txMySQLGTID(54, 3), txQuery(54, "DROP TABLE t2"),
		), nil},
		{"mariadb XA", mysql.MariaDBFlavor, cat(
			txMariaGTID(60, 1, 0), txQuery(60, "BEGIN"), txRows(60), txXID(61),
			txMariaGTID(62, 2, mariadbFlagPreparedXA), txQuery(62, "XA START X'31',X'',1"), txRows(62), txQuery(62, "XA END X'31',X'',1"), txQuery(62, "XA PREPARE X'31',X'',1"),
			txMariaGTID(63, 3, 0), txQuery(63, "BEGIN"), txRows(63), txXID(64),
		), ErrXA},
		{"mysql XA", mysql.MySQLFlavor, cat(
			txMySQLGTID(70, 1), txQuery(70, "BEGIN"), txRows(70), txXID(71),
			txMySQLGTID(72, 2), txQuery(72, "XA START 'x'"), txRows(72), txQuery(72, "XA END 'x'"),
			txEv{replication.XA_PREPARE_LOG_EVENT, &replication.GenericEvent{}, 72},
			txMySQLGTID(73, 3), txQuery(73, "XA COMMIT 'x'"),
			txMySQLGTID(74, 4), txQuery(74, "BEGIN"), txRows(74), txXID(75),
		), ErrXA},
		{"statement-format DML", mysql.MariaDBFlavor, cat(
			txMariaGTID(80, 1, 0), txQuery(80, "BEGIN"), txRows(80), txXID(81),
			txMariaGTID(82, 2, 0), txQuery(82, "BEGIN"), txQuery(82, "INSERT INTO t VALUES (1)"), txXID(83),
			txMariaGTID(84, 3, 0), txQuery(84, "BEGIN"), txRows(84), txXID(85),
		), ErrStatementFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, starts := dumpOf(tc.evs)

			tr := txTracker{flavor: tc.flavor}
			var located []txCommit
			for _, ev := range evs {
				if c, ok := tr.step(ev); ok {
					located = append(located, c)
				}
			}

			var seq uint64
			r := &reader{
				log: slog.New(slog.DiscardHandler), schemas: newSchemas(schemaConfig{}, nil), schemaState: newSchemaState(),
				match: func(string, string) bool { return false }, matchDB: func(string) bool { return true },
				batchRows: 10, nextSeq: func() uint64 { seq++; return seq },
				pos: position.Position{Flavor: tc.flavor},
			}
			var read []txEnd
			emit := func(_ context.Context, b *Batch) error {
				if b.Commit != nil {
					read = append(read, txEnd{b.Commit.Pos, uint32(b.CommitTime)})
				}
				return nil
			}
			refusedAt := -1
			var err error
			for i, ev := range evs {
				if err = r.handle(context.Background(), ev, emit); err != nil {
					refusedAt = i
					break
				}
			}
			if (err == nil) != (tc.refused == nil) || (tc.refused != nil && !errors.Is(err, tc.refused)) {
				t.Fatalf("reader: %v, want %v", err, tc.refused)
			}
			// Only DDL is parsed: a dump without any makes no parser.
			if ddl := slices.ContainsFunc(tc.evs, isDDL); (r.ddl.parser != nil) != ddl {
				t.Errorf("parser made = %v, dump has DDL = %v", r.ddl.parser != nil, ddl)
			}

			// The reader delivers what the locator finds, up to a refusal.
			var want []txEnd
			for _, c := range located {
				want = append(want, txEnd{c.End, c.TS})
			}
			if !slices.Equal(read, want[:min(len(read), len(want))]) || (refusedAt < 0 && len(read) != len(want)) {
				t.Fatalf("reader committed %v, locator found %v", read, want)
			}
			// Every transaction starts where the one before it ended, so a
			// start at any of them skips nothing.
			for i, c := range located {
				if i > 0 && c.Start != located[i-1].End || i == 0 && c.Start != 4 {
					t.Errorf("transaction %d starts at %d, the one before ended at %d", i, c.Start, located[max(i-1, 0)].End)
				}
			}
			if refusedAt < 0 {
				return
			}
			// A start at the refused transaction hands the reader the
			// refused event: it begins at or before it and ends after.
			refused := located[len(read)]
			if at := starts[refusedAt]; refused.Start > at || refused.End <= at {
				t.Errorf("refused event at %d, but the locator's transaction is %d-%d", at, refused.Start, refused.End)
			}
			t.Log(err)
		})
	}
}

func isDDL(e txEv) bool {
	q, ok := e.ev.(*replication.QueryEvent)
	if !ok {
		return false
	}
	switch strings.ToUpper(firstWord(string(q.Query))) {
	case "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "XA", "INSERT":
		return false
	}
	return true
}
