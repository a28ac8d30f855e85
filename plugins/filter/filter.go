// Package filter is the builtin:filter handler: it drops changes by table,
// by op, and by a predicate over column values.
//
//	[[task.handler]]
//	plugin = "builtin:filter"
//	config = { include = ["shop.*"], exclude = ["shop.audit_*"], ops = ["c", "u", "d"],
//	           where = "status != 'test' AND (amount >= 10 OR vip IS NOT NULL)" }
//
// A change passes when its "db.table" matches some include pattern (all
// tables when include is empty) and no exclude pattern, its op is listed
// in ops (all ops when empty: c, u, d, t, r, ddl), and the where
// predicate holds for its row. Patterns are path.Match globs, one for each
// side of the first dot, as the task's tables option; a DDL change is
// matched by the table it names, or when it names none (CREATE DATABASE, a
// statement Puma could not parse) by its db and the table "", so "shop.*"
// matches it.
//
// The where grammar (keywords in any case):
//
//	expr    = and { OR and }
//	and     = not { AND not }
//	not     = NOT not | primary
//	primary = "(" expr ")"
//	        | column IS [NOT] NULL
//	        | column [NOT] IN "(" literal { "," literal } ")"
//	        | column op literal
//	op      = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//	column  = name | `name with anything but backquotes`
//	literal = 'text' ('' inside is a quote) | [-]digits[.digits] | NULL
//
// The predicate reads the after image, or the before image of a delete.
// Numbers compare exactly with numeric and DECIMAL columns (and with text
// that reads as a decimal number); text compares byte-wise, so DATE,
// DATETIME and TIMESTAMP compare in time order. SQL's three-valued logic
// applies: a NULL or absent column, a column the table lacks, or a
// comparison between a number and text that is not one, is unknown; NOT
// unknown is unknown; a row whose predicate is not true is dropped. DDL
// and TRUNCATE changes, which carry no row, pass the predicate.
package filter

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

type config struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
	Ops     []string `json:"ops"`
	Where   string   `json:"where"`
}

type filter struct {
	include, exclude [][2]string
	ops              [256]bool // every op when the config lists none
	where            expr      // nil: none
	// last is the state of the table of the last row, lastTable (never
	// nil); tables holds the state of every table version seen. DDL
	// changes that name no table use ddlKeep or ddlDrop.
	lastTable *sdk.Table
	last      *tableState
	tables    map[*sdk.Table]*tableState
	ddlKeep   tableState
	ddlDrop   tableState
}

// tableState is what the filter decided for one table version: its rows'
// verdict when they pass or fail include and exclude regardless of the
// where predicate, or (eval) the predicate compiled for its columns.
type tableState struct {
	verdict sdk.Verdict
	eval    bool
	where   prog
}

// noTable stands for the last table before the first row.
var noTable = new(sdk.Table)

// Plugin returns the functions of a new instance of the plugin, for
// sdk.Register or sdk.NewInstance: each call's have their own state.
func Plugin() sdk.Plugin { return New(nil) }

// New is Plugin for an instance Puma runs compiled into its process:
// readColumns, when not nil, is told in Init which columns the filter
// reads (those its where names; none without one), so that the host
// hands it only those (hostabi.NativeHost.ReadColumns). The filter keeps
// or drops changes and never rewrites one, so it needs nothing else.
func New(readColumns func(names []string, keys bool) error) sdk.Plugin {
	f := new(filter)
	init := f.init
	if readColumns != nil {
		init = func(raw []byte) error {
			if err := f.init(raw); err != nil {
				return err
			}
			return readColumns(columns(f.where, nil), false)
		}
	}
	return sdk.Plugin{Init: init, Handler: f.handle}
}

func (f *filter) init(raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	return f.configure(cfg)
}

func (f *filter) configure(cfg config) error {
	*f = filter{}
	var errs []error
	split := func(key string, pats []string) [][2]string {
		var out [][2]string
		for _, p := range pats {
			db, table, ok := strings.Cut(p, ".")
			if !ok {
				errs = append(errs, fmt.Errorf("config: %s: %q: want db.table", key, p))
				continue
			}
			if _, err := path.Match(db, ""); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %q: %w", key, p, err))
			}
			if _, err := path.Match(table, ""); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %q: %w", key, p, err))
			}
			out = append(out, [2]string{db, table})
		}
		return out
	}
	f.include = split("include", cfg.Include)
	f.exclude = split("exclude", cfg.Exclude)
	if len(cfg.Ops) == 0 {
		for i := range f.ops {
			f.ops[i] = true
		}
	}
	for _, op := range cfg.Ops {
		switch op {
		case "c", "u", "d", "t", "r":
			f.ops[op[0]] = true
		case "ddl":
			f.ops[sdk.OpDDL] = true
		default:
			errs = append(errs, fmt.Errorf(`config: ops: %q: want "c", "u", "d", "t", "r" or "ddl"`, op))
		}
	}
	if strings.TrimSpace(cfg.Where) != "" {
		e, err := parse(cfg.Where)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: where: %w", err))
		}
		f.where = e
	}
	f.tables = make(map[*sdk.Table]*tableState)
	f.lastTable = noTable
	f.ddlKeep = f.newState(true, nil)
	f.ddlDrop = f.newState(false, nil)
	return errors.Join(errs...)
}

func (f *filter) newState(ok bool, t *sdk.Table) tableState {
	switch {
	case !ok:
		return tableState{verdict: sdk.Drop()}
	case f.where == nil:
		return tableState{verdict: sdk.Keep()}
	}
	return tableState{eval: true, where: compile(f.where, t)}
}

// state returns the state of r's table t, made on first use, and makes
// it the last table's.
func (f *filter) state(r *sdk.Row, t *sdk.Table) *tableState {
	if t == nil {
		if f.tableOK(r.DB(), "") {
			return &f.ddlKeep
		}
		return &f.ddlDrop
	}
	st := f.tables[t]
	if st == nil {
		s := f.newState(f.tableOK(t.DB, t.Name), t)
		st = &s
		f.tables[t] = st
	}
	f.lastTable, f.last = t, st
	return st
}

func match(pats [][2]string, db, table string) bool {
	for _, p := range pats {
		if ok, _ := path.Match(p[0], db); !ok {
			continue
		}
		if ok, _ := path.Match(p[1], table); ok {
			return true
		}
	}
	return false
}

func (f *filter) tableOK(db, table string) bool {
	return (len(f.include) == 0 || match(f.include, db, table)) && !match(f.exclude, db, table)
}

func (f *filter) handle(r *sdk.Row) sdk.Verdict {
	op := r.Op()
	if !f.ops[op] {
		return sdk.Drop()
	}
	st := f.last
	if t := r.Table(); t != f.lastTable {
		st = f.state(r, t)
	}
	if !st.eval {
		return st.verdict
	}
	img := r.After()
	if op == sdk.OpDelete {
		img = r.Before()
	}
	if !img.Present() {
		return sdk.Keep() // DDL, TRUNCATE
	}
	if !st.where.run(img) {
		return sdk.Drop()
	}
	return sdk.Keep()
}
