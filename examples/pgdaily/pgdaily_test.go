package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sdktest"
	"github.com/pumacdc/puma/sdk/sql"
)

var orders = &sdktest.Table{DB: "shop", Name: "orders", Columns: []sdk.Column{
	{Name: "id", Kind: sdk.KindInt}, {Name: "note", Kind: sdk.KindString, Nullable: true},
}}

// memDB stands in for PostgreSQL behind the sql capability: it keeps the
// two tables pgdaily writes, reading the arguments of its statements,
// and applies a transaction's statements only when it commits.
type memDB struct {
	counts   map[string][3]int64 // "day source" → inserts, updates, deletes
	position string
	open     bool
	pending  []wire.SQLStatement
	ops      []string // the requests, in order
	failExec bool     // the next exec in a transaction fails
}

func (m *memDB) serve(q *wire.SQLRequest) ([]byte, error) {
	m.ops = append(m.ops, [...]string{1: "begin", 2: "exec", 3: "query", 4: "commit", 5: "rollback"}[q.Op])
	switch q.Op {
	case wire.SQLBegin:
		m.open = true
	case wire.SQLExec:
		if !m.open { // in a transaction of its own: the CREATE TABLEs
			for _, s := range q.Statements {
				if !strings.HasPrefix(s.SQL, "CREATE TABLE IF NOT EXISTS") {
					return nil, fmt.Errorf("unexpected statement outside a transaction: %s", s.SQL)
				}
			}
		} else if m.failExec {
			// The host rolls back a transaction whose exec failed.
			m.failExec, m.pending, m.open = false, nil, false
			return nil, fmt.Errorf("connection reset: %w", sql.ErrRemote)
		} else {
			m.pending = append(m.pending, q.Statements...)
		}
		return wire.AppendSQLExecResult(nil, make([]int64, len(q.Statements))), nil
	case wire.SQLQuery:
		if m.position == "" {
			return wire.AppendSQLQueryResult(nil, false, nil), nil
		}
		return wire.AppendSQLQueryResult(nil, true, []wire.SQLColumn{{Name: "position", Value: []byte(m.position)}}), nil
	case wire.SQLCommit:
		for _, s := range m.pending {
			if strings.HasPrefix(s.SQL, "INSERT INTO pgdaily_positions") {
				m.position = s.Args[2].Text
				continue
			}
			for i := 0; i+5 <= len(s.Args); i += 5 {
				a := s.Args[i : i+5]
				k := a[0].Text + " " + a[1].Text
				c := m.counts[k]
				for j := range c {
					c[j] += int64(a[2+j].Num)
				}
				m.counts[k] = c
			}
		}
		m.pending, m.open = nil, false
	case wire.SQLRollback:
		m.pending, m.open = nil, false
	}
	return nil, nil
}

func TestPGDaily(t *testing.T) {
	db := &memDB{counts: map[string][3]int64{}}
	sdktest.SQL(db.serve)
	defer sdktest.SQL(nil)
	if err := sdktest.InitSender(`{"target":"analytics"}`); err != nil {
		t.Fatal(err)
	}
	if tok, ok := sdktest.Applied(); !ok || tok != "" {
		t.Fatalf("Init reported %q, %v; want the empty position of an empty table", tok, ok)
	}
	tx1 := []sdktest.Change{sdktest.Insert(orders, int64(1), "a"), sdktest.Insert(orders, int64(2), nil)}
	tx2 := []sdktest.Change{
		sdktest.Update(orders, []any{int64(1), "a"}, []any{int64(1), "b"}),
		sdktest.Delete(orders, int64(2), nil),
	}
	db.ops = nil
	if err := sdktest.SendGroup(tx1, tx2); err != nil {
		t.Fatal(err)
	}
	// One transaction for the group: the counts and the position in one
	// exec, then the commit.
	if got := strings.Join(db.ops, " "); got != "begin exec commit" {
		t.Errorf("requests %q, want one transaction", got)
	}
	if got, want := db.counts["1970-01-01 shop.orders"], [3]int64{2, 1, 1}; got != want {
		t.Errorf("counts %v, want %v", got, want)
	}
	if db.position == "" || !strings.Contains(db.position, "0-1-1") {
		t.Errorf("stored position %q, want the last commit's token", db.position)
	}

	// A failed exec fails the call and leaves the table as it was: the
	// host then starts a new instance, whose Init reports the stored
	// position, and sends again what it does not include.
	before := db.counts["1970-01-01 shop.orders"]
	db.failExec = true
	if err := sdktest.SendGroup(tx1); err == nil {
		t.Fatal("a failed exec was not reported")
	}
	if got := db.counts["1970-01-01 shop.orders"]; got != before {
		t.Errorf("counts %v after a failed call, want %v", got, before)
	}
	if err := sdktest.InitSender(`{"target":"analytics"}`); err != nil {
		t.Fatal(err)
	}
	if tok, _ := sdktest.Applied(); tok != db.position {
		t.Errorf("Init reported %q, want the stored %q", tok, db.position)
	}
	if err := sdktest.SendGroup(tx1); err != nil {
		t.Fatal(err)
	}
	if got, want := db.counts["1970-01-01 shop.orders"], [3]int64{4, 1, 1}; got != want {
		t.Errorf("counts %v, want %v", got, want)
	}

	if err := sdktest.InitSender(`{}`); err == nil || !strings.Contains(err.Error(), "target is required") {
		t.Errorf("a config without target: %v", err)
	}
}
