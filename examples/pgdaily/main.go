// Command pgdaily is an example custom SQL sink: it keeps, in a
// PostgreSQL table, how many rows each source table gained, changed and
// lost per day, exactly once.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o pgdaily.wasm ./examples/pgdaily
//
//	[targets.analytics]
//	kind = "postgres"
//	host = "10.0.0.5"
//	user = "puma"
//	password_secret = "pg_password"
//	database = "analytics"
//
//	[[task.sender]]
//	plugin = "pgdaily.wasm"
//	config = { target = "analytics" }
//	grants = { postgres = ["analytics"] }
//
// The counts are sums, so applying a change twice would count it twice:
// an idempotent upsert does not make this sink correct, exactly once
// does. Each call (a group of whole source transactions) adds its counts
// and stores the position of its last commit in one PostgreSQL
// transaction; Init reads the position back and reports it, so after a
// crash, a failover or an outage the host skips what the table holds.
//
//	daily_changes(day date, source text, inserts, updates, deletes bigint,
//	              PRIMARY KEY (day, source))
//	pgdaily_positions(task text, sender text, position text, PRIMARY KEY (task, sender))
//
// A change counts on the day (UTC) its statement ran on the source.
// Config: target (required), table (default daily_changes).
package main

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sql"
)

var cfg struct {
	Target string `json:"target"`
	Table  string `json:"table"`
}

// day is one row of the counts table.
type day struct {
	date, source string
}

type counts struct{ inserts, updates, deletes int64 }

// The call's state: counts not yet written and the position of the
// last commit seen.
var (
	pending = map[day]*counts{}
	token   string
	hasTok  bool
)

func init() {
	sdk.Init(open)
	sdk.Sender(send)
	sdk.Flush(flush)
}

func open(raw []byte) error {
	cfg.Target, cfg.Table = "", "daily_changes"
	clear(pending)
	token, hasTok = "", false
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if cfg.Target == "" {
		return errors.New(`config: target is required: the name of a [targets] table of kind "postgres"`)
	}
	if _, err := sql.Exec(cfg.Target,
		sql.Statement{SQL: "CREATE TABLE IF NOT EXISTS " + quote(cfg.Table) + " (day date NOT NULL, source text NOT NULL, " +
			"inserts bigint NOT NULL, updates bigint NOT NULL, deletes bigint NOT NULL, PRIMARY KEY (day, source))"},
		sql.Statement{SQL: "CREATE TABLE IF NOT EXISTS pgdaily_positions (task text NOT NULL, sender text NOT NULL, " +
			"position text NOT NULL, PRIMARY KEY (task, sender))"},
	); err != nil {
		return fail(err)
	}
	row, err := sql.Query(cfg.Target, "SELECT position FROM pgdaily_positions WHERE task = $1 AND sender = $2",
		sql.Text(sdk.Task()), sql.Text(sdk.Name()))
	if err != nil {
		return fail(err)
	}
	applied, _ := row.Get("position") // "" when nothing is applied yet
	return sdk.ReportApplied(applied)
}

// send counts a batch's row changes; flush writes them.
func send(b *sdk.Batch) error {
	for i := 0; i < b.Len(); i++ {
		r := b.Row(i)
		var c *counts
		switch r.Op() {
		case sdk.OpInsert, sdk.OpUpdate, sdk.OpDelete:
			k := day{time.Unix(r.Timestamp(), 0).UTC().Format(time.DateOnly), r.DB() + "." + r.TableName()}
			if c = pending[k]; c == nil {
				c = &counts{}
				pending[k] = c
			}
		default:
			continue
		}
		switch r.Op() {
		case sdk.OpInsert:
			c.inserts++
		case sdk.OpUpdate:
			c.updates++
		case sdk.OpDelete:
			c.deletes++
		}
	}
	if t, ok := b.Position(); ok {
		token, hasTok = t, true
	}
	return nil
}

// flush adds the call's counts and stores its position in one
// transaction: both or neither.
func flush() error {
	if len(pending) == 0 && !hasTok {
		return nil
	}
	defer func() { clear(pending); hasTok = false }()
	var stmts []sql.Statement
	if len(pending) > 0 {
		keys := make([]day, 0, len(pending))
		for k := range pending {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].date < keys[j].date || keys[i].date == keys[j].date && keys[i].source < keys[j].source
		})
		t := quote(cfg.Table)
		var b strings.Builder
		var args []sql.Arg
		b.WriteString("INSERT INTO " + t + " (day, source, inserts, updates, deletes) VALUES ")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			n := 5 * i
			b.WriteString("($" + strconv.Itoa(n+1) + "::date, $" + strconv.Itoa(n+2) + ", $" + strconv.Itoa(n+3) +
				", $" + strconv.Itoa(n+4) + ", $" + strconv.Itoa(n+5) + ")")
			c := pending[k]
			args = append(args, sql.Text(k.date), sql.Text(k.source), sql.Int(c.inserts), sql.Int(c.updates), sql.Int(c.deletes))
		}
		b.WriteString(" ON CONFLICT (day, source) DO UPDATE SET inserts = " + t + ".inserts + EXCLUDED.inserts, " +
			"updates = " + t + ".updates + EXCLUDED.updates, deletes = " + t + ".deletes + EXCLUDED.deletes")
		stmts = append(stmts, sql.Statement{SQL: b.String(), Args: args})
	}
	if hasTok {
		stmts = append(stmts, sql.Statement{
			SQL: "INSERT INTO pgdaily_positions (task, sender, position) VALUES ($1, $2, $3) " +
				"ON CONFLICT (task, sender) DO UPDATE SET position = EXCLUDED.position",
			Args: []sql.Arg{sql.Text(sdk.Task()), sql.Text(sdk.Name()), sql.Text(token)},
		})
	}
	tx, err := sql.Begin(cfg.Target)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.Exec(stmts...); err != nil {
		return fail(err) // the host rolled the transaction back
	}
	return fail(tx.Commit())
}

// fail makes an error retrying cannot cure (no grant, a statement the
// server refuses, a limit) stop the task; any other is retried.
func fail(err error) error {
	if errors.Is(err, sql.ErrDenied) || errors.Is(err, sql.ErrInvalid) || errors.Is(err, sql.ErrLimit) {
		return sdk.Fatal(err)
	}
	return err
}

// quote quotes a PostgreSQL identifier.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func main() {}
