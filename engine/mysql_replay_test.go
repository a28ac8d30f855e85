package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"

	"github.com/pumacdc/puma/engine/position"
)

// These tests replay MySQL 8 binary logs, written byte by byte by
// mysqlLog, through go-mysql's parser set up as Task.stream sets it up
// (checksums verified, DECIMAL as decimals, rows decoded by a rowDecoder)
// and the reader, and check the changes, transaction ids, positions and
// GTID sets it delivers. They cover what only MySQL logs: GTID events
// with and without tags, anonymous GTIDs (gtid_mode=OFF), PREVIOUS_GTIDS,
// compressed transactions, binary JSON and partial JSON updates.

var (
	sidA = uuid.MustParse("3e11fa47-71ca-11e1-9e33-c80aa9429562")
	sidB = uuid.MustParse("f00dcafe-0000-4000-8000-00000000000b")
)

// items is the table the logs change: with binlog_row_metadata=FULL.
var items = &mysqlTable{
	id: 91, db: "shop", name: "items",
	cols: []mysqlColumn{
		{name: "id", typ: mysql.MYSQL_TYPE_LONGLONG},
		{name: "name", typ: mysql.MYSQL_TYPE_VARCHAR, meta: []byte{128, 0}, nullable: true, collation: 255},
		{name: "doc", typ: mysql.MYSQL_TYPE_JSON, meta: []byte{4}, nullable: true},
	},
	key: []int{0},
}

// itemRow is a row image of items.
func itemRow(id int64, name string, doc any) []any {
	row := []any{longlong(id), varchar(name), nil}
	if doc != nil {
		row[2] = jsonColumn(binJSON(doc))
	}
	return row
}

// newMySQLReader returns a reader as Task.read and Task.stream set one up
// for a MySQL source reading file from its start, with
// binlog_row_metadata=FULL and no catalog (MySQL needs none), every table
// captured. gset is the checkpoint's GTID set ("" when none).
func newMySQLReader(t *testing.T, file string, serverID uint32, gset string) *reader {
	t.Helper()
	var seq uint64
	r := &reader{
		log:         slog.New(slog.DiscardHandler),
		match:       func(string, string) bool { return true },
		matchDB:     func(string) bool { return true },
		batchRows:   256,
		nextSeq:     func() uint64 { seq++; return seq },
		schemaState: newSchemaState(),
		pos:         position.Position{Flavor: mysql.MySQLFlavor, File: file, Pos: 4, GTIDSet: gset},
	}
	if gset != "" {
		set, err := r.pos.GTIDs()
		if err != nil {
			t.Fatal(err)
		}
		r.gset = set
	}
	r.schemas = newSchemas(schemaConfig{Flavor: mysql.MySQLFlavor}, r.schemaState)
	r.resetConnection(serverID)
	return r
}

// replayMySQL feeds the log's events to r as a dump would and returns the
// batches it hands on, or the first error.
func replayMySQL(t *testing.T, l *mysqlLog, r *reader) ([]*Batch, error) {
	t.Helper()
	p := replication.NewBinlogParser()
	p.SetFlavor(mysql.MySQLFlavor)
	p.SetUseDecimal(true)
	p.SetTimestampStringLocation(time.UTC)
	p.SetVerifyChecksum(true)
	p.SetRowsEventDecodeFunc(newRowDecoder(mysql.MySQLFlavor, nil, nil).decode)
	var out []*Batch
	emit := func(_ context.Context, b *Batch) error { out = append(out, b); return nil }
	for i, raw := range l.events {
		ev, err := p.Parse(raw)
		if err != nil {
			t.Fatalf("event %d: go-mysql: %v", i, err)
		}
		if err := r.handle(context.Background(), ev, emit); err != nil {
			return out, err
		}
	}
	return out, nil
}

// txSummary is what a test checks of a delivered transaction.
type txSummary struct {
	ID, GTID  string
	ServerID  uint32
	Start     string // file:pos of its first event
	Changes   []string
	Commit    string // file:pos after its commit
	GTIDSet   string // executed set at the commit
	Timestamp int64
}

