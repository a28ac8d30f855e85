package engine_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pumacdc/puma/engine"
	"github.com/pumacdc/puma/engine/checkpoint"
	"github.com/pumacdc/puma/engine/internal/cjk"
	"github.com/pumacdc/puma/engine/internal/cjk/probe"
	"github.com/pumacdc/puma/internal/testdb"
)

// TestCJKTables checks every character of every CJK charset against the
// server. First the committed tables: the server's, read now, must be the
// same (a table generated from another server version, or edited, fails
// here; `go generate ./engine/internal/cjk` writes them anew). Then end to
// end: every character the server accepts is written, in strict mode, to a
// TEXT column of its charset (one row per lead byte), streamed through a
// task, and must be delivered as the server's CONVERT(col USING utf8mb4).
func TestCJKTables(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := srv.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Quit()

	// rows[cs] are the characters of cs the server has, by row: the
	// single bytes, then those led by each lead byte (or, of three bytes,
	// by each prefix and second byte).
	rows := make(map[string][][][]byte)
	for _, cs := range cjk.Charsets {
		live, _, err := probe.Read(ctx, conn, cs)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := cjk.Lookup(cs)
		if err != nil {
			t.Fatal(err)
		}
		if d := tableDiff(committed, live, 5); d != "" {
			t.Errorf("%s: the committed table differs from the server's (run go generate ./engine/internal/cjk):\n%s", cs, d)
		}
		var byLead [][][]byte
		key := ""
		live.Each(func(seq []byte, _ rune) {
			k := string(seq[:len(seq)-1])
			if len(byLead) == 0 || k != key {
				byLead = append(byLead, nil)
				key = k
			}
			byLead[len(byLead)-1] = append(byLead[len(byLead)-1], append([]byte(nil), seq...))
		})
		rows[cs] = byLead
	}
	if t.Failed() {
		return
	}

	stmts := []string{"CREATE DATABASE cjk"}
	for _, cs := range cjk.Charsets {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE cjk.%s (id INT PRIMARY KEY, t TEXT CHARACTER SET %s NOT NULL)", cs, cs))
	}
	srv.Exec(t, stmts...)
	sink := &capture{}
	rt := startTask(t, taskConfig(t, srv, `tables = ["cjk.*"]`), checkpoint.NewMemStore(), sink)
	waitStreaming(t, rt)

	total := 0
	stmts = []string{"SET sql_mode = 'STRICT_ALL_TABLES'"}
	for _, cs := range cjk.Charsets {
		var values []string
		for i, chars := range rows[cs] {
			values = append(values, fmt.Sprintf("(%d, X'%s')", i+1, hex.EncodeToString(concat(chars))))
		}
		stmts = append(stmts, fmt.Sprintf("INSERT INTO cjk.%s VALUES %s", cs, strings.Join(values, ", ")))
		total += len(values)
	}
	srv.Exec(t, stmts...)
	for deadline := time.Now().Add(time.Minute); sink.count() < total; {
		select {
		case err := <-rt.done:
			rt.done <- err
			t.Fatalf("task stopped after %d of %d rows: %v", sink.count(), total, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d of %d rows delivered", sink.count(), total)
		}
	}

	got := make(map[string]map[string]string) // table → id → t
	for _, e := range envelopeRows(t, sink) {
		var id, text string
		if err := json.Unmarshal(e.After["t"], &text); err != nil {
			t.Fatalf("%s: %v", e.Table, err)
		}
		id = string(e.After["id"])
		if got[e.Table] == nil {
			got[e.Table] = make(map[string]string)
		}
		got[e.Table][id] = text
	}
	for _, cs := range cjk.Charsets {
		r, err := conn.Execute(fmt.Sprintf("SELECT id, CONVERT(t USING utf8mb4) FROM cjk.%s ORDER BY id", cs))
		if err != nil {
			t.Fatal(err)
		}
		if r.RowNumber() != len(rows[cs]) {
			t.Fatalf("%s: the server has %d rows, %d were written", cs, r.RowNumber(), len(rows[cs]))
		}
		diffs := 0
		for i := range r.RowNumber() {
			id, _ := r.GetString(i, 0)
			want, _ := r.GetString(i, 1)
			g, ok := got[cs][id]
			if !ok {
				t.Errorf("%s: row %s not delivered", cs, id)
				continue
			}
			gr, wr, chars := []rune(g), []rune(want), rows[cs][i]
			if len(gr) != len(chars) || len(wr) != len(chars) {
				t.Errorf("%s: row %s: %d characters written, %d delivered, server converts to %d", cs, id, len(chars), len(gr), len(wr))
				continue
			}
			for j := range chars {
				if gr[j] != wr[j] {
					if diffs < 10 {
						t.Errorf("%s: % X delivered as %U, server converts it to %U", cs, chars[j], gr[j], wr[j])
					}
					diffs++
				}
			}
		}
		if diffs > 0 {
			t.Errorf("%s: %d characters differ", cs, diffs)
		}
	}
}

// tableDiff describes up to max sequences whose character differs between
// want and got (none: no such character).
func tableDiff(got, want *cjk.Table, max int) string {
	var b strings.Builder
	n := 0
	note := func(seq []byte) {
		g, gok := got.Lookup(seq)
		w, wok := want.Lookup(seq)
		if g == w && gok == wok {
			return
		}
		if n < max {
			fmt.Fprintf(&b, "\t% X: committed %s, server %s\n", seq, charName(g, gok), charName(w, wok))
		}
		n++
	}
	got.Each(func(seq []byte, _ rune) { note(seq) })
	want.Each(func(seq []byte, _ rune) {
		if _, ok := got.Lookup(seq); !ok {
			note(seq)
		}
	})
	if n > max {
		fmt.Fprintf(&b, "\tand %d more\n", n-max)
	}
	return b.String()
}

func charName(r rune, ok bool) string {
	if !ok {
		return "no character"
	}
	return fmt.Sprintf("%U", r)
}

func concat(seqs [][]byte) []byte {
	var b []byte
	for _, s := range seqs {
		b = append(b, s...)
	}
	return b
}

// TestCJKIllFormedStops: bytes that are no character of the column's
// charset stop the task with an error naming the table, the column and
// the bytes, and nothing is delivered in their place. MariaDB stores no
// such text; here a latin1 row is read as sjis because, under schema =
// "live" without charsets in the binary log, the column is sjis by the
// time the row is read.
func TestCJKIllFormedStops(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{RowMetadata: "NO_LOG"})
	srv.Exec(t,
		"CREATE DATABASE cjk",
		"CREATE TABLE cjk.t (id INT PRIMARY KEY, note TEXT CHARACTER SET latin1)",
		"INSERT INTO cjk.t VALUES (1, X'41A042')", // A, NBSP, B
		"DELETE FROM cjk.t",
		"ALTER TABLE cjk.t MODIFY note TEXT CHARACTER SET sjis",
	)
	sink := &capture{}
	rt := startTask(t, locConfig(t, srv, "earliest", "earliest", "tables = [\"cjk.*\"]\nschema = \"live\""), checkpoint.NewMemStore(), sink)
	var err error
	select {
	case err = <-rt.done:
		close(rt.done)
	case <-time.After(60 * time.Second):
		t.Fatal("task did not stop on ill-formed text")
	}
	var ill *engine.IllFormedTextError
	if !errors.As(err, &ill) || ill.Offset != 1 || string(ill.Bytes) != "\xa0" {
		t.Fatalf("err = %v, want an IllFormedTextError at offset 1", err)
	}
	for _, part := range []string{"table cjk.t column note", "sjis text: bytes A0 at offset 1 are not a sjis character"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error lacks %q:\n%v", part, err)
		}
	}
	for _, l := range sink.lines {
		if strings.Contains(l, `"op":"c"`) {
			t.Errorf("delivered: %s", l)
		}
	}
}
