// Package route is the builtin:route handler: it sets each change's
// routing key (the partition key of senders that partition: Kafka, NATS
// subjects) from a template over the change's table and columns.
//
//	[[task.handler]]
//	plugin = "builtin:route"
//	  [task.handler.config]
//	  key = "{db}.{table}.{id}"
//	  tables = { "shop.orders" = "tenant-{tenant_id}", "logs.*" = "{db}.{table}" }
//
// A template is text with placeholders in braces: {db}, {table} and {op}
// (c, u, d, t, r, ddl) describe the change, {key} is its key columns'
// values joined by ","; any other name is a column's value, and
// {col:NAME} reaches a column named db, table, op or key. "{{" and "}}"
// are literal braces. Values come from the after image, or the before
// image of a delete; numbers are written in decimal, NULL and absent
// values as "". DDL and TRUNCATE changes, which carry no row, get "" for
// every column.
//
// tables gives some tables a template of their own ("db.table" keys are
// path.Match globs; an exact key beats a pattern, patterns are tried in
// lexical order); key is the template of the others (default
// "{db}.{table}"). A template naming a column its table lacks fails that
// table's changes with an error naming both.
package route

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/pumacdc/puma/sdk"
)

type config struct {
	Key    string            `json:"key"`
	Tables map[string]string `json:"tables"`
}

// part is a piece of a template: literal text, or a placeholder.
type part struct {
	lit  string
	meta string // "db", "table", "op", "key" or "" for a column
	col  string
}

type template struct {
	src   string
	parts []part
}

func parse(src string) (*template, error) {
	t := &template{src: src}
	var lit strings.Builder
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' && i+1 < len(src) && src[i+1] == '{', c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '}':
			return nil, fmt.Errorf("template %q: unmatched } at %d (write }} for a brace)", src, i)
		case c == '{':
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("template %q: unclosed { at %d", src, i)
			}
			name := src[i+1 : i+end]
			if lit.Len() > 0 {
				t.parts = append(t.parts, part{lit: lit.String()})
				lit.Reset()
			}
			switch {
			case name == "":
				return nil, fmt.Errorf("template %q: empty placeholder at %d", src, i)
			case name == "db", name == "table", name == "op", name == "key":
				t.parts = append(t.parts, part{meta: name})
			case strings.HasPrefix(name, "col:") && len(name) > 4:
				t.parts = append(t.parts, part{col: name[4:]})
			default:
				t.parts = append(t.parts, part{col: name})
			}
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, nil
}

type pattern struct {
	db, table string
	exact     bool
	t         *template
}

// compiled is a template resolved against one table version.
type compiled struct {
	t    *template
	cols []int // per part: column index, -1 for literals and meta
	err  string
}

type router struct {
	def    *template
	tables []pattern
	cache  map[*sdk.Table]*compiled
	buf    []byte
}

// Plugin returns the functions of a new instance of the plugin, for
// sdk.Register or sdk.NewInstance: each call's have their own state.
func Plugin() sdk.Plugin {
	rt := new(router)
	return sdk.Plugin{Init: rt.init, Handler: rt.handle}
}

func (rt *router) init(raw []byte) error {
	var cfg config
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	*rt = router{cache: make(map[*sdk.Table]*compiled)}
	if cfg.Key == "" {
		cfg.Key = "{db}.{table}"
	}
	var errs []error
	var err error
	if rt.def, err = parse(cfg.Key); err != nil {
		errs = append(errs, fmt.Errorf("config: key: %w", err))
	}
	for k, src := range cfg.Tables {
		db, table, ok := strings.Cut(k, ".")
		if !ok || db == "" || table == "" {
			errs = append(errs, fmt.Errorf("config: tables: %q: want db.table", k))
			continue
		}
		_, e1 := path.Match(db, "")
		_, e2 := path.Match(table, "")
		if err := errors.Join(e1, e2); err != nil {
			errs = append(errs, fmt.Errorf("config: tables: %q: %w", k, err))
			continue
		}
		t, err := parse(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: tables: %q: %w", k, err))
			continue
		}
		rt.tables = append(rt.tables, pattern{db: db, table: table, exact: !strings.ContainsAny(k, `*?[\`), t: t})
	}
	slices.SortFunc(rt.tables, func(a, b pattern) int {
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		return strings.Compare(a.db+"."+a.table, b.db+"."+b.table)
	})
	return errors.Join(errs...)
}

func (rt *router) templateFor(db, table string) *template {
	for _, p := range rt.tables {
		if ok, _ := path.Match(p.db, db); !ok {
			continue
		}
		if ok, _ := path.Match(p.table, table); ok {
			return p.t
		}
	}
	return rt.def
}

func (rt *router) compile(t *sdk.Table) *compiled {
	if c, ok := rt.cache[t]; ok {
		return c
	}
	c := &compiled{t: rt.templateFor(t.DB, t.Name)}
	c.cols = make([]int, len(c.t.parts))
	for i, p := range c.t.parts {
		c.cols[i] = -1
		if p.lit == "" && p.meta == "" {
			if c.cols[i] = t.Index(p.col); c.cols[i] < 0 && len(t.Columns) > 0 {
				c.err = fmt.Sprintf("route: template %q names column %s, which %s lacks (give the table a template in tables)", c.t.src, p.col, t.FullName())
			}
		}
	}
	rt.cache[t] = c
	return c
}

func appendValue(dst []byte, v sdk.Value) []byte {
	if !v.Valid() {
		return dst
	}
	switch v.Kind() {
	case sdk.KindInt, sdk.KindYear:
		return strconv.AppendInt(dst, v.Int(), 10)
	case sdk.KindUint, sdk.KindBit:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case sdk.KindFloat:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, 32)
	case sdk.KindDouble:
		return strconv.AppendFloat(dst, v.Float(), 'g', -1, 64)
	}
	return append(dst, v.Text()...)
}

func (rt *router) handle(r *sdk.Row) sdk.Verdict {
	t := r.Table()
	tmpl := rt.def
	var c *compiled
	if t != nil {
		if c = rt.compile(t); c.err != "" {
			return sdk.Fail(sdk.CodeConfig, c.err)
		}
		tmpl = c.t
	} else {
		tmpl = rt.templateFor(r.DB(), "")
	}
	img := r.After()
	if r.Op() == sdk.OpDelete {
		img = r.Before()
	}
	b := rt.buf[:0]
	for i, p := range tmpl.parts {
		switch {
		case p.lit != "":
			b = append(b, p.lit...)
		case p.meta == "db":
			b = append(b, r.DB()...)
		case p.meta == "table":
			b = append(b, r.TableName()...)
		case p.meta == "op":
			b = append(b, r.Op().String()...)
		case p.meta == "key":
			if t != nil && img.Present() {
				for j, k := range t.Key {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendValue(b, img.At(k))
				}
			}
		default:
			if c != nil && c.cols[i] >= 0 && img.Present() {
				b = appendValue(b, img.At(c.cols[i]))
			}
		}
	}
	rt.buf = b
	r.SetRoute(string(b))
	return sdk.Keep()
}
