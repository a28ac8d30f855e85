package engine

// Micro-benchmarks of the hot path, run with
//
//	go test -run '^$' -bench . ./engine/
//
// The decode benchmarks feed real binary-log events: a private MariaDB
// (internal/testdb) writes benchRows rows of a narrow table once, the raw
// events are captured, and every iteration parses (and converts) them
// again. Without MariaDB they skip, unless CI is set. The whole-pipeline
// numbers, against a server, come from cmd/puma-bench (BENCHMARKS.md).

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/pumacdc/puma/engine/position"
	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/internal/testdb"
)

// benchRows rows are captured, in transactions of 100.
const benchRows = 20000

type capturedLog struct {
	events [][]byte // raw events, from the dump's first (fake rotate, FDE) to the range's end
	rows   int
}

var capture struct {
	once sync.Once
	log  *capturedLog
	err  string
}

// capturedNarrow returns the raw events of benchRows narrow rows, capturing
// them on first use.
func capturedNarrow(b testing.TB) *capturedLog {
	b.Helper()
	capture.once.Do(func() {
		capture.err = "capture did not finish (MariaDB unavailable?)"
		srv := testdb.Start(b, testdb.Options{})
		srv.Exec(b, "CREATE DATABASE bench", `CREATE TABLE bench.narrow (
			id BIGINT UNSIGNED PRIMARY KEY, account INT NOT NULL, status TINYINT NOT NULL,
			amount DECIMAL(12,2) NOT NULL, ratio DOUBLE, name VARCHAR(64) NOT NULL,
			email VARCHAR(96), city VARCHAR(32) NOT NULL, created DATETIME(6) NOT NULL,
			updated TIMESTAMP(3) NULL, state ENUM('new','paid','shipped','cancelled') NOT NULL,
			ts DATETIME(6) NOT NULL)`)
		start := masterPos(b, srv)
		stmts := make([]string, 0, benchRows/100)
		for lo := 1; lo <= benchRows; lo += 100 {
			stmts = append(stmts, "INSERT INTO bench.narrow SELECT seq, seq % 100003, seq % 7, (seq % 1000000) / 100, seq / 7, "+
				"CONCAT('customer-', LPAD(seq, 10, '0'), '-abcdefghijklmnopqrstuvwxyz'), "+
				"IF(seq % 10 = 0, NULL, CONCAT('user', LPAD(seq, 10, '0'), '@example.com')), "+
				"ELT(1 + seq % 5, 'Amsterdam', 'Buenos Aires', 'Chengdu', 'Dakar', 'Edinburgh'), "+
				"TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND, FROM_UNIXTIME(1767225600 + seq + 0.125), "+
				"1 + seq % 4, NOW(6) FROM bench.seq_"+strconv.Itoa(lo)+"_to_"+strconv.Itoa(lo+99))
		}
		srv.Exec(b, stmts...)
		end := masterPos(b, srv)
		capture.log = captureRaw(b, srv, start, end)
		capture.log.rows = benchRows
		capture.err = ""
	})
	if capture.log == nil {
		b.Skip(capture.err)
	}
	return capture.log
}

func masterPos(b testing.TB, srv *testdb.Server) mysql.Position {
	b.Helper()
	r := srv.Query(b, "SHOW MASTER STATUS")
	file, _ := r.GetString(0, 0)
	pos, _ := r.GetUint(0, 1)
	return mysql.Position{Name: string([]byte(file)), Pos: uint32(pos)}
}

// captureRaw dumps start..end without decoding and keeps a copy of every
// event's bytes.
func captureRaw(b testing.TB, srv *testdb.Server, start, end mysql.Position) *capturedLog {
	b.Helper()
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 1<<31 | uint32(time.Now().UnixNano()&0xffff), Flavor: mysql.MariaDBFlavor,
		Host: "127.0.0.1", Port: uint16(srv.Port()), User: srv.User(), Password: srv.Password(),
		RawModeEnabled: true, Logger: slog.New(slog.DiscardHandler),
	})
	defer s.Close()
	st, err := s.StartSync(start)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &capturedLog{}
	file := start.Name
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		out.events = append(out.events, bytes.Clone(ev.RawData))
		if re, ok := ev.Event.(*replication.RotateEvent); ok {
			file = string(re.NextLogName)
		}
		if file == end.Name && ev.Header.LogPos >= end.Pos {
			return out
		}
	}
}

// newBenchParser is a parser set up as engine's syncerConfig sets up the
// BinlogSyncer's, decoding rows with go-mysql's own decoder (the floor's).
func newBenchParser() *replication.BinlogParser {
	p := replication.NewBinlogParser()
	p.SetFlavor(mysql.MariaDBFlavor)
	p.SetUseDecimal(true)
	p.SetTimestampStringLocation(time.UTC)
	p.SetVerifyChecksum(true)
	return p
}

