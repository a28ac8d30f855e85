package hostabi_test

import (
	"math"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/hostabitest"
	"github.com/pumacdc/puma/hostabi/wire"
)

// allKinds has a column of every Kind.
var allKinds = &engine.Table{
	DB: "shop", Name: "all_kinds", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt},
		{Name: "u", Kind: engine.KindUint, Unsigned: true},
		{Name: "f", Kind: engine.KindFloat, Nullable: true},
		{Name: "d", Kind: engine.KindDouble, Nullable: true},
		{Name: "dec", Kind: engine.KindDecimal, Nullable: true},
		{Name: "s", Kind: engine.KindString, Nullable: true, Charset: "utf8mb4"},
		{Name: "b", Kind: engine.KindBytes, Nullable: true, Charset: "binary"},
		{Name: "dt", Kind: engine.KindDate, Nullable: true},
		{Name: "tm", Kind: engine.KindTime, Nullable: true},
		{Name: "dtm", Kind: engine.KindDateTime, Nullable: true},
		{Name: "ts", Kind: engine.KindTimestamp, Nullable: true},
		{Name: "y", Kind: engine.KindYear, Nullable: true},
		{Name: "bit", Kind: engine.KindBit, Nullable: true},
		{Name: "e", Kind: engine.KindEnum, Nullable: true, Values: []string{"a", "b"}},
		{Name: "set", Kind: engine.KindSet, Nullable: true, Values: []string{"x", "y"}},
		{Name: "j", Kind: engine.KindJSON, Nullable: true},
		{Name: "g", Kind: engine.KindGeometry, Nullable: true},
		{Name: "uuid", Kind: engine.KindUUID, Nullable: true},
		{Name: "ip", Kind: engine.KindInet, Nullable: true},
	},
}

// customers has an email for the transformer example and a status for the
// filters.
var customers = &engine.Table{
	DB: "shop", Name: "customers", KeyKind: engine.KeyPrimary, Key: []int{0}, Version: 1,
	Columns: []engine.Column{
		{Name: "id", Kind: engine.KindInt},
		{Name: "email", Kind: engine.KindString, Nullable: true},
		{Name: "status", Kind: engine.KindEnum, Values: []string{"live", "test"}},
		{Name: "amount", Kind: engine.KindDecimal},
	},
}

// events has no primary key: the whole row is its key.
var events = &engine.Table{
	DB: "logs", Name: "events", KeyKind: engine.KeyRow, Key: []int{0, 1}, Version: 3,
	Columns: []engine.Column{
		{Name: "tenant", Kind: engine.KindString},
		{Name: "seq", Kind: engine.KindUint, Unsigned: true},
	},
}

func allRow(id int64, s string) []any {
	return []any{
		id, uint64(math.MaxUint64), float32(1.5), 3.141592653589793, "-12345678901234567890.123456789",
		s, []byte{0, 1, 2, 0xff}, "2026-11-25", "-838:59:59.000000", "2026-11-25 10:00:00.123456",
		"2026-11-25T10:00:00Z", int64(2155), uint64(1<<63 + 5), "b", "x,y", `{"a":[1,2,{"b":null}]}`,
		[]byte{0xe6, 0x10, 0, 0, 1, 1, 0, 0, 0}, "123e4567-e89b-12d3-a456-426614174000", "2001:db8::1",
	}
}

func nullRow(id int64) []any {
	r := make([]any, len(allKinds.Columns))
	r[0], r[1] = id, uint64(0)
	return r
}