// summarize folds batches into transactions; a position-only batch (a
// rotate) becomes a summary without id.
func summarize(t *testing.T, batches []*Batch) []txSummary {
	t.Helper()
	var out []txSummary
	var cur *txSummary
	for _, b := range batches {
		if b.Tx != nil && b.Begin {
			out = append(out, txSummary{ID: b.Tx.ID, GTID: b.Tx.GTID, ServerID: b.Tx.ServerID, Start: fmt.Sprintf("%s:%d", b.Tx.File, b.Tx.Pos)})
			cur = &out[len(out)-1]
		}
		for _, c := range b.Changes {
			cur.Changes = append(cur.Changes, describeChange(t, &c))
		}
		if b.Commit != nil {
			if b.Tx == nil {
				out = append(out, txSummary{})
				cur = &out[len(out)-1]
			}
			cur.Commit = fmt.Sprintf("%s:%d", b.Commit.File, b.Commit.Pos)
			cur.GTIDSet = b.Commit.GTIDSet
			cur.Timestamp = b.Commit.Timestamp
			cur = nil
		}
	}
	return out
}

// describeChange renders a change as its op, table, seq and the JSON
// envelope values of its images.
func describeChange(t *testing.T, c *Change) string {
	t.Helper()
	if c.Op == OpDDL {
		return fmt.Sprintf("%d ddl %s: %s", c.Seq, c.DB, c.Statement)
	}
	img := func(row []any) string {
		if row == nil {
			return "-"
		}
		var parts []string
		for i, v := range row {
			parts = append(parts, string(AppendValue(nil, c.Table.Columns[i].Kind, v)))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprintf("%d %s %s [%s] [%s]", c.Seq, c.Op, c.Table.FullName(), img(c.Before), img(c.After))
}

// gtidLog is a MySQL 8.4 log with GTIDs on: a plain transaction, a
// tagged one, a compressed one, a DDL, then the rotate to the next file.
func gtidLog(t *testing.T) *mysqlLog {
	l := newMySQLLog("binlog.000007", 1, 1_700_000_000, map[uuid.UUID][][2]uint64{sidA: {{1, 11}}, sidB: {{1, 4}}})
	ts := func(s uint32) gtidInfo {
		us := uint64(1_700_000_000+s) * 1_000_000
		return gtidInfo{immediate: us, original: us}
	}
	doc := []jsonKV{{"tags", []any{"new", true, nil}}, {"qty", 3}, {"note", "é ✓"}}

	l.ts = 1_700_000_001
	l.gtid(sidA, 11, ts(1))
	l.query("shop", "BEGIN")
	l.tableMap(items)
	l.rows(evWriteRows, items, [][]any{itemRow(1, "lamp", doc), itemRow(2, "desk", nil)}, nil)
	l.xid(100)

	l.ts = 1_700_000_002
	l.taggedGTID(sidA, "batch", 1, ts(2))
	l.query("shop", "BEGIN")
	l.tableMap(items)
	l.rows(evUpdateRows, items, [][]any{itemRow(2, "desk", nil), itemRow(2, "desk", []jsonKV{{"qty", -1}})}, nil)
	l.xid(101)

	l.ts = 1_700_000_003
	l.gtid(sidA, 12, ts(3))
	l.compressed(t, func() {
		l.query("shop", "BEGIN")
		l.tableMap(items)
		l.rows(evDeleteRows, items, [][]any{itemRow(1, "lamp", doc)}, nil)
		l.xid(102)
	})

	l.ts = 1_700_000_004
	l.gtid(sidA, 13, ts(4))
	l.query("shop", "ALTER TABLE items ADD COLUMN price INT")

	l.ts = 1_700_000_005
	l.rotate("binlog.000008")
	return l
}

func TestMySQLReplayGTIDs(t *testing.T) {
	l := gtidLog(t)
	batches, err := replayMySQL(t, l, newMySQLReader(t, "binlog.000007", 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	const a, b = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "f00dcafe-0000-4000-8000-00000000000b"
	// Positions: the format description ends at 4+19+98+4+… as written;
	// each transaction starts where the previous one ended.
	ends := eventEnds(t, l)
	want := []txSummary{{
		ID: a + ":11", GTID: a + ":11", ServerID: 1,
		Start: "binlog.000007:" + ends[1],
		Changes: []string{
			`1 c shop.items [-] [1,"lamp",{"note":"é ✓","qty":3,"tags":["new",true,null]}]`,
			`2 c shop.items [-] [2,"desk",null]`,
		},
		Commit: "binlog.000007:" + ends[6], GTIDSet: a + ":1-11," + b + ":1-3", Timestamp: 1_700_000_001,
	}, {
		ID: a + ":batch:1", GTID: a + ":batch:1", ServerID: 1,
		Start: "binlog.000007:" + ends[6],
		Changes: []string{
			`1 u shop.items [2,"desk",null] [2,"desk",{"qty":-1}]`,
		},
		Commit: "binlog.000007:" + ends[11], GTIDSet: a + ":1-11:batch:1," + b + ":1-3", Timestamp: 1_700_000_002,
	}, {
		ID: a + ":12", GTID: a + ":12", ServerID: 1,
		Start: "binlog.000007:" + ends[11],
		Changes: []string{
			`1 d shop.items [1,"lamp",{"note":"é ✓","qty":3,"tags":["new",true,null]}] [-]`,
		},
		Commit: "binlog.000007:" + ends[13], GTIDSet: a + ":1-12:batch:1," + b + ":1-3", Timestamp: 1_700_000_003,
	}, {
		ID: a + ":13", GTID: a + ":13", ServerID: 1,
		Start: "binlog.000007:" + ends[13],
		Changes: []string{
			`1 ddl shop: ALTER TABLE items ADD COLUMN price INT`,
		},
		Commit: "binlog.000007:" + ends[15], GTIDSet: a + ":1-13:batch:1," + b + ":1-3", Timestamp: 1_700_000_004,
	}, {
		// The rotate: progress to the next file, the set unchanged.
		Commit: "binlog.000008:4", GTIDSet: a + ":1-13:batch:1," + b + ":1-3", Timestamp: 1_700_000_004,
	}}
	got := summarize(t, batches)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed:\n%s\nwant:\n%s", dumpSummaries(got), dumpSummaries(want))
	}
	for _, s := range got {
		if s.GTIDSet == "" {
			continue
		}
		if _, err := mysql.ParseMysqlGTIDSet(s.GTIDSet); err != nil {
			t.Errorf("GTID set %q does not parse: %v", s.GTIDSet, err)
		}
	}
}

// eventEnds returns the end position of each event of l, as text.
func eventEnds(t *testing.T, l *mysqlLog) []string {
	t.Helper()
	out := make([]string, len(l.events))
	for i, ev := range l.events {
		h := &replication.EventHeader{}
		if err := h.Decode(ev); err != nil {
			t.Fatal(err)
		}
		out[i] = fmt.Sprint(h.LogPos)
	}
	return out
}

func dumpSummaries(s []txSummary) string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// anonymousLog is a MySQL log with gtid_mode=OFF, as written by the server
// whose server id is origin: each transaction begins with an
// ANONYMOUS_GTID_LOG_EVENT carrying the original commit timestamp, the
// second one compressed. A replica with log_replica_updates writes the
// same transactions with the origin's server id and commit timestamps,
// but in files and at positions of its own: file and pad (bytes of
// earlier events, standing for the replica's own history) make the
// difference.
func anonymousLog(t *testing.T, file string, origin uint32, pad int) *mysqlLog {
	l := newMySQLLog(file, origin, 1_700_000_100, nil)
	if pad > 0 {
		// A transaction of another table, which the task does not read.
		other := &mysqlTable{id: 5, db: "shop", name: "audit", cols: []mysqlColumn{{name: "id", typ: mysql.MYSQL_TYPE_LONGLONG}}, key: []int{0}}
		l.gtid(uuid.UUID{}, 0, gtidInfo{immediate: 1_700_000_099_000_000, original: 1_700_000_099_000_000})
		l.query("shop", "BEGIN")
		l.tableMap(other)
		rows := make([][]any, pad)
		for i := range rows {
			rows[i] = []any{longlong(int64(i))}
		}
		l.rows(evWriteRows, other, rows, nil)
		l.xid(1)
	}
	l.ts = 1_700_000_101
	l.gtid(uuid.UUID{}, 0, gtidInfo{seq: 1, immediate: 1_700_000_101_000_123, original: 1_700_000_101_000_123})
	l.query("shop", "BEGIN")
	l.tableMap(items)
	l.rows(evWriteRows, items, [][]any{itemRow(7, "chair", nil)}, nil)
	l.xid(200)
	l.ts = 1_700_000_102
	l.gtid(uuid.UUID{}, 0, gtidInfo{seq: 2, immediate: 1_700_000_102_000_456, original: 1_700_000_102_000_456})
	l.compressed(t, func() {
		l.query("shop", "BEGIN")
		l.tableMap(items)
		l.rows(evUpdateRows, items, [][]any{itemRow(7, "chair", nil), itemRow(7, "stool", nil)}, nil)
		l.xid(201)
	})
	return l
}

// TestMySQLReplayAnonymousGTIDs: with gtid_mode=OFF a transaction's id is
// the file:pos of its first event (the anonymous GTID event) on the server
// it is read from, and the positions carry no GTID set. Read again from
// the same server the ids are the same; read from a replica's binary log,
// the same transactions have other ids: README says a sink cannot
// de-duplicate across a switch in file mode.
func TestMySQLReplayAnonymousGTIDs(t *testing.T) {
	read := func(l *mysqlLog, file string, connectedTo uint32) []txSummary {
		t.Helper()
		r := newMySQLReader(t, file, connectedTo, "")
		r.match = func(db, table string) bool { return table == "items" }
		batches, err := replayMySQL(t, l, r)
		if err != nil {
			t.Fatal(err)
		}
		var out []txSummary
		for _, s := range summarize(t, batches) {
			if s.ID != "" {
				out = append(out, s)
			}
		}
		return out
	}
	src := anonymousLog(t, "binlog.000003", 1, 0)
	ends := eventEnds(t, src)
	want := []txSummary{{
		ID: "binlog.000003:" + ends[1], ServerID: 1, Start: "binlog.000003:" + ends[1],
		Changes: []string{`1 c shop.items [-] [7,"chair",null]`},
		Commit:  "binlog.000003:" + ends[6], Timestamp: 1_700_000_101,
	}, {
		ID: "binlog.000003:" + ends[6], ServerID: 1, Start: "binlog.000003:" + ends[6],
		Changes: []string{`1 u shop.items [7,"chair",null] [7,"stool",null]`},
		Commit:  "binlog.000003:" + ends[8], Timestamp: 1_700_000_102,
	}}
	got := read(src, "binlog.000003", 1)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("source:\n%s\nwant:\n%s", dumpSummaries(got), dumpSummaries(want))
	}
	if again := read(src, "binlog.000003", 1); !reflect.DeepEqual(again, got) {
		t.Fatalf("read again from the source:\n%s\nfirst:\n%s", dumpSummaries(again), dumpSummaries(got))
	}

	replica := read(anonymousLog(t, "replica-bin.000001", 1, 20), "replica-bin.000001", 2)
	if len(replica) != len(got) {
		t.Fatalf("replica: %d transactions, source %d", len(replica), len(got))
	}
	for i := range got {
		if !reflect.DeepEqual(replica[i].Changes, got[i].Changes) || replica[i].ServerID != got[i].ServerID {
			t.Errorf("transaction %d: replica delivered %v from server %d, source %v from server %d",
				i, replica[i].Changes, replica[i].ServerID, got[i].Changes, got[i].ServerID)
		}
		if replica[i].ID == got[i].ID || !strings.HasPrefix(replica[i].ID, "replica-bin.000001:") {
			t.Errorf("transaction %d: id %q on the replica, %q on the source: want the replica's own file:pos", i, replica[i].ID, got[i].ID)
		}
	}
}

// TestMySQLReplayPartialJSONRefused: an update logged with
// binlog_row_value_options=PARTIAL_JSON carries a diff, not the new
// document: the reader stops at it with the fix rather than deliver a
// wrong after image, at the rows event or, in a compressed transaction,
// at the payload event that holds it.
func TestMySQLReplayPartialJSONRefused(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("compressed=%v", compressed), func(t *testing.T) {
			l := newMySQLLog("binlog.000002", 1, 1_700_000_200, map[uuid.UUID][][2]uint64{sidA: {{1, 5}}})
			l.gtid(sidA, 5, gtidInfo{immediate: 1_700_000_200_000_000, original: 1_700_000_200_000_000})
			before := itemRow(3, "shelf", []jsonKV{{"qty", 1}})
			after := []any{longlong(3), varchar("shelf"), jsonDiff("$.qty", binJSON(2))}
			tx := func() {
				l.query("shop", "BEGIN")
				l.tableMap(items)
				l.rows(evPartialUpdate, items, [][]any{before, after}, []byte{1})
				l.xid(300)
			}
			var at string // where the error must point
			if compressed {
				at = eventEnds(t, l)[2]
				l.compressed(t, tx)
			} else {
				tx()
				at = eventEnds(t, l)[4]
			}

			batches, err := replayMySQL(t, l, newMySQLReader(t, "binlog.000002", 1, ""))
			if err == nil {
				t.Fatalf("partial JSON update delivered: %s", dumpSummaries(summarize(t, batches)))
			}
			var pe *PositionError
			if !errors.As(err, &pe) || pe.File != "binlog.000002" || fmt.Sprint(pe.Pos) != at {
				t.Errorf("error %v: want a PositionError at binlog.000002:%s", err, at)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			for _, want := range []string{"shop.items", "doc", "binlog_row_value_options"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			for _, b := range batches {
				if b.Commit != nil && b.Tx != nil {
					t.Errorf("transaction %s committed despite the refusal", b.Tx.ID)
				}
			}
		})
	}
}

// TestMySQLGTIDServable checks the GTID sets a replayed log's checkpoints
// carry, tagged GTIDs included, against MySQL sources' @@gtid_executed
// and @@gtid_purged (as the server returns them, broken into lines): a
// resume is refused when the source lacks a transaction of the set or
// purged one the set lacks.
func TestMySQLGTIDServable(t *testing.T) {
	batches, err := replayMySQL(t, gtidLog(t), newMySQLReader(t, "binlog.000007", 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	var checkpoint string // the last commit's set: A:1-13:batch:1, B:1-3
	for _, b := range batches {
		if b.Commit != nil {
			checkpoint = b.Commit.GTIDSet
		}
	}
	const a, b = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "f00dcafe-0000-4000-8000-00000000000b"
	if checkpoint != a+":1-13:batch:1,"+b+":1-3" {
		t.Fatalf("checkpoint set %q", checkpoint)
	}
	for _, tc := range []struct {
		name, executed, purged string
		fix                    string // "" when servable
	}{
		{"same history", a + ":1-13:batch:1,\n" + b + ":1-3", "", ""},
		{"source ahead", a + ":1-40:batch:1-9,\n" + b + ":1-3,\n" + "0d7c2cf2-0000-4000-8000-000000000001:1-5", a + ":1-10", ""},
		{"lagging replica", a + ":1-12:batch:1,\n" + b + ":1-3", "", fixAhead},
		{"tag not executed", a + ":1-13,\n" + b + ":1-3", "", fixAhead},
		{"other uuid missing", a + ":1-13:batch:1", "", fixAhead},
		{"purged past the set", a + ":1-20:batch:1,\n" + b + ":1-3", a + ":1-14", fixPurged},
		{"tagged purged past the set", a + ":1-13:batch:1-2,\n" + b + ":1-3", a + ":batch:1-2", fixPurged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := mysql.ParseMysqlGTIDSet(checkpoint)
			if err != nil {
				t.Fatal(err)
			}
			err = checkMySQLGTIDSets("db1:3306", req.(*mysql.MysqlGTIDSet), tc.executed, tc.purged)
			if tc.fix == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ue *UnservableError
			if !errors.As(err, &ue) {
				t.Fatalf("err %v, want an UnservableError", err)
			}
			if ue.Fix != tc.fix || ue.Source != "db1:3306" || ue.Asked != "gtid:"+checkpoint || !strings.Contains(ue.Have, "gtid_executed") {
				t.Errorf("UnservableError %+v", ue)
			}
		})
	}
	t.Run("unparsable gtid_executed", func(t *testing.T) {
		req, _ := mysql.ParseMysqlGTIDSet(checkpoint)
		err := checkMySQLGTIDSets("db1:3306", req.(*mysql.MysqlGTIDSet), "not-a-uuid:1-3", "")
		if err == nil || !strings.Contains(err.Error(), "gtid_executed") {
			t.Fatalf("err %v", err)
		}
	})
}
