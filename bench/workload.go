package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// DB is the database every workload's table lives in.
const DB = "bench"

// TSColumn is the DATETIME(6) column every workload sets to NOW(6) at
// insert: the steady workload measures lag from it, since MariaDB's event
// timestamps are whole seconds.
const TSColumn = "ts"

// Workload is a table and a way of filling it.
type Workload struct {
	Name string
	// Doc says what the workload is, for the report.
	Doc string
	// Table is the table's name in DB; DDL creates it.
	Table string
	DDL   string
	// Load writes rows rows into the table on the server at addr (batch
	// workloads). The binary-log range from before Load to after it is what
	// the variants read.
	Load func(ctx context.Context, addr string, rows int) error
	// Steady marks a workload that writes while the variant reads
	// (see Steady); Load is nil.
	Steady bool
	// Rows is the default row count; Scale maps -rows to it.
	Rows  int
	Scale func(rows int) int
	// Keep is a predicate on the table's columns, in the grammar SQL and
	// builtin:filter's where share, that holds for nine rows in ten at
	// any row count: the filter-mask-jsonl-http variant keeps those rows,
	// and the harness counts them in MariaDB to know how many that
	// variant must deliver.
	Keep string
	// MaskColumn is the text column filter-mask-jsonl-http hashes; it is
	// never NULL in rows Keep holds for, so every row delivered is hashed.
	MaskColumn string
}

// narrowColumns is the column list of narrow, bigtx and steady: 12 mixed
// types, about 150 bytes a row in the binary log.
const narrowColumns = `(
	id BIGINT UNSIGNED PRIMARY KEY,
	account INT NOT NULL,
	status TINYINT NOT NULL,
	amount DECIMAL(12,2) NOT NULL,
	ratio DOUBLE,
	name VARCHAR(64) NOT NULL,
	email VARCHAR(96),
	city VARCHAR(32) NOT NULL,
	created DATETIME(6) NOT NULL,
	updated TIMESTAMP(3) NULL,
	state ENUM('new','paid','shipped','cancelled') NOT NULL,
	ts DATETIME(6) NOT NULL
)`

// narrowSelect renders the SELECT producing narrow rows with ids lo..hi
// from the sequence engine.
func narrowSelect(lo, hi int) string {
	return fmt.Sprintf(`SELECT seq, seq %% 100003, seq %% 7, (seq %% 1000000) / 100, seq / 7,
	CONCAT('customer-', LPAD(seq, 10, '0'), '-abcdefghijklmnopqrstuvwxyz'),
	IF(seq %% 10 = 0, NULL, CONCAT('user', LPAD(seq, 10, '0'), '@example.com')),
	ELT(1 + seq %% 5, 'Amsterdam', 'Buenos Aires', 'Chengdu', 'Dakar', 'Edinburgh'),
	TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
	FROM_UNIXTIME(1767225600 + seq + 0.125),
	1 + seq %% 4, NOW(6)
	FROM %s.seq_%d_to_%d`, DB, lo, hi)
}

// wideColumns are the column types of wide, cycled to 59 columns after
// the key. %[1]d in an expression is the column number.
var wideColumns = []struct{ typ, expr string }{
	{"INT", "seq * %[1]d %% 1000003"},
	{"BIGINT", "seq * 1000 + %[1]d"},
	{"VARCHAR(40)", "CONCAT('value-', %[1]d, '-', seq)"},
	{"DECIMAL(14,3)", "seq / 1000 + %[1]d"},
	{"DATETIME", "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL (seq + %[1]d) MINUTE"},
	{"DOUBLE", "seq * 1.5 + %[1]d"},
	{"TEXT", "REPEAT(CONCAT('text ', seq, ' '), 1 + %[1]d %% 5)"},
	{"JSON", "JSON_OBJECT('id', seq, 'col', %[1]d, 'tags', JSON_ARRAY('a', 'b', seq %% 10), 'ok', seq %% 2 = 0)"},
	{"TINYINT", "(seq + %[1]d) %% 100"},
	{"DATE", "DATE'2026-01-01' + INTERVAL ((seq + %[1]d) %% 3650) DAY"},
}

const wideColumnCount = 60

func wideDDL() string {
	var b strings.Builder
	b.WriteString("CREATE TABLE " + DB + ".wide (\n\tid BIGINT UNSIGNED PRIMARY KEY,\n\tts DATETIME(6) NOT NULL")
	for i := 2; i < wideColumnCount; i++ {
		c := wideColumns[i%len(wideColumns)]
		fmt.Fprintf(&b, ",\n\tc%02d %s", i, c.typ)
	}
	b.WriteString("\n)")
	return b.String()
}

func wideSelect(lo, hi int) string {
	var b strings.Builder
	b.WriteString("SELECT seq, NOW(6)")
	for i := 2; i < wideColumnCount; i++ {
		c := wideColumns[i%len(wideColumns)]
		b.WriteString(", ")
		fmt.Fprintf(&b, c.expr, i)
	}
	fmt.Fprintf(&b, " FROM %s.seq_%d_to_%d", DB, lo, hi)
	return b.String()
}