// corpus returns batches covering every kind, NULLs, unicode, updates,
// deletes, an update of the key, DDL, truncate, key kinds, and transactions spanning batches.
func corpus() []*engine.Batch {
	tx1 := &engine.Tx{ID: "0-1-100", GTID: "0-1-100", ServerID: 1, File: "bin.000001", Pos: 4}
	tx2 := &engine.Tx{ID: "bin.000001:900", ServerID: 7, File: "bin.000001", Pos: 900}
	tx3 := &engine.Tx{ID: "0-1-101", GTID: "0-1-101", ServerID: 1, File: "bin.000002", Pos: 4}
	ch := func(tx *engine.Tx, seq uint32, op engine.Op, t *engine.Table, before, after []any) engine.Change {
		return engine.Change{Op: op, Table: t, Before: before, After: after, Seq: seq, Tx: tx, Timestamp: 1764064800 + int64(seq), File: tx.File, Pos: tx.Pos + 100*seq}
	}
	weird := "é ü 中文 🐈 \"quoted\" back\\slash \n\t\r \x01 \u2028 \u2029 <&> bad:\xff\xfe end"
	return []*engine.Batch{
		{Seq: 1, Tx: tx1, Begin: true, Changes: []engine.Change{
			ch(tx1, 1, engine.OpInsert, allKinds, nil, allRow(1, "plain")),
			ch(tx1, 2, engine.OpInsert, allKinds, nil, allRow(2, weird)),
			ch(tx1, 3, engine.OpInsert, allKinds, nil, nullRow(3)),
		}},
		{Seq: 2, Tx: tx1, Changes: []engine.Change{
			ch(tx1, 4, engine.OpUpdate, allKinds, allRow(1, "plain"), allRow(1, "")),
			ch(tx1, 5, engine.OpDelete, allKinds, nullRow(3), nil),
			ch(tx1, 6, engine.OpInsert, customers, nil, []any{int64(1), "ann@example.com", "live", "10.50"}),
			ch(tx1, 7, engine.OpInsert, customers, nil, []any{int64(2), "bob@test.example", "test", "3"}),
			ch(tx1, 8, engine.OpUpdate, customers, []any{int64(1), "ann@example.com", "live", "10.50"}, []any{int64(1), nil, "live", "99.99"}),
			ch(tx1, 9, engine.OpInsert, events, nil, []any{"acme", uint64(1)}),
		}, Commit: &position.Position{File: "bin.000001", Pos: 880, GTIDSet: "0-1-100"}, CommitTime: 1764064810},
		{Seq: 3, Tx: tx2, Begin: true, Changes: []engine.Change{
			{Op: engine.OpDDL, DB: "shop", Statement: "ALTER TABLE customers ADD COLUMN note TEXT /* 中文 */", Seq: 1, Tx: tx2, Timestamp: 1764064900, File: "bin.000001", Pos: 1000},
			{Op: engine.OpDDL, DB: "shop", Table: &engine.Table{DB: "shop", Name: "customers"}, Statement: "ALTER TABLE shop.customers DROP COLUMN note", Seq: 2, Tx: tx2, Timestamp: 1764064900, File: "bin.000001", Pos: 1050},
		}, Commit: &position.Position{File: "bin.000001", Pos: 1100}, CommitTime: 1764064900},
		{Seq: 4, Tx: tx3, Begin: true, Changes: []engine.Change{
			ch(tx3, 1, engine.OpTruncate, &engine.Table{DB: "logs", Name: "events"}, nil, nil),
			ch(tx3, 2, engine.OpDelete, customers, []any{int64(2), "bob@test.example", "test", "3"}, nil),
			ch(tx3, 3, engine.OpInsert, allKinds, nil, []any{int64(4), uint64(0), float32(math.Inf(1)), math.NaN(), "0", "", []byte{}, "0000-00-00", "00:00:00", "0000-00-00 00:00:00", "0000-00-00 00:00:00", int64(0), uint64(0), "", "", "", []byte{}, "00000000-0000-0000-0000-000000000000", "0.0.0.0"}),
			ch(tx3, 4, engine.OpUpdate, customers, []any{int64(1), nil, "live", "99.99"}, []any{int64(5), nil, "live", "99.99"}),
		}, Commit: &position.Position{File: "bin.000002", Pos: 400, GTIDSet: "0-1-100,1-2-3"}, CommitTime: 1764065000},
		{Seq: 5}, // position only
	}
}

// envelopes renders batches as the JSON lines the Go senders wrote.
func envelopes(bs []*engine.Batch, markers bool) []byte {
	return envelopesOf("shop", 0, bs, markers)
}

// envelopesOf is what a JSON sender of task with these options writes
// for bs, rendered by the host's encoder at hostabitest.Now.
func envelopesOf(task string, flags wire.EnvelopeFlags, bs []*engine.Batch, markers bool) []byte {
	var out []byte
	e := engine.Envelopes{Name: task, Flags: flags}
	for _, b := range bs {
		if b.Tx == nil {
			continue
		}
		e.StartBatch(b, hostabitest.Now())
		if b.Begin && markers {
			out = e.AppendBegin(out, b)
			out = append(out, '\n')
		}
		for i := range b.Changes {
			out = e.AppendChange(out, &b.Changes[i], '\n')
		}
		if b.Commit != nil && markers {
			out = e.AppendEnd(out, b)
			out = append(out, '\n')
		}
	}
	return out
}
