package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	// The parser needs a driver for the literal values statements hold
	// (column defaults, partition bounds); this one only keeps them.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// ddlTarget is what a DDL statement changes: a table, or with Table "" a
// database.
type ddlTarget struct {
	DB, Table string
}

// ddlRouter finds the tables and databases DDL statements change, for the
// reader to route each statement to the tasks reading them. It parses with
// TiDB's SQL parser, made on the first statement: a reader that sees no DDL
// never pays for it, and only DDL query events (not BEGIN, COMMIT or rows)
// are parsed. One goroutine uses it at a time.
type ddlRouter struct {
	parser *parser.Parser
	// tables holds the column-less Table each routed DDL change names, by
	// "db.table", so that a table's DDL changes share one (a plugin
	// instance announces each Table once).
	tables map[string]*Table
}

// targets returns what stmt changes, in the order the statement names
// them, its unqualified names taken to be in defaultDB. ok is false when
// the parser cannot read stmt (MariaDB-only syntax: CREATE OR REPLACE
// TABLE, UUID and INET6 columns, system versioning, triggers, stored
// routines) or stmt is not one that changes a table or database it names
// (GRANT, CREATE USER): the caller then routes by defaultDB. err says why
// the parser failed.
func (d *ddlRouter) targets(stmt, defaultDB string) (ts []ddlTarget, ok bool, err error) {
	if d.parser == nil {
		d.parser = parser.New()
	}
	defer func() {
		// A parser failure must not stop the stream: the statement is
		// routed by its default database, as any it cannot read.
		if p := recover(); p != nil {
			d.parser = nil
			ts, ok, err = nil, false, fmt.Errorf("parse %.80q: parser panicked: %v", stmt, p)
		}
	}()
	nodes, _, err := d.parser.Parse(stmt, "", "")
	if err != nil {
		return nil, false, err
	}
	table := func(n *ast.TableName) {
		if n == nil || n.Name.O == "" {
			return
		}
		t := ddlTarget{DB: n.Schema.O, Table: n.Name.O}
		if t.DB == "" {
			t.DB = defaultDB
		}
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	database := func(name string) {
		t := ddlTarget{DB: name}
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	for _, n := range nodes {
		switch s := n.(type) {
		case *ast.CreateTableStmt:
			table(s.Table)
		case *ast.AlterTableStmt:
			table(s.Table)
			for _, spec := range s.Specs {
				if spec.Tp == ast.AlterTableRenameTable {
					table(spec.NewTable)
				}
			}
		case *ast.DropTableStmt: // tables and views
			for _, t := range s.Tables {
				table(t)
			}
		case *ast.RenameTableStmt:
			for _, tt := range s.TableToTables {
				table(tt.OldTable)
				table(tt.NewTable)
			}
		case *ast.TruncateTableStmt:
			table(s.Table)
		case *ast.CreateIndexStmt:
			table(s.Table)
		case *ast.DropIndexStmt:
			table(s.Table)
		case *ast.CreateViewStmt:
			table(s.ViewName)
		case *ast.CreateSequenceStmt:
			table(s.Name)
		case *ast.AlterSequenceStmt:
			table(s.Name)
		case *ast.DropSequenceStmt:
			for _, t := range s.Sequences {
				table(t)
			}
		case *ast.OptimizeTableStmt:
			for _, t := range s.Tables {
				table(t)
			}
		case *ast.AnalyzeTableStmt:
			for _, t := range s.TableNames {
				table(t)
			}
		case *ast.CreateDatabaseStmt:
			database(s.Name.O)
		case *ast.DropDatabaseStmt:
			database(s.Name.O)
		case *ast.AlterDatabaseStmt:
			if s.AlterDefaultDatabase {
				database(defaultDB)
			} else {
				database(s.Name.O)
			}
		}
	}
	return ts, len(ts) > 0, nil
}

// table returns the column-less Table a DDL change of db.name names.
func (d *ddlRouter) table(db, name string) *Table {
	key := db + "." + name
	if t, ok := d.tables[key]; ok {
		return t
	}
	if d.tables == nil || len(d.tables) > 4096 {
		d.tables = make(map[string]*Table) // a bound, not a cache to keep
	}
	t := &Table{DB: db, Name: name}
	d.tables[key] = t
	return t
}

// ddlRoute decides whether the task reads a DDL statement run with
// default database db, and what the change names:
//
//   - a statement changing tables is read when the task includes any of
//     them (tables and exclude, as rows); the change names the first it
//     includes, its Table column-less and DB its database;
//   - a statement changing a database (CREATE, ALTER, DROP DATABASE) is
//     read when some tables pattern's database part matches it and no
//     exclude pattern leaves out all of its tables; the change names the
//     database only;
//   - a statement the parser cannot read, or that names no table or
//     database, is read by database: when db, or a database the statement
//     qualifies a name with, matches some tables pattern's database part
//     (and is not excluded whole). DB is db, or when that does not match,
//     the first qualifier that does.
func (r *reader) ddlRoute(db, stmt string) (c Change, ok bool) {
	ts, parsed, err := r.ddl.targets(stmt, db)
	if parsed {
		for _, t := range ts {
			switch {
			case t.Table != "" && r.match(t.DB, t.Table):
				return Change{Op: OpDDL, DB: t.DB, Table: r.ddl.table(t.DB, t.Table)}, true
			case t.Table == "" && r.matchDB(t.DB):
				return Change{Op: OpDDL, DB: t.DB}, true
			}
		}
		return Change{}, false
	}
	if err != nil {
		r.log.Debug("ddl not parsed: routed by its default database", "file", r.file, "db", db, "statement", truncate(stmt, 200), "error", err)
	}
	if r.matchDB(db) {
		return Change{Op: OpDDL, DB: db}, true
	}
	qs := qualifiers(stmt)
	if i := slices.IndexFunc(qs, r.matchDB); i >= 0 {
		return Change{Op: OpDDL, DB: qs[i]}, true
	}
	return Change{}, false
}

// excludesDB reports whether the exclude pattern leaves out every table of
// database db: its database part matches db and its table part is "*".
func excludesDB(pattern, db string) bool {
	pdb, table, _ := strings.Cut(pattern, ".")
	ok, _ := path.Match(pdb, db)
	return ok && table == "*"
}
