// Package tmpl expands the destination templates of the broker built-ins
// (a subject "puma.{db}.{table}", a stream, a routing key): literal text
// and {field} placeholders filled per change.
package tmpl

import (
	"fmt"
	"strings"
)

// Template is a parsed template.
type Template struct {
	parts []part
}

type part struct {
	lit   string
	field int // index in Parse's fields, -1 for a literal
}

// Parse parses text, whose placeholders are {name} for the names in
// fields; key is the config key errors name.
func Parse(key, text string, fields ...string) (Template, error) {
	var t Template
	rest := text
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest, field: -1})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i], field: -1})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return Template{}, fmt.Errorf("config: %s %q: an unclosed {", key, text)
		}
		name := rest[i+1 : i+j]
		f := -1
		for k, fn := range fields {
			if fn == name {
				f = k
			}
		}
		if f < 0 {
			return Template{}, fmt.Errorf("config: %s %q: unknown placeholder {%s} (have: {%s})", key, text, name, strings.Join(fields, "}, {"))
		}
		t.parts = append(t.parts, part{field: f})
		rest = rest[i+j+1:]
	}
	return t, nil
}

// Append appends t expanded, each placeholder by value(dst, field index).
func (t Template) Append(dst []byte, value func(dst []byte, field int) []byte) []byte {
	for _, p := range t.parts {
		if p.field < 0 {
			dst = append(dst, p.lit...)
		} else {
			dst = value(dst, p.field)
		}
	}
	return dst
}

// Literal reports whether t has no placeholder, and its text.
func (t Template) Literal() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field >= 0 {
			return "", false
		}
		b.WriteString(p.lit)
	}
	return b.String(), true
}
