// Package rename is the builtin:rename handler: it renames tables and
// columns in what the senders see, by declaring output schemas (ABI.md
// 3.5); values are untouched.
//
//	[[task.handler]]
//	plugin = "builtin:rename"
//	  [task.handler.config]
//	  tables = { "shop.customers" = "crm.clients", "shop.tmp_*" = "scratch" }
//	  columns = { "shop.customers.email" = "email_address", "*.*.created" = "created_at" }
//
// A table's new name is "db.table", or a bare "table" that keeps the
// database. Keys are path.Match globs ("db.table" for tables,
// "db.table.column" for columns), one for each dot-separated part; when
// several match, an exact key beats a pattern and patterns are tried in
// lexical order. Renaming a column to a name its table already has fails
// the table's changes with an error naming both. DDL statements pass
// unchanged: their SQL text still names the old tables.
package rename

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

type config struct {
	Tables  map[string]string `json:"tables"`
	Columns map[string]string `json:"columns"`
}

type entry struct {
	parts []string // db, table[, column]
	exact bool
	to    string
}

type renamer struct {
	tables, columns []entry
	// errs holds, per input table version, why it cannot be renamed.
	errs map[*sdk.Table]string
}

// Plugin returns the functions of a new instance of the plugin, for
// sdk.Register or sdk.NewInstance: each call's have their own state.
func Plugin() sdk.Plugin {
	rn := new(renamer)
	return sdk.Plugin{Init: rn.init, OutputSchema: rn.schema, Handler: rn.handle}
}

func (rn *renamer) init(raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	*rn = renamer{errs: make(map[*sdk.Table]string)}
	var errs []error
	var err error
	if rn.tables, err = entries("tables", cfg.Tables, 2); err != nil {
		errs = append(errs, err)
	}
	if rn.columns, err = entries("columns", cfg.Columns, 3); err != nil {
		errs = append(errs, err)
	}
	for _, e := range rn.tables {
		db, name, two := strings.Cut(e.to, ".")
		if e.to == "" || two && (db == "" || name == "" || strings.Contains(name, ".")) {
			errs = append(errs, fmt.Errorf("config: tables: %q: the new name is \"db.table\" or \"table\"", e.to))
		}
	}
	for _, e := range rn.columns {
		if e.to == "" {
			errs = append(errs, fmt.Errorf("config: columns: %s: empty new name", strings.Join(e.parts, ".")))
		}
	}
	if len(rn.tables)+len(rn.columns) == 0 {
		errs = append(errs, errors.New("config: nothing to rename: give tables or columns"))
	}
	return errors.Join(errs...)
}

// entries parses a map of patterns with n dot-separated parts, exact
// patterns first, then in lexical order.
func entries(key string, m map[string]string, n int) ([]entry, error) {
	var out []entry
	var errs []error
	for k, to := range m {
		parts := strings.SplitN(k, ".", n)
		if len(parts) != n || slices.Contains(parts, "") {
			errs = append(errs, fmt.Errorf("config: %s: %q: want %s", key, k, []string{"", "", "db.table", "db.table.column"}[n]))
			continue
		}
		exact := true
		for _, p := range parts {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("config: %s: %q: %w", key, k, err))
			}
			exact = exact && !strings.ContainsAny(p, `*?[\`)
		}
		out = append(out, entry{parts: parts, exact: exact, to: to})
	}
	slices.SortFunc(out, func(a, b entry) int {
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.Join(a.parts, "."), strings.Join(b.parts, "."))
	})
	return out, errors.Join(errs...)
}

func lookup(es []entry, names ...string) (string, bool) {
next:
	for _, e := range es {
		for i, p := range e.parts {
			if ok, _ := path.Match(p, names[i]); !ok {
				continue next
			}
		}
		return e.to, true
	}
	return "", false
}

func (rn *renamer) schema(in *sdk.Table, out *sdk.Schema) {
	for _, c := range in.Columns {
		to, ok := lookup(rn.columns, in.DB, in.Name, c.Name)
		if !ok || to == c.Name {
			continue
		}
		if !out.Rename(c.Name, to) {
			rn.errs[in] = fmt.Sprintf("rename: cannot rename %s.%s to %s: the table has a column of that name", in.FullName(), c.Name, to)
			return
		}
	}
	if to, ok := lookup(rn.tables, in.DB, in.Name); ok {
		db, name, two := strings.Cut(to, ".")
		if !two {
			db, name = in.DB, to
		}
		out.RenameTable(db, name)
	}
}

func (rn *renamer) handle(r *sdk.Row) sdk.Verdict {
	if t := r.Table(); t != nil {
		if msg, bad := rn.errs[t]; bad {
			return sdk.Fail(sdk.CodeConfig, msg)
		}
	}
	return sdk.Keep()
}