// newBenchDecoder is newBenchParser decoding rows as Task.stream does,
// with a rowDecoder.
func newBenchDecoder() *replication.BinlogParser {
	p := newBenchParser()
	p.SetRowsEventDecodeFunc(newRowDecoder(mysql.MariaDBFlavor, nil, nil).decode)
	return p
}

// newBenchReader returns a reader set up as Task.read and Task.stream set
// one up for a MariaDB source with binlog_row_metadata=FULL, capturing every
// table, without a catalog. It is the one place this file depends on the
// reader's internals.
func newBenchReader() *reader {
	var seq uint64
	r := &reader{
		log:         slog.New(slog.DiscardHandler),
		match:       func(string, string) bool { return true },
		matchDB:     func(string) bool { return true },
		batchRows:   256,
		nextSeq:     func() uint64 { seq++; return seq },
		schemaState: newSchemaState(),
	}
	r.pos.Flavor = mysql.MariaDBFlavor
	r.schemas = newSchemas(schemaConfig{Flavor: mysql.MariaDBFlavor}, r.schemaState)
	r.resetConnection(1)
	return r
}

// countRows is an emit that drops batches and counts their changes.
func countRows(n *int) func(context.Context, *Batch) error {
	return func(_ context.Context, b *Batch) error {
		*n += len(b.Changes)
		return nil
	}
}

func reportRows(b *testing.B, rowsPerOp int) {
	b.ReportMetric(float64(rowsPerOp)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rowsPerOp), "ns/row")
}

// BenchmarkDecodeParse is the floor: go-mysql parsing every event, with
// Puma's parser options, and nothing else.
func BenchmarkDecodeParse(b *testing.B) {
	benchParse(b, newBenchParser)
}

// BenchmarkDecodeRows is the floor's work done Puma's way: go-mysql
// parsing every event, its rows decoded by a rowDecoder into Change values
// (what Task.stream runs on go-mysql's goroutine).
func BenchmarkDecodeRows(b *testing.B) {
	benchParse(b, newBenchDecoder)
}