// Workloads returns every workload, in report order.
func Workloads() []Workload {
	return []Workload{
		{
			Name: "narrow", Table: "narrow", Rows: 1_000_000, Scale: identity,
			Keep: narrowKeep, MaskColumn: "email",
			Doc: "12 columns of mixed types (BIGINT UNSIGNED key, INT, TINYINT, DECIMAL, DOUBLE, 3 VARCHAR, DATETIME(6), TIMESTAMP(3), ENUM, DATETIME(6)), inserted in transactions of 100 rows",
			DDL: "CREATE TABLE " + DB + ".narrow " + narrowColumns,
			Load: func(ctx context.Context, addr string, rows int) error {
				return loadInTransactions(ctx, addr, rows, 100, func(lo, hi int) string {
					return "INSERT INTO " + DB + ".narrow " + narrowSelect(lo, hi)
				})
			},
		},
		{
			Name: "wide", Table: "wide", Rows: 200_000, Scale: func(n int) int { return max(n/5, 1) },
			// c08 is TINYINT (seq + 8) % 100; c02 VARCHAR(40).
			Keep: "c08 >= 10", MaskColumn: "c02",
			Doc: "60 columns of 10 types including TEXT and JSON, inserted in transactions of 100 rows",
			DDL: wideDDL(),
			Load: func(ctx context.Context, addr string, rows int) error {
				return loadInTransactions(ctx, addr, rows, 100, func(lo, hi int) string {
					return "INSERT INTO " + DB + ".wide " + wideSelect(lo, hi)
				})
			},
		},
		{
			Name: "bigtx", Table: "bigtx", Rows: 1_000_000, Scale: identity,
			Keep: narrowKeep, MaskColumn: "email",
			Doc: "the narrow table, all rows inserted by one statement in one transaction",
			DDL: "CREATE TABLE " + DB + ".bigtx " + narrowColumns,
			Load: func(ctx context.Context, addr string, rows int) error {
				c, err := dial(ctx, addr)
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Execute("INSERT INTO " + DB + ".bigtx " + narrowSelect(1, rows))
				return err
			},
		},
		{
			Name: "steady", Table: "steady", Steady: true, Rows: 0, Scale: identity,
			Keep: narrowKeep, MaskColumn: "email",
			Doc: "the narrow table, written at a fixed rate while the variant reads",
			DDL: "CREATE TABLE " + DB + ".steady " + narrowColumns,
		},
	}
}

func identity(n int) int { return n }

// narrowKeep drops the rows of the narrow table whose email is NULL: one
// in ten (seq % 10 = 0, see narrowSelect).
const narrowKeep = "email IS NOT NULL"

// WorkloadByName finds a workload.
func WorkloadByName(name string) (Workload, bool) {
	for _, w := range Workloads() {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// dial connects as root with multi-statements on. MariaDB does not know
// go-mysql's default collation and would fall back to latin1: name one it
// has.
func dial(ctx context.Context, addr string) (*client.Conn, error) {
	c, err := client.ConnectWithContext(ctx, addr, "root", "", "", 10*time.Second, func(c *client.Conn) error {
		if err := c.SetCollation("utf8mb4_general_ci"); err != nil {
			return err
		}
		return c.SetCapability(mysql.CLIENT_MULTI_STATEMENTS)
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	return c, nil
}

// execMulti runs a multi-statement string and returns the first error.
func execMulti(c *client.Conn, stmts string) error {
	var first error
	_, err := c.ExecuteMultiple(stmts, func(r *mysql.Result, err error) {
		if err != nil && first == nil {
			first = err
		}
	})
	return errors.Join(err, first)
}

// loadConnections is how many connections load a workload in parallel;
// perTrip is how many transactions go in one round trip.
const (
	loadConnections = 2
	perTrip         = 50
)

// loadInTransactions inserts rows rows, txRows per autocommitted INSERT …
// SELECT, perTrip statements per round trip, over loadConnections
// connections.
func loadInTransactions(ctx context.Context, addr string, rows, txRows int, insert func(lo, hi int) string) error {
	trips := (rows + txRows*perTrip - 1) / (txRows * perTrip)
	var wg sync.WaitGroup
	errs := make([]error, loadConnections)
	for w := range loadConnections {
		wg.Go(func() {
			c, err := dial(ctx, addr)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			var b strings.Builder
			for trip := w; trip < trips; trip += loadConnections {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				b.Reset()
				for i := range perTrip {
					lo := (trip*perTrip+i)*txRows + 1
					if lo > rows {
						break
					}
					hi := min(lo+txRows-1, rows)
					if i > 0 {
						b.WriteString(";\n")
					}
					b.WriteString(insert(lo, hi))
				}
				if err := execMulti(c, b.String()); err != nil {
					errs[w] = fmt.Errorf("load: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Steady writes rate rows a second to the steady table for d, as one
// autocommitted INSERT every tick, keeping to the schedule when a tick runs
// late. It returns the rows written; next is the first id to use.
func Steady(ctx context.Context, addr string, rate int, d time.Duration, next int) (int, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	const tick = 10 * time.Millisecond
	perTick := float64(rate) * tick.Seconds()
	start := time.Now()
	written := 0
	for i := 1; ; i++ {
		due := start.Add(time.Duration(i) * tick)
		if due.Sub(start) > d {
			return written, nil
		}
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return written, ctx.Err()
			}
		}
		n := int(perTick*float64(i)) - written
		if n <= 0 {
			continue
		}
		lo := next + written
		if _, err := c.Execute("INSERT INTO " + DB + ".steady " + narrowSelect(lo, lo+n-1)); err != nil {
			return written, fmt.Errorf("steady writer: %w", err)
		}
		written += n
	}
}
