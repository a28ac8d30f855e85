// Command sqlrun is a test sender: on each batch it runs the steps of its
// config on one database target through the sql capability, checking
// what each returns, and fails with the first step that does not go as
// the config says.
package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/sql"
)

type arg struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

type step struct {
	Op   string `json:"op"` // begin, exec, query, commit, rollback, exec1 (own transaction), query1, copy
	SQL  []string
	Args [][]arg `json:"args"`
	// Width is a copy's columns a row: its rows are SQL[0]'s Args.
	Width int `json:"width"`
	// Columns, Numbered and Changes are a copy_changes step's: each
	// change is [index, after (0/1), mark] in the batch being sent.
	Columns  []int `json:"columns"`
	Numbered bool  `json:"numbered"`
	// Tentative: the copy is undone ("undone") on a unique violation.
	Tentative bool    `json:"tentative"`
	Changes   [][]int `json:"changes"`
	// Want is what the step returns: exec the rows affected joined by
	// ",", query "col=value;…" ("-" for no row, NULL for NULL).
	Want string `json:"want"`
	// Fail is a text the step's error must hold, and Errno its class:
	// denied, invalid, remote or limit.
	Fail  string `json:"fail"`
	Errno string `json:"errno"`
}

// batch is the batch being sent.
var batch *sdk.Batch

var cfg struct {
	Target string `json:"target"`
	Steps  []step `json:"steps"`
}

func toArg(a arg) (sql.Arg, error) {
	switch a.Kind {
	case "null":
		return sql.Null(), nil
	case "int":
		n, err := strconv.ParseInt(a.Value, 10, 64)
		return sql.Int(n), err
	case "uint":
		n, err := strconv.ParseUint(a.Value, 10, 64)
		return sql.Uint(n), err
	case "float":
		f, err := strconv.ParseFloat(a.Value, 64)
		return sql.Float(f), err
	case "text":
		return sql.Text(a.Value), nil
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(a.Value)
		return sql.Bytes(b), err
	case "decimal":
		return sql.Decimal(a.Value), nil
	case "json":
		return sql.JSON(a.Value), nil
	case "datetime":
		return sql.DateTime(a.Value), nil
	case "timestamp":
		t, err := time.Parse(time.RFC3339Nano, a.Value)
		return sql.Timestamp(t), err
	}
	return sql.Arg{}, fmt.Errorf("unknown kind %q", a.Kind)
}

var errnos = map[string]error{"denied": sql.ErrDenied, "invalid": sql.ErrInvalid, "remote": sql.ErrRemote, "limit": sql.ErrLimit}

func run(i int, s step, tx **sql.Tx) (string, error) {
	var stmts []sql.Statement
	for j, q := range s.SQL {
		st := sql.Statement{SQL: q}
		if j < len(s.Args) {
			for _, a := range s.Args[j] {
				x, err := toArg(a)
				if err != nil {
					return "", err
				}
				st.Args = append(st.Args, x)
			}
		}
		stmts = append(stmts, st)
	}
	row := func(r sql.Row) string {
		if !r.Found {
			return "-"
		}
		var parts []string
		for _, c := range r.Columns {
			v := c.Value
			if c.Null {
				v = "NULL"
			}
			parts = append(parts, c.Name+"="+v)
		}
		return strings.Join(parts, ";")
	}
	counts := func(n []int64) string {
		var parts []string
		for _, x := range n {
			parts = append(parts, strconv.FormatInt(x, 10))
		}
		return strings.Join(parts, ",")
	}
	switch s.Op {
	case "begin":
		t, err := sql.Begin(cfg.Target)
		*tx = t
		return "", err
	case "exec":
		n, err := (*tx).Exec(stmts...)
		return counts(n), err
	case "exec_commit":
		n, err := (*tx).ExecCommit(stmts...)
		return counts(n), err
	case "exec1":
		n, err := sql.Exec(cfg.Target, stmts...)
		return counts(n), err
	case "copy":
		n, err := (*tx).Copy(stmts[0].SQL, s.Width, stmts[0].Args)
		return strconv.FormatInt(n, 10), err
	case "copy_changes":
		var rows []sql.Change
		for _, c := range s.Changes {
			rows = append(rows, sql.Change{Batch: batch.GroupIndex(), Index: c[0], After: c[1] == 1, Mark: byte(c[2])})
		}
		// The statements before the last go with the COPY, ahead of it.
		var before []string
		for _, st := range stmts[:len(stmts)-1] {
			before = append(before, st.SQL)
		}
		if s.Tentative {
			n, ok, err := (*tx).TryCopyChanges(before, stmts[len(stmts)-1].SQL, s.Columns, s.Numbered, rows)
			if err == nil && !ok {
				return "undone", nil
			}
			return strconv.FormatInt(n, 10), err
		}
		n, err := (*tx).CopyChangesAfter(before, stmts[len(stmts)-1].SQL, s.Columns, s.Numbered, rows)
		return strconv.FormatInt(n, 10), err
	case "query":
		r, err := (*tx).Query(stmts[0].SQL, stmts[0].Args...)
		return row(r), err
	case "query1":
		r, err := sql.Query(cfg.Target, stmts[0].SQL, stmts[0].Args...)
		return row(r), err
	case "commit":
		return "", (*tx).Commit()
	case "rollback":
		return "", (*tx).Rollback()
	}
	return "", fmt.Errorf("step %d: unknown op %q", i, s.Op)
}

func init() {
	sdk.Init(func(raw []byte) error { return sdk.DecodeConfig(raw, &cfg) })
	sdk.Sender(func(b *sdk.Batch) error {
		batch = b
		var tx *sql.Tx
		for i, s := range cfg.Steps {
			got, err := run(i, s, &tx)
			switch {
			case s.Fail == "" && err != nil:
				return fmt.Errorf("step %d (%s): %w", i, s.Op, err)
			case s.Fail != "" && (err == nil || !strings.Contains(err.Error(), s.Fail)):
				return fmt.Errorf("step %d (%s): error %v, want one holding %q", i, s.Op, err, s.Fail)
			case s.Errno != "" && !errors.Is(err, errnos[s.Errno]):
				return fmt.Errorf("step %d (%s): error %v is not %s", i, s.Op, err, s.Errno)
			case err == nil && s.Want != "" && got != s.Want:
				return fmt.Errorf("step %d (%s): got %q, want %q", i, s.Op, got, s.Want)
			}
		}
		return nil
	})
}

func main() {}