func benchParse(b *testing.B, newParser func() *replication.BinlogParser) {
	log := capturedNarrow(b)
	b.ReportAllocs()
	for b.Loop() {
		p := newParser()
		for _, raw := range log.events {
			if _, err := p.Parse(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRows(b, log.rows)
}

// BenchmarkDecodeChange is decode → change as Task.stream runs it: events
// parsed, rows decoded by a rowDecoder, and the reader turning them into
// batches of Changes.
func BenchmarkDecodeChange(b *testing.B) {
	benchDecodeChange(b, newBenchDecoder)
}

// BenchmarkDecodeChangeGoMySQL is decode → change the way it was before
// the rowDecoder: go-mysql's values, every one converted by the reader.
func BenchmarkDecodeChangeGoMySQL(b *testing.B) {
	benchDecodeChange(b, newBenchParser)
}

func benchDecodeChange(b *testing.B, newParser func() *replication.BinlogParser) {
	log := capturedNarrow(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p := newParser()
		r := newBenchReader()
		n := 0
		emit := countRows(&n)
		for _, raw := range log.events {
			ev, err := p.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.handle(ctx, ev, emit); err != nil {
				b.Fatal(err)
			}
		}
		if n != log.rows {
			b.Fatalf("got %d changes, want %d", n, log.rows)
		}
	}
	reportRows(b, log.rows)
}

// BenchmarkChange is the reader's share alone, on events a rowDecoder
// decoded beforehand: batching and GTID bookkeeping (the narrow table
// leaves no value to convert).
func BenchmarkChange(b *testing.B) {
	benchChange(b, newBenchDecoder)
}

// BenchmarkChangeGoMySQL is the reader on go-mysql's values: conversion
// of every value, batching, GTID bookkeeping.
func BenchmarkChangeGoMySQL(b *testing.B) {
	benchChange(b, newBenchParser)
}

func benchChange(b *testing.B, newParser func() *replication.BinlogParser) {
	log := capturedNarrow(b)
	p := newParser()
	events := make([]*replication.BinlogEvent, len(log.events))
	for i, raw := range log.events {
		ev, err := p.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = ev
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := newBenchReader()
		n := 0
		emit := countRows(&n)
		for _, ev := range events {
			if err := r.handle(ctx, ev, emit); err != nil {
				b.Fatal(err)
			}
		}
		if n != log.rows {
			b.Fatalf("got %d changes, want %d", n, log.rows)
		}
	}
	reportRows(b, log.rows)
}

// envelopeChange is a realistic change of the narrow table (plus a BLOB
// and a JSON column): every kind the JSON envelope renders differently.
func envelopeChange() *Change {
	t := &Table{DB: "bench", Name: "narrow", KeyKind: KeyPrimary, Key: []int{0}, Version: 1, Columns: []Column{
		{Name: "id", Kind: KindUint, Unsigned: true},
		{Name: "account", Kind: KindInt},
		{Name: "status", Kind: KindInt},
		{Name: "amount", Kind: KindDecimal},
		{Name: "ratio", Kind: KindDouble, Nullable: true},
		{Name: "name", Kind: KindString, Charset: "utf8mb4"},
		{Name: "email", Kind: KindString, Charset: "utf8mb4", Nullable: true},
		{Name: "city", Kind: KindString, Charset: "utf8mb4"},
		{Name: "created", Kind: KindDateTime},
		{Name: "updated", Kind: KindTimestamp, Nullable: true},
		{Name: "state", Kind: KindEnum, Values: []string{"new", "paid", "shipped", "cancelled"}},
		{Name: "ts", Kind: KindDateTime},
		{Name: "blob", Kind: KindBytes, Nullable: true},
		{Name: "doc", Kind: KindJSON, Nullable: true},
	}}
	tx := &Tx{ID: "0-1-12345", GTID: "0-1-12345", ServerID: 1, File: "mysql-bin.000001", Pos: 4711}
	return &Change{
		Op: OpInsert, Table: t, Seq: 42, Tx: tx, Timestamp: 1767225600, File: "mysql-bin.000001", Pos: 9876,
		After: []any{
			uint64(123456), int64(23456), int64(3), "1234.56", 17636.428571428572,
			"customer-0000123456-abcdefghijklmnopqrstuvwxyz", "user0000123456@example.com", "Buenos Aires",
			"2026-01-02 10:17:36.000000", "2026-01-02T10:17:36.125Z", "paid", "2026-11-25 10:11:12.123456",
			[]byte{0, 1, 2, 3, 250, 251, 252, 253}, `{"id": 123456, "tags": ["a", "b"], "ok": true}`,
		},
	}
}

// BenchmarkAppendEnvelope renders one change into a reused buffer, as the
// jsonl sender does.
func BenchmarkAppendEnvelope(b *testing.B) {
	c := envelopeChange()
	e := Envelopes{Name: "bench"}
	e.StartBatch(&Batch{Seq: 1, Tx: c.Tx, Begin: true}, time.Now())
	buf := e.AppendChange(nil, c, '\n')
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendChange(buf[:0], c, '\n')
	}
	reportRows(b, 1)
}

// envelopeAllocBudget is what Envelopes.AppendChange allocates per call into a
// reused buffer: nothing, as its doc comment promises. The test below is a
// ratchet: it fails above the budget and also below it.
const envelopeAllocBudget = 0

// TestAppendEnvelopeZeroAllocs holds the envelope encoders to their promise:
// nothing allocated beyond growing dst.
func TestAppendEnvelopeZeroAllocs(t *testing.T) {
	c := envelopeChange()
	del := *c
	del.Op, del.Before, del.After = OpDelete, c.After, nil
	commit := &Batch{Seq: 1, Tx: c.Tx, Begin: true, Changes: []Change{*c}, Commit: &position.Position{File: "mysql-bin.000001", Pos: 9999, GTIDSet: "0-1-12345"}, CommitTime: 1767225600}
	e := Envelopes{Name: "bench", Flags: wire.EnvTombstones | wire.EnvTimeMicros}
	e.StartBatch(commit, time.Now())
	e.Count(c) // the transaction's table is counted once, before measuring
	buf := make([]byte, 0, 4096)
	for _, tc := range []struct {
		name   string
		budget float64
		f      func()
	}{
		{"insert", envelopeAllocBudget, func() { buf = e.AppendChange(buf[:0], c, '\n') }},
		{"delete", envelopeAllocBudget, func() { buf = e.AppendChange(buf[:0], &del, '\n') }},
		{"begin", 0, func() { buf = e.AppendBegin(buf[:0], commit) }},
		{"end", 0, func() { buf = e.AppendEnd(buf[:0], commit) }},
	} {
		switch n := testing.AllocsPerRun(100, tc.f); {
		case n > tc.budget:
			t.Errorf("%s: %v allocations per call into a reused buffer, want %v", tc.name, n, tc.budget)
		case n < tc.budget:
			t.Errorf("%s: %v allocations per call, below the budget of %v: lower envelopeAllocBudget", tc.name, n, tc.budget)
		}
	}
}
